/* ct-parse.h — turns one ctnetlink message into a CtConnEvent. Pure: bytes
 * in, struct out; no sockets, no allocation, safe on hostile input (fuzzed). */
#pragma once

#include <glib.h>
#include <linux/netlink.h>

G_BEGIN_DECLS

typedef enum
{
  CT_EVENT_NEW,     /* an entry was confirmed (NEW event) */
  CT_EVENT_UPDATE,  /* status or protocol state changed */
  CT_EVENT_DESTROY, /* the entry left the table */
  CT_EVENT_DUMP,    /* an entry listed by a dump: present now */
} CtEventType;

/* Ports are host byte order; for ICMP/ICMPv6 sport = type, dport = code. */
typedef struct
{
  guint8 src[16];
  guint8 dst[16];
  guint16 sport;
  guint16 dport;
} CtTuple;

typedef struct
{
  CtEventType type;
  guint8 family; /* AF_INET or AF_INET6 */
  guint8 proto;
  gboolean has_id;
  gboolean has_counters;
  guint32 id;     /* CTA_ID */
  guint32 status; /* CTA_STATUS, IPS_* bits */
  CtTuple orig;
  CtTuple reply;
  guint64 packets; /* both directions, when counters are present */
  guint64 bytes;
} CtConnEvent;

typedef enum
{
  CT_PARSE_OK,
  CT_PARSE_IGNORED, /* well-formed but not a conntrack entry we track */
  CT_PARSE_INVALID, /* malformed: counted, never trusted */
} CtParseResult;

/* Parses a ctnetlink (NFNL_SUBSYS_CTNETLINK) message of at least
 * sizeof(struct nlmsghdr) bytes whose nlmsg_len the caller has checked to
 * lie within its buffer (mnl_nlmsg_ok). `from_dump` marks dump replies. */
CtParseResult ct_parse_message (const struct nlmsghdr *nlh, gboolean from_dump,
                                CtConnEvent *out);

G_END_DECLS

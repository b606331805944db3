/* xt-trace-parse.h — turns one nfnetlink_log packet message carrying a
 * legacy ip(6)_tables "TRACE: table:chain:type:N " line into a CtXtTrace.
 * Pure: bytes in, struct out; no sockets, no allocation; fuzzed. */
#pragma once

#include <glib.h>
#include <linux/netlink.h>

#include "ct-parse.h"
#include "flow.h"
#include "packet-parse.h"

G_BEGIN_DECLS

/* XT_TABLE_MAXNAMELEN: table names and (shorter) chain names fit with their
 * NUL; a longer name cannot come from ip_tables and makes the line invalid. */
#define CT_XT_NAME_LEN 32

typedef struct
{
  guint8 family; /* AF_INET or AF_INET6 */
  guint8 hook;   /* NF_INET_* from NFULA_PACKET_HDR, 0 when absent */
  char table[CT_XT_NAME_LEN];
  char chain[CT_XT_NAME_LEN]; /* user chains may contain ':' */
  CtHitType type;
  /* 1-based rule number; a policy or return counts as the rule after the
   * chain's last (iptables -L --line-numbers). */
  guint32 position;

  gboolean has_seq; /* NFULA_SEQ, per instance (NFULNL_CFG_F_SEQ) */
  guint32 seq;
  gboolean has_seq_global; /* NFULA_SEQ_GLOBAL (NFULNL_CFG_F_SEQ_GLOBAL) */
  guint32 seq_global;
  guint32 iif;      /* ifindex, 0 when not sent */
  guint32 oif;      /* ifindex, 0 when not sent */
  guint32 mark;     /* 0 when not sent */
  gboolean has_uid; /* the sending socket's owner, when there is one */
  guint32 uid;
  gboolean has_gid;
  guint32 gid;
  gboolean has_timestamp; /* sent for received packets */
  gint64 timestamp;       /* µs since the Unix epoch */

  /* has_tuple: the payload's family and addresses are valid; tuple.l4 says
   * whether proto and ports are too. */
  gboolean has_tuple;
  CtPacketTuple tuple;
} CtXtTrace;

/* Parses an NFNL_SUBSYS_ULOG message of at least sizeof(struct nlmsghdr)
 * bytes whose nlmsg_len the caller has checked to lie within its buffer.
 * Anything but an IPv4/IPv6 packet message whose prefix starts "TRACE: "
 * (other NFLOG users, -j LOG lines once nfnetlink_log is the logger) is
 * CT_PARSE_IGNORED; a "TRACE: " prefix not of the kernel's shape, or a
 * malformed message, is CT_PARSE_INVALID. A LOG rule can forge a TRACE
 * prefix: only the kernel's exact shape is accepted, nothing more. */
CtParseResult ct_xt_trace_parse (const struct nlmsghdr *nlh, CtXtTrace *out);

/* The prefix check alone: TRUE when `prefix` (len bytes, no NUL needed) is
 * "TRACE: table:chain:type:N" of the kernel's shape, with table, chain,
 * type and position filled in. What a LOG/NFLOG rule's prefix would be
 * taken for (xt-save-parse.c uses it to spot prefixes that forge one). */
gboolean ct_xt_trace_parse_prefix (const char *prefix, gsize len,
                                   CtXtTrace *out);

G_END_DECLS

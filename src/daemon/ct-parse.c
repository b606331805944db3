/* ct-parse.c — ctnetlink message parsing with libmnl. This runs once per
 * event at the kernel's full rate: no allocation, no formatting. */
#include "ct-parse.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* Collects the attributes of one nesting level, keeping the last of each
 * type; types past `max` are ignored (newer kernels add attributes). */
typedef struct
{
  const struct nlattr **tb;
  guint max;
} AttrTable;

static int
collect_attr (const struct nlattr *attr, void *data)
{
  AttrTable *t = data;
  guint type = mnl_attr_get_type (attr);

  if (type <= t->max)
    t->tb[type] = attr;
  return MNL_CB_OK;
}

static gboolean
parse_nested (const struct nlattr *nest, const struct nlattr **tb, guint max)
{
  AttrTable t = { tb, max };

  memset (tb, 0, sizeof (*tb) * (max + 1));
  return mnl_attr_parse_nested (nest, collect_attr, &t) >= 0;
}

static gboolean
get_u8 (const struct nlattr *a, guint16 *out)
{
  if (a == NULL || mnl_attr_get_payload_len (a) < 1)
    return FALSE;
  *out = mnl_attr_get_u8 (a);
  return TRUE;
}

static gboolean
get_be16 (const struct nlattr *a, guint16 *out)
{
  if (a == NULL || mnl_attr_get_payload_len (a) < 2)
    return FALSE;
  *out = ntohs (mnl_attr_get_u16 (a));
  return TRUE;
}

static gboolean
get_be32 (const struct nlattr *a, guint32 *out)
{
  if (a == NULL || mnl_attr_get_payload_len (a) < 4)
    return FALSE;
  *out = ntohl (mnl_attr_get_u32 (a));
  return TRUE;
}

static gboolean
get_be64 (const struct nlattr *a, guint64 *out)
{
  guint64 v;

  if (a == NULL || mnl_attr_get_payload_len (a) < 8)
    return FALSE;
  memcpy (&v, mnl_attr_get_payload (a), sizeof v);
  *out = GUINT64_FROM_BE (v);
  return TRUE;
}

static gboolean
get_addr (const struct nlattr *a, guint len, guint8 *out)
{
  if (a == NULL || mnl_attr_get_payload_len (a) < len)
    return FALSE;
  memcpy (out, mnl_attr_get_payload (a), len);
  return TRUE;
}

/* Fills one tuple; sets *proto from CTA_PROTO_NUM. */
static gboolean
parse_tuple (const struct nlattr *nest, guint8 family, guint8 *proto,
             CtTuple *tuple)
{
  const struct nlattr *tb[CTA_TUPLE_MAX + 1];
  const struct nlattr *ip[CTA_IP_MAX + 1];
  const struct nlattr *pr[CTA_PROTO_MAX + 1];
  guint16 num;

  if (nest == NULL || !parse_nested (nest, tb, CTA_TUPLE_MAX))
    return FALSE;
  if (tb[CTA_TUPLE_IP] == NULL || tb[CTA_TUPLE_PROTO] == NULL)
    return FALSE;
  if (!parse_nested (tb[CTA_TUPLE_IP], ip, CTA_IP_MAX)
      || !parse_nested (tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX))
    return FALSE;

  memset (tuple, 0, sizeof *tuple);
  if (family == AF_INET)
    {
      if (!get_addr (ip[CTA_IP_V4_SRC], 4, tuple->src)
          || !get_addr (ip[CTA_IP_V4_DST], 4, tuple->dst))
        return FALSE;
    }
  else if (!get_addr (ip[CTA_IP_V6_SRC], 16, tuple->src)
           || !get_addr (ip[CTA_IP_V6_DST], 16, tuple->dst))
    return FALSE;

  if (!get_u8 (pr[CTA_PROTO_NUM], &num))
    return FALSE;
  *proto = (guint8)num;

  switch (*proto)
    {
    case IPPROTO_ICMP:
      return get_u8 (pr[CTA_PROTO_ICMP_TYPE], &tuple->sport)
             && get_u8 (pr[CTA_PROTO_ICMP_CODE], &tuple->dport);
    case IPPROTO_ICMPV6:
      return get_u8 (pr[CTA_PROTO_ICMPV6_TYPE], &tuple->sport)
             && get_u8 (pr[CTA_PROTO_ICMPV6_CODE], &tuple->dport);
    default:
      /* Ports are optional: GRE, ESP and friends have none. */
      get_be16 (pr[CTA_PROTO_SRC_PORT], &tuple->sport);
      get_be16 (pr[CTA_PROTO_DST_PORT], &tuple->dport);
      return TRUE;
    }
}

static void
add_counters (const struct nlattr *nest, CtConnEvent *out)
{
  const struct nlattr *tb[CTA_COUNTERS_MAX + 1];
  guint64 packets, bytes;

  if (nest == NULL || !parse_nested (nest, tb, CTA_COUNTERS_MAX))
    return;
  if (get_be64 (tb[CTA_COUNTERS_PACKETS], &packets)
      && get_be64 (tb[CTA_COUNTERS_BYTES], &bytes))
    {
      out->has_counters = TRUE;
      out->packets += packets;
      out->bytes += bytes;
    }
}

CtParseResult
ct_parse_message (const struct nlmsghdr *nlh, gboolean from_dump,
                  CtConnEvent *out)
{
  const struct nlattr *tb[CTA_MAX + 1];
  AttrTable t = { tb, CTA_MAX };
  const struct nfgenmsg *nfg;
  guint8 reply_proto = 0;

  memset (out, 0, sizeof *out);
  if (nlh->nlmsg_len < mnl_nlmsg_size (sizeof *nfg))
    return CT_PARSE_INVALID;
  if (NFNL_SUBSYS_ID (nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
    return CT_PARSE_IGNORED;

  switch (NFNL_MSG_TYPE (nlh->nlmsg_type))
    {
    case IPCTNL_MSG_CT_NEW:
      if (from_dump)
        out->type = CT_EVENT_DUMP;
      else if (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL))
        out->type = CT_EVENT_NEW;
      else
        out->type = CT_EVENT_UPDATE;
      break;
    case IPCTNL_MSG_CT_DELETE:
      out->type = CT_EVENT_DESTROY;
      break;
    default:
      return CT_PARSE_IGNORED;
    }

  nfg = mnl_nlmsg_get_payload (nlh);
  if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
    return CT_PARSE_IGNORED;
  out->family = nfg->nfgen_family;

  memset (tb, 0, sizeof tb);
  if (mnl_attr_parse (nlh, sizeof *nfg, collect_attr, &t) < 0)
    return CT_PARSE_INVALID;

  if (!parse_tuple (tb[CTA_TUPLE_ORIG], out->family, &out->proto, &out->orig))
    return CT_PARSE_INVALID;
  /* A missing reply tuple is tolerated (treated as "no NAT"); a broken one
   * or one of another protocol is not. */
  if (tb[CTA_TUPLE_REPLY] != NULL)
    {
      if (!parse_tuple (tb[CTA_TUPLE_REPLY], out->family, &reply_proto,
                        &out->reply)
          || reply_proto != out->proto)
        return CT_PARSE_INVALID;
    }
  else
    {
      memcpy (out->reply.src, out->orig.dst, sizeof out->reply.src);
      memcpy (out->reply.dst, out->orig.src, sizeof out->reply.dst);
      out->reply.sport = out->orig.dport;
      out->reply.dport = out->orig.sport;
    }

  out->has_id = get_be32 (tb[CTA_ID], &out->id);
  get_be32 (tb[CTA_STATUS], &out->status);
  add_counters (tb[CTA_COUNTERS_ORIG], out);
  add_counters (tb[CTA_COUNTERS_REPLY], out);
  return CT_PARSE_OK;
}

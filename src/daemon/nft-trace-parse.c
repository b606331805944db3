/* nft-trace-parse.c — NFT_MSG_TRACE parsing with libmnl. Runs for every
 * message of a traced packet (several per chain): no allocation, no
 * formatting, names copied into fixed arrays. */
#include "nft-trace-parse.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nlattr-read.h"

/* Added by Linux 6.16 ("add packets conntrack state to debug trace info");
 * Debian 12's uapi header stops at NFTA_TRACE_PAD. */
enum
{
  CT_NFTA_TRACE_CT_ID = NFTA_TRACE_PAD + 1,
  CT_NFTA_TRACE_CT_DIRECTION,
  CT_NFTA_TRACE_CT_STATUS,
  CT_NFTA_TRACE_CT_STATE,
  CT_NFTA_TRACE_LAST = CT_NFTA_TRACE_CT_STATE,
};
G_STATIC_ASSERT (NFTA_TRACE_PAD == 17 && CT_NFTA_TRACE_CT_STATE == 21);

/* Copies up to the first NUL or the payload's end, whichever comes first,
 * cut to fit; the payload need not be NUL-terminated. */
static void
copy_name (const struct nlattr *a, char *dst, gsize size)
{
  const char *s = mnl_attr_get_payload (a);
  gsize n = strnlen (s, mnl_attr_get_payload_len (a));

  if (n >= size)
    n = size - 1;
  memcpy (dst, s, n);
  dst[n] = '\0';
}

static gboolean
parse_verdict (const struct nlattr *nest, CtNftTrace *out)
{
  const struct nlattr *tb[NFTA_VERDICT_MAX + 1];
  guint32 code;

  if (!ct_nlattr_collect (mnl_attr_get_payload (nest),
                          mnl_attr_get_payload_len (nest), tb,
                          NFTA_VERDICT_MAX))
    return FALSE;
  if (tb[NFTA_VERDICT_CODE] == NULL
      || !ct_nlattr_be32 (tb[NFTA_VERDICT_CODE], &code))
    return FALSE;
  out->has_verdict = TRUE;
  out->verdict = (gint32)code;
  if (tb[NFTA_VERDICT_CHAIN] != NULL)
    copy_name (tb[NFTA_VERDICT_CHAIN], out->verdict_chain,
               sizeof out->verdict_chain);
  return TRUE;
}

/* The packet's family: NFPROTO_IPV4/IPV6 equal AF_INET/AF_INET6; bridge and
 * netdev chains report their own family, so look at the IP version. */
static guint8
packet_family (guint32 nfproto, const guint8 *nh, gsize len)
{
  if (nfproto == NFPROTO_IPV4)
    return AF_INET;
  if (nfproto == NFPROTO_IPV6)
    return AF_INET6;
  if (len > 0 && nh[0] >> 4 == 4)
    return AF_INET;
  if (len > 0 && nh[0] >> 4 == 6)
    return AF_INET6;
  return AF_UNSPEC;
}

/* The kernel sends the network header up to the transport header (at most
 * 40 bytes: IPv4 options beyond that and all IPv6 extension headers are
 * cut) and the transport header apart (at most 20 bytes). When it found no
 * transport header it sends no network header either, and the "transport"
 * attribute then holds the start of the IP header: ignored here. */
static void
parse_headers (const struct nlattr *nh_attr, const struct nlattr *th_attr,
               CtNftTrace *out)
{
  const guint8 *nh;
  gsize len;
  guint8 family;

  if (nh_attr == NULL)
    return;
  nh = mnl_attr_get_payload (nh_attr);
  len = mnl_attr_get_payload_len (nh_attr);
  family = packet_family (out->nfproto, nh, len);
  if (family == AF_UNSPEC || !ct_packet_parse (family, nh, len, &out->tuple))
    return;
  out->has_tuple = TRUE;
  if (out->tuple.l4 == CT_PACKET_L4_TRUNCATED && th_attr != NULL)
    ct_packet_parse_l4 (out->tuple.proto, mnl_attr_get_payload (th_attr),
                        mnl_attr_get_payload_len (th_attr), &out->tuple);
}

CtParseResult
ct_nft_trace_parse (const struct nlmsghdr *nlh, CtNftTrace *out)
{
  const struct nlattr *tb[CT_NFTA_TRACE_LAST + 1];
  const struct nfgenmsg *nfg;
  const char *attrs;

  memset (out, 0, sizeof *out);
  if (nlh->nlmsg_len < mnl_nlmsg_size (sizeof *nfg))
    return CT_PARSE_INVALID;
  if (NFNL_SUBSYS_ID (nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES
      || NFNL_MSG_TYPE (nlh->nlmsg_type) != NFT_MSG_TRACE)
    return CT_PARSE_IGNORED;

  nfg = mnl_nlmsg_get_payload (nlh);
  out->family = nfg->nfgen_family;
  attrs = mnl_nlmsg_get_payload_offset (nlh, sizeof *nfg);
  if (attrs > (const char *)nlh + nlh->nlmsg_len
      || !ct_nlattr_collect (attrs, (const char *)nlh + nlh->nlmsg_len - attrs,
                             tb, CT_NFTA_TRACE_LAST))
    return CT_PARSE_INVALID;

  if (tb[NFTA_TRACE_ID] == NULL || !ct_nlattr_be32 (tb[NFTA_TRACE_ID], &out->id)
      || tb[NFTA_TRACE_TYPE] == NULL
      || !ct_nlattr_be32 (tb[NFTA_TRACE_TYPE], &out->type)
      || tb[NFTA_TRACE_TABLE] == NULL || tb[NFTA_TRACE_CHAIN] == NULL)
    return CT_PARSE_INVALID;
  copy_name (tb[NFTA_TRACE_TABLE], out->table, sizeof out->table);
  copy_name (tb[NFTA_TRACE_CHAIN], out->chain, sizeof out->chain);

  if (tb[NFTA_TRACE_RULE_HANDLE] != NULL)
    {
      if (!ct_nlattr_be64 (tb[NFTA_TRACE_RULE_HANDLE], &out->handle))
        return CT_PARSE_INVALID;
      out->has_handle = TRUE;
    }
  if (tb[NFTA_TRACE_VERDICT] != NULL
      && !parse_verdict (tb[NFTA_TRACE_VERDICT], out))
    return CT_PARSE_INVALID;
  if (!ct_nlattr_opt_be32 (tb[NFTA_TRACE_POLICY], &out->has_policy,
                           &out->policy)
      || !ct_nlattr_opt_be32 (tb[NFTA_TRACE_NFPROTO], NULL, &out->nfproto)
      || !ct_nlattr_opt_be32 (tb[NFTA_TRACE_IIF], NULL, &out->iif)
      || !ct_nlattr_opt_be32 (tb[NFTA_TRACE_OIF], NULL, &out->oif)
      || !ct_nlattr_opt_be32 (tb[NFTA_TRACE_MARK], NULL, &out->mark)
      || !ct_nlattr_opt_be32 (tb[CT_NFTA_TRACE_CT_STATE], &out->has_ct_state,
                              &out->ct_state)
      || !ct_nlattr_opt_be32 (tb[CT_NFTA_TRACE_CT_ID], &out->has_ct_id,
                              &out->ct_id)
      || !ct_nlattr_opt_be32 (tb[CT_NFTA_TRACE_CT_STATUS], NULL,
                              &out->ct_status))
    return CT_PARSE_INVALID;
  if (tb[CT_NFTA_TRACE_CT_DIRECTION] != NULL)
    {
      if (mnl_attr_get_payload_len (tb[CT_NFTA_TRACE_CT_DIRECTION]) < 1)
        return CT_PARSE_INVALID;
      out->ct_direction = mnl_attr_get_u8 (tb[CT_NFTA_TRACE_CT_DIRECTION]);
      out->has_ct_direction = TRUE;
    }

  parse_headers (tb[NFTA_TRACE_NETWORK_HEADER], tb[NFTA_TRACE_TRANSPORT_HEADER],
                 out);
  return CT_PARSE_OK;
}

gboolean
ct_nft_trace_hit_type (const CtNftTrace *trace, CtHitType *type)
{
  switch (trace->type)
    {
    case NFT_TRACETYPE_POLICY:
      *type = CT_HIT_POLICY;
      return TRUE;
    case NFT_TRACETYPE_RULE:
    case NFT_TRACETYPE_RETURN:
      /* Older kernels report a matching "return" rule as a return event. */
      if (!trace->has_handle)
        return FALSE;
      *type = CT_HIT_RULE;
      return TRUE;
    default:
      return FALSE;
    }
}

gboolean
ct_nft_trace_is_chain_end (const CtNftTrace *trace)
{
  return !trace->has_handle
         && (trace->type == NFT_TRACETYPE_RULE
             || trace->type == NFT_TRACETYPE_RETURN);
}

/* xt-trace-parse.c — nfnetlink_log packet messages from ip(6)_tables'
 * TRACE (nf_log_trace: "TRACE: %s:%s:%s:%u "), parsed with libmnl. One
 * message per rule a traced packet passes: no allocation, no formatting. */
#include "xt-trace-parse.h"

#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <string.h>
#include <sys/socket.h>

#include "nlattr-read.h"

#define TRACE_PREFIX "TRACE: "

static gboolean
copy_part (const char *s, gsize n, char *dst, gsize size)
{
  if (n == 0 || n >= size)
    return FALSE;
  memcpy (dst, s, n);
  dst[n] = '\0';
  return TRUE;
}

static gboolean
parse_position (const char *s, gsize n, guint32 *out)
{
  guint64 v = 0;

  if (n == 0 || n > 10)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return FALSE;
      v = v * 10 + (guint)(s[i] - '0');
    }
  if (v == 0 || v > G_MAXUINT32)
    return FALSE;
  *out = (guint32)v;
  return TRUE;
}

static gboolean
parse_type (const char *s, gsize n, CtHitType *out)
{
  if (n == 4 && memcmp (s, "rule", 4) == 0)
    *out = CT_HIT_RULE;
  else if (n == 6 && memcmp (s, "return", 6) == 0)
    *out = CT_HIT_RETURN;
  else if (n == 6 && memcmp (s, "policy", 6) == 0)
    *out = CT_HIT_POLICY;
  else
    return FALSE;
  return TRUE;
}

/* "table:chain:type:N" (after "TRACE: ", trailing space removed). Table
 * names never hold ':', type and N cannot, but user chain names may
 * (iptables only refuses blanks): split at the first and the last two. */
static gboolean
parse_trace_line (const char *s, gsize n, CtXtTrace *out)
{
  const char *first, *last, *second;

  first = memchr (s, ':', n);
  last = memrchr (s, ':', n);
  if (first == NULL || last == first)
    return FALSE;
  second = memrchr (s, ':', (gsize)(last - s));
  if (second == first)
    return FALSE;
  return copy_part (s, (gsize)(first - s), out->table, sizeof out->table)
         && copy_part (first + 1, (gsize)(second - first - 1), out->chain,
                       sizeof out->chain)
         && parse_type (second + 1, (gsize)(last - second - 1), &out->type)
         && parse_position (last + 1, (gsize)(s + n - last - 1),
                            &out->position);
}

gboolean
ct_xt_trace_parse_prefix (const char *prefix, gsize len, CtXtTrace *out)
{
  if (len < strlen (TRACE_PREFIX)
      || memcmp (prefix, TRACE_PREFIX, strlen (TRACE_PREFIX)) != 0)
    return FALSE;
  prefix += strlen (TRACE_PREFIX);
  len -= strlen (TRACE_PREFIX);
  if (len > 0 && prefix[len - 1] == ' ')
    len--;
  return parse_trace_line (prefix, len, out);
}

static guint8
packet_family (guint8 nfgen_family, const struct nlattr *hdr_attr)
{
  struct nfulnl_msg_packet_hdr hdr;

  if (nfgen_family == AF_INET || nfgen_family == AF_INET6)
    return nfgen_family;
  /* Logged by another family (bridge): the frame's protocol decides. */
  if (hdr_attr == NULL || mnl_attr_get_payload_len (hdr_attr) < sizeof hdr)
    return AF_UNSPEC;
  memcpy (&hdr, mnl_attr_get_payload (hdr_attr), sizeof hdr);
  switch (GUINT16_FROM_BE (hdr.hw_protocol))
    {
    case ETH_P_IP:
      return AF_INET;
    case ETH_P_IPV6:
      return AF_INET6;
    default:
      return AF_UNSPEC;
    }
}

static gboolean
parse_timestamp (const struct nlattr *a, CtXtTrace *out)
{
  struct nfulnl_msg_packet_timestamp ts;
  guint64 sec, usec;

  if (a == NULL)
    return TRUE;
  if (mnl_attr_get_payload_len (a) < sizeof ts)
    return FALSE;
  memcpy (&ts, mnl_attr_get_payload (a), sizeof ts);
  sec = GUINT64_FROM_BE (ts.sec);
  usec = GUINT64_FROM_BE (ts.usec);
  /* Out of range is nonsense, not a reason to drop the trace line. */
  if (sec < (guint64)G_MAXINT64 / G_USEC_PER_SEC - 1 && usec < G_USEC_PER_SEC)
    {
      out->has_timestamp = TRUE;
      out->timestamp = (gint64)(sec * G_USEC_PER_SEC + usec);
    }
  return TRUE;
}

CtParseResult
ct_xt_trace_parse (const struct nlmsghdr *nlh, CtXtTrace *out)
{
  const struct nlattr *tb[NFULA_MAX + 1];
  const struct nfgenmsg *nfg;
  const char *attrs, *end, *prefix;
  gsize prefix_len;

  memset (out, 0, sizeof *out);
  if (nlh->nlmsg_len < mnl_nlmsg_size (sizeof *nfg))
    return CT_PARSE_INVALID;
  if (NFNL_SUBSYS_ID (nlh->nlmsg_type) != NFNL_SUBSYS_ULOG
      || NFNL_MSG_TYPE (nlh->nlmsg_type) != NFULNL_MSG_PACKET)
    return CT_PARSE_IGNORED;

  nfg = mnl_nlmsg_get_payload (nlh);
  attrs = mnl_nlmsg_get_payload_offset (nlh, sizeof *nfg);
  end = (const char *)nlh + nlh->nlmsg_len;
  if (attrs > end || !ct_nlattr_collect (attrs, end - attrs, tb, NFULA_MAX))
    return CT_PARSE_INVALID;

  if (tb[NFULA_PREFIX] == NULL)
    return CT_PARSE_IGNORED;
  prefix = mnl_attr_get_payload (tb[NFULA_PREFIX]);
  prefix_len = strnlen (prefix, mnl_attr_get_payload_len (tb[NFULA_PREFIX]));
  if (prefix_len < strlen (TRACE_PREFIX)
      || memcmp (prefix, TRACE_PREFIX, strlen (TRACE_PREFIX)) != 0)
    return CT_PARSE_IGNORED;
  out->family = packet_family (nfg->nfgen_family, tb[NFULA_PACKET_HDR]);
  if (out->family == AF_UNSPEC)
    return CT_PARSE_IGNORED;

  if (!ct_xt_trace_parse_prefix (prefix, prefix_len, out))
    return CT_PARSE_INVALID;

  if (tb[NFULA_PACKET_HDR] != NULL)
    {
      struct nfulnl_msg_packet_hdr hdr;

      if (mnl_attr_get_payload_len (tb[NFULA_PACKET_HDR]) < sizeof hdr)
        return CT_PARSE_INVALID;
      memcpy (&hdr, mnl_attr_get_payload (tb[NFULA_PACKET_HDR]), sizeof hdr);
      out->hook = hdr.hook;
    }
  if (!ct_nlattr_opt_be32 (tb[NFULA_SEQ], &out->has_seq, &out->seq)
      || !ct_nlattr_opt_be32 (tb[NFULA_SEQ_GLOBAL], &out->has_seq_global,
                              &out->seq_global)
      || !ct_nlattr_opt_be32 (tb[NFULA_IFINDEX_INDEV], NULL, &out->iif)
      || !ct_nlattr_opt_be32 (tb[NFULA_IFINDEX_OUTDEV], NULL, &out->oif)
      || !ct_nlattr_opt_be32 (tb[NFULA_MARK], NULL, &out->mark)
      || !ct_nlattr_opt_be32 (tb[NFULA_UID], &out->has_uid, &out->uid)
      || !ct_nlattr_opt_be32 (tb[NFULA_GID], &out->has_gid, &out->gid)
      || !parse_timestamp (tb[NFULA_TIMESTAMP], out))
    return CT_PARSE_INVALID;

  if (tb[NFULA_PAYLOAD] != NULL)
    out->has_tuple = ct_packet_parse (
        out->family, mnl_attr_get_payload (tb[NFULA_PAYLOAD]),
        mnl_attr_get_payload_len (tb[NFULA_PAYLOAD]), &out->tuple);
  return CT_PARSE_OK;
}

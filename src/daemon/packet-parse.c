/* packet-parse.c — IP and transport header walking over untrusted bytes.
 * Every read follows a length check against the bytes in hand; the
 * extension-header walk is bounded and an ICMP error is followed once. */
#include "packet-parse.h"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <string.h>
#include <sys/socket.h>

#define IPV4_HDR_LEN     20
#define IPV6_HDR_LEN     40
#define ICMP_HDR_LEN     8
#define IPV4_FRAG_OFFSET 0x1fff
#define IPV6_FRAG_OFFSET 0xfff8
/* Far more than any real packet carries; bounds the walk on hostile ones
 * (each header is at least 8 bytes, so len bounds it too). */
#define MAX_EXT_HDRS 16

static gboolean parse_l3 (guint8 family, const guint8 *b, gsize len,
                          gboolean inner, CtPacketTuple *out);

static guint16
read16 (const guint8 *p)
{
  return (guint16)(p[0] << 8 | p[1]);
}

/* The types conntrack treats as errors about another packet (RELATED). */
static gboolean
icmp_is_error (guint8 proto, guint8 type)
{
  if (proto == IPPROTO_ICMPV6)
    return type < 128; /* RFC 4443 §2.1: errors have the high bit clear */

  switch (type)
    {
    case ICMP_DEST_UNREACH:
    case ICMP_SOURCE_QUENCH:
    case ICMP_REDIRECT:
    case ICMP_TIME_EXCEEDED:
    case ICMP_PARAMETERPROB:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Replaces out with the tuple of the packet the error quotes. The quote
 * is parsed as an inner packet: no further ICMP error is followed. */
static void
parse_icmp_error (guint8 proto, const guint8 *b, gsize len, CtPacketTuple *out)
{
  guint8 family = proto == IPPROTO_ICMP ? AF_INET : AF_INET6;
  CtPacketTuple inner;

  /* ICMP quoting an IPv6 packet (or the reverse) is not an error conntrack
   * would relate to anything: keep it as a plain ICMP packet. */
  if (out->family != family)
    return;
  memset (&inner, 0, sizeof inner);
  if (len < ICMP_HDR_LEN
      || !parse_l3 (family, b + ICMP_HDR_LEN, len - ICMP_HDR_LEN, TRUE, &inner))
    {
      out->l4 = CT_PACKET_L4_TRUNCATED;
      return;
    }
  *out = inner;
  out->icmp_error = TRUE;
}

static void
parse_l4 (guint8 proto, const guint8 *b, gsize len, gboolean inner,
          CtPacketTuple *out)
{
  out->proto = proto;
  out->sport = 0;
  out->dport = 0;
  out->l4 = CT_PACKET_L4_OK;

  switch (proto)
    {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
    case IPPROTO_SCTP:
    case IPPROTO_DCCP:
      /* All five start with source port, destination port. */
      if (len < 4)
        {
          out->l4 = CT_PACKET_L4_TRUNCATED;
          return;
        }
      out->sport = read16 (b);
      out->dport = read16 (b + 2);
      return;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      if (len < 2)
        {
          out->l4 = CT_PACKET_L4_TRUNCATED;
          return;
        }
      out->sport = b[0];
      out->dport = b[1];
      if (!inner && icmp_is_error (proto, b[0]))
        parse_icmp_error (proto, b, len, out);
      return;
    default:
      return;
    }
}

static gboolean
parse_ipv4 (const guint8 *b, gsize len, gboolean inner, CtPacketTuple *out)
{
  guint ihl, total;

  if (len < IPV4_HDR_LEN || b[0] >> 4 != 4)
    return FALSE;
  ihl = (b[0] & 0x0f) * 4u;
  if (ihl < IPV4_HDR_LEN)
    return FALSE;
  /* A total length of 0 is legal for GSO packets (BIG TCP); otherwise it
   * trims link-layer padding. Quoted packets are cut short by design. */
  total = read16 (b + 2);
  if (total != 0)
    {
      if (total < ihl)
        return FALSE;
      if (total < len)
        len = total;
    }

  out->family = AF_INET;
  out->proto = b[9];
  memcpy (out->src, b + 12, 4);
  memcpy (out->dst, b + 16, 4);

  if (read16 (b + 6) & IPV4_FRAG_OFFSET)
    out->l4 = CT_PACKET_L4_FRAGMENT;
  else if (ihl > len)
    out->l4 = CT_PACKET_L4_TRUNCATED;
  else
    parse_l4 (b[9], b + ihl, len - ihl, inner, out);
  return TRUE;
}

static gboolean
parse_ipv6 (const guint8 *b, gsize len, gboolean inner, CtPacketTuple *out)
{
  guint payload;
  gsize off = IPV6_HDR_LEN;
  guint8 next;

  if (len < IPV6_HDR_LEN || b[0] >> 4 != 6)
    return FALSE;
  payload = read16 (b + 4);
  if (payload != 0 && IPV6_HDR_LEN + payload < len)
    len = IPV6_HDR_LEN + payload;

  out->family = AF_INET6;
  memcpy (out->src, b + 8, 16);
  memcpy (out->dst, b + 24, 16);
  next = b[6];

  for (guint i = 0;; i++)
    {
      gsize hlen;

      switch (next)
        {
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
          if (len - off < 2)
            goto unknown;
          hlen = (b[off + 1] + 1u) * 8u;
          break;
        case IPPROTO_AH:
          if (len - off < 2)
            goto unknown;
          hlen = (b[off + 1] + 2u) * 4u;
          break;
        case IPPROTO_FRAGMENT:
          if (len - off < 8)
            goto unknown;
          if (read16 (b + off + 2) & IPV6_FRAG_OFFSET)
            {
              out->proto = b[off];
              out->l4 = CT_PACKET_L4_FRAGMENT;
              return TRUE;
            }
          hlen = 8;
          break;
        default:
          parse_l4 (next, b + off, len - off, inner, out);
          return TRUE;
        }
      if (i == MAX_EXT_HDRS || hlen > len - off)
        goto unknown;
      next = b[off];
      off += hlen;
    }

unknown:
  out->proto = next;
  out->l4 = CT_PACKET_L4_UNKNOWN;
  return TRUE;
}

static gboolean
parse_l3 (guint8 family, const guint8 *b, gsize len, gboolean inner,
          CtPacketTuple *out)
{
  switch (family)
    {
    case AF_INET:
      return parse_ipv4 (b, len, inner, out);
    case AF_INET6:
      return parse_ipv6 (b, len, inner, out);
    default:
      return FALSE;
    }
}

gboolean
ct_packet_parse (guint8 family, const guint8 *l3, gsize len, CtPacketTuple *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (l3 != NULL || len == 0, FALSE);

  memset (out, 0, sizeof *out);
  if (!parse_l3 (family, l3, len, FALSE, out))
    {
      memset (out, 0, sizeof *out);
      return FALSE;
    }
  return TRUE;
}

gboolean
ct_packet_parse_l4 (guint8 proto, const guint8 *l4, gsize len,
                    CtPacketTuple *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (l4 != NULL || len == 0, FALSE);

  out->icmp_error = FALSE;
  parse_l4 (proto, l4, len, FALSE, out);
  return out->l4 == CT_PACKET_L4_OK;
}

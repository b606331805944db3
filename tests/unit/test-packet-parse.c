/* Packet tuple parsing: IPv4, IPv6 extension headers, fragments, ports,
 * ICMP errors, and hostile bytes (every truncation, bogus lengths, loops),
 * each parsed from an exact-size heap copy so ASAN sees any over-read. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "packet-parse.h"
#include "trace-fixtures.h"

typedef struct
{
  guint8 b[512];
  gsize len;
} Pkt;

static void
put (Pkt *p, const void *data, gsize n)
{
  g_assert_cmpuint (p->len + n, <=, sizeof p->b);
  memcpy (p->b + p->len, data, n);
  p->len += n;
}

static void
put_u8 (Pkt *p, guint8 v)
{
  put (p, &v, 1);
}

static void
put_be16 (Pkt *p, guint16 v)
{
  v = htons (v);
  put (p, &v, 2);
}

static void
put_zero (Pkt *p, gsize n)
{
  static const guint8 zero[64];

  g_assert_cmpuint (n, <=, sizeof zero);
  put (p, zero, n);
}

/* IPv4 header with `opt_words` 32-bit words of options; total length
 * patched by fix_ipv4(). */
static void
put_ipv4 (Pkt *p, guint8 proto, const char *src, const char *dst, guint16 frag,
          guint opt_words)
{
  guint8 a[4];

  put_u8 (p, 0x40 | (5 + opt_words));
  put_u8 (p, 0);
  put_be16 (p, 0); /* total length, see fix_ipv4 */
  put_be16 (p, 0x1234);
  put_be16 (p, frag);
  put_u8 (p, 64);
  put_u8 (p, proto);
  put_be16 (p, 0);
  inet_pton (AF_INET, src, a);
  put (p, a, 4);
  inet_pton (AF_INET, dst, a);
  put (p, a, 4);
  for (guint i = 0; i < opt_words; i++)
    put (p, "\x01\x01\x01\x01", 4); /* NOPs */
}

static void
fix_ipv4 (Pkt *p, gsize at)
{
  guint16 total = htons ((guint16)(p->len - at));

  memcpy (p->b + at + 2, &total, 2);
}

static void
put_ipv6 (Pkt *p, guint8 next, const char *src, const char *dst)
{
  guint8 a[16];

  put (p, "\x60\x00\x00\x00", 4);
  put_be16 (p, 0); /* payload length, see fix_ipv6 */
  put_u8 (p, next);
  put_u8 (p, 64);
  inet_pton (AF_INET6, src, a);
  put (p, a, 16);
  inet_pton (AF_INET6, dst, a);
  put (p, a, 16);
}

static void
fix_ipv6 (Pkt *p, gsize at)
{
  guint16 payload = htons ((guint16)(p->len - at - 40));

  memcpy (p->b + at + 4, &payload, 2);
}

/* Options-style extension header (hop-by-hop, routing, destination) of
 * (hdr_ext_len + 1) * 8 bytes. */
static void
put_ext (Pkt *p, guint8 next, guint8 hdr_ext_len)
{
  put_u8 (p, next);
  put_u8 (p, hdr_ext_len);
  put_u8 (p, 1); /* PadN */
  put_u8 (p, 4 + hdr_ext_len * 8);
  put_zero (p, 4 + hdr_ext_len * 8u);
}

static void
put_ports (Pkt *p, guint16 sport, guint16 dport, gsize rest)
{
  put_be16 (p, sport);
  put_be16 (p, dport);
  put_zero (p, rest);
}

/* Parses from an exact-size heap copy: an over-read is an ASAN error. */
static gboolean
parse (guint8 family, const Pkt *p, gsize len, CtPacketTuple *out)
{
  g_autofree guint8 *copy = g_memdup2 (p->b, len);

  return ct_packet_parse (family, copy, len, out);
}

static void
test_ipv4_tcp (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  put_ipv4 (&p, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 0, 0);
  put_ports (&p, 40000, 22, 16);
  fix_ipv4 (&p, 0);

  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_cmpuint (t.family, ==, AF_INET);
  g_assert_cmpuint (t.proto, ==, IPPROTO_TCP);
  ct_test_assert_addr (AF_INET, t.src, "10.0.0.1");
  ct_test_assert_addr (AF_INET, t.dst, "10.0.0.2");
  g_assert_cmpuint (t.sport, ==, 40000);
  g_assert_cmpuint (t.dport, ==, 22);
  g_assert_false (t.icmp_error);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);

  /* Wrong family asked for, or garbage: no tuple, nothing left behind. */
  g_assert_false (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpuint (t.family, ==, 0);
  g_assert_false (parse (AF_UNIX, &p, p.len, &t));
  g_assert_false (ct_packet_parse (AF_INET, NULL, 0, &t));
}

static void
test_ipv4_options_and_lengths (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  put_ipv4 (&p, IPPROTO_UDP, "192.0.2.1", "192.0.2.2", 0, 10); /* IHL 15 */
  put_ports (&p, 53, 5353, 4);
  fix_ipv4 (&p, 0);
  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_cmpuint (t.sport, ==, 53);
  g_assert_cmpuint (t.dport, ==, 5353);

  /* Cut inside the options (as nft's 40-byte network header does): the
   * addresses and protocol are known, the ports are not. */
  g_assert_true (parse (AF_INET, &p, 40, &t));
  g_assert_cmpuint (t.proto, ==, IPPROTO_UDP);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);
  g_assert_cmpuint (t.sport, ==, 0);

  /* Total length 0 (GSO) means "use what is there". */
  memset (p.b + 2, 0, 2);
  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_cmpuint (t.dport, ==, 5353);

  /* A total length shorter than the header is malformed. */
  p.b[3] = 19;
  g_assert_false (parse (AF_INET, &p, p.len, &t));

  /* A total length shorter than the bytes trims trailing padding: here it
   * ends right after the IP header, so the "ports" are padding. */
  p.b[2] = 0;
  p.b[3] = 60;
  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);

  /* IHL below 5, or version 6 in an IPv4 packet. */
  p.b[0] = 0x44;
  g_assert_false (parse (AF_INET, &p, p.len, &t));
  p.b[0] = 0x65;
  g_assert_false (parse (AF_INET, &p, p.len, &t));
}

static void
test_ipv4_fragments (void)
{
  Pkt first = { 0 }, later = { 0 };
  CtPacketTuple t;

  /* First fragment (MF set, offset 0) carries the ports. */
  put_ipv4 (&first, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 0x2000, 0);
  put_ports (&first, 1111, 2222, 4);
  fix_ipv4 (&first, 0);
  g_assert_true (parse (AF_INET, &first, first.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);
  g_assert_cmpuint (t.dport, ==, 2222);

  /* A later fragment's first bytes are data, never ports. */
  put_ipv4 (&later, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 0x00b9, 0);
  put_ports (&later, 1111, 2222, 4);
  fix_ipv4 (&later, 0);
  g_assert_true (parse (AF_INET, &later, later.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_FRAGMENT);
  g_assert_cmpuint (t.proto, ==, IPPROTO_UDP);
  g_assert_cmpuint (t.sport, ==, 0);
  g_assert_cmpuint (t.dport, ==, 0);
  ct_test_assert_addr (AF_INET, t.dst, "10.0.0.2");
}

static void
test_port_protocols (void)
{
  const guint8 protos[] = { IPPROTO_UDPLITE, IPPROTO_SCTP, IPPROTO_DCCP };
  CtPacketTuple t;

  for (guint i = 0; i < G_N_ELEMENTS (protos); i++)
    {
      Pkt p = { 0 };

      put_ipv4 (&p, protos[i], "10.0.0.1", "10.0.0.2", 0, 0);
      put_ports (&p, 5000 + i, 6000 + i, 8);
      fix_ipv4 (&p, 0);
      g_assert_true (parse (AF_INET, &p, p.len, &t));
      g_assert_cmpuint (t.proto, ==, protos[i]);
      g_assert_cmpuint (t.sport, ==, 5000 + i);
      g_assert_cmpuint (t.dport, ==, 6000 + i);
      g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);
    }

  /* Protocols without ports are complete with zero ports. */
  {
    Pkt p = { 0 };

    put_ipv4 (&p, IPPROTO_GRE, "10.0.0.1", "10.0.0.2", 0, 0);
    put_zero (&p, 8);
    fix_ipv4 (&p, 0);
    g_assert_true (parse (AF_INET, &p, p.len, &t));
    g_assert_cmpuint (t.proto, ==, IPPROTO_GRE);
    g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);
    g_assert_cmpuint (t.sport, ==, 0);
  }
}

static void
test_ipv6_extension_headers (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  put_ipv6 (&p, IPPROTO_HOPOPTS, "fd00::1", "fd00::2");
  put_ext (&p, IPPROTO_ROUTING, 0);
  put_ext (&p, IPPROTO_DSTOPTS, 1);
  put_ext (&p, IPPROTO_AH, 0);
  /* AH: length in 4-byte units minus 2: 1 → 12 bytes. */
  put_u8 (&p, IPPROTO_TCP);
  put_u8 (&p, 1);
  put_zero (&p, 10);
  put_ports (&p, 443, 50000, 16);
  fix_ipv6 (&p, 0);
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpuint (t.family, ==, AF_INET6);
  g_assert_cmpuint (t.proto, ==, IPPROTO_TCP);
  g_assert_cmpuint (t.sport, ==, 443);
  g_assert_cmpuint (t.dport, ==, 50000);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);
  ct_test_assert_addr (AF_INET6, t.src, "fd00::1");
  ct_test_assert_addr (AF_INET6, t.dst, "fd00::2");

  /* Only the fixed header, as nft trace messages send it: the walk stops
   * at the first extension header. */
  g_assert_true (parse (AF_INET6, &p, 40, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_UNKNOWN);
  g_assert_cmpuint (t.proto, ==, IPPROTO_HOPOPTS);

  /* Cut inside the destination options header (hop-by-hop 8 bytes,
   * routing 16, then destination options). */
  g_assert_true (parse (AF_INET6, &p, 40 + 8 + 16 + 4, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_UNKNOWN);
  g_assert_cmpuint (t.proto, ==, IPPROTO_DSTOPTS);

  /* An extension header claiming more bytes than there are. */
  p.b[40 + 8 + 1] = 200;
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_UNKNOWN);
  g_assert_cmpuint (t.proto, ==, IPPROTO_ROUTING);
}

static void
test_ipv6_fragments (void)
{
  Pkt first = { 0 }, later = { 0 };
  CtPacketTuple t;

  put_ipv6 (&first, IPPROTO_FRAGMENT, "fd00::1", "fd00::2");
  put_u8 (&first, IPPROTO_ICMPV6);
  put_u8 (&first, 0);
  put_be16 (&first, 0x0001); /* offset 0, M set */
  put (&first, "\xde\xad\xbe\xef", 4);
  put_u8 (&first, 128); /* echo request */
  put_u8 (&first, 0);
  put_zero (&first, 6);
  fix_ipv6 (&first, 0);
  g_assert_true (parse (AF_INET6, &first, first.len, &t));
  g_assert_cmpuint (t.proto, ==, IPPROTO_ICMPV6);
  g_assert_cmpuint (t.sport, ==, 128);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);

  put_ipv6 (&later, IPPROTO_FRAGMENT, "fd00::1", "fd00::2");
  put_u8 (&later, IPPROTO_UDP);
  put_u8 (&later, 0);
  put_be16 (&later, 1448 | 1);
  put (&later, "\xde\xad\xbe\xef", 4);
  put_ports (&later, 1, 2, 4);
  fix_ipv6 (&later, 0);
  g_assert_true (parse (AF_INET6, &later, later.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_FRAGMENT);
  g_assert_cmpuint (t.proto, ==, IPPROTO_UDP);
  g_assert_cmpuint (t.sport, ==, 0);
}

static void
test_ipv6_header_loop_bounded (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  /* 40 destination options headers: more than the walk follows. */
  put_ipv6 (&p, IPPROTO_DSTOPTS, "fd00::1", "fd00::2");
  for (guint i = 0; i < 40; i++)
    put_ext (&p, IPPROTO_DSTOPTS, 0);
  fix_ipv6 (&p, 0);
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_UNKNOWN);

  /* 16 of them and then UDP: still followed. */
  memset (&p, 0, sizeof p);
  put_ipv6 (&p, IPPROTO_DSTOPTS, "fd00::1", "fd00::2");
  for (guint i = 0; i < 15; i++)
    put_ext (&p, IPPROTO_DSTOPTS, 0);
  put_ext (&p, IPPROTO_UDP, 0);
  put_ports (&p, 7, 9, 4);
  fix_ipv6 (&p, 0);
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);
  g_assert_cmpuint (t.dport, ==, 9);
}

static void
test_ipv6_payload_length (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  put_ipv6 (&p, IPPROTO_UDP, "fd00::1", "fd00::2");
  put_ports (&p, 10, 20, 4);
  fix_ipv6 (&p, 0);
  /* Payload length shorter than the ports: trailing bytes are not his. */
  p.b[5] = 2;
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);
  /* 0 (jumbogram, BIG TCP): use the bytes. */
  p.b[5] = 0;
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_cmpuint (t.dport, ==, 20);
  /* IPv4 version nibble in an IPv6 packet. */
  p.b[0] = 0x45;
  g_assert_false (parse (AF_INET6, &p, p.len, &t));
  g_assert_false (parse (AF_INET6, &p, 39, &t));
}

/* Port unreachable from 10.0.0.2 about UDP 10.0.0.1:40000 → 10.0.0.2:53. */
static void
build_icmp4_error (Pkt *p)
{
  gsize inner;

  put_ipv4 (p, IPPROTO_ICMP, "10.0.0.2", "10.0.0.1", 0, 0);
  put_u8 (p, 3); /* destination unreachable */
  put_u8 (p, 3); /* port unreachable */
  put_zero (p, 6);
  inner = p->len;
  put_ipv4 (p, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 0, 0);
  put_ports (p, 40000, 53, 4);
  fix_ipv4 (p, inner);
  put_zero (p, 8); /* the rest of the quoted datagram */
  fix_ipv4 (p, 0);
}

static void
test_icmp4_error (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  build_icmp4_error (&p);
  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_true (t.icmp_error);
  g_assert_cmpuint (t.family, ==, AF_INET);
  g_assert_cmpuint (t.proto, ==, IPPROTO_UDP);
  ct_test_assert_addr (AF_INET, t.src, "10.0.0.1");
  ct_test_assert_addr (AF_INET, t.dst, "10.0.0.2");
  g_assert_cmpuint (t.sport, ==, 40000);
  g_assert_cmpuint (t.dport, ==, 53);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);

  /* Only 12 bytes of the quote (what nft's 20-byte transport header
   * holds): the error's own type and code remain, flagged as cut short. */
  g_assert_true (parse (AF_INET, &p, 20 + 20, &t));
  g_assert_false (t.icmp_error);
  g_assert_cmpuint (t.proto, ==, IPPROTO_ICMP);
  g_assert_cmpuint (t.sport, ==, 3);
  g_assert_cmpuint (t.dport, ==, 3);
  ct_test_assert_addr (AF_INET, t.src, "10.0.0.2");
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);

  /* The quote's ports cut: inner tuple without ports. */
  g_assert_true (parse (AF_INET, &p, 20 + 8 + 20 + 2, &t));
  g_assert_true (t.icmp_error);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);
  g_assert_cmpuint (t.proto, ==, IPPROTO_UDP);
}

static void
test_icmp4_plain_and_nested (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;
  gsize inner;

  put_ipv4 (&p, IPPROTO_ICMP, "10.0.0.1", "10.0.0.2", 0, 0);
  put_u8 (&p, 8); /* echo request: not an error */
  put_u8 (&p, 0);
  put_zero (&p, 6);
  fix_ipv4 (&p, 0);
  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_false (t.icmp_error);
  g_assert_cmpuint (t.sport, ==, 8);
  g_assert_cmpuint (t.dport, ==, 0);

  /* Time exceeded quoting another error: the quoted error is reported as
   * an ICMP packet, never followed into (one level only). */
  memset (&p, 0, sizeof p);
  put_ipv4 (&p, IPPROTO_ICMP, "10.0.0.9", "10.0.0.1", 0, 0);
  put_u8 (&p, 11);
  put_u8 (&p, 0);
  put_zero (&p, 6);
  inner = p.len;
  put_ipv4 (&p, IPPROTO_ICMP, "10.0.0.1", "10.0.0.2", 0, 0);
  put_u8 (&p, 3);
  put_u8 (&p, 1);
  put_zero (&p, 6);
  put_ipv4 (&p, IPPROTO_TCP, "10.0.0.2", "10.0.0.3", 0, 0);
  put_ports (&p, 1, 2, 4);
  fix_ipv4 (&p, inner);
  fix_ipv4 (&p, 0);
  g_assert_true (parse (AF_INET, &p, p.len, &t));
  g_assert_true (t.icmp_error);
  g_assert_cmpuint (t.proto, ==, IPPROTO_ICMP);
  g_assert_cmpuint (t.sport, ==, 3);
  g_assert_cmpuint (t.dport, ==, 1);
  ct_test_assert_addr (AF_INET, t.src, "10.0.0.1");
}

static void
build_icmp6_error (Pkt *p)
{
  gsize inner;

  put_ipv6 (p, IPPROTO_ICMPV6, "fd00::9", "fd00::1");
  put_u8 (p, 2); /* packet too big */
  put_u8 (p, 0);
  put_zero (p, 2);
  put (p, "\x00\x00\x05\x00", 4); /* MTU */
  inner = p->len;
  put_ipv6 (p, IPPROTO_DSTOPTS, "fd00::1", "fd00::2");
  put_ext (p, IPPROTO_TCP, 0);
  put_ports (p, 50000, 443, 16);
  fix_ipv6 (p, inner);
  fix_ipv6 (p, 0);
}

static void
test_icmp6_error (void)
{
  Pkt p = { 0 };
  CtPacketTuple t;

  build_icmp6_error (&p);
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_true (t.icmp_error);
  g_assert_cmpuint (t.family, ==, AF_INET6);
  g_assert_cmpuint (t.proto, ==, IPPROTO_TCP);
  ct_test_assert_addr (AF_INET6, t.src, "fd00::1");
  ct_test_assert_addr (AF_INET6, t.dst, "fd00::2");
  g_assert_cmpuint (t.sport, ==, 50000);
  g_assert_cmpuint (t.dport, ==, 443);

  /* The quote cut inside its extension header. */
  g_assert_true (parse (AF_INET6, &p, 40 + 8 + 40 + 4, &t));
  g_assert_true (t.icmp_error);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_UNKNOWN);

  /* Informational ICMPv6 (echo reply) is a plain tuple. */
  p.b[40] = 129;
  g_assert_true (parse (AF_INET6, &p, p.len, &t));
  g_assert_false (t.icmp_error);
  g_assert_cmpuint (t.proto, ==, IPPROTO_ICMPV6);
  g_assert_cmpuint (t.sport, ==, 129);
}

static void
test_parse_l4 (void)
{
  static const guint8 tcp[] = { 0x1f, 0x90, 0xe5, 0x1e, 0, 0, 0, 0 };
  static const guint8 icmp_err[] = {
    3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0,
  };
  CtPacketTuple t;

  memset (&t, 0, sizeof t);
  t.family = AF_INET;
  g_assert_true (ct_packet_parse_l4 (IPPROTO_TCP, tcp, sizeof tcp, &t));
  g_assert_cmpuint (t.proto, ==, IPPROTO_TCP);
  g_assert_cmpuint (t.sport, ==, 8080);
  g_assert_cmpuint (t.dport, ==, 58654);
  g_assert_false (ct_packet_parse_l4 (IPPROTO_TCP, tcp, 3, &t));
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);
  g_assert_false (ct_packet_parse_l4 (IPPROTO_UDP, NULL, 0, &t));

  /* A 20-byte ICMP transport header: error, quote cut short. */
  g_assert_false (
      ct_packet_parse_l4 (IPPROTO_ICMP, icmp_err, sizeof icmp_err, &t));
  g_assert_false (t.icmp_error);
  g_assert_cmpuint (t.sport, ==, 3);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_TRUNCATED);

  /* ICMP (v4) in an IPv6 packet is not followed into. */
  t.family = AF_INET6;
  g_assert_true (
      ct_packet_parse_l4 (IPPROTO_ICMP, icmp_err, sizeof icmp_err, &t));
  g_assert_false (t.icmp_error);
}

/* Every prefix of a packet parses without reading past it, and the result
 * only ever grows more complete as bytes are added. */
static void
check_truncations (guint8 family, const Pkt *p, gsize fixed)
{
  CtPacketTuple t;

  for (gsize len = 0; len <= p->len; len++)
    {
      gboolean ok = parse (family, p, len, &t);

      if (len < fixed)
        g_assert_false (ok);
      else
        g_assert_true (ok);
      if (ok)
        g_assert_cmpuint (t.family, ==, family);
    }
  g_assert_true (parse (family, p, p->len, &t));
  g_assert_true (t.icmp_error);
  g_assert_cmpint (t.l4, ==, CT_PACKET_L4_OK);
}

static void
test_truncations (void)
{
  Pkt p4 = { 0 }, p6 = { 0 };

  build_icmp4_error (&p4);
  build_icmp6_error (&p6);
  check_truncations (AF_INET, &p4, 20);
  check_truncations (AF_INET6, &p6, 40);
}

/* Every single-byte value at every offset: no crash, no over-read, and a
 * tuple's family is always the one asked for. */
static void
test_byte_flips (void)
{
  Pkt p4 = { 0 }, p6 = { 0 };
  const Pkt *pkts[] = { &p4, &p6 };
  const guint8 families[] = { AF_INET, AF_INET6 };

  build_icmp4_error (&p4);
  build_icmp6_error (&p6);
  for (guint k = 0; k < 2; k++)
    for (gsize off = 0; off < pkts[k]->len; off++)
      for (guint v = 0; v < 256; v += 7)
        {
          Pkt m = *pkts[k];
          CtPacketTuple t;

          m.b[off] = (guint8)v;
          if (parse (families[k], &m, m.len, &t))
            g_assert_cmpuint (t.family, ==, families[k]);
        }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/packet-parse/ipv4-tcp", test_ipv4_tcp);
  g_test_add_func ("/packet-parse/ipv4-options-lengths",
                   test_ipv4_options_and_lengths);
  g_test_add_func ("/packet-parse/ipv4-fragments", test_ipv4_fragments);
  g_test_add_func ("/packet-parse/port-protocols", test_port_protocols);
  g_test_add_func ("/packet-parse/ipv6-extension-headers",
                   test_ipv6_extension_headers);
  g_test_add_func ("/packet-parse/ipv6-fragments", test_ipv6_fragments);
  g_test_add_func ("/packet-parse/ipv6-header-loop",
                   test_ipv6_header_loop_bounded);
  g_test_add_func ("/packet-parse/ipv6-payload-length",
                   test_ipv6_payload_length);
  g_test_add_func ("/packet-parse/icmp4-error", test_icmp4_error);
  g_test_add_func ("/packet-parse/icmp4-plain-nested",
                   test_icmp4_plain_and_nested);
  g_test_add_func ("/packet-parse/icmp6-error", test_icmp6_error);
  g_test_add_func ("/packet-parse/parse-l4", test_parse_l4);
  g_test_add_func ("/packet-parse/truncations", test_truncations);
  g_test_add_func ("/packet-parse/byte-flips", test_byte_flips);
  return g_test_run ();
}

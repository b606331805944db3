/* Legacy TRACE over nfnetlink_log: messages recorded from Linux 6.18 with
 * iptables-legacy/ip6tables-legacy (see data/trace/README.md) and
 * hand-built prefixes and hostile messages. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "xt-trace-parse.h"
#include "trace-fixtures.h"

static CtXtTrace *
parse_file (const char *name)
{
  g_autofree struct nlmsghdr *nlh = ct_test_load_message (name);
  CtXtTrace *t = g_new0 (CtXtTrace, 1);

  g_assert_cmpint (ct_xt_trace_parse (nlh, t), ==, CT_PARSE_OK);
  return t;
}

static void
assert_tuple (const CtXtTrace *t, guint8 family, guint8 proto, const char *src,
              guint16 sport, const char *dst, guint16 dport)
{
  g_assert_true (t->has_tuple);
  g_assert_cmpuint (t->tuple.family, ==, family);
  g_assert_cmpuint (t->tuple.proto, ==, proto);
  ct_test_assert_addr (family, t->tuple.src, src);
  ct_test_assert_addr (family, t->tuple.dst, dst);
  g_assert_cmpuint (t->tuple.sport, ==, sport);
  g_assert_cmpuint (t->tuple.dport, ==, dport);
}

static void
assert_hit (const CtXtTrace *t, const char *table, const char *chain,
            CtHitType type, guint32 position)
{
  g_assert_cmpstr (t->table, ==, table);
  g_assert_cmpstr (t->chain, ==, chain);
  g_assert_cmpint (t->type, ==, type);
  g_assert_cmpuint (t->position, ==, position);
}

static void
test_recorded_all_parse (void)
{
  g_autofree char *dir
      = g_test_build_filename (G_TEST_DIST, "data", "trace", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree CtXtTrace *t = NULL;

      if (!g_str_has_prefix (name, "xt-"))
        continue;
      t = parse_file (name);
      g_assert_true (t->has_tuple);
      g_assert_true (t->has_seq);
      g_assert_true (t->has_seq_global);
      n++;
    }
  g_assert_cmpuint (n, >=, 15);
}

/* "TRACE: raw:PREROUTING:policy:2 ": the policy counts as the rule after
 * the chain's one TRACE rule. */
static void
test_tcp4_prerouting (void)
{
  g_autofree CtXtTrace *t = parse_file ("xt-tcp4-raw-policy.bin");

  g_assert_cmpuint (t->family, ==, AF_INET);
  g_assert_cmpuint (t->hook, ==, NF_INET_PRE_ROUTING);
  assert_hit (t, "raw", "PREROUTING", CT_HIT_POLICY, 2);
  g_assert_cmpuint (t->seq, ==, 0);
  g_assert_cmpuint (t->seq_global, ==, 1);
  g_assert_cmpuint (t->iif, ==, 2);
  g_assert_cmpuint (t->oif, ==, 0);
  g_assert_false (t->has_uid);
  g_assert_true (t->has_timestamp);
  g_assert_cmpint (t->timestamp, >, 0);
  assert_tuple (t, AF_INET, IPPROTO_TCP, "10.99.0.1", 45496, "10.99.0.2", 8080);
  g_assert_cmpint (t->tuple.l4, ==, CT_PACKET_L4_OK);
}

/* A user chain named "web:in": table and chain split at the first colon,
 * type and position at the last two. */
static void
test_chain_with_colon (void)
{
  g_autofree CtXtTrace *input = parse_file ("xt-tcp4-input-rule.bin");
  g_autofree CtXtTrace *web = parse_file ("xt-tcp4-webin-rule.bin");
  g_autofree CtXtTrace *uid = parse_file ("xt-tcp4-webin-uid.bin");

  g_assert_cmpuint (input->hook, ==, NF_INET_LOCAL_IN);
  assert_hit (input, "filter", "INPUT", CT_HIT_RULE, 2);
  assert_hit (web, "filter", "web:in", CT_HIT_RULE, 1);
  g_assert_cmpuint (web->seq, ==, input->seq + 1);

  /* Once the socket is known (after the handshake), its owner. */
  assert_hit (uid, "filter", "web:in", CT_HIT_RULE, 1);
  g_assert_true (uid->has_uid);
  g_assert_cmpuint (uid->uid, ==, 0);
  g_assert_true (uid->has_gid);
}

static void
test_return_drop_policy (void)
{
  g_autofree CtXtTrace *ret = parse_file ("xt-udp4-chk-return.bin");
  g_autofree CtXtTrace *drop = parse_file ("xt-udp4-input-drop.bin");
  g_autofree CtXtTrace *pol = parse_file ("xt-tcp4-input-policy.bin");
  g_autofree CtXtTrace *v6 = parse_file ("xt-tcp6-input-rule.bin");

  assert_hit (ret, "filter", "chk", CT_HIT_RETURN, 2);
  assert_hit (drop, "filter", "INPUT", CT_HIT_RULE, 3);
  assert_tuple (drop, AF_INET, IPPROTO_UDP, "10.99.0.1", 49596, "10.99.0.2",
                9998);
  assert_hit (pol, "filter", "INPUT", CT_HIT_POLICY, 6);
  assert_tuple (pol, AF_INET, IPPROTO_TCP, "10.99.0.1", 58148, "10.99.0.2",
                8081);

  g_assert_cmpuint (v6->family, ==, AF_INET6);
  assert_hit (v6, "filter", "INPUT", CT_HIT_RULE, 4);
  assert_tuple (v6, AF_INET6, IPPROTO_TCP, "fd99::1", 36610, "fd99::2", 8080);
}

/* NFLOG copies the whole packet: the error's quote gives the flow it is
 * about, oriented as that flow. */
static void
test_icmp_errors (void)
{
  g_autofree CtXtTrace *e4 = parse_file ("xt-icmp4-unreach-out.bin");
  g_autofree CtXtTrace *e6 = parse_file ("xt-icmp6-unreach-out.bin");

  g_assert_cmpuint (e4->hook, ==, NF_INET_LOCAL_OUT);
  assert_hit (e4, "raw", "OUTPUT", CT_HIT_POLICY, 2);
  g_assert_cmpuint (e4->oif, ==, 2);
  g_assert_false (e4->has_timestamp);
  g_assert_true (e4->tuple.icmp_error);
  assert_tuple (e4, AF_INET, IPPROTO_UDP, "10.99.0.1", 35715, "10.99.0.2",
                9997);

  g_assert_cmpuint (e6->family, ==, AF_INET6);
  g_assert_true (e6->tuple.icmp_error);
  assert_tuple (e6, AF_INET6, IPPROTO_UDP, "fd99::1", 41900, "fd99::2", 9997);
}

static void
test_fragments_and_extension_headers (void)
{
  g_autofree CtXtTrace *f4 = parse_file ("xt-frag4-later.bin");
  g_autofree CtXtTrace *f6 = parse_file ("xt-frag6-first.bin");
  g_autofree CtXtTrace *l6 = parse_file ("xt-frag6-later.bin");
  g_autofree CtXtTrace *hbh = parse_file ("xt-hbh6.bin");
  g_autofree CtXtTrace *dst = parse_file ("xt-dstopts6.bin");
  g_autofree CtXtTrace *out = parse_file ("xt-tcp4-out-raw.bin");

  /* Without conntrack nothing reassembles before raw PREROUTING. */
  g_assert_cmpint (f4->tuple.l4, ==, CT_PACKET_L4_FRAGMENT);
  g_assert_cmpuint (f4->tuple.proto, ==, IPPROTO_ICMP);
  ct_test_assert_addr (AF_INET, f4->tuple.src, "10.99.0.1");

  /* The first fragment: through the fragment header to the echo request. */
  assert_tuple (f6, AF_INET6, IPPROTO_ICMPV6, "fd99::1", 128, "fd99::2", 0);
  g_assert_cmpint (f6->tuple.l4, ==, CT_PACKET_L4_OK);
  g_assert_cmpint (l6->tuple.l4, ==, CT_PACKET_L4_FRAGMENT);
  g_assert_cmpuint (l6->tuple.proto, ==, IPPROTO_ICMPV6);

  assert_tuple (hbh, AF_INET6, IPPROTO_UDP, "fd99::1", 33738, "fd99::2", 9999);
  assert_tuple (dst, AF_INET6, IPPROTO_UDP, "fd99::1", 40642, "fd99::2", 9999);

  /* iptables-legacy -t raw -A OUTPUT -j TRACE on the sending side. */
  g_assert_cmpuint (out->hook, ==, NF_INET_LOCAL_OUT);
  assert_hit (out, "raw", "OUTPUT", CT_HIT_POLICY, 2);
  g_assert_true (out->has_uid);
  assert_tuple (out, AF_INET, IPPROTO_TCP, "10.99.0.1", 46622, "10.99.0.2",
                8080);
}

/* Every truncation of a recorded message, each in an exact-size buffer. */
static void
test_truncations (void)
{
  g_autofree struct nlmsghdr *full
      = ct_test_load_message ("xt-icmp4-unreach-out.bin");
  guint ok = 0;

  for (guint32 len = sizeof (struct nlmsghdr); len < full->nlmsg_len; len++)
    {
      g_autofree struct nlmsghdr *nlh = g_memdup2 (full, len);
      CtXtTrace t;
      CtParseResult r;

      nlh->nlmsg_len = len;
      r = ct_xt_trace_parse (nlh, &t);
      if (len < 20)
        g_assert_cmpint (r, ==, CT_PARSE_INVALID);
      if (r == CT_PARSE_OK)
        {
          ok++;
          assert_hit (&t, "raw", "OUTPUT", CT_HIT_POLICY, 2);
        }
    }
  g_assert_cmpuint (ok, >, 0);
}

static struct nlmsghdr *
build (guint8 *buf, guint8 family, const void *prefix, gsize prefix_len)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct nfulnl_msg_packet_hdr hdr = {
    .hw_protocol = htons (ETH_P_IP),
    .hook = NF_INET_LOCAL_IN,
  };
  struct nfgenmsg *nfg;

  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof *nfg);
  nfg->nfgen_family = family;
  mnl_attr_put (nlh, NFULA_PACKET_HDR, sizeof hdr, &hdr);
  if (prefix != NULL)
    mnl_attr_put (nlh, NFULA_PREFIX, prefix_len, prefix);
  return nlh;
}

static struct nlmsghdr *
build_str (guint8 *buf, const char *prefix)
{
  return build (buf, AF_INET, prefix, strlen (prefix) + 1);
}

static CtParseResult
parse_copy (const struct nlmsghdr *nlh, CtXtTrace *t)
{
  g_autofree struct nlmsghdr *copy = g_memdup2 (nlh, nlh->nlmsg_len);

  return ct_xt_trace_parse (copy, t);
}

static CtParseResult
parse_prefix (const char *prefix, CtXtTrace *t)
{
  guint8 buf[512];

  return parse_copy (build_str (buf, prefix), t);
}

static void
test_prefixes (void)
{
  static const char *const invalid[] = {
    "TRACE: ",
    "TRACE: filter",
    "TRACE: filter:INPUT ",
    "TRACE: filter:rule:1 ",
    "TRACE: filter::rule:1 ",
    "TRACE: :INPUT:rule:1 ",
    "TRACE: filter:INPUT:rule: ",
    "TRACE: filter:INPUT::1 ",
    "TRACE: filter:INPUT:rules:1 ",
    "TRACE: filter:INPUT:Rule:1 ",
    "TRACE: filter:INPUT:rule:0 ",
    "TRACE: filter:INPUT:rule:-1 ",
    "TRACE: filter:INPUT:rule:+1 ",
    "TRACE: filter:INPUT:rule:1a ",
    "TRACE: filter:INPUT:rule: 1 ",
    "TRACE: filter:INPUT:rule:1  ",
    "TRACE: filter:INPUT:rule:4294967296 ",
    "TRACE: filter:INPUT:rule:00000000001 ",
    "TRACE: filter:0123456789012345678901234567890123:rule:1 ",
    "TRACE: 0123456789012345678901234567890123:INPUT:rule:1 ",
  };
  static const char *const ignored[] = {
    "",
    "TRACE:",
    "TRACE:filter:INPUT:rule:1 ",
    "trace: filter:INPUT:rule:1 ",
    "IN=eth0 OUT= ",
    "DROP: ",
  };
  CtXtTrace t;

  g_assert_cmpint (parse_prefix ("TRACE: filter:a:b:c:return:3 ", &t), ==,
                   CT_PARSE_OK);
  assert_hit (&t, "filter", "a:b:c", CT_HIT_RETURN, 3);
  g_assert_false (t.has_tuple);
  g_assert_cmpuint (t.hook, ==, NF_INET_LOCAL_IN);

  /* The trailing space is the kernel's; tolerate its absence. */
  g_assert_cmpint (parse_prefix ("TRACE: mangle:POSTROUTING:policy:1", &t), ==,
                   CT_PARSE_OK);
  assert_hit (&t, "mangle", "POSTROUTING", CT_HIT_POLICY, 1);

  g_assert_cmpint (parse_prefix ("TRACE: t:c:rule:4294967295 ", &t), ==,
                   CT_PARSE_OK);
  g_assert_cmpuint (t.position, ==, G_MAXUINT32);
  g_assert_cmpint (parse_prefix ("TRACE: t: :rule:7 ", &t), ==, CT_PARSE_OK);
  g_assert_cmpstr (t.chain, ==, " ");
  g_assert_cmpint (parse_prefix ("TRACE: 0123456789012345678901234567890:"
                                 "0123456789012345678901234567890:rule:1 ",
                                 &t),
                   ==, CT_PARSE_OK);

  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_test_message ("prefix '%s'", invalid[i]);
      g_assert_cmpint (parse_prefix (invalid[i], &t), ==, CT_PARSE_INVALID);
    }
  for (guint i = 0; i < G_N_ELEMENTS (ignored); i++)
    {
      g_test_message ("prefix '%s'", ignored[i]);
      g_assert_cmpint (parse_prefix (ignored[i], &t), ==, CT_PARSE_IGNORED);
    }
}

static void
test_prefix_bytes (void)
{
  guint8 buf[512];
  CtXtTrace t;

  /* No terminating NUL: the attribute's length ends the string. */
  g_assert_cmpint (
      parse_copy (build (buf, AF_INET, "TRACE: raw:OUTPUT:rule:1 ", 25), &t),
      ==, CT_PARSE_OK);
  assert_hit (&t, "raw", "OUTPUT", CT_HIT_RULE, 1);

  /* An embedded NUL ends it. */
  g_assert_cmpint (
      parse_copy (build (buf, AF_INET, "TRACE: raw:OUTPUT:rule:1\0:9 ", 29),
                  &t),
      ==, CT_PARSE_OK);
  g_assert_cmpuint (t.position, ==, 1);

  /* No prefix at all: another NFLOG user. */
  g_assert_cmpint (parse_copy (build (buf, AF_INET, NULL, 0), &t), ==,
                   CT_PARSE_IGNORED);
  g_assert_cmpint (parse_copy (build (buf, AF_INET, "", 0), &t), ==,
                   CT_PARSE_IGNORED);
}

static void
test_families (void)
{
  guint8 buf[512];
  struct nlmsghdr *nlh;
  struct nlattr *a;
  CtXtTrace t;

  /* Bridge logging: the frame's protocol decides. */
  nlh = build (buf, NFPROTO_BRIDGE, "TRACE: t:c:rule:1 ", 19);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpuint (t.family, ==, AF_INET);

  mnl_attr_for_each (a, nlh,
                     sizeof (struct nfgenmsg)) if (mnl_attr_get_type (a)
                                                   == NFULA_PACKET_HDR) (
      (struct nfulnl_msg_packet_hdr *)mnl_attr_get_payload (a))
      ->hw_protocol
      = htons (ETH_P_ARP);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_IGNORED);

  /* ARP family without a packet header. */
  nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
  ((struct nfgenmsg *)mnl_nlmsg_put_extra_header (nlh,
                                                  sizeof (struct nfgenmsg)))
      ->nfgen_family
      = NFPROTO_ARP;
  mnl_attr_put_strz (nlh, NFULA_PREFIX, "TRACE: t:c:rule:1 ");
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_IGNORED);
}

static void
test_not_packets (void)
{
  guint8 buf[512];
  struct nlmsghdr *nlh;
  CtXtTrace t;

  nlh = build_str (buf, "TRACE: t:c:rule:1 ");
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_IGNORED);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFULNL_MSG_PACKET;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_IGNORED);
  nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
}

static void
test_bogus_attributes (void)
{
  const guint16 sized[] = { NFULA_SEQ,           NFULA_SEQ_GLOBAL,
                            NFULA_IFINDEX_INDEV, NFULA_IFINDEX_OUTDEV,
                            NFULA_MARK,          NFULA_UID,
                            NFULA_GID,           NFULA_TIMESTAMP,
                            NFULA_PACKET_HDR };
  struct nfulnl_msg_packet_timestamp ts;
  guint8 buf[512];
  struct nlmsghdr *nlh;
  struct nlattr *first;
  CtXtTrace t;

  for (guint i = 0; i < G_N_ELEMENTS (sized); i++)
    {
      nlh = build_str (buf, "TRACE: t:c:rule:1 ");
      mnl_attr_put_u16 (nlh, sized[i], 1);
      g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
    }

  nlh = build_str (buf, "TRACE: t:c:rule:1 ");
  first = (struct nlattr *)((guint8 *)mnl_nlmsg_get_payload (nlh)
                            + sizeof (struct nfgenmsg));
  first->nla_len = 0xfff0;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
  first->nla_len = 3;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);

  /* A nonsense timestamp is dropped, not the trace. */
  nlh = build_str (buf, "TRACE: t:c:rule:1 ");
  ts.sec = GUINT64_TO_BE (G_MAXUINT64);
  ts.usec = GUINT64_TO_BE (5);
  mnl_attr_put (nlh, NFULA_TIMESTAMP, sizeof ts, &ts);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_false (t.has_timestamp);
  nlh = build_str (buf, "TRACE: t:c:rule:1 ");
  ts.sec = GUINT64_TO_BE (1700000000);
  ts.usec = GUINT64_TO_BE (250);
  mnl_attr_put (nlh, NFULA_TIMESTAMP, sizeof ts, &ts);
  mnl_attr_put_u32 (nlh, NFULA_MARK, htonl (0x2a));
  mnl_attr_put_u32 (nlh, NFULA_UID, htonl (1000));
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_true (t.has_timestamp);
  g_assert_cmpint (t.timestamp, ==, G_GINT64_CONSTANT (1700000000000250));
  g_assert_cmpuint (t.mark, ==, 0x2a);
  g_assert_cmpuint (t.uid, ==, 1000);

  /* A payload that is not an IPv4 packet: a trace without tuple. */
  nlh = build_str (buf, "TRACE: t:c:rule:1 ");
  mnl_attr_put (nlh, NFULA_PAYLOAD, 8, "\x60garbage");
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_false (t.has_tuple);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/xt-trace-parse/recorded/all", test_recorded_all_parse);
  g_test_add_func ("/xt-trace-parse/recorded/tcp4-prerouting",
                   test_tcp4_prerouting);
  g_test_add_func ("/xt-trace-parse/recorded/chain-with-colon",
                   test_chain_with_colon);
  g_test_add_func ("/xt-trace-parse/recorded/return-drop-policy",
                   test_return_drop_policy);
  g_test_add_func ("/xt-trace-parse/recorded/icmp-errors", test_icmp_errors);
  g_test_add_func ("/xt-trace-parse/recorded/fragments-ext-headers",
                   test_fragments_and_extension_headers);
  g_test_add_func ("/xt-trace-parse/hostile/truncations", test_truncations);
  g_test_add_func ("/xt-trace-parse/hostile/prefixes", test_prefixes);
  g_test_add_func ("/xt-trace-parse/hostile/prefix-bytes", test_prefix_bytes);
  g_test_add_func ("/xt-trace-parse/hostile/families", test_families);
  g_test_add_func ("/xt-trace-parse/hostile/not-packets", test_not_packets);
  g_test_add_func ("/xt-trace-parse/hostile/bogus-attributes",
                   test_bogus_attributes);
  return g_test_run ();
}

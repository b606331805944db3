/* NFT_MSG_TRACE parsing against messages recorded from Linux 6.18 (see
 * data/trace/README.md) and hand-built hostile ones: every truncation,
 * bogus attribute lengths, broken nesting, unterminated names. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "nft-trace-parse.h"
#include "trace-fixtures.h"

/* The conntrack attributes Debian 12's header lacks. */
#define T_CT_ID        18
#define T_CT_DIRECTION 19
#define T_CT_STATUS    20
#define T_CT_STATE     21

static CtNftTrace *
parse_file (const char *name)
{
  g_autofree struct nlmsghdr *nlh = ct_test_load_message (name);
  CtNftTrace *t = g_new0 (CtNftTrace, 1);

  g_assert_cmpint (ct_nft_trace_parse (nlh, t), ==, CT_PARSE_OK);
  return t;
}

static void
assert_tuple (const CtNftTrace *t, guint8 family, guint8 proto, const char *src,
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
      g_autofree CtNftTrace *t = NULL;

      if (!g_str_has_prefix (name, "nft-"))
        continue;
      t = parse_file (name);
      g_assert_cmpstr (t->table, !=, "");
      g_assert_cmpstr (t->chain, !=, "");
      n++;
    }
  g_assert_cmpuint (n, >=, 20);
}

/* First message of the SYN's prerouting chain (priority -450, before
 * conntrack): packet headers, no conntrack attributes. Values as
 * `nft monitor trace` printed them. */
static void
test_tcp4_early_rule (void)
{
  g_autofree CtNftTrace *t = parse_file ("nft-tcp4-early-rule.bin");
  CtHitType hit;

  g_assert_cmpuint (t->family, ==, NFPROTO_INET);
  g_assert_cmpuint (t->nfproto, ==, NFPROTO_IPV4);
  g_assert_cmphex (t->id, ==, 0x3097b68b);
  g_assert_cmpuint (t->type, ==, NFT_TRACETYPE_RULE);
  g_assert_cmpstr (t->table, ==, "t");
  g_assert_cmpstr (t->chain, ==, "early");
  g_assert_true (t->has_handle);
  g_assert_cmpuint (t->handle, ==, 7);
  g_assert_true (t->has_verdict);
  g_assert_cmpint (t->verdict, ==, NFT_CONTINUE);
  g_assert_cmpstr (t->verdict_chain, ==, "");
  g_assert_false (t->has_policy);
  g_assert_cmpuint (t->iif, ==, 2);
  g_assert_cmpuint (t->oif, ==, 0);
  g_assert_cmpuint (t->mark, ==, 0);
  assert_tuple (t, AF_INET, IPPROTO_TCP, "10.99.0.1", 58654, "10.99.0.2", 8080);
  g_assert_cmpint (t->tuple.l4, ==, CT_PACKET_L4_OK);
  g_assert_false (t->has_ct_state);
  g_assert_false (t->has_ct_id);
  g_assert_false (t->has_ct_direction);
  g_assert_true (ct_nft_trace_hit_type (t, &hit));
  g_assert_cmpint (hit, ==, CT_HIT_RULE);
  g_assert_false (ct_nft_trace_is_chain_end (t));
}

/* 6.18 closes every chain with a rule event without handle; a base chain
 * then reports its policy. */
static void
test_tcp4_chain_end_and_policy (void)
{
  g_autofree CtNftTrace *end = parse_file ("nft-tcp4-early-end.bin");
  g_autofree CtNftTrace *policy = parse_file ("nft-tcp4-early-policy.bin");
  g_autofree CtNftTrace *svc_end = parse_file ("nft-tcp4-svc-end.bin");
  CtHitType hit;

  g_assert_cmpuint (end->type, ==, NFT_TRACETYPE_RULE);
  g_assert_false (end->has_handle);
  g_assert_cmpint (end->verdict, ==, NFT_CONTINUE);
  g_assert_false (end->has_tuple);
  g_assert_true (ct_nft_trace_is_chain_end (end));
  g_assert_false (ct_nft_trace_hit_type (end, &hit));

  g_assert_cmpuint (policy->type, ==, NFT_TRACETYPE_POLICY);
  g_assert_cmphex (policy->id, ==, end->id);
  g_assert_cmpstr (policy->chain, ==, "early");
  g_assert_true (policy->has_policy);
  g_assert_cmpuint (policy->policy, ==, NF_ACCEPT);
  g_assert_false (policy->has_verdict);
  g_assert_false (ct_nft_trace_is_chain_end (policy));
  g_assert_true (ct_nft_trace_hit_type (policy, &hit));
  g_assert_cmpint (hit, ==, CT_HIT_POLICY);

  /* The regular chain "svc" ran out of rules: the legacy "return". */
  g_assert_cmpstr (svc_end->chain, ==, "svc");
  g_assert_true (ct_nft_trace_is_chain_end (svc_end));
}

/* The input chain runs after conntrack: its first message carries the
 * conntrack id (`conntrack -L -o id` showed id=2932529413). */
static void
test_tcp4_jump_with_conntrack (void)
{
  g_autofree CtNftTrace *jump = parse_file ("nft-tcp4-in-jump.bin");
  g_autofree CtNftTrace *rule = parse_file ("nft-tcp4-svc-rule.bin");
  g_autofree CtNftTrace *accept = parse_file ("nft-tcp4-in-accept.bin");
  g_autofree CtNftTrace *est = parse_file ("nft-tcp4-in-established.bin");

  g_assert_cmpstr (jump->chain, ==, "in");
  g_assert_cmpuint (jump->handle, ==, 13);
  g_assert_cmpint (jump->verdict, ==, NFT_JUMP);
  g_assert_cmpstr (jump->verdict_chain, ==, "svc");
  assert_tuple (jump, AF_INET, IPPROTO_TCP, "10.99.0.1", 58654, "10.99.0.2",
                8080);
  g_assert_true (jump->has_ct_state);
  g_assert_cmpuint (jump->ct_state, ==, 8); /* new */
  g_assert_true (jump->has_ct_id);
  g_assert_cmpuint (jump->ct_id, ==, 2932529413u);
  g_assert_true (jump->has_ct_direction);
  g_assert_cmpuint (jump->ct_direction, ==, IP_CT_DIR_ORIGINAL);
  g_assert_cmpuint (jump->ct_status, ==, 0); /* not sent while 0 */

  /* Later messages of the same chain walk carry no packet. */
  g_assert_cmphex (rule->id, ==, jump->id);
  g_assert_cmpstr (rule->chain, ==, "svc");
  g_assert_cmpuint (rule->handle, ==, 9);
  g_assert_false (rule->has_tuple);
  g_assert_false (rule->has_ct_id);

  g_assert_cmpuint (accept->handle, ==, 14);
  g_assert_cmpint (accept->verdict, ==, NF_ACCEPT);

  g_assert_cmpuint (est->ct_state, ==, 2); /* established */
  g_assert_cmpuint (est->ct_id, ==, 2932529413u);
  g_assert_cmphex (est->ct_status, ==,
                   IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED);
}

static void
test_tcp6 (void)
{
  g_autofree CtNftTrace *t = parse_file ("nft-tcp6-in-jump.bin");

  g_assert_cmpuint (t->nfproto, ==, NFPROTO_IPV6);
  assert_tuple (t, AF_INET6, IPPROTO_TCP, "fd99::1", 37342, "fd99::2", 8080);
  g_assert_cmpuint (t->ct_id, ==, 2519608443u);
}

static void
test_verdicts (void)
{
  g_autofree CtNftTrace *drop = parse_file ("nft-udp4-in-drop.bin");
  g_autofree CtNftTrace *go = parse_file ("nft-tcp4-in-goto.bin");
  g_autofree CtNftTrace *pol = parse_file ("nft-tcp4-in-policy-drop.bin");
  g_autofree CtNftTrace *mark = parse_file ("nft-udp4-mark.bin");

  /* A denied flow: dropped before conntrack confirmed it. */
  g_assert_cmpint (drop->verdict, ==, NF_DROP);
  g_assert_cmpuint (drop->handle, ==, 17);
  g_assert_cmpuint (drop->ct_state, ==, 8);
  assert_tuple (drop, AF_INET, IPPROTO_UDP, "10.99.0.1", 60237, "10.99.0.2",
                9998);

  g_assert_cmpint (go->verdict, ==, NFT_GOTO);
  g_assert_cmpstr (go->verdict_chain, ==, "svc2");

  g_assert_cmpuint (pol->type, ==, NFT_TRACETYPE_POLICY);
  g_assert_cmpuint (pol->policy, ==, NF_DROP);
  g_assert_cmphex (pol->id, ==, go->id);

  g_assert_cmpuint (mark->mark, ==, 0x2a);
}

/* The port unreachable traced on its way out: the 20-byte transport
 * header holds only 12 bytes of the quoted packet, but conntrack relates
 * the error to the UDP flow and says so by id. */
static void
test_icmp_errors (void)
{
  g_autofree CtNftTrace *udp = parse_file ("nft-udp4-in-accept.bin");
  g_autofree CtNftTrace *err = parse_file ("nft-icmp4-unreach-out.bin");
  g_autofree CtNftTrace *err6 = parse_file ("nft-icmp6-unreach-out.bin");

  assert_tuple (err, AF_INET, IPPROTO_ICMP, "10.99.0.2", 3, "10.99.0.1", 3);
  g_assert_false (err->tuple.icmp_error);
  g_assert_cmpint (err->tuple.l4, ==, CT_PACKET_L4_TRUNCATED);
  g_assert_cmpuint (err->oif, ==, 2);
  g_assert_cmpuint (err->ct_state, ==, 4); /* related */
  g_assert_cmpuint (err->ct_direction, ==, IP_CT_DIR_REPLY);
  g_assert_true (udp->has_ct_id);
  g_assert_cmpuint (err->ct_id, ==, udp->ct_id);
  g_assert_cmpuint (udp->ct_id, ==, 3637171713u);

  assert_tuple (err6, AF_INET6, IPPROTO_ICMPV6, "fd99::2", 1, "fd99::1", 4);
  g_assert_cmpint (err6->tuple.l4, ==, CT_PACKET_L4_TRUNCATED);
  g_assert_cmpuint (err6->ct_state, ==, 4);
}

static void
test_fragments_and_extension_headers (void)
{
  g_autofree CtNftTrace *f4 = parse_file ("nft-frag4-first.bin");
  g_autofree CtNftTrace *l4 = parse_file ("nft-frag4-later.bin");
  g_autofree CtNftTrace *f6 = parse_file ("nft-frag6-first.bin");
  g_autofree CtNftTrace *l6 = parse_file ("nft-frag6-later.bin");
  g_autofree CtNftTrace *hbh = parse_file ("nft-hbh6-early.bin");
  g_autofree CtNftTrace *dst = parse_file ("nft-dstopts6-in.bin");

  assert_tuple (f4, AF_INET, IPPROTO_ICMP, "10.99.0.1", 8, "10.99.0.2", 0);
  g_assert_cmpint (f4->tuple.l4, ==, CT_PACKET_L4_OK);

  /* The kernel sends a later fragment's data as its "transport header"
   * (nft monitor prints it as icmp type 192 code 193): ignored. */
  g_assert_true (l4->has_tuple);
  g_assert_cmpint (l4->tuple.l4, ==, CT_PACKET_L4_FRAGMENT);
  g_assert_cmpuint (l4->tuple.proto, ==, IPPROTO_ICMP);
  g_assert_cmpuint (l4->tuple.sport, ==, 0);

  /* IPv6 extension headers are cut from the network header: the walk
   * stops at the first one. */
  g_assert_true (f6->has_tuple);
  g_assert_cmpint (f6->tuple.l4, ==, CT_PACKET_L4_UNKNOWN);
  g_assert_cmpuint (f6->tuple.proto, ==, IPPROTO_FRAGMENT);

  /* A later IPv6 fragment: no network header, and the "transport header"
   * is the start of the IPv6 header. No tuple rather than a wrong one. */
  g_assert_false (l6->has_tuple);

  g_assert_cmpint (hbh->tuple.l4, ==, CT_PACKET_L4_UNKNOWN);
  g_assert_cmpuint (hbh->tuple.proto, ==, IPPROTO_HOPOPTS);
  ct_test_assert_addr (AF_INET6, hbh->tuple.src, "fd99::1");

  /* The join then goes through the conntrack id. */
  g_assert_cmpint (dst->tuple.l4, ==, CT_PACKET_L4_UNKNOWN);
  g_assert_cmpuint (dst->tuple.proto, ==, IPPROTO_DSTOPTS);
  g_assert_cmpuint (dst->ct_id, ==, 2426885177u);
}

/* iptables-nft rules: ordinary nft tables named after the xtables ones. */
static void
test_iptables_nft (void)
{
  g_autofree CtNftTrace *raw = parse_file ("nft-xt-tcp4-raw.bin");
  g_autofree CtNftTrace *jump = parse_file ("nft-xt-tcp4-input-jump.bin");
  g_autofree CtNftTrace *web = parse_file ("nft-xt-tcp4-webin.bin");
  g_autofree CtNftTrace *end = parse_file ("nft-xt-udp6-input-end.bin");
  g_autofree CtNftTrace *pol = parse_file ("nft-xt-udp6-input-policy.bin");
  g_autofree CtNftTrace *out = parse_file ("nft-xt-tcp4-out-raw.bin");

  g_assert_cmpuint (raw->family, ==, NFPROTO_IPV4);
  g_assert_cmpstr (raw->table, ==, "raw");
  g_assert_cmpstr (raw->chain, ==, "PREROUTING");
  g_assert_cmpuint (raw->handle, ==, 2);
  g_assert_false (raw->has_ct_id); /* raw runs before conntrack */

  g_assert_cmpstr (jump->table, ==, "filter");
  g_assert_cmpstr (jump->chain, ==, "INPUT");
  g_assert_cmpint (jump->verdict, ==, NFT_JUMP);
  g_assert_cmpstr (jump->verdict_chain, ==, "web:in");
  g_assert_cmpuint (jump->ct_id, ==, 1362190961u);

  g_assert_cmpstr (web->chain, ==, "web:in");
  g_assert_cmpint (web->verdict, ==, NF_ACCEPT);

  /* A base chain's end carries the packet when nothing matched before. */
  g_assert_cmpuint (end->family, ==, NFPROTO_IPV6);
  g_assert_true (ct_nft_trace_is_chain_end (end));
  assert_tuple (end, AF_INET6, IPPROTO_UDP, "fd99::1", 55063, "fd99::2", 9996);
  g_assert_cmpuint (pol->policy, ==, NF_DROP);

  /* Output in a namespace where nothing enabled conntrack: no ct info. */
  g_assert_cmpstr (out->chain, ==, "OUTPUT");
  g_assert_cmpuint (out->oif, ==, 2);
  g_assert_false (out->has_ct_state);
  assert_tuple (out, AF_INET, IPPROTO_TCP, "10.99.0.1", 43318, "10.99.0.2",
                8080);
}

/* Every truncation of a recorded message, in a buffer of exactly that
 * size: never an over-read; a shorter message either fails or is a clean
 * prefix of the whole (attributes are never half-read). */
static void
test_truncations (void)
{
  g_autofree struct nlmsghdr *full
      = ct_test_load_message ("nft-tcp4-in-jump.bin");
  CtNftTrace whole;

  g_assert_cmpint (ct_nft_trace_parse (full, &whole), ==, CT_PARSE_OK);
  for (guint32 len = sizeof (struct nlmsghdr); len < full->nlmsg_len; len++)
    {
      g_autofree struct nlmsghdr *nlh = g_memdup2 (full, len);
      CtNftTrace t;
      CtParseResult r;

      nlh->nlmsg_len = len;
      r = ct_nft_trace_parse (nlh, &t);
      g_assert_cmpint (r, !=, CT_PARSE_IGNORED);
      if (len < 20)
        g_assert_cmpint (r, ==, CT_PARSE_INVALID);
      if (r == CT_PARSE_OK)
        {
          g_assert_cmphex (t.id, ==, whole.id);
          g_assert_cmpstr (t.table, ==, whole.table);
          g_assert_cmpstr (t.chain, ==, whole.chain);
        }
    }
}

/* A message built attribute by attribute for the hostile cases. */
static struct nlmsghdr *
build (guint8 *buf, guint16 type)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct nfgenmsg *nfg;

  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof *nfg);
  nfg->nfgen_family = NFPROTO_INET;
  return nlh;
}

static struct nlmsghdr *
build_minimal (guint8 *buf)
{
  struct nlmsghdr *nlh = build (buf, NFT_MSG_TRACE);

  mnl_attr_put_u32 (nlh, NFTA_TRACE_NFPROTO, htonl (NFPROTO_IPV4));
  mnl_attr_put_u32 (nlh, NFTA_TRACE_TYPE, htonl (NFT_TRACETYPE_RULE));
  mnl_attr_put_u32 (nlh, NFTA_TRACE_ID, htonl (0xabcdef));
  mnl_attr_put_strz (nlh, NFTA_TRACE_CHAIN, "c");
  mnl_attr_put_strz (nlh, NFTA_TRACE_TABLE, "t");
  return nlh;
}

static CtParseResult
parse_copy (const struct nlmsghdr *nlh, CtNftTrace *t)
{
  g_autofree struct nlmsghdr *copy = g_memdup2 (nlh, nlh->nlmsg_len);

  return ct_nft_trace_parse (copy, t);
}

static void
test_not_a_trace (void)
{
  guint8 buf[512];
  struct nlmsghdr *nlh;
  CtNftTrace t;

  nlh = build (buf, NFT_MSG_NEWRULE);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_IGNORED);
  nlh = build_minimal (buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFT_MSG_TRACE;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_IGNORED);
  nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
}

static void
test_required_attributes (void)
{
  const guint16 required[]
      = { NFTA_TRACE_TYPE, NFTA_TRACE_ID, NFTA_TRACE_CHAIN, NFTA_TRACE_TABLE };
  guint8 buf[512];
  CtNftTrace t;

  g_assert_cmpint (parse_copy (build_minimal (buf), &t), ==, CT_PARSE_OK);
  g_assert_cmphex (t.id, ==, 0xabcdef);
  g_assert_false (t.has_tuple);
  g_assert_false (t.has_verdict);

  /* Drop each required attribute by renaming it to an unknown type. */
  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    {
      struct nlmsghdr *nlh = build_minimal (buf);
      struct nlattr *a;

      mnl_attr_for_each (
          a, nlh, sizeof (struct nfgenmsg)) if (mnl_attr_get_type (a)
                                                == required[i]) a->nla_type
          = 200;
      g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
    }
}

static void
test_bogus_lengths (void)
{
  const guint16 sized[]
      = { NFTA_TRACE_NFPROTO, NFTA_TRACE_IIF,    NFTA_TRACE_OIF,
          NFTA_TRACE_MARK,    NFTA_TRACE_POLICY, T_CT_ID,
          T_CT_STATE,         T_CT_STATUS,       NFTA_TRACE_RULE_HANDLE };
  guint8 buf[512];
  struct nlmsghdr *nlh;
  struct nlattr *first;
  CtNftTrace t;

  /* Each fixed-size attribute with a 2-byte payload. */
  for (guint i = 0; i < G_N_ELEMENTS (sized); i++)
    {
      nlh = build_minimal (buf);
      mnl_attr_put_u16 (nlh, sized[i], 1);
      g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
    }
  nlh = build_minimal (buf);
  mnl_attr_put (nlh, T_CT_DIRECTION, 0, "");
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);

  /* An attribute longer than the message, or shorter than its header. */
  nlh = build_minimal (buf);
  first = (struct nlattr *)((guint8 *)mnl_nlmsg_get_payload (nlh)
                            + sizeof (struct nfgenmsg));
  first->nla_len = 0xfff0;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
  first->nla_len = 2;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);

  /* Trailing garbage of a whole attribute header's size. */
  nlh = build_minimal (buf);
  memset ((guint8 *)nlh + nlh->nlmsg_len, 0xff, 4);
  nlh->nlmsg_len += 4;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);

  /* Unknown attributes, including ones past the kernel's last, and the
   * nested flag on a known one, are fine. */
  nlh = build_minimal (buf);
  mnl_attr_put_u32 (nlh, 22, 1);
  mnl_attr_put_u32 (nlh, 0x3fff, 1);
  mnl_attr_put_u32 (nlh, NFTA_TRACE_MARK | NLA_F_NESTED, htonl (5));
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpuint (t.mark, ==, 5);
}

static void
test_verdict_nesting (void)
{
  guint8 buf[512];
  struct nlmsghdr *nlh;
  struct nlattr *nest, *inner;
  CtNftTrace t;

  /* Jump with its target. */
  nlh = build_minimal (buf);
  nest = mnl_attr_nest_start (nlh, NFTA_TRACE_VERDICT);
  mnl_attr_put_u32 (nlh, NFTA_VERDICT_CODE, htonl ((guint32)NFT_JUMP));
  mnl_attr_put_strz (nlh, NFTA_VERDICT_CHAIN, "target");
  mnl_attr_nest_end (nlh, nest);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpint (t.verdict, ==, NFT_JUMP);
  g_assert_cmpstr (t.verdict_chain, ==, "target");

  /* Queue verdicts keep the queue number in the upper bits. */
  nlh = build_minimal (buf);
  nest = mnl_attr_nest_start (nlh, NFTA_TRACE_VERDICT);
  mnl_attr_put_u32 (nlh, NFTA_VERDICT_CODE, htonl (NF_QUEUE_NR (7)));
  mnl_attr_nest_end (nlh, nest);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpint (t.verdict & NF_VERDICT_MASK, ==, NF_QUEUE);
  g_assert_cmpint ((guint32)t.verdict >> NF_VERDICT_QBITS, ==, 7);

  /* No code. */
  nlh = build_minimal (buf);
  nest = mnl_attr_nest_start (nlh, NFTA_TRACE_VERDICT);
  mnl_attr_put_strz (nlh, NFTA_VERDICT_CHAIN, "target");
  mnl_attr_nest_end (nlh, nest);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);

  /* The code one level too deep. */
  nlh = build_minimal (buf);
  nest = mnl_attr_nest_start (nlh, NFTA_TRACE_VERDICT);
  inner = mnl_attr_nest_start (nlh, NFTA_VERDICT_CODE);
  mnl_attr_put_u32 (nlh, NFTA_VERDICT_CODE, htonl (NF_ACCEPT));
  mnl_attr_nest_end (nlh, inner);
  mnl_attr_nest_end (nlh, nest);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  /* ... is read as the nest's first bytes: an attribute header, never
   * beyond the nest. Whatever value, it is one of its 4 bytes' worth. */

  /* A verdict nest whose contents do not end on an attribute. */
  nlh = build_minimal (buf);
  nest = mnl_attr_nest_start (nlh, NFTA_TRACE_VERDICT);
  mnl_attr_put_u32 (nlh, NFTA_VERDICT_CODE, htonl (NF_DROP));
  mnl_attr_nest_end (nlh, nest);
  nest->nla_len += 4;
  memset ((guint8 *)nlh + nlh->nlmsg_len, 0x7f, 4);
  nlh->nlmsg_len += 4;
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);

  /* An empty verdict nest, and a verdict that is not nested at all. */
  nlh = build_minimal (buf);
  nest = mnl_attr_nest_start (nlh, NFTA_TRACE_VERDICT);
  mnl_attr_nest_end (nlh, nest);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
  nlh = build_minimal (buf);
  mnl_attr_put_u32 (nlh, NFTA_TRACE_VERDICT, 0);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_INVALID);
}

static void
test_names (void)
{
  guint8 buf[1024];
  char long_name[300];
  struct nlmsghdr *nlh;
  CtNftTrace t;

  /* Not NUL-terminated: the payload's length ends it. */
  nlh = build (buf, NFT_MSG_TRACE);
  mnl_attr_put_u32 (nlh, NFTA_TRACE_TYPE, htonl (NFT_TRACETYPE_POLICY));
  mnl_attr_put_u32 (nlh, NFTA_TRACE_ID, htonl (1));
  mnl_attr_put (nlh, NFTA_TRACE_TABLE, 3, "abc");
  mnl_attr_put (nlh, NFTA_TRACE_CHAIN, 0, "");
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpstr (t.table, ==, "abc");
  g_assert_cmpstr (t.chain, ==, "");

  /* Longer than any kernel name: cut, terminated. */
  memset (long_name, 'x', sizeof long_name);
  long_name[sizeof long_name - 1] = '\0';
  nlh = build (buf, NFT_MSG_TRACE);
  mnl_attr_put_u32 (nlh, NFTA_TRACE_TYPE, htonl (NFT_TRACETYPE_POLICY));
  mnl_attr_put_u32 (nlh, NFTA_TRACE_ID, htonl (1));
  mnl_attr_put_strz (nlh, NFTA_TRACE_TABLE, long_name);
  mnl_attr_put (nlh, NFTA_TRACE_CHAIN, 4, "in\0x");
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpuint (strlen (t.table), ==, CT_NFT_NAME_LEN - 1);
  g_assert_cmpstr (t.chain, ==, "in");
}

static void
test_headers (void)
{
  static const guint8 ip4[20]
      = { 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
  static const guint8 tcp[4] = { 0x01, 0xbb, 0xc3, 0x50 };
  guint8 buf[512];
  struct nlmsghdr *nlh;
  CtNftTrace t;

  /* Network and transport header. */
  nlh = build_minimal (buf);
  mnl_attr_put (nlh, NFTA_TRACE_NETWORK_HEADER, sizeof ip4, ip4);
  mnl_attr_put (nlh, NFTA_TRACE_TRANSPORT_HEADER, sizeof tcp, tcp);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_true (t.has_tuple);
  g_assert_cmpuint (t.tuple.sport, ==, 443);
  g_assert_cmpuint (t.tuple.dport, ==, 50000);

  /* A transport header cut short, then missing. */
  nlh = build_minimal (buf);
  mnl_attr_put (nlh, NFTA_TRACE_NETWORK_HEADER, sizeof ip4, ip4);
  mnl_attr_put (nlh, NFTA_TRACE_TRANSPORT_HEADER, 3, tcp);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpint (t.tuple.l4, ==, CT_PACKET_L4_TRUNCATED);
  nlh = build_minimal (buf);
  mnl_attr_put (nlh, NFTA_TRACE_NETWORK_HEADER, sizeof ip4, ip4);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_true (t.has_tuple);
  g_assert_cmpint (t.tuple.l4, ==, CT_PACKET_L4_TRUNCATED);

  /* A network header of the wrong family, or too short: no tuple, the
   * trace itself is still good. */
  nlh = build_minimal (buf);
  mnl_attr_put_u32 (nlh, NFTA_TRACE_NFPROTO, htonl (NFPROTO_IPV6));
  mnl_attr_put (nlh, NFTA_TRACE_NETWORK_HEADER, sizeof ip4, ip4);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_false (t.has_tuple);
  nlh = build_minimal (buf);
  mnl_attr_put (nlh, NFTA_TRACE_NETWORK_HEADER, 0, "");
  mnl_attr_put (nlh, NFTA_TRACE_TRANSPORT_HEADER, sizeof tcp, tcp);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_false (t.has_tuple);

  /* A bridge table: the IP version decides the packet's family. */
  nlh = build (buf, NFT_MSG_TRACE);
  ((struct nfgenmsg *)mnl_nlmsg_get_payload (nlh))->nfgen_family
      = NFPROTO_BRIDGE;
  mnl_attr_put_u32 (nlh, NFTA_TRACE_NFPROTO, htonl (NFPROTO_BRIDGE));
  mnl_attr_put_u32 (nlh, NFTA_TRACE_TYPE, htonl (NFT_TRACETYPE_RULE));
  mnl_attr_put_u32 (nlh, NFTA_TRACE_ID, htonl (2));
  mnl_attr_put_strz (nlh, NFTA_TRACE_CHAIN, "fwd");
  mnl_attr_put_strz (nlh, NFTA_TRACE_TABLE, "br");
  mnl_attr_put (nlh, NFTA_TRACE_NETWORK_HEADER, sizeof ip4, ip4);
  mnl_attr_put (nlh, NFTA_TRACE_TRANSPORT_HEADER, sizeof tcp, tcp);
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_cmpuint (t.family, ==, NFPROTO_BRIDGE);
  g_assert_true (t.has_tuple);
  g_assert_cmpuint (t.tuple.family, ==, AF_INET);
}

/* A kernel that sends every conntrack attribute, status included. */
static void
test_conntrack_attributes (void)
{
  guint8 buf[512];
  struct nlmsghdr *nlh = build_minimal (buf);
  CtNftTrace t;

  mnl_attr_put_u32 (nlh, T_CT_STATE, htonl (4));
  mnl_attr_put_u8 (nlh, T_CT_DIRECTION, IP_CT_DIR_REPLY);
  mnl_attr_put_u32 (nlh, T_CT_ID, htonl (0xdc9054b5));
  mnl_attr_put_u32 (nlh, T_CT_STATUS, htonl (IPS_CONFIRMED | IPS_DST_NAT));
  g_assert_cmpint (parse_copy (nlh, &t), ==, CT_PARSE_OK);
  g_assert_true (t.has_ct_state);
  g_assert_cmpuint (t.ct_state, ==, 4);
  g_assert_true (t.has_ct_direction);
  g_assert_cmpuint (t.ct_direction, ==, IP_CT_DIR_REPLY);
  g_assert_true (t.has_ct_id);
  g_assert_cmpuint (t.ct_id, ==, 3700446389u);
  g_assert_cmphex (t.ct_status, ==, IPS_CONFIRMED | IPS_DST_NAT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nft-trace-parse/recorded/all", test_recorded_all_parse);
  g_test_add_func ("/nft-trace-parse/recorded/tcp4-early-rule",
                   test_tcp4_early_rule);
  g_test_add_func ("/nft-trace-parse/recorded/chain-end-policy",
                   test_tcp4_chain_end_and_policy);
  g_test_add_func ("/nft-trace-parse/recorded/jump-conntrack",
                   test_tcp4_jump_with_conntrack);
  g_test_add_func ("/nft-trace-parse/recorded/tcp6", test_tcp6);
  g_test_add_func ("/nft-trace-parse/recorded/verdicts", test_verdicts);
  g_test_add_func ("/nft-trace-parse/recorded/icmp-errors", test_icmp_errors);
  g_test_add_func ("/nft-trace-parse/recorded/fragments-ext-headers",
                   test_fragments_and_extension_headers);
  g_test_add_func ("/nft-trace-parse/recorded/iptables-nft", test_iptables_nft);
  g_test_add_func ("/nft-trace-parse/hostile/truncations", test_truncations);
  g_test_add_func ("/nft-trace-parse/hostile/not-a-trace", test_not_a_trace);
  g_test_add_func ("/nft-trace-parse/hostile/required",
                   test_required_attributes);
  g_test_add_func ("/nft-trace-parse/hostile/bogus-lengths",
                   test_bogus_lengths);
  g_test_add_func ("/nft-trace-parse/hostile/verdict-nesting",
                   test_verdict_nesting);
  g_test_add_func ("/nft-trace-parse/hostile/names", test_names);
  g_test_add_func ("/nft-trace-parse/built/headers", test_headers);
  g_test_add_func ("/nft-trace-parse/built/conntrack",
                   test_conntrack_attributes);
  return g_test_run ();
}

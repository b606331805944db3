/* The trace-id cache and the verdict mapping, fed with the messages
 * recorded from Linux 6.18 (data/trace/README.md): headers and conntrack's
 * view carried to the messages that lack them, chain ends turned into
 * return hits or dropped before a policy, the tracer's own table skipped,
 * bounded and expiring ids. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "nft-trace-source.h"

typedef struct
{
  CtTraceEvent ev;
  char *family, *table, *chain;
} Got;

static void
got_free (gpointer p)
{
  Got *g = p;

  g_free (g->family);
  g_free (g->table);
  g_free (g->chain);
  g_free (g);
}

static void
collect (const CtTraceEvent *ev, gpointer data)
{
  GPtrArray *out = data;
  Got *g = g_new0 (Got, 1);

  g->ev = *ev;
  g->family = g_strdup (ev->family);
  g->table = g_strdup (ev->table);
  g->chain = g_strdup (ev->chain);
  g->ev.family = g->family;
  g->ev.table = g->table;
  g->ev.chain = g->chain;
  g_ptr_array_add (out, g);
}

static CtNftTrace
parse_file (const char *name)
{
  g_autofree char *file = g_strconcat ("nft-", name, ".bin", NULL);
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "trace", file, NULL);
  g_autofree char *data = NULL;
  g_autofree struct nlmsghdr *nlh = NULL;
  CtNftTrace t;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  nlh = g_memdup2 (data, len);
  g_assert_cmpint (ct_nft_trace_parse (nlh, &t), ==, CT_PARSE_OK);
  return t;
}

/* Feeds recorded messages in order, one µs apart. */
static void
feed (CtNftTraceAssembler *a, GPtrArray *out, const char *const *names)
{
  static gint64 now = 1000;

  for (guint i = 0; names[i] != NULL; i++)
    {
      CtNftTrace t = parse_file (names[i]);

      ct_nft_trace_assembler_feed (a, &t, now++, collect, out);
    }
}

static const Got *
nth (GPtrArray *out, guint i)
{
  g_assert_cmpuint (i, <, out->len);
  return g_ptr_array_index (out, i);
}

static void
assert_hit (const Got *g, const char *chain, CtHitType type, guint64 handle,
            CtVerdict verdict)
{
  g_assert_cmpstr (g->ev.family, ==, "inet");
  g_assert_cmpstr (g->ev.table, ==, "t");
  g_assert_cmpstr (g->ev.chain, ==, chain);
  g_assert_cmpint (g->ev.type, ==, type);
  g_assert_cmpuint (g->ev.handle, ==, handle);
  g_assert_cmpint (g->ev.verdict, ==, verdict);
  g_assert_cmpuint (g->ev.position, ==, 0);
  g_assert_null (g->ev.rule);
}

static void
assert_syn (const Got *g)
{
  guint8 src[16] = { 0 }, dst[16] = { 0 };

  inet_pton (AF_INET, "10.99.0.1", src);
  inet_pton (AF_INET, "10.99.0.2", dst);
  g_assert_true (g->ev.has_tuple);
  g_assert_cmpuint (g->ev.tuple.proto, ==, IPPROTO_TCP);
  g_assert_cmpmem (g->ev.tuple.src, 16, src, 16);
  g_assert_cmpmem (g->ev.tuple.dst, 16, dst, 16);
  g_assert_cmpuint (g->ev.tuple.sport, ==, 58654);
  g_assert_cmpuint (g->ev.tuple.dport, ==, 8080);
}

/* The SYN of README's `nft monitor trace` listing, all seven messages:
 * six hits (the early chain's end is its policy's; svc's end returns). */
static void
test_syn_path (void)
{
  static const char *const syn[] = { "tcp4-early-rule",   "tcp4-early-end",
                                     "tcp4-early-policy", "tcp4-in-jump",
                                     "tcp4-svc-rule",     "tcp4-svc-end",
                                     "tcp4-in-accept",    NULL };
  g_autoptr (CtNftTraceAssembler) a
      = ct_nft_trace_assembler_new ("conntracker", 16, G_USEC_PER_SEC);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (got_free);

  feed (a, out, syn);
  g_assert_cmpuint (out->len, ==, 6);
  assert_hit (nth (out, 0), "early", CT_HIT_RULE, 7, CT_VERDICT_CONTINUE);
  assert_hit (nth (out, 1), "early", CT_HIT_POLICY, 0, CT_VERDICT_ACCEPT);
  assert_hit (nth (out, 2), "in", CT_HIT_RULE, 13, CT_VERDICT_JUMP);
  assert_hit (nth (out, 3), "svc", CT_HIT_RULE, 9, CT_VERDICT_CONTINUE);
  assert_hit (nth (out, 4), "svc", CT_HIT_RETURN, 0, CT_VERDICT_RETURN);
  assert_hit (nth (out, 5), "in", CT_HIT_RULE, 14, CT_VERDICT_ACCEPT);

  /* Every hit knows the packet; only base chain `in` runs after
   * conntrack, and its regular chain svc inherits that view. */
  for (guint i = 0; i < out->len; i++)
    assert_syn (nth (out, i));
  g_assert_false (nth (out, 0)->ev.has_ct_id);
  g_assert_false (nth (out, 1)->ev.has_ct_state);
  for (guint i = 2; i < out->len; i++)
    {
      const CtTraceEvent *ev = &nth (out, i)->ev;

      g_assert_true (ev->has_ct_id);
      g_assert_cmpuint (ev->ct_id, ==, 2932529413u);
      g_assert_true (ev->has_ct_state);
      g_assert_cmpuint (ev->ct_state, ==, 8); /* new */
      g_assert_true (ev->has_ct_direction);
      g_assert_false (ev->ct_reply);
    }
  g_assert_cmpuint (ct_nft_trace_assembler_get_n_ids (a), ==, 1);
}

/* goto to a chain that only counts, then the policy drops. */
static void
test_goto_then_policy_drop (void)
{
  static const char *const pkt[]
      = { "tcp4-in-goto", "tcp4-in-policy-drop", NULL };
  g_autoptr (CtNftTraceAssembler) a
      = ct_nft_trace_assembler_new ("conntracker", 16, G_USEC_PER_SEC);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (got_free);

  feed (a, out, pkt);
  g_assert_cmpuint (out->len, ==, 2);
  assert_hit (nth (out, 0), "in", CT_HIT_RULE, 20, CT_VERDICT_GOTO);
  assert_hit (nth (out, 1), "in", CT_HIT_POLICY, 0, CT_VERDICT_DROP);
  g_assert_true (nth (out, 1)->ev.has_tuple);
  g_assert_cmpuint (nth (out, 1)->ev.tuple.dport, ==, 8081);
}

static void
test_drop_and_icmp_error (void)
{
  static const char *const pkts[]
      = { "udp4-in-drop", "icmp4-unreach-out", "icmp6-unreach-out", NULL };
  g_autoptr (CtNftTraceAssembler) a
      = ct_nft_trace_assembler_new ("conntracker", 16, G_USEC_PER_SEC);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (got_free);
  const Got *err;

  feed (a, out, pkts);
  g_assert_cmpuint (out->len, ==, 3);
  assert_hit (nth (out, 0), "in", CT_HIT_RULE, 17, CT_VERDICT_DROP);
  g_assert_cmpuint (nth (out, 0)->ev.tuple.dport, ==, 9998);
  err = nth (out, 1);
  assert_hit (err, "out", CT_HIT_RULE, 21, CT_VERDICT_CONTINUE);
  /* The error is about the UDP flow, in its reply direction: the quoted
   * packet is cut short, conntrack's id joins it. */
  g_assert_cmpuint (err->ev.tuple.proto, ==, IPPROTO_ICMP);
  g_assert_cmpint (err->ev.tuple.l4, ==, CT_PACKET_L4_TRUNCATED);
  g_assert_true (err->ev.has_ct_id);
  g_assert_cmpuint (err->ev.ct_id, ==, 3637171713u);
  g_assert_true (err->ev.ct_reply);
  g_assert_cmpuint (err->ev.ct_state, ==, 4); /* related */
  g_assert_cmpuint (nth (out, 2)->ev.tuple.family, ==, AF_INET6);
  g_assert_true (nth (out, 2)->ev.ct_reply);
}

/* The tracer's own messages are not hits, but they are often a packet's
 * first and teach the cache its headers. A later base chain's first
 * message replaces conntrack's view (here: none, as before conntrack). */
static void
test_own_table_feeds_the_cache (void)
{
  g_autoptr (CtNftTraceAssembler) a
      = ct_nft_trace_assembler_new ("conntracker", 16, G_USEC_PER_SEC);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (got_free);
  CtNftTrace own = parse_file ("tcp4-early-rule");
  CtNftTrace jump = parse_file ("tcp4-in-jump");
  CtNftTrace svc = parse_file ("tcp4-svc-rule");
  CtNftTrace later = parse_file ("tcp4-early-rule");

  g_strlcpy (own.table, "conntracker", sizeof own.table);
  ct_nft_trace_assembler_feed (a, &own, 1, collect, out);
  g_assert_cmpuint (out->len, ==, 0);
  /* A message without headers right after: they come from our chain. */
  ct_nft_trace_assembler_feed (a, &svc, 2, collect, out);
  g_assert_cmpuint (out->len, ==, 1);
  assert_syn (nth (out, 0));
  g_assert_false (nth (out, 0)->ev.has_ct_id);

  ct_nft_trace_assembler_feed (a, &jump, 3, collect, out);
  g_assert_true (nth (out, 1)->ev.has_ct_id);
  /* The id comes back with headers and no conntrack view (the next
   * packet, in a chain before conntrack): the old view is gone. */
  ct_nft_trace_assembler_feed (a, &later, 4, collect, out);
  g_assert_cmpuint (out->len, ==, 3);
  g_assert_false (nth (out, 2)->ev.has_ct_id);
  g_assert_false (nth (out, 2)->ev.has_ct_state);
}

/* Ids are bounded (the oldest goes) and forgotten after the ttl; a held
 * chain end then turns into its return hit. */
static void
test_bounded_and_expiring (void)
{
  g_autoptr (CtNftTraceAssembler) a = ct_nft_trace_assembler_new (NULL, 4, 100);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (got_free);
  CtNftTrace rule = parse_file ("tcp4-svc-rule");
  CtNftTrace end = parse_file ("tcp4-svc-end");

  for (guint32 id = 1; id <= 10; id++)
    {
      rule.id = id;
      ct_nft_trace_assembler_feed (a, &rule, id, collect, out);
    }
  g_assert_cmpuint (ct_nft_trace_assembler_get_n_ids (a), ==, 4);
  g_assert_cmpuint (out->len, ==, 10);

  end.id = 10;
  ct_nft_trace_assembler_feed (a, &end, 20, collect, out);
  g_assert_cmpuint (out->len, ==, 10); /* held */
  ct_nft_trace_assembler_expire (a, 110, collect, out);
  g_assert_cmpuint (ct_nft_trace_assembler_get_n_ids (a), ==, 1);
  g_assert_cmpuint (out->len, ==, 10);
  ct_nft_trace_assembler_expire (a, 120, collect, out);
  g_assert_cmpuint (ct_nft_trace_assembler_get_n_ids (a), ==, 0);
  g_assert_cmpuint (out->len, ==, 11);
  assert_hit (nth (out, 10), "svc", CT_HIT_RETURN, 0, CT_VERDICT_RETURN);
}

static void
test_verdicts (void)
{
  g_assert_cmpint (ct_nft_verdict_from_code (NF_ACCEPT), ==, CT_VERDICT_ACCEPT);
  g_assert_cmpint (ct_nft_verdict_from_code (NF_DROP), ==, CT_VERDICT_DROP);
  /* NF_DROP_ERR(-EPERM) and a queue number in the upper bits */
  g_assert_cmpint (ct_nft_verdict_from_code ((gint32)((1u << 16) | NF_DROP)),
                   ==, CT_VERDICT_DROP);
  g_assert_cmpint (ct_nft_verdict_from_code ((gint32)((3u << 16) | NF_QUEUE)),
                   ==, CT_VERDICT_QUEUE);
  g_assert_cmpint (ct_nft_verdict_from_code (NF_STOLEN), ==, CT_VERDICT_NONE);
  g_assert_cmpint (ct_nft_verdict_from_code (NFT_CONTINUE), ==,
                   CT_VERDICT_CONTINUE);
  g_assert_cmpint (ct_nft_verdict_from_code (NFT_BREAK), ==, CT_VERDICT_NONE);
  g_assert_cmpint (ct_nft_verdict_from_code (NFT_JUMP), ==, CT_VERDICT_JUMP);
  g_assert_cmpint (ct_nft_verdict_from_code (NFT_GOTO), ==, CT_VERDICT_GOTO);
  g_assert_cmpint (ct_nft_verdict_from_code (NFT_RETURN), ==,
                   CT_VERDICT_RETURN);
  g_assert_cmpint (ct_nft_verdict_from_code (-42), ==, CT_VERDICT_NONE);

  g_assert_cmpint (
      ct_nft_verdict_refine (CT_VERDICT_DROP, "tcp dport 81 reject"), ==,
      CT_VERDICT_REJECT);
  g_assert_cmpint (ct_nft_verdict_refine (CT_VERDICT_DROP,
                                          "tcp dport 82 counter reject with "
                                          "tcp reset"),
                   ==, CT_VERDICT_REJECT);
  g_assert_cmpint (ct_nft_verdict_refine (CT_VERDICT_DROP,
                                          "udp dport 9 drop comment \"no "
                                          "reject here\""),
                   ==, CT_VERDICT_DROP);
  g_assert_cmpint (ct_nft_verdict_refine (CT_VERDICT_DROP, "ip rejected drop"),
                   ==, CT_VERDICT_DROP);
  g_assert_cmpint (ct_nft_verdict_refine (CT_VERDICT_DROP, NULL), ==,
                   CT_VERDICT_DROP);
  g_assert_cmpint (ct_nft_verdict_refine (CT_VERDICT_ACCEPT, "reject"), ==,
                   CT_VERDICT_ACCEPT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nft-trace-source/syn-path", test_syn_path);
  g_test_add_func ("/nft-trace-source/goto-then-policy-drop",
                   test_goto_then_policy_drop);
  g_test_add_func ("/nft-trace-source/drop-and-icmp-error",
                   test_drop_and_icmp_error);
  g_test_add_func ("/nft-trace-source/own-table-feeds-the-cache",
                   test_own_table_feeds_the_cache);
  g_test_add_func ("/nft-trace-source/bounded-and-expiring",
                   test_bounded_and_expiring);
  g_test_add_func ("/nft-trace-source/verdicts", test_verdicts);
  return g_test_run ();
}

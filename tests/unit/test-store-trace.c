/* Joining trace hits to flows: by tuple in both directions, by conntrack
 * id, hits of the first packet waiting for its NEW event, and denied flows
 * made from the hits of a dropped packet. */
#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "store.h"

#define S (G_USEC_PER_SEC)

static CtConnEvent
conn4 (guint32 id, guint8 proto, const char *src, guint16 sport,
       const char *dst, guint16 dport)
{
  CtConnEvent ev = { 0 };

  ev.type = CT_EVENT_NEW;
  ev.family = AF_INET;
  ev.proto = proto;
  ev.has_id = TRUE;
  ev.id = id;
  inet_pton (AF_INET, src, ev.orig.src);
  inet_pton (AF_INET, dst, ev.orig.dst);
  ev.orig.sport = sport;
  ev.orig.dport = dport;
  memcpy (ev.reply.src, ev.orig.dst, 16);
  memcpy (ev.reply.dst, ev.orig.src, 16);
  ev.reply.sport = proto == IPPROTO_ICMP ? 0 : dport;
  ev.reply.dport = proto == IPPROTO_ICMP ? 0 : sport;
  return ev;
}

static CtTraceEvent
hit4 (guint8 proto, const char *src, guint16 sport, const char *dst,
      guint16 dport, const char *chain, CtHitType type, guint32 position,
      CtVerdict verdict)
{
  CtTraceEvent ev = { 0 };

  ev.has_tuple = TRUE;
  ev.tuple.family = AF_INET;
  ev.tuple.proto = proto;
  inet_pton (AF_INET, src, ev.tuple.src);
  inet_pton (AF_INET, dst, ev.tuple.dst);
  ev.tuple.sport = sport;
  ev.tuple.dport = dport;
  ev.tuple.l4 = CT_PACKET_L4_OK;
  ev.family = "inet";
  ev.table = "filter";
  ev.chain = chain;
  ev.type = type;
  ev.position = position;
  ev.handle = position ? 100 + position : 0;
  ev.verdict = verdict;
  ev.rule = position ? "tcp dport 22 accept" : NULL;
  return ev;
}

static CtFlow *
only_flow (CtStore *store)
{
  g_autoptr (GPtrArray) flows = ct_store_get_sorted (store);

  g_assert_cmpuint (flows->len, ==, 1);
  return g_ptr_array_index (flows, 0);
}

static void
test_first_packet_waits_for_new (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtTraceEvent pre = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22,
                           "prerouting", CT_HIT_POLICY, 0, CT_VERDICT_ACCEPT);
  CtTraceEvent in = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22,
                          "input", CT_HIT_RULE, 2, CT_VERDICT_ACCEPT);
  CtConnEvent ct = conn4 (7, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtFlow *flow;

  ct_store_apply_trace (store, &pre, 1 * S);
  ct_store_apply_trace (store, &in, 1 * S);
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 0);
  g_assert_cmpuint (ct_store_get_n_pending_traces (store), ==, 1);

  ct_store_apply (store, &ct, 1 * S + 10);
  g_assert_cmpuint (ct_store_get_n_pending_traces (store), ==, 0);
  flow = only_flow (store);
  g_assert_nonnull (flow->hits);
  g_assert_cmpuint (flow->hits->len, ==, 2);
  g_assert_nonnull (flow->blame);
  g_assert_cmpstr (flow->blame->chain, ==, "input");
  g_assert_cmpuint (flow->blame->position, ==, 2);
  g_assert_cmpstr (flow->blame->rule, ==, "tcp dport 22 accept");
  g_assert_cmpint (flow->first_seen, ==, 1 * S);
  g_assert_false (flow->flags & CT_FLOW_DENIED);
}

static void
test_dropped_packet_becomes_denied_flow (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtTraceEvent pre = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 23,
                           "prerouting", CT_HIT_POLICY, 0, CT_VERDICT_ACCEPT);
  CtTraceEvent drop = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 23,
                            "input", CT_HIT_RULE, 4, CT_VERDICT_DROP);
  CtTraceEvent again = drop;
  CtFlow *flow;

  ct_store_apply_trace (store, &pre, 1 * S);
  ct_store_apply_trace (store, &drop, 1 * S);
  /* Not yet: the NEW event could still come. */
  ct_store_expire_traces (store, 2 * S);
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 0);
  ct_store_expire_traces (store, 3 * S + 1);
  flow = only_flow (store);
  g_assert_true (flow->flags & CT_FLOW_DENIED);
  g_assert_false (flow->flags & CT_FLOW_CONFIRMED);
  g_assert_cmpuint (flow->connections, ==, 0);
  g_assert_cmpuint (flow->key.sport, ==, 1024);
  g_assert_nonnull (flow->blame);
  g_assert_cmpint (flow->blame->verdict, ==, CT_VERDICT_DROP);
  g_assert_cmpuint (flow->blame->position, ==, 4);
  g_assert_cmpuint (ct_store_get_stats (store)->denied_flows, ==, 1);

  /* A retransmission joins the denied flow directly. */
  again.tuple.sport = 40001;
  ct_store_apply_trace (store, &again, 4 * S);
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 1);
  g_assert_cmpuint (flow->blame->count, ==, 2);
}

static void
test_unanswered_accept_is_not_denied (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtTraceEvent out = hit4 (IPPROTO_UDP, "10.0.0.1", 40000, "10.0.0.2", 53,
                           "output", CT_HIT_POLICY, 0, CT_VERDICT_ACCEPT);

  ct_store_apply_trace (store, &out, 1 * S);
  ct_store_expire_traces (store, 10 * S);
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 0);
  g_assert_cmpuint (ct_store_get_n_pending_traces (store), ==, 0);
  g_assert_cmpuint (ct_store_get_stats (store)->trace_unmatched, ==, 1);
}

static void
test_reply_direction_and_icmp (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ping = conn4 (9, IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0);
  /* The echo reply travels 10.0.0.2 -> 10.0.0.1 with type 0. */
  CtTraceEvent reply = hit4 (IPPROTO_ICMP, "10.0.0.2", 0, "10.0.0.1", 0,
                             "output", CT_HIT_POLICY, 0, CT_VERDICT_ACCEPT);
  CtFlow *flow;
  CtTraceHit *hit;

  ct_store_apply (store, &ping, 1);
  ct_store_apply_trace (store, &reply, 2);
  flow = only_flow (store);
  g_assert_nonnull (flow->hits);
  hit = g_ptr_array_index (flow->hits, 0);
  g_assert_cmpuint (hit->directions, ==, CT_HIT_REPLY);
  /* A reply-direction accept does not decide the flow. */
  g_assert_null (flow->blame);
}

static void
test_join_by_ct_id (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ct = conn4 (42, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 80);
  /* No usable tuple (say, IPv6 extension headers): the id alone joins. */
  CtTraceEvent ev = hit4 (IPPROTO_TCP, "10.9.9.9", 1, "10.9.9.8", 2, "forward",
                          CT_HIT_RULE, 1, CT_VERDICT_ACCEPT);

  ev.has_tuple = FALSE;
  ev.has_ct_id = TRUE;
  ev.ct_id = 42;
  ev.has_ct_direction = TRUE;
  ev.ct_reply = FALSE;
  ct_store_apply (store, &ct, 1);
  ct_store_apply_trace (store, &ev, 2);
  g_assert_cmpuint (only_flow (store)->hits->len, ==, 1);
  g_assert_cmpuint (ct_store_get_stats (store)->trace_hits, ==, 1);
}

static void
test_icmp_error_is_reply_of_inner_flow (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent udp = conn4 (5, IPPROTO_UDP, "10.0.0.1", 40000, "10.0.0.2", 9);
  CtTraceEvent err = hit4 (IPPROTO_UDP, "10.0.0.1", 40000, "10.0.0.2", 9,
                           "output", CT_HIT_POLICY, 0, CT_VERDICT_ACCEPT);
  CtTraceHit *hit;

  err.tuple.icmp_error = TRUE;
  ct_store_apply (store, &udp, 1);
  ct_store_apply_trace (store, &err, 2);
  hit = g_ptr_array_index (only_flow (store)->hits, 0);
  g_assert_cmpuint (hit->directions, ==, CT_HIT_REPLY);
}

static void
test_hit_bound (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ct = conn4 (1, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 80);

  ct_store_set_trace_limits (store, 2, 2 * S, 16);
  ct_store_apply (store, &ct, 1);
  for (guint32 pos = 1; pos <= 5; pos++)
    {
      CtTraceEvent ev = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 80,
                              "input", CT_HIT_RULE, pos, CT_VERDICT_NONE);

      ct_store_apply_trace (store, &ev, 2);
    }
  g_assert_cmpuint (only_flow (store)->hits->len, ==, 2);
  g_assert_cmpuint (ct_store_get_stats (store)->trace_hits_dropped, ==, 3);
}

/* A reply can be read before the NEW event (another socket): it waits
 * under its flow and joins it as a reply hit. */
static void
test_reply_before_new (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtTraceEvent in = hit4 (IPPROTO_UDP, "10.0.0.1", 40000, "10.0.0.2", 53,
                          "input", CT_HIT_RULE, 1, CT_VERDICT_ACCEPT);
  CtTraceEvent out = hit4 (IPPROTO_UDP, "10.0.0.2", 53, "10.0.0.1", 40000,
                           "output", CT_HIT_RULE, 3, CT_VERDICT_ACCEPT);
  CtConnEvent ct = conn4 (9, IPPROTO_UDP, "10.0.0.1", 40000, "10.0.0.2", 53);
  CtFlow *flow;

  out.has_ct_direction = TRUE;
  out.ct_reply = TRUE;
  ct_store_apply_trace (store, &in, 1 * S);
  ct_store_apply_trace (store, &out, 1 * S + 5);
  g_assert_cmpuint (ct_store_get_n_pending_traces (store), ==, 1);
  ct_store_apply (store, &ct, 1 * S + 10);
  flow = only_flow (store);
  g_assert_cmpuint (flow->hits->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const CtTraceHit *h = g_ptr_array_index (flow->hits, i);

      g_assert_cmpuint (h->directions, ==,
                        g_str_equal (h->chain, "output") ? CT_HIT_REPLY
                                                         : CT_HIT_ORIGINAL);
    }
  g_assert_cmpstr (flow->blame->chain, ==, "input");
}

/* The accept that let the first (new) packet through stays the blame:
 * not the raw table's accept before conntrack, not "ct state
 * established accept" of later packets. */
static void
test_blame_is_the_new_packets_accept (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ct = conn4 (11, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtTraceEvent raw = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22,
                           "raw-pre", CT_HIT_RULE, 1, CT_VERDICT_ACCEPT);
  CtTraceEvent web = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22,
                           "web", CT_HIT_RULE, 2, CT_VERDICT_ACCEPT);
  CtTraceEvent est = hit4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22,
                           "input", CT_HIT_RULE, 1, CT_VERDICT_ACCEPT);
  CtFlow *flow;

  web.has_ct_state = TRUE;
  web.ct_state = NF_CT_STATE_BIT (IP_CT_NEW);
  est.has_ct_state = TRUE;
  est.ct_state = NF_CT_STATE_BIT (IP_CT_ESTABLISHED);
  ct_store_apply (store, &ct, 1 * S);
  ct_store_apply_trace (store, &raw, 1 * S); /* SYN */
  ct_store_apply_trace (store, &web, 1 * S);
  ct_store_apply_trace (store, &raw, 2 * S); /* ACK */
  ct_store_apply_trace (store, &est, 2 * S);
  flow = only_flow (store);
  g_assert_cmpstr (flow->blame->chain, ==, "web");

  /* Without conntrack's state: the first rule accept, not later ones. */
  ct_store_reset (store);
  web.has_ct_state = est.has_ct_state = FALSE;
  ct_store_apply (store, &ct, 3 * S);
  ct_store_apply_trace (store, &web, 3 * S);
  ct_store_apply_trace (store, &est, 4 * S);
  g_assert_cmpstr (only_flow (store)->blame->chain, ==, "web");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store-trace/first-packet-waits-for-new",
                   test_first_packet_waits_for_new);
  g_test_add_func ("/store-trace/dropped-packet-becomes-denied-flow",
                   test_dropped_packet_becomes_denied_flow);
  g_test_add_func ("/store-trace/unanswered-accept-is-not-denied",
                   test_unanswered_accept_is_not_denied);
  g_test_add_func ("/store-trace/reply-direction-and-icmp",
                   test_reply_direction_and_icmp);
  g_test_add_func ("/store-trace/join-by-ct-id", test_join_by_ct_id);
  g_test_add_func ("/store-trace/icmp-error-is-reply-of-inner-flow",
                   test_icmp_error_is_reply_of_inner_flow);
  g_test_add_func ("/store-trace/hit-bound", test_hit_bound);
  g_test_add_func ("/store-trace/reply-before-new", test_reply_before_new);
  g_test_add_func ("/store-trace/blame-is-the-new-packets-accept",
                   test_blame_is_the_new_packets_accept);
  return g_test_run ();
}

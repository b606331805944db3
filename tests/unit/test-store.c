/* The store: idempotent application of dump lines and events, resync
 * reconciliation, NAT from the reply tuple, and bounded memory. */
#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "store.h"

static CtConnEvent
ev4 (CtEventType type, guint32 id, const char *src, guint16 sport,
     const char *dst, guint16 dport)
{
  CtConnEvent ev = { 0 };

  ev.type = type;
  ev.family = AF_INET;
  ev.proto = IPPROTO_TCP;
  ev.has_id = TRUE;
  ev.id = id;
  inet_pton (AF_INET, src, ev.orig.src);
  inet_pton (AF_INET, dst, ev.orig.dst);
  ev.orig.sport = sport;
  ev.orig.dport = dport;
  memcpy (ev.reply.src, ev.orig.dst, 16);
  memcpy (ev.reply.dst, ev.orig.src, 16);
  ev.reply.sport = dport;
  ev.reply.dport = sport;
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
test_dump_and_event_overlap (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ev = ev4 (CT_EVENT_NEW, 7, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtConnEvent dump = ev;
  CtFlow *flow;

  dump.type = CT_EVENT_DUMP;
  /* The event socket opens before the dump, so an entry born in between
   * arrives twice; it is still one connection. */
  ct_store_resync_begin (store);
  ct_store_apply (store, &ev, 1);
  ct_store_apply (store, &dump, 2);
  ct_store_resync_end (store);
  flow = only_flow (store);
  g_assert_cmpuint (flow->connections, ==, 1);
  g_assert_cmpuint (flow->active, ==, 1);
  g_assert_cmpuint (ct_store_get_n_conns (store), ==, 1);

  /* Reply seen: UPDATE with SEEN_REPLY confirms the flow. */
  ev.type = CT_EVENT_UPDATE;
  ev.status = IPS_SEEN_REPLY | IPS_CONFIRMED;
  ct_store_apply (store, &ev, 3);
  g_assert_true (flow->flags & CT_FLOW_CONFIRMED);
  g_assert_cmpuint (flow->connections, ==, 1);

  ev.type = CT_EVENT_DESTROY;
  ct_store_apply (store, &ev, 4);
  g_assert_cmpuint (flow->active, ==, 0);
  g_assert_cmpuint (flow->connections, ==, 1);
  g_assert_cmpint (flow->first_seen, ==, 1);
  g_assert_cmpint (flow->last_seen, ==, 4);
  /* A second DESTROY (say, replayed) changes nothing but creates no flow. */
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 1);
}

static void
test_folding_aggregates (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent a = ev4 (CT_EVENT_NEW, 1, "10.0.0.1", 40000, "10.0.0.2", 80);
  CtConnEvent b = ev4 (CT_EVENT_NEW, 2, "10.0.0.1", 40001, "10.0.0.2", 80);
  CtFlow *flow;

  ct_store_apply (store, &a, 1);
  ct_store_apply (store, &b, 2);
  flow = only_flow (store);
  g_assert_cmpuint (flow->key.sport, ==, 1024);
  g_assert_cmpuint (flow->connections, ==, 2);
  g_assert_cmpuint (flow->active, ==, 2);

  {
    g_autoptr (CtStore) unfolded = ct_store_new (100, FALSE);

    ct_store_apply (unfolded, &a, 1);
    ct_store_apply (unfolded, &b, 2);
    g_assert_cmpuint (ct_store_get_n_flows (unfolded), ==, 2);
  }
}

static void
test_stale_dump_after_destroy (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ev = ev4 (CT_EVENT_NEW, 9, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtConnEvent dump;

  ct_store_apply (store, &ev, 1);
  ct_store_resync_begin (store);
  ev.type = CT_EVENT_DESTROY;
  ct_store_apply (store, &ev, 2);
  /* The dump was taken before the entry died: it must not revive it. */
  dump = ev;
  dump.type = CT_EVENT_DUMP;
  ct_store_apply (store, &dump, 3);
  ct_store_resync_end (store);
  g_assert_cmpuint (only_flow (store)->active, ==, 0);
  g_assert_cmpuint (ct_store_get_n_conns (store), ==, 0);
}

static void
test_resync_reconciles_lost_destroy (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent gone = ev4 (CT_EVENT_NEW, 1, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtConnEvent alive = ev4 (CT_EVENT_NEW, 2, "10.0.0.1", 40000, "10.0.0.3", 22);
  CtConnEvent missed
      = ev4 (CT_EVENT_DUMP, 3, "10.0.0.1", 40000, "10.0.0.4", 22);
  CtConnEvent alive_dump = alive;

  ct_store_apply (store, &gone, 1);
  ct_store_apply (store, &alive, 1);

  /* Overrun: `gone` died and `missed` was born while events were lost. */
  ct_store_resync_begin (store);
  alive_dump.type = CT_EVENT_DUMP;
  ct_store_apply (store, &alive_dump, 5);
  ct_store_apply (store, &missed, 5);
  ct_store_resync_end (store);

  g_assert_cmpuint (ct_store_get_n_conns (store), ==, 2);
  g_assert_cmpuint (ct_store_get_stats (store)->conns_reconciled, ==, 1);
  /* The flow whose entry vanished is kept, just no longer active. */
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 3);
  {
    g_autoptr (GPtrArray) flows = ct_store_get_sorted (store);

    g_assert_cmpuint (((CtFlow *)flows->pdata[0])->active, ==, 0);
    g_assert_cmpuint (((CtFlow *)flows->pdata[1])->active, ==, 1);
    g_assert_cmpuint (((CtFlow *)flows->pdata[2])->active, ==, 1);
  }
}

static void
test_id_reuse (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent a = ev4 (CT_EVENT_NEW, 5, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtConnEvent b = ev4 (CT_EVENT_NEW, 5, "10.0.0.7", 40000, "10.0.0.2", 22);

  ct_store_apply (store, &a, 1);
  ct_store_apply (store, &b, 2);
  g_assert_cmpuint (ct_store_get_stats (store)->ids_reused, ==, 1);
  g_assert_cmpuint (ct_store_get_n_conns (store), ==, 1);
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 2);
}

static void
test_nat_from_reply_tuple (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ev = ev4 (CT_EVENT_NEW, 1, "10.0.0.1", 40000, "10.0.0.2", 8080);
  CtFlow *flow;
  char buf[46];

  /* DNAT 10.0.0.2:8080 -> 10.9.9.9:80, and masquerade to 192.0.2.1:61000 */
  inet_pton (AF_INET, "10.9.9.9", ev.reply.src);
  ev.reply.sport = 80;
  inet_pton (AF_INET, "192.0.2.1", ev.reply.dst);
  ev.reply.dport = 61000;
  ct_store_apply (store, &ev, 1);
  flow = only_flow (store);
  g_assert_true (flow->flags & CT_FLOW_DNAT);
  g_assert_cmpstr (
      ct_flow_addr_to_string (AF_INET, flow->nat_dst, buf, sizeof buf), ==,
      "10.9.9.9");
  g_assert_cmpuint (flow->nat_dport, ==, 80);
  g_assert_true (flow->flags & CT_FLOW_SNAT);
  g_assert_cmpstr (
      ct_flow_addr_to_string (AF_INET, flow->nat_src, buf, sizeof buf), ==,
      "192.0.2.1");
  g_assert_cmpuint (flow->nat_sport, ==, 1024);

  {
    CtConnEvent plain
        = ev4 (CT_EVENT_NEW, 2, "10.0.0.1", 40000, "10.0.0.3", 22);

    ct_store_apply (store, &plain, 2);
    g_assert_cmpuint (ct_store_get_n_flows (store), ==, 2);
    g_assert_false (ct_store_lookup (store, &(CtFlowKey){ 0 }));
  }
}

static void
test_counters_deltas (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtConnEvent ev = ev4 (CT_EVENT_DUMP, 1, "10.0.0.1", 40000, "10.0.0.2", 22);
  CtFlow *flow;

  ev.has_counters = TRUE;
  ev.packets = 10;
  ev.bytes = 1000;
  ct_store_apply (store, &ev, 1);
  ev.type = CT_EVENT_DESTROY;
  ev.packets = 15;
  ev.bytes = 1600;
  ct_store_apply (store, &ev, 2);
  flow = only_flow (store);
  g_assert_cmpuint (flow->packets, ==, 15);
  g_assert_cmpuint (flow->bytes, ==, 1600);
}

static void
removed (const CtFlow *flow, CtFlowRemoval why, gpointer data)
{
  GArray *ports = data;
  guint16 port = flow->key.dport;

  g_assert_cmpint (why, ==, CT_FLOW_REMOVED_EVICTED);
  g_array_append_val (ports, port);
}

static const CtStoreListener eviction_recorder = { .removed = removed };

static void
test_eviction_lru (void)
{
  g_autoptr (CtStore) store = ct_store_new (3, TRUE);
  g_autoptr (GArray) ports = g_array_new (FALSE, FALSE, sizeof (guint16));

  ct_store_add_listener (store, &eviction_recorder, ports);
  for (guint16 p = 1; p <= 3; p++)
    {
      CtConnEvent ev = ev4 (CT_EVENT_NEW, p, "10.0.0.1", 40000, "10.0.0.2", p);

      ct_store_apply (store, &ev, p);
    }
  /* Touch port 1 again: port 2 is now the least recently seen. */
  {
    CtConnEvent upd
        = ev4 (CT_EVENT_UPDATE, 1, "10.0.0.1", 40000, "10.0.0.2", 1);

    ct_store_apply (store, &upd, 10);
  }
  {
    CtConnEvent ev = ev4 (CT_EVENT_NEW, 4, "10.0.0.1", 40000, "10.0.0.2", 4);

    ct_store_apply (store, &ev, 11);
  }
  g_assert_cmpuint (ct_store_get_n_flows (store), ==, 3);
  g_assert_cmpuint (ct_store_get_stats (store)->flows_evicted, ==, 1);
  g_assert_cmpuint (ports->len, ==, 1);
  g_assert_cmpuint (g_array_index (ports, guint16, 0), ==, 2);

  /* The evicted flow's entry still lives: its next event brings it back
   * counted as one active connection. */
  {
    CtConnEvent upd
        = ev4 (CT_EVENT_UPDATE, 2, "10.0.0.1", 40000, "10.0.0.2", 2);
    CtFlowKey key;
    CtFlow *back;

    ct_store_apply (store, &upd, 12);
    memset (&key, 0, sizeof key);
    key.family = AF_INET;
    key.proto = IPPROTO_TCP;
    inet_pton (AF_INET, "10.0.0.1", key.src);
    inet_pton (AF_INET, "10.0.0.2", key.dst);
    key.sport = 1024;
    key.dport = 2;
    back = ct_store_lookup (store, &key);
    g_assert_nonnull (back);
    g_assert_cmpuint (back->active, ==, 1);
    g_assert_cmpuint (ct_store_get_stats (store)->flows_evicted, ==, 2);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/dump-and-event-overlap",
                   test_dump_and_event_overlap);
  g_test_add_func ("/store/folding-aggregates", test_folding_aggregates);
  g_test_add_func ("/store/stale-dump-after-destroy",
                   test_stale_dump_after_destroy);
  g_test_add_func ("/store/resync-reconciles-lost-destroy",
                   test_resync_reconciles_lost_destroy);
  g_test_add_func ("/store/id-reuse", test_id_reuse);
  g_test_add_func ("/store/nat-from-reply-tuple", test_nat_from_reply_tuple);
  g_test_add_func ("/store/counters-deltas", test_counters_deltas);
  g_test_add_func ("/store/eviction-lru", test_eviction_lru);
  return g_test_run ();
}

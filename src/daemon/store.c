/* store.c — flow aggregation. ct_store_apply runs once per kernel event:
 * two hash lookups and O(1) list moves, nothing else. */
#include "store.h"

#include <linux/netfilter/nf_conntrack_common.h>
#include <string.h>
#include <sys/socket.h>

#include "store-private.h"

CtStore *
ct_store_new (guint max_flows, gboolean fold_ports)
{
  CtStore *store = g_new0 (CtStore, 1);

  store->flows = g_hash_table_new_full (ct_flow_key_hash, ct_flow_key_equal,
                                        NULL, (GDestroyNotify)ct_flow_free);
  store->conns
      = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  store->destroyed = g_hash_table_new (g_direct_hash, g_direct_equal);
  store->by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  store->listeners = g_array_new (FALSE, FALSE, sizeof (Listener));
  g_queue_init (&store->lru);
  store->max_flows = MAX (max_flows, 1);
  store->fold_ports = fold_ports;
  store->next_flow_id = 1;
  ct_store_trace_init (store);
  return store;
}

void
ct_store_free (CtStore *store)
{
  if (store == NULL)
    return;
  ct_store_trace_clear (store);
  g_hash_table_destroy (store->pending);
  g_hash_table_destroy (store->destroyed);
  g_hash_table_destroy (store->by_id);
  g_array_unref (store->listeners);
  g_hash_table_destroy (store->conns);
  g_hash_table_destroy (store->flows);
  g_free (store);
}

void
ct_store_add_listener (CtStore *store, const CtStoreListener *listener,
                       gpointer user_data)
{
  Listener l = { listener, user_data };

  g_array_append_val (store->listeners, l);
}

static void
key_from_tuple (const CtConnEvent *ev, CtFlowKey *key)
{
  guint len = ev->family == AF_INET6 ? 16 : 4;

  memset (key, 0, sizeof *key);
  key->family = ev->family;
  key->proto = ev->proto;
  memcpy (key->src, ev->orig.src, len);
  memcpy (key->dst, ev->orig.dst, len);
  key->sport = ev->orig.sport;
  key->dport = ev->orig.dport;
}

static void
evict_oldest (CtStore *store)
{
  GList *link = g_queue_pop_head_link (&store->lru);
  CtFlow *victim;

  if (link == NULL)
    return;
  victim = link->data;
  store->stats.flows_evicted++;
  NOTIFY (store, removed, victim, CT_FLOW_REMOVED_EVICTED);
  g_hash_table_remove (store->by_id, &victim->id);
  g_hash_table_remove (store->flows, &victim->key);
}

void
ct_store_insert_flow (CtStore *store, CtFlow *flow)
{
  if (g_hash_table_size (store->flows) >= store->max_flows)
    evict_oldest (store);
  flow->id = store->next_flow_id++;
  g_hash_table_insert (store->flows, &flow->key, flow);
  g_hash_table_insert (store->by_id, &flow->id, flow);
  g_queue_push_tail_link (&store->lru, &flow->lru);
  store->stats.flows_created++;
}

CtFlow *
ct_store_get_or_add_flow (CtStore *store, const CtFlowKey *key, gint64 now,
                          gboolean *created)
{
  CtFlow *flow = g_hash_table_lookup (store->flows, key);

  *created = flow == NULL;
  if (flow != NULL)
    {
      g_queue_unlink (&store->lru, &flow->lru);
      g_queue_push_tail_link (&store->lru, &flow->lru);
      flow->last_seen = now;
      return flow;
    }

  flow = ct_flow_new (key);
  flow->first_seen = now;
  flow->last_seen = now;
  ct_store_insert_flow (store, flow);
  return flow;
}

/* NAT shows in the reply tuple: its source is where the original packets
 * really went (DNAT), its destination is who the peer answered (SNAT). */
static void
note_nat (CtStore *store, CtFlow *flow, const CtConnEvent *ev)
{
  guint len = ev->family == AF_INET6 ? 16 : 4;
  gboolean ports = ct_flow_key_has_ports (&flow->key);

  if (memcmp (ev->reply.src, ev->orig.dst, len) != 0
      || (ports && ev->reply.sport != ev->orig.dport))
    {
      flow->flags |= CT_FLOW_DNAT;
      memcpy (flow->nat_dst, ev->reply.src, len);
      flow->nat_dport = ports ? ev->reply.sport : 0;
    }
  if (memcmp (ev->reply.dst, ev->orig.src, len) != 0
      || (ports && ev->reply.dport != ev->orig.sport))
    {
      guint16 port = ports ? ev->reply.dport : 0;

      if (store->fold_ports && port >= CT_FOLD_PORT)
        port = CT_FOLD_PORT;
      flow->flags |= CT_FLOW_SNAT;
      memcpy (flow->nat_src, ev->reply.dst, len);
      flow->nat_sport = port;
    }
}

static void
conn_counters (CtConn *conn, CtFlow *flow, const CtConnEvent *ev)
{
  /* Counters only grow during an entry's life; a smaller value means the
   * kernel zeroed them (e.g. acct toggled): start over from it. */
  if (!ev->has_counters)
    return;
  flow->packets += ev->packets >= conn->packets ? ev->packets - conn->packets
                                                : ev->packets;
  flow->bytes += ev->bytes >= conn->bytes ? ev->bytes - conn->bytes : ev->bytes;
  conn->packets = ev->packets;
  conn->bytes = ev->bytes;
}

static void
conn_end (CtStore *store, CtConn *conn)
{
  CtFlow *flow = g_hash_table_lookup (store->flows, &conn->flow_key);

  if (flow != NULL && flow->active > 0)
    flow->active--;
  g_hash_table_remove (store->conns, GUINT_TO_POINTER (conn->id));
}

void
ct_store_apply (CtStore *store, const CtConnEvent *ev, gint64 now)
{
  CtFlowKey orig, key;
  CtConn *conn;
  CtFlow *flow;
  gboolean created;

  store->stats.events++;
  key_from_tuple (ev, &orig);
  key = orig;
  if (store->fold_ports)
    ct_flow_key_fold (&key);

  conn = ev->has_id
             ? g_hash_table_lookup (store->conns, GUINT_TO_POINTER (ev->id))
             : NULL;
  if (conn != NULL && !ct_flow_key_equal (&conn->orig, &orig))
    {
      /* The id now names another entry: the old one's DESTROY was lost. */
      store->stats.ids_reused++;
      conn_end (store, conn);
      conn = NULL;
    }

  if (store->resyncing)
    {
      /* A dump line may describe an entry whose DESTROY we already saw on
       * the event socket: the dump was taken before it went away. */
      if (ev->type == CT_EVENT_DESTROY && ev->has_id)
        g_hash_table_add (store->destroyed, GUINT_TO_POINTER (ev->id));
      else if (ev->type == CT_EVENT_DUMP && ev->has_id
               && g_hash_table_contains (store->destroyed,
                                         GUINT_TO_POINTER (ev->id)))
        return;
    }

  flow = ct_store_get_or_add_flow (store, &key, now, &created);
  if (conn != NULL && created)
    {
      /* The flow was evicted while this entry lived: count it again. */
      flow->connections++;
      flow->active++;
    }
  if (ev->status & IPS_SEEN_REPLY)
    flow->flags |= CT_FLOW_CONFIRMED;
  note_nat (store, flow, ev);

  if (conn == NULL)
    {
      /* First sight of this entry, whichever message brought it. */
      flow->connections++;
      if (ev->type != CT_EVENT_DESTROY && ev->has_id)
        {
          conn = g_new0 (CtConn, 1);
          conn->id = ev->id;
          conn->orig = orig;
          conn->flow_key = key;
          g_hash_table_insert (store->conns, GUINT_TO_POINTER (ev->id), conn);
          flow->active++;
        }
    }

  if (conn != NULL)
    {
      conn->generation = store->generation;
      conn_counters (conn, flow, ev);
      if (ev->type == CT_EVENT_DESTROY)
        conn_end (store, conn);
    }
  else
    {
      /* Seen once and already gone (or no id): count what it carried. */
      CtConn once = { 0 };

      conn_counters (&once, flow, ev);
    }

  if (created)
    {
      if (g_hash_table_size (store->pending) > 0)
        ct_store_claim_pending (store, flow);
      NOTIFY (store, added, flow);
    }
  else
    NOTIFY (store, changed, flow);
}

void
ct_store_resync_begin (CtStore *store)
{
  store->generation++;
  store->resyncing = TRUE;
  g_hash_table_remove_all (store->destroyed);
}

void
ct_store_resync_end (CtStore *store)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) gone = g_ptr_array_new ();

  g_hash_table_iter_init (&iter, store->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      CtConn *conn = value;

      if (conn->generation != store->generation)
        g_ptr_array_add (gone, conn);
    }
  for (guint i = 0; i < gone->len; i++)
    conn_end (store, g_ptr_array_index (gone, i));
  store->stats.conns_reconciled += gone->len;
  store->resyncing = FALSE;
  g_hash_table_remove_all (store->destroyed);
}

void
ct_store_resync_abort (CtStore *store)
{
  store->resyncing = FALSE;
  g_hash_table_remove_all (store->destroyed);
}

guint
ct_store_get_n_flows (CtStore *store)
{
  return g_hash_table_size (store->flows);
}

guint
ct_store_get_n_conns (CtStore *store)
{
  return g_hash_table_size (store->conns);
}

guint
ct_store_get_max_flows (CtStore *store)
{
  return store->max_flows;
}

const CtStoreStats *
ct_store_get_stats (CtStore *store)
{
  return &store->stats;
}

GPtrArray *
ct_store_get_sorted (CtStore *store)
{
  GPtrArray *out = g_ptr_array_sized_new (g_hash_table_size (store->flows));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, store->flows);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, ct_flow_compare_ptr);
  return out;
}

CtFlow *
ct_store_lookup (CtStore *store, const CtFlowKey *key)
{
  return g_hash_table_lookup (store->flows, key);
}

CtFlow *
ct_store_lookup_id (CtStore *store, guint64 id)
{
  return g_hash_table_lookup (store->by_id, &id);
}

void
ct_store_reset (CtStore *store)
{
  for (GList *l = store->lru.head; l != NULL; l = l->next)
    NOTIFY (store, removed, (const CtFlow *)l->data, CT_FLOW_REMOVED_RESET);
  g_hash_table_remove_all (store->by_id);
  ct_store_trace_clear (store);
  g_queue_init (&store->lru);
  g_hash_table_remove_all (store->conns);
  g_hash_table_remove_all (store->flows);
}

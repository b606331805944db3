/* store-trace.c — joins trace hits to flows: by conntrack id, else by
 * tuple in either direction; holds the first packet's hits until its
 * conntrack entry is confirmed, and turns hits of a packet that was dropped
 * before confirmation into a denied flow. */
#include "store-private.h"

#include <linux/netfilter/nf_conntrack_common.h>

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_MAX_HITS       64
#define DEFAULT_PENDING_WINDOW (2 * G_USEC_PER_SEC)
#define DEFAULT_MAX_PENDING    4096

void
ct_store_trace_init (CtStore *store)
{
  /* Keys point into the waiting flows, which the table owns. */
  store->pending = g_hash_table_new_full (ct_flow_key_hash, ct_flow_key_equal,
                                          NULL, (GDestroyNotify)ct_flow_free);
  store->max_hits = DEFAULT_MAX_HITS;
  store->pending_window_us = DEFAULT_PENDING_WINDOW;
  store->max_pending = DEFAULT_MAX_PENDING;
}

void
ct_store_trace_clear (CtStore *store)
{
  g_hash_table_remove_all (store->pending);
}

void
ct_store_set_trace_limits (CtStore *store, guint max_hits_per_flow,
                           gint64 pending_window_us, guint max_pending)
{
  store->max_hits = MAX (max_hits_per_flow, 1);
  store->pending_window_us = MAX (pending_window_us, 0);
  store->max_pending = max_pending;
}

guint
ct_store_get_n_pending_traces (CtStore *store)
{
  return g_hash_table_size (store->pending);
}

/* The ICMP type a request has, given its reply's (echo, timestamp, info,
 * address mask; ICMPv6 echo). Other types are their own. */
static guint16
icmp_request_type (guint8 family, guint16 type)
{
  if (family == AF_INET)
    switch (type)
      {
      case 0:
        return 8;
      case 14:
        return 13;
      case 16:
        return 15;
      case 18:
        return 17;
      default:
        return type;
      }
  return type == 129 ? 128 : type;
}

static void
key_from_packet (CtStore *store, const CtPacketTuple *t, gboolean reverse,
                 CtFlowKey *key)
{
  guint len = t->family == AF_INET6 ? 16 : 4;

  memset (key, 0, sizeof *key);
  key->family = t->family;
  key->proto = t->proto;
  memcpy (key->src, reverse ? t->dst : t->src, len);
  memcpy (key->dst, reverse ? t->src : t->dst, len);
  if (ct_flow_key_is_icmp (key))
    {
      key->sport = reverse ? icmp_request_type (t->family, t->sport) : t->sport;
      key->dport = t->dport;
    }
  else
    {
      key->sport = reverse ? t->dport : t->sport;
      key->dport = reverse ? t->sport : t->dport;
    }
  if (store->fold_ports)
    ct_flow_key_fold (key);
}

/* Conntrack's view of the packet: known established/related, known new,
 * or not known (chains before conntrack's hook, older kernels). */
static gboolean
state_is (const CtTraceEvent *ev, guint32 bits)
{
  return ev != NULL && ev->has_ct_state && (ev->ct_state & bits) != 0;
}

static void
update_blame (CtFlow *flow, CtTraceHit *hit, guint8 direction,
              const CtTraceEvent *ev)
{
  CtTraceHit *blame = flow->blame;

  /* A drop or reject decides the flow. Otherwise the accept that let its
   * first packet through does: the last accept a new packet met (later
   * chains decide), not the accepts later packets meet ("ct state
   * established accept", a raw table's accept before conntrack); without
   * conntrack's state, the first rule's accept, over a policy's. */
  if (hit->verdict == CT_VERDICT_DROP || hit->verdict == CT_VERDICT_REJECT)
    flow->blame = hit;
  else if (hit->verdict != CT_VERDICT_ACCEPT || !(direction & CT_HIT_ORIGINAL))
    return;
  else if (blame == NULL)
    flow->blame = hit;
  else if (blame->verdict != CT_VERDICT_ACCEPT
           || state_is (ev, NF_CT_STATE_BIT (IP_CT_ESTABLISHED)
                                | NF_CT_STATE_BIT (IP_CT_RELATED)))
    return;
  else if (state_is (ev, NF_CT_STATE_BIT (IP_CT_NEW))
           || (hit->type == CT_HIT_RULE && blame->type == CT_HIT_POLICY))
    flow->blame = hit;
}

static void
record (CtStore *store, CtFlow *flow, const CtTraceEvent *ev, guint8 direction,
        gint64 now)
{
  CtTraceHit what = { 0 };
  CtTraceHit *hit;

  what.family = (char *)ev->family;
  what.table = (char *)ev->table;
  what.chain = (char *)ev->chain;
  what.type = ev->type;
  what.position = ev->position;
  what.handle = ev->handle;
  what.verdict = ev->verdict;
  what.rule = (char *)ev->rule;
  what.directions = direction;

  hit = ct_flow_record_hit (flow, &what, now, store->max_hits);
  if (hit == NULL)
    {
      store->stats.trace_hits_dropped++;
      return;
    }
  update_blame (flow, hit, direction, ev);
}

/* The flow a hit belongs to and the direction the packet went in. */
static CtFlow *
find_flow (CtStore *store, const CtTraceEvent *ev, guint8 *direction)
{
  CtFlowKey key;
  CtFlow *flow;

  if (ev->has_ct_id)
    {
      CtConn *conn
          = g_hash_table_lookup (store->conns, GUINT_TO_POINTER (ev->ct_id));

      if (conn != NULL
          && (flow = g_hash_table_lookup (store->flows, &conn->flow_key)))
        {
          gboolean reply = ev->has_ct_direction
                               ? ev->ct_reply
                               : (ev->has_tuple
                                  && memcmp (ev->tuple.src, conn->orig.src,
                                             sizeof conn->orig.src)
                                         != 0);

          *direction = reply ? CT_HIT_REPLY : CT_HIT_ORIGINAL;
          return flow;
        }
    }
  if (!ev->has_tuple || ev->tuple.l4 != CT_PACKET_L4_OK)
    return NULL;

  /* An ICMP error carries the packet it is about: that packet's tuple is
   * the flow's original direction, and the error travels back. */
  key_from_packet (store, &ev->tuple, FALSE, &key);
  if ((flow = g_hash_table_lookup (store->flows, &key)) != NULL)
    {
      *direction = ev->tuple.icmp_error ? CT_HIT_REPLY : CT_HIT_ORIGINAL;
      return flow;
    }
  if (ev->tuple.icmp_error)
    return NULL;
  key_from_packet (store, &ev->tuple, TRUE, &key);
  if ((flow = g_hash_table_lookup (store->flows, &key)) != NULL)
    {
      *direction = CT_HIT_REPLY;
      return flow;
    }
  return NULL;
}

void
ct_store_apply_trace (CtStore *store, const CtTraceEvent *ev, gint64 now)
{
  guint8 direction = CT_HIT_ORIGINAL;
  CtFlow *flow = find_flow (store, ev, &direction);
  CtFlowKey key;

  if (flow != NULL)
    {
      store->stats.trace_hits++;
      record (store, flow, ev, direction, now);
      NOTIFY (store, changed, flow);
      return;
    }

  /* No flow yet: the first packet, before its entry is confirmed. */
  if (!ev->has_tuple || ev->tuple.l4 != CT_PACKET_L4_OK || ev->tuple.icmp_error)
    {
      store->stats.trace_unmatched++;
      return;
    }
  /* A reply can come before the NEW event too (the events arrive on
   * another socket): it waits under its flow's key. */
  key_from_packet (store, &ev->tuple, TRUE, &key);
  if ((ev->has_ct_direction && ev->ct_reply)
      || g_hash_table_contains (store->pending, &key))
    direction = CT_HIT_REPLY;
  else
    key_from_packet (store, &ev->tuple, FALSE, &key);
  flow = g_hash_table_lookup (store->pending, &key);
  if (flow == NULL)
    {
      if (g_hash_table_size (store->pending) >= store->max_pending)
        {
          store->stats.trace_unmatched++;
          return;
        }
      flow = ct_flow_new (&key);
      flow->first_seen = now;
      g_hash_table_insert (store->pending, &flow->key, flow);
    }
  flow->last_seen = now;
  record (store, flow, ev, direction, now);
}

/* Moves the waiting hits of `from` into `flow`, keeping counts; the hit
 * that decided the waiting packets decides for the flow too (a drop, or
 * an accept when the flow has no drop against it). */
static void
merge_hits (CtStore *store, CtFlow *flow, CtFlow *from)
{
  CtTraceHit *decided = NULL;

  for (guint i = 0; from->hits != NULL && i < from->hits->len; i++)
    {
      const CtTraceHit *h = g_ptr_array_index (from->hits, i);
      CtTraceHit *hit
          = ct_flow_record_hit (flow, h, h->last_seen, store->max_hits);

      if (hit == NULL)
        {
          store->stats.trace_hits_dropped += h->count;
          continue;
        }
      hit->count += h->count - 1;
      store->stats.trace_hits += h->count;
      if (h == from->blame)
        decided = hit;
    }
  if (decided == NULL)
    return;
  if (decided->verdict != CT_VERDICT_ACCEPT || flow->blame == NULL
      || flow->blame->verdict == CT_VERDICT_ACCEPT)
    flow->blame = decided;
}

void
ct_store_claim_pending (CtStore *store, CtFlow *flow)
{
  CtFlow *waiting = g_hash_table_lookup (store->pending, &flow->key);

  if (waiting == NULL)
    return;
  merge_hits (store, flow, waiting);
  if (waiting->first_seen < flow->first_seen)
    flow->first_seen = waiting->first_seen;
  g_hash_table_remove (store->pending, &flow->key);
}

static gboolean
was_dropped (const CtFlow *waiting)
{
  return waiting->blame != NULL
         && (waiting->blame->verdict == CT_VERDICT_DROP
             || waiting->blame->verdict == CT_VERDICT_REJECT);
}

void
ct_store_expire_traces (CtStore *store, gint64 now)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) due = g_ptr_array_new ();

  g_hash_table_iter_init (&iter, store->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      CtFlow *waiting = value;

      if (now - waiting->first_seen >= store->pending_window_us)
        {
          g_hash_table_iter_steal (&iter);
          g_ptr_array_add (due, waiting);
        }
    }

  for (guint i = 0; i < due->len; i++)
    {
      CtFlow *waiting = g_ptr_array_index (due, i);
      CtFlow *flow = g_hash_table_lookup (store->flows, &waiting->key);

      if (flow != NULL)
        {
          /* Its flow came by another way meanwhile (say, a dump). */
          merge_hits (store, flow, waiting);
          ct_flow_free (waiting);
          NOTIFY (store, changed, flow);
        }
      else if (was_dropped (waiting))
        {
          /* Never confirmed because a rule dropped it: a denied flow. */
          guint64 hits = 0;

          for (guint j = 0; j < waiting->hits->len; j++)
            hits += ((CtTraceHit *)g_ptr_array_index (waiting->hits, j))->count;
          waiting->flags |= CT_FLOW_DENIED;
          waiting->last_seen = now;
          waiting->lru.data = waiting;
          ct_store_insert_flow (store, waiting);
          store->stats.denied_flows++;
          store->stats.trace_hits += hits;
          NOTIFY (store, added, waiting);
        }
      else
        {
          for (guint j = 0; waiting->hits != NULL && j < waiting->hits->len;
               j++)
            store->stats.trace_unmatched
                += ((CtTraceHit *)g_ptr_array_index (waiting->hits, j))->count;
          ct_flow_free (waiting);
        }
    }
}

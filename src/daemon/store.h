/* store.h — the in-memory flow store: applies conntrack events and dump
 * entries idempotently, aggregates them into flows, bounds memory by
 * evicting the least recently seen flow. Knows nothing of sockets. */
#pragma once

#include "ct-parse.h"
#include "flow.h"
#include "trace-event.h"

G_BEGIN_DECLS

typedef struct _CtStore CtStore;

typedef struct
{
  guint64 events;           /* messages applied (events and dump entries) */
  guint64 flows_created;    /* flows ever added */
  guint64 flows_evicted;    /* flows dropped to stay within max_flows */
  guint64 conns_reconciled; /* entries found gone by a resync (lost DESTROY) */
  guint64 ids_reused;       /* a NEW whose id belonged to another tuple */
  guint64 trace_hits;       /* trace events applied to a flow */
  guint64 trace_unmatched;  /* trace events no flow ever claimed */
  guint64 trace_hits_dropped; /* hits refused by the per-flow bound */
  guint64 denied_flows;       /* flows known only from traces that dropped */
} CtStoreStats;

typedef enum
{
  CT_FLOW_REMOVED_EVICTED, /* the store was full */
  CT_FLOW_REMOVED_RESET,   /* ct_store_reset */
} CtFlowRemoval;

/* Observers of the store (logging, D-Bus subscriptions). Called
 * synchronously on the hot path: they must be cheap. Any member may be
 * NULL. `removed` runs just before the flow is freed. */
typedef struct
{
  void (*added) (CtFlow *flow, gpointer user_data);
  void (*changed) (CtFlow *flow, gpointer user_data);
  void (*removed) (const CtFlow *flow, CtFlowRemoval why, gpointer user_data);
} CtStoreListener;

CtStore *ct_store_new (guint max_flows, gboolean fold_ports);
void ct_store_free (CtStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtStore, ct_store_free)

/* Listeners live as long as the store; `listener` must stay valid. */
void ct_store_add_listener (CtStore *store, const CtStoreListener *listener,
                            gpointer user_data);

/* Applies one parsed message at time `now` (µs since the epoch). Applying
 * the same entry twice (dump and event overlap) counts it once. */
void ct_store_apply (CtStore *store, const CtConnEvent *ev, gint64 now);

/* A resync is a full dump bracketed by these two calls: entries that no
 * dump line and no event touched in between have left the kernel table
 * while we were not listening, so their flows stop counting them active.
 * Flows themselves are never dropped by a resync. */
void ct_store_resync_begin (CtStore *store);
void ct_store_resync_end (CtStore *store);
/* The dump failed part way: keep every entry, reconcile nothing. */
void ct_store_resync_abort (CtStore *store);

guint ct_store_get_n_flows (CtStore *store);
guint ct_store_get_n_conns (CtStore *store);
guint ct_store_get_max_flows (CtStore *store);
const CtStoreStats *ct_store_get_stats (CtStore *store);

/* Trace hits. A hit joins its flow by conntrack id when the kernel gave
 * one, else by tuple (either direction). The first packet's hits arrive
 * before conntrack's NEW event (sent at confirmation), so unmatched hits
 * wait up to `window_us` for their flow; a packet that was dropped never
 * gets a NEW event, and its waiting hits then become a denied flow with the
 * dropping rule as the blame. */
void ct_store_set_trace_limits (CtStore *store, guint max_hits_per_flow,
                                gint64 pending_window_us, guint max_pending);
void ct_store_apply_trace (CtStore *store, const CtTraceEvent *ev, gint64 now);
/* Settles hits that waited longer than the window (call about once a
 * second). */
void ct_store_expire_traces (CtStore *store, gint64 now);
guint ct_store_get_n_pending_traces (CtStore *store);

/* Borrowed flows in display order (ct_flow_key_compare); the array is
 * owned by the caller, the flows by the store: use before the next apply. */
GPtrArray *ct_store_get_sorted (CtStore *store);

/* Looks a flow up by its (already folded) key; NULL when absent. */
CtFlow *ct_store_lookup (CtStore *store, const CtFlowKey *key);

/* Looks a flow up by its id; NULL when absent (never seen, or evicted). */
CtFlow *ct_store_lookup_id (CtStore *store, guint64 id);

/* Forgets every flow and every tracked entry (counters stay). */
void ct_store_reset (CtStore *store);

G_END_DECLS

/* store-private.h — the store's internals, shared by store.c (conntrack
 * side) and store-trace.c (trace side). Nothing else includes it. */
#pragma once

#include "store.h"

/* One kernel conntrack entry we believe is in the table. */
typedef struct
{
  guint32 id;
  guint32 generation; /* the resync generation that last saw it */
  CtFlowKey orig;     /* unfolded original tuple: ids can be reused */
  CtFlowKey flow_key; /* folded: the flow it counts towards */
  guint64 packets;    /* last counter values seen, to add only deltas */
  guint64 bytes;
} CtConn;

struct _CtStore
{
  GHashTable *flows; /* CtFlowKey* (inside the flow) -> CtFlow*, owned */
  GHashTable *conns; /* GUINT_TO_POINTER(id) -> CtConn*, owned */
  GQueue lru;        /* flows, least recently seen at the head */
  guint max_flows;
  gboolean fold_ports;
  guint32 generation;
  gboolean resyncing;
  GHashTable *destroyed; /* ids destroyed since the resync began */
  guint64 next_flow_id;
  CtStoreStats stats;
  GHashTable *by_id; /* &flow->id -> CtFlow*, borrowed from `flows` */
  GArray *listeners; /* Listener */

  /* Trace side (store-trace.c). */
  GHashTable *pending; /* CtFlowKey* -> CtFlow* holding waiting hits */
  guint max_hits;
  gint64 pending_window_us;
  guint max_pending;
};

typedef struct
{
  const CtStoreListener *funcs;
  gpointer data;
} Listener;

#define NOTIFY(store, member, ...)                                             \
  do                                                                           \
    {                                                                          \
      for (guint i_ = 0; i_ < (store)->listeners->len; i_++)                   \
        {                                                                      \
          Listener *l_ = &g_array_index ((store)->listeners, Listener, i_);    \
          if (l_->funcs->member != NULL)                                       \
            l_->funcs->member (__VA_ARGS__, l_->data);                         \
        }                                                                      \
    }                                                                          \
  while (0)

CtFlow *ct_store_get_or_add_flow (CtStore *store, const CtFlowKey *key,
                                  gint64 now, gboolean *created);
/* Adds a flow made elsewhere (a denied flow built from traces). */
void ct_store_insert_flow (CtStore *store, CtFlow *flow);
/* A flow was just created: hands it the hits that waited for it. */
void ct_store_claim_pending (CtStore *store, CtFlow *flow);
void ct_store_trace_init (CtStore *store);
void ct_store_trace_clear (CtStore *store);

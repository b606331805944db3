/* tracing.h — rule tracing as one unit for main.c: the rule cache, the nft
 * trace source feeding the store, the tracer's chains in the owned table,
 * and the once-a-second expiry of waiting hits. */
#pragma once

#include "nft-trace-source.h"
#include "rule-cache.h"
#include "store.h"
#include "tracer.h"
#include "tracking-table.h"

G_BEGIN_DECLS

/* The name tracking-table.c gives the owned table. */
#define CT_TRACING_TABLE "conntracker"

typedef struct
{
  CtTraceMode mode;
  guint window_s; /* 0: CT_TRACER_WINDOW_DEFAULT */
  guint set_size; /* 0: CT_TRACER_SET_SIZE_DEFAULT */
} CtTracingConfig;

typedef struct _CtTracing CtTracing;

/* Subscribes to ruleset changes and traces first, then adds the tracer's
 * chains, so no trace of ours is missed. The chains live in `tracking`'s
 * table (same socket): stopping or dying removes them with it. */
CtTracing *ct_tracing_start (CtStore *store, CtTrackingTable *tracking,
                             const CtTracingConfig *config, GError **error);
/* Stops reading traces; the chains go when the tracking table does.
 * NULL-safe. Call before ct_tracking_table_free(). */
void ct_tracing_stop (CtTracing *tracing);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtTracing, ct_tracing_stop)

CtTracer *ct_tracing_get_tracer (CtTracing *tracing);
CtNftTraceSource *ct_tracing_get_source (CtTracing *tracing);
CtRuleCache *ct_tracing_get_rule_cache (CtTracing *tracing);

G_END_DECLS

/* tracing.c — starts and stops the tracing modules in the right order and
 * drives their timers. */
#include "tracing.h"

#define TICK_MS 1000

struct _CtTracing
{
  CtStore *store;
  CtRuleCache *rules;
  CtNftTraceSource *source;
  CtTracer *tracer;
  guint tick;
};

static void
on_rules_updated (gpointer data)
{
  CtTracing *self = data;

  if (self->source != NULL)
    ct_nft_trace_source_rules_updated (self->source);
}

static gboolean
on_tick (gpointer data)
{
  CtTracing *self = data;

  ct_nft_trace_source_tick (self->source);
  ct_store_expire_traces (self->store, g_get_real_time ());
  return G_SOURCE_CONTINUE;
}

CtTracing *
ct_tracing_start (CtStore *store, CtTrackingTable *tracking,
                  const CtTracingConfig *config, GError **error)
{
  g_autoptr (CtTracing) self = g_new0 (CtTracing, 1);
  CtTracerConfig tc = {
    .mode = config->mode,
    .window_s = config->window_s,
    .set_size = config->set_size,
  };

  self->store = store;
  self->rules = ct_rule_cache_new (on_rules_updated, self, error);
  if (self->rules == NULL)
    return NULL;
  self->source
      = ct_nft_trace_source_new (store, self->rules, CT_TRACING_TABLE, error);
  if (self->source == NULL)
    return NULL;
  self->tracer = ct_tracer_new (ct_tracking_table_get_fd (tracking),
                                CT_TRACING_TABLE, &tc, error);
  if (self->tracer == NULL)
    return NULL;
  self->tick = g_timeout_add (TICK_MS, on_tick, self);
  return g_steal_pointer (&self);
}

void
ct_tracing_stop (CtTracing *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->tick, g_source_remove);
  g_clear_pointer (&self->tracer, ct_tracer_free);
  g_clear_pointer (&self->source, ct_nft_trace_source_free);
  g_clear_pointer (&self->rules, ct_rule_cache_free);
  g_free (self);
}

CtTracer *
ct_tracing_get_tracer (CtTracing *self)
{
  return self->tracer;
}

CtNftTraceSource *
ct_tracing_get_source (CtTracing *self)
{
  return self->source;
}

CtRuleCache *
ct_tracing_get_rule_cache (CtTracing *self)
{
  return self->rules;
}

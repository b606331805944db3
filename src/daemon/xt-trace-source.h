/* xt-trace-source.h — legacy ip(6)tables TRACE lines over nfnetlink_log:
 * binds nfnetlink_log as the IPv4/IPv6 logger while legacy tracing is
 * wanted and legacy tables exist, receives NFLOG group 0, resolves each
 * line's rule (xt-rules) and hands it to the store; puts the previous
 * nf_log bindings back when it stops. Must not touch nft tracing or the
 * tracer, which decides what gets traced. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef struct _CtXtTraceSource CtXtTraceSource;

typedef struct
{
  guint64 lines;      /* kernel-shaped TRACE lines received */
  guint64 applied;    /* handed to the store */
  guint64 unresolved; /* of those, without rule text or verdict: no rules
                         snapshot could be taken */
  guint64 mismatched; /* ignored: no rule of a snapshot taken after the
                         line (rules changed meanwhile, or not the kernel's
                         line) */
  guint64 suspect;    /* ignored: a LOG/NFLOG rule writes the same prefix,
                         or the chain named never runs at the packet's hook */
  guint64 queue_full; /* ignored: too many lines waited for a snapshot */
  guint64 other;      /* group-0 messages that are not TRACE lines */
  guint64 invalid;    /* malformed messages, or not from the kernel */
  guint64 lost;       /* messages the kernel could not deliver (NFULA_SEQ
                         gaps) */
  guint64 overruns;   /* ENOBUFS on the socket */
  guint64 snapshots;  /* rule snapshots started */
  guint64 snapshot_failures;
  gboolean bound_ipv4; /* nfnetlink_log delivers this family's lines now */
  gboolean bound_ipv6;
} CtXtTraceStats;

/* Opens the nfnetlink_log socket (fails without CAP_NET_ADMIN) and starts
 * enabled, binding from the main loop's first iteration on (so disabling
 * it right after creation binds nothing): nfnetlink_log is bound for a family only while that family has
 * legacy tables in this network namespace (checked every 2 s), and NFLOG
 * group 0 is held only while some family is bound. */
CtXtTraceSource *ct_xt_trace_source_new (CtStore *store, GError **error);
/* Restores the nf_log bindings found before, releases group 0, and hands
 * lines still waiting for rule text to the store as they are. */
void ct_xt_trace_source_free (CtXtTraceSource *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtXtTraceSource, ct_xt_trace_source_free)

/* Legacy tracing wanted or not (the trace mode): FALSE restores the
 * bindings at once, TRUE binds again where legacy tables exist. */
void ct_xt_trace_source_set_enabled (CtXtTraceSource *self, gboolean enabled);

const CtXtTraceStats *ct_xt_trace_source_get_stats (CtXtTraceSource *self);

G_END_DECLS

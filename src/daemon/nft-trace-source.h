/* nft-trace-source.h — nftables rule tracing into the store: the
 * NFNLGRP_NFTRACE socket, the trace-id cache that gives every message of a
 * packet the headers and conntrack view only its base chain's first message
 * carried, rule text and position from the rule cache, and one CtTraceEvent
 * per rule, return or policy message. */
#pragma once

#include "nft-trace-parse.h"
#include "rule-cache.h"
#include "store.h"
#include "trace-event.h"

G_BEGIN_DECLS

/* --- the trace-id cache (pure: no sockets, no clock) ----------------- */

typedef struct _CtNftTraceAssembler CtNftTraceAssembler;

/* Receives each event; its strings are valid during the call only. The
 * event has no rule text and position 0: the caller resolves those. */
typedef void (*CtNftTraceEmitFunc) (const CtTraceEvent *ev, gpointer user_data);

/* own_table: hits in this inet table (the tracer's) are not emitted, but
 * its messages still feed the cache (they are often a packet's first).
 * max_ids bounds the cache; an id not seen for ttl_us is forgotten. */
CtNftTraceAssembler *ct_nft_trace_assembler_new (const char *own_table,
                                                 guint max_ids, gint64 ttl_us);
void ct_nft_trace_assembler_free (CtNftTraceAssembler *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtNftTraceAssembler, ct_nft_trace_assembler_free)

/* One parsed message at time `now` (µs, any clock, increasing). A chain's
 * end ("continue" without handle) is held until the packet's next message
 * shows what it was: the policy of the same base chain follows (the end is
 * dropped), or anything else (a regular chain returned: a RETURN hit). */
void ct_nft_trace_assembler_feed (CtNftTraceAssembler *self,
                                  const CtNftTrace *trace, gint64 now,
                                  CtNftTraceEmitFunc emit, gpointer user_data);
/* Forgets ids older than the ttl, emitting their held chain ends. */
void ct_nft_trace_assembler_expire (CtNftTraceAssembler *self, gint64 now,
                                    CtNftTraceEmitFunc emit,
                                    gpointer user_data);
guint ct_nft_trace_assembler_get_n_ids (CtNftTraceAssembler *self);

/* NFTA_VERDICT_CODE → CtVerdict: NF_ACCEPT, NF_DROP (any errno in the
 * upper bits), NF_QUEUE, and the negative NFT_CONTINUE, NFT_JUMP, NFT_GOTO,
 * NFT_RETURN; NFT_BREAK, NF_STOLEN, NF_REPEAT and unknown codes are NONE. */
CtVerdict ct_nft_verdict_from_code (gint32 code);
/* A reject rule drops (the kernel says NF_DROP) and answers: when the
 * rule's text has a `reject` statement, a DROP is a REJECT. */
CtVerdict ct_nft_verdict_refine (CtVerdict verdict, const char *rule_text);

/* --- the source ------------------------------------------------------- */

typedef struct _CtNftTraceSource CtNftTraceSource;

typedef struct
{
  guint64 messages;   /* trace messages received */
  guint64 invalid;    /* malformed or not from the kernel */
  guint64 overruns;   /* ENOBUFS: trace messages were lost */
  guint64 events;     /* events applied to the store */
  guint64 deferred;   /* events that waited for the rule cache */
  guint64 unresolved; /* events applied without the rule's text */
} CtNftTraceSourceStats;

/* Joins NFNLGRP_NFTRACE. rules may be NULL (no text, no positions). */
CtNftTraceSource *ct_nft_trace_source_new (CtStore *store, CtRuleCache *rules,
                                           const char *own_table,
                                           GError **error);
void ct_nft_trace_source_free (CtNftTraceSource *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtNftTraceSource, ct_nft_trace_source_free)

/* The rule cache has a new snapshot: events waiting for it go on. */
void ct_nft_trace_source_rules_updated (CtNftTraceSource *self);
/* About once a second: forgets old trace ids and applies events that
 * waited too long for the rule cache. */
void ct_nft_trace_source_tick (CtNftTraceSource *self);

const CtNftTraceSourceStats *
ct_nft_trace_source_get_stats (CtNftTraceSource *self);

G_END_DECLS

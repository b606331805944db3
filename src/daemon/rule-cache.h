/* rule-cache.h — nft rule handle → the rule's text and 1-based position in
 * its chain, as `nft -a list ruleset` shows them. Kept current from the
 * NFNLGRP_NFTABLES change events; the ruleset is listed with libnftables in
 * a worker thread, so the main loop never waits for it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One listing of the ruleset, parsed. Immutable once built, so lookups
 * need no lock; the cache swaps whole snapshots. */
typedef struct _CtRuleSnapshot CtRuleSnapshot;

/* Parses the output of `nft -a -s -t list ruleset` (handles, stateless,
 * terse): tables, chains (base chains know their hook line), and every
 * rule line ending in "# handle N". Never fails: lines it does not
 * understand are skipped. */
CtRuleSnapshot *ct_rule_snapshot_parse (const char *text);
void ct_rule_snapshot_free (CtRuleSnapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtRuleSnapshot, ct_rule_snapshot_free)

/* The rule with that handle in (family, table, chain): its position (from
 * 1) and text without the "# handle N" comment, owned by the snapshot.
 * family is nft's name: "ip", "ip6", "inet", "arp", "bridge", "netdev". */
gboolean ct_rule_snapshot_lookup (const CtRuleSnapshot *snap,
                                  const char *family, const char *table,
                                  const char *chain, guint64 handle,
                                  guint32 *position, const char **text);
/* Whether the chain exists; is_base: it has a hook; n_rules: its length. */
gboolean ct_rule_snapshot_lookup_chain (const CtRuleSnapshot *snap,
                                        const char *family, const char *table,
                                        const char *chain, gboolean *is_base,
                                        guint32 *n_rules);
guint ct_rule_snapshot_get_n_rules (const CtRuleSnapshot *snap);

/* nfgen_family (NFPROTO_*) → nft's family name; NULL when unknown. */
const char *ct_nft_family_name (guint8 nfproto);

typedef struct _CtRuleCache CtRuleCache;

/* Called on the main loop after every new snapshot is in place. */
typedef void (*CtRuleCacheUpdatedFunc) (gpointer user_data);

/* Subscribes to NFNLGRP_NFTABLES, then lists the ruleset (asynchronously):
 * a change made meanwhile triggers another listing, so none is missed. */
CtRuleCache *ct_rule_cache_new (CtRuleCacheUpdatedFunc updated,
                                gpointer user_data, GError **error);
void ct_rule_cache_free (CtRuleCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtRuleCache, ct_rule_cache_free)

/* TRUE while the snapshot may be behind the kernel: before the first
 * listing, and from a rule change until the listing after it is in. */
gboolean ct_rule_cache_is_stale (CtRuleCache *cache);
/* The current snapshot (NULL before the first listing); valid until the
 * next main-loop iteration. */
const CtRuleSnapshot *ct_rule_cache_get (CtRuleCache *cache);

typedef struct
{
  guint64 refreshes; /* listings completed */
  guint64 failures;  /* listings that failed (kept the old snapshot) */
  guint64 overruns;  /* change events lost (ENOBUFS): a full refresh follows */
} CtRuleCacheStats;

const CtRuleCacheStats *ct_rule_cache_get_stats (CtRuleCache *cache);

G_END_DECLS

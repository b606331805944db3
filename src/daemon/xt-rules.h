/* xt-rules.h — snapshots of the legacy ip(6)tables rules, one per family,
 * taken by running iptables-legacy-save / ip6tables-legacy-save as child
 * processes read asynchronously. Knows nothing of trace lines or the store. */
#pragma once

#include "xt-save-parse.h"

G_BEGIN_DECLS

typedef struct _CtXtRules CtXtRules;

/* A snapshot of `family` was taken, or taking it failed. */
typedef void (*CtXtRulesFunc) (guint8 family, gpointer user_data);

/* Tools are looked up in PATH, then /usr/sbin and /sbin. */
CtXtRules *ct_xt_rules_new (CtXtRulesFunc done, gpointer user_data);
/* Cancels runs in flight (their processes are killed). */
void ct_xt_rules_free (CtXtRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtXtRules, ct_xt_rules_free)

/* The newest snapshot of family (AF_INET or AF_INET6), or NULL; *taken is
 * when the tool that printed it was started (g_get_monotonic_time), so the
 * rules are at least as new as that. Valid until the next `done`. */
const CtXtRuleset *ct_xt_rules_get (CtXtRules *rules, guint8 family,
                                    gint64 *taken);

/* Asks for a snapshot started no earlier than now. Debounced: one run at a
 * time per family, at most one start per 250 ms; a request while a run is
 * in flight is dropped (ask again in `done` if that snapshot is older than
 * what you wait for). `done` is always called from the main loop. A family without legacy tables in this
 * namespace (empty /proc/net/ip(6)_tables_names) gets an empty snapshot
 * without running anything, so no table is ever instantiated by us. */
void ct_xt_rules_request (CtXtRules *rules, guint8 family);

/* TRUE for 30 s after a run failed (tool missing, exit status, unparsable
 * output, 10 s timeout): requests are ignored meanwhile, so callers should
 * not wait for a snapshot. */
gboolean ct_xt_rules_is_failing (CtXtRules *rules, guint8 family);

/* Whether this network namespace has any legacy table of family: only
 * then can ip(6)_tables emit TRACE lines. Reads /proc/self/net. */
gboolean ct_xt_rules_tables_exist (guint8 family);

typedef enum
{
  CT_XT_TABLE_SAME,    /* the kernel's table has that many entries */
  CT_XT_TABLE_CHANGED, /* it has not: rules were added or deleted */
  CT_XT_TABLE_UNKNOWN, /* cannot tell (no AF_INET socket, no permission) */
} CtXtTableCheck;

/* Legacy rules send no change notification. This asks the kernel
 * (IPT_SO_GET_INFO, one getsockopt on a datagram socket, CAP_NET_ADMIN) how
 * many entries `table` holds, to catch an insert or delete made since a
 * snapshot; a rule replaced in place keeps the count and goes unseen. Only
 * for tables a snapshot has: asking for another one would create it. */
CtXtTableCheck ct_xt_rules_check_table (CtXtRules *rules, guint8 family,
                                        const char *table, guint entries);

/* Runs started and failed, for both families. */
void ct_xt_rules_get_counts (CtXtRules *rules, guint64 *runs,
                             guint64 *failures);

G_END_DECLS

/* xt-save-parse.h — legacy ip(6)tables rules as iptables-legacy-save prints
 * them: chains, policies, rules in order with their text and verdict, and
 * the LOG/NFLOG prefixes that could pass for TRACE lines. Pure: text in,
 * ruleset out; no I/O; fuzzed. Knows nothing of sockets or the store. */
#pragma once

#include <glib.h>

#include "flow.h"
#include "xt-trace-parse.h"

G_BEGIN_DECLS

typedef struct _CtXtRuleset CtXtRuleset;

/* Parses the whole output of `iptables-legacy-save` (all tables, no -c).
 * Comment lines and lines it does not know are skipped; a rule or chain
 * outside a table, or a malformed table or chain header, is an error
 * (G_IO_ERROR_INVALID_DATA, naming the line). Empty text is an empty
 * ruleset. Bytes that are not UTF-8 are replaced in rule texts. */
CtXtRuleset *ct_xt_ruleset_parse (const char *text, gsize len, GError **error);
void ct_xt_ruleset_free (CtXtRuleset *rs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtXtRuleset, ct_xt_ruleset_free)

guint ct_xt_ruleset_get_n_tables (const CtXtRuleset *rs);
guint ct_xt_ruleset_get_n_rules (const CtXtRuleset *rs);

/* The number of entries the kernel holds for `table` if these are its
 * rules (IPT_SO_GET_INFO's num_entries): a built-in chain's rules and its
 * policy, a user chain's head, rules and return, and the table's end. 0
 * for a table not in the ruleset. */
guint ct_xt_ruleset_count_entries (const CtXtRuleset *rs, const char *table);

/* How a TRACE line fits a snapshot. */
typedef enum
{
  CT_XT_FIT_OK,         /* the line names a rule, policy or return there */
  CT_XT_FIT_UNKNOWN,    /* no such table, chain or position, or a policy
                          (return) line for a user (built-in) chain: the
                          rules changed, or the line is not the kernel's */
  CT_XT_FIT_WRONG_HOOK, /* the chain never runs at the packet's hook */
  CT_XT_FIT_FORGED,     /* a LOG or NFLOG-group-0 rule of this ruleset
                           writes exactly this line as its prefix */
} CtXtFit;

typedef struct
{
  /* Borrowed from the ruleset: the rule's save line ("-A INPUT -p tcp
   * -j DROP"), "-P INPUT DROP" for a policy, NULL for a chain's implicit
   * return. */
  const char *rule;
  CtVerdict verdict;  /* from -j/-g and the chain policy; NONE when the
                        target goes on (LOG, MARK, TRACE, …) */
  const char *forger; /* CT_XT_FIT_FORGED: the rule that writes the line */
} CtXtRuleInfo;

/* Looks a parsed TRACE line up: its table, chain, type, position and hook
 * (the NF_INET_* hook of the packet, from NFULA_PACKET_HDR). */
CtXtFit ct_xt_ruleset_resolve (const CtXtRuleset *rs, const CtXtTrace *line,
                               CtXtRuleInfo *out);

/* The hook a built-in chain name stands for (NF_INET_*), or -1. */
int ct_xt_builtin_chain_hook (const char *chain);

G_END_DECLS

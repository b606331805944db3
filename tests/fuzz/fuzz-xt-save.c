/* Fuzz target: iptables-legacy-save output, then lookups of TRACE lines in
 * whatever ruleset it gave. */
#include <linux/netfilter.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "xt-save-parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
lookup (const CtXtRuleset *rs, const char *table, const char *chain,
        CtHitType type, guint32 position, guint8 hook)
{
  CtXtTrace t = { 0 };
  CtXtRuleInfo info;

  t.family = AF_INET;
  g_strlcpy (t.table, table, sizeof t.table);
  g_strlcpy (t.chain, chain, sizeof t.chain);
  t.type = type;
  t.position = position;
  t.hook = hook;
  switch (ct_xt_ruleset_resolve (rs, &t, &info))
    {
    case CT_XT_FIT_OK:
      g_assert_true (info.rule != NULL || type == CT_HIT_RETURN);
      if (info.rule != NULL)
        g_assert_true (g_utf8_validate (info.rule, -1, NULL));
      g_assert_cmpint (info.verdict, <=, CT_VERDICT_CONTINUE);
      break;
    case CT_XT_FIT_FORGED:
      g_assert_nonnull (info.forger);
      break;
    case CT_XT_FIT_UNKNOWN:
    case CT_XT_FIT_WRONG_HOOK:
      break;
    default:
      g_assert_not_reached ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* An exact-size copy with no NUL after it: any over-read is a finding. */
  g_autofree char *text = g_memdup2 (data, size);
  g_autoptr (CtXtRuleset) rs = NULL;
  g_autoptr (GError) error = NULL;
  static const char *const chains[]
      = { "INPUT", "OUTPUT", "PREROUTING", "web:in", "chk", "x" };
  static const char *const tables[] = { "filter", "raw", "nat", "t" };

  rs = ct_xt_ruleset_parse (text, size, &error);
  g_assert_true ((rs == NULL) == (error != NULL));
  if (rs == NULL)
    return 0;
  for (guint t = 0; t < G_N_ELEMENTS (tables); t++)
    g_assert_cmpuint (ct_xt_ruleset_count_entries (rs, tables[t]), <=,
                      2 * size + 1);
  for (guint t = 0; t < G_N_ELEMENTS (tables); t++)
    for (guint c = 0; c < G_N_ELEMENTS (chains); c++)
      for (guint32 pos = 0; pos < 4; pos++)
        {
          lookup (rs, tables[t], chains[c], CT_HIT_RULE, pos, NF_INET_LOCAL_IN);
          lookup (rs, tables[t], chains[c], CT_HIT_POLICY, pos,
                  NF_INET_PRE_ROUTING);
          lookup (rs, tables[t], chains[c], CT_HIT_RETURN, pos,
                  NF_INET_LOCAL_OUT);
        }
  return 0;
}

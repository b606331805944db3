/* xt-save-parse.c — iptables-legacy-save text into per-table chains. The
 * kernel numbers a chain's rules from 1 in the order the save tool prints
 * its `-A CHAIN` lines; a policy or an implicit return is the number after
 * the last rule. */
#include "xt-save-parse.h"

#include <gio/gio.h>
#include <linux/netfilter.h>
#include <string.h>

typedef struct
{
  char *text;   /* the save line, valid UTF-8 */
  char *target; /* after -j or -g; NULL for a rule without one */
  gboolean go;  /* -g: a goto, not a jump */
} Rule;

typedef struct
{
  char *name;
  char *policy;      /* NULL for a user chain */
  char *policy_text; /* "-P INPUT DROP" */
  GPtrArray *rules;  /* Rule* */
} Chain;

typedef struct
{
  char *name;
  GHashTable *chains; /* name -> Chain* */
} Table;

typedef struct
{
  CtXtTrace line; /* table, chain, type, position the prefix stands for */
  const char *rule;
} Forger;

struct _CtXtRuleset
{
  GHashTable *tables; /* name -> Table* */
  GArray *forgers;    /* Forger */
  guint n_rules;
};

static void
rule_free (Rule *r)
{
  g_free (r->text);
  g_free (r->target);
  g_free (r);
}

static void
chain_free (Chain *c)
{
  g_free (c->name);
  g_free (c->policy);
  g_free (c->policy_text);
  g_ptr_array_unref (c->rules);
  g_free (c);
}

static void
table_free (Table *t)
{
  g_free (t->name);
  g_hash_table_unref (t->chains);
  g_free (t);
}

void
ct_xt_ruleset_free (CtXtRuleset *rs)
{
  if (rs == NULL)
    return;
  g_hash_table_unref (rs->tables);
  g_array_unref (rs->forgers);
  g_free (rs);
}

guint
ct_xt_ruleset_get_n_tables (const CtXtRuleset *rs)
{
  return g_hash_table_size (rs->tables);
}

guint
ct_xt_ruleset_get_n_rules (const CtXtRuleset *rs)
{
  return rs->n_rules;
}

/* Splits a line into words the way xtables_save_string quotes them: a word
 * with anything but [A-Za-z0-9_-] is in double quotes, with `"`, `\` and
 * `'` escaped by a backslash. FALSE on an unterminated quote. */
static gboolean
split_words (const char *s, gsize n, GPtrArray *words)
{
  gsize i = 0;

  while (i < n)
    {
      GString *w;

      while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
      if (i == n)
        break;
      w = g_string_new (NULL);
      while (i < n && s[i] != ' ' && s[i] != '\t')
        {
          if (s[i] != '"')
            {
              g_string_append_c (w, s[i++]);
              continue;
            }
          for (i++;; i++)
            {
              if (i >= n)
                {
                  g_string_free (w, TRUE);
                  return FALSE;
                }
              if (s[i] == '"')
                {
                  i++;
                  break;
                }
              if (s[i] == '\\' && i + 1 < n)
                i++;
              g_string_append_c (w, s[i]);
            }
        }
      g_ptr_array_add (words, g_string_free (w, FALSE));
    }
  return TRUE;
}

static gboolean
valid_name (const char *name)
{
  gsize len = strlen (name);

  return len > 0 && len < CT_XT_NAME_LEN;
}

static const char *
option_value (GPtrArray *words, guint from, const char *option)
{
  for (guint i = from; i + 1 < words->len; i++)
    if (g_str_equal (g_ptr_array_index (words, i), option))
      return g_ptr_array_index (words, i + 1);
  return NULL;
}

/* LOG rules, and NFLOG rules of group 0 (the group nfnetlink_log's TRACE
 * lines use; no --nflog-group means 0), whose prefix reads like a kernel
 * TRACE line. Over nfnetlink_log a line from such a rule is the same bytes
 * as the kernel's own, so lines equal to one are ambiguous. */
static void
note_forger (CtXtRuleset *rs, GPtrArray *words, guint target, const char *text)
{
  const char *name = g_ptr_array_index (words, target);
  const char *prefix = NULL;
  Forger f = { 0 };

  if (g_str_equal (name, "LOG"))
    prefix = option_value (words, target, "--log-prefix");
  else if (g_str_equal (name, "NFLOG"))
    {
      const char *group = option_value (words, target, "--nflog-group");

      if (group == NULL || g_str_equal (group, "0"))
        prefix = option_value (words, target, "--nflog-prefix");
    }
  if (prefix == NULL
      || !ct_xt_trace_parse_prefix (prefix, strlen (prefix), &f.line))
    return;
  /* It may name any table and chain: the hook check catches a line that
   * arrives where the chain it names never runs, this the others. */
  f.rule = text;
  g_array_append_val (rs->forgers, f);
}

/* The first -j or -g followed by a name (chain names cannot start with '-'
 * or '!', option names do): a comment or prefix that is itself "-j" is
 * skipped that way. Returns the index of the target name, or 0. */
static guint
find_target (GPtrArray *words, gboolean *go)
{
  for (guint i = 2; i + 1 < words->len; i++)
    {
      const char *w = g_ptr_array_index (words, i);
      const char *next = g_ptr_array_index (words, i + 1);

      if ((g_str_equal (w, "-j") || g_str_equal (w, "-g")) && next[0] != '-'
          && next[0] != '!' && next[0] != '\0')
        {
          *go = w[1] == 'g';
          return i + 1;
        }
    }
  return 0;
}

static gboolean
parse_line (CtXtRuleset *rs, Table **table, const char *s, gsize n,
            GError **error)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  const char *first;

  if (n == 0 || s[0] == '#')
    return TRUE;
  if (!split_words (s, n, words))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "unterminated quote");
      return FALSE;
    }
  if (words->len == 0)
    return TRUE;
  first = g_ptr_array_index (words, 0);

  if (first[0] == '*')
    {
      Table *t;

      if (words->len != 1 || !valid_name (first + 1))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "malformed table line");
          return FALSE;
        }
      if (g_hash_table_contains (rs->tables, first + 1))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "table %s appears twice", first + 1);
          return FALSE;
        }
      t = g_new0 (Table, 1);
      t->name = g_strdup (first + 1);
      t->chains = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify)chain_free);
      g_hash_table_insert (rs->tables, t->name, t);
      *table = t;
      return TRUE;
    }
  if (g_str_equal (first, "COMMIT"))
    {
      *table = NULL;
      return TRUE;
    }
  if (first[0] == ':')
    {
      const char *policy = words->len >= 2 ? g_ptr_array_index (words, 1) : "";
      Chain *c;

      if (*table == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "chain outside a table");
          return FALSE;
        }
      if (!valid_name (first + 1) || words->len < 2 || words->len > 3
          || policy[0] == '\0')
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "malformed chain line");
          return FALSE;
        }
      if (g_hash_table_contains ((*table)->chains, first + 1))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "chain %s appears twice", first + 1);
          return FALSE;
        }
      c = g_new0 (Chain, 1);
      c->name = g_strdup (first + 1);
      if (!g_str_equal (policy, "-"))
        {
          g_autofree char *text = g_strdup_printf ("-P %s %s", c->name, policy);

          c->policy = g_strdup (policy);
          c->policy_text = g_utf8_make_valid (text, -1);
        }
      c->rules = g_ptr_array_new_with_free_func ((GDestroyNotify)rule_free);
      g_hash_table_insert ((*table)->chains, c->name, c);
      return TRUE;
    }
  if (g_str_equal (first, "-A"))
    {
      const char *name = words->len >= 2 ? g_ptr_array_index (words, 1) : "";
      Chain *c;
      Rule *r;
      guint target;

      if (*table == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "rule outside a table");
          return FALSE;
        }
      c = g_hash_table_lookup ((*table)->chains, name);
      if (c == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "rule for undeclared chain %s", name);
          return FALSE;
        }
      r = g_new0 (Rule, 1);
      r->text = g_utf8_make_valid (s, (gssize)n);
      target = find_target (words, &r->go);
      if (target != 0)
        {
          r->target = g_strdup (g_ptr_array_index (words, target));
          note_forger (rs, words, target, r->text);
        }
      g_ptr_array_add (c->rules, r);
      rs->n_rules++;
      return TRUE;
    }
  return TRUE; /* a line we do not know: not a rule, so positions hold */
}

CtXtRuleset *
ct_xt_ruleset_parse (const char *text, gsize len, GError **error)
{
  g_autoptr (CtXtRuleset) rs = g_new0 (CtXtRuleset, 1);
  Table *table = NULL;
  gsize start = 0;
  guint lineno = 0;

  rs->tables = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify)table_free);
  rs->forgers = g_array_new (FALSE, FALSE, sizeof (Forger));

  while (start < len)
    {
      const char *nl = memchr (text + start, '\n', len - start);
      gsize end = nl != NULL ? (gsize)(nl - text) : len;
      gsize n = end - start;
      g_autoptr (GError) local = NULL;

      lineno++;
      if (n > 0 && text[start + n - 1] == '\r')
        n--;
      if (memchr (text + start, '\0', n) != NULL)
        g_set_error_literal (&local, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             "NUL byte");
      else
        parse_line (rs, &table, text + start, n, &local);
      if (local != NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "iptables-save output, line %u: %s", lineno,
                       local->message);
          return NULL;
        }
      start = end + 1;
    }
  return g_steal_pointer (&rs);
}

guint
ct_xt_ruleset_count_entries (const CtXtRuleset *rs, const char *table)
{
  const Table *t = g_hash_table_lookup (rs->tables, table);
  GHashTableIter iter;
  gpointer value;
  guint n = 1;

  if (t == NULL)
    return 0;
  g_hash_table_iter_init (&iter, t->chains);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const Chain *c = value;

      n += c->rules->len + (c->policy != NULL ? 1 : 2);
    }
  return n;
}

int
ct_xt_builtin_chain_hook (const char *chain)
{
  static const char *const names[] = {
    [NF_INET_PRE_ROUTING] = "PREROUTING",   [NF_INET_LOCAL_IN] = "INPUT",
    [NF_INET_FORWARD] = "FORWARD",          [NF_INET_LOCAL_OUT] = "OUTPUT",
    [NF_INET_POST_ROUTING] = "POSTROUTING",
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (chain, names[i]))
      return (int)i;
  return -1;
}

/* The hooks ip(6)_tables registers each table at; 0 for a table we do not
 * know (then any hook is believed). */
static guint
table_hooks (const char *table)
{
  static const struct
  {
    const char *name;
    guint hooks;
  } tables[] = {
    { "filter", 1u << NF_INET_LOCAL_IN | 1u << NF_INET_FORWARD
                    | 1u << NF_INET_LOCAL_OUT },
    { "nat", 1u << NF_INET_PRE_ROUTING | 1u << NF_INET_LOCAL_IN
                 | 1u << NF_INET_LOCAL_OUT | 1u << NF_INET_POST_ROUTING },
    { "mangle", 1u << NF_INET_PRE_ROUTING | 1u << NF_INET_LOCAL_IN
                    | 1u << NF_INET_FORWARD | 1u << NF_INET_LOCAL_OUT
                    | 1u << NF_INET_POST_ROUTING },
    { "raw", 1u << NF_INET_PRE_ROUTING | 1u << NF_INET_LOCAL_OUT },
    { "security", 1u << NF_INET_LOCAL_IN | 1u << NF_INET_FORWARD
                      | 1u << NF_INET_LOCAL_OUT },
  };

  for (guint i = 0; i < G_N_ELEMENTS (tables); i++)
    if (g_str_equal (table, tables[i].name))
      return tables[i].hooks;
  return 0;
}

static CtVerdict
policy_verdict (const char *policy)
{
  if (g_str_equal (policy, "ACCEPT"))
    return CT_VERDICT_ACCEPT;
  if (g_str_equal (policy, "DROP"))
    return CT_VERDICT_DROP;
  return CT_VERDICT_NONE;
}

static CtVerdict
rule_verdict (const Table *t, const Rule *r)
{
  static const char *const nat[]
      = { "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP" };

  if (r->target == NULL)
    return CT_VERDICT_NONE;
  if (r->go)
    return CT_VERDICT_GOTO;
  if (g_str_equal (r->target, "ACCEPT"))
    return CT_VERDICT_ACCEPT;
  if (g_str_equal (r->target, "DROP"))
    return CT_VERDICT_DROP;
  if (g_str_equal (r->target, "REJECT"))
    return CT_VERDICT_REJECT;
  if (g_str_equal (r->target, "RETURN"))
    return CT_VERDICT_RETURN;
  if (g_str_equal (r->target, "QUEUE") || g_str_equal (r->target, "NFQUEUE"))
    return CT_VERDICT_QUEUE;
  /* NAT targets end their chain with NF_ACCEPT. */
  for (guint i = 0; i < G_N_ELEMENTS (nat); i++)
    if (g_str_equal (r->target, nat[i]))
      return CT_VERDICT_ACCEPT;
  if (g_hash_table_contains (t->chains, r->target))
    return CT_VERDICT_JUMP;
  return CT_VERDICT_NONE; /* LOG, MARK, CT, TRACE, …: the packet goes on */
}

CtXtFit
ct_xt_ruleset_resolve (const CtXtRuleset *rs, const CtXtTrace *line,
                       CtXtRuleInfo *out)
{
  const Table *t = g_hash_table_lookup (rs->tables, line->table);
  const Chain *c;
  guint hooks;
  guint32 n;

  memset (out, 0, sizeof *out);
  if (t == NULL || (c = g_hash_table_lookup (t->chains, line->chain)) == NULL)
    return CT_XT_FIT_UNKNOWN;

  /* The hook in NFULA_PACKET_HDR is the kernel's: a built-in chain runs
   * only at its own hook, a user chain only where its table is. */
  hooks = table_hooks (t->name);
  if (line->hook > NF_INET_POST_ROUTING
      || (c->policy != NULL && ct_xt_builtin_chain_hook (c->name) >= 0
          && ct_xt_builtin_chain_hook (c->name) != line->hook)
      || (hooks != 0 && !(hooks & (1u << line->hook))))
    return CT_XT_FIT_WRONG_HOOK;

  for (guint i = 0; i < rs->forgers->len; i++)
    {
      const Forger *f = &g_array_index (rs->forgers, Forger, i);

      if (f->line.type == line->type && f->line.position == line->position
          && g_str_equal (f->line.table, line->table)
          && g_str_equal (f->line.chain, line->chain))
        {
          out->forger = f->rule;
          return CT_XT_FIT_FORGED;
        }
    }

  n = c->rules->len;
  switch (line->type)
    {
    case CT_HIT_RULE:
      if (line->position >= 1 && line->position <= n)
        {
          const Rule *r = g_ptr_array_index (c->rules, line->position - 1);

          out->rule = r->text;
          out->verdict = rule_verdict (t, r);
          return CT_XT_FIT_OK;
        }
      break;
    case CT_HIT_POLICY:
      if (c->policy != NULL && line->position == n + 1)
        {
          out->rule = c->policy_text;
          out->verdict = policy_verdict (c->policy);
          return CT_XT_FIT_OK;
        }
      break;
    case CT_HIT_RETURN:
      if (c->policy == NULL && line->position == n + 1)
        {
          out->verdict = CT_VERDICT_RETURN;
          return CT_XT_FIT_OK;
        }
      break;
    default:
      break;
    }
  return CT_XT_FIT_UNKNOWN;
}

/* cmd-list.c — `conntrackerctl list`: ListFlows as a table or JSON lines. */
#include "config.h"

#include "conntrackerctl.h"
#include "flow-text.h"
#include "text-table.h"
#include "variant-json.h"

/* The contract's cap on ListFlows' limit; DumpFlows has none. */
#define MAX_LIMIT 10000

/* Parses a --limit/--offset value; prints and returns FALSE when bad. */
static gboolean
parse_count (const CtCommand *command, const char *option, const char *text,
             guint max, guint32 *out)
{
  guint64 value;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, 0, max, &value, NULL))
    {
      ct_command_usage_error (
          command,
          /* Translators: "--limit expects a number from 0 to 10000, not
           * “x”". */
          _ ("%s expects a number from 0 to %u, not “%s”"), option, max, text);
      return FALSE;
    }
  *out = (guint32)value;
  return TRUE;
}

static void
add_address_cell (CtTextTable *table, GVariant *flow, const char *key)
{
  const char *addr = NULL;

  ct_text_table_add_cell (
      table, g_variant_lookup (flow, key, "&s", &addr) ? addr : "?");
}

static void
add_flow_row (CtTextTable *table, GVariant *flow, gint64 now)
{
  guint64 id = 0, connections = 0;
  gint64 last_seen = 0;

  g_variant_lookup (flow, "id", "t", &id);
  ct_text_table_take_cell (table, ct_text_u64 (id));
  ct_text_table_take_cell (table, ct_text_protocol (flow));
  add_address_cell (table, flow, "src");
  ct_text_table_take_cell (table, ct_text_sport (flow));
  add_address_cell (table, flow, "dst");
  ct_text_table_take_cell (table, ct_text_dport (flow));
  ct_text_table_take_cell (table, ct_text_state (flow));
  if (g_variant_lookup (flow, "connections", "t", &connections))
    ct_text_table_take_cell (table, ct_text_u64 (connections));
  else
    ct_text_table_add_cell (table, "-");
  if (g_variant_lookup (flow, "last-seen", "x", &last_seen))
    ct_text_table_take_cell (table, ct_text_age (last_seen, now));
  else
    ct_text_table_add_cell (table, "-");
}

static void
print_table (GVariant *flows, guint32 total, guint32 offset, gboolean filtered)
{
  g_autoptr (CtTextTable) table = ct_text_table_new (9);
  g_autofree char *rendered = NULL;
  gsize n = g_variant_n_children (flows);
  gint64 now = g_get_real_time ();
  GVariantIter iter;
  GVariant *flow;

  if (n == 0 && (total == 0 || offset > 0))
    {
      if (total > 0)
        /* Translators: --offset went past the last matching flow. */
        g_print (ngettext ("No flows at this offset (%u flow matches).\n",
                           "No flows at this offset (%u flows match).\n",
                           total),
                 total);
      else if (filtered)
        g_print ("%s\n", _ ("No flows match the filter."));
      else
        g_print ("%s\n", _ ("No flows recorded yet."));
      return;
    }

  /* Translators: column headers of `conntrackerctl list`; keep them short
   * and upper case where your language allows. */
  ct_text_table_set_column (table, 0, _ ("ID"), TRUE);
  ct_text_table_set_column (table, 1, _ ("PROTO"), FALSE);
  ct_text_table_set_column (table, 2, _ ("SOURCE"), FALSE);
  ct_text_table_set_column (table, 3, _ ("SPORT"), TRUE);
  ct_text_table_set_column (table, 4, _ ("DESTINATION"), FALSE);
  ct_text_table_set_column (table, 5, _ ("DPORT"), TRUE);
  ct_text_table_set_column (table, 6, _ ("STATE"), FALSE);
  ct_text_table_set_column (table, 7, _ ("CONNS"), TRUE);
  ct_text_table_set_column (table, 8, _ ("LAST SEEN"), FALSE);

  g_variant_iter_init (&iter, flows);
  while ((flow = g_variant_iter_next_value (&iter)) != NULL)
    {
      add_flow_row (table, flow, now);
      g_variant_unref (flow);
    }
  /* With --limit 0 only the footer remains: the count alone. */
  if (n > 0)
    {
      rendered = ct_text_table_render (table);
      g_print ("%s", rendered);
    }

  if (offset > 0)
    /* Translators: the footer when --offset skipped flows: "50 of 1200
     * flows, from offset 100". */
    g_print (ngettext ("%u of %u flow, from offset %u\n",
                       "%u of %u flows, from offset %u\n", total),
             (guint)n, total, offset);
  else if (n < total)
    /* Translators: the footer when --limit cut the list: "1000 of 1200
     * flows". */
    g_print (ngettext ("%u of %u flow\n", "%u of %u flows\n", total), (guint)n,
             total);
}

CtExit
ct_cmd_list (CtClient *client, const CtCommand *command, int argc, char **argv)
{
  g_autofree char *filter = NULL;
  g_autofree char *sort = NULL;
  g_autofree char *limit_text = NULL;
  g_autofree char *offset_text = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "filter", 'f', 0, G_OPTION_ARG_STRING, &filter,
      N_ ("Only flows matching EXPR (see FILTERS in conntrackerctl(1))"),
      N_ ("EXPR") },
    { "sort", 's', 0, G_OPTION_ARG_STRING, &sort,
      N_ ("Sort by comma-separated KEYS; \"-\" before a key sorts "
          "descending"),
      N_ ("KEYS") },
    { "limit", 'n', 0, G_OPTION_ARG_STRING, &limit_text,
      N_ ("Show at most N flows (default 1000, at most 10000)"), N_ ("N") },
    { "offset", 0, 0, G_OPTION_ARG_STRING, &offset_text,
      N_ ("Skip the first N matching flows"), N_ ("N") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_ ("Print one JSON object per flow and line"), NULL },
    { NULL },
  };
  guint32 limit = 0, offset = 0, total = 0;
  GVariantBuilder query;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) flows = NULL;
  g_autoptr (GError) error = NULL;
  CtExit status;

  if (!ct_command_parse_options (command, entries, NULL, &argc, &argv))
    return CT_EXIT_USAGE;
  if (argc > 1)
    return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                   argv[1]);
  if (!parse_count (command, "--limit", limit_text, MAX_LIMIT, &limit)
      || !parse_count (command, "--offset", offset_text, G_MAXUINT32, &offset))
    return CT_EXIT_USAGE;
  if (!ct_command_check_filter (filter))
    return CT_EXIT_USAGE;

  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;

  g_variant_builder_init (&query, G_VARIANT_TYPE_VARDICT);
  if (filter != NULL)
    g_variant_builder_add (&query, "{sv}", "filter",
                           g_variant_new_string (filter));
  if (sort != NULL)
    g_variant_builder_add (&query, "{sv}", "sort", g_variant_new_string (sort));
  if (limit_text != NULL)
    g_variant_builder_add (&query, "{sv}", "limit",
                           g_variant_new_uint32 (limit));
  if (offset_text != NULL)
    g_variant_builder_add (&query, "{sv}", "offset",
                           g_variant_new_uint32 (offset));

  reply
      = ct_client_call (client, "ListFlows", g_variant_new ("(a{sv})", &query),
                        G_VARIANT_TYPE ("(aa{sv}u)"), &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  g_variant_get (reply, "(@aa{sv}u)", &flows, &total);

  if (json)
    {
      GVariantIter iter;
      GVariant *flow;

      g_variant_iter_init (&iter, flows);
      while ((flow = g_variant_iter_next_value (&iter)) != NULL)
        {
          g_autoptr (JsonNode) node = ct_json_from_variant (flow);

          ct_json_print_line (node);
          g_variant_unref (flow);
        }
    }
  else
    print_table (flows, total, offset, filter != NULL && *filter != '\0');
  return CT_EXIT_OK;
}

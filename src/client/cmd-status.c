/* cmd-status.c — `conntrackerctl status`: the daemon's properties. */
#include "config.h"

#include "conntrackerctl.h"
#include "flow-text.h"
#include "text-table.h"
#include "variant-json.h"

/* Property names and the JSON keys --json prints them under. */
static const struct
{
  const char *property;
  const char *json_key;
} properties[] = {
  { "Version", "version" },
  { "ApiVersion", "api_version" },
  { "FlowCount", "flow_count" },
  { "MaxFlows", "max_flows" },
  { "Events", "events" },
  { "Overruns", "overruns" },
  { "Resyncs", "resyncs" },
  { "Evicted", "evicted" },
  { "StartTime", "start_time" },
  { "TracingMode", "tracing_mode" },
  { "TraceWindow", "trace_window" },
  { "TraceSetSize", "trace_set_size" },
};

static void
print_json (GVariant *props)
{
  g_autoptr (JsonObject) object = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

  for (gsize i = 0; i < G_N_ELEMENTS (properties); i++)
    {
      g_autoptr (GVariant) value
          = g_variant_lookup_value (props, properties[i].property, NULL);

      if (value != NULL)
        json_object_set_member (object, properties[i].json_key,
                                ct_json_from_variant (value));
    }
  json_node_set_object (root, object);
  ct_json_print_line (root);
}

static char *
u64_property (GVariant *props, const char *name)
{
  guint64 value;

  if (!g_variant_lookup (props, name, "t", &value))
    return g_strdup (_ ("unknown"));
  return ct_text_u64 (value);
}

static void
print_text (GVariant *props)
{
  g_autoptr (CtTextTable) table = ct_text_table_new (2);
  g_autofree char *rendered = NULL;
  const char *version = NULL, *tracing = NULL;
  guint32 api = 0, flows = 0, max_flows = 0, window = 0, set_size = 0;
  gint64 start = 0;

  g_variant_lookup (props, "Version", "&s", &version);
  g_variant_lookup (props, "ApiVersion", "u", &api);
  ct_text_table_add_cell (table, _ ("Version:"));
  /* Translators: the daemon's version and its D-Bus API version. */
  ct_text_table_take_cell (
      table, g_strdup_printf (_ ("%s (API %u)"), version ? version : "?", api));

  ct_text_table_add_cell (table, _ ("Flows:"));
  if (g_variant_lookup (props, "FlowCount", "u", &flows)
      && g_variant_lookup (props, "MaxFlows", "u", &max_flows))
    /* Translators: flows in the store now, and the store's bound. */
    ct_text_table_take_cell (
        table, g_strdup_printf (_ ("%u (at most %u)"), flows, max_flows));
  else
    ct_text_table_add_cell (table, _ ("unknown"));

  ct_text_table_add_cell (table, _ ("Events:"));
  ct_text_table_take_cell (table, u64_property (props, "Events"));
  ct_text_table_add_cell (table, _ ("Overruns:"));
  ct_text_table_take_cell (table, u64_property (props, "Overruns"));
  ct_text_table_add_cell (table, _ ("Resyncs:"));
  ct_text_table_take_cell (table, u64_property (props, "Resyncs"));
  ct_text_table_add_cell (table, _ ("Evicted:"));
  ct_text_table_take_cell (table, u64_property (props, "Evicted"));

  ct_text_table_add_cell (table, _ ("Started:"));
  if (g_variant_lookup (props, "StartTime", "x", &start) && start > 0)
    {
      g_autofree char *when = ct_text_time (start);
      g_autofree char *age = ct_text_age (start, g_get_real_time ());

      ct_text_table_take_cell (table, g_strdup_printf ("%s (%s)", when, age));
    }
  else
    ct_text_table_add_cell (table, _ ("unknown"));

  g_variant_lookup (props, "TracingMode", "&s", &tracing);
  ct_text_table_add_cell (table, _ ("Tracing:"));
  if (tracing != NULL && g_variant_lookup (props, "TraceWindow", "u", &window)
      && g_variant_lookup (props, "TraceSetSize", "u", &set_size) && window > 0)
    /* Translators: the trace mode, how long each new flow is traced, and
     * how many flows the tracer follows at once: "new (30 s per new flow,
     * at most 65536 flows)". */
    ct_text_table_take_cell (
        table, g_strdup_printf (_ ("%s (%u s per new flow, at most %u flows)"),
                                tracing, window, set_size));
  else
    ct_text_table_add_cell (table, tracing ? tracing : _ ("unknown"));

  rendered = ct_text_table_render (table);
  g_print ("%s", rendered);
}

CtExit
ct_cmd_status (CtClient *client, const CtCommand *command, int argc,
               char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_ ("Print one JSON object instead of text"), NULL },
    { NULL },
  };
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GError) error = NULL;
  CtExit status;

  if (!ct_command_parse_options (command, entries, NULL, &argc, &argv))
    return CT_EXIT_USAGE;
  if (argc > 1)
    return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                   argv[1]);
  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;

  /* One explicit GetAll rather than a proxy's cache: a daemon that is not
   * running must be an error, not a screen of "unknown". */
  reply = g_dbus_connection_call_sync (
      client->connection, ct_client_bus_name (client), CT_OBJECT_PATH,
      "org.freedesktop.DBus.Properties", "GetAll",
      g_variant_new ("(s)", CT_INTERFACE), G_VARIANT_TYPE ("(a{sv})"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  props = g_variant_get_child_value (reply, 0);

  if (json)
    print_json (props);
  else
    print_text (props);
  return CT_EXIT_OK;
}

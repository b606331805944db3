/* cmd-watch.c — `conntrackerctl watch`: Subscribe, then one line per flow
 * that appears or changes and per batch of ids that leaves, until Ctrl-C. */
#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

#include "conntrackerctl.h"
#include "ct-dbus-generated.h"
#include "flow-text.h"
#include "text-table.h"
#include "variant-json.h"

/* The contract's floor for "interval-ms". */
#define MIN_INTERVAL_MS 100

typedef struct
{
  GMainLoop *loop;
  guint32 subscription;
  gboolean json;
  gsize event_width; /* cells of the widest event word, for alignment */
  CtExit status;
  gboolean stdout_gone; /* ended because nobody reads our output */
} WatchState;

/* `watch | head` must end when head does. */
static void
check_stdout (WatchState *state)
{
  CtExit status;

  if (!ct_flush_stdout (&status))
    {
      state->status = status;
      state->stdout_gone = TRUE;
      g_main_loop_quit (state->loop);
    }
}

static void
print_event_word (WatchState *state, const char *word)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *clock = g_date_time_format (now, "%H:%M:%S");
  gsize width = ct_text_width (word);

  g_print ("%s %s%*s ", clock, word,
           (int)(state->event_width > width ? state->event_width - width : 0),
           "");
}

static void
print_json_event (const char *event, const char *member, JsonNode *value,
                  const char *reason)
{
  g_autoptr (JsonObject) object = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (object, "event", event);
  if (member != NULL)
    json_object_set_member (object, member, value);
  if (reason != NULL)
    json_object_set_string_member (object, "reason", reason);
  json_node_set_object (root, object);
  ct_json_print_line (root);
}

static void
print_flows (WatchState *state, const char *event, const char *word,
             GVariant *flows)
{
  GVariantIter iter;
  GVariant *flow;

  g_variant_iter_init (&iter, flows);
  while ((flow = g_variant_iter_next_value (&iter)) != NULL)
    {
      if (state->json)
        print_json_event (event, "flow", ct_json_from_variant (flow), NULL);
      else
        {
          g_autofree char *line = ct_text_flow_line (flow);
          g_autoptr (GVariant) blame = NULL;
          g_autofree char *why = NULL;

          /* A new flow the firewall denied stands out, with the rule. */
          if (g_str_equal (event, "added") && ct_flow_is_denied (flow))
            {
              /* Translators: a flow the firewall denied appeared, in
               * `watch`; keep it short. */
              print_event_word (state, _ ("denied"));
              blame = g_variant_lookup_value (flow, "blame",
                                              G_VARIANT_TYPE_VARDICT);
            }
          else
            print_event_word (state, word);
          if (blame != NULL)
            {
              why = ct_text_hit (blame);
              /* Translators: a denied flow's line in `watch`, then the
               * rule that denied it. */
              g_print (_ ("%s; denied by: %s\n"), line, why);
            }
          else
            g_print ("%s\n", line);
        }
      g_variant_unref (flow);
    }
  check_stdout (state);
}

static void
on_flows_added (CtDBusFlows *proxy, guint subscription, GVariant *flows,
                gpointer data)
{
  WatchState *state = data;

  if (subscription == state->subscription)
    /* Translators: a flow appeared, in `watch`; keep it short. */
    print_flows (state, "added", _ ("new"), flows);
}

static void
on_flows_changed (CtDBusFlows *proxy, guint subscription, GVariant *flows,
                  gpointer data)
{
  WatchState *state = data;

  if (subscription == state->subscription)
    /* Translators: a flow changed, in `watch`; keep it short. */
    print_flows (state, "changed", _ ("changed"), flows);
}

static const char *
describe_removal (const char *reason)
{
  if (g_str_equal (reason, "reset"))
    /* Translators: why flows left the store: someone ran `reset`. */
    return C_ ("removal reason", "reset");
  if (g_str_equal (reason, "evicted"))
    /* Translators: why flows left the store: it was full. */
    return _ ("evicted, the store is full");
  return reason;
}

static void
on_flows_removed (CtDBusFlows *proxy, guint subscription, GVariant *ids,
                  const char *reason, gpointer data)
{
  WatchState *state = data;
  GString *line;
  GVariantIter iter;
  guint64 id;

  if (subscription != state->subscription)
    return;
  if (state->json)
    {
      print_json_event ("removed", "ids", ct_json_from_variant (ids), reason);
      check_stdout (state);
      return;
    }
  line = g_string_new (NULL);
  g_variant_iter_init (&iter, ids);
  while (g_variant_iter_next (&iter, "t", &id))
    g_string_append_printf (line, "%s%" G_GUINT64_FORMAT,
                            line->len > 0 ? " " : "", id);
  /* Translators: flows left the store, in `watch`; keep it short. */
  print_event_word (state, _ ("removed"));
  g_print ("%s (%s)\n", line->str, describe_removal (reason));
  g_string_free (line, TRUE);
  check_stdout (state);
}

static void
on_events_lost (CtDBusFlows *proxy, guint subscription, const char *reason,
                guint64 count, gpointer data)
{
  WatchState *state = data;
  g_autofree char *n = ct_text_u64 (count);
  unsigned long plural = (unsigned long)MIN (count, G_MAXULONG);

  if (subscription != state->subscription)
    return;
  if (state->json)
    {
      JsonNode *value = json_node_new (JSON_NODE_VALUE);

      json_node_set_int (value, (gint64)count);
      print_json_event ("events-lost", "count", value, reason);
      check_stdout (state);
    }
  if (g_str_equal (reason, "kernel-overrun"))
    ct_print_warning (
        ngettext ("conntrackerd missed kernel events (%s overrun) and "
                  "re-read the table; short-lived connections may be missing",
                  "conntrackerd missed kernel events (%s overruns) and "
                  "re-read the table; short-lived connections may be missing",
                  plural),
        n);
  else if (g_str_equal (reason, "rate-limit"))
    ct_print_warning (ngettext ("%s change was dropped because this watch "
                                "fell behind; “list” shows the current "
                                "state",
                                "%s changes were dropped because this watch "
                                "fell behind; “list” shows the current "
                                "state",
                                plural),
                      n);
  else
    ct_print_warning (_ ("%s events lost (%s)"), n, reason);
}

static void
lose_daemon (WatchState *state)
{
  ct_print_error (_ ("conntrackerd went away; the watch has ended"));
  state->status = CT_EXIT_UNREACHABLE;
  g_main_loop_quit (state->loop);
}

static void
on_daemon_vanished (GDBusConnection *connection, const char *name,
                    gpointer data)
{
  lose_daemon (data);
}

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean remote_peer_vanished, GError *error,
                      gpointer data)
{
  lose_daemon (data);
}

static gboolean
on_quit_signal (gpointer data)
{
  WatchState *state = data;

  g_main_loop_quit (state->loop);
  return G_SOURCE_CONTINUE;
}

/* Subscribe, and learn which connection holds the subscription: when that
 * unique name vanishes (even if a new daemon takes the well-known name),
 * this watch is over. */
static GVariant *
subscribe (CtClient *client, GVariant *query, char **sender, GError **error)
{
  g_autoptr (GDBusMessage) message = g_dbus_message_new_method_call (
      ct_client_bus_name (client), CT_OBJECT_PATH, CT_INTERFACE, "Subscribe");
  g_autoptr (GDBusMessage) reply = NULL;

  g_dbus_message_set_body (message, g_variant_new_tuple (&query, 1));
  if (client->interactive)
    g_dbus_message_set_flags (
        message, G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION);
  reply = g_dbus_connection_send_message_with_reply_sync (
      client->connection, message, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
      client->interactive ? G_MAXINT : -1, NULL, NULL, error);
  if (reply == NULL || g_dbus_message_to_gerror (reply, error))
    return NULL;
  if (g_strcmp0 (g_dbus_message_get_signature (reply), "u") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _ ("conntrackerd answered Subscribe with “(%s)”, not “(u)”"),
                   g_dbus_message_get_signature (reply));
      return NULL;
    }
  *sender = g_strdup (g_dbus_message_get_sender (reply));
  return g_variant_ref (g_dbus_message_get_body (reply));
}

CtExit
ct_cmd_watch (CtClient *client, const CtCommand *command, int argc, char **argv)
{
  g_autofree char *filter = NULL;
  int interval = 0;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "filter", 'f', 0, G_OPTION_ARG_STRING, &filter,
      N_ ("Only flows matching EXPR (see FILTERS in conntrackerctl(1))"),
      N_ ("EXPR") },
    { "interval", 0, 0, G_OPTION_ARG_INT, &interval,
      N_ ("At most one batch of events every MS milliseconds (default 500, "
          "at least 100)"),
      N_ ("MS") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_ ("Print one JSON object per event and line"), NULL },
    { NULL },
  };
  const char *words[]
      = { _ ("new"), _ ("denied"), _ ("changed"), _ ("removed") };
  g_autoptr (CtDBusFlows) proxy = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *sender = NULL;
  WatchState state = { 0 };
  GVariantBuilder query;
  guint watch_id = 0, sigint_id, sigterm_id;
  gulong closed_id;
  CtExit status;

  if (!ct_command_parse_options (command, entries, NULL, &argc, &argv))
    return CT_EXIT_USAGE;
  if (argc > 1)
    return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                   argv[1]);
  if (interval != 0 && interval < MIN_INTERVAL_MS)
    return ct_command_usage_error (
        command, _ ("--interval must be at least %d milliseconds"),
        MIN_INTERVAL_MS);
  if (!ct_command_check_filter (filter))
    return CT_EXIT_USAGE;

  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;

  loop = g_main_loop_new (NULL, FALSE);
  state.loop = loop;
  state.json = json;
  state.status = CT_EXIT_OK;
  for (gsize i = 0; i < G_N_ELEMENTS (words); i++)
    state.event_width = MAX (state.event_width, ct_text_width (words[i]));

  /* The proxy is there for its signals; they must be connected before
   * Subscribe, or the first batch could arrive unheard. */
  proxy = ct_dbus_flows_proxy_new_sync (
      client->connection, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
      ct_client_bus_name (client), CT_OBJECT_PATH, NULL, &error);
  if (proxy == NULL)
    return ct_client_report_error (client, error);
  g_signal_connect (proxy, "flows-added", G_CALLBACK (on_flows_added), &state);
  g_signal_connect (proxy, "flows-changed", G_CALLBACK (on_flows_changed),
                    &state);
  g_signal_connect (proxy, "flows-removed", G_CALLBACK (on_flows_removed),
                    &state);
  g_signal_connect (proxy, "events-lost", G_CALLBACK (on_events_lost), &state);

  g_variant_builder_init (&query, G_VARIANT_TYPE_VARDICT);
  if (filter != NULL)
    g_variant_builder_add (&query, "{sv}", "filter",
                           g_variant_new_string (filter));
  if (interval != 0)
    g_variant_builder_add (&query, "{sv}", "interval-ms",
                           g_variant_new_uint32 ((guint32)interval));
  reply = subscribe (client, g_variant_builder_end (&query), &sender, &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  g_variant_get (reply, "(u)", &state.subscription);

  if (sender != NULL)
    watch_id = g_bus_watch_name_on_connection (
        client->connection, sender, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
        on_daemon_vanished, &state, NULL);
  closed_id = g_signal_connect (client->connection, "closed",
                                G_CALLBACK (on_connection_closed), &state);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, &state);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, &state);

  g_main_loop_run (loop);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_signal_handler_disconnect (client->connection, closed_id);
  if (watch_id != 0)
    g_bus_unwatch_name (watch_id);
  if (state.status == CT_EXIT_OK || state.stdout_gone)
    {
      g_autoptr (GVariant) done = NULL;

      /* Closing the connection would end the subscription too; saying so
       * is polite and frees it at once. */
      done = g_dbus_connection_call_sync (
          client->connection, ct_client_bus_name (client), CT_OBJECT_PATH,
          CT_INTERFACE, "Unsubscribe",
          g_variant_new ("(u)", state.subscription), G_VARIANT_TYPE_UNIT,
          G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
    }
  return state.status;
}

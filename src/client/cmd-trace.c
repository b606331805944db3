/* cmd-trace.c — `conntrackerctl trace`: what the daemon traces. Without an
 * argument it shows the mode; `on|off|new|all` changes it (SetTraceMode);
 * anything else is a filter traced for a while (TraceFilter), and --stop
 * ends one early (StopTraceFilter). Changes need org.conntracker.trace. */
#include "config.h"

#include <string.h>

#include "conntrackerctl.h"

#define DEFAULT_SECONDS 60
#define MAX_SECONDS     (24 * 60 * 60) /* the daemon's bound */

/* "60", "60s", "5m", "2h", "1d" into seconds, 1 to MAX_SECONDS. */
static gboolean
parse_duration (const char *text, guint *seconds)
{
  static const struct
  {
    char unit;
    guint64 factor;
  } units[]
      = { { 's', 1 }, { 'm', 60 }, { 'h', 60 * 60 }, { 'd', 24 * 60 * 60 } };
  g_autofree char *number = g_strdup (text);
  gsize len = strlen (number);
  guint64 factor = 1, value;

  if (len > 1 && g_ascii_isalpha (number[len - 1]))
    {
      char unit = g_ascii_tolower (number[len - 1]);

      factor = 0;
      for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
        if (units[i].unit == unit)
          factor = units[i].factor;
      if (factor == 0)
        return FALSE;
      number[len - 1] = '\0';
    }
  if (!g_ascii_string_to_unsigned (number, 10, 1, MAX_SECONDS, &value, NULL)
      || value * factor > MAX_SECONDS)
    return FALSE;
  *seconds = (guint)(value * factor);
  return TRUE;
}

static gboolean
is_mode_word (const char *word, const char **mode)
{
  static const struct
  {
    const char *word;
    const char *mode;
  } words[] = {
    { "on", "new" }, { "new", "new" }, { "off", "off" }, { "all", "all" }
  };

  for (gsize i = 0; i < G_N_ELEMENTS (words); i++)
    if (g_ascii_strcasecmp (word, words[i].word) == 0)
      {
        *mode = words[i].mode;
        return TRUE;
      }
  return FALSE;
}

/* One line about the mode, from the daemon's properties. */
static void
print_mode (const char *mode, guint32 window)
{
  if (g_str_equal (mode, "disabled"))
    g_print ("%s\n",
             _ ("Rule tracing is disabled (conntrackerd runs with -c)."));
  else if (g_str_equal (mode, "new"))
    /* Translators: %u is the trace window in seconds. */
    g_print (_ ("Trace mode: new (each new flow is traced for %u s)\n"),
             window);
  else if (g_str_equal (mode, "all"))
    g_print ("%s\n", _ ("Trace mode: all (every packet is traced)"));
  else if (g_str_equal (mode, "off"))
    g_print ("%s\n", _ ("Trace mode: off (only filters given with "
                        "“conntrackerctl trace FILTER” are traced)"));
  else
    /* Translators: a mode this version does not know. */
    g_print (_ ("Trace mode: %s\n"), mode);
}

static CtExit
show_mode (CtClient *client)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GError) error = NULL;
  const char *mode = NULL;
  guint32 window = 0;

  /* Properties need no authorization. */
  reply = g_dbus_connection_call_sync (
      client->connection, ct_client_bus_name (client), CT_OBJECT_PATH,
      "org.freedesktop.DBus.Properties", "GetAll",
      g_variant_new ("(s)", CT_INTERFACE), G_VARIANT_TYPE ("(a{sv})"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  props = g_variant_get_child_value (reply, 0);
  if (!g_variant_lookup (props, "TracingMode", "&s", &mode))
    {
      ct_print_error (_ ("conntrackerd does not say how it traces (no "
                         "TracingMode property)"));
      return CT_EXIT_FAILURE;
    }
  g_variant_lookup (props, "TraceWindow", "u", &window);
  print_mode (mode, window);
  return CT_EXIT_OK;
}

static CtExit
set_mode (CtClient *client, const char *mode)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  reply = ct_client_call (client, "SetTraceMode", g_variant_new ("(s)", mode),
                          G_VARIANT_TYPE_UNIT, &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  return show_mode (client);
}

static CtExit
trace_filter (CtClient *client, const char *filter, guint seconds)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  guint32 id;

  reply = ct_client_call (client, "TraceFilter",
                          g_variant_new ("(su)", filter, seconds),
                          G_VARIANT_TYPE ("(u)"), &error);
  if (reply == NULL)
    {
      if (ct_exit_status_for_error (error) == CT_EXIT_USAGE)
        {
          g_autoptr (GError) stripped = g_error_copy (error);

          g_dbus_error_strip_remote_error (stripped);
          /* Translators: the detail is the daemon's, in English. */
          ct_print_error (_ ("invalid trace filter: %s"), stripped->message);
          g_printerr ("%s\n", _ ("See “trace” in conntrackerctl(1)."));
          return CT_EXIT_USAGE;
        }
      return ct_client_report_error (client, error);
    }
  g_variant_get (reply, "(u)", &id);
  /* Translators: the filter as given, how long in seconds, its id; the
   * id is what `conntrackerctl trace --stop ID` takes. */
  g_print (_ ("Tracing “%s” for %u s (filter %u).\n"), filter, seconds, id);
  return CT_EXIT_OK;
}

static CtExit
stop_filter (CtClient *client, guint32 id)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  reply = ct_client_call (client, "StopTraceFilter", g_variant_new ("(u)", id),
                          G_VARIANT_TYPE_UNIT, &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  g_print (_ ("Filter %u is no longer traced.\n"), id);
  return CT_EXIT_OK;
}

CtExit
ct_cmd_trace (CtClient *client, const CtCommand *command, int argc, char **argv)
{
  g_autofree char *duration = NULL;
  g_autofree char *stop = NULL;
  gboolean interactive = FALSE;
  const GOptionEntry entries[] = {
    { "for", 0, 0, G_OPTION_ARG_STRING, &duration,
      N_ ("Trace the filter for DURATION: seconds, or a number with s, m, "
          "h or d (default 60s, at most 1d)"),
      N_ ("DURATION") },
    { "stop", 0, 0, G_OPTION_ARG_STRING, &stop,
      N_ ("Stop tracing the filter with this ID now"), N_ ("ID") },
    { "interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
      N_ ("Allow a password prompt even when standard input is not a "
          "terminal"),
      NULL },
    { NULL },
  };
  const char *mode = NULL;
  g_autofree char *filter = NULL;
  guint seconds = DEFAULT_SECONDS;
  guint64 id = 0;
  CtExit status;

  /* Translators: the arguments of `trace` in its usage line. */
  if (!ct_command_parse_options (command, entries,
                                 _ ("[on|off|new|all|FILTER…]"), &argc, &argv))
    return CT_EXIT_USAGE;
  if (interactive)
    client->interactive = TRUE;

  if (stop != NULL)
    {
      if (argc > 1)
        return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                       argv[1]);
      if (duration != NULL)
        return ct_command_usage_error (
            command, _ ("--for and --stop cannot be used together"));
      if (!g_ascii_string_to_unsigned (stop, 10, 1, G_MAXUINT32, &id, NULL))
        return ct_command_usage_error (
            command, _ ("“%s” is not a filter ID (a number “trace” printed)"),
            stop);
    }
  else if (argc == 2 && is_mode_word (argv[1], &mode))
    {
      if (duration != NULL)
        return ct_command_usage_error (
            command, _ ("--for applies to a filter, not to the mode “%s”"),
            argv[1]);
    }
  else if (argc >= 2)
    {
      filter = g_strjoinv (" ", argv + 1);
      if (duration != NULL && !parse_duration (duration, &seconds))
        return ct_command_usage_error (
            command,
            /* Translators: --for's value was not a duration. */
            _ ("“%s” is not a duration from 1s to 1d (examples: 60s, 5m, "
               "2h)"),
            duration);
    }
  else if (duration != NULL)
    return ct_command_usage_error (command,
                                   _ ("--for needs a filter to trace"));

  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;
  if (stop != NULL)
    return stop_filter (client, (guint32)id);
  if (mode != NULL)
    return set_mode (client, mode);
  if (filter != NULL)
    return trace_filter (client, filter, seconds);
  return show_mode (client);
}

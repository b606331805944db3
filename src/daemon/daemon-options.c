/* daemon-options.c — command-line parsing for conntrackerd. */
#include "daemon-options.h"

#include "config-file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  CtDaemonOptions *opts;
  gboolean foreground;
  char *format;
  char *config;
  gboolean no_state;
  gboolean no_fold;
  gboolean max_flows_set;
  gboolean window_set;
  gboolean set_size_set;
} ParseState;

static gboolean
parse_uint (const char *name, const char *value, guint64 min, guint64 max,
            guint *out, GError **error)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (value, 10, min, max, &v, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid value '%s' for %s: expected a whole number from "
                   "%" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
                   value, name, min, max);
      return FALSE;
    }
  *out = (guint)v;
  return TRUE;
}

static gboolean
on_max_flows (const char *name, const char *value, gpointer data,
              GError **error)
{
  ParseState *st = data;

  st->max_flows_set = TRUE;
  return parse_uint (name, value, CT_MAX_FLOWS_MIN, CT_MAX_FLOWS_MAX,
                     &st->opts->max_flows, error);
}

static gboolean
on_trace_window (const char *name, const char *value, gpointer data,
                 GError **error)
{
  ParseState *st = data;

  st->window_set = TRUE;
  return parse_uint (name, value, CT_TRACE_WINDOW_MIN, CT_TRACE_WINDOW_MAX,
                     &st->opts->trace_window, error);
}

static gboolean
on_trace_set_size (const char *name, const char *value, gpointer data,
                   GError **error)
{
  ParseState *st = data;

  st->set_size_set = TRUE;
  return parse_uint (name, value, CT_TRACE_SET_SIZE_MIN, CT_TRACE_SET_SIZE_MAX,
                     &st->opts->trace_set_size, error);
}

static gboolean
on_rcvbuf (const char *name, const char *value, gpointer data, GError **error)
{
  ParseState *st = data;

  return parse_uint (name, value, 1024, 1u << 30, &st->opts->rcvbuf, error);
}

static gboolean
check_args (char **args, GError **error)
{
  if (args[0] != NULL && args[1] != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "unexpected argument '%s'", args[1]);
      return FALSE;
    }
  return TRUE;
}

/* Values the command line left unset come from the configuration file. */
static gboolean
apply_config (CtDaemonOptions *opts, ParseState *st, gboolean *fold_set,
              GError **error)
{
  const char *path = st->config ? st->config : CT_DEFAULT_CONFIG_FILE;
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  CtConfig config;
  gsize len;

  if (!g_file_get_contents (path, &text, &len, &local))
    {
      /* The default file is optional; one named on the command line not. */
      if (st->config == NULL
          && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (!ct_config_parse (&config, text, len, path, error))
    return FALSE;

  if (config.has_max_flows && !st->max_flows_set)
    opts->max_flows = config.max_flows;
  if (config.has_fold_ports && !*fold_set)
    {
      opts->fold_ports = config.fold_ports;
      *fold_set = TRUE;
    }
  if (config.has_state_file && opts->state_file == NULL && !st->no_state)
    {
      if (config.state_file[0] == '\0')
        st->no_state = TRUE;
      else
        opts->state_file = g_strdup (config.state_file);
    }
  if (config.has_trace_mode && opts->trace_mode == NULL)
    opts->trace_mode = g_strdup (config.trace_mode);
  if (config.has_trace_window && !st->window_set)
    opts->trace_window = config.trace_window;
  if (config.has_trace_set_size && !st->set_size_set)
    opts->trace_set_size = config.trace_set_size;
  ct_config_clear (&config);
  return TRUE;
}

static gboolean
finish (CtDaemonOptions *opts, ParseState *st, GError **error)
{
  gboolean fold_set = st->no_fold;
  const char *state_dir = g_getenv ("STATE_DIRECTORY");

  opts->fold_ports = !st->no_fold;
  if (st->format != NULL
      && !ct_dump_format_from_string (st->format, &opts->format))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid value '%s' for --format: expected legacy or json",
                   st->format);
      return FALSE;
    }
  if (opts->trace_mode != NULL
      && !ct_config_trace_mode_valid (opts->trace_mode))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid value '%s' for --trace-mode: expected off, new or "
                   "all",
                   opts->trace_mode);
      return FALSE;
    }
  if (st->foreground && opts->daemonize)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "-f and -d exclude each other");
      return FALSE;
    }
  if (opts->output != NULL && opts->output[0] == '\0')
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "-o needs a file name or '-'");
      return FALSE;
    }
  if (opts->output != NULL && opts->no_dump)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "-o and --no-dump exclude each other");
      return FALSE;
    }
  if (opts->state_file != NULL && st->no_state)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "--state-file and --no-state exclude each other");
      return FALSE;
    }
  if (opts->daemonize && opts->output != NULL
      && g_str_equal (opts->output, "-"))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "-d detaches from the terminal: '-o -' would "
                           "write nowhere; give a file");
      return FALSE;
    }

  if (!apply_config (opts, st, &fold_set, error))
    return FALSE;

  if (opts->output == NULL && !opts->no_dump)
    opts->output = g_strdup (opts->daemonize ? CT_DEFAULT_DAEMON_OUTPUT : "-");
  if (opts->pidfile == NULL)
    opts->pidfile = g_strdup (CT_DEFAULT_PIDFILE);
  if (opts->state_file == NULL && !st->no_state && state_dir != NULL
      && state_dir[0] == '/')
    opts->state_file = g_build_filename (state_dir, CT_STATE_FILE_NAME, NULL);
  if (opts->trace_mode == NULL)
    opts->trace_mode
        = g_strdup (opts->no_trace ? "off" : CT_DEFAULT_TRACE_MODE);
  if (opts->no_trace)
    g_free (opts->trace_mode), opts->trace_mode = g_strdup ("off");
  return TRUE;
}

gboolean
ct_daemon_options_parse (CtDaemonOptions *opts, int argc, char **argv,
                         GError **error)
{
  ParseState st = { .opts = opts };
  gboolean ok;
  g_auto (GStrv) args = NULL;
  g_autoptr (GOptionContext) ctx = NULL;
  GOptionGroup *group;
  /* clang-format off */
  const GOptionEntry entries[] = {
    { "foreground", 'f', 0, G_OPTION_ARG_NONE, &st.foreground,
      "Run in the foreground (the default)", NULL },
    { "daemon", 'd', 0, G_OPTION_ARG_NONE, &opts->daemonize,
      "Detach, log to syslog, write a pidfile (hosts without systemd)", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &opts->output,
      "Write the dump to FILE ('-' = standard output) on SIGUSR1 and at exit",
      "FILE" },
    { "format", 0, 0, G_OPTION_ARG_STRING, &st.format,
      "Dump format: legacy (default) or json", "FORMAT" },
    { "no-trace", 'c', 0, G_OPTION_ARG_NONE, &opts->no_trace,
      "Do not trace firewall rules; only record flows", NULL },
    { "no-fold", 0, 0, G_OPTION_ARG_NONE, &st.no_fold,
      "Keep source ports as they are (default: ports >= 1024 become 1024)",
      NULL },
    { "max-flows", 0, 0, G_OPTION_ARG_CALLBACK, (gpointer) on_max_flows,
      "Keep at most N flows, evicting the least recently seen (default "
      G_STRINGIFY (CT_DEFAULT_MAX_FLOWS) ")", "N" },
    { "pidfile", 'p', 0, G_OPTION_ARG_FILENAME, &opts->pidfile,
      "Pidfile for -d (default " CT_DEFAULT_PIDFILE ")", "FILE" },
    { "no-bus", 0, 0, G_OPTION_ARG_NONE, &opts->no_bus,
      "Do not serve org.conntracker.Flows on the system bus", NULL },
    { "listen", 0, 0, G_OPTION_ARG_FILENAME, &opts->listen,
      "Also serve org.conntracker.Flows peer-to-peer on a Unix socket at PATH "
      "(systemd passes conntrackerd.socket by itself)", "PATH" },
    { "no-dump", 0, 0, G_OPTION_ARG_NONE, &opts->no_dump,
      "Write no dump file (the D-Bus API serves the flows)", NULL },
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &st.config,
      "Configuration file (default " CT_DEFAULT_CONFIG_FILE ", if present)",
      "FILE" },
    { "state-file", 0, 0, G_OPTION_ARG_FILENAME, &opts->state_file,
      "Keep flows across restarts in FILE (default: "
      "$STATE_DIRECTORY/" CT_STATE_FILE_NAME " under systemd)", "FILE" },
    { "no-state", 0, 0, G_OPTION_ARG_NONE, &st.no_state,
      "Keep no flows across restarts", NULL },
    { "trace-mode", 0, 0, G_OPTION_ARG_STRING, &opts->trace_mode,
      "What to trace: off, new (each new flow for a while; default) or all",
      "MODE" },
    { "trace-window", 0, 0, G_OPTION_ARG_CALLBACK, (gpointer) on_trace_window,
      "Seconds a new flow stays traced (default "
      G_STRINGIFY (CT_DEFAULT_TRACE_WINDOW) ")", "SECONDS" },
    { "trace-set-size", 0, 0, G_OPTION_ARG_CALLBACK,
      (gpointer) on_trace_set_size,
      "Most flows the tracer follows at once (default "
      G_STRINGIFY (CT_DEFAULT_TRACE_SET_SIZE) ")", "N" },
    { "rcvbuf", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_CALLBACK,
      (gpointer) on_rcvbuf,
      "Fix the event socket buffer at BYTES (for tests)", "BYTES" },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &opts->version,
      "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL
  };
  /* clang-format on */

  memset (opts, 0, sizeof *opts);
  opts->max_flows = CT_DEFAULT_MAX_FLOWS;
  opts->trace_window = CT_DEFAULT_TRACE_WINDOW;
  opts->trace_set_size = CT_DEFAULT_TRACE_SET_SIZE;

  ctx = g_option_context_new (NULL);
  g_option_context_set_summary (
      ctx, "Record the flows the kernel's connection tracking sees.");
  group = g_option_group_new ("conntrackerd", "", "", &st, NULL);
  g_option_group_add_entries (group, entries);
  g_option_context_set_main_group (ctx, group);

  /* GOption edits the vector it gets; parse a copy we own (the _strv
   * variant frees what it removes). */
  args = g_new0 (char *, (gsize)argc + 1);
  for (int i = 0; i < argc; i++)
    args[i] = g_strdup (argv[i]);
  ok = g_option_context_parse_strv (ctx, &args, error)
       && check_args (args, error) && finish (opts, &st, error);
  g_free (st.format);
  g_free (st.config);
  return ok;
}

void
ct_daemon_options_clear (CtDaemonOptions *opts)
{
  g_clear_pointer (&opts->output, g_free);
  g_clear_pointer (&opts->pidfile, g_free);
  g_clear_pointer (&opts->state_file, g_free);
  g_clear_pointer (&opts->listen, g_free);
  g_clear_pointer (&opts->trace_mode, g_free);
}

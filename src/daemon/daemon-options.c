/* daemon-options.c — command-line parsing for conntrackerd. */
#include "daemon-options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  CtDaemonOptions *opts;
  gboolean foreground;
  char *format;
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

  return parse_uint (name, value, 1, 100000000, &st->opts->max_flows, error);
}

static gboolean
on_rcvbuf (const char *name, const char *value, gpointer data, GError **error)
{
  ParseState *st = data;

  return parse_uint (name, value, 1024, 1u << 30, &st->opts->rcvbuf, error);
}

gboolean
ct_daemon_options_parse (CtDaemonOptions *opts, int argc, char **argv,
                         GError **error)
{
  ParseState st = { opts, FALSE, NULL };
  gboolean no_fold = FALSE;
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
    { "no-fold", 0, 0, G_OPTION_ARG_NONE, &no_fold,
      "Keep source ports as they are (default: ports >= 1024 become 1024)",
      NULL },
    { "max-flows", 0, 0, G_OPTION_ARG_CALLBACK, (gpointer) on_max_flows,
      "Keep at most N flows, evicting the least recently seen (default "
      G_STRINGIFY (CT_DEFAULT_MAX_FLOWS) ")", "N" },
    { "pidfile", 'p', 0, G_OPTION_ARG_FILENAME, &opts->pidfile,
      "Pidfile for -d (default " CT_DEFAULT_PIDFILE ")", "FILE" },
    { "no-bus", 0, 0, G_OPTION_ARG_NONE, &opts->no_bus,
      "Do not serve org.conntracker.Flows on the system bus", NULL },
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
  if (!g_option_context_parse_strv (ctx, &args, error))
    {
      g_free (st.format);
      return FALSE;
    }
  if (args[0] != NULL && args[1] != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "unexpected argument '%s'", args[1]);
      g_free (st.format);
      return FALSE;
    }

  opts->fold_ports = !no_fold;
  if (st.format != NULL
      && !ct_dump_format_from_string (st.format, &opts->format))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid value '%s' for --format: expected legacy or json",
                   st.format);
      g_free (st.format);
      return FALSE;
    }
  g_free (st.format);

  if (st.foreground && opts->daemonize)
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
  if (opts->daemonize && opts->output != NULL
      && g_str_equal (opts->output, "-"))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "-d detaches from the terminal: '-o -' would "
                           "write nowhere; give a file");
      return FALSE;
    }
  if (opts->output == NULL)
    opts->output = g_strdup (opts->daemonize ? CT_DEFAULT_DAEMON_OUTPUT : "-");
  if (opts->pidfile == NULL)
    opts->pidfile = g_strdup (CT_DEFAULT_PIDFILE);
  return TRUE;
}

void
ct_daemon_options_clear (CtDaemonOptions *opts)
{
  g_clear_pointer (&opts->output, g_free);
  g_clear_pointer (&opts->pidfile, g_free);
}

/* conntrackerctl.c — the command line client of conntrackerd: global
 * options, the command table, and per-command option parsing. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conntrackerctl.h"
#include "filter.h"

static const CtCommand commands[] = {
  { "status", ct_cmd_status, N_ ("Show the daemon's version and counters") },
  { "list", ct_cmd_list, N_ ("List flows as a table or JSON lines") },
  { "dump", ct_cmd_dump, N_ ("Write every matching flow to standard output") },
  { "watch", ct_cmd_watch, N_ ("Print flows as they appear, change and go") },
  { "show", ct_cmd_show, N_ ("Show one flow and the rules it passed") },
  { "reset", ct_cmd_reset, N_ ("Forget every recorded flow") },
  { "trace", ct_cmd_trace,
    N_ ("Show or change which flows the firewall rules are traced for") },
};

static char *
describe_commands (void)
{
  GString *out = g_string_new (_ ("Commands:"));
  gsize width = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    width = MAX (width, strlen (commands[i].name));
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (out, "\n  %-*s  %s", (int)width, commands[i].name,
                            _ (commands[i].summary));
  return g_string_free (out, FALSE);
}

static void
print_hint (const char *command)
{
  g_autofree char *help
      = command != NULL ? g_strdup_printf ("conntrackerctl %s --help", command)
                        : g_strdup ("conntrackerctl --help");

  /* Translators: %s is a command line such as "conntrackerctl --help". */
  g_printerr (_ ("Try “%s” for more information."), help);
  g_printerr ("\n");
}

CtExit
ct_command_usage_error (const CtCommand *command, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  ct_print_error ("%s", message);
  print_hint (command != NULL ? command->name : NULL);
  return CT_EXIT_USAGE;
}

gboolean
ct_command_parse_options (const CtCommand *command, const GOptionEntry *entries,
                          const char *parameters, int *argc, char ***argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (parameters);
  g_autoptr (GError) error = NULL;
  g_autofree char *prgname
      = g_strdup_printf ("conntrackerctl %s", command->name);

  /* GOption's "Usage:" line names the program by g_get_prgname. */
  g_set_prgname (prgname);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _ (command->summary));
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      ct_command_usage_error (command, "%s", error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
ct_command_check_filter (const char *filter)
{
  g_autoptr (CtFilter) parsed = NULL;
  g_autoptr (GError) error = NULL;

  if (filter == NULL)
    return TRUE;
  parsed = ct_filter_parse (filter, &error);
  if (parsed != NULL)
    return TRUE;
  /* Translators: the detail is the parser's "at column N: …". */
  ct_print_error (_ ("invalid filter: %s"), error->message);
  g_printerr ("%s\n", _ ("See “FILTERS” in conntrackerctl(1)."));
  return FALSE;
}

/* A pipe whose reader is gone polls as an error. */
static gboolean
stdout_reader_gone (void)
{
  struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };

  return poll (&pfd, 1, 0) == 1 && (pfd.revents & POLLERR) != 0;
}

gboolean
ct_flush_stdout (CtExit *status)
{
  int error;

  errno = 0;
  if (fflush (stdout) == 0 && !ferror (stdout))
    return TRUE;
  error = errno;
  /* g_print flushes after each call, so an earlier failure may have left
   * only the error flag behind, without errno. */
  if (error == EPIPE || stdout_reader_gone ())
    {
      *status = CT_EXIT_OK;
      return FALSE;
    }
  ct_print_error (_ ("cannot write to standard output: %s"),
                  g_strerror (error != 0 ? error : EIO));
  *status = CT_EXIT_FAILURE;
  return FALSE;
}

static const CtCommand *
find_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

int
main (int argc, char **argv)
{
  gboolean use_system = FALSE;
  gboolean version = FALSE;
  g_autofree char *address = NULL;
  const GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &use_system,
      N_ ("Talk to conntrackerd on the system bus (the default)"), NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &address,
      N_ ("Talk to conntrackerd at a peer-to-peer D-Bus address"),
      N_ ("ADDRESS") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_ ("Print the version and exit"), NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *summary = NULL;
  const char *localedir;
  const CtCommand *command;
  CtClient client = { 0 };
  CtExit status;

  setlocale (LC_ALL, "");
  /* For tests only: the translations of an uninstalled build tree. */
  localedir = g_getenv ("CONNTRACKERCTL_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("conntrackerctl");

  /* Translators: the tail of the "Usage:" line. */
  context = g_option_context_new (_ ("COMMAND [OPTION…] [ARGUMENT…]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  /* Stop at the command: what follows it belongs to the command. */
  g_option_context_set_strict_posix (context, TRUE);
  summary = describe_commands ();
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (
      context, _ ("“conntrackerctl COMMAND --help” shows a command's options. "
                  "conntrackerctl(1) describes filters, sort keys and exit "
                  "statuses."));
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return ct_command_usage_error (NULL, "%s", error->message);

  if (version)
    {
      g_print ("conntrackerctl %s\n", PACKAGE_VERSION);
      return CT_EXIT_OK;
    }
  if (use_system && address != NULL)
    return ct_command_usage_error (
        NULL, _ ("--system and --address cannot be used together"));
  if (argc < 2)
    return ct_command_usage_error (NULL, _ ("no command given"));
  command = find_command (argv[1]);
  if (command == NULL)
    return ct_command_usage_error (NULL, _ ("unknown command “%s”"), argv[1]);

  client.address = g_steal_pointer (&address);
  client.interactive = isatty (STDIN_FILENO);
  status = command->run (&client, command, argc - 1, argv + 1);

  g_clear_object (&client.connection);
  g_free (client.address);
  if (status == CT_EXIT_OK)
    ct_flush_stdout (&status);
  return status;
}

/* conntrackerctl.h — what the conntrackerctl subcommands share: their entry
 * points, the command table's shape and per-command option parsing. */
#pragma once

#include <glib/gi18n.h>

#include "bus-client.h"

G_BEGIN_DECLS

typedef struct _CtCommand CtCommand;

/* argv[0] is the command's name; the global options are gone. */
typedef CtExit (*CtCommandFunc) (CtClient *client, const CtCommand *command,
                                 int argc, char **argv);

struct _CtCommand
{
  const char *name;
  CtCommandFunc run;
  const char *summary; /* N_(): one line for --help */
};

/* Parses a command's options; parameters is the usage line's tail
 * ("ID"). Prints the error and returns FALSE on bad usage. */
gboolean ct_command_parse_options (const CtCommand *command,
                                   const GOptionEntry *entries,
                                   const char *parameters, int *argc,
                                   char ***argv);

/* Prints a usage error with the --help hint; returns CT_EXIT_USAGE. */
CtExit ct_command_usage_error (const CtCommand *command, const char *format,
                               ...) G_GNUC_PRINTF (2, 3);

/* Checks --filter text before any call, so the column of a mistake shows up
 * at once, daemon or not. Returns FALSE after printing the error. */
gboolean ct_command_check_filter (const char *filter);

/* Flushes stdout. FALSE when it cannot be written any more: *status is
 * then CT_EXIT_OK if its reader went away (as in `| head`), else
 * CT_EXIT_FAILURE after a message. */
gboolean ct_flush_stdout (CtExit *status);

CtExit ct_cmd_status (CtClient *client, const CtCommand *command, int argc,
                      char **argv);
CtExit ct_cmd_list (CtClient *client, const CtCommand *command, int argc,
                    char **argv);
CtExit ct_cmd_dump (CtClient *client, const CtCommand *command, int argc,
                    char **argv);
CtExit ct_cmd_watch (CtClient *client, const CtCommand *command, int argc,
                     char **argv);
CtExit ct_cmd_show (CtClient *client, const CtCommand *command, int argc,
                    char **argv);
CtExit ct_cmd_reset (CtClient *client, const CtCommand *command, int argc,
                     char **argv);
CtExit ct_cmd_trace (CtClient *client, const CtCommand *command, int argc,
                     char **argv);

G_END_DECLS

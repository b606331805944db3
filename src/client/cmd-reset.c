/* cmd-reset.c — `conntrackerctl reset`: make the daemon forget every flow. */
#include "config.h"

#include "conntrackerctl.h"

CtExit
ct_cmd_reset (CtClient *client, const CtCommand *command, int argc, char **argv)
{
  gboolean interactive = FALSE;
  const GOptionEntry entries[] = {
    { "interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
      N_ ("Allow a password prompt even when standard input is not a "
          "terminal"),
      NULL },
    { NULL },
  };
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  CtExit status;

  if (!ct_command_parse_options (command, entries, NULL, &argc, &argv))
    return CT_EXIT_USAGE;
  if (argc > 1)
    return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                   argv[1]);
  if (interactive)
    client->interactive = TRUE;

  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;
  reply = ct_client_call (client, "Reset", NULL, G_VARIANT_TYPE_UNIT, &error);
  if (reply == NULL)
    return ct_client_report_error (client, error);
  return CT_EXIT_OK;
}

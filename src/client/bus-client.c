/* bus-client.c — the connection to conntrackerd and the meaning of its
 * failures: every error a user can see is classified here, once. */
#include "config.h"

#include "bus-client.h"

#include <glib/gi18n.h>
#include <stdio.h>

/* Remote errors by D-Bus name: this works whether or not the CT_DBUS_ERROR
 * domain is registered in this process. */
static const struct
{
  const char *name; /* a full name, or a prefix ending in '.' */
  CtExit status;
} remote_errors[] = {
  { "org.conntracker.Error.InvalidQuery", CT_EXIT_USAGE },
  { "org.conntracker.Error.NotAuthorized", CT_EXIT_DENIED },
  { "org.conntracker.Error.NoSuchFlow", CT_EXIT_NO_SUCH_FLOW },
  { "org.freedesktop.DBus.Error.AccessDenied", CT_EXIT_DENIED },
  { "org.freedesktop.DBus.Error.AuthFailed", CT_EXIT_DENIED },
  { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
    CT_EXIT_DENIED },
  { "org.freedesktop.DBus.Error.ServiceUnknown", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.NameHasNoOwner", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.NoServer", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.NoReply", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.Disconnected", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.Timeout", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.TimedOut", CT_EXIT_UNREACHABLE },
  { "org.freedesktop.DBus.Error.Spawn.", CT_EXIT_UNREACHABLE },
  /* Bus activation through systemd: unit missing, masked, failed. */
  { "org.freedesktop.systemd1.", CT_EXIT_UNREACHABLE },
};

static CtExit
status_for_remote_error (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (remote_errors); i++)
    {
      const char *known = remote_errors[i].name;

      if (g_str_has_suffix (known, ".") ? g_str_has_prefix (name, known)
                                        : g_str_equal (name, known))
        return remote_errors[i].status;
    }
  return CT_EXIT_FAILURE;
}

CtExit
ct_exit_status_for_error (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  if (name != NULL)
    return status_for_remote_error (name);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return CT_EXIT_DENIED;
  /* Local failures of the transport: the socket is gone, refused, closed
   * under us, or the daemon did not answer in time. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE))
    return CT_EXIT_UNREACHABLE;
  return CT_EXIT_FAILURE;
}

static void
print_prefixed (const char *prefix, const char *format, va_list ap)
{
  g_autofree char *message = g_strdup_vprintf (format, ap);

  /* g_printerr converts to the locale's charset. */
  g_printerr ("conntrackerctl: %s%s\n", prefix, message);
}

void
ct_print_error (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  print_prefixed ("", format, ap);
  va_end (ap);
}

void
ct_print_warning (const char *format, ...)
{
  g_autofree char *prefix = NULL;
  va_list ap;

  /* Translators: the prefix of warnings, "conntrackerctl: warning: …". */
  prefix = g_strdup_printf ("%s ", _ ("warning:"));
  va_start (ap, format);
  print_prefixed (prefix, format, ap);
  va_end (ap);
}

CtExit
ct_client_connect (CtClient *client)
{
  g_autoptr (GError) error = NULL;
  CtExit status;

  if (client->address != NULL)
    {
      /* A malformed address is a usage error, not an unreachable daemon. */
      if (!g_dbus_is_supported_address (client->address, &error))
        {
          ct_print_error (_ ("invalid D-Bus address “%s”: %s"), client->address,
                          error->message);
          return CT_EXIT_USAGE;
        }
      client->connection = g_dbus_connection_new_for_address_sync (
          client->address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
          NULL, &error);
    }
  else
    client->connection = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);

  if (client->connection == NULL)
    {
      status = ct_exit_status_for_error (error);
      if (status != CT_EXIT_DENIED)
        status = CT_EXIT_UNREACHABLE;
      if (client->address != NULL)
        ct_print_error (_ ("cannot connect to conntrackerd at %s: %s"),
                        client->address, error->message);
      else
        ct_print_error (_ ("cannot connect to the system bus: %s"),
                        error->message);
      return status;
    }
  /* We report a lost connection ourselves (watch), rather than being
   * killed with SIGTERM. */
  g_dbus_connection_set_exit_on_close (client->connection, FALSE);
  return CT_EXIT_OK;
}

const char *
ct_client_bus_name (const CtClient *client)
{
  return client->address != NULL ? NULL : CT_BUS_NAME;
}

static GDBusCallFlags
call_flags (const CtClient *client)
{
  return client->interactive ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION
                             : G_DBUS_CALL_FLAGS_NONE;
}

/* A person typing a password takes longer than the default 25 s. */
static int
call_timeout (const CtClient *client)
{
  return client->interactive ? G_MAXINT : -1;
}

GVariant *
ct_client_call (CtClient *client, const char *method, GVariant *parameters,
                const GVariantType *reply_type, GError **error)
{
  return g_dbus_connection_call_sync (
      client->connection, ct_client_bus_name (client), CT_OBJECT_PATH,
      CT_INTERFACE, method, parameters, reply_type, call_flags (client),
      call_timeout (client), NULL, error);
}

void
ct_client_call_with_fds (CtClient *client, const char *method,
                         GVariant *parameters, const GVariantType *reply_type,
                         GUnixFDList *fd_list, GAsyncReadyCallback done,
                         gpointer data)
{
  /* No timeout: a dump of a big store takes as long as it takes, and the
   * daemon reports a reader that went away. */
  g_dbus_connection_call_with_unix_fd_list (
      client->connection, ct_client_bus_name (client), CT_OBJECT_PATH,
      CT_INTERFACE, method, parameters, reply_type, call_flags (client),
      G_MAXINT, fd_list, NULL, done, data);
}

CtExit
ct_client_report_error (const CtClient *client, const GError *error)
{
  CtExit status = ct_exit_status_for_error (error);
  g_autoptr (GError) stripped = g_error_copy (error);

  g_dbus_error_strip_remote_error (stripped);
  switch (status)
    {
    case CT_EXIT_UNREACHABLE:
      if (client->address != NULL)
        ct_print_error (_ ("conntrackerd at %s is not reachable: %s"),
                        client->address, stripped->message);
      else
        ct_print_error (_ ("conntrackerd is not running or not reachable: %s"),
                        stripped->message);
      break;
    case CT_EXIT_DENIED:
      ct_print_error (_ ("not authorized: %s"), stripped->message);
      break;
    case CT_EXIT_USAGE:
      ct_print_error (_ ("invalid query: %s"), stripped->message);
      break;
    case CT_EXIT_OK:
    case CT_EXIT_FAILURE:
    case CT_EXIT_NO_SUCH_FLOW:
    default:
      ct_print_error ("%s", stripped->message);
      break;
    }
  return status == CT_EXIT_OK ? CT_EXIT_FAILURE : status;
}

/* bus-client.h — conntrackerctl's link to conntrackerd: the connection
 * (system bus or peer-to-peer), method calls, and what a failure means. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CT_BUS_NAME    "org.conntracker"
#define CT_OBJECT_PATH "/org/conntracker/Flows"
#define CT_INTERFACE   "org.conntracker.Flows"

/* The exit statuses conntrackerctl(1) documents. */
typedef enum
{
  CT_EXIT_OK = 0,
  CT_EXIT_FAILURE = 1,
  CT_EXIT_USAGE = 2,       /* bad options, bad filter, InvalidQuery */
  CT_EXIT_UNREACHABLE = 3, /* no bus, daemon not running or not answering */
  CT_EXIT_DENIED = 4,      /* NotAuthorized, AccessDenied */
  CT_EXIT_NO_SUCH_FLOW = 5,
} CtExit;

typedef struct
{
  char *address;               /* --address, or NULL for the system bus */
  GDBusConnection *connection; /* NULL until ct_client_connect */
  /* May the daemon start a polkit password prompt? The user must be able to
   * answer one, so this is on when stdin is a terminal. */
  gboolean interactive;
} CtClient;

/* Connects, or prints why not and returns the exit status that means. */
CtExit ct_client_connect (CtClient *client);

/* The bus name to call: NULL on a peer-to-peer connection. */
const char *ct_client_bus_name (const CtClient *client);

/* Calls a method of org.conntracker.Flows with the flags and timeout that
 * interactive authorization needs. reply_type is checked. */
GVariant *ct_client_call (CtClient *client, const char *method,
                          GVariant *parameters, const GVariantType *reply_type,
                          GError **error);

/* The same, asynchronously, passing file descriptors. */
void ct_client_call_with_fds (CtClient *client, const char *method,
                              GVariant *parameters,
                              const GVariantType *reply_type,
                              GUnixFDList *fd_list, GAsyncReadyCallback done,
                              gpointer data);

/* What a GError from connecting or calling means for the exit status. */
CtExit ct_exit_status_for_error (const GError *error);

/* Prints a failed call as "conntrackerctl: …" and returns its exit status. */
CtExit ct_client_report_error (const CtClient *client, const GError *error);

/* "conntrackerctl: " + the message, on stderr. */
void ct_print_error (const char *format, ...) G_GNUC_PRINTF (1, 2);
void ct_print_warning (const char *format, ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS

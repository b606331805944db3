/* ct-error.h — the org.conntracker.Error.* D-Bus errors as a GError domain
 * (CT_DBUS_ERROR), shared by the daemon and the client; no other errors. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CT_DBUS_ERROR (ct_dbus_error_quark ())

/* Only ever add values at the end: the D-Bus names are the contract. */
typedef enum
{
  CT_DBUS_ERROR_INVALID_QUERY,  /* org.conntracker.Error.InvalidQuery */
  CT_DBUS_ERROR_NOT_AUTHORIZED, /* org.conntracker.Error.NotAuthorized */
  CT_DBUS_ERROR_NO_SUCH_FLOW,   /* org.conntracker.Error.NoSuchFlow */
  CT_DBUS_ERROR_LIMIT_EXCEEDED, /* org.conntracker.Error.LimitExceeded */
  CT_DBUS_ERROR_FAILED,         /* org.conntracker.Error.Failed */
} CtDBusError;

#define CT_DBUS_ERROR_N_ERRORS (CT_DBUS_ERROR_FAILED + 1)

/* Registers the domain with GDBus on first use, so that errors cross the
 * bus in both directions: a CT_DBUS_ERROR returned by the daemon arrives
 * at the client as the same domain and code (strip the remote prefix from
 * the message with g_dbus_error_strip_remote_error). */
GQuark ct_dbus_error_quark (void);

G_END_DECLS

/* ct-error.c — the CT_DBUS_ERROR domain and its D-Bus error names. */
#include "ct-error.h"

static const GDBusErrorEntry ct_dbus_error_entries[] = {
  { CT_DBUS_ERROR_INVALID_QUERY, "org.conntracker.Error.InvalidQuery" },
  { CT_DBUS_ERROR_NOT_AUTHORIZED, "org.conntracker.Error.NotAuthorized" },
  { CT_DBUS_ERROR_NO_SUCH_FLOW, "org.conntracker.Error.NoSuchFlow" },
  { CT_DBUS_ERROR_LIMIT_EXCEEDED, "org.conntracker.Error.LimitExceeded" },
  { CT_DBUS_ERROR_FAILED, "org.conntracker.Error.Failed" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (ct_dbus_error_entries)
                 == CT_DBUS_ERROR_N_ERRORS);

GQuark
ct_dbus_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("ct-dbus-error-quark", &quark,
                                      ct_dbus_error_entries,
                                      G_N_ELEMENTS (ct_dbus_error_entries));
  return (GQuark)quark;
}

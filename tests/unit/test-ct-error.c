/* The CT_DBUS_ERROR domain crosses the bus both ways: each code has its
 * org.conntracker.Error.* name, and a remote error with that name comes
 * back as the same domain and code. */
#include "ct-error.h"

static void
test_names (void)
{
  static const struct
  {
    CtDBusError code;
    const char *name;
  } cases[] = {
    { CT_DBUS_ERROR_INVALID_QUERY, "org.conntracker.Error.InvalidQuery" },
    { CT_DBUS_ERROR_NOT_AUTHORIZED, "org.conntracker.Error.NotAuthorized" },
    { CT_DBUS_ERROR_NO_SUCH_FLOW, "org.conntracker.Error.NoSuchFlow" },
    { CT_DBUS_ERROR_LIMIT_EXCEEDED, "org.conntracker.Error.LimitExceeded" },
    { CT_DBUS_ERROR_FAILED, "org.conntracker.Error.Failed" },
  };

  g_assert_cmpuint (G_N_ELEMENTS (cases), ==, CT_DBUS_ERROR_N_ERRORS);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) local
          = g_error_new_literal (CT_DBUS_ERROR, cases[i].code, "because");
      g_autofree char *name = g_dbus_error_encode_gerror (local);
      g_autoptr (GError) remote
          = g_dbus_error_new_for_dbus_error (cases[i].name, "because");

      g_assert_cmpstr (name, ==, cases[i].name);
      g_assert_error (remote, CT_DBUS_ERROR, (gint)cases[i].code);
      g_assert_true (g_dbus_error_is_remote_error (remote));
      g_assert_true (g_dbus_error_strip_remote_error (remote));
      g_assert_cmpstr (remote->message, ==, "because");
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ct-error/names", test_names);
  return g_test_run ();
}

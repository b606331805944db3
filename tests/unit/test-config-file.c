/* conntrackerd.conf: every key read, every bad value refused with the
 * file, group and key named. */
#include <string.h>

#include "config-file.h"

static void
test_full (void)
{
  const char *text = "# comment\n[daemon]\nmax-flows = 5000\n"
                     "fold-ports = false\nstate-file = /var/lib/x/s\n"
                     "[trace]\nmode = all\nwindow = 60\nset-size = 1024\n";
  g_autoptr (GError) error = NULL;
  CtConfig c;

  g_assert_true (ct_config_parse (&c, text, strlen (text), "t.conf", &error));
  g_assert_no_error (error);
  g_assert_true (c.has_max_flows);
  g_assert_cmpuint (c.max_flows, ==, 5000);
  g_assert_true (c.has_fold_ports);
  g_assert_false (c.fold_ports);
  g_assert_cmpstr (c.state_file, ==, "/var/lib/x/s");
  g_assert_cmpstr (c.trace_mode, ==, "all");
  g_assert_cmpuint (c.trace_window, ==, 60);
  g_assert_cmpuint (c.trace_set_size, ==, 1024);
  ct_config_clear (&c);

  g_assert_true (ct_config_parse (&c, "", 0, "empty.conf", &error));
  g_assert_false (c.has_max_flows || c.has_fold_ports || c.has_trace_mode);
  ct_config_clear (&c);
}

static void
test_errors (void)
{
  static const struct
  {
    const char *text;
    const char *needle;
  } cases[] = {
    { "[daemon]\nmax-flows = 0\n", "t.conf: [daemon] max-flows = '0'" },
    { "[daemon]\nmax-flows = -1\n", "max-flows = '-1'" },
    { "[daemon]\nmax-flows = 12abc\n", "expected a whole number" },
    { "[daemon]\nfold-ports = maybe\n", "true or false" },
    { "[daemon]\nstate-file = relative/path\n", "an absolute path" },
    { "[trace]\nmode = sometimes\n", "off, new or all" },
    { "[trace]\nwindow = 0\n", "[trace] window" },
    { "[trace]\nset-size = 99999999999\n", "[trace] set-size" },
    { "[daemon]\nmaxflows = 3\n", "unknown key 'maxflows' in [daemon]" },
    { "[Daemon]\n", "unknown group [Daemon]" },
    { "max-flows = 3\n", "t.conf" },
    { "[daemon\n", "t.conf" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      CtConfig c;

      g_assert_false (ct_config_parse (
          &c, cases[i].text, strlen (cases[i].text), "t.conf", &error));
      g_assert_nonnull (error);
      if (strstr (error->message, cases[i].needle) == NULL)
        g_error ("%s: '%s' lacks '%s'", cases[i].text, error->message,
                 cases[i].needle);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config-file/full", test_full);
  g_test_add_func ("/config-file/errors", test_errors);
  return g_test_run ();
}

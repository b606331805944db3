/* conntrackerd's command line: the legacy options, defaults, and clear
 * errors for anything wrong (the daemon turns them into exit status 2). */
#include <gio/gio.h>

#include "daemon-options.h"

static gboolean
parse (CtDaemonOptions *opts, GError **error, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  va_list ap;
  const char *arg;

  g_ptr_array_add (argv, (gpointer) "conntrackerd");
  va_start (ap, error);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  return ct_daemon_options_parse (opts, (int)argv->len - 1,
                                  (char **)argv->pdata, error);
}

static void
test_defaults (void)
{
  CtDaemonOptions o;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (&o, &error, NULL));
  g_assert_no_error (error);
  g_assert_false (o.daemonize);
  g_assert_cmpstr (o.output, ==, "-");
  g_assert_cmpint (o.format, ==, CT_DUMP_LEGACY);
  g_assert_true (o.fold_ports);
  g_assert_cmpuint (o.max_flows, ==, CT_DEFAULT_MAX_FLOWS);
  ct_daemon_options_clear (&o);
}

static void
test_legacy_options (void)
{
  CtDaemonOptions o;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (&o, &error, "-f", "-c", "-o", "/tmp/x.log", NULL));
  g_assert_true (o.no_trace);
  g_assert_cmpstr (o.output, ==, "/tmp/x.log");
  ct_daemon_options_clear (&o);

  g_assert_true (parse (&o, &error, "-d", NULL));
  g_assert_true (o.daemonize);
  g_assert_cmpstr (o.output, ==, CT_DEFAULT_DAEMON_OUTPUT);
  g_assert_cmpstr (o.pidfile, ==, CT_DEFAULT_PIDFILE);
  ct_daemon_options_clear (&o);

  g_assert_true (parse (&o, &error, "--format=json", "--no-fold", "--max-flows",
                        "5", "--rcvbuf", "4096", NULL));
  g_assert_cmpint (o.format, ==, CT_DUMP_JSON);
  g_assert_false (o.fold_ports);
  g_assert_cmpuint (o.max_flows, ==, 5);
  g_assert_cmpuint (o.rcvbuf, ==, 4096);
  ct_daemon_options_clear (&o);
}

static void
expect_error (const char *needle, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  CtDaemonOptions o;
  va_list ap;
  const char *arg;

  g_ptr_array_add (argv, (gpointer) "conntrackerd");
  va_start (ap, needle);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  g_assert_false (ct_daemon_options_parse (&o, (int)argv->len - 1,
                                           (char **)argv->pdata, &error));
  g_assert_nonnull (error);
  if (strstr (error->message, needle) == NULL)
    g_error ("error '%s' does not mention '%s'", error->message, needle);
  ct_daemon_options_clear (&o);
}

static void
test_errors (void)
{
  expect_error ("--bogus", "--bogus", NULL);
  expect_error ("-x", "-x", NULL);
  expect_error ("--max-flows", "--max-flows", "many", NULL);
  expect_error ("--max-flows", "--max-flows", "0", NULL);
  expect_error ("--max-flows", "--max-flows", "-3", NULL);
  expect_error ("--format", "--format", "xml", NULL);
  expect_error ("exclude", "-f", "-d", NULL);
  expect_error ("-o", "-o", "", NULL);
  expect_error ("'-o -'", "-d", "-o", "-", NULL);
  expect_error ("unexpected argument 'extra'", "extra", NULL);
  expect_error ("--rcvbuf", "--rcvbuf", "12", NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon-options/defaults", test_defaults);
  g_test_add_func ("/daemon-options/legacy", test_legacy_options);
  g_test_add_func ("/daemon-options/errors", test_errors);
  return g_test_run ();
}

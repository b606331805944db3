/* /proc/net/netfilter/nf_log lines: which logger a family is bound to. The
 * text below is what Linux 6.18 printed in a namespace, before and while
 * nfnetlink_log was bound for IPv4 and IPv6. */
#include <string.h>

#include "nf-log.h"

static const char before[] = " 0 NONE (nfnetlink_log)\n"
                             " 1 NONE (nfnetlink_log)\n"
                             " 2 nf_log_ipv4 (nf_log_ipv4,nfnetlink_log)\n"
                             " 3 nf_log_arp (nf_log_arp,nfnetlink_log)\n"
                             " 4 NONE (nfnetlink_log)\n"
                             " 5 nf_log_netdev (nf_log_netdev,nfnetlink_log)\n"
                             " 6 NONE (nfnetlink_log)\n"
                             " 7 nf_log_bridge (nf_log_bridge,nfnetlink_log)\n"
                             " 8 NONE (nfnetlink_log)\n"
                             " 9 NONE (nfnetlink_log)\n"
                             "10 nf_log_ipv6 (nf_log_ipv6,nfnetlink_log)\n";

static const char bound[] = " 2 nfnetlink_log (nf_log_ipv4,nfnetlink_log)\n"
                            "10 nfnetlink_log (nf_log_ipv6,nfnetlink_log)\n";

static char *
binding (const char *text, guint pf)
{
  char name[CT_NF_LOG_NAME_LEN];

  if (!ct_nf_log_parse_binding (text, strlen (text), pf, name, sizeof name))
    return NULL;
  return g_strdup (name);
}

static void
test_recorded (void)
{
  static const struct
  {
    const char *text;
    guint pf;
    const char *want;
  } cases[] = {
    { before, 2, "nf_log_ipv4" },
    { before, 10, "nf_log_ipv6" },
    { before, 0, "NONE" },
    { before, 1, "NONE" },
    { before, 5, "nf_log_netdev" },
    { before, 11, NULL },
    { bound, 2, "nfnetlink_log" },
    { bound, 10, "nfnetlink_log" },
    { bound, 0, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = binding (cases[i].text, cases[i].pf);

      g_test_message ("case %u", i);
      g_assert_cmpstr (got, ==, cases[i].want);
    }
}

static void
test_malformed (void)
{
  static const struct
  {
    const char *text;
    guint pf;
    const char *want;
  } cases[] = {
    { "", 2, NULL },
    { "\n\n", 2, NULL },
    { " 2 nf_log_ipv4\n", 2, NULL },                 /* no list */
    { " 2 nf_log_ipv4 (nf_log_ipv4\n", 2, NULL },    /* unterminated */
    { " 2  (nfnetlink_log)\n", 2, NULL },            /* no name */
    { "2 nf_log_ipv4 (x)", 2, "nf_log_ipv4" },       /* no newline at end */
    { "12 nf_log_x (x)\n 2 NONE (x)\n", 2, "NONE" }, /* 12 is not 2 */
    { "12 nf_log_x (x)\n", 1, NULL },
    { " x nf_log_ipv4 (x)\n", 2, NULL },
    { " 2\n", 2, NULL },
    { " 99999999999999999999 NONE (x)\n", 2, NULL },
    { " 2 a(b) (x)\n", 2, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = binding (cases[i].text, cases[i].pf);

      g_test_message ("case %u: %s", i, cases[i].text);
      g_assert_cmpstr (got, ==, cases[i].want);
    }
}

static void
test_name_size (void)
{
  char small[5];

  g_assert_false (ct_nf_log_parse_binding (before, strlen (before), 2, small,
                                           sizeof small));
  g_assert_true (ct_nf_log_parse_binding (before, strlen (before), 0, small,
                                          sizeof small));
  g_assert_cmpstr (small, ==, "NONE");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nf-log/recorded", test_recorded);
  g_test_add_func ("/nf-log/malformed", test_malformed);
  g_test_add_func ("/nf-log/name-size", test_name_size);
  return g_test_run ();
}

/* The legacy dump must match the 2021 tool's format byte for byte. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "flow.h"
#include "legacy-format.h"

static CtFlow *
mk (int family, guint8 proto, const char *src, guint16 sport, const char *dst,
    guint16 dport, gboolean confirmed)
{
  CtFlowKey k = { 0 };
  CtFlow *flow;

  k.family = (guint8)family;
  k.proto = proto;
  g_assert_cmpint (inet_pton (family, src, k.src), ==, 1);
  g_assert_cmpint (inet_pton (family, dst, k.dst), ==, 1);
  k.sport = sport;
  k.dport = dport;
  ct_flow_key_fold (&k);
  flow = ct_flow_new (&k);
  if (confirmed)
    flow->flags |= CT_FLOW_CONFIRMED;
  return flow;
}

static void
test_golden (void)
{
  g_autoptr (GPtrArray) flows
      = g_ptr_array_new_with_free_func ((GDestroyNotify)ct_flow_free);
  g_autofree char *golden = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  CtLegacyWriter writer = { 0 };
  CtFlow *ssh;

  /* Given in scrambled order: the dump must sort them itself. */
  g_ptr_array_add (flows,
                   mk (AF_INET6, IPPROTO_ICMPV6, "fe80::472:eeff:fef8:dbb6",
                       128, "fe80::216:3eff:fe7f:aedd", 0, TRUE));
  g_ptr_array_add (flows, mk (AF_INET, IPPROTO_UDP, "127.0.0.1", 41000,
                              "127.0.0.1", 53, TRUE));
  g_ptr_array_add (flows, mk (AF_INET, IPPROTO_TCP, "10.0.0.10", 50000,
                              "10.0.0.1", 443, TRUE));
  g_ptr_array_add (
      flows, mk (AF_INET, IPPROTO_GRE, "10.0.0.9", 0, "10.0.0.1", 0, FALSE));
  g_ptr_array_add (flows, mk (AF_INET6, IPPROTO_UDP, "fd00::1", 33333,
                              "fd00::2", 8080, FALSE));
  g_ptr_array_add (
      flows, mk (AF_INET, IPPROTO_ICMP, "10.0.0.9", 8, "10.0.0.1", 0, TRUE));
  g_ptr_array_add (flows, mk (AF_INET, IPPROTO_UDP, "0.0.0.0", 68,
                              "255.255.255.255", 67, FALSE));
  g_ptr_array_add (flows, mk (AF_INET6, IPPROTO_TCP, "fe80::472:eeff:fef8:dbb6",
                              35310, "fe80::216:3eff:fe7f:aedd", 22, TRUE));
  ssh = mk (AF_INET, IPPROTO_TCP, "10.0.0.9", 35310, "10.0.0.1", 22, TRUE);
  g_ptr_array_add (flows, ssh);

  /* Hits recorded out of order; the legacy order is table (raw, mangle,
   * nat, filter), chain, type (policy, rule, return), position. */
  ct_flow_add_hit (ssh, "filter", "INPUT", CT_HIT_RETURN, 4, 1, 64);
  ct_flow_add_hit (ssh, "filter", "INPUT", CT_HIT_RULE, 12, 1, 64);
  ct_flow_add_hit (ssh, "mangle", "INPUT", CT_HIT_RULE, 1, 1, 64);
  ct_flow_add_hit (ssh, "filter", "INPUT", CT_HIT_RULE, 3, 1, 64);
  ct_flow_add_hit (ssh, "filter", "INPUT", CT_HIT_POLICY, 1, 1, 64);
  ct_flow_add_hit (ssh, "raw", "PREROUTING", CT_HIT_POLICY, 2, 1, 64);
  ct_flow_add_hit (ssh, "filter", "INPUT", CT_HIT_RULE, 3, 2, 64);

  g_ptr_array_sort (flows, ct_flow_compare_ptr);
  for (guint i = 0; i < flows->len; i++)
    {
      CtFlow *flow = g_ptr_array_index (flows, i);

      ct_flow_sort_hits (flow);
      ct_legacy_append_flow (&writer, out, flow);
    }

  g_file_get_contents (
      g_test_get_filename (G_TEST_DIST, "legacy-golden.txt", NULL), &golden,
      NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (out->str, ==, golden);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/legacy-format/golden", test_golden);
  return g_test_run ();
}

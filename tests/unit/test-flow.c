/* Flow identity: folding and the display order users read the dump in. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "flow.h"

static CtFlowKey
key4 (guint8 proto, const char *src, guint16 sport, const char *dst,
      guint16 dport)
{
  CtFlowKey k = { 0 };

  k.family = AF_INET;
  k.proto = proto;
  g_assert_cmpint (inet_pton (AF_INET, src, k.src), ==, 1);
  g_assert_cmpint (inet_pton (AF_INET, dst, k.dst), ==, 1);
  k.sport = sport;
  k.dport = dport;
  return k;
}

static CtFlowKey
key6 (guint8 proto, const char *src, guint16 sport, const char *dst,
      guint16 dport)
{
  CtFlowKey k = { 0 };

  k.family = AF_INET6;
  k.proto = proto;
  g_assert_cmpint (inet_pton (AF_INET6, src, k.src), ==, 1);
  g_assert_cmpint (inet_pton (AF_INET6, dst, k.dst), ==, 1);
  k.sport = sport;
  k.dport = dport;
  return k;
}

static void
test_fold (void)
{
  CtFlowKey k = key4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 443);
  CtFlowKey low = key4 (IPPROTO_UDP, "10.0.0.1", 1023, "10.0.0.2", 53);
  CtFlowKey edge = key4 (IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 53);
  CtFlowKey icmp = key4 (IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0);
  CtFlowKey gre = key4 (IPPROTO_GRE, "10.0.0.1", 0, "10.0.0.2", 0);

  ct_flow_key_fold (&k);
  g_assert_cmpuint (k.sport, ==, 1024);
  g_assert_cmpuint (k.dport, ==, 443); /* destination ports never fold */
  ct_flow_key_fold (&low);
  g_assert_cmpuint (low.sport, ==, 1023);
  ct_flow_key_fold (&edge);
  g_assert_cmpuint (edge.sport, ==, 1024);

  /* ICMP "ports" are type/code: folding must not touch them. */
  icmp.sport = 2000;
  ct_flow_key_fold (&icmp);
  g_assert_cmpuint (icmp.sport, ==, 2000);
  ct_flow_key_fold (&gre);
  g_assert_cmpuint (gre.sport, ==, 0);

  /* Two connections from different ephemeral ports are one flow. */
  {
    CtFlowKey a = key4 (IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.2", 22);
    CtFlowKey b = key4 (IPPROTO_TCP, "10.0.0.1", 51234, "10.0.0.2", 22);

    ct_flow_key_fold (&a);
    ct_flow_key_fold (&b);
    g_assert_true (ct_flow_key_equal (&a, &b));
    g_assert_cmpuint (ct_flow_key_hash (&a), ==, ct_flow_key_hash (&b));
  }
}

static void
test_order_numeric (void)
{
  /* As strings "10.0.0.10" < "10.0.0.9"; numerically it is the other way. */
  CtFlowKey nine = key4 (IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.1", 80);
  CtFlowKey ten = key4 (IPPROTO_TCP, "10.0.0.10", 1024, "10.0.0.1", 80);
  CtFlowKey big = key4 (IPPROTO_TCP, "192.168.0.1", 1024, "10.0.0.1", 80);
  CtFlowKey dst_a = key4 (IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.2", 80);
  CtFlowKey port_a = key4 (IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.1", 443);
  CtFlowKey sp = key4 (IPPROTO_TCP, "10.0.0.9", 22, "10.0.0.1", 9999);

  g_assert_cmpint (ct_flow_key_compare (&nine, &ten), <, 0);
  g_assert_cmpint (ct_flow_key_compare (&ten, &big), <, 0);
  g_assert_cmpint (ct_flow_key_compare (&nine, &dst_a), <, 0);
  g_assert_cmpint (ct_flow_key_compare (&nine, &port_a), <, 0);
  /* Source port before destination port. */
  g_assert_cmpint (ct_flow_key_compare (&sp, &nine), <, 0);
  g_assert_cmpint (ct_flow_key_compare (&nine, &nine), ==, 0);
}

static void
test_order_families_protocols (void)
{
  CtFlowKey keys[] = {
    key6 (IPPROTO_UDP, "fd00::1", 1024, "fd00::2", 53),
    key6 (IPPROTO_TCP, "fd00::1", 1024, "fd00::2", 22),
    key4 (IPPROTO_GRE, "10.0.0.1", 0, "10.0.0.2", 0),
    key4 (IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0),
    key4 (IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 53),
    key6 (IPPROTO_ICMPV6, "fd00::1", 128, "fd00::2", 0),
    key4 (IPPROTO_TCP, "255.255.255.255", 1024, "10.0.0.2", 22),
    key6 (IPPROTO_TCP, "::1", 1024, "::1", 22),
  };
  const char *expected[] = { "TCPv4", "UDPv4", "ICMPv4", "GREv4",
                             "TCPv6", "TCPv6", "UDPv6",  "ICMPv6" };
  CtFlow *flows[G_N_ELEMENTS (keys)];

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    flows[i] = ct_flow_new (&keys[i]);
  qsort (flows, G_N_ELEMENTS (flows), sizeof flows[0], ct_flow_compare_ptr);
  for (guint i = 0; i < G_N_ELEMENTS (flows); i++)
    {
      g_autofree char *label = ct_flow_legacy_label (&flows[i]->key);

      g_assert_cmpstr (label, ==, expected[i]);
    }
  /* ::1 sorts before fd00::1 within TCPv6. */
  g_assert_cmpuint (flows[4]->key.src[0], ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (flows); i++)
    ct_flow_free (flows[i]);
}

static void
test_hits_merge_and_bound (void)
{
  CtFlowKey k = key4 (IPPROTO_TCP, "10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) flow = ct_flow_new (&k);

  g_assert_true (
      ct_flow_add_hit (flow, "filter", "INPUT", CT_HIT_RULE, 3, 1, 2));
  g_assert_true (
      ct_flow_add_hit (flow, "filter", "INPUT", CT_HIT_RULE, 3, 2, 2));
  g_assert_cmpuint (flow->hits->len, ==, 1);
  g_assert_cmpuint (((CtTraceHit *)flow->hits->pdata[0])->count, ==, 2);
  g_assert_true (
      ct_flow_add_hit (flow, "raw", "PREROUTING", CT_HIT_POLICY, 1, 3, 2));
  /* The bound refuses a third distinct hit but still merges equal ones. */
  g_assert_false (
      ct_flow_add_hit (flow, "nat", "OUTPUT", CT_HIT_RULE, 1, 4, 2));
  g_assert_true (
      ct_flow_add_hit (flow, "raw", "PREROUTING", CT_HIT_POLICY, 1, 5, 2));
  g_assert_cmpuint (flow->hits->len, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/flow/fold", test_fold);
  g_test_add_func ("/flow/order/numeric-addresses", test_order_numeric);
  g_test_add_func ("/flow/order/families-and-protocols",
                   test_order_families_protocols);
  g_test_add_func ("/flow/hits/merge-and-bound", test_hits_merge_and_bound);
  return g_test_run ();
}

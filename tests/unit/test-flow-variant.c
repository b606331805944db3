/* Flow dictionaries: exactly the keys and types the D-Bus contract
 * (introspection/org.conntracker.Flows.xml) documents for each kind of
 * flow, and their JSON line (DumpFlows' "json" format). */
#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "flow-variant.h"

static CtFlow *
flow_new (guint8 family, guint8 proto, const char *src, guint16 sport,
          const char *dst, guint16 dport)
{
  CtFlowKey k = { 0 };
  CtFlow *flow;

  k.family = family;
  k.proto = proto;
  g_assert_cmpint (inet_pton (family, src, k.src), ==, 1);
  g_assert_cmpint (inet_pton (family, dst, k.dst), ==, 1);
  k.sport = sport;
  k.dport = dport;
  flow = ct_flow_new (&k);
  flow->id = 42;
  flow->connections = 3;
  flow->active = 1;
  flow->packets = 10;
  flow->bytes = 1000;
  flow->first_seen = 1700000000000000;
  flow->last_seen = 1700000001000000;
  return flow;
}

/* The dictionary holds exactly these "key:type" entries. */
static void
assert_keys (GVariant *dict, const char *const *expected)
{
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  GVariantIter iter;
  const char *key;
  GVariant *value;
  guint n = g_strv_length ((GStrv)expected);

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    g_ptr_array_add (
        got, g_strdup_printf ("%s:%s", key, g_variant_get_type_string (value)));
  for (guint i = 0; i < n; i++)
    {
      gboolean found = FALSE;

      for (guint j = 0; j < got->len; j++)
        found = found || g_str_equal (expected[i], got->pdata[j]);
      if (!found)
        g_error ("missing %s", expected[i]);
    }
  for (guint j = 0; j < got->len; j++)
    if (!g_strv_contains (expected, got->pdata[j]))
      g_error ("unexpected %s", (char *)got->pdata[j]);
  g_assert_cmpuint (got->len, ==, n);
}

#define COMMON                                                                 \
  "id:t", "family:s", "protocol:s", "protocol-number:y", "src:s", "dst:s",     \
      "confirmed:b", "verdict:s", "connections:t", "active:u", "packets:t",    \
      "bytes:t", "first-seen:x", "last-seen:x"

static const char *
lookup_s (GVariant *dict, const char *key)
{
  const char *s = NULL;

  g_assert_true (g_variant_lookup (dict, key, "&s", &s));
  return s;
}

static void
test_tcp (void)
{
  g_autoptr (CtFlow) flow
      = flow_new (AF_INET, IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.1", 22);
  g_autoptr (GVariant) d = NULL;
  static const char *const keys[] = { COMMON, "sport:q", "dport:q", NULL };
  guint16 port;
  guint64 id;

  flow->flags = CT_FLOW_CONFIRMED;
  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_DEFAULT));
  g_assert_true (g_variant_is_of_type (d, G_VARIANT_TYPE_VARDICT));
  assert_keys (d, keys);
  g_assert_cmpstr (lookup_s (d, "family"), ==, "ipv4");
  g_assert_cmpstr (lookup_s (d, "protocol"), ==, "tcp");
  g_assert_cmpstr (lookup_s (d, "src"), ==, "10.0.0.9");
  g_assert_cmpstr (lookup_s (d, "dst"), ==, "10.0.0.1");
  g_assert_cmpstr (lookup_s (d, "verdict"), ==, "accept");
  g_assert_true (g_variant_lookup (d, "sport", "q", &port));
  g_assert_cmpuint (port, ==, 1024);
  g_assert_true (g_variant_lookup (d, "dport", "q", &port));
  g_assert_cmpuint (port, ==, 22);
  g_assert_true (g_variant_lookup (d, "id", "t", &id));
  g_assert_cmpuint (id, ==, 42);
}

static void
test_icmp (void)
{
  /* ICMP keeps type and code in the key's port fields. */
  g_autoptr (CtFlow) v4
      = flow_new (AF_INET, IPPROTO_ICMP, "10.0.0.9", 8, "10.0.0.1", 0);
  g_autoptr (CtFlow) v6
      = flow_new (AF_INET6, IPPROTO_ICMPV6, "fd00::1", 128, "fd00::2", 0);
  g_autoptr (GVariant) d4 = NULL;
  g_autoptr (GVariant) d6 = NULL;
  static const char *const keys[]
      = { COMMON, "icmp-type:y", "icmp-code:y", NULL };
  guint8 type, code, number;

  d4 = g_variant_ref_sink (ct_flow_to_variant (v4, CT_FLOW_VARIANT_DEFAULT));
  d6 = g_variant_ref_sink (ct_flow_to_variant (v6, CT_FLOW_VARIANT_DEFAULT));
  assert_keys (d4, keys);
  assert_keys (d6, keys);
  g_assert_cmpstr (lookup_s (d4, "protocol"), ==, "icmp");
  g_assert_cmpstr (lookup_s (d6, "protocol"), ==, "icmp");
  g_assert_cmpstr (lookup_s (d6, "family"), ==, "ipv6");
  g_assert_cmpstr (lookup_s (d6, "src"), ==, "fd00::1");
  g_assert_true (g_variant_lookup (d6, "icmp-type", "y", &type));
  g_assert_true (g_variant_lookup (d6, "icmp-code", "y", &code));
  g_assert_true (g_variant_lookup (d6, "protocol-number", "y", &number));
  g_assert_cmpuint (type, ==, 128);
  g_assert_cmpuint (code, ==, 0);
  g_assert_cmpuint (number, ==, 58);
}

static void
test_nat (void)
{
  g_autoptr (CtFlow) flow
      = flow_new (AF_INET, IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.2", 8080);
  g_autoptr (GVariant) d = NULL;
  static const char *const keys[]
      = { COMMON,        "sport:q",     "dport:q",     "dnat-addr:s",
          "dnat-port:q", "snat-addr:s", "snat-port:q", NULL };
  guint16 port;

  flow->flags = CT_FLOW_CONFIRMED | CT_FLOW_DNAT | CT_FLOW_SNAT;
  inet_pton (AF_INET, "10.9.9.9", flow->nat_dst);
  flow->nat_dport = 80;
  inet_pton (AF_INET, "192.0.2.1", flow->nat_src);
  flow->nat_sport = 1024;
  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_DEFAULT));
  assert_keys (d, keys);
  g_assert_cmpstr (lookup_s (d, "dnat-addr"), ==, "10.9.9.9");
  g_assert_cmpstr (lookup_s (d, "snat-addr"), ==, "192.0.2.1");
  g_assert_true (g_variant_lookup (d, "dnat-port", "q", &port));
  g_assert_cmpuint (port, ==, 80);
  g_assert_true (g_variant_lookup (d, "snat-port", "q", &port));
  g_assert_cmpuint (port, ==, 1024);
}

static void
test_portless_and_denied (void)
{
  /* GRE has neither ports nor ICMP fields; NAT shows addresses only. */
  g_autoptr (CtFlow) gre
      = flow_new (AF_INET6, IPPROTO_GRE, "fd00::1", 0, "fd00::2", 0);
  g_autoptr (CtFlow) other
      = flow_new (AF_INET, 143, "10.0.0.1", 0, "10.0.0.2", 0);
  g_autoptr (GVariant) d = NULL;
  g_autoptr (GVariant) o = NULL;
  static const char *const keys[] = { COMMON, "dnat-addr:s", NULL };
  static const char *const plain[] = { COMMON, NULL };
  gboolean confirmed = TRUE;

  gre->flags = CT_FLOW_DNAT | CT_FLOW_DENIED;
  inet_pton (AF_INET6, "fd00::9", gre->nat_dst);
  d = g_variant_ref_sink (ct_flow_to_variant (gre, CT_FLOW_VARIANT_DEFAULT));
  assert_keys (d, keys);
  g_assert_cmpstr (lookup_s (d, "protocol"), ==, "gre");
  g_assert_cmpstr (lookup_s (d, "verdict"), ==, "drop");
  g_assert_cmpstr (lookup_s (d, "dnat-addr"), ==, "fd00::9");
  g_assert_true (g_variant_lookup (d, "confirmed", "b", &confirmed));
  g_assert_false (confirmed);

  o = g_variant_ref_sink (ct_flow_to_variant (other, CT_FLOW_VARIANT_DEFAULT));
  assert_keys (o, plain);
  g_assert_cmpstr (lookup_s (o, "protocol"), ==, "143");
}

static void
test_protocol_names (void)
{
  static const struct
  {
    guint8 proto;
    const char *name;
  } cases[] = {
    { IPPROTO_TCP, "tcp" },
    { IPPROTO_UDP, "udp" },
    { IPPROTO_ICMP, "icmp" },
    { IPPROTO_ICMPV6, "icmp" },
    { IPPROTO_SCTP, "sctp" },
    { IPPROTO_DCCP, "dccp" },
    { IPPROTO_UDPLITE, "udplite" },
    { IPPROTO_GRE, "gre" },
    { IPPROTO_ESP, "esp" },
    { IPPROTO_AH, "ah" },
    { 0, "0" },
    { 255, "255" },
  };
  char buf[4];

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (ct_flow_variant_protocol (cases[i].proto, buf, sizeof buf),
                     ==, cases[i].name);
}

static void
test_hits (void)
{
  g_autoptr (CtFlow) flow
      = flow_new (AF_INET, IPPROTO_UDP, "10.0.0.9", 1024, "10.0.0.1", 53);
  g_autoptr (GVariant) plain = NULL;
  g_autoptr (GVariant) d = NULL;
  g_autoptr (GVariant) hits = NULL;
  g_autoptr (GVariant) first = NULL;
  static const char *const keys[]
      = { COMMON, "sport:q", "dport:q", "hits:aa{sv}", NULL };
  static const char *const hit_keys[]
      = { "table:s", "chain:s",     "type:s", "position:u",
          "count:t", "last-seen:x", NULL };
  guint32 position;
  guint64 count;

  ct_flow_add_hit (flow, "filter", "INPUT", CT_HIT_RULE, 3, 5, 16);
  ct_flow_add_hit (flow, "filter", "INPUT", CT_HIT_RULE, 3, 6, 16);
  ct_flow_add_hit (flow, "raw", "PREROUTING", CT_HIT_POLICY, 1, 5, 16);
  ct_flow_sort_hits (flow);

  /* Only GetFlow asks for hits. */
  plain
      = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_DEFAULT));
  g_assert_false (g_variant_lookup (plain, "hits", "*", NULL));

  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));
  assert_keys (d, keys);
  hits = g_variant_lookup_value (d, "hits", G_VARIANT_TYPE ("aa{sv}"));
  g_assert_cmpuint (g_variant_n_children (hits), ==, 2);
  first = g_variant_get_child_value (hits, 0);
  assert_keys (first, hit_keys);
  /* The legacy order: raw before filter. */
  g_assert_cmpstr (lookup_s (first, "table"), ==, "raw");
  g_assert_cmpstr (lookup_s (first, "type"), ==, "policy");
  g_variant_unref (first);
  first = g_variant_get_child_value (hits, 1);
  g_assert_cmpstr (lookup_s (first, "chain"), ==, "INPUT");
  g_assert_true (g_variant_lookup (first, "position", "u", &position));
  g_assert_true (g_variant_lookup (first, "count", "t", &count));
  g_assert_cmpuint (position, ==, 3);
  g_assert_cmpuint (count, ==, 2);

  /* A flow without hits still carries the (empty) key. */
  g_clear_pointer (&flow->hits, g_ptr_array_unref);
  g_clear_pointer (&d, g_variant_unref);
  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));
  assert_keys (d, keys);
}

static void
test_json_line (void)
{
  g_autoptr (CtFlow) flow
      = flow_new (AF_INET, IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.2", 8080);
  g_autoptr (GVariant) d = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *o, *hit;

  flow->flags = CT_FLOW_CONFIRMED | CT_FLOW_DNAT;
  inet_pton (AF_INET, "10.9.9.9", flow->nat_dst);
  flow->nat_dport = 80;
  ct_flow_add_hit (flow, "filter", "FORWARD", CT_HIT_RULE, 2, 7, 16);
  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));
  ct_flow_variant_append_json (out, d);

  /* One line, the dictionary's keys with "_" for "-". */
  g_assert_true (g_str_has_suffix (out->str, "}\n"));
  g_assert_true (strchr (out->str, '\n') == out->str + out->len - 1);
  g_assert_true (json_parser_load_from_data (parser, out->str, -1, &error));
  g_assert_no_error (error);
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (o, "id"), ==, 42);
  g_assert_cmpstr (json_object_get_string_member (o, "protocol"), ==, "tcp");
  g_assert_cmpint (json_object_get_int_member (o, "protocol_number"), ==, 6);
  g_assert_cmpint (json_object_get_int_member (o, "dport"), ==, 8080);
  g_assert_cmpstr (json_object_get_string_member (o, "dnat_addr"), ==,
                   "10.9.9.9");
  g_assert_cmpint (json_object_get_int_member (o, "dnat_port"), ==, 80);
  g_assert_true (json_object_get_boolean_member (o, "confirmed"));
  g_assert_cmpint (json_object_get_int_member (o, "first_seen"), ==,
                   1700000000000000);
  g_assert_false (json_object_has_member (o, "first-seen"));
  hit = json_array_get_object_element (json_object_get_array_member (o, "hits"),
                                       0);
  g_assert_cmpstr (json_object_get_string_member (hit, "chain"), ==, "FORWARD");
  g_assert_cmpint (json_object_get_int_member (hit, "last_seen"), ==, 7);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/flow-variant/tcp", test_tcp);
  g_test_add_func ("/flow-variant/icmp", test_icmp);
  g_test_add_func ("/flow-variant/nat", test_nat);
  g_test_add_func ("/flow-variant/portless-and-denied",
                   test_portless_and_denied);
  g_test_add_func ("/flow-variant/protocol-names", test_protocol_names);
  g_test_add_func ("/flow-variant/hits", test_hits);
  g_test_add_func ("/flow-variant/json-line", test_json_line);
  return g_test_run ();
}

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
  /* Legacy hits: no family, handle or rule text. */
  static const char *const hit_keys[]
      = { "table:s",      "chain:s", "type:s",      "position:u", "verdict:s",
          "directions:s", "count:t", "last-seen:x", NULL };
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
  g_assert_cmpstr (lookup_s (first, "verdict"), ==, "none");
  g_assert_cmpstr (lookup_s (first, "directions"), ==, "original");

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

/* An nft hit as the trace source records it. */
static CtTraceHit *
record (CtFlow *flow, const char *family, const char *chain, CtHitType type,
        guint32 position, guint64 handle, CtVerdict verdict, const char *rule,
        guint8 directions)
{
  CtTraceHit what = { 0 };

  what.family = (char *)family;
  what.table = (char *)"fw";
  what.chain = (char *)chain;
  what.type = type;
  what.position = position;
  what.handle = handle;
  what.verdict = verdict;
  what.rule = (char *)rule;
  what.directions = directions;
  return ct_flow_record_hit (flow, &what, 1700000000500000, 16);
}

static GVariant *
hit_at (GVariant *dict, guint i)
{
  g_autoptr (GVariant) hits
      = g_variant_lookup_value (dict, "hits", G_VARIANT_TYPE ("aa{sv}"));

  g_assert_nonnull (hits);
  return g_variant_get_child_value (hits, i);
}

static void
test_nft_hits_and_blame (void)
{
  g_autoptr (CtFlow) flow
      = flow_new (AF_INET, IPPROTO_TCP, "10.0.0.9", 1024, "10.0.0.1", 80);
  g_autoptr (GVariant) d = NULL;
  g_autoptr (GVariant) plain = NULL;
  g_autoptr (GVariant) blame = NULL;
  g_autoptr (GVariant) hit = NULL;
  static const char *const keys[]
      = { COMMON, "sport:q", "dport:q", "blame:a{sv}", "hits:aa{sv}", NULL };
  static const char *const plain_keys[]
      = { COMMON, "sport:q", "dport:q", "blame:a{sv}", NULL };
  static const char *const rule_keys[]
      = { "family:s",     "table:s",  "chain:s",     "type:s",
          "position:u",   "handle:t", "verdict:s",   "rule:s",
          "directions:s", "count:t",  "last-seen:x", NULL };
  static const char *const policy_keys[]
      = { "family:s",  "table:s",      "chain:s", "type:s",      "position:u",
          "verdict:s", "directions:s", "count:t", "last-seen:x", NULL };
  guint64 handle;
  guint32 position;

  record (flow, "inet", "in", CT_HIT_RULE, 1, 4, CT_VERDICT_ACCEPT,
          "ct state established,related accept", CT_HIT_REPLY);
  record (flow, "inet", "in", CT_HIT_RULE, 1, 4, CT_VERDICT_ACCEPT, NULL,
          CT_HIT_ORIGINAL);
  flow->blame
      = record (flow, "inet", "web", CT_HIT_RULE, 2, 9, CT_VERDICT_ACCEPT,
                "tcp dport 80 accept", CT_HIT_ORIGINAL);
  record (flow, "inet", "out", CT_HIT_POLICY, 3, 0, CT_VERDICT_ACCEPT, NULL,
          CT_HIT_REPLY);
  flow->flags = CT_FLOW_CONFIRMED;

  /* The blame comes with every flow; the hits with GetFlow only. */
  plain
      = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_DEFAULT));
  assert_keys (plain, plain_keys);
  g_assert_cmpstr (lookup_s (plain, "verdict"), ==, "accept");

  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));
  assert_keys (d, keys);
  blame = g_variant_lookup_value (d, "blame", G_VARIANT_TYPE_VARDICT);
  assert_keys (blame, rule_keys);
  g_assert_cmpstr (lookup_s (blame, "family"), ==, "inet");
  g_assert_cmpstr (lookup_s (blame, "table"), ==, "fw");
  g_assert_cmpstr (lookup_s (blame, "chain"), ==, "web");
  g_assert_cmpstr (lookup_s (blame, "type"), ==, "rule");
  g_assert_cmpstr (lookup_s (blame, "verdict"), ==, "accept");
  g_assert_cmpstr (lookup_s (blame, "rule"), ==, "tcp dport 80 accept");
  g_assert_cmpstr (lookup_s (blame, "directions"), ==, "original");
  g_assert_true (g_variant_lookup (blame, "handle", "t", &handle));
  g_assert_cmpuint (handle, ==, 9);
  g_assert_true (g_variant_lookup (blame, "position", "u", &position));
  g_assert_cmpuint (position, ==, 2);

  /* One rule met both ways: merged, "both", the text kept. */
  hit = hit_at (d, 0);
  assert_keys (hit, rule_keys);
  g_assert_cmpstr (lookup_s (hit, "directions"), ==, "both");
  g_assert_cmpstr (lookup_s (hit, "rule"), ==,
                   "ct state established,related accept");
  g_clear_pointer (&hit, g_variant_unref);

  /* A policy has no handle and no rule text. */
  hit = hit_at (d, 2);
  assert_keys (hit, policy_keys);
  g_assert_cmpstr (lookup_s (hit, "type"), ==, "policy");
  g_assert_cmpstr (lookup_s (hit, "directions"), ==, "reply");
}

static void
test_denied_verdicts (void)
{
  g_autoptr (CtFlow) rejected
      = flow_new (AF_INET6, IPPROTO_TCP, "fd00::1", 1024, "fd00::2", 81);
  g_autoptr (CtFlow) dropped
      = flow_new (AF_INET, IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 9);
  g_autoptr (CtFlow) policy
      = flow_new (AF_INET, IPPROTO_TCP, "10.0.0.1", 1024, "10.0.0.2", 82);
  g_autoptr (CtFlow) late_drop
      = flow_new (AF_INET, IPPROTO_TCP, "10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (GVariant) r = NULL;
  g_autoptr (GVariant) dr = NULL;
  g_autoptr (GVariant) p = NULL;
  g_autoptr (GVariant) l = NULL;
  g_autoptr (GVariant) blame = NULL;

  rejected->flags = CT_FLOW_DENIED;
  rejected->blame
      = record (rejected, "inet", "in", CT_HIT_RULE, 7, 12, CT_VERDICT_REJECT,
                "tcp dport 81 reject", CT_HIT_ORIGINAL);
  dropped->flags = CT_FLOW_DENIED;
  dropped->blame
      = record (dropped, "ip", "INPUT", CT_HIT_RULE, 2, 5, CT_VERDICT_DROP,
                "udp dport 9 counter drop", CT_HIT_ORIGINAL);
  policy->flags = CT_FLOW_DENIED;
  policy->blame = record (policy, "inet", "in", CT_HIT_POLICY, 9, 0,
                          CT_VERDICT_DROP, NULL, CT_HIT_ORIGINAL);
  /* Accepted, then a later packet dropped: still an accepted flow. */
  late_drop->flags = CT_FLOW_CONFIRMED;
  late_drop->blame
      = record (late_drop, "inet", "in", CT_HIT_RULE, 3, 7, CT_VERDICT_DROP,
                "tcp flags rst drop", CT_HIT_ORIGINAL);

  r = g_variant_ref_sink (ct_flow_to_variant (rejected, CT_FLOW_VARIANT_HITS));
  g_assert_cmpstr (lookup_s (r, "verdict"), ==, "reject");
  blame = g_variant_lookup_value (r, "blame", G_VARIANT_TYPE_VARDICT);
  g_assert_cmpstr (lookup_s (blame, "verdict"), ==, "reject");
  g_assert_cmpstr (lookup_s (blame, "rule"), ==, "tcp dport 81 reject");
  g_clear_pointer (&blame, g_variant_unref);

  dr = g_variant_ref_sink (
      ct_flow_to_variant (dropped, CT_FLOW_VARIANT_DEFAULT));
  g_assert_cmpstr (lookup_s (dr, "verdict"), ==, "drop");
  blame = g_variant_lookup_value (dr, "blame", G_VARIANT_TYPE_VARDICT);
  g_assert_cmpstr (lookup_s (blame, "family"), ==, "ip");
  g_clear_pointer (&blame, g_variant_unref);

  p = g_variant_ref_sink (ct_flow_to_variant (policy, CT_FLOW_VARIANT_DEFAULT));
  g_assert_cmpstr (lookup_s (p, "verdict"), ==, "drop");
  blame = g_variant_lookup_value (p, "blame", G_VARIANT_TYPE_VARDICT);
  g_assert_cmpstr (lookup_s (blame, "type"), ==, "policy");
  g_assert_false (g_variant_lookup (blame, "rule", "*", NULL));
  g_assert_false (g_variant_lookup (blame, "handle", "*", NULL));

  l = g_variant_ref_sink (
      ct_flow_to_variant (late_drop, CT_FLOW_VARIANT_DEFAULT));
  g_assert_cmpstr (lookup_s (l, "verdict"), ==, "accept");

  g_assert_cmpstr (ct_flow_variant_verdict (rejected), ==, "reject");
  g_assert_cmpstr (ct_flow_variant_verdict (dropped), ==, "drop");
  g_assert_cmpstr (ct_flow_variant_verdict (late_drop), ==, "accept");
}

static void
test_json_blame (void)
{
  g_autoptr (CtFlow) flow
      = flow_new (AF_INET, IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 9);
  g_autoptr (GVariant) d = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *o, *blame, *hit;

  flow->flags = CT_FLOW_DENIED;
  flow->blame = record (flow, "inet", "in", CT_HIT_RULE, 8, 11, CT_VERDICT_DROP,
                        "udp dport 9 drop", CT_HIT_ORIGINAL);
  d = g_variant_ref_sink (ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));
  ct_flow_variant_append_json (out, d);
  g_assert_true (json_parser_load_from_data (parser, out->str, -1, &error));
  g_assert_no_error (error);
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (o, "verdict"), ==, "drop");
  blame = json_object_get_object_member (o, "blame");
  g_assert_nonnull (blame);
  g_assert_cmpstr (json_object_get_string_member (blame, "rule"), ==,
                   "udp dport 9 drop");
  g_assert_cmpint (json_object_get_int_member (blame, "handle"), ==, 11);
  g_assert_cmpint (json_object_get_int_member (blame, "position"), ==, 8);
  g_assert_cmpstr (json_object_get_string_member (blame, "directions"), ==,
                   "original");
  g_assert_true (json_object_has_member (blame, "last_seen"));
  g_assert_false (json_object_has_member (blame, "last-seen"));
  hit = json_array_get_object_element (json_object_get_array_member (o, "hits"),
                                       0);
  g_assert_cmpstr (json_object_get_string_member (hit, "family"), ==, "inet");
  g_assert_cmpstr (json_object_get_string_member (hit, "verdict"), ==, "drop");
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
  g_test_add_func ("/flow-variant/nft-hits-and-blame", test_nft_hits_and_blame);
  g_test_add_func ("/flow-variant/denied-verdicts", test_denied_verdicts);
  g_test_add_func ("/flow-variant/json-blame", test_json_blame);
  return g_test_run ();
}

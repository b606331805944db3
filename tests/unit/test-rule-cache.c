/* The rule cache's parser over `nft -a -s -t list ruleset` output as nft
 * 1.0.6 prints it (data/rules/ruleset.txt, iptables-nft tables included):
 * positions, text without the handle comment, base chains, chain lengths,
 * names with ':' and braces or handles inside quoted comments. */
#include <linux/netfilter.h>

#include "rule-cache.h"

static CtRuleSnapshot *
load (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "rules",
                                                 "ruleset.txt", NULL);
  g_autofree char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return ct_rule_snapshot_parse (text);
}

static void
assert_rule (const CtRuleSnapshot *snap, const char *family, const char *table,
             const char *chain, guint64 handle, guint32 position,
             const char *text)
{
  guint32 pos = 0;
  const char *got = NULL;

  g_assert_true (
      ct_rule_snapshot_lookup (snap, family, table, chain, handle, &pos, &got));
  g_assert_cmpuint (pos, ==, position);
  g_assert_cmpstr (got, ==, text);
}

static void
assert_chain (const CtRuleSnapshot *snap, const char *family, const char *table,
              const char *chain, gboolean base, guint32 n)
{
  gboolean is_base = !base;
  guint32 n_rules = G_MAXUINT32;

  g_assert_true (ct_rule_snapshot_lookup_chain (snap, family, table, chain,
                                                &is_base, &n_rules));
  g_assert_cmpint (is_base, ==, base);
  g_assert_cmpuint (n_rules, ==, n);
}

static void
test_parse (void)
{
  g_autoptr (CtRuleSnapshot) snap = load ();

  g_assert_cmpuint (ct_rule_snapshot_get_n_rules (snap), ==, 11);
  assert_rule (snap, "ip", "filter", "web:in", 8, 1,
               "tcp dport 8080 counter accept");
  assert_rule (snap, "ip", "filter", "web:in", 9, 2, "counter return");
  assert_rule (snap, "ip", "filter", "INPUT", 3, 1,
               "ct state related,established counter accept");
  assert_rule (snap, "ip", "filter", "INPUT", 7, 5,
               "tcp dport 82 counter reject with tcp reset");
  assert_rule (snap, "ip6", "filter", "INPUT", 2, 1,
               "tcp dport 8080 counter accept");
  assert_rule (snap, "inet", "t", "myc", 24, 1,
               "tcp dport 22 counter reject comment \"x { y # handle 99\"");
  assert_rule (snap, "inet", "t", "myc", 27, 2,
               "ip saddr { 1.1.1.1, 2.2.2.2 } tcp dport vmap { 22 : accept, "
               "23 : drop }");
  assert_rule (snap, "inet", "t", "b", 28, 1, "jump myc");

  assert_chain (snap, "ip", "filter", "web:in", FALSE, 2);
  assert_chain (snap, "ip", "filter", "INPUT", TRUE, 5);
  assert_chain (snap, "ip6", "filter", "INPUT", TRUE, 1);
  assert_chain (snap, "inet", "t", "empty", FALSE, 0);
  assert_chain (snap, "inet", "t", "b", TRUE, 1);

  /* Wrong family, wrong chain, the handle in the comment, sets. */
  g_assert_false (
      ct_rule_snapshot_lookup (snap, "ip6", "filter", "INPUT", 3, NULL, NULL));
  g_assert_false (
      ct_rule_snapshot_lookup (snap, "ip", "filter", "web:in", 3, NULL, NULL));
  g_assert_false (
      ct_rule_snapshot_lookup (snap, "inet", "t", "myc", 99, NULL, NULL));
  g_assert_false (
      ct_rule_snapshot_lookup_chain (snap, "inet", "t", "s", NULL, NULL));
  g_assert_false (
      ct_rule_snapshot_lookup (snap, NULL, "t", "b", 28, NULL, NULL));
  g_assert_false (
      ct_rule_snapshot_lookup (NULL, "inet", "t", "b", 28, NULL, NULL));
}

static void
test_garbage (void)
{
  static const char *const texts[] = {
    "",
    "}}}}",
    "table",
    "table inet",
    "table inet x {\n chain {\n x # handle",
    "chain c {\n rule # handle 1\n}",
    "table ip t {\n\tchain c {\n"
    "\t\tx # handle 18446744073709551616\n\t\ty # handle 2x\n}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr (CtRuleSnapshot) snap = ct_rule_snapshot_parse (texts[i]);

      g_assert_cmpuint (ct_rule_snapshot_get_n_rules (snap), <=, 1);
    }
  ct_rule_snapshot_free (ct_rule_snapshot_parse (NULL));
}

static void
test_family_names (void)
{
  g_assert_cmpstr (ct_nft_family_name (NFPROTO_INET), ==, "inet");
  g_assert_cmpstr (ct_nft_family_name (NFPROTO_IPV4), ==, "ip");
  g_assert_cmpstr (ct_nft_family_name (NFPROTO_IPV6), ==, "ip6");
  g_assert_cmpstr (ct_nft_family_name (NFPROTO_BRIDGE), ==, "bridge");
  g_assert_cmpstr (ct_nft_family_name (NFPROTO_NETDEV), ==, "netdev");
  g_assert_cmpstr (ct_nft_family_name (NFPROTO_ARP), ==, "arp");
  g_assert_null (ct_nft_family_name (99));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rule-cache/parse", test_parse);
  g_test_add_func ("/rule-cache/garbage", test_garbage);
  g_test_add_func ("/rule-cache/family-names", test_family_names);
  return g_test_run ();
}

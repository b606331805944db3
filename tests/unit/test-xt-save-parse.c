/* iptables-legacy-save text: positions, policies, returns, verdicts from
 * targets, quoting, hook checks and prefixes that forge TRACE lines. The
 * recorded TRACE messages of data/trace/ resolve against the save output
 * of the ruleset they were recorded with (data/xt-save/README.md). */
#include <gio/gio.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <string.h>
#include <sys/socket.h>

#include "xt-save-parse.h"

static CtXtRuleset *
load_save (const char *name)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "xt-save", name, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  CtXtRuleset *rs;
  gsize len;

  g_assert_true (g_file_get_contents (path, &text, &len, &error));
  g_assert_no_error (error);
  rs = ct_xt_ruleset_parse (text, len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (rs);
  return rs;
}

static void
load_trace (const char *name, CtXtTrace *t)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "trace", name, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  g_autofree struct nlmsghdr *nlh = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  nlh = g_memdup2 (data, len);
  g_assert_cmpint (ct_xt_trace_parse (nlh, t), ==, CT_PARSE_OK);
}

static CtXtTrace
line (const char *table, const char *chain, CtHitType type, guint32 position,
      guint8 hook)
{
  CtXtTrace t = { 0 };

  t.family = AF_INET;
  g_strlcpy (t.table, table, sizeof t.table);
  g_strlcpy (t.chain, chain, sizeof t.chain);
  t.type = type;
  t.position = position;
  t.hook = hook;
  return t;
}

static void
assert_fit (const CtXtRuleset *rs, const CtXtTrace *t, CtXtFit want,
            const char *rule, CtVerdict verdict)
{
  CtXtRuleInfo info;

  g_assert_cmpint (ct_xt_ruleset_resolve (rs, t, &info), ==, want);
  if (want != CT_XT_FIT_OK)
    return;
  g_assert_cmpstr (info.rule, ==, rule);
  g_assert_cmpstr (ct_verdict_to_string (info.verdict), ==,
                   ct_verdict_to_string (verdict));
}

static void
test_recorded (void)
{
  static const struct
  {
    const char *trace;
    const char *save;
    const char *rule;
    CtVerdict verdict;
  } cases[] = {
    { "xt-tcp4-raw-policy.bin", "recording-ipv4.txt", "-P PREROUTING ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-tcp4-input-rule.bin", "recording-ipv4.txt",
      "-A INPUT -p tcp -m tcp --dport 8080 -j web:in", CT_VERDICT_JUMP },
    { "xt-tcp4-webin-rule.bin", "recording-ipv4.txt",
      "-A web:in -p tcp -m tcp --dport 8080 -j ACCEPT", CT_VERDICT_ACCEPT },
    { "xt-tcp4-webin-uid.bin", "recording-ipv4.txt",
      "-A web:in -p tcp -m tcp --dport 8080 -j ACCEPT", CT_VERDICT_ACCEPT },
    { "xt-udp4-chk-return.bin", "recording-ipv4.txt", NULL, CT_VERDICT_RETURN },
    { "xt-udp4-input-drop.bin", "recording-ipv4.txt",
      "-A INPUT -p udp -m udp --dport 9998 -j DROP", CT_VERDICT_DROP },
    { "xt-tcp4-input-policy.bin", "recording-ipv4.txt", "-P INPUT DROP",
      CT_VERDICT_DROP },
    { "xt-icmp4-unreach-out.bin", "recording-ipv4.txt", "-P OUTPUT ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-frag4-later.bin", "recording-ipv4.txt", "-P PREROUTING ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-tcp4-out-raw.bin", "recording-sender-ipv4.txt", "-P OUTPUT ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-tcp6-input-rule.bin", "recording-ipv6.txt",
      "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT", CT_VERDICT_ACCEPT },
    { "xt-icmp6-unreach-out.bin", "recording-ipv6.txt", "-P OUTPUT ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-hbh6.bin", "recording-ipv6.txt", "-P PREROUTING ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-dstopts6.bin", "recording-ipv6.txt", "-P PREROUTING ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-frag6-first.bin", "recording-ipv6.txt", "-P PREROUTING ACCEPT",
      CT_VERDICT_ACCEPT },
    { "xt-frag6-later.bin", "recording-ipv6.txt", "-P PREROUTING ACCEPT",
      CT_VERDICT_ACCEPT },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (CtXtRuleset) rs = load_save (cases[i].save);
      CtXtTrace t;

      g_test_message ("%s", cases[i].trace);
      load_trace (cases[i].trace, &t);
      assert_fit (rs, &t, CT_XT_FIT_OK, cases[i].rule, cases[i].verdict);
    }
}

static void
test_counts (void)
{
  g_autoptr (CtXtRuleset) v4 = load_save ("recording-ipv4.txt");
  g_autoptr (CtXtRuleset) v6 = load_save ("recording-ipv6.txt");
  g_autoptr (CtXtRuleset) empty = NULL;
  g_autoptr (GError) error = NULL;
  CtXtTrace t = line ("filter", "INPUT", CT_HIT_POLICY, 1, NF_INET_LOCAL_IN);

  g_assert_cmpuint (ct_xt_ruleset_get_n_tables (v4), ==, 2);
  g_assert_cmpuint (ct_xt_ruleset_get_n_rules (v4), ==, 9);
  g_assert_cmpuint (ct_xt_ruleset_get_n_tables (v6), ==, 2);
  g_assert_cmpuint (ct_xt_ruleset_get_n_rules (v6), ==, 6);
  /* IPT_SO_GET_INFO's num_entries: rules, a policy per built-in chain, a
   * head and a return per user chain, one end per table. */
  g_assert_cmpuint (ct_xt_ruleset_count_entries (v4, "filter"), ==,
                    (5 + 1) + 1 + 1 + (1 + 2) + (1 + 2) + 1);
  g_assert_cmpuint (ct_xt_ruleset_count_entries (v4, "raw"), ==,
                    (1 + 1) + (1 + 1) + 1);
  g_assert_cmpuint (ct_xt_ruleset_count_entries (v6, "filter"), ==,
                    (4 + 1) + 1 + 1 + 1);
  g_assert_cmpuint (ct_xt_ruleset_count_entries (v4, "mangle"), ==, 0);

  /* ip6tables-legacy-save prints nothing without tables. */
  empty = ct_xt_ruleset_parse ("", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ct_xt_ruleset_get_n_tables (empty), ==, 0);
  assert_fit (empty, &t, CT_XT_FIT_UNKNOWN, NULL, 0);
}

/* Positions beyond the chain, policies of user chains, returns of built-in
 * chains: the rules changed, or the line is not the kernel's. */
static void
test_unknown (void)
{
  g_autoptr (CtXtRuleset) rs = load_save ("recording-ipv4.txt");
  const struct
  {
    CtXtTrace t;
    CtXtFit fit;
  } cases[] = {
    { line ("filter", "INPUT", CT_HIT_RULE, 5, 1), CT_XT_FIT_OK },
    { line ("filter", "INPUT", CT_HIT_RULE, 6, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "INPUT", CT_HIT_POLICY, 5, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "INPUT", CT_HIT_POLICY, 7, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "INPUT", CT_HIT_RETURN, 6, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "chk", CT_HIT_POLICY, 2, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "chk", CT_HIT_RETURN, 2, 1), CT_XT_FIT_OK },
    { line ("filter", "chk", CT_HIT_RETURN, 3, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "nosuch", CT_HIT_RULE, 1, 1), CT_XT_FIT_UNKNOWN },
    { line ("mangle", "INPUT", CT_HIT_POLICY, 1, 1), CT_XT_FIT_UNKNOWN },
    { line ("filter", "web", CT_HIT_RULE, 1, 1), CT_XT_FIT_UNKNOWN },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      CtXtRuleInfo info;

      g_test_message ("case %u", i);
      g_assert_cmpint (ct_xt_ruleset_resolve (rs, &cases[i].t, &info), ==,
                       cases[i].fit);
    }
}

/* The hook in NFULA_PACKET_HDR is the kernel's: a built-in chain runs only
 * at its own hook, a user chain only where its table is registered. */
static void
test_hooks (void)
{
  g_autoptr (CtXtRuleset) rs = load_save ("forgers-ipv4.txt");
  CtXtTrace t;

  t = line ("filter", "INPUT", CT_HIT_RULE, 3, NF_INET_LOCAL_IN);
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A INPUT -p tcp -m tcp --dport 5555 -j DROP", CT_VERDICT_DROP);
  t.hook = NF_INET_LOCAL_OUT;
  assert_fit (rs, &t, CT_XT_FIT_WRONG_HOOK, NULL, 0);
  t.hook = 7; /* no such hook */
  assert_fit (rs, &t, CT_XT_FIT_WRONG_HOOK, NULL, 0);

  /* User chains run wherever their table does: filter has no PREROUTING,
   * and a user chain may be called PREROUTING there. */
  t = line ("filter", "web:in", CT_HIT_RULE, 1, NF_INET_FORWARD);
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A web:in -p tcp -m multiport --dports 80,81 -j REJECT "
              "--reject-with tcp-reset",
              CT_VERDICT_REJECT);
  t.hook = NF_INET_PRE_ROUTING;
  assert_fit (rs, &t, CT_XT_FIT_WRONG_HOOK, NULL, 0);
  t = line ("filter", "PREROUTING", CT_HIT_RULE, 1, NF_INET_LOCAL_IN);
  assert_fit (rs, &t, CT_XT_FIT_OK, "-A PREROUTING -j ACCEPT",
              CT_VERDICT_ACCEPT);
  t.hook = NF_INET_PRE_ROUTING;
  assert_fit (rs, &t, CT_XT_FIT_WRONG_HOOK, NULL, 0);

  t = line ("nat", "PREROUTING", CT_HIT_RULE, 1, NF_INET_PRE_ROUTING);
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A PREROUTING -p tcp -m tcp --dport 81 -j DNAT "
              "--to-destination 10.98.0.2:80",
              CT_VERDICT_ACCEPT);
  t = line ("nat", "POSTROUTING", CT_HIT_POLICY, 1, NF_INET_POST_ROUTING);
  assert_fit (rs, &t, CT_XT_FIT_OK, "-P POSTROUTING ACCEPT", CT_VERDICT_ACCEPT);
  t.hook = NF_INET_FORWARD;
  assert_fit (rs, &t, CT_XT_FIT_WRONG_HOOK, NULL, 0);

  g_assert_cmpint (ct_xt_builtin_chain_hook ("FORWARD"), ==, NF_INET_FORWARD);
  g_assert_cmpint (ct_xt_builtin_chain_hook ("forward"), ==, -1);
}

/* Targets: the first -j/-g followed by a name; quoted words are one word
 * even when they read "-j DROP"; a bare "-j" comment is skipped. */
static void
test_targets (void)
{
  g_autoptr (CtXtRuleset) rs = load_save ("forgers-ipv4.txt");
  CtXtTrace t;

  t = line ("filter", "INPUT", CT_HIT_RULE, 4, NF_INET_LOCAL_IN);
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A INPUT -p tcp -m tcp --dport 80 -m comment --comment "
              "\"say \\\"hi\\\" -j DROP\" -j web:in",
              CT_VERDICT_JUMP);
  t.position = 5;
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A INPUT -j NFLOG --nflog-prefix \"TRACE: x\"", CT_VERDICT_NONE);
  t.position = 6;
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A INPUT -m comment --comment -j -g web:in", CT_VERDICT_GOTO);
  t.type = CT_HIT_POLICY;
  t.position = 7;
  assert_fit (rs, &t, CT_XT_FIT_OK, "-P INPUT ACCEPT", CT_VERDICT_ACCEPT);
  t = line ("raw", "PREROUTING", CT_HIT_RULE, 1, NF_INET_PRE_ROUTING);
  assert_fit (rs, &t, CT_XT_FIT_OK,
              "-A PREROUTING -s 10.98.0.1/32 -p tcp -j TRACE", CT_VERDICT_NONE);
}

static CtXtRuleset *
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  CtXtRuleset *rs = ct_xt_ruleset_parse (text, strlen (text), &error);

  g_assert_no_error (error);
  return rs;
}

static void
test_verdicts (void)
{
  g_autoptr (CtXtRuleset) rs
      = parse_ok ("*filter\n"
                  ":INPUT ACCEPT [0:0]\n"
                  ":FORWARD DROP [0:0]\n"
                  ":OUTPUT ACCEPT [0:0]\n"
                  ":x - [0:0]\n"
                  "-A INPUT -j RETURN\n"
                  "-A INPUT -j QUEUE\n"
                  "-A INPUT -j NFQUEUE --queue-num 3\n"
                  "-A INPUT -j REJECT\n"
                  "-A INPUT -p tcp\n"
                  "-A INPUT -j x\n"
                  "-A INPUT -g x\n"
                  "-A INPUT -j MARK --set-xmark 0x1/0xffffffff\n"
                  "-A INPUT -m comment --comment -j -j DROP\n"
                  "COMMIT\n"
                  "*nat\n"
                  ":POSTROUTING ACCEPT [0:0]\n"
                  "-A POSTROUTING -j MASQUERADE\n"
                  "COMMIT\n");
  static const CtVerdict want[] = {
    CT_VERDICT_RETURN, CT_VERDICT_QUEUE, CT_VERDICT_QUEUE,
    CT_VERDICT_REJECT, CT_VERDICT_NONE,  CT_VERDICT_JUMP,
    CT_VERDICT_GOTO,   CT_VERDICT_NONE,  CT_VERDICT_DROP,
  };
  CtXtTrace t;
  CtXtRuleInfo info;

  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    {
      t = line ("filter", "INPUT", CT_HIT_RULE, i + 1, NF_INET_LOCAL_IN);
      g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==, CT_XT_FIT_OK);
      g_assert_cmpstr (ct_verdict_to_string (info.verdict), ==,
                       ct_verdict_to_string (want[i]));
    }
  t = line ("filter", "FORWARD", CT_HIT_POLICY, 1, NF_INET_FORWARD);
  assert_fit (rs, &t, CT_XT_FIT_OK, "-P FORWARD DROP", CT_VERDICT_DROP);
  t = line ("filter", "x", CT_HIT_RETURN, 1, NF_INET_LOCAL_IN);
  assert_fit (rs, &t, CT_XT_FIT_OK, NULL, CT_VERDICT_RETURN);
  t = line ("nat", "POSTROUTING", CT_HIT_RULE, 1, NF_INET_POST_ROUTING);
  assert_fit (rs, &t, CT_XT_FIT_OK, "-A POSTROUTING -j MASQUERADE",
              CT_VERDICT_ACCEPT);
}

/* A LOG rule, or an NFLOG rule of group 0, whose prefix is a kernel-shaped
 * TRACE line makes that line ambiguous, whatever table it names. */
static void
test_forgers (void)
{
  g_autoptr (CtXtRuleset) rs = load_save ("forgers-ipv4.txt");
  CtXtRuleInfo info;
  CtXtTrace t;

  t = line ("filter", "INPUT", CT_HIT_RULE, 1, NF_INET_LOCAL_IN);
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==, CT_XT_FIT_FORGED);
  g_assert_cmpstr (info.forger, ==,
                   "-A INPUT -p tcp -m tcp --dport 5555 -j LOG --log-prefix "
                   "\"TRACE: filter:INPUT:rule:1 \"");
  /* From another table's rule: NFLOG without --nflog-group is group 0. */
  t = line ("raw", "OUTPUT", CT_HIT_POLICY, 1, NF_INET_LOCAL_OUT);
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==, CT_XT_FIT_FORGED);
  g_assert_cmpstr (info.forger, ==,
                   "-A OUTPUT -j NFLOG --nflog-prefix \"TRACE: "
                   "raw:OUTPUT:policy:1 \"");
  /* Group 5 never reaches the TRACE listener. */
  t = line ("filter", "OUTPUT", CT_HIT_POLICY, 2, NF_INET_LOCAL_OUT);
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==,
                   CT_XT_FIT_UNKNOWN);
  t.position = 3;
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==, CT_XT_FIT_OK);
  /* Lines the forger does not write are the kernel's. */
  t = line ("filter", "INPUT", CT_HIT_RULE, 2, NF_INET_LOCAL_IN);
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==, CT_XT_FIT_OK);
  t = line ("filter", "INPUT", CT_HIT_RETURN, 1, NF_INET_LOCAL_IN);
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==,
                   CT_XT_FIT_UNKNOWN);
}

static void
test_errors (void)
{
  static const char *const bad[] = {
    "-A INPUT -j ACCEPT\n",
    ":INPUT ACCEPT [0:0]\n",
    "*filter\n-A INPUT -j ACCEPT\n",
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"x\n",
    "*filter\n:INPUT\n",
    "*filter\n: ACCEPT [0:0]\n",
    "*filter\n:INPUT ACCEPT [0:0] extra\n",
    "*filter\n:INPUT ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n",
    "*filter\nCOMMIT\n*filter\n",
    "*\n",
    "*a b\n",
    "*filter\n:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456 - [0:0]\n",
    "*filter\nCOMMIT\n:INPUT ACCEPT [0:0]\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CtXtRuleset) rs
          = ct_xt_ruleset_parse (bad[i], strlen (bad[i]), &error);

      g_test_message ("case %u: %s", i, bad[i]);
      g_assert_null (rs);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "line "));
    }
  {
    static const char nul[] = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT\0 -j\n";
    g_autoptr (GError) error = NULL;
    g_autoptr (CtXtRuleset) rs
        = ct_xt_ruleset_parse (nul, sizeof nul - 1, &error);

    g_assert_null (rs);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  }
}

/* Unknown lines and comments are skipped; CRLF and a missing final newline
 * are fine; bytes that are not UTF-8 are replaced in rule texts. */
static void
test_lenient (void)
{
  static const char text[]
      = "# comment\r\n"
        "*filter\r\n"
        ":INPUT ACCEPT [0:0]\r\n"
        "something new\r\n"
        "\r\n"
        "-A INPUT -m comment --comment \"caf\xe9\" -j DROP";
  g_autoptr (GError) error = NULL;
  g_autoptr (CtXtRuleset) rs
      = ct_xt_ruleset_parse (text, sizeof text - 1, &error);
  CtXtTrace t = line ("filter", "INPUT", CT_HIT_RULE, 1, NF_INET_LOCAL_IN);
  CtXtRuleInfo info;

  g_assert_no_error (error);
  g_assert_cmpint (ct_xt_ruleset_resolve (rs, &t, &info), ==, CT_XT_FIT_OK);
  g_assert_true (g_utf8_validate (info.rule, -1, NULL));
  g_assert_true (g_str_has_prefix (info.rule, "-A INPUT -m comment"));
  g_assert_true (g_str_has_suffix (info.rule, "\" -j DROP"));
  g_assert_cmpint (info.verdict, ==, CT_VERDICT_DROP);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/xt-save/recorded", test_recorded);
  g_test_add_func ("/xt-save/counts", test_counts);
  g_test_add_func ("/xt-save/unknown", test_unknown);
  g_test_add_func ("/xt-save/hooks", test_hooks);
  g_test_add_func ("/xt-save/targets", test_targets);
  g_test_add_func ("/xt-save/verdicts", test_verdicts);
  g_test_add_func ("/xt-save/forgers", test_forgers);
  g_test_add_func ("/xt-save/errors", test_errors);
  g_test_add_func ("/xt-save/lenient", test_lenient);
  return g_test_run ();
}

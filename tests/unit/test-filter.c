/* The filter language: every predicate against real flows, precedence,
 * the canonical text, and the column and reason of every kind of error. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"

#define NOW (G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC)
#define SEC G_GINT64_CONSTANT (1000000)

static CtFlow *
flow_new (guint8 family, guint8 proto, const char *src, guint16 sport,
          const char *dst, guint16 dport)
{
  CtFlowKey k = { 0 };

  k.family = family;
  k.proto = proto;
  g_assert_cmpint (inet_pton (family, src, k.src), ==, 1);
  g_assert_cmpint (inet_pton (family, dst, k.dst), ==, 1);
  k.sport = sport;
  k.dport = dport;
  return ct_flow_new (&k);
}

static CtFlow *
tcp4 (const char *src, guint16 sport, const char *dst, guint16 dport)
{
  return flow_new (AF_INET, IPPROTO_TCP, src, sport, dst, dport);
}

static CtFlow *
tcp6 (const char *src, guint16 sport, const char *dst, guint16 dport)
{
  return flow_new (AF_INET6, IPPROTO_TCP, src, sport, dst, dport);
}

/* Parses expr, matches it, and checks on the way that its canonical text
 * re-parses to itself and gives the same answer. */
static gboolean
matches_at (const char *expr, const CtFlow *flow, gint64 now)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CtFilter) filter = ct_filter_parse (expr, &error);
  g_autoptr (CtFilter) again = NULL;
  g_autofree char *canon = NULL;
  g_autofree char *canon2 = NULL;
  gboolean result;

  g_assert_no_error (error);
  g_assert_nonnull (filter);
  result = ct_filter_match (filter, flow, now);
  canon = ct_filter_to_string (filter);
  again = ct_filter_parse (canon, &error);
  g_assert_no_error (error);
  canon2 = ct_filter_to_string (again);
  g_assert_cmpstr (canon, ==, canon2);
  g_assert_cmpint (ct_filter_match (again, flow, now), ==, result);
  return result;
}

static void
check_at (const char *expr, const CtFlow *flow, gint64 now, gboolean expected)
{
  if (matches_at (expr, flow, now) != expected)
    g_test_fail_printf ("'%s' should %smatch", expr, expected ? "" : "not ");
}

static void
check (const char *expr, const CtFlow *flow, gboolean expected)
{
  check_at (expr, flow, NOW, expected);
}

static void
test_empty (void)
{
  g_autoptr (CtFlow) flow = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  const char *blank[] = { "", " ", "\t\n  \r" };

  for (guint i = 0; i < G_N_ELEMENTS (blank); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CtFilter) filter = ct_filter_parse (blank[i], &error);
      g_autofree char *canon = NULL;

      g_assert_no_error (error);
      g_assert_true (ct_filter_match (filter, flow, NOW));
      canon = ct_filter_to_string (filter);
      g_assert_cmpstr (canon, ==, "");
    }
}

static void
test_protocols (void)
{
  static const struct
  {
    const char *keyword;
    guint8 proto;
  } cases[] = {
    { "tcp", IPPROTO_TCP },         { "udp", IPPROTO_UDP },
    { "sctp", IPPROTO_SCTP },       { "dccp", IPPROTO_DCCP },
    { "udplite", IPPROTO_UDPLITE }, { "gre", IPPROTO_GRE },
    { "esp", IPPROTO_ESP },         { "ah", IPPROTO_AH },
    { "icmpv6", IPPROTO_ICMPV6 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    for (guint j = 0; j < G_N_ELEMENTS (cases); j++)
      {
        g_autoptr (CtFlow) flow
            = flow_new (AF_INET6, cases[j].proto, "::1", 0, "::2", 0);
        g_autofree char *by_number
            = g_strdup_printf ("proto %u", cases[i].proto);
        g_autofree char *by_name
            = g_strdup_printf ("proto %s", cases[i].keyword);

        check (cases[i].keyword, flow, i == j);
        check (by_number, flow, i == j);
        check (by_name, flow, i == j);
      }
}

static void
test_icmp_families (void)
{
  g_autoptr (CtFlow) icmp4
      = flow_new (AF_INET, IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0);
  g_autoptr (CtFlow) icmp6
      = flow_new (AF_INET6, IPPROTO_ICMPV6, "::1", 128, "::2", 0);
  g_autoptr (CtFlow) tcp = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 1);

  /* `icmp` means "ICMP of the flow's family"; the numbers are literal. */
  check ("icmp", icmp4, TRUE);
  check ("icmp", icmp6, TRUE);
  check ("icmp", tcp, FALSE);
  check ("icmpv6", icmp6, TRUE);
  check ("icmpv6", icmp4, FALSE);
  check ("proto icmp", icmp4, TRUE);
  check ("proto icmp", icmp6, FALSE);
  check ("proto 1", icmp4, TRUE);
  check ("proto 58", icmp6, TRUE);
  check ("proto 58", icmp4, FALSE);
  check ("proto 0", icmp4, FALSE);
  check ("proto 255", icmp4, FALSE);
}

static void
test_family (void)
{
  g_autoptr (CtFlow) v4 = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) v6 = tcp6 ("::1", 1024, "::2", 22);

  check ("ipv4", v4, TRUE);
  check ("ip4", v4, TRUE);
  check ("ipv6", v4, FALSE);
  check ("ip6", v4, FALSE);
  check ("ipv6", v6, TRUE);
  check ("ip6", v6, TRUE);
  check ("ipv4", v6, FALSE);
  check ("ip4", v6, FALSE);
}

static void
test_addresses (void)
{
  g_autoptr (CtFlow) v4 = tcp4 ("192.168.1.10", 1024, "10.1.2.3", 22);
  g_autoptr (CtFlow) v6 = tcp6 ("2001:db8::1", 1024, "fe80::2", 22);
  g_autoptr (CtFlow) mapped = tcp6 ("::ffff:192.168.1.10", 1024, "::1", 22);

  check ("src 192.168.1.10", v4, TRUE);
  check ("src 192.168.1.11", v4, FALSE);
  check ("src 10.1.2.3", v4, FALSE);
  check ("dst 10.1.2.3", v4, TRUE);
  check ("dst 192.168.1.10", v4, FALSE);
  check ("host 192.168.1.10", v4, TRUE);
  check ("host 10.1.2.3", v4, TRUE);
  check ("host 10.1.2.4", v4, FALSE);

  /* Prefixes: /0 is "any address of this family", /32 is exact, and the
   * bits past a prefix that does not end on a byte boundary are ignored. */
  check ("src 0.0.0.0/0", v4, TRUE);
  check ("src 1.2.3.4/0", v4, TRUE);
  check ("src 192.168.1.10/32", v4, TRUE);
  check ("src 192.168.1.11/32", v4, FALSE);
  check ("src 192.168.1.11/31", v4, TRUE);
  check ("src 192.168.1.12/31", v4, FALSE);
  check ("src 192.168.0.0/23", v4, TRUE);
  check ("src 192.168.2.0/23", v4, FALSE);
  check ("src 192.168.0.0/16", v4, TRUE);
  check ("src 192.169.0.0/16", v4, FALSE);
  check ("dst 10.0.0.0/8", v4, TRUE);
  check ("dst 11.0.0.0/8", v4, FALSE);
  check ("src 128.0.0.0/1", v4, TRUE);
  check ("src 0.0.0.0/1", v4, FALSE);
  check ("host 10.0.0.0/8", v4, TRUE);

  check ("src 2001:db8::1", v6, TRUE);
  check ("src 2001:DB8:0:0:0:0:0:1", v6, TRUE);
  check ("src 2001:db8::1/128", v6, TRUE);
  check ("src 2001:db8::2/128", v6, FALSE);
  check ("src 2001:db8::3/127", v6, FALSE);
  check ("src 2001:db8::/32", v6, TRUE);
  check ("src 2001:db9::/32", v6, FALSE);
  check ("src 2001:db8::/31", v6, TRUE);
  check ("src ::/0", v6, TRUE);
  check ("dst fe80::/10", v6, TRUE);
  check ("dst fec0::/10", v6, FALSE);
  check ("host fe80::2", v6, TRUE);

  /* The filter's family must be the flow's: /0 of one family does not
   * match the other, nor does an IPv4-mapped address match IPv4. */
  check ("src 0.0.0.0/0", v6, FALSE);
  check ("src ::/0", v4, FALSE);
  check ("host 0.0.0.0/0", v6, FALSE);
  check ("src 192.168.1.10", mapped, FALSE);
  check ("src ::ffff:192.168.1.10", mapped, TRUE);
  check ("src ::ffff:0:0/96", mapped, TRUE);
  check ("src ::ffff:192.168.1.10", v4, FALSE);
}

static void
test_ports (void)
{
  g_autoptr (CtFlow) tcp = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) udp
      = flow_new (AF_INET6, IPPROTO_UDP, "::1", 0, "::2", 65535);
  g_autoptr (CtFlow) sctp
      = flow_new (AF_INET, IPPROTO_SCTP, "10.0.0.1", 5000, "10.0.0.2", 5001);
  g_autoptr (CtFlow) icmp
      = flow_new (AF_INET, IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0);
  g_autoptr (CtFlow) gre
      = flow_new (AF_INET, IPPROTO_GRE, "10.0.0.1", 0, "10.0.0.2", 0);

  check ("dport 22", tcp, TRUE);
  check ("dport 23", tcp, FALSE);
  check ("sport 22", tcp, FALSE);
  check ("sport 1024", tcp, TRUE);
  check ("port 22", tcp, TRUE);
  check ("port 1024", tcp, TRUE);
  check ("port 80", tcp, FALSE);

  check ("dport 20-22", tcp, TRUE);
  check ("dport 22-30", tcp, TRUE);
  check ("dport 23-30", tcp, FALSE);
  check ("dport 1-21", tcp, FALSE);
  check ("sport 1000-2000", tcp, TRUE);
  check ("port 0-21", tcp, FALSE);
  check ("port 0-65535", tcp, TRUE);

  check ("sport 0", udp, TRUE);
  check ("dport 65535", udp, TRUE);
  check ("dport 65534", udp, FALSE);
  check ("dport 65535-65535", udp, TRUE);
  check ("sport 0-0", udp, TRUE);
  check ("port 5001", sctp, TRUE);

  /* ICMP keeps type and code where ports go; `port` must not see them. */
  check ("sport 8", icmp, FALSE);
  check ("port 8", icmp, FALSE);
  check ("dport 0", icmp, FALSE);
  check ("port 0-65535", icmp, FALSE);
  check ("not port 8", icmp, TRUE);
  check ("port 0", gre, FALSE);
  check ("port 0-65535", gre, FALSE);
}

static void
test_icmp_type_code (void)
{
  g_autoptr (CtFlow) echo4
      = flow_new (AF_INET, IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0);
  g_autoptr (CtFlow) unreach6
      = flow_new (AF_INET6, IPPROTO_ICMPV6, "::1", 1, "::2", 4);
  g_autoptr (CtFlow) tcp = tcp4 ("10.0.0.1", 8, "10.0.0.2", 0);

  check ("icmp-type 8", echo4, TRUE);
  check ("icmp-type 0", echo4, FALSE);
  check ("icmp-code 0", echo4, TRUE);
  check ("icmp-code 1", echo4, FALSE);
  check ("icmp-type 1 icmp-code 4", unreach6, TRUE);
  check ("icmp-type 1 icmp-code 3", unreach6, FALSE);
  check ("icmp-type 255", unreach6, FALSE);
  /* A TCP flow with the same numbers in its ports is not ICMP. */
  check ("icmp-type 8", tcp, FALSE);
  check ("icmp-code 0", tcp, FALSE);
}

static void
test_state (void)
{
  g_autoptr (CtFlow) plain = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) confirmed = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) dnat = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) snat = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);

  confirmed->flags = CT_FLOW_CONFIRMED;
  confirmed->active = 2;
  dnat->flags = CT_FLOW_DNAT;
  snat->flags = CT_FLOW_SNAT | CT_FLOW_CONFIRMED;

  check ("confirmed", confirmed, TRUE);
  check ("confirmed", plain, FALSE);
  check ("unconfirmed", plain, TRUE);
  check ("unconfirmed", confirmed, FALSE);
  check ("active", confirmed, TRUE);
  check ("active", plain, FALSE);
  check ("nat", plain, FALSE);
  check ("nat", dnat, TRUE);
  check ("nat", snat, TRUE);
  check ("dnat", dnat, TRUE);
  check ("dnat", snat, FALSE);
  check ("snat", snat, TRUE);
  check ("snat", dnat, FALSE);
  check ("snat confirmed", snat, TRUE);
}

static void
test_verdict (void)
{
  g_autoptr (CtFlow) accepted = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) denied = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 23);

  accepted->flags = CT_FLOW_CONFIRMED;
  denied->flags = CT_FLOW_DENIED;

  check ("verdict accept", accepted, TRUE);
  check ("verdict drop", accepted, FALSE);
  check ("verdict reject", accepted, FALSE);
  /* A denied flow whose deciding rule is unknown was dropped. */
  check ("verdict accept", denied, FALSE);
  check ("verdict drop", denied, TRUE);
  check ("verdict reject", denied, FALSE);

  /* The deciding rule's verdict tells a reject from a drop. */
  denied->blame
      = ct_flow_record_hit (denied,
                            &(CtTraceHit){ .table = (char *)"filter",
                                           .chain = (char *)"INPUT",
                                           .type = CT_HIT_RULE,
                                           .position = 4,
                                           .verdict = CT_VERDICT_REJECT,
                                           .directions = CT_HIT_ORIGINAL },
                            1, 16);
  check ("verdict drop", denied, FALSE);
  check ("verdict reject", denied, TRUE);
  check ("verdict accept", denied, FALSE);
  denied->blame->verdict = CT_VERDICT_DROP;
  check ("verdict drop", denied, TRUE);
  check ("verdict reject", denied, FALSE);

  /* An accepted flow stays accepted whatever its blame says (a later
   * packet dropped). */
  accepted->blame
      = ct_flow_record_hit (accepted,
                            &(CtTraceHit){ .table = (char *)"filter",
                                           .chain = (char *)"INPUT",
                                           .type = CT_HIT_POLICY,
                                           .verdict = CT_VERDICT_DROP,
                                           .directions = CT_HIT_ORIGINAL },
                            1, 16);
  check ("verdict accept", accepted, TRUE);
  check ("verdict drop", accepted, FALSE);
}

static void
test_age (void)
{
  g_autoptr (CtFlow) flow = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) future = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) ancient = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);

  flow->first_seen = NOW - 2 * 3600 * SEC; /* two hours ago */
  flow->last_seen = NOW - 300 * SEC;       /* five minutes ago */

  /* Strict comparisons: exactly 5 minutes is neither < 5m nor > 5m. */
  check ("last-seen < 5m", flow, FALSE);
  check ("last-seen > 5m", flow, FALSE);
  check ("last-seen < 301", flow, TRUE);
  check ("last-seen > 299s", flow, TRUE);
  check ("last-seen < 1h", flow, TRUE);
  check ("last-seen > 1h", flow, FALSE);
  check ("last-seen<10m", flow, TRUE);
  check ("LAST-SEEN < 6M", flow, TRUE);
  check ("first-seen > 1h", flow, TRUE);
  check ("first-seen > 2h", flow, FALSE);
  check ("first-seen < 121m", flow, TRUE);
  check ("first-seen < 1d", flow, TRUE);
  check ("first-seen > 1d", flow, FALSE);
  check ("first-seen > 0", flow, TRUE);
  check ("last-seen < 0s", flow, FALSE);

  /* The same flow seen from later on. */
  check_at ("last-seen < 5m", flow, NOW - 60 * SEC, TRUE);
  check_at ("first-seen > 1d", flow, NOW + 86400 * SEC, TRUE);

  /* A timestamp ahead of now (clock step) has a negative age. */
  future->first_seen = future->last_seen = NOW + 60 * SEC;
  check ("last-seen < 0s", future, TRUE);
  check ("last-seen > 0s", future, FALSE);

  /* Extreme values must neither overflow nor flip the answer. */
  ancient->first_seen = G_MININT64;
  ancient->last_seen = G_MAXINT64;
  check_at ("first-seen > 106751991d", ancient, G_MAXINT64, TRUE);
  check_at ("first-seen < 1s", ancient, G_MAXINT64, FALSE);
  check_at ("last-seen < 1s", ancient, G_MININT64, TRUE);
  check_at ("last-seen > 0", ancient, G_MININT64, FALSE);
}

static void
test_precedence (void)
{
  g_autoptr (CtFlow) tcp80 = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 80);
  g_autoptr (CtFlow) udp80
      = flow_new (AF_INET, IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 80);
  g_autoptr (CtFlow) udp53
      = flow_new (AF_INET, IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 53);

  /* and binds tighter than or. */
  check ("tcp or udp and port 53", tcp80, TRUE);
  check ("tcp or udp and port 53", udp80, FALSE);
  check ("tcp or udp and port 53", udp53, TRUE);
  check ("(tcp or udp) and port 53", tcp80, FALSE);
  check ("udp and port 53 or tcp", tcp80, TRUE);
  check ("tcp || udp && port 53", udp80, FALSE);
  check ("tcp || udp && port 53", tcp80, TRUE);

  /* not binds tighter than and. */
  check ("not tcp and port 80", udp80, TRUE);
  check ("not tcp and port 80", tcp80, FALSE);
  check ("not (tcp and port 80)", udp80, TRUE);
  check ("not (tcp and port 80)", tcp80, FALSE);
  check ("not (tcp and port 80)", udp53, TRUE);
  check ("!tcp && port 53", udp53, TRUE);
  check ("!tcp || port 80", tcp80, TRUE);
  check ("not not tcp", tcp80, TRUE);
  check ("!!!tcp", tcp80, FALSE);
  check ("not tcp or port 80", tcp80, TRUE);
  check ("not (tcp or port 80)", udp80, FALSE);
  check ("((((tcp))))", tcp80, TRUE);
}

static void
test_juxtaposition (void)
{
  g_autoptr (CtFlow) tcp22 = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 22);
  g_autoptr (CtFlow) tcp80 = tcp4 ("10.0.0.1", 1024, "10.0.0.2", 80);
  g_autoptr (CtFlow) udp53
      = flow_new (AF_INET, IPPROTO_UDP, "10.0.0.1", 1024, "10.0.0.2", 53);

  check ("tcp port 22", tcp22, TRUE);
  check ("tcp port 22", tcp80, FALSE);
  check ("udp port 22", tcp22, FALSE);
  check ("tcp port 22 or udp port 53", udp53, TRUE);
  check ("tcp port 22 or udp port 53", tcp80, FALSE);
  check ("tcp (port 22 or port 80) dst 10.0.0.2", tcp80, TRUE);
  check ("tcp not port 22", tcp80, TRUE);
  check ("tcp !port 22", tcp22, FALSE);
  check ("TCP And Port 22", tcp22, TRUE);

  /* Juxtaposition and `and` build the same filter. */
  {
    g_autoptr (CtFilter) a = ct_filter_parse ("tcp port 22 src 10.0.0.1", NULL);
    g_autoptr (CtFilter) b
        = ct_filter_parse ("tcp and port 22 && src 10.0.0.1", NULL);
    g_autofree char *sa = ct_filter_to_string (a);
    g_autofree char *sb = ct_filter_to_string (b);

    g_assert_cmpstr (sa, ==, sb);
  }
}

static void
test_canonical (void)
{
  static const struct
  {
    const char *in;
    const char *out;
  } cases[] = {
    { "tcp", "tcp" },
    { "  TCP  ", "tcp" },
    { "TCP port 22", "(tcp and port 22)" },
    { "tcp && port 22", "(tcp and port 22)" },
    { "tcp or udp and port 53", "(tcp or (udp and port 53))" },
    { "(tcp or udp) and port 53", "((tcp or udp) and port 53)" },
    { "tcp || udp || gre", "(tcp or udp or gre)" },
    /* Associative runs are flattened whatever the parentheses. */
    { "tcp and (port 1 and (confirmed))", "(tcp and port 1 and confirmed)" },
    { "(tcp or udp) or (gre or esp)", "(tcp or udp or gre or esp)" },
    { "((((tcp))))", "tcp" },
    { "!tcp", "not tcp" },
    { "not not tcp", "not not tcp" },
    { "!(tcp || udp)", "not (tcp or udp)" },
    { "not tcp and udp", "(not tcp and udp)" },
    { "proto 6", "tcp" },
    { "proto 58", "icmpv6" },
    { "proto ICMP", "proto 1" },
    { "proto 1", "proto 1" },
    { "proto 200", "proto 200" },
    { "proto 047", "gre" },
    { "icmp", "icmp" },
    { "ip4", "ipv4" },
    { "IP6", "ipv6" },
    { "src 10.1.2.3/8", "src 10.0.0.0/8" },
    { "src 10.1.2.255/23", "src 10.1.2.0/23" },
    { "host 10.1.2.3/32", "host 10.1.2.3" },
    { "host 10.1.2.3/0", "host 0.0.0.0/0" },
    { "dst 2001:DB8:0:0::1/128", "dst 2001:db8::1" },
    { "dst 2001:db8::ff/120", "dst 2001:db8::/120" },
    { "host ::/0", "host ::/0" },
    { "src ::ffff:10.0.0.1", "src ::ffff:10.0.0.1" },
    { "port 22-22", "port 22" },
    { "sport 0-65535", "sport 0-65535" },
    { "dport 0080", "dport 80" },
    { "icmp-type 008", "icmp-type 8" },
    { "icmp-code 3", "icmp-code 3" },
    { "last-seen<300", "last-seen < 5m" },
    { "first-seen > 86400s", "first-seen > 1d" },
    { "last-seen < 90", "last-seen < 90s" },
    { "last-seen < 0", "last-seen < 0s" },
    { "last-seen > 120m", "last-seen > 2h" },
    { "last-seen > 25h", "last-seen > 25h" },
    { "verdict REJECT", "verdict reject" },
    { "CONFIRMED unconfirmed Nat dnat snat active",
      "(confirmed and unconfirmed and nat and dnat and snat and active)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CtFilter) filter = ct_filter_parse (cases[i].in, &error);
      g_autoptr (CtFilter) again = NULL;
      g_autofree char *canon = NULL;
      g_autofree char *canon2 = NULL;

      g_assert_no_error (error);
      canon = ct_filter_to_string (filter);
      g_assert_cmpstr (canon, ==, cases[i].out);
      again = ct_filter_parse (canon, &error);
      g_assert_no_error (error);
      canon2 = ct_filter_to_string (again);
      g_assert_cmpstr (canon2, ==, canon);
    }
}

static void
test_errors (void)
{
  static const struct
  {
    const char *in;
    long column;
    const char *why;
  } cases[] = {
    { "tcp port http", 10,
      "expected a port number or range after 'port', got 'http'" },
    { "foo", 1, "unknown word 'foo'" },
    { "tcp foo", 5, "unknown word 'foo'" },
    { "22", 1, "unknown word '22' (a port needs 'port'" },
    { "10.0.0.1", 1, "unknown word '10.0.0.1' (an address needs" },
    { "tcp 10.0.0.0/8", 5, "(an address needs" },
    { "port", 5, "after 'port', got end of input" },
    { "PORT ssh", 6, "after 'PORT', got 'ssh'" },
    { "port (22)", 6, "after 'port', got '('" },
    { "port 70000", 6, "port 70000 is out of range (0-65535)" },
    { "port 1-70000", 8, "port 70000 is out of range (0-65535)" },
    { "port 99999999999999999999999", 6, "is out of range" },
    { "port 20-10", 6, "port range 20-10 is reversed" },
    { "port 10-", 6, "expected a port number or range" },
    { "sport -10", 7, "expected a port number or range after 'sport'" },
    { "dport 1.5", 7, "got '1.5'" },
    { "src", 4, "expected an IPv4 or IPv6 address after 'src', got end" },
    { "src 10.0.0", 5, "expected an IPv4 or IPv6 address after 'src'" },
    { "dst example.com", 5, "got 'example.com'" },
    { "host 1:2:3:4:5:6:7:8:9", 6, "expected an IPv4 or IPv6 address" },
    { "dst 10.0.0.1/33", 14,
      "prefix length 33 is out of range for an IPv4 address (0-32)" },
    { "host ::1/129", 10,
      "prefix length 129 is out of range for an IPv6 address (0-128)" },
    { "host ::1/", 10, "expected a prefix length (0-128) after '/'" },
    { "host 1.2.3.4/x", 14, "expected a prefix length (0-32)" },
    { "host 1.2.3.4/8/8", 14, "expected a prefix length (0-32)" },
    { "host fe80::1%eth0", 13, "unexpected character '%'" },
    { "host 1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa", 6,
      "expected an IPv4 or IPv6 address after 'host'" },
    { "$", 1, "unexpected character '$'" },
    { "tcp and $", 9, "unexpected character '$'" },
    { "(tcp)$", 6, "unexpected character '$'" },
    { "(tcp", 5, "missing ')' to close the '(' at column 1" },
    { "((tcp)", 7, "missing ')' to close the '(' at column 1" },
    { "tcp (udp or (gre)", 18, "missing ')' to close the '(' at column 5" },
    { "(tcp < 5)", 6, "expected ')' to close the '(' at column 1, got '<'" },
    { "tcp)", 4, "unbalanced ')'" },
    { "(tcp))", 6, "unbalanced ')'" },
    { ")", 1, "expected an expression, got ')'" },
    { "()", 2, "expected an expression after '(', got ')'" },
    { "tcp and", 8, "expected an expression after 'and', got end of input" },
    { "tcp or or udp", 8, "expected an expression after 'or', got 'or'" },
    { "tcp && || udp", 8, "expected an expression after '&&', got '||'" },
    { "and tcp", 1, "expected an expression, got 'and'" },
    { "|| tcp", 1, "expected an expression, got '||'" },
    { "(or tcp)", 2, "expected an expression after '(', got 'or'" },
    { "tcp or (and udp)", 9, "after '(', got 'and'" },
    { "not", 4, "expected an expression after 'not', got end of input" },
    { "tcp and !", 10, "after '!', got end of input" },
    { "not or tcp", 5, "after 'not', got 'or'" },
    { "tcp & udp", 5, "unexpected character '&' (did you mean '&&'?)" },
    { "tcp | udp", 5, "unexpected character '|' (did you mean '||'?)" },
    { "tcp = 5", 5, "unexpected character '='" },
    { "tcp \"udp\"", 5, "unexpected character '\"'" },
    { "tcp\x01", 4, "unexpected character U+0001" },
    { "tcp\xc2\xa0udp", 4, "unexpected character U+00A0" },
    { "port \xc3\xa9", 6, "unexpected character '\xc3\xa9'" },
    { "tcp \xff", 5, "invalid UTF-8" },
    { "tcp < 5m", 5, "unexpected '<' (only 'last-seen' and 'first-seen'" },
    { "proto", 6, "expected a protocol number (0-255) or name after 'proto'" },
    { "proto 256", 7, "protocol number 256 is out of range (0-255)" },
    { "proto foo", 7, "or name after 'proto', got 'foo'" },
    { "icmp-type 256", 11, "ICMP type 256 is out of range (0-255)" },
    { "icmp-type", 10, "expected an ICMP type number (0-255)" },
    { "icmp-code x", 11, "expected an ICMP code number (0-255)" },
    { "verdict maybe", 9,
      "expected 'accept', 'drop' or 'reject' after 'verdict', got 'maybe'" },
    { "verdict", 8, "after 'verdict', got end of input" },
    { "last-seen 5m", 11, "expected '<' or '>' after 'last-seen', got '5m'" },
    { "first-seen", 11, "expected '<' or '>' after 'first-seen', got end" },
    { "last-seen <", 12,
      "expected a duration (like 30s, 5m, 2h or 1d) after '<', got end" },
    { "first-seen > 5x", 14, "after '>', got '5x'" },
    { "first-seen > 5ms", 14, "after '>', got '5ms'" },
    { "first-seen > m", 14, "after '>', got 'm'" },
    { "last-seen < -5m", 13, "a duration" },
    { "last-seen < 99999999999999d", 13,
      "duration 99999999999999d is too long" },
    { "last-seen < 9223372036855", 13, "is too long" },
    { "icmp and xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 10,
      "unknown word 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CtFilter) filter = ct_filter_parse (cases[i].in, &error);
      g_autofree char *prefix
          = g_strdup_printf ("at column %ld: ", cases[i].column);

      g_assert_null (filter);
      g_assert_error (error, CT_FILTER_ERROR, CT_FILTER_ERROR_SYNTAX);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      if (!g_str_has_prefix (error->message, prefix)
          || strstr (error->message, cases[i].why) == NULL)
        g_test_fail_printf ("'%s': got \"%s\", wanted \"%s…%s\"", cases[i].in,
                            error->message, prefix, cases[i].why);
    }
}

static void
assert_parse_error (const char *text, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CtFilter) filter = ct_filter_parse (text, &error);

  g_assert_null (filter);
  g_assert_error (error, CT_FILTER_ERROR, CT_FILTER_ERROR_SYNTAX);
  g_assert_nonnull (strstr (error->message, why));
}

static void
assert_round_trip (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CtFilter) filter = ct_filter_parse (text, &error);
  g_autoptr (CtFilter) again = NULL;
  g_autofree char *canon = NULL;
  g_autofree char *canon2 = NULL;

  g_assert_no_error (error);
  canon = ct_filter_to_string (filter);
  g_assert_cmpuint (strlen (canon), <=, CT_FILTER_MAX_LENGTH);
  again = ct_filter_parse (canon, &error);
  g_assert_no_error (error);
  canon2 = ct_filter_to_string (again);
  g_assert_cmpstr (canon, ==, canon2);
}

static char *
repeat (const char *s, guint n)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append (out, s);
  return g_string_free (out, FALSE);
}

static void
test_limits (void)
{
  g_autofree char *open64 = repeat ("(", 64);
  g_autofree char *close64 = repeat (")", 64);
  g_autofree char *parens64 = g_strconcat (open64, "tcp", close64, NULL);
  g_autofree char *parens65 = g_strconcat ("(", parens64, ")", NULL);
  g_autofree char *nots64 = repeat ("!", 64);
  g_autofree char *not64 = g_strconcat (nots64, "tcp", NULL);
  g_autofree char *not65 = g_strconcat ("!", not64, NULL);
  g_autofree char *hostile = repeat ("(", CT_FILTER_MAX_LENGTH);
  g_autofree char *blank = repeat (" ", CT_FILTER_MAX_LENGTH - 3);
  g_autofree char *longest = g_strconcat (blank, "tcp", NULL);
  g_autofree char *too_long = g_strconcat (longest, " ", NULL);
  g_autofree char *ors = repeat ("tcp or ", CT_FILTER_MAX_TERMS - 2);
  g_autofree char *terms_max = g_strconcat (ors, "udp", NULL);
  g_autofree char *terms_over = g_strconcat (ors, "udp or gre", NULL);
  g_autofree char *terms_not = g_strconcat (ors, "!udp", NULL);
  g_autofree char *hosts
      = repeat ("host ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127 or ",
                CT_FILTER_MAX_TERMS - 2);
  g_autofree char *wide = g_strconcat (hosts, "tcp", NULL);
  GString *deep = g_string_new ("tcp");
  GString *deeper = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (CtFilter) filter = NULL;

  /* Nesting: parentheses and nots count; 64 levels are fine, 65 not. */
  assert_round_trip (parens64);
  assert_parse_error (parens65, "at column 65: expression nested too deeply");
  assert_round_trip (not64);
  assert_parse_error (not65, "at column 65: expression nested too deeply");
  assert_parse_error (hostile, "at column 65: expression nested too deeply");

  /* Precedence nests the tree deeper than the parentheses: each level of
   * "(udp X or gre)" is or -> and -> X, two tree levels for one paren. The
   * limit is on the tree, so that the canonical text re-parses. */
  for (guint i = 0; i < 32; i++)
    {
      char *s = g_strdup_printf ("(udp %s or gre)", deep->str);

      g_string_assign (deep, s);
      g_free (s);
    }
  assert_round_trip (deep->str);
  deeper = g_string_new (NULL);
  g_string_printf (deeper, "(udp %s or gre)", deep->str);
  assert_parse_error (deeper->str, "expression nested too deeply");
  g_string_printf (deeper, "!%s", deep->str);
  assert_parse_error (deeper->str, "at column 1: expression nested too deeply");
  g_string_free (deep, TRUE);
  g_string_free (deeper, TRUE);

  /* Length. */
  assert_round_trip (longest);
  assert_parse_error (too_long, "at column 1: filter is longer than 16384");

  /* Terms: CT_FILTER_MAX_TERMS - 1 predicates plus their or. */
  assert_round_trip (terms_max);
  assert_parse_error (terms_over, "filter is too complex (more than 256");
  assert_parse_error (terms_not, "filter is too complex (more than 256");

  /* The widest canonical text still fits the length limit. */
  assert_round_trip (wide);
  filter = ct_filter_parse (wide, &error);
  g_assert_no_error (error);
}

static void
test_no_error_pointer (void)
{
  /* Callers that only want a yes/no pass NULL. */
  g_assert_null (ct_filter_parse ("tcp port http", NULL));
  g_assert_null (ct_filter_parse ("((((", NULL));
  ct_filter_free (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/filter/empty", test_empty);
  g_test_add_func ("/filter/protocols", test_protocols);
  g_test_add_func ("/filter/icmp-families", test_icmp_families);
  g_test_add_func ("/filter/family", test_family);
  g_test_add_func ("/filter/addresses", test_addresses);
  g_test_add_func ("/filter/ports", test_ports);
  g_test_add_func ("/filter/icmp-type-code", test_icmp_type_code);
  g_test_add_func ("/filter/state", test_state);
  g_test_add_func ("/filter/verdict", test_verdict);
  g_test_add_func ("/filter/age", test_age);
  g_test_add_func ("/filter/precedence", test_precedence);
  g_test_add_func ("/filter/juxtaposition", test_juxtaposition);
  g_test_add_func ("/filter/canonical", test_canonical);
  g_test_add_func ("/filter/errors", test_errors);
  g_test_add_func ("/filter/limits", test_limits);
  g_test_add_func ("/filter/no-error-pointer", test_no_error_pointer);
  return g_test_run ();
}

/* The tracer without a kernel: trace filters parsed (and refused with a
 * clear message), the netlink batches it sends, message by message, and
 * its rules' expressions against what nft 1.0.6 generates for the same
 * rule text (`nft --debug=netlink`). The kernel side is in
 * tests/integration/test_trace_nft.py. */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <endian.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "tracer.h"

/* nft --debug=netlink for, in chain pre of table inet ctx:
 *   meta l4proto @l4ports ip daddr . ip saddr . meta l4proto . th sport
 *     @seen4 accept
 *   meta l4proto @l4ports ip saddr . ip daddr . meta l4proto . th dport
 *     != @seen4 add @seen4 { … timeout 1h } add @tracing4 { … timeout 30s }
 *     meta nftrace set 1 accept */
static const char nft_seen_reply[]
    = "  [ meta load l4proto => reg 1 ]\n"
      "  [ lookup reg 1 set l4ports ]\n"
      "  [ meta load nfproto => reg 1 ]\n"
      "  [ cmp eq reg 1 0x00000002 ]\n"
      "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
      "  [ payload load 4b @ network header + 12 => reg 9 ]\n"
      "  [ meta load l4proto => reg 10 ]\n"
      "  [ payload load 2b @ transport header + 0 => reg 11 ]\n"
      "  [ lookup reg 1 set seen4 ]\n"
      "  [ immediate reg 0 accept ]\n";
static const char nft_new_flow[]
    = "  [ meta load l4proto => reg 1 ]\n"
      "  [ lookup reg 1 set l4ports ]\n"
      "  [ meta load nfproto => reg 1 ]\n"
      "  [ cmp eq reg 1 0x00000002 ]\n"
      "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
      "  [ payload load 4b @ network header + 16 => reg 9 ]\n"
      "  [ meta load l4proto => reg 10 ]\n"
      "  [ payload load 2b @ transport header + 2 => reg 11 ]\n"
      "  [ lookup reg 1 set seen4 0x1 ]\n"
      /* nft loads the key again before each dynset (4 loads each); the
       * registers still hold it, so the tracer does not. */
      "  [ dynset add reg_key 1 set seen4 timeout 3600000ms ]\n"
      "  [ dynset add reg_key 1 set tracing4 timeout 30000ms ]\n"
      "  [ immediate reg 1 0x00000001 ]\n"
      "  [ meta set nftrace with reg 1 ]\n"
      "  [ immediate reg 0 accept ]\n";

typedef struct
{
  guint total; /* messages between begin and end */
  guint acks;
  guint by_type[NFT_MSG_MAX];
  GPtrArray *rules; /* rendered expressions of each NEWRULE, in order */
  GPtrArray *elems; /* Elem* of every element of NEW/DELSETELEM */
} Batch;

/* One set element as the kernel reads it. (libnftnl 1.2.4 cannot parse
 * its own requests back: it numbers the element nests 1, 2, 3 … and its
 * parser wants NFTA_LIST_ELEM for each.) */
typedef struct
{
  char set[64];
  guint8 key[64], key_end[64];
  guint key_len, key_end_len;
  guint64 timeout_ms;
} Elem;

static void
data_value (const struct nlattr *data, guint8 *out, guint *len)
{
  const struct nlattr *a;

  mnl_attr_for_each_nested (a,
                            data) if (mnl_attr_get_type (a) == NFTA_DATA_VALUE)
  {
    *len = mnl_attr_get_payload_len (a);
    g_assert_cmpuint (*len, <=, 64);
    memcpy (out, mnl_attr_get_payload (a), *len);
  }
}

static void
parse_elems (const struct nlmsghdr *nlh, GPtrArray *out)
{
  const struct nlattr *a, *elem, *f;
  const char *set = NULL;

  mnl_attr_for_each (
      a, nlh, sizeof (struct nfgenmsg)) if (mnl_attr_get_type (a)
                                            == NFTA_SET_ELEM_LIST_SET) set
      = mnl_attr_get_str (a);
  g_assert_nonnull (set);
  mnl_attr_for_each (a, nlh, sizeof (struct nfgenmsg))
  {
    if (mnl_attr_get_type (a) != NFTA_SET_ELEM_LIST_ELEMENTS)
      continue;
    mnl_attr_for_each_nested (elem, a)
    {
      Elem *e = g_new0 (Elem, 1);

      g_strlcpy (e->set, set, sizeof e->set);
      mnl_attr_for_each_nested (f, elem) switch (mnl_attr_get_type (f))
      {
      case NFTA_SET_ELEM_KEY:
        data_value (f, e->key, &e->key_len);
        break;
      case NFTA_SET_ELEM_KEY_END:
        data_value (f, e->key_end, &e->key_end_len);
        break;
      case NFTA_SET_ELEM_TIMEOUT:
        e->timeout_ms = be64toh (mnl_attr_get_u64 (f));
        break;
      default:
        break;
      }
      g_ptr_array_add (out, e);
    }
  }
}

static void
batch_clear (Batch *b)
{
  g_clear_pointer (&b->rules, g_ptr_array_unref);
  g_clear_pointer (&b->elems, g_ptr_array_unref);
}

/* The expression lines of nftnl's rendering ("  [ … ]"). */
static char *
render_rule (const struct nlmsghdr *nlh)
{
  struct nftnl_rule *r = nftnl_rule_alloc ();
  char buf[8192];
  g_auto (GStrv) lines = NULL;
  GString *out = g_string_new (NULL);

  g_assert_cmpint (nftnl_rule_nlmsg_parse (nlh, r), ==, 0);
  nftnl_rule_snprintf (buf, sizeof buf, r, NFTNL_OUTPUT_DEFAULT, 0);
  nftnl_rule_free (r);
  lines = g_strsplit (buf, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "  ["))
      g_string_append_printf (out, "%s\n", lines[i]);
  return g_string_free (out, FALSE);
}

/* Walks a batch: begin, messages with consecutive sequence numbers that
 * ask for an ack, end. */
static Batch
walk (GBytes *bytes, guint32 seq, guint n_msgs)
{
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  int len = (int)size;
  const struct nlmsghdr *nlh = (const struct nlmsghdr *)data;
  Batch b = { 0 };
  guint i = 0;

  b.rules = g_ptr_array_new_with_free_func (g_free);
  b.elems = g_ptr_array_new_with_free_func (g_free);
  for (; mnl_nlmsg_ok (nlh, len); nlh = mnl_nlmsg_next (nlh, &len), i++)
    {
      g_assert_cmpuint (nlh->nlmsg_seq, ==, seq + i);
      if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN)
        {
          g_assert_cmpuint (i, ==, 0);
          continue;
        }
      if (nlh->nlmsg_type == NFNL_MSG_BATCH_END)
        {
          g_assert_cmpint (len, ==, (int)NLMSG_ALIGN (nlh->nlmsg_len));
          continue;
        }
      g_assert_cmpuint (NFNL_SUBSYS_ID (nlh->nlmsg_type), ==,
                        NFNL_SUBSYS_NFTABLES);
      b.total++;
      if (nlh->nlmsg_flags & NLM_F_ACK)
        b.acks++;
      b.by_type[NFNL_MSG_TYPE (nlh->nlmsg_type)]++;
      if (NFNL_MSG_TYPE (nlh->nlmsg_type) == NFT_MSG_NEWRULE)
        g_ptr_array_add (b.rules, render_rule (nlh));
      else if (NFNL_MSG_TYPE (nlh->nlmsg_type) == NFT_MSG_NEWSETELEM
               || NFNL_MSG_TYPE (nlh->nlmsg_type) == NFT_MSG_DELSETELEM)
        parse_elems (nlh, b.elems);
    }
  g_assert_cmpint (len, ==, 0);
  g_assert_cmpuint (b.acks, ==, b.total);
  g_assert_cmpuint (b.acks, ==, n_msgs);
  return b;
}

static void
test_setup_batch (void)
{
  CtTracerConfig c = { .mode = CT_TRACE_MODE_NEW };
  guint n = 0;
  g_autoptr (GBytes) bytes = ct_tracer_build_setup ("ctx", &c, 100, &n);
  Batch b = walk (bytes, 100, n);

  /* l4ports, seen/tracing/filter for both families; the elements of
   * l4ports; pre and out; per chain 4 filter rules and 2 × 2 × 4. */
  g_assert_cmpuint (b.by_type[NFT_MSG_NEWSET], ==, 7);
  g_assert_cmpuint (b.by_type[NFT_MSG_NEWSETELEM], ==, 1);
  g_assert_cmpuint (b.by_type[NFT_MSG_NEWCHAIN], ==, 2);
  g_assert_cmpuint (b.by_type[NFT_MSG_NEWRULE], ==, 40);
  g_assert_cmpuint (b.total, ==, 50);
  /* In chain pre: filter rules (4), then IPv4 ports: window this way,
   * window the reply, reply of a seen flow, new flow. */
  g_assert_cmpstr (g_ptr_array_index (b.rules, 6), ==, nft_seen_reply);
  g_assert_cmpstr (g_ptr_array_index (b.rules, 7), ==, nft_new_flow);
  batch_clear (&b);
}

static void
test_mode_batches (void)
{
  static const struct
  {
    CtTraceMode mode;
    guint rules;
  } cases[] = {
    { CT_TRACE_MODE_OFF, 8 },
    { CT_TRACE_MODE_ALL, 10 },
    { CT_TRACE_MODE_NEW, 40 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      CtTracerConfig c = { .mode = cases[i].mode, .window_s = 5 };
      guint n = 0;
      g_autoptr (GBytes) bytes = ct_tracer_build_mode ("ctx", &c, 7, &n);
      Batch b = walk (bytes, 7, n);

      /* Both chains flushed, then filled, in one transaction. */
      g_assert_cmpuint (b.by_type[NFT_MSG_DELRULE], ==, 2);
      g_assert_cmpuint (b.by_type[NFT_MSG_NEWRULE], ==, cases[i].rules);
      g_assert_cmpuint (b.total, ==, 2 + cases[i].rules);
      if (cases[i].mode == CT_TRACE_MODE_ALL)
        g_assert_cmpstr (g_ptr_array_index (b.rules, 4), ==,
                         "  [ immediate reg 1 0x00000001 ]\n"
                         "  [ meta set nftrace with reg 1 ]\n"
                         "  [ immediate reg 0 accept ]\n");
      if (cases[i].mode == CT_TRACE_MODE_NEW)
        g_assert_nonnull (strstr (g_ptr_array_index (b.rules, 7),
                                  "set tracing4 timeout 5000ms"));
      batch_clear (&b);
    }
}

static void
assert_elem (const Elem *e, const char *set, const guint8 *lo, const guint8 *hi,
             guint len)
{
  g_assert_cmpstr (e->set, ==, set);
  g_assert_cmpmem (e->key, e->key_len, lo, len);
  g_assert_cmpmem (e->key_end, e->key_end_len, hi, len);
  g_assert_cmpuint (e->timeout_ms, ==, 60000);
}

static void
test_filter_elements (void)
{
  CtTraceFilter f;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  guint n = 0;
  Batch b;
  /* 10.1.2.0/24 . any . tcp . 80-89, as registers hold it */
  const guint8 lo[16] = { 10, 1, 2, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 80, 0, 0 };
  const guint8 hi[16]
      = { 10, 1, 2, 255, 255, 255, 255, 255, 6, 0, 0, 0, 0, 89, 0, 0 };

  g_assert_true (ct_trace_filter_parse ("from 10.1.2.0/24 and proto tcp "
                                        "and port 80-89",
                                        &f, &error));
  g_assert_no_error (error);
  bytes = ct_tracer_build_filter ("ctx", &f, 60, 1, &n);
  b = walk (bytes, 1, n);
  g_assert_cmpuint (b.by_type[NFT_MSG_NEWSETELEM], ==, 1);
  g_assert_cmpuint (b.elems->len, ==, 1);
  assert_elem (g_ptr_array_index (b.elems, 0), "filter4", lo, hi, 16);
  batch_clear (&b);
  g_clear_pointer (&bytes, g_bytes_unref);

  /* No address: both families; a port without a protocol: TCP and UDP. */
  g_assert_true (ct_trace_filter_parse ("port 53", &f, &error));
  bytes = ct_tracer_build_filter ("ctx", &f, 60, 1, &n);
  b = walk (bytes, 1, n);
  g_assert_cmpuint (b.by_type[NFT_MSG_NEWSETELEM], ==, 2);
  g_assert_cmpuint (b.elems->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      const Elem *e = g_ptr_array_index (b.elems, i);

      g_assert_cmpstr (e->set, ==, i < 2 ? "filter4" : "filter6");
      g_assert_cmpuint (e->key_len, ==, i < 2 ? 16 : 40);
      /* proto TCP, then UDP; port 53 both ends */
      g_assert_cmpuint (e->key[e->key_len - 8], ==, i % 2 ? 17 : 6);
      g_assert_cmpuint (e->key[e->key_len - 3], ==, 53);
      g_assert_cmpuint (e->key_end[e->key_len - 3], ==, 53);
    }
  batch_clear (&b);
}

static void
test_filter_parse (void)
{
  CtTraceFilter f;
  GError *error = NULL;
  guint8 want[16] = { 0 };
  static const char *const bad[] = {
    "",
    "   ",
    "and",
    "from",
    "from 10.0.0.1 to fd00::1",
    "from 10.0.0.0/33",
    "from 10.0.0.1 from 10.0.0.2",
    "to example.org",
    "proto tcp proto udp",
    "proto bogus",
    "port 70000",
    "port 90-80",
    "proto icmp port 8",
    "icmpv6 to 10.0.0.1",
    "ct state new",
  };

  g_assert_true (ct_trace_filter_parse ("from fd00::/16 to fd00::2 udp "
                                        "dport 53",
                                        &f, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f.family, ==, AF_INET6);
  g_assert_true (f.has_src && f.has_dst && f.has_proto && f.has_port);
  inet_pton (AF_INET6, "fd00::", want);
  g_assert_cmpmem (f.src_lo, 16, want, 16);
  inet_pton (AF_INET6, "fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", want);
  g_assert_cmpmem (f.src_hi, 16, want, 16);
  g_assert_cmpuint (f.proto, ==, IPPROTO_UDP);
  g_assert_cmpuint (f.port_lo, ==, 53);
  g_assert_cmpuint (f.port_hi, ==, 53);

  g_assert_true (ct_trace_filter_parse ("icmp", &f, &error));
  g_assert_cmpuint (f.family, ==, AF_INET);
  g_assert_true (ct_trace_filter_parse ("src 10.0.0.1 proto 47", &f, &error));
  g_assert_cmpuint (f.proto, ==, 47);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (ct_trace_filter_parse (bad[i], &f, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "cannot trace"));
      g_clear_error (&error);
    }
}

static void
test_modes (void)
{
  CtTraceMode m;
  g_autoptr (GError) error = NULL;

  g_assert_true (ct_trace_mode_from_string ("ALL", &m, NULL));
  g_assert_cmpint (m, ==, CT_TRACE_MODE_ALL);
  g_assert_true (ct_trace_mode_from_string ("off", &m, NULL));
  g_assert_cmpint (m, ==, CT_TRACE_MODE_OFF);
  g_assert_cmpstr (ct_trace_mode_to_string (CT_TRACE_MODE_NEW), ==, "new");
  g_assert_false (ct_trace_mode_from_string ("some", &m, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tracer/setup-batch", test_setup_batch);
  g_test_add_func ("/tracer/mode-batches", test_mode_batches);
  g_test_add_func ("/tracer/filter-elements", test_filter_elements);
  g_test_add_func ("/tracer/filter-parse", test_filter_parse);
  g_test_add_func ("/tracer/modes", test_modes);
  return g_test_run ();
}

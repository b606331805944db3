/* ctnetlink parsing against messages laid out as the kernel sends them,
 * and hostile ones: truncated, wrong family, nonsense nesting. */
#include <linux/netfilter/nf_conntrack_common.h>

#include "ct-parse.h"
#include "ct-msg.h"

static void
test_tcp_new (void)
{
  guint8 buf[1024];
  struct nlmsghdr *nlh = ct_msg_build (
      buf, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, AF_INET, IPPROTO_TCP,
      "10.0.0.1", "10.0.0.2", 40000, 22, 0xdeadbeef, IPS_CONFIRMED);
  CtConnEvent ev;
  guint8 want[4];

  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_OK);
  g_assert_cmpint (ev.type, ==, CT_EVENT_NEW);
  g_assert_cmpuint (ev.family, ==, AF_INET);
  g_assert_cmpuint (ev.proto, ==, IPPROTO_TCP);
  g_assert_true (ev.has_id);
  g_assert_cmpuint (ev.id, ==, 0xdeadbeef);
  g_assert_cmpuint (ev.orig.sport, ==, 40000);
  g_assert_cmpuint (ev.orig.dport, ==, 22);
  g_assert_cmpuint (ev.reply.sport, ==, 22);
  inet_pton (AF_INET, "10.0.0.2", want);
  g_assert_cmpmem (ev.orig.dst, 4, want, 4);
  g_assert_cmpmem (ev.reply.src, 4, want, 4);
  g_assert_false (ev.status & IPS_SEEN_REPLY);

  /* Same message without CREATE|EXCL is an UPDATE; in a dump, DUMP. */
  nlh->nlmsg_flags = 0;
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_OK);
  g_assert_cmpint (ev.type, ==, CT_EVENT_UPDATE);
  nlh->nlmsg_flags = NLM_F_MULTI;
  g_assert_cmpint (ct_parse_message (nlh, TRUE, &ev), ==, CT_PARSE_OK);
  g_assert_cmpint (ev.type, ==, CT_EVENT_DUMP);
}

static void
test_icmpv6_destroy_with_counters (void)
{
  guint8 buf[1024];
  struct nlmsghdr *nlh
      = ct_msg_build (buf, IPCTNL_MSG_CT_DELETE, 0, AF_INET6, IPPROTO_ICMPV6,
                      "fd00::1", "fd00::2", 128, 0, 42, IPS_SEEN_REPLY);
  struct nlattr *c;
  CtConnEvent ev;

  c = mnl_attr_nest_start (nlh, CTA_COUNTERS_ORIG);
  mnl_attr_put_u64 (nlh, CTA_COUNTERS_PACKETS, GUINT64_TO_BE (3));
  mnl_attr_put_u64 (nlh, CTA_COUNTERS_BYTES, GUINT64_TO_BE (252));
  mnl_attr_nest_end (nlh, c);
  c = mnl_attr_nest_start (nlh, CTA_COUNTERS_REPLY);
  mnl_attr_put_u64 (nlh, CTA_COUNTERS_PACKETS, GUINT64_TO_BE (3));
  mnl_attr_put_u64 (nlh, CTA_COUNTERS_BYTES, GUINT64_TO_BE (252));
  mnl_attr_nest_end (nlh, c);

  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_OK);
  g_assert_cmpint (ev.type, ==, CT_EVENT_DESTROY);
  g_assert_cmpuint (ev.family, ==, AF_INET6);
  g_assert_cmpuint (ev.orig.sport, ==, 128); /* type */
  g_assert_cmpuint (ev.orig.dport, ==, 0);   /* code */
  g_assert_true (ev.status & IPS_SEEN_REPLY);
  g_assert_true (ev.has_counters);
  g_assert_cmpuint (ev.packets, ==, 6);
  g_assert_cmpuint (ev.bytes, ==, 504);
}

static void
test_portless_protocol (void)
{
  guint8 buf[1024];
  struct nlmsghdr *nlh
      = ct_msg_build (buf, IPCTNL_MSG_CT_NEW, NLM_F_CREATE, AF_INET,
                      IPPROTO_GRE, "10.0.0.1", "10.0.0.2", 0, 0, 1, 0);
  CtConnEvent ev;

  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_OK);
  g_assert_cmpuint (ev.proto, ==, IPPROTO_GRE);
  g_assert_cmpuint (ev.orig.sport, ==, 0);
}

static void
test_bad_input (void)
{
  guint8 buf[1024];
  struct nlmsghdr *nlh;
  CtConnEvent ev;

  /* Not conntrack at all. */
  nlh = ct_msg_build (buf, IPCTNL_MSG_CT_NEW, 0, AF_INET, IPPROTO_TCP,
                      "10.0.0.1", "10.0.0.2", 1, 2, 1, 0);
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8);
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_IGNORED);

  /* An unknown family is ignored, not misread. */
  nlh = ct_msg_build (buf, IPCTNL_MSG_CT_NEW, 0, AF_INET, IPPROTO_TCP,
                      "10.0.0.1", "10.0.0.2", 1, 2, 1, 0);
  ((struct nfgenmsg *)mnl_nlmsg_get_payload (nlh))->nfgen_family = 7;
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_IGNORED);

  /* Header too short for the nfgenmsg. */
  nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8);
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_INVALID);

  /* No original tuple. */
  nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8);
  ((struct nfgenmsg *)mnl_nlmsg_put_extra_header (nlh,
                                                  sizeof (struct nfgenmsg)))
      ->nfgen_family
      = AF_INET;
  mnl_attr_put_u32 (nlh, CTA_ID, htonl (1));
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_INVALID);

  /* An IPv6 family with IPv4-sized addresses. */
  nlh = ct_msg_build (buf, IPCTNL_MSG_CT_NEW, 0, AF_INET, IPPROTO_TCP,
                      "10.0.0.1", "10.0.0.2", 1, 2, 1, 0);
  ((struct nfgenmsg *)mnl_nlmsg_get_payload (nlh))->nfgen_family = AF_INET6;
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_INVALID);

  /* An attribute claiming more bytes than the message holds. */
  nlh = ct_msg_build (buf, IPCTNL_MSG_CT_NEW, 0, AF_INET, IPPROTO_TCP,
                      "10.0.0.1", "10.0.0.2", 1, 2, 1, 0);
  {
    struct nlattr *first
        = (struct nlattr *)((guint8 *)mnl_nlmsg_get_payload (nlh)
                            + sizeof (struct nfgenmsg));
    first->nla_len = 0xfff0;
  }
  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ct-parse/tcp-new", test_tcp_new);
  g_test_add_func ("/ct-parse/icmpv6-destroy-counters",
                   test_icmpv6_destroy_with_counters);
  g_test_add_func ("/ct-parse/portless", test_portless_protocol);
  g_test_add_func ("/ct-parse/bad-input", test_bad_input);
  return g_test_run ();
}

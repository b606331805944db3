/* ct-msg.h — builds ctnetlink messages the way the kernel lays them out,
 * for the parser tests and the fuzz corpus. Test-only. */
#pragma once

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static inline void
ct_msg_put_tuple (struct nlmsghdr *nlh, int attr, int family, guint8 proto,
                  const char *src, const char *dst, guint16 sport,
                  guint16 dport)
{
  struct nlattr *tuple = mnl_attr_nest_start (nlh, attr);
  struct nlattr *ip = mnl_attr_nest_start (nlh, CTA_TUPLE_IP);
  struct nlattr *pr;
  guint8 a[16];

  inet_pton (family, src, a);
  mnl_attr_put (nlh, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC,
                family == AF_INET ? 4 : 16, a);
  inet_pton (family, dst, a);
  mnl_attr_put (nlh, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST,
                family == AF_INET ? 4 : 16, a);
  mnl_attr_nest_end (nlh, ip);
  pr = mnl_attr_nest_start (nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8 (nlh, CTA_PROTO_NUM, proto);
  if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
    {
      gboolean v6 = proto == IPPROTO_ICMPV6;

      mnl_attr_put_u16 (nlh, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID,
                        htons (77));
      mnl_attr_put_u8 (nlh, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE,
                       (guint8)sport);
      mnl_attr_put_u8 (nlh, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE,
                       (guint8)dport);
    }
  else if (proto != IPPROTO_GRE)
    {
      mnl_attr_put_u16 (nlh, CTA_PROTO_SRC_PORT, htons (sport));
      mnl_attr_put_u16 (nlh, CTA_PROTO_DST_PORT, htons (dport));
    }
  mnl_attr_nest_end (nlh, pr);
  mnl_attr_nest_end (nlh, tuple);
}

/* A NEW (or, with msg_type DELETE, DESTROY) event for a plain flow whose
 * reply tuple is the mirror image of the original one. */
static inline struct nlmsghdr *
ct_msg_build (void *buf, guint16 msg_type, guint16 flags, int family,
              guint8 proto, const char *src, const char *dst, guint16 sport,
              guint16 dport, guint32 id, guint32 status)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct nfgenmsg *nfg;
  gboolean icmp = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;

  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg_type;
  nlh->nlmsg_flags = flags;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof *nfg);
  nfg->nfgen_family = (guint8)family;
  nfg->version = NFNETLINK_V0;
  ct_msg_put_tuple (nlh, CTA_TUPLE_ORIG, family, proto, src, dst, sport, dport);
  ct_msg_put_tuple (nlh, CTA_TUPLE_REPLY, family, proto, dst, src,
                    icmp ? 0 : dport, icmp ? 0 : sport);
  mnl_attr_put_u32 (nlh, CTA_STATUS, htonl (status));
  mnl_attr_put_u32 (nlh, CTA_ID, htonl (id));
  return nlh;
}

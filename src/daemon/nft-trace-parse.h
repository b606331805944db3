/* nft-trace-parse.h — turns one NFT_MSG_TRACE message (NFNLGRP_NFTRACE)
 * into a CtNftTrace. Pure: bytes in, struct out; no sockets, no allocation,
 * no rule lookup; safe on hostile input (fuzzed). */
#pragma once

#include <glib.h>
#include <linux/netlink.h>

#include "ct-parse.h"
#include "flow.h"
#include "packet-parse.h"

G_BEGIN_DECLS

/* NFT_NAME_MAXLEN: the kernel's limit for table and chain names, NUL
 * included, so every name a kernel sends fits; longer ones are cut. */
#define CT_NFT_NAME_LEN 256

typedef struct
{
  /* nfgen_family: the table's family (NFPROTO_INET, NFPROTO_IPV4, …). */
  guint8 family;
  /* NFTA_TRACE_NFPROTO: the packet's family, NFPROTO_IPV4 or NFPROTO_IPV6
   * also in inet tables; bridge and netdev tables report their own. */
  guint32 nfproto;
  /* NFTA_TRACE_ID: one packet's messages share it. A hash of the skb, so
   * later packets may reuse it. */
  guint32 id;
  guint32 type; /* NFT_TRACETYPE_*: see ct_nft_trace_hit_type() */
  char table[CT_NFT_NAME_LEN];
  char chain[CT_NFT_NAME_LEN];

  /* The rule that matched; absent for the policy and for the chain-end
   * message (see ct_nft_trace_is_chain_end()). */
  gboolean has_handle;
  guint64 handle;
  /* NFTA_TRACE_VERDICT, sent with rule and return events: NF_DROP,
   * NF_ACCEPT, … (a queue number or errno in the upper 16 bits) or one of
   * the negative NFT_CONTINUE, NFT_BREAK, NFT_JUMP, NFT_GOTO, NFT_RETURN. */
  gboolean has_verdict;
  gint32 verdict;
  char verdict_chain[CT_NFT_NAME_LEN]; /* jump/goto target, else "" */
  gboolean has_policy;                 /* sent with policy events */
  guint32 policy;                      /* NF_ACCEPT or NF_DROP */

  guint32 iif;  /* ifindex, 0 when not sent */
  guint32 oif;  /* ifindex, 0 when not sent */
  guint32 mark; /* 0 when not sent: the kernel omits a zero mark */

  /* The packet's headers come only with the first message of each base
   * chain that sees the packet. has_tuple: family and addresses are valid;
   * tuple.l4 says whether proto and ports are too (IPv6 extension headers
   * are not sent, so such packets end with CT_PACKET_L4_UNKNOWN). */
  gboolean has_tuple;
  CtPacketTuple tuple;

  /* Conntrack's view (Linux 6.16+), on the same first message and only
   * once conntrack has seen the packet. ct_id equals ctnetlink's CTA_ID as
   * ct_parse_message() reads it; for an ICMP error it is the id of the
   * flow the error is about (ct_state then has the RELATED bit).
   * ct_state is NF_CT_STATE_BIT (ctinfo): 1 invalid, 2 established,
   * 4 related, 8 new, 64 untracked. ct_status holds IPS_* bits and stays
   * 0 when not sent (the kernel omits 0). */
  gboolean has_ct_state;
  guint32 ct_state;
  gboolean has_ct_id;
  guint32 ct_id;
  gboolean has_ct_direction;
  guint8 ct_direction; /* IP_CT_DIR_ORIGINAL or IP_CT_DIR_REPLY */
  guint32 ct_status;
} CtNftTrace;

/* Parses an NFNL_SUBSYS_NFTABLES message of at least sizeof(struct
 * nlmsghdr) bytes whose nlmsg_len the caller has checked to lie within its
 * buffer (mnl_nlmsg_ok). Other messages are CT_PARSE_IGNORED; a trace
 * without id, type, table or chain, or with a known attribute too short
 * for its type, is CT_PARSE_INVALID. */
CtParseResult ct_nft_trace_parse (const struct nlmsghdr *nlh, CtNftTrace *out);

/* The hit this message records, in the legacy terms: POLICY for a base
 * chain's policy, RULE for a rule that matched (has_handle; its verdict may
 * be anything, "return" and "continue" included). FALSE for the chain-end
 * message below and for messages that record no hit. */
gboolean ct_nft_trace_hit_type (const CtNftTrace *trace, CtHitType *type);

/* The chain ran out of rules: no rule decided. Sent for every chain; for a
 * base chain the POLICY message (same id and chain) follows and is the hit,
 * for a regular chain this is the legacy "return" (back to the caller).
 * Only the rule cache knows which kind a chain is. 6.18 sends it as a rule
 * event without handle, older kernels as a return event; both with the
 * verdict "continue". */
gboolean ct_nft_trace_is_chain_end (const CtNftTrace *trace);

G_END_DECLS

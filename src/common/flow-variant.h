/* flow-variant.h — a CtFlow as the D-Bus flow dictionary (a{sv}) that
 * introspection/org.conntracker.Flows.xml documents. Builds values only. */
#pragma once

#include "flow.h"

G_BEGIN_DECLS

typedef enum
{
  CT_FLOW_VARIANT_DEFAULT = 0,
  /* Add "hits" (aa{sv}), as GetFlow does. Hits come in the order the flow
   * holds them: call ct_flow_sort_hits first for the legacy order. */
  CT_FLOW_VARIANT_HITS = 1 << 0,
} CtFlowVariantFlags;

/* A floating a{sv}. Keys whose value is unknown or meaningless for the
 * flow (ports of ICMP, NAT of an un-NATed flow, the blame of an untraced
 * flow) are left out. "blame" (the deciding hit, a{sv} with the keys of a
 * hit) comes with every flow that has one, "hits" only with
 * CT_FLOW_VARIANT_HITS. */
GVariant *ct_flow_to_variant (const CtFlow *flow, CtFlowVariantFlags flags);

/* Appends dict (an a{sv} from ct_flow_to_variant) as one line of JSON and
 * '\n': the same keys with "_" for "-", variants unboxed, every integer a
 * JSON number. This is DumpFlows' "json" format. */
void ct_flow_variant_append_json (GString *out, GVariant *dict);

/* The "verdict" value: "accept", or for a denied flow what its deciding
 * hit did ("reject", else "drop"). */
const char *ct_flow_variant_verdict (const CtFlow *flow);

/* The "protocol" value: "tcp", "udp", "icmp" (ICMP and ICMPv6), "sctp",
 * "dccp", "udplite", "gre", "esp", "ah", else the number as text; buf
 * (>= 4 bytes) holds the latter. */
const char *ct_flow_variant_protocol (guint8 proto, char *buf, gsize len);

G_END_DECLS

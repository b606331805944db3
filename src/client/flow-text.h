/* flow-text.h — flow dictionaries (a{sv}, as org.conntracker.Flows sends
 * them) as text for people. Keys may be absent: every helper copes. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "→", or "->" when the locale's charset cannot show it. */
const char *ct_text_arrow (void);

/* "tcpv4", "udpv6", "icmpv4", "grev6", "132v4"… */
char *ct_text_protocol (GVariant *flow);

/* The source or destination port cell: the port, "type/code" for ICMP in
 * the destination, "-" otherwise. */
char *ct_text_sport (GVariant *flow);
char *ct_text_dport (GVariant *flow);

/* "10.0.0.1:22", "[fd00::1]:22", or the bare address without ports. */
char *ct_text_endpoint (GVariant *flow, gboolean source);

/* "confirmed", "unreplied" or "denied" (translated). */
const char *ct_text_state_word (GVariant *flow);

/* The state word, then "→ 10.0.0.5:8080" after DNAT. */
char *ct_text_state (GVariant *flow);

/* One line for watch: "17 tcpv4 10.0.0.9:1024 → 10.0.0.1:22 confirmed, 3
 * connections". */
char *ct_text_flow_line (GVariant *flow);

/* "5s ago", "3m ago", "2h ago", "4d ago". */
char *ct_text_age (gint64 then_us, gint64 now_us);

/* Local time, "2026-01-31 12:00:05". */
char *ct_text_time (gint64 us);

/* A hit dictionary ("hits", "blame") as its place: "inet fw input", or
 * "filter INPUT" for a legacy xtables hit (no family). */
char *ct_text_hit_place (GVariant *hit);

/* A hit dictionary in one line: "inet fw input, rule 8 (drop): udp dport
 * 9 drop", "inet fw input, policy (drop)" (translated). */
char *ct_text_hit (GVariant *hit);

/* The firewall denied it: its "verdict" is not "accept". */
gboolean ct_flow_is_denied (GVariant *flow);

/* "ipv6" when the flow says so, else "ipv4". */
gboolean ct_flow_is_ipv6 (GVariant *flow);

/* A uint64 as decimal, for messages that cannot use G_GUINT64_FORMAT inside
 * a translatable string. */
char *ct_text_u64 (guint64 value);

G_END_DECLS

/* flow.h — the flow model: a flow's identity (key), source-port folding,
 * the display order, and the per-flow aggregates. Pure data: no I/O here. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Source ports at or above this are folded into it (the 2021 tool's rule). */
#define CT_FOLD_PORT 1024

/* One flow = one original direction. ICMP and ICMPv6 have no ports: `sport`
 * then holds the ICMP type and `dport` the code. Protocols without ports
 * (GRE, ESP, …) keep both zero. Addresses are in network byte order; an
 * IPv4 address uses the first 4 bytes and the rest stays zero, so the whole
 * key can be hashed and compared as bytes (pad is always zero). */
typedef struct
{
  guint8 family; /* AF_INET or AF_INET6 */
  guint8 proto;  /* IPPROTO_* */
  guint16 sport; /* host byte order */
  guint16 dport; /* host byte order */
  guint16 pad;
  guint8 src[16];
  guint8 dst[16];
} CtFlowKey;

G_STATIC_ASSERT (sizeof (CtFlowKey) == 40);

typedef enum
{
  CT_FLOW_CONFIRMED = 1 << 0, /* a reply was seen (IPS_SEEN_REPLY) */
  CT_FLOW_DNAT = 1 << 1,      /* destination rewritten: see nat_dst */
  CT_FLOW_SNAT = 1 << 2,      /* source rewritten: see nat_src */
  CT_FLOW_DENIED = 1 << 3,    /* known only from traces that dropped it */
} CtFlowFlags;

/* Where a trace hit happened, in the terms of the legacy dump. */
typedef enum
{
  CT_HIT_POLICY = 0,
  CT_HIT_RULE = 1,
  CT_HIT_RETURN = 2,
} CtHitType;

/* What a rule (or a chain's policy) did with a traced packet. */
typedef enum
{
  CT_VERDICT_NONE = 0, /* matched, went on (counter, log, TRACE, …) */
  CT_VERDICT_ACCEPT,
  CT_VERDICT_DROP,
  CT_VERDICT_REJECT,
  CT_VERDICT_QUEUE,
  CT_VERDICT_JUMP,
  CT_VERDICT_GOTO,
  CT_VERDICT_RETURN,
  CT_VERDICT_CONTINUE,
} CtVerdict;

/* Directions a hit was seen in (bits). */
#define CT_HIT_ORIGINAL (1u << 0)
#define CT_HIT_REPLY    (1u << 1)

typedef struct
{
  char *family; /* nft table family ("ip", "inet", …); NULL for xtables */
  char *table;
  char *chain;
  CtHitType type;
  guint32 position; /* 1-based rule position in its chain; 0 = unknown */
  guint64 handle;   /* nft rule handle; 0 for xtables and policies */
  CtVerdict verdict;
  char *rule;        /* the rule's text, when it could be resolved */
  guint8 directions; /* CT_HIT_ORIGINAL | CT_HIT_REPLY */
  guint64 count;
  gint64 last_seen; /* µs since the Unix epoch */
} CtTraceHit;

typedef struct
{
  CtFlowKey key;
  guint64 id;          /* assigned by the store, stable while the flow lives */
  guint32 flags;       /* CtFlowFlags */
  guint32 active;      /* conntrack entries of this flow in the kernel now */
  guint64 connections; /* conntrack entries ever seen for this flow */
  guint64 packets;     /* both directions; 0 unless nf_conntrack_acct=1 */
  guint64 bytes;
  gint64 first_seen; /* µs since the Unix epoch */
  gint64 last_seen;
  guint8 nat_src[16]; /* valid with CT_FLOW_SNAT: the address peers see */
  guint8 nat_dst[16]; /* valid with CT_FLOW_DNAT: the real destination */
  guint16 nat_sport;
  guint16 nat_dport;
  GPtrArray *hits;   /* CtTraceHit*, owned; NULL until the first hit */
  CtTraceHit *blame; /* the hit that decided the flow's fate, or NULL */
  GList lru;         /* owned by the store: its place in the eviction order */
} CtFlow;

gboolean ct_flow_key_has_ports (const CtFlowKey *key);
gboolean ct_flow_key_is_icmp (const CtFlowKey *key);
guint ct_flow_key_addr_len (const CtFlowKey *key);

/* The folding rule: sport >= CT_FOLD_PORT becomes CT_FOLD_PORT. */
void ct_flow_key_fold (CtFlowKey *key);

guint ct_flow_key_hash (gconstpointer key);
gboolean ct_flow_key_equal (gconstpointer a, gconstpointer b);

/* The display order: family (IPv4 first), protocol (TCP, UDP, ICMP, then
 * others by number), source address, destination address (both compared
 * numerically), source port, destination port. A qsort-style comparator. */
int ct_flow_key_compare (const CtFlowKey *a, const CtFlowKey *b);
int ct_flow_compare_ptr (gconstpointer a, gconstpointer b);

/* Writes an address as inet_ntop does into buf (>= 46 bytes). */
const char *ct_flow_addr_to_string (guint8 family, const guint8 *addr,
                                    char *buf, gsize len);

/* A short protocol name ("TCP", "UDP", "ICMP", "GRE", …, or NULL when the
 * number has none we know) and the legacy label ("TCPv4", "ICMPv6", …). */
const char *ct_flow_proto_name (guint8 proto);
char *ct_flow_legacy_label (const CtFlowKey *key);

CtFlow *ct_flow_new (const CtFlowKey *key);
void ct_flow_free (CtFlow *flow);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtFlow, ct_flow_free)

/* Adds one hit to the flow, merging with an equal (table, chain, type,
 * position) hit. Returns FALSE without adding when the flow already holds
 * max_hits distinct hits (the caller counts that). */
gboolean ct_flow_add_hit (CtFlow *flow, const char *table, const char *chain,
                          CtHitType type, guint32 position, gint64 now,
                          guint max_hits);

/* Records a hit described by `what` (count and last_seen are ignored),
 * merging with an equal (family, table, chain, type, position, handle) one:
 * the count grows, directions and a known verdict or rule text are added.
 * Returns the stored hit, or NULL when the flow already holds max_hits
 * distinct hits. */
CtTraceHit *ct_flow_record_hit (CtFlow *flow, const CtTraceHit *what,
                                gint64 now, guint max_hits);

const char *ct_verdict_to_string (CtVerdict verdict);
/* accept, drop, reject or queue: the packet's fate in this hook. */
gboolean ct_verdict_is_final (CtVerdict verdict);

/* Sorts hits in the legacy order: table (raw, mangle, nat, filter, then
 * others by name), chain, type (policy, rule, return), position. */
void ct_flow_sort_hits (CtFlow *flow);

const char *ct_hit_type_to_string (CtHitType type);

G_END_DECLS

/* tracer.c — the tracer's sets, chains and rules in the daemon's owned
 * table, built expression by expression with libnftnl. What the kernel
 * holds (as `nft list table inet conntracker` shows it, abridged):
 *
 *   set l4ports { type inet_proto; elements = { tcp, udp, dccp, sctp, udplite } }
 *   set seen4, tracing4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service;
 *                         flags dynamic,timeout; timeout 1h / 30s; size N }
 *   set seen6, tracing6 { the same with ipv6_addr }
 *   set filter4, filter6 { … flags interval,timeout }   (on-demand filters)
 *   chain pre { type filter hook prerouting priority raw - 10; policy accept; RULES }
 *   chain out { type filter hook output priority raw - 10; policy accept; RULES }
 *
 * RULES, for each family (F = 4, 6), key = saddr . daddr . l4proto . dport
 * and rkey = daddr . saddr . l4proto . sport (ICMP: the echo identifier,
 * th offset 4, in place of both ports):
 *
 *   key @filterF  nftrace set 1 accept        (on-demand, every mode)
 *   rkey @filterF nftrace set 1 accept
 *   mode all: nftrace set 1 accept
 *   mode new, for l4proto @l4ports and for icmp/ipv6-icmp:
 *     key @tracingF  nftrace set 1 accept     (the window, this way)
 *     rkey @tracingF nftrace set 1 accept     (the window, the reply)
 *     rkey @seenF accept                      (a reply: not a new flow)
 *     key != @seenF add @seenF { key } add @tracingF { key } nftrace set 1 accept
 *
 * The chains run at raw - 10, before iptables' raw table and conntrack.
 * `accept` ends only our chain: the packet goes on to the next one; it
 * keeps our own trace messages to one per packet. */
#include "tracer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "nlmsg-walk.h"

#define CHAIN_PRE    "pre"
#define CHAIN_OUT    "out"
#define SET_L4PORTS  "l4ports"
#define CHAIN_PRIO   (-310) /* NF_IP_PRI_RAW - 10 */
#define BATCH_SIZE   (256 * 1024)
#define MSG_ROOM     (16 * 1024) /* more than any one message takes */
#define SEQ_START    0x40000000u
#define MAX_WINDOW_S (24 * 3600)

/* nft's datatype numbers, so `nft list` shows the sets' types. */
enum
{
  TYPE_IPADDR = 7,
  TYPE_IP6ADDR = 8,
  TYPE_INET_PROTOCOL = 12,
  TYPE_INET_SERVICE = 13,
  TYPE_BITS = 6,
};

/* --- modes ------------------------------------------------------------ */

static const char *const mode_names[] = {
  [CT_TRACE_MODE_OFF] = "off",
  [CT_TRACE_MODE_NEW] = "new",
  [CT_TRACE_MODE_ALL] = "all",
};

gboolean
ct_trace_mode_from_string (const char *text, CtTraceMode *mode, GError **error)
{
  for (guint i = 0; text != NULL && i < G_N_ELEMENTS (mode_names); i++)
    if (g_ascii_strcasecmp (text, mode_names[i]) == 0)
      {
        *mode = (CtTraceMode)i;
        return TRUE;
      }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "unknown trace mode '%s': use off, new or all",
               text != NULL ? text : "");
  return FALSE;
}

const char *
ct_trace_mode_to_string (CtTraceMode mode)
{
  return (guint)mode < G_N_ELEMENTS (mode_names) ? mode_names[mode] : "?";
}

/* --- families --------------------------------------------------------- */

typedef struct
{
  guint8 af;
  guint8 nfproto;
  guint addr_len;
  guint saddr_off, daddr_off;
  guint8 icmp;
  const char *seen, *tracing, *filter;
} Family;

static const Family families[] = {
  { AF_INET, NFPROTO_IPV4, 4, 12, 16, IPPROTO_ICMP, "seen4", "tracing4",
    "filter4" },
  { AF_INET6, NFPROTO_IPV6, 16, 8, 24, IPPROTO_ICMPV6, "seen6", "tracing6",
    "filter6" },
};

/* Registers of the key: address, address, protocol, port, each starting
 * on a 32-bit register; the set's key is all of them. */
static guint
reg_src (const Family *f)
{
  return NFT_REG_1; /* the same bytes as NFT_REG32_00, as nft names it */
}

static guint
reg_dst (const Family *f)
{
  return NFT_REG32_00 + f->addr_len / 4;
}

static guint
reg_proto (const Family *f)
{
  return NFT_REG32_00 + 2 * f->addr_len / 4;
}

static guint
reg_port (const Family *f)
{
  return reg_proto (f) + 1;
}

static guint
key_len (const Family *f)
{
  return 2 * f->addr_len + 4 + 4;
}

/* --- batches ---------------------------------------------------------- */

typedef struct
{
  char *buf;
  gsize len;
  struct nlmsghdr *last;
  guint32 seq;
  guint n; /* messages that ask for an ack */
} Batch;

static gpointer
or_abort (gpointer p)
{
  if (G_UNLIKELY (p == NULL))
    g_error ("tracer: out of memory");
  return p;
}

static char *
batch_tail (Batch *b)
{
  if (b->last != NULL)
    b->len += NLMSG_ALIGN (b->last->nlmsg_len);
  b->last = NULL;
  /* libnftnl writes without bounds: leave room for any one message. */
  g_assert (b->len + MSG_ROOM <= BATCH_SIZE);
  return b->buf + b->len;
}

static void
batch_init (Batch *b, guint32 seq)
{
  memset (b, 0, sizeof *b);
  b->buf = g_malloc0 (BATCH_SIZE);
  b->seq = seq;
  b->last = nftnl_batch_begin (batch_tail (b), b->seq++);
}

static struct nlmsghdr *
batch_msg (Batch *b, guint16 type, guint16 flags)
{
  char *at = batch_tail (b);

  b->n++;
  b->last = nftnl_nlmsg_build_hdr (at, type, NFPROTO_INET, flags | NLM_F_ACK,
                                   b->seq++);
  return b->last;
}

static GBytes *
batch_finish (Batch *b, guint *n_msgs)
{
  b->last = nftnl_batch_end (batch_tail (b), b->seq++);
  batch_tail (b);
  if (n_msgs != NULL)
    *n_msgs = b->n;
  return g_bytes_new_take (g_realloc (b->buf, b->len), b->len);
}

/* --- expressions ------------------------------------------------------ */

static struct nftnl_expr *
add_expr (struct nftnl_rule *r, const char *name)
{
  struct nftnl_expr *e = or_abort (nftnl_expr_alloc (name));

  nftnl_rule_add_expr (r, e); /* the rule owns it */
  return e;
}

static void
meta_load (struct nftnl_rule *r, guint32 key, guint32 dreg)
{
  struct nftnl_expr *e = add_expr (r, "meta");

  nftnl_expr_set_u32 (e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_META_DREG, dreg);
}

static void
cmp_eq_u8 (struct nftnl_rule *r, guint32 sreg, guint8 value)
{
  struct nftnl_expr *e = add_expr (r, "cmp");

  nftnl_expr_set_u32 (e, NFTNL_EXPR_CMP_SREG, sreg);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
  nftnl_expr_set (e, NFTNL_EXPR_CMP_DATA, &value, sizeof value);
}

static void
payload_load (struct nftnl_rule *r, guint32 base, guint32 offset, guint32 len,
              guint32 dreg)
{
  struct nftnl_expr *e = add_expr (r, "payload");

  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void
lookup (struct nftnl_rule *r, const char *set, guint32 sreg, gboolean invert)
{
  struct nftnl_expr *e = add_expr (r, "lookup");

  nftnl_expr_set_str (e, NFTNL_EXPR_LOOKUP_SET, set);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_SREG, sreg);
  if (invert)
    nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

static void
dynset_add (struct nftnl_rule *r, const char *set, guint32 sreg, guint window_s)
{
  struct nftnl_expr *e = add_expr (r, "dynset");

  nftnl_expr_set_str (e, NFTNL_EXPR_DYNSET_SET_NAME, set);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_ADD);
  if (window_s > 0)
    nftnl_expr_set_u64 (e, NFTNL_EXPR_DYNSET_TIMEOUT, (guint64)window_s * 1000);
}

/* meta nftrace set 1 */
static void
put_nftrace (struct nftnl_rule *r)
{
  struct nftnl_expr *imm = add_expr (r, "immediate");
  struct nftnl_expr *set = add_expr (r, "meta");
  const guint8 one = 1;

  nftnl_expr_set_u32 (imm, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
  nftnl_expr_set (imm, NFTNL_EXPR_IMM_DATA, &one, sizeof one);
  nftnl_expr_set_u32 (set, NFTNL_EXPR_META_KEY, NFT_META_NFTRACE);
  nftnl_expr_set_u32 (set, NFTNL_EXPR_META_SREG, NFT_REG_1);
}

static void
put_accept (struct nftnl_rule *r)
{
  struct nftnl_expr *e = add_expr (r, "immediate");

  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
}

typedef enum
{
  PORTS_L4,   /* the protocols in @l4ports: their ports */
  PORTS_ICMP, /* ICMP/ICMPv6: the echo identifier */
  PORTS_ANY,  /* any protocol: th dport/sport (filters match ranges) */
} PortKind;

/* Loads the key (reverse: the reply direction's) into the registers. */
static void
load_key (struct nftnl_rule *r, const Family *f, PortKind kind,
          gboolean reverse)
{
  guint32 port_off = kind == PORTS_ICMP ? 4 : reverse ? 0 : 2;

  payload_load (r, NFT_PAYLOAD_NETWORK_HEADER,
                reverse ? f->daddr_off : f->saddr_off, f->addr_len,
                reg_src (f));
  payload_load (r, NFT_PAYLOAD_NETWORK_HEADER,
                reverse ? f->saddr_off : f->daddr_off, f->addr_len,
                reg_dst (f));
  meta_load (r, NFT_META_L4PROTO, reg_proto (f));
  payload_load (r, NFT_PAYLOAD_TRANSPORT_HEADER, port_off, 2, reg_port (f));
}

static struct nftnl_rule *
rule_new (const char *table, const char *chain, const Family *f, PortKind kind)
{
  struct nftnl_rule *r = or_abort (nftnl_rule_alloc ());

  /* In the order nft itself emits `meta l4proto @l4ports ip saddr …`, so
   * the expressions equal nft's (tests/unit/test-tracer.c). */
  nftnl_rule_set_str (r, NFTNL_RULE_TABLE, table);
  nftnl_rule_set_str (r, NFTNL_RULE_CHAIN, chain);
  if (kind == PORTS_L4)
    {
      meta_load (r, NFT_META_L4PROTO, NFT_REG_1);
      lookup (r, SET_L4PORTS, NFT_REG_1, FALSE);
    }
  if (f != NULL)
    {
      meta_load (r, NFT_META_NFPROTO, NFT_REG_1);
      cmp_eq_u8 (r, NFT_REG_1, f->nfproto);
    }
  if (kind == PORTS_ICMP)
    {
      meta_load (r, NFT_META_L4PROTO, NFT_REG_1);
      cmp_eq_u8 (r, NFT_REG_1, f->icmp);
    }
  return r;
}

static void
put_rule (Batch *b, struct nftnl_rule *r)
{
  nftnl_rule_nlmsg_build_payload (
      batch_msg (b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), r);
  nftnl_rule_free (r);
}

/* key @set [nftrace] accept */
static void
put_match_rule (Batch *b, const char *table, const char *chain, const Family *f,
                PortKind kind, gboolean reverse, const char *set,
                gboolean trace)
{
  struct nftnl_rule *r = rule_new (table, chain, f, kind);

  load_key (r, f, kind, reverse);
  lookup (r, set, reg_src (f), FALSE);
  if (trace)
    put_nftrace (r);
  put_accept (r);
  put_rule (b, r);
}

/* key != @seen add @seen { key } add @tracing { key } nftrace accept */
static void
put_new_flow_rule (Batch *b, const char *table, const char *chain,
                   const Family *f, PortKind kind, const CtTracerConfig *c)
{
  struct nftnl_rule *r = rule_new (table, chain, f, kind);

  load_key (r, f, kind, FALSE);
  lookup (r, f->seen, reg_src (f), TRUE);
  dynset_add (r, f->seen, reg_src (f), c->seen_timeout_s);
  dynset_add (r, f->tracing, reg_src (f), c->window_s);
  put_nftrace (r);
  put_accept (r);
  put_rule (b, r);
}

static void
put_chain_rules (Batch *b, const char *table, const char *chain,
                 const CtTracerConfig *c)
{
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      const Family *f = &families[i];

      put_match_rule (b, table, chain, f, PORTS_ANY, FALSE, f->filter, TRUE);
      put_match_rule (b, table, chain, f, PORTS_ANY, TRUE, f->filter, TRUE);
    }
  if (c->mode == CT_TRACE_MODE_ALL)
    {
      struct nftnl_rule *r = rule_new (table, chain, NULL, PORTS_ANY);

      put_nftrace (r);
      put_accept (r);
      put_rule (b, r);
      return;
    }
  if (c->mode != CT_TRACE_MODE_NEW)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    for (PortKind kind = PORTS_L4; kind <= PORTS_ICMP; kind++)
      {
        const Family *f = &families[i];

        put_match_rule (b, table, chain, f, kind, FALSE, f->tracing, TRUE);
        put_match_rule (b, table, chain, f, kind, TRUE, f->tracing, TRUE);
        put_match_rule (b, table, chain, f, kind, TRUE, f->seen, FALSE);
        put_new_flow_rule (b, table, chain, f, kind, c);
      }
}

static void
put_flush (Batch *b, const char *table, const char *chain)
{
  struct nftnl_rule *r = or_abort (nftnl_rule_alloc ());

  nftnl_rule_set_str (r, NFTNL_RULE_TABLE, table);
  nftnl_rule_set_str (r, NFTNL_RULE_CHAIN, chain);
  nftnl_rule_nlmsg_build_payload (batch_msg (b, NFT_MSG_DELRULE, 0), r);
  nftnl_rule_free (r);
}

static void
put_base_chain (Batch *b, const char *table, const char *name, guint32 hook)
{
  struct nftnl_chain *c = or_abort (nftnl_chain_alloc ());

  nftnl_chain_set_str (c, NFTNL_CHAIN_TABLE, table);
  nftnl_chain_set_str (c, NFTNL_CHAIN_NAME, name);
  nftnl_chain_set_str (c, NFTNL_CHAIN_TYPE, "filter");
  nftnl_chain_set_u32 (c, NFTNL_CHAIN_HOOKNUM, hook);
  nftnl_chain_set_s32 (c, NFTNL_CHAIN_PRIO, CHAIN_PRIO);
  nftnl_chain_set_u32 (c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
  nftnl_chain_nlmsg_build_payload (
      batch_msg (b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL), c);
  nftnl_chain_free (c);
}

static struct nftnl_set *
set_new (const char *table, const char *name)
{
  struct nftnl_set *s = or_abort (nftnl_set_alloc ());

  nftnl_set_set_str (s, NFTNL_SET_TABLE, table);
  nftnl_set_set_str (s, NFTNL_SET_NAME, name);
  nftnl_set_set_u32 (s, NFTNL_SET_FAMILY, NFPROTO_INET);
  return s;
}

static guint32
concat_type (const Family *f)
{
  guint32 addr = f->af == AF_INET ? TYPE_IPADDR : TYPE_IP6ADDR;

  return (((addr << TYPE_BITS | addr) << TYPE_BITS | TYPE_INET_PROTOCOL)
          << TYPE_BITS)
         | TYPE_INET_SERVICE;
}

static void
put_key_set (Batch *b, const char *table, const Family *f, const char *name,
             guint32 flags, guint timeout_s, guint size, guint32 id)
{
  struct nftnl_set *s = set_new (table, name);
  const guint8 fields[NFT_REG32_COUNT] = { f->addr_len, f->addr_len, 1, 2 };

  nftnl_set_set_u32 (s, NFTNL_SET_FLAGS, flags);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_TYPE, concat_type (f));
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_LEN, key_len (f));
  nftnl_set_set_u32 (s, NFTNL_SET_ID, id);
  if (flags & NFT_SET_INTERVAL)
    nftnl_set_set_data (s, NFTNL_SET_DESC_CONCAT, fields, 4);
  if (timeout_s > 0)
    nftnl_set_set_u64 (s, NFTNL_SET_TIMEOUT, (guint64)timeout_s * 1000);
  if (size > 0)
    nftnl_set_set_u32 (s, NFTNL_SET_DESC_SIZE, size);
  nftnl_set_nlmsg_build_payload (
      batch_msg (b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL), s);
  nftnl_set_free (s);
}

static void
put_l4ports (Batch *b, const char *table)
{
  static const guint8 protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_DCCP,
                                   IPPROTO_SCTP, IPPROTO_UDPLITE };
  struct nftnl_set *s = set_new (table, SET_L4PORTS);

  nftnl_set_set_u32 (s, NFTNL_SET_FLAGS, 0);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_TYPE, TYPE_INET_PROTOCOL);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_LEN, 1);
  nftnl_set_set_u32 (s, NFTNL_SET_ID, 1);
  nftnl_set_nlmsg_build_payload (
      batch_msg (b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL), s);

  for (guint i = 0; i < G_N_ELEMENTS (protos); i++)
    {
      struct nftnl_set_elem *e = or_abort (nftnl_set_elem_alloc ());

      nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY, &protos[i], 1);
      nftnl_set_elem_add (s, e);
    }
  nftnl_set_elems_nlmsg_build_payload (
      batch_msg (b, NFT_MSG_NEWSETELEM, NLM_F_CREATE), s);
  nftnl_set_free (s);
}

static CtTracerConfig
sane (const CtTracerConfig *c)
{
  CtTracerConfig s = *c;

  if (s.window_s == 0)
    s.window_s = CT_TRACER_WINDOW_DEFAULT;
  s.window_s = MIN (s.window_s, MAX_WINDOW_S);
  if (s.seen_timeout_s == 0)
    s.seen_timeout_s = CT_TRACER_SEEN_DEFAULT;
  if (s.set_size == 0)
    s.set_size = CT_TRACER_SET_SIZE_DEFAULT;
  return s;
}

GBytes *
ct_tracer_build_setup (const char *table, const CtTracerConfig *config,
                       guint32 seq, guint *n_msgs)
{
  CtTracerConfig c = sane (config);
  Batch b;
  guint32 id = 2;

  batch_init (&b, seq);
  put_l4ports (&b, table);
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      const Family *f = &families[i];

      put_key_set (&b, table, f, f->seen, NFT_SET_TIMEOUT | NFT_SET_EVAL,
                   c.seen_timeout_s, c.set_size, id++);
      put_key_set (&b, table, f, f->tracing, NFT_SET_TIMEOUT | NFT_SET_EVAL,
                   c.window_s, c.set_size, id++);
      put_key_set (&b, table, f, f->filter,
                   NFT_SET_INTERVAL | NFT_SET_CONCAT | NFT_SET_TIMEOUT, 0,
                   CT_TRACER_MAX_FILTERS * 4, id++);
    }
  put_base_chain (&b, table, CHAIN_PRE, NF_INET_PRE_ROUTING);
  put_base_chain (&b, table, CHAIN_OUT, NF_INET_LOCAL_OUT);
  put_chain_rules (&b, table, CHAIN_PRE, &c);
  put_chain_rules (&b, table, CHAIN_OUT, &c);
  return batch_finish (&b, n_msgs);
}

GBytes *
ct_tracer_build_mode (const char *table, const CtTracerConfig *config,
                      guint32 seq, guint *n_msgs)
{
  CtTracerConfig c = sane (config);
  Batch b;

  batch_init (&b, seq);
  put_flush (&b, table, CHAIN_PRE);
  put_flush (&b, table, CHAIN_OUT);
  put_chain_rules (&b, table, CHAIN_PRE, &c);
  put_chain_rules (&b, table, CHAIN_OUT, &c);
  return batch_finish (&b, n_msgs);
}

/* --- on-demand filters ----------------------------------------------- */

static gboolean filter_error (GError **error, const char *fmt, ...)
    G_GNUC_PRINTF (2, 3);

static gboolean
filter_error (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "cannot trace '%s'", msg);
  return FALSE;
}

/* ADDR or ADDR/LEN into the range [lo, hi]. */
static gboolean
parse_prefix (const char *word, guint8 *family, guint8 *lo, guint8 *hi)
{
  g_autofree char *addr = g_strdup (word);
  char *slash = strchr (addr, '/');
  guint8 af = strchr (addr, ':') != NULL ? AF_INET6 : AF_INET;
  guint bits = af == AF_INET6 ? 128 : 32;
  guint len = bits;

  if (slash != NULL)
    {
      char *end = NULL;
      guint64 v;

      *slash = '\0';
      v = g_ascii_strtoull (slash + 1, &end, 10);
      if (slash[1] == '\0' || *end != '\0' || v > bits)
        return FALSE;
      len = (guint)v;
    }
  memset (lo, 0, 16);
  if (inet_pton (af, addr, lo) != 1)
    return FALSE;
  if (*family != AF_UNSPEC && *family != af)
    return FALSE;
  *family = af;
  memcpy (hi, lo, 16);
  for (guint bit = len; bit < bits; bit++)
    {
      lo[bit / 8] &= (guint8) ~(0x80u >> (bit % 8));
      hi[bit / 8] |= (guint8)(0x80u >> (bit % 8));
    }
  return TRUE;
}

static gboolean
parse_port (const char *word, guint16 *lo, guint16 *hi)
{
  g_auto (GStrv) parts = g_strsplit (word, "-", 2);
  guint64 a, b;

  if (!g_ascii_string_to_unsigned (parts[0], 10, 0, 65535, &a, NULL))
    return FALSE;
  b = a;
  if (parts[1] != NULL
      && !g_ascii_string_to_unsigned (parts[1], 10, 0, 65535, &b, NULL))
    return FALSE;
  if (b < a)
    return FALSE;
  *lo = (guint16)a;
  *hi = (guint16)b;
  return TRUE;
}

static gboolean
parse_proto (const char *word, CtTraceFilter *out)
{
  static const struct
  {
    const char *name;
    guint8 proto;
    guint8 family;
  } names[] = {
    { "tcp", IPPROTO_TCP, AF_UNSPEC },
    { "udp", IPPROTO_UDP, AF_UNSPEC },
    { "sctp", IPPROTO_SCTP, AF_UNSPEC },
    { "dccp", IPPROTO_DCCP, AF_UNSPEC },
    { "udplite", IPPROTO_UDPLITE, AF_UNSPEC },
    { "icmp", IPPROTO_ICMP, AF_INET },
    { "icmpv6", IPPROTO_ICMPV6, AF_INET6 },
    { "ipv6-icmp", IPPROTO_ICMPV6, AF_INET6 },
  };
  guint64 n;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (word, names[i].name) == 0)
      {
        if (names[i].family != AF_UNSPEC)
          {
            if (out->family != AF_UNSPEC && out->family != names[i].family)
              return FALSE;
            out->family = names[i].family;
          }
        out->has_proto = TRUE;
        out->proto = names[i].proto;
        return TRUE;
      }
  if (!g_ascii_string_to_unsigned (word, 10, 0, 255, &n, NULL))
    return FALSE;
  out->has_proto = TRUE;
  out->proto = (guint8)n;
  return TRUE;
}

static gboolean
has_ports (guint8 proto)
{
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP
         || proto == IPPROTO_DCCP || proto == IPPROTO_UDPLITE;
}

gboolean
ct_trace_filter_parse (const char *text, CtTraceFilter *out, GError **error)
{
  g_auto (GStrv) words = NULL;
  guint n = 0;

  memset (out, 0, sizeof *out);
  words = g_strsplit_set (text != NULL ? text : "", " \t\n", -1);

  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *w = words[i];
      const char *value;

      if (*w == '\0' || g_ascii_strcasecmp (w, "and") == 0)
        continue;
      n++;
      if (parse_proto (w, out))
        continue;
      /* The next non-empty word is the value. */
      value = NULL;
      for (i++; words[i] != NULL; i++)
        if (*words[i] != '\0')
          {
            value = words[i];
            break;
          }
      if (value == NULL)
        return filter_error (error, "%s: '%s' needs a value", text, w);
      if (g_ascii_strcasecmp (w, "from") == 0
          || g_ascii_strcasecmp (w, "src") == 0)
        {
          if (out->has_src
              || !parse_prefix (value, &out->family, out->src_lo, out->src_hi))
            return filter_error (error,
                                 "%s: '%s' is not an address or prefix of "
                                 "the filter's family",
                                 text, value);
          out->has_src = TRUE;
        }
      else if (g_ascii_strcasecmp (w, "to") == 0
               || g_ascii_strcasecmp (w, "dst") == 0)
        {
          if (out->has_dst
              || !parse_prefix (value, &out->family, out->dst_lo, out->dst_hi))
            return filter_error (error,
                                 "%s: '%s' is not an address or prefix of "
                                 "the filter's family",
                                 text, value);
          out->has_dst = TRUE;
        }
      else if (g_ascii_strcasecmp (w, "proto") == 0)
        {
          if (out->has_proto || !parse_proto (value, out))
            return filter_error (error, "%s: unknown protocol '%s'", text,
                                 value);
        }
      else if (g_ascii_strcasecmp (w, "port") == 0
               || g_ascii_strcasecmp (w, "dport") == 0)
        {
          if (out->has_port
              || !parse_port (value, &out->port_lo, &out->port_hi))
            return filter_error (error, "%s: '%s' is not a port or range", text,
                                 value);
          out->has_port = TRUE;
        }
      else
        return filter_error (
            error,
            "%s: '%s' is not understood here (use from/to ADDR[/LEN], "
            "proto NAME, port N[-M], joined by 'and')",
            text, w);
    }
  if (n == 0)
    return filter_error (error, "an empty filter would trace everything: "
                                "use the mode 'all' for that");
  if (out->has_port && out->has_proto && !has_ports (out->proto))
    return filter_error (error, "%s: protocol %u has no ports", text,
                         out->proto);
  return TRUE;
}

/* Writes [family's address][address][proto][port] into key. */
static void
fill_key (guint8 *key, const Family *f, const guint8 *src, const guint8 *dst,
          guint8 proto, guint16 port)
{
  guint16 port_be = htons (port);

  memset (key, 0, key_len (f));
  memcpy (key, src, f->addr_len);
  memcpy (key + f->addr_len, dst, f->addr_len);
  key[2 * f->addr_len] = proto;
  memcpy (key + 2 * f->addr_len + 4, &port_be, 2);
}

static void
put_filter_elem (struct nftnl_set *s, const Family *f, const CtTraceFilter *flt,
                 guint8 proto_lo, guint8 proto_hi, guint seconds)
{
  static const guint8 zero[16] = { 0 };
  static const guint8 ones[16]
      = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  struct nftnl_set_elem *e = or_abort (nftnl_set_elem_alloc ());
  guint8 lo[40], hi[40];

  fill_key (lo, f, flt->has_src ? flt->src_lo : zero,
            flt->has_dst ? flt->dst_lo : zero, proto_lo,
            flt->has_port ? flt->port_lo : 0);
  fill_key (hi, f, flt->has_src ? flt->src_hi : ones,
            flt->has_dst ? flt->dst_hi : ones, proto_hi,
            flt->has_port ? flt->port_hi : 65535);
  nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY, lo, key_len (f));
  nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY_END, hi, key_len (f));
  nftnl_set_elem_set_u64 (e, NFTNL_SET_ELEM_TIMEOUT, (guint64)seconds * 1000);
  nftnl_set_elem_add (s, e);
}

static void
put_filter_elems (Batch *b, const char *table, const CtTraceFilter *flt,
                  guint seconds, guint16 type)
{
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      const Family *f = &families[i];
      struct nftnl_set *s;

      if (flt->family != AF_UNSPEC && flt->family != f->af)
        continue;
      s = set_new (table, f->filter);
      if (flt->has_proto)
        put_filter_elem (s, f, flt, flt->proto, flt->proto, seconds);
      else if (flt->has_port)
        {
          put_filter_elem (s, f, flt, IPPROTO_TCP, IPPROTO_TCP, seconds);
          put_filter_elem (s, f, flt, IPPROTO_UDP, IPPROTO_UDP, seconds);
        }
      else
        put_filter_elem (s, f, flt, 0, 255, seconds);
      nftnl_set_elems_nlmsg_build_payload (
          batch_msg (b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0),
          s);
      nftnl_set_free (s);
    }
}

GBytes *
ct_tracer_build_filter (const char *table, const CtTraceFilter *filter,
                        guint seconds, guint32 seq, guint *n_msgs)
{
  Batch b;

  batch_init (&b, seq);
  put_filter_elems (&b, table, filter, seconds, NFT_MSG_NEWSETELEM);
  return batch_finish (&b, n_msgs);
}

/* --- talking to the kernel ------------------------------------------- */

typedef struct
{
  CtTraceFilter filter;
  gint64 expires; /* monotonic µs */
  guint id;
} ActiveFilter;

struct _CtTracer
{
  int fd;
  char *table;
  CtTracerConfig config;
  guint32 seq;
  GArray *filters; /* ActiveFilter */
  guint last_filter_id;
};

/* Sends the batch and reads an ack for each of its n messages. The kernel
 * answers in order and stops at the first error, which is the cause. */
static gboolean
talk (CtTracer *self, GBytes *batch, guint n, const char *what, GError **error)
{
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  gsize size;
  const void *data = g_bytes_get_data (batch, &size);
  guint32 base = self->seq;
  guint acked = 0;
  g_autofree char *buf = g_malloc (16384);

  self->seq += n + 2;
  if (sendto (self->fd, data, size, 0, (struct sockaddr *)&kernel,
              sizeof kernel)
      < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "%s: sending the nftables batch: %s", what,
                   g_strerror (err));
      return FALSE;
    }
  while (acked < n)
    {
      ssize_t got = recv (self->fd, buf, 16384, 0);
      int len = (int)got;

      if (got < 0)
        {
          int err = errno;

          if (err == EINTR)
            continue;
          g_set_error (error, G_IO_ERROR,
                       err == EAGAIN ? G_IO_ERROR_TIMED_OUT
                                     : g_io_error_from_errno (err),
                       "%s: %s", what,
                       err == EAGAIN ? "no answer from the kernel"
                                     : g_strerror (err));
          return FALSE;
        }
      for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
           ct_nlmsg_ok (nlh, len); nlh = mnl_nlmsg_next (nlh, &len))
        {
          const struct nlmsgerr *e = mnl_nlmsg_get_payload (nlh);

          if (nlh->nlmsg_type != NLMSG_ERROR
              || nlh->nlmsg_len < mnl_nlmsg_size (sizeof *e)
              || nlh->nlmsg_seq < base || nlh->nlmsg_seq > base + n + 1)
            continue;
          if (e->error == 0)
            acked++;
          else
            {
              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-e->error),
                           "%s: the kernel refused message %u of the batch: "
                           "%s",
                           what, nlh->nlmsg_seq - base, g_strerror (-e->error));
              return FALSE;
            }
        }
    }
  return TRUE;
}

CtTracer *
ct_tracer_new (int nl_fd, const char *table, const CtTracerConfig *config,
               GError **error)
{
  g_autoptr (CtTracer) self = g_new0 (CtTracer, 1);
  g_autoptr (GBytes) batch = NULL;
  guint n = 0;

  self->fd = nl_fd;
  self->table = g_strdup (table);
  self->config = sane (config);
  self->seq = SEQ_START;
  self->filters = g_array_new (FALSE, FALSE, sizeof (ActiveFilter));
  batch = ct_tracer_build_setup (table, &self->config, self->seq, &n);
  if (!talk (self, batch, n, "adding the tracer's sets and chains", error))
    return NULL;
  return g_steal_pointer (&self);
}

void
ct_tracer_free (CtTracer *self)
{
  if (self == NULL)
    return;
  /* The chains and sets go with the owned table. */
  g_array_unref (self->filters);
  g_free (self->table);
  g_free (self);
}

gboolean
ct_tracer_set_mode (CtTracer *self, CtTraceMode mode, guint window_s,
                    GError **error)
{
  CtTracerConfig c = self->config;
  g_autoptr (GBytes) batch = NULL;
  guint n = 0;

  c.mode = mode;
  if (window_s > 0)
    c.window_s = window_s;
  c = sane (&c);
  batch = ct_tracer_build_mode (self->table, &c, self->seq, &n);
  if (!talk (self, batch, n, "changing the trace mode", error))
    return FALSE;
  self->config = c;
  return TRUE;
}

const CtTracerConfig *
ct_tracer_get_config (CtTracer *self)
{
  return &self->config;
}

static gboolean
same_filter (const CtTraceFilter *a, const CtTraceFilter *b)
{
  return memcmp (a, b, sizeof *a) == 0;
}

/* Forgets filters the kernel has expired by now. */
static void
forget_expired (CtTracer *self, gint64 now)
{
  for (guint i = self->filters->len; i-- > 0;)
    if (g_array_index (self->filters, ActiveFilter, i).expires <= now)
      g_array_remove_index_fast (self->filters, i);
}

static ActiveFilter *
find_filter (CtTracer *self, const CtTraceFilter *filter, guint id)
{
  for (guint i = 0; i < self->filters->len; i++)
    {
      ActiveFilter *a = &g_array_index (self->filters, ActiveFilter, i);

      if (filter != NULL ? same_filter (&a->filter, filter) : a->id == id)
        return a;
    }
  return NULL;
}

static guint
next_filter_id (CtTracer *self)
{
  if (++self->last_filter_id == 0)
    self->last_filter_id = 1;
  return self->last_filter_id;
}

gboolean
ct_tracer_trace_filter (CtTracer *self, const CtTraceFilter *filter,
                        guint seconds, guint *id, GError **error)
{
  gint64 now = g_get_monotonic_time ();
  gint64 expires = now + (gint64)seconds * G_USEC_PER_SEC;
  Batch b;
  g_autoptr (GBytes) batch = NULL;
  ActiveFilter *old;
  guint n = 0;
  ActiveFilter active = { 0 };
  g_autoptr (GError) local = NULL;

  if (seconds == 0 || seconds > CT_TRACER_FILTER_MAX_S)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "a filter is traced for 1 s to 24 h, not %u s", seconds);
      return FALSE;
    }
  forget_expired (self, now);
  old = find_filter (self, filter, 0);
  /* The same filter, traced for longer already: nothing to change. */
  if (old != NULL && old->expires >= expires)
    {
      if (id != NULL)
        *id = old->id;
      return TRUE;
    }
  if (old == NULL && self->filters->len >= CT_TRACER_MAX_FILTERS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "%u filters are traced already: wait for one to end",
                   self->filters->len);
      return FALSE;
    }

  /* The same filter for longer: take the old element out first, so the
   * new timeout counts (the kernel keeps an existing element's). */
  batch_init (&b, self->seq);
  if (old != NULL)
    put_filter_elems (&b, self->table, filter, seconds, NFT_MSG_DELSETELEM);
  put_filter_elems (&b, self->table, filter, seconds, NFT_MSG_NEWSETELEM);
  batch = batch_finish (&b, &n);
  if (!talk (self, batch, n, "adding the trace filter", &local) && old != NULL
      && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      /* The kernel's timeout ended the old element a moment before ours
       * did: add it afresh. */
      g_clear_error (&local);
      g_clear_pointer (&batch, g_bytes_unref);
      batch_init (&b, self->seq);
      put_filter_elems (&b, self->table, filter, seconds, NFT_MSG_NEWSETELEM);
      batch = batch_finish (&b, &n);
      talk (self, batch, n, "adding the trace filter", &local);
    }
  if (local != NULL)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_EXISTS)
          || g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_EMPTY))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                     "cannot trace the filter: it overlaps one that is "
                     "traced already");
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (old != NULL)
    {
      old->expires = expires;
      if (id != NULL)
        *id = old->id;
      return TRUE;
    }
  active.filter = *filter;
  active.expires = expires;
  active.id = next_filter_id (self);
  g_array_append_val (self->filters, active);
  if (id != NULL)
    *id = active.id;
  return TRUE;
}

gboolean
ct_tracer_stop_filter (CtTracer *self, guint id, GError **error)
{
  gint64 now = g_get_monotonic_time ();
  ActiveFilter *a;
  CtTraceFilter filter;
  Batch b;
  g_autoptr (GBytes) batch = NULL;
  g_autoptr (GError) local = NULL;
  guint n = 0;

  forget_expired (self, now);
  a = find_filter (self, NULL, id);
  if (a == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no trace filter has id %u (it may have ended)", id);
      return FALSE;
    }
  filter = a->filter;
  g_array_remove_index_fast (self->filters,
                             (guint)(a - (ActiveFilter *)self->filters->data));
  batch_init (&b, self->seq);
  put_filter_elems (&b, self->table, &filter, 1, NFT_MSG_DELSETELEM);
  batch = batch_finish (&b, &n);
  /* ENOENT: the kernel expired it just now. Either way it is gone. */
  if (!talk (self, batch, n, "removing the trace filter", &local)
      && !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

guint
ct_tracer_get_n_filters (CtTracer *self)
{
  forget_expired (self, g_get_monotonic_time ());
  return self->filters->len;
}

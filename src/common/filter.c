/* filter.c — the filter language: a recursive-descent parser into a small
 * tree whose predicates are pre-digested so that matching never allocates. */
#include "filter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

GQuark
ct_filter_error_quark (void)
{
  return g_quark_from_static_string ("ct-filter-error-quark");
}

typedef enum
{
  NODE_AND,
  NODE_OR,
  NODE_NOT,
  NODE_PROTO, /* the protocol number, whatever the family */
  NODE_ICMP,  /* ICMP for IPv4, ICMPv6 for IPv6 */
  NODE_FAMILY,
  NODE_ADDR,
  NODE_PORT,
  NODE_ICMP_TYPE,
  NODE_ICMP_CODE,
  NODE_STATE,
  NODE_VERDICT,
  NODE_AGE,
} NodeKind;

typedef enum
{
  END_SRC,
  END_DST,
  END_EITHER,
} End;

typedef enum
{
  STATE_CONFIRMED,
  STATE_UNCONFIRMED,
  STATE_NAT,
  STATE_DNAT,
  STATE_SNAT,
  STATE_ACTIVE,
} State;

typedef enum
{
  VERDICT_ACCEPT,
  VERDICT_DROP,
  VERDICT_REJECT,
} Verdict;

typedef struct _Node Node;

struct _Node
{
  NodeKind kind;
  guint depth; /* 0 for a predicate, else 1 + the deepest operand */
  union
  {
    struct
    {
      Node **children;
      guint n;
    } group;
    Node *operand;
    guint8 proto;
    guint8 family;
    struct
    {
      End end;
      guint8 family;
      guint8 prefix;
      /* The prefix as whole bytes to memcmp plus a mask for the byte after
       * them (0 when the prefix ends on a byte boundary); addr is masked. */
      guint8 nbytes;
      guint8 last_mask;
      guint8 addr[16];
    } addr;
    struct
    {
      End end;
      guint16 lo;
      guint16 hi;
    } port;
    guint8 icmp;
    State state;
    Verdict verdict;
    struct
    {
      gboolean first_seen;
      gboolean older; /* '>' */
      gint64 seconds;
      gint64 us;
    } age;
  } u;
};

struct _CtFilter
{
  Node *root; /* NULL matches every flow */
};

/* Protocol keywords; also the names `proto NAME` takes. "icmp" is not here:
 * as a keyword it is family-aware (NODE_ICMP), so it is special-cased. */
static const struct
{
  const char *name;
  guint8 proto;
} protocols[] = {
  { "tcp", IPPROTO_TCP },       { "udp", IPPROTO_UDP },
  { "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP },
  { "dccp", IPPROTO_DCCP },     { "udplite", IPPROTO_UDPLITE },
  { "gre", IPPROTO_GRE },       { "esp", IPPROTO_ESP },
  { "ah", IPPROTO_AH },
};

static const char *const state_names[] = {
  [STATE_CONFIRMED] = "confirmed",
  [STATE_UNCONFIRMED] = "unconfirmed",
  [STATE_NAT] = "nat",
  [STATE_DNAT] = "dnat",
  [STATE_SNAT] = "snat",
  [STATE_ACTIVE] = "active",
};

static const char *const verdict_names[] = {
  [VERDICT_ACCEPT] = "accept",
  [VERDICT_DROP] = "drop",
  [VERDICT_REJECT] = "reject",
};

static const char *const end_names[] = {
  [END_SRC] = "src",
  [END_DST] = "dst",
  [END_EITHER] = "host",
};

static const char *const port_names[] = {
  [END_SRC] = "sport",
  [END_DST] = "dport",
  [END_EITHER] = "port",
};

/* The canonical text of one term is at most 60 bytes: "host ", a 45-byte
 * address, "/127" and " and " before it; the bound in filter.h. */
G_STATIC_ASSERT (CT_FILTER_MAX_TERMS * 60 <= CT_FILTER_MAX_LENGTH);

/* The longest duration whose microseconds still fit a gint64. */
#define MAX_SECONDS (G_MAXINT64 / G_USEC_PER_SEC)

/* ---- tree ---------------------------------------------------------- */

static void
node_free (gpointer p)
{
  Node *n = p;

  if (n == NULL)
    return;
  switch (n->kind)
    {
    case NODE_AND:
    case NODE_OR:
      for (guint i = 0; i < n->u.group.n; i++)
        node_free (n->u.group.children[i]);
      g_free (n->u.group.children);
      break;
    case NODE_NOT:
      node_free (n->u.operand);
      break;
    default:
      break;
    }
  g_free (n);
}

static gboolean
addr_match (const Node *n, const guint8 *a)
{
  guint nb = n->u.addr.nbytes;

  if (memcmp (a, n->u.addr.addr, nb) != 0)
    return FALSE;
  return n->u.addr.last_mask == 0
         || (a[nb] & n->u.addr.last_mask) == n->u.addr.addr[nb];
}

static gboolean
port_match (const Node *n, guint16 port)
{
  return port >= n->u.port.lo && port <= n->u.port.hi;
}

static gboolean
node_match (const Node *n, const CtFlow *f, gint64 now)
{
  const CtFlowKey *k = &f->key;

  switch (n->kind)
    {
    case NODE_AND:
      for (guint i = 0; i < n->u.group.n; i++)
        if (!node_match (n->u.group.children[i], f, now))
          return FALSE;
      return TRUE;
    case NODE_OR:
      for (guint i = 0; i < n->u.group.n; i++)
        if (node_match (n->u.group.children[i], f, now))
          return TRUE;
      return FALSE;
    case NODE_NOT:
      return !node_match (n->u.operand, f, now);
    case NODE_PROTO:
      return k->proto == n->u.proto;
    case NODE_ICMP:
      return ct_flow_key_is_icmp (k);
    case NODE_FAMILY:
      return k->family == n->u.family;
    case NODE_ADDR:
      if (k->family != n->u.addr.family)
        return FALSE;
      switch (n->u.addr.end)
        {
        case END_SRC:
          return addr_match (n, k->src);
        case END_DST:
          return addr_match (n, k->dst);
        case END_EITHER:
        default:
          return addr_match (n, k->src) || addr_match (n, k->dst);
        }
    case NODE_PORT:
      if (!ct_flow_key_has_ports (k))
        return FALSE;
      switch (n->u.port.end)
        {
        case END_SRC:
          return port_match (n, k->sport);
        case END_DST:
          return port_match (n, k->dport);
        case END_EITHER:
        default:
          return port_match (n, k->sport) || port_match (n, k->dport);
        }
    case NODE_ICMP_TYPE:
      return ct_flow_key_is_icmp (k) && k->sport == n->u.icmp;
    case NODE_ICMP_CODE:
      return ct_flow_key_is_icmp (k) && k->dport == n->u.icmp;
    case NODE_STATE:
      switch (n->u.state)
        {
        case STATE_CONFIRMED:
          return (f->flags & CT_FLOW_CONFIRMED) != 0;
        case STATE_UNCONFIRMED:
          return (f->flags & CT_FLOW_CONFIRMED) == 0;
        case STATE_NAT:
          return (f->flags & (CT_FLOW_DNAT | CT_FLOW_SNAT)) != 0;
        case STATE_DNAT:
          return (f->flags & CT_FLOW_DNAT) != 0;
        case STATE_SNAT:
          return (f->flags & CT_FLOW_SNAT) != 0;
        case STATE_ACTIVE:
        default:
          return f->active > 0;
        }
    case NODE_VERDICT:
      /* The flow dictionary's "verdict": a denied flow's is its deciding
       * rule's, "reject" or else "drop"; everything else was accepted. */
      if (!(f->flags & CT_FLOW_DENIED))
        return n->u.verdict == VERDICT_ACCEPT;
      if (f->blame != NULL && f->blame->verdict == CT_VERDICT_REJECT)
        return n->u.verdict == VERDICT_REJECT;
      return n->u.verdict == VERDICT_DROP;
    case NODE_AGE:
      {
        gint64 ts = n->u.age.first_seen ? f->first_seen : f->last_seen;
        gint64 age;

        /* Timestamps come from the store, now from the caller: neither is
         * trusted enough to subtract unchecked. */
        if (__builtin_sub_overflow (now, ts, &age))
          age = now < ts ? G_MININT64 : G_MAXINT64;
        return n->u.age.older ? age > n->u.age.us : age < n->u.age.us;
      }
    default:
      return FALSE;
    }
}

static void
print_duration (GString *out, gint64 s)
{
  static const struct
  {
    gint64 seconds;
    char unit;
  } units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };

  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    if (s != 0 && s % units[i].seconds == 0)
      {
        g_string_append_printf (out, "%" G_GINT64_FORMAT "%c",
                                s / units[i].seconds, units[i].unit);
        return;
      }
  g_string_append_printf (out, "%" G_GINT64_FORMAT "s", s);
}

static void
node_print (const Node *n, GString *out)
{
  char buf[INET6_ADDRSTRLEN];

  switch (n->kind)
    {
    case NODE_AND:
    case NODE_OR:
      g_string_append_c (out, '(');
      for (guint i = 0; i < n->u.group.n; i++)
        {
          if (i > 0)
            g_string_append (out, n->kind == NODE_AND ? " and " : " or ");
          node_print (n->u.group.children[i], out);
        }
      g_string_append_c (out, ')');
      break;
    case NODE_NOT:
      g_string_append (out, "not ");
      node_print (n->u.operand, out);
      break;
    case NODE_PROTO:
      for (guint i = 0; i < G_N_ELEMENTS (protocols); i++)
        if (protocols[i].proto == n->u.proto)
          {
            g_string_append (out, protocols[i].name);
            return;
          }
      g_string_append_printf (out, "proto %u", n->u.proto);
      break;
    case NODE_ICMP:
      g_string_append (out, "icmp");
      break;
    case NODE_FAMILY:
      g_string_append (out, n->u.family == AF_INET6 ? "ipv6" : "ipv4");
      break;
    case NODE_ADDR:
      g_string_append_printf (out, "%s %s", end_names[n->u.addr.end],
                              ct_flow_addr_to_string (n->u.addr.family,
                                                      n->u.addr.addr, buf,
                                                      sizeof buf));
      if (n->u.addr.prefix != (n->u.addr.family == AF_INET6 ? 128 : 32))
        g_string_append_printf (out, "/%u", n->u.addr.prefix);
      break;
    case NODE_PORT:
      g_string_append_printf (out, "%s %u", port_names[n->u.port.end],
                              n->u.port.lo);
      if (n->u.port.hi != n->u.port.lo)
        g_string_append_printf (out, "-%u", n->u.port.hi);
      break;
    case NODE_ICMP_TYPE:
      g_string_append_printf (out, "icmp-type %u", n->u.icmp);
      break;
    case NODE_ICMP_CODE:
      g_string_append_printf (out, "icmp-code %u", n->u.icmp);
      break;
    case NODE_STATE:
      g_string_append (out, state_names[n->u.state]);
      break;
    case NODE_VERDICT:
      g_string_append_printf (out, "verdict %s", verdict_names[n->u.verdict]);
      break;
    case NODE_AGE:
      g_string_append (out, n->u.age.first_seen ? "first-seen" : "last-seen");
      g_string_append (out, n->u.age.older ? " > " : " < ");
      print_duration (out, n->u.age.seconds);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* ---- tokens -------------------------------------------------------- */

typedef enum
{
  TOK_END,
  TOK_WORD,
  TOK_LPAREN,
  TOK_RPAREN,
  TOK_NOT,
  TOK_AND,
  TOK_OR,
  TOK_LT,
  TOK_GT,
} TokKind;

typedef struct
{
  TokKind kind;
  const char *start;
  gsize len;
} Token;

typedef struct
{
  const char *text;
  const char *pos; /* where the token after tok starts being scanned */
  Token tok;       /* the lookahead */
  guint nesting;   /* '(' and 'not' being parsed: bounds the recursion */
  guint terms;     /* nodes in the tree so far: bounds its size */
  GError **error;
} Parser;

/* Words are everything an operand can be made of: keywords, numbers,
 * port ranges, IPv4/IPv6 addresses with a prefix, durations. */
static gboolean
is_word_char (char c)
{
  return g_ascii_isalnum (c) || c == '.' || c == ':' || c == '/' || c == '-'
         || c == '_';
}

static gboolean fail (Parser *p, const char *at, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
fail (Parser *p, const char *at, const char *format, ...)
{
  g_autofree char *why = NULL;
  va_list ap;

  va_start (ap, format);
  why = g_strdup_vprintf (format, ap);
  va_end (ap);
  /* The text was validated as UTF-8, so columns count characters. */
  g_set_error (p->error, CT_FILTER_ERROR, CT_FILTER_ERROR_SYNTAX,
               "at column %ld: %s", g_utf8_pointer_to_offset (p->text, at) + 1,
               why);
  return FALSE;
}

/* Quotes a token for a message; tokens are ASCII, so cutting a long one
 * at a byte count keeps the message valid UTF-8. */
static const char *
describe (const Token *t, char *buf, gsize size)
{
  if (t->kind == TOK_END)
    return "end of input";
  if (t->len > 32)
    g_snprintf (buf, size, "'%.32s…'", t->start);
  else
    g_snprintf (buf, size, "'%.*s'", (int)t->len, t->start);
  return buf;
}

static gboolean
word_is (const char *s, gsize len, const char *keyword)
{
  return strlen (keyword) == len && g_ascii_strncasecmp (s, keyword, len) == 0;
}

static gboolean
tok_is (const Token *t, const char *keyword)
{
  return t->kind == TOK_WORD && word_is (t->start, t->len, keyword);
}

static gboolean
advance (Parser *p)
{
  const char *s = p->pos;
  Token *t = &p->tok;

  while (g_ascii_isspace (*s))
    s++;
  t->start = s;
  t->len = 1;
  switch (*s)
    {
    case '\0':
      t->kind = TOK_END;
      t->len = 0;
      break;
    case '(':
      t->kind = TOK_LPAREN;
      break;
    case ')':
      t->kind = TOK_RPAREN;
      break;
    case '!':
      t->kind = TOK_NOT;
      break;
    case '<':
      t->kind = TOK_LT;
      break;
    case '>':
      t->kind = TOK_GT;
      break;
    case '&':
    case '|':
      if (s[1] != s[0])
        return fail (p, s, "unexpected character '%c' (did you mean '%c%c'?)",
                     s[0], s[0], s[0]);
      t->kind = s[0] == '&' ? TOK_AND : TOK_OR;
      t->len = 2;
      break;
    default:
      if (!is_word_char (*s))
        {
          gunichar c = g_utf8_get_char (s);

          if (g_unichar_isgraph (c))
            return fail (p, s, "unexpected character '%.*s'",
                         (int)(g_utf8_next_char (s) - s), s);
          return fail (p, s, "unexpected character U+%04X", c);
        }
      while (is_word_char (s[t->len]))
        t->len++;
      t->kind = TOK_WORD;
      if (word_is (s, t->len, "and"))
        t->kind = TOK_AND;
      else if (word_is (s, t->len, "or"))
        t->kind = TOK_OR;
      else if (word_is (s, t->len, "not"))
        t->kind = TOK_NOT;
      break;
    }
  p->pos = s + t->len;
  return TRUE;
}

/* Parses [s, s+len) as a decimal number. FALSE unless it is all digits
 * (and not empty); *too_big says it exceeded max. */
static gboolean
parse_uint (const char *s, gsize len, guint64 max, guint64 *out,
            gboolean *too_big)
{
  guint64 v = 0;

  *too_big = FALSE;
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      if (!*too_big)
        {
          v = v * 10 + (guint64)(s[i] - '0');
          if (v > max)
            *too_big = TRUE;
        }
    }
  *out = v;
  return TRUE;
}

/* ---- grammar ------------------------------------------------------- */

static Node *parse_or (Parser *p, const Token *after);

static Node *
node_new (Parser *p, NodeKind kind, const char *at)
{
  Node *n;

  if (++p->terms > CT_FILTER_MAX_TERMS)
    {
      fail (p, at, "filter is too complex (more than %d terms)",
            CT_FILTER_MAX_TERMS);
      return NULL;
    }
  n = g_new0 (Node, 1);
  n->kind = kind;
  return n;
}

static Node *
too_deep (Parser *p, const char *at, Node *n)
{
  fail (p, at, "expression nested too deeply (more than %d levels)",
        CT_FILTER_MAX_DEPTH);
  node_free (n);
  return NULL;
}

/* Adds an operand to an and/or group, splicing in a group of the same kind
 * so that the tree (and the canonical text) does not depend on how the
 * user parenthesised an associative run. */
static void
group_add (Parser *p, GPtrArray *kids, NodeKind kind, Node *child)
{
  if (child->kind != kind)
    {
      g_ptr_array_add (kids, child);
      return;
    }
  for (guint i = 0; i < child->u.group.n; i++)
    g_ptr_array_add (kids, child->u.group.children[i]);
  g_free (child->u.group.children);
  g_free (child);
  p->terms--;
}

static Node *
group_finish (Parser *p, NodeKind kind, GPtrArray *kids, const char *at)
{
  Node *n;
  guint depth = 0;
  gsize len;

  if (kids->len == 1)
    return g_ptr_array_steal_index (kids, 0);
  n = node_new (p, kind, at);
  if (n == NULL)
    return NULL;
  for (guint i = 0; i < kids->len; i++)
    depth = MAX (depth, ((Node *)kids->pdata[i])->depth);
  n->u.group.children = (Node **)g_ptr_array_steal (kids, &len);
  n->u.group.n = (guint)len;
  n->depth = depth + 1;
  if (n->depth > CT_FILTER_MAX_DEPTH)
    return too_deep (p, at, n);
  return n;
}

/* The value after a predicate keyword; fails unless it is a word. */
static gboolean
expect_word (Parser *p, const Token *keyword, const char *what)
{
  char buf[48];

  if (!advance (p))
    return FALSE;
  if (p->tok.kind == TOK_WORD)
    return TRUE;
  return fail (p, p->tok.start, "expected %s after '%.*s', got %s", what,
               (int)keyword->len, keyword->start,
               describe (&p->tok, buf, sizeof buf));
}

static gboolean
fail_expected (Parser *p, const Token *keyword, const char *what)
{
  char buf[48];

  return fail (p, p->tok.start, "expected %s after '%.*s', got %s", what,
               (int)keyword->len, keyword->start,
               describe (&p->tok, buf, sizeof buf));
}

static Node *
parse_proto (Parser *p, const Token *kw)
{
  const Token *v = &p->tok;
  guint64 num;
  gboolean too_big;
  Node *n;

  if (!expect_word (p, kw, "a protocol number (0-255) or name"))
    return NULL;
  if (parse_uint (v->start, v->len, 255, &num, &too_big))
    {
      if (too_big)
        {
          fail (p, v->start, "protocol number %.*s is out of range (0-255)",
                (int)v->len, v->start);
          return NULL;
        }
    }
  else if (word_is (v->start, v->len, "icmp"))
    num = IPPROTO_ICMP;
  else
    {
      guint i;

      for (i = 0; i < G_N_ELEMENTS (protocols); i++)
        if (word_is (v->start, v->len, protocols[i].name))
          break;
      if (i == G_N_ELEMENTS (protocols))
        {
          fail_expected (p, kw, "a protocol number (0-255) or name");
          return NULL;
        }
      num = protocols[i].proto;
    }
  n = node_new (p, NODE_PROTO, kw->start);
  if (n != NULL)
    n->u.proto = (guint8)num;
  return n;
}

static Node *
parse_addr (Parser *p, const Token *kw, End end)
{
  const Token *v = &p->tok;
  const char *slash;
  gsize alen;
  char text[INET6_ADDRSTRLEN + 1];
  guint8 addr[16] = { 0 };
  guint8 family;
  guint max;
  guint64 prefix;
  gboolean too_big;
  Node *n;

  if (!expect_word (p, kw, "an IPv4 or IPv6 address"))
    return NULL;
  slash = memchr (v->start, '/', v->len);
  alen = slash != NULL ? (gsize)(slash - v->start) : v->len;
  family = memchr (v->start, ':', alen) != NULL ? AF_INET6 : AF_INET;
  max = family == AF_INET6 ? 128 : 32;
  if (alen >= sizeof text)
    {
      fail_expected (p, kw, "an IPv4 or IPv6 address");
      return NULL;
    }
  memcpy (text, v->start, alen);
  text[alen] = '\0';
  if (inet_pton (family, text, addr) != 1)
    {
      fail_expected (p, kw, "an IPv4 or IPv6 address");
      return NULL;
    }
  prefix = max;
  if (slash != NULL)
    {
      const char *s = slash + 1;
      gsize len = v->len - alen - 1;

      if (!parse_uint (s, len, max, &prefix, &too_big))
        {
          fail (p, s, "expected a prefix length (0-%u) after '/' in '%.*s'",
                max, (int)MIN (v->len, 64), v->start);
          return NULL;
        }
      if (too_big)
        {
          fail (p, s,
                "prefix length %.*s is out of range for an IPv%c address "
                "(0-%u)",
                (int)len, s, family == AF_INET6 ? '6' : '4', max);
          return NULL;
        }
    }

  n = node_new (p, NODE_ADDR, kw->start);
  if (n == NULL)
    return NULL;
  n->u.addr.end = end;
  n->u.addr.family = family;
  n->u.addr.prefix = (guint8)prefix;
  n->u.addr.nbytes = (guint8)(prefix / 8);
  n->u.addr.last_mask = (guint8)(0xff00 >> (prefix % 8));
  if (prefix % 8 == 0)
    n->u.addr.last_mask = 0;
  /* Keep only the prefix: the canonical text then shows the network. A
   * partial byte exists only when the prefix is not a multiple of 8, so
   * nbytes < 16 whenever last_mask is read. */
  memcpy (n->u.addr.addr, addr, n->u.addr.nbytes);
  if (n->u.addr.nbytes < 16)
    n->u.addr.addr[n->u.addr.nbytes]
        = addr[n->u.addr.nbytes] & n->u.addr.last_mask;
  return n;
}

static Node *
parse_port (Parser *p, const Token *kw, End end)
{
  const Token *v = &p->tok;
  const char *dash;
  const char *part[2];
  gsize len[2];
  guint64 num[2];
  gboolean too_big[2];
  guint nparts;
  Node *n;

  if (!expect_word (p, kw, "a port number or range"))
    return NULL;
  dash = memchr (v->start, '-', v->len);
  part[0] = v->start;
  len[0] = dash != NULL ? (gsize)(dash - v->start) : v->len;
  nparts = 1;
  if (dash != NULL)
    {
      part[1] = dash + 1;
      len[1] = v->len - len[0] - 1;
      nparts = 2;
    }
  for (guint i = 0; i < nparts; i++)
    if (!parse_uint (part[i], len[i], 65535, &num[i], &too_big[i]))
      {
        fail_expected (p, kw, "a port number or range");
        return NULL;
      }
  for (guint i = 0; i < nparts; i++)
    if (too_big[i])
      {
        fail (p, part[i], "port %.*s is out of range (0-65535)", (int)len[i],
              part[i]);
        return NULL;
      }
  if (nparts == 1)
    num[1] = num[0];
  if (num[0] > num[1])
    {
      fail (p, v->start,
            "port range %.*s is reversed (the first port must not be "
            "greater than the second)",
            (int)v->len, v->start);
      return NULL;
    }

  n = node_new (p, NODE_PORT, kw->start);
  if (n == NULL)
    return NULL;
  n->u.port.end = end;
  n->u.port.lo = (guint16)num[0];
  n->u.port.hi = (guint16)num[1];
  return n;
}

static Node *
parse_icmp_field (Parser *p, const Token *kw, NodeKind kind)
{
  const Token *v = &p->tok;
  const char *what = kind == NODE_ICMP_TYPE ? "type" : "code";
  g_autofree char *expected
      = g_strdup_printf ("an ICMP %s number (0-255)", what);
  guint64 num;
  gboolean too_big;
  Node *n;

  if (!expect_word (p, kw, expected))
    return NULL;
  if (!parse_uint (v->start, v->len, 255, &num, &too_big))
    {
      fail_expected (p, kw, expected);
      return NULL;
    }
  if (too_big)
    {
      fail (p, v->start, "ICMP %s %.*s is out of range (0-255)", what,
            (int)v->len, v->start);
      return NULL;
    }
  n = node_new (p, kind, kw->start);
  if (n != NULL)
    n->u.icmp = (guint8)num;
  return n;
}

static Node *
parse_verdict (Parser *p, const Token *kw)
{
  const char *expected = "'accept', 'drop' or 'reject'";
  guint i;
  Node *n;

  if (!expect_word (p, kw, expected))
    return NULL;
  for (i = 0; i < G_N_ELEMENTS (verdict_names); i++)
    if (tok_is (&p->tok, verdict_names[i]))
      break;
  if (i == G_N_ELEMENTS (verdict_names))
    {
      fail_expected (p, kw, expected);
      return NULL;
    }
  n = node_new (p, NODE_VERDICT, kw->start);
  if (n != NULL)
    n->u.verdict = (Verdict)i;
  return n;
}

static Node *
parse_age (Parser *p, const Token *kw, gboolean first_seen)
{
  const char *expected = "a duration (like 30s, 5m, 2h or 1d)";
  const Token *v = &p->tok;
  Token op;
  gsize digits;
  gint64 unit = 1;
  guint64 num;
  gboolean too_big;
  Node *n;

  if (!advance (p))
    return NULL;
  if (p->tok.kind != TOK_LT && p->tok.kind != TOK_GT)
    {
      fail_expected (p, kw, "'<' or '>'");
      return NULL;
    }
  op = p->tok;
  if (!expect_word (p, &op, expected))
    return NULL;
  digits = v->len;
  if (digits > 1 && g_ascii_isalpha (v->start[digits - 1]))
    {
      switch (g_ascii_tolower (v->start[digits - 1]))
        {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          unit = 0;
          break;
        }
      digits--;
    }
  if (unit == 0 || !parse_uint (v->start, digits, MAX_SECONDS, &num, &too_big))
    {
      fail_expected (p, &op, expected);
      return NULL;
    }
  if (too_big || num > (guint64)(MAX_SECONDS / unit))
    {
      fail (p, v->start, "duration %.*s is too long", (int)MIN (v->len, 32),
            v->start);
      return NULL;
    }

  n = node_new (p, NODE_AGE, kw->start);
  if (n == NULL)
    return NULL;
  n->u.age.first_seen = first_seen;
  n->u.age.older = op.kind == TOK_GT;
  n->u.age.seconds = (gint64)num * unit;
  n->u.age.us = n->u.age.seconds * G_USEC_PER_SEC;
  return n;
}

/* The lookahead is a word: one predicate, leaving the lookahead after it. */
static Node *
parse_predicate (Parser *p)
{
  const Token kw = p->tok;
  Node *n = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (protocols); i++)
    if (tok_is (&kw, protocols[i].name))
      {
        if ((n = node_new (p, NODE_PROTO, kw.start)) != NULL)
          n->u.proto = protocols[i].proto;
        goto done;
      }
  for (guint i = 0; i < G_N_ELEMENTS (state_names); i++)
    if (tok_is (&kw, state_names[i]))
      {
        if ((n = node_new (p, NODE_STATE, kw.start)) != NULL)
          n->u.state = (State)i;
        goto done;
      }
  for (guint i = 0; i < G_N_ELEMENTS (end_names); i++)
    if (tok_is (&kw, end_names[i]))
      {
        n = parse_addr (p, &kw, (End)i);
        goto done;
      }
  for (guint i = 0; i < G_N_ELEMENTS (port_names); i++)
    if (tok_is (&kw, port_names[i]))
      {
        n = parse_port (p, &kw, (End)i);
        goto done;
      }
  if (tok_is (&kw, "icmp"))
    n = node_new (p, NODE_ICMP, kw.start);
  else if (tok_is (&kw, "ipv4") || tok_is (&kw, "ip4") || tok_is (&kw, "ipv6")
           || tok_is (&kw, "ip6"))
    {
      if ((n = node_new (p, NODE_FAMILY, kw.start)) != NULL)
        n->u.family = kw.start[kw.len - 1] == '6' ? AF_INET6 : AF_INET;
    }
  else if (tok_is (&kw, "proto"))
    n = parse_proto (p, &kw);
  else if (tok_is (&kw, "icmp-type"))
    n = parse_icmp_field (p, &kw, NODE_ICMP_TYPE);
  else if (tok_is (&kw, "icmp-code"))
    n = parse_icmp_field (p, &kw, NODE_ICMP_CODE);
  else if (tok_is (&kw, "verdict"))
    n = parse_verdict (p, &kw);
  else if (tok_is (&kw, "last-seen"))
    n = parse_age (p, &kw, FALSE);
  else if (tok_is (&kw, "first-seen"))
    n = parse_age (p, &kw, TRUE);
  else
    {
      char buf[48];
      guint8 scratch[16];
      guint64 num;
      gboolean too_big;
      g_autofree char *word = g_strndup (kw.start, MIN (kw.len, 64));
      const char *hint = "";

      /* A bare value is the likeliest slip: say which keyword it needs. */
      if (parse_uint (kw.start, kw.len, 65535, &num, &too_big))
        hint = " (a port needs 'port', 'sport' or 'dport' before it)";
      else if (inet_pton (AF_INET, word, scratch) == 1
               || inet_pton (AF_INET6, word, scratch) == 1
               || strchr (word, '/') != NULL)
        hint = " (an address needs 'host', 'src' or 'dst' before it)";
      fail (p, kw.start, "unknown word %s%s", describe (&kw, buf, sizeof buf),
            hint);
      return NULL;
    }

done:
  if (n == NULL)
    return NULL;
  if (!advance (p))
    {
      node_free (n);
      return NULL;
    }
  return n;
}

/* unary := ('not' | '!') unary | '(' or ')' | predicate. `after` names the
 * operator this operand belongs to, for the message when it is missing. */
static Node *
parse_unary (Parser *p, const Token *after)
{
  const Token open = p->tok;
  char buf[48];
  Node *n;

  switch (open.kind)
    {
    case TOK_WORD:
      return parse_predicate (p);
    case TOK_NOT:
    case TOK_LPAREN:
      break;
    default:
      if (after != NULL)
        fail (p, open.start, "expected an expression after '%.*s', got %s",
              (int)after->len, after->start, describe (&open, buf, sizeof buf));
      else
        fail (p, open.start, "expected an expression, got %s",
              describe (&open, buf, sizeof buf));
      return NULL;
    }

  if (++p->nesting > CT_FILTER_MAX_DEPTH)
    return too_deep (p, open.start, NULL);
  if (!advance (p))
    return NULL;

  if (open.kind == TOK_NOT)
    {
      Node *operand = parse_unary (p, &open);

      if (operand == NULL)
        return NULL;
      n = node_new (p, NODE_NOT, open.start);
      if (n == NULL)
        {
          node_free (operand);
          return NULL;
        }
      n->u.operand = operand;
      n->depth = operand->depth + 1;
      if (n->depth > CT_FILTER_MAX_DEPTH)
        return too_deep (p, open.start, n);
    }
  else
    {
      n = parse_or (p, &open);
      if (n == NULL)
        return NULL;
      if (p->tok.kind != TOK_RPAREN)
        {
          glong col = g_utf8_pointer_to_offset (p->text, open.start) + 1;

          if (p->tok.kind == TOK_END)
            fail (p, p->tok.start, "missing ')' to close the '(' at column %ld",
                  col);
          else
            fail (p, p->tok.start,
                  "expected ')' to close the '(' at column %ld, got %s", col,
                  describe (&p->tok, buf, sizeof buf));
          node_free (n);
          return NULL;
        }
      if (!advance (p))
        {
          node_free (n);
          return NULL;
        }
    }
  p->nesting--;
  return n;
}

static gboolean
starts_unary (const Token *t)
{
  return t->kind == TOK_WORD || t->kind == TOK_NOT || t->kind == TOK_LPAREN;
}

/* and := unary (('and' | '&&')? unary)* */
static Node *
parse_and (Parser *p, const Token *after)
{
  g_autoptr (GPtrArray) kids = g_ptr_array_new_with_free_func (node_free);
  const char *start = p->tok.start;
  Node *n = parse_unary (p, after);

  if (n == NULL)
    return NULL;
  group_add (p, kids, NODE_AND, n);
  for (;;)
    {
      if (p->tok.kind == TOK_AND)
        {
          const Token op = p->tok;

          if (!advance (p))
            return NULL;
          n = parse_unary (p, &op);
        }
      else if (starts_unary (&p->tok))
        n = parse_unary (p, NULL);
      else
        break;
      if (n == NULL)
        return NULL;
      group_add (p, kids, NODE_AND, n);
    }
  return group_finish (p, NODE_AND, kids, start);
}

/* or := and (('or' | '||') and)* */
static Node *
parse_or (Parser *p, const Token *after)
{
  g_autoptr (GPtrArray) kids = g_ptr_array_new_with_free_func (node_free);
  const char *start = p->tok.start;
  Node *n = parse_and (p, after);

  if (n == NULL)
    return NULL;
  group_add (p, kids, NODE_OR, n);
  while (p->tok.kind == TOK_OR)
    {
      const Token op = p->tok;

      if (!advance (p))
        return NULL;
      n = parse_and (p, &op);
      if (n == NULL)
        return NULL;
      group_add (p, kids, NODE_OR, n);
    }
  return group_finish (p, NODE_OR, kids, start);
}

/* After a whole expression only the end may follow; anything else that
 * could not continue it gets its own explanation. */
static gboolean
expect_end (Parser *p)
{
  char buf[48];

  switch (p->tok.kind)
    {
    case TOK_END:
      return TRUE;
    case TOK_RPAREN:
      return fail (p, p->tok.start, "unbalanced ')' (no '(' before it)");
    case TOK_LT:
    case TOK_GT:
      return fail (p, p->tok.start,
                   "unexpected %s (only 'last-seen' and 'first-seen' take a "
                   "comparison)",
                   describe (&p->tok, buf, sizeof buf));
    default:
      return fail (p, p->tok.start, "unexpected %s",
                   describe (&p->tok, buf, sizeof buf));
    }
}

/* ---- API ----------------------------------------------------------- */

CtFilter *
ct_filter_parse (const char *text, GError **error)
{
  CtFilter *filter;
  Node *root = NULL;
  Parser p = { 0 };
  gsize len;
  const char *end;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  p.text = text;
  p.pos = text;
  p.error = error;
  len = strnlen (text, CT_FILTER_MAX_LENGTH + 1);
  if (len > CT_FILTER_MAX_LENGTH)
    {
      fail (&p, text, "filter is longer than %d bytes", CT_FILTER_MAX_LENGTH);
      return NULL;
    }
  if (!g_utf8_validate (text, (gssize)len, &end))
    {
      fail (&p, end, "invalid UTF-8");
      return NULL;
    }

  if (!advance (&p))
    return NULL;
  if (p.tok.kind != TOK_END)
    {
      root = parse_or (&p, NULL);
      if (root == NULL)
        return NULL;
      if (!expect_end (&p))
        {
          node_free (root);
          return NULL;
        }
    }
  filter = g_new0 (CtFilter, 1);
  filter->root = root;
  return filter;
}

gboolean
ct_filter_match (const CtFilter *filter, const CtFlow *flow, gint64 now_us)
{
  g_return_val_if_fail (filter != NULL, FALSE);
  g_return_val_if_fail (flow != NULL, FALSE);

  return filter->root == NULL || node_match (filter->root, flow, now_us);
}

char *
ct_filter_to_string (const CtFilter *filter)
{
  GString *out;

  g_return_val_if_fail (filter != NULL, NULL);

  out = g_string_new (NULL);
  if (filter->root != NULL)
    node_print (filter->root, out);
  return g_string_free (out, FALSE);
}

void
ct_filter_free (CtFilter *filter)
{
  if (filter == NULL)
    return;
  node_free (filter->root);
  g_free (filter);
}

/* flow.c — flow identity, folding, ordering and trace-hit bookkeeping. */
#include "flow.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

gboolean
ct_flow_key_is_icmp (const CtFlowKey *key)
{
  return (key->family == AF_INET && key->proto == IPPROTO_ICMP)
         || (key->family == AF_INET6 && key->proto == IPPROTO_ICMPV6);
}

gboolean
ct_flow_key_has_ports (const CtFlowKey *key)
{
  switch (key->proto)
    {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
    case IPPROTO_DCCP:
    case IPPROTO_UDPLITE:
      return TRUE;
    default:
      return FALSE;
    }
}

guint
ct_flow_key_addr_len (const CtFlowKey *key)
{
  return key->family == AF_INET6 ? 16 : 4;
}

void
ct_flow_key_fold (CtFlowKey *key)
{
  if (ct_flow_key_has_ports (key) && key->sport >= CT_FOLD_PORT)
    key->sport = CT_FOLD_PORT;
}

guint
ct_flow_key_hash (gconstpointer p)
{
  /* The key is 40 bytes with zeroed padding: mix it as five words. */
  guint64 w[5];
  guint64 h = 0x9E3779B97F4A7C15ull;

  memcpy (w, p, sizeof w);
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    {
      h ^= w[i];
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
  return (guint)(h ^ (h >> 29));
}

gboolean
ct_flow_key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (CtFlowKey)) == 0;
}

static int
proto_rank (guint8 proto)
{
  switch (proto)
    {
    case IPPROTO_TCP:
      return 0;
    case IPPROTO_UDP:
      return 1;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return 2;
    default:
      return 3 + proto;
    }
}

int
ct_flow_key_compare (const CtFlowKey *a, const CtFlowKey *b)
{
  int c;

  if (a->family != b->family)
    return a->family == AF_INET ? -1 : 1;
  if (a->proto != b->proto)
    return proto_rank (a->proto) - proto_rank (b->proto);
  /* Network byte order compares numerically as bytes. */
  if ((c = memcmp (a->src, b->src, sizeof a->src)) != 0)
    return c;
  if ((c = memcmp (a->dst, b->dst, sizeof a->dst)) != 0)
    return c;
  if (a->sport != b->sport)
    return a->sport < b->sport ? -1 : 1;
  if (a->dport != b->dport)
    return a->dport < b->dport ? -1 : 1;
  return 0;
}

int
ct_flow_compare_ptr (gconstpointer a, gconstpointer b)
{
  const CtFlow *fa = *(CtFlow *const *)a;
  const CtFlow *fb = *(CtFlow *const *)b;

  return ct_flow_key_compare (&fa->key, &fb->key);
}

const char *
ct_flow_addr_to_string (guint8 family, const guint8 *addr, char *buf, gsize len)
{
  if (inet_ntop (family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf,
                 (socklen_t)len)
      == NULL)
    g_strlcpy (buf, "?", len);
  return buf;
}

const char *
ct_flow_proto_name (guint8 proto)
{
  switch (proto)
    {
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return "ICMP";
    case IPPROTO_SCTP:
      return "SCTP";
    case IPPROTO_DCCP:
      return "DCCP";
    case IPPROTO_UDPLITE:
      return "UDPLITE";
    case IPPROTO_GRE:
      return "GRE";
    case IPPROTO_ESP:
      return "ESP";
    case IPPROTO_AH:
      return "AH";
    default:
      return NULL;
    }
}

char *
ct_flow_legacy_label (const CtFlowKey *key)
{
  const char *name = ct_flow_proto_name (key->proto);
  const char *fam = key->family == AF_INET6 ? "v6" : "v4";

  if (name != NULL)
    return g_strconcat (name, fam, NULL);
  return g_strdup_printf ("IP%u%s", key->proto, fam);
}

CtFlow *
ct_flow_new (const CtFlowKey *key)
{
  CtFlow *flow = g_new0 (CtFlow, 1);

  flow->key = *key;
  flow->lru.data = flow;
  return flow;
}

static void
trace_hit_free (gpointer p)
{
  CtTraceHit *hit = p;

  g_free (hit->family);
  g_free (hit->table);
  g_free (hit->chain);
  g_free (hit->rule);
  g_free (hit);
}

void
ct_flow_free (CtFlow *flow)
{
  if (flow == NULL)
    return;
  if (flow->hits != NULL)
    g_ptr_array_unref (flow->hits);
  g_free (flow);
}

CtTraceHit *
ct_flow_record_hit (CtFlow *flow, const CtTraceHit *what, gint64 now,
                    guint max_hits)
{
  CtTraceHit *hit;

  if (flow->hits == NULL)
    flow->hits = g_ptr_array_new_with_free_func (trace_hit_free);

  for (guint i = 0; i < flow->hits->len; i++)
    {
      hit = g_ptr_array_index (flow->hits, i);
      if (hit->type == what->type && hit->position == what->position
          && hit->handle == what->handle
          && g_str_equal (hit->table, what->table)
          && g_str_equal (hit->chain, what->chain)
          && g_strcmp0 (hit->family, what->family) == 0)
        {
          hit->count++;
          hit->last_seen = now;
          hit->directions |= what->directions;
          if (what->verdict != CT_VERDICT_NONE)
            hit->verdict = what->verdict;
          if (hit->rule == NULL && what->rule != NULL)
            hit->rule = g_strdup (what->rule);
          return hit;
        }
    }

  if (flow->hits->len >= max_hits)
    return NULL;

  hit = g_new0 (CtTraceHit, 1);
  hit->family = g_strdup (what->family);
  hit->table = g_strdup (what->table);
  hit->chain = g_strdup (what->chain);
  hit->type = what->type;
  hit->position = what->position;
  hit->handle = what->handle;
  hit->verdict = what->verdict;
  hit->rule = g_strdup (what->rule);
  hit->directions = what->directions;
  hit->count = 1;
  hit->last_seen = now;
  g_ptr_array_add (flow->hits, hit);
  return hit;
}

gboolean
ct_flow_add_hit (CtFlow *flow, const char *table, const char *chain,
                 CtHitType type, guint32 position, gint64 now, guint max_hits)
{
  CtTraceHit what = { 0 };

  what.table = (char *)table;
  what.chain = (char *)chain;
  what.type = type;
  what.position = position;
  what.directions = CT_HIT_ORIGINAL;
  return ct_flow_record_hit (flow, &what, now, max_hits) != NULL;
}

const char *
ct_verdict_to_string (CtVerdict verdict)
{
  static const char *const names[] = {
    [CT_VERDICT_NONE] = "none",         [CT_VERDICT_ACCEPT] = "accept",
    [CT_VERDICT_DROP] = "drop",         [CT_VERDICT_REJECT] = "reject",
    [CT_VERDICT_QUEUE] = "queue",       [CT_VERDICT_JUMP] = "jump",
    [CT_VERDICT_GOTO] = "goto",         [CT_VERDICT_RETURN] = "return",
    [CT_VERDICT_CONTINUE] = "continue",
  };

  return (guint)verdict < G_N_ELEMENTS (names) ? names[verdict] : "?";
}

gboolean
ct_verdict_is_final (CtVerdict verdict)
{
  return verdict == CT_VERDICT_ACCEPT || verdict == CT_VERDICT_DROP
         || verdict == CT_VERDICT_REJECT || verdict == CT_VERDICT_QUEUE;
}

static int
table_rank (const char *table)
{
  static const char *const order[] = { "raw", "mangle", "nat", "filter" };

  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    if (g_str_equal (table, order[i]))
      return (int)i;
  return (int)G_N_ELEMENTS (order);
}

static int
hit_compare (gconstpointer pa, gconstpointer pb)
{
  const CtTraceHit *a = *(CtTraceHit *const *)pa;
  const CtTraceHit *b = *(CtTraceHit *const *)pb;
  int c;

  if ((c = table_rank (a->table) - table_rank (b->table)) != 0)
    return c;
  if ((c = strcmp (a->table, b->table)) != 0)
    return c;
  if ((c = strcmp (a->chain, b->chain)) != 0)
    return c;
  if (a->type != b->type)
    return (int)a->type - (int)b->type;
  if (a->position != b->position)
    return a->position < b->position ? -1 : 1;
  return 0;
}

void
ct_flow_sort_hits (CtFlow *flow)
{
  if (flow->hits != NULL)
    g_ptr_array_sort (flow->hits, hit_compare);
}

const char *
ct_hit_type_to_string (CtHitType type)
{
  switch (type)
    {
    case CT_HIT_POLICY:
      return "policy";
    case CT_HIT_RULE:
      return "rule";
    case CT_HIT_RETURN:
      return "return";
    default:
      return "?";
    }
}

/* store-state.c — store images: a magic line, then one GVariant in normal
 * form. GVariant's deserialiser is safe on hostile bytes; what it cannot
 * know (address lengths, families, enum ranges) is checked here. */
#include "store-state.h"

#include <string.h>
#include <sys/socket.h>

#include "store-private.h"

/* 24 bytes, so the GVariant after it stays 8-byte aligned. */
#define MAGIC         "conntrackerd-state-file\n"
#define MAGIC_LEN     (sizeof MAGIC - 1)
#define STATE_VERSION 1

/* family table chain type position handle verdict rule directions count
 * last_seen ("" stands for no family / no rule text) */
#define HIT_TYPE "(sssuutusytx)"
/* key bytes, id, flags, connections, packets, bytes, first, last, nat_src,
 * nat_dst, nat_sport, nat_dport, hits */
#define FLOW_TYPE "(aytutttxxayayqqa" HIT_TYPE ")"
/* id, unfolded key, flow key, packets, bytes */
#define CONN_TYPE  "(uayaytt)"
#define IMAGE_TYPE "(uta" FLOW_TYPE "a" CONN_TYPE ")"

GQuark
ct_state_error_quark (void)
{
  return g_quark_from_static_string ("ct-state-error-quark");
}

static GVariant *
bytes_variant (const void *data, gsize len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

static GVariant *
hit_variant (const CtTraceHit *h)
{
  return g_variant_new ("(sssuutusytx)", h->family ? h->family : "", h->table,
                        h->chain, (guint32)h->type, h->position, h->handle,
                        (guint32)h->verdict, h->rule ? h->rule : "",
                        h->directions, h->count, h->last_seen);
}

GBytes *
ct_store_save (CtStore *store)
{
  GVariantBuilder flows, conns;
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GVariant) image = NULL;
  GByteArray *out;

  g_variant_builder_init (&flows, G_VARIANT_TYPE ("a" FLOW_TYPE));
  /* Oldest first, so a reload rebuilds the same eviction order. */
  for (GList *l = store->lru.head; l != NULL; l = l->next)
    {
      const CtFlow *f = l->data;
      GVariantBuilder hits;

      g_variant_builder_init (&hits, G_VARIANT_TYPE ("a" HIT_TYPE));
      for (guint i = 0; f->hits != NULL && i < f->hits->len; i++)
        g_variant_builder_add_value (
            &hits, hit_variant (g_ptr_array_index (f->hits, i)));
      g_variant_builder_add_value (
          &flows, g_variant_new ("(@aytutttxx@ay@ayqqa" HIT_TYPE ")",
                                 bytes_variant (&f->key, sizeof f->key), f->id,
                                 f->flags, f->connections, f->packets, f->bytes,
                                 f->first_seen, f->last_seen,
                                 bytes_variant (f->nat_src, sizeof f->nat_src),
                                 bytes_variant (f->nat_dst, sizeof f->nat_dst),
                                 f->nat_sport, f->nat_dport, &hits));
    }

  g_variant_builder_init (&conns, G_VARIANT_TYPE ("a" CONN_TYPE));
  g_hash_table_iter_init (&iter, store->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const CtConn *c = value;

      g_variant_builder_add (&conns, "(u@ay@aytt)", c->id,
                             bytes_variant (&c->orig, sizeof c->orig),
                             bytes_variant (&c->flow_key, sizeof c->flow_key),
                             c->packets, c->bytes);
    }

  image = g_variant_ref_sink (g_variant_new (
      "(ut@a" FLOW_TYPE "@a" CONN_TYPE ")", (guint32)STATE_VERSION,
      (guint64)g_get_real_time (), g_variant_builder_end (&flows),
      g_variant_builder_end (&conns)));

  out = g_byte_array_sized_new (MAGIC_LEN + g_variant_get_size (image));
  g_byte_array_append (out, (const guint8 *)MAGIC, MAGIC_LEN);
  g_byte_array_set_size (out, MAGIC_LEN + g_variant_get_size (image));
  g_variant_store (image, out->data + MAGIC_LEN);
  return g_byte_array_free_to_bytes (out);
}

static gboolean
corrupt (GError **error, const char *what, guint index)
{
  g_set_error (error, CT_STATE_ERROR, CT_STATE_ERROR_CORRUPT,
               "state file is damaged: %s (entry %u)", what, index);
  return FALSE;
}

/* A key from the file: exactly our layout, a known family, zero padding
 * and zero bytes past an IPv4 address. */
static gboolean
read_key (GVariant *v, CtFlowKey *key)
{
  gsize len;
  const guint8 *data = g_variant_get_fixed_array (v, &len, 1);
  static const guint8 zero[12] = { 0 };

  if (len != sizeof *key)
    return FALSE;
  memcpy (key, data, sizeof *key);
  if (key->family != AF_INET && key->family != AF_INET6)
    return FALSE;
  if (key->pad != 0)
    return FALSE;
  if (key->family == AF_INET
      && (memcmp (key->src + 4, zero, 12) != 0
          || memcmp (key->dst + 4, zero, 12) != 0))
    return FALSE;
  return TRUE;
}

static gboolean
read_addr (GVariant *v, guint8 out[16])
{
  gsize len;
  const guint8 *data = g_variant_get_fixed_array (v, &len, 1);

  if (len != 16)
    return FALSE;
  memcpy (out, data, 16);
  return TRUE;
}

static CtFlow *
read_flow (CtStore *store, GVariant *v, guint index, GError **error)
{
  g_autoptr (GVariant) key_v = NULL, nat_src = NULL, nat_dst = NULL;
  g_autoptr (GVariantIter) hits = NULL;
  g_autoptr (CtFlow) flow = NULL;
  CtFlowKey key;
  guint64 id, connections, packets, bytes;
  guint32 flags;
  gint64 first, last;
  guint16 nat_sport, nat_dport;
  const char *family, *table, *chain, *rule;
  guint32 type, position, verdict;
  guint64 handle, count;
  guint8 directions;
  gint64 hit_last;

  g_variant_get (v, "(@aytutttxx@ay@ayqqa" HIT_TYPE ")", &key_v, &id, &flags,
                 &connections, &packets, &bytes, &first, &last, &nat_src,
                 &nat_dst, &nat_sport, &nat_dport, &hits);
  if (!read_key (key_v, &key))
    return corrupt (error, "bad flow key", index), NULL;
  if (id == 0
      || (flags
          & ~(guint32)(CT_FLOW_CONFIRMED | CT_FLOW_DNAT | CT_FLOW_SNAT
                       | CT_FLOW_DENIED)))
    return corrupt (error, "bad flow id or flags", index), NULL;
  flow = ct_flow_new (&key);
  flow->id = id;
  flow->flags = flags;
  flow->connections = connections;
  flow->packets = packets;
  flow->bytes = bytes;
  flow->first_seen = first;
  flow->last_seen = last;
  flow->nat_sport = nat_sport;
  flow->nat_dport = nat_dport;
  if (!read_addr (nat_src, flow->nat_src)
      || !read_addr (nat_dst, flow->nat_dst))
    return corrupt (error, "bad NAT address", index), NULL;

  while (g_variant_iter_next (hits, "(&s&s&suutu&sytx)", &family, &table,
                              &chain, &type, &position, &handle, &verdict,
                              &rule, &directions, &count, &hit_last))
    {
      CtTraceHit what = { 0 };
      CtTraceHit *hit;

      if (type > CT_HIT_RETURN || verdict > CT_VERDICT_CONTINUE
          || *table == '\0' || *chain == '\0' || count == 0)
        return corrupt (error, "bad trace hit", index), NULL;
      what.family = *family ? (char *)family : NULL;
      what.table = (char *)table;
      what.chain = (char *)chain;
      what.type = type;
      what.position = position;
      what.handle = handle;
      what.verdict = verdict;
      what.rule = *rule ? (char *)rule : NULL;
      what.directions = directions;
      hit = ct_flow_record_hit (flow, &what, hit_last, store->max_hits);
      if (hit == NULL)
        break;
      hit->count = count;
      if (verdict == CT_VERDICT_DROP || verdict == CT_VERDICT_REJECT
          || (verdict == CT_VERDICT_ACCEPT && (directions & CT_HIT_ORIGINAL)
              && (flow->blame == NULL
                  || flow->blame->verdict == CT_VERDICT_ACCEPT)))
        flow->blame = hit;
    }
  return g_steal_pointer (&flow);
}

gboolean
ct_store_load (CtStore *store, GBytes *image, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (image, &size);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GVariant) root = NULL;
  g_autoptr (GVariant) flows_v = NULL, conns_v = NULL;
  g_autoptr (GPtrArray) flows
      = g_ptr_array_new_with_free_func ((GDestroyNotify)ct_flow_free);
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) keys
      = g_hash_table_new (ct_flow_key_hash, ct_flow_key_equal);
  g_autoptr (GHashTable) ids = g_hash_table_new (g_int64_hash, g_int64_equal);
  guint32 version;
  guint64 saved_at, max_id = 0;
  GVariantIter iter;
  GVariant *child;
  guint index = 0;

  g_return_val_if_fail (g_hash_table_size (store->flows) == 0, FALSE);

  if (size < MAGIC_LEN || memcmp (data, MAGIC, MAGIC_LEN) != 0)
    {
      g_set_error_literal (error, CT_STATE_ERROR, CT_STATE_ERROR_FOREIGN,
                           "not a conntrackerd state file");
      return FALSE;
    }
  body = g_bytes_new_from_bytes (image, MAGIC_LEN, size - MAGIC_LEN);
  root = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE (IMAGE_TYPE), body, FALSE));
  /* Only an image in normal form is one we wrote; anything else was
   * damaged (GVariant would read it safely, but not meaningfully). */
  if (!g_variant_is_normal_form (root))
    {
      g_set_error_literal (error, CT_STATE_ERROR, CT_STATE_ERROR_CORRUPT,
                           "state file is damaged (not in normal form)");
      return FALSE;
    }
  g_variant_get (root, "(ut@a" FLOW_TYPE "@a" CONN_TYPE ")", &version,
                 &saved_at, &flows_v, &conns_v);
  if (version != STATE_VERSION)
    {
      g_set_error (error, CT_STATE_ERROR, CT_STATE_ERROR_VERSION,
                   "state file has format version %u; this conntrackerd "
                   "reads version %u",
                   version, (guint)STATE_VERSION);
      return FALSE;
    }

  /* Validate everything before the store sees any of it. */
  g_variant_iter_init (&iter, flows_v);
  while ((child = g_variant_iter_next_value (&iter)) != NULL)
    {
      CtFlow *flow = read_flow (store, child, index++, error);

      g_variant_unref (child);
      if (flow == NULL)
        return FALSE;
      if (g_hash_table_contains (keys, &flow->key)
          || g_hash_table_contains (ids, &flow->id))
        {
          ct_flow_free (flow);
          return corrupt (error, "duplicate flow", index - 1);
        }
      g_ptr_array_add (flows, flow);
      g_hash_table_add (keys, &flow->key);
      g_hash_table_add (ids, &flow->id);
      max_id = MAX (max_id, flow->id);
    }

  index = 0;
  g_variant_iter_init (&iter, conns_v);
  while ((child = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr (GVariant) orig = NULL, fkey = NULL;
      CtConn *conn = g_new0 (CtConn, 1);

      g_variant_get (child, "(u@ay@aytt)", &conn->id, &orig, &fkey,
                     &conn->packets, &conn->bytes);
      g_variant_unref (child);
      g_ptr_array_add (conns, conn);
      if (!read_key (orig, &conn->orig) || !read_key (fkey, &conn->flow_key))
        return corrupt (error, "bad conntrack entry key", index);
      index++;
    }

  for (guint i = 0; i < flows->len; i++)
    {
      CtFlow *flow = g_ptr_array_index (flows, i);
      guint64 id = flow->id;

      flow->active = 0;
      flow->lru.data = flow;
      ct_store_insert_flow (store, flow);
      /* insert_flow numbers flows; a restored flow keeps its id. */
      g_hash_table_remove (store->by_id, &flow->id);
      flow->id = id;
      g_hash_table_insert (store->by_id, &flow->id, flow);
      flows->pdata[i] = NULL;
    }
  store->next_flow_id = MAX (store->next_flow_id, max_id + 1);

  for (guint i = 0; i < conns->len; i++)
    {
      CtConn *conn = g_ptr_array_index (conns, i);
      CtFlow *flow = g_hash_table_lookup (store->flows, &conn->flow_key);

      if (flow == NULL
          || g_hash_table_contains (store->conns, GUINT_TO_POINTER (conn->id)))
        continue;
      /* Believed live until the initial dump says otherwise: the dump's
       * reconciliation ends the ones that went away while we were down. */
      conn->generation = store->generation;
      flow->active++;
      g_hash_table_insert (store->conns, GUINT_TO_POINTER (conn->id), conn);
      conns->pdata[i] = NULL;
    }
  return TRUE;
}

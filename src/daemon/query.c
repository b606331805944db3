/* query.c — query dictionaries: parsing, sorting and selecting flows. */
#include "query.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "ct-error.h"

static const char *const sort_names[CT_SORT_N_FIELDS] = {
  [CT_SORT_FAMILY] = "family",
  [CT_SORT_PROTOCOL] = "protocol",
  [CT_SORT_SRC] = "src",
  [CT_SORT_DST] = "dst",
  [CT_SORT_SPORT] = "sport",
  [CT_SORT_DPORT] = "dport",
  [CT_SORT_FIRST_SEEN] = "first-seen",
  [CT_SORT_LAST_SEEN] = "last-seen",
  [CT_SORT_CONNECTIONS] = "connections",
  [CT_SORT_ACTIVE] = "active",
  [CT_SORT_PACKETS] = "packets",
  [CT_SORT_BYTES] = "bytes",
  [CT_SORT_ID] = "id",
};

typedef struct
{
  const char *name;
  const char *type;
} KeySpec;

/* Per kind, in the order the error message lists them. */
static const KeySpec list_keys[] = {
  { "filter", "s" }, { "sort", "s" }, { "offset", "u" },
  { "limit", "u" },  { NULL, NULL },
};
static const KeySpec dump_keys[] = {
  { "filter", "s" }, { "sort", "s" },   { "offset", "u" },
  { "limit", "u" },  { "format", "s" }, { NULL, NULL },
};
static const KeySpec subscribe_keys[] = {
  { "filter", "s" },
  { "interval-ms", "u" },
  { NULL, NULL },
};

const char *
ct_sort_field_to_string (CtSortField field)
{
  g_return_val_if_fail (field < CT_SORT_N_FIELDS, "?");
  return sort_names[field];
}

static const KeySpec *
keys_for (CtQueryKind kind)
{
  switch (kind)
    {
    case CT_QUERY_DUMP:
      return dump_keys;
    case CT_QUERY_SUBSCRIBE:
      return subscribe_keys;
    case CT_QUERY_LIST:
    default:
      return list_keys;
    }
}

static char *
join_names (const KeySpec *specs)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; specs[i].name != NULL; i++)
    g_string_append_printf (s, "%s%s", i > 0 ? ", " : "", specs[i].name);
  return g_string_free (s, FALSE);
}

static gboolean
parse_sort (CtQuery *q, const char *text, GError **error)
{
  g_auto (GStrv) items = NULL;
  const char *blank = text;

  /* Empty or blank: the dump order, like an absent key. */
  while (g_ascii_isspace (*blank))
    blank++;
  if (*blank == '\0')
    return TRUE;
  items = g_strsplit (text, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);
      gboolean descending = item[0] == '-';
      const char *name = descending ? item + 1 : item;
      int field = -1;

      if (*name == '\0')
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "empty sort key in '%s'", text);
          return FALSE;
        }
      for (int f = 0; f < CT_SORT_N_FIELDS; f++)
        if (g_str_equal (name, sort_names[f]))
          field = f;
      if (field < 0)
        {
          GString *known = g_string_new (NULL);

          for (int f = 0; f < CT_SORT_N_FIELDS; f++)
            g_string_append_printf (known, "%s%s", f > 0 ? ", " : "",
                                    sort_names[f]);
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "unknown sort key '%s' (known: %s; prefix '-' for "
                       "descending)",
                       name, known->str);
          g_string_free (known, TRUE);
          return FALSE;
        }
      for (guint j = 0; j < q->n_sort; j++)
        if (q->sort[j].field == (CtSortField)field)
          {
            g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                         "sort key '%s' given twice", name);
            return FALSE;
          }
      q->sort[q->n_sort].field = (CtSortField)field;
      q->sort[q->n_sort].descending = descending;
      q->n_sort++;
    }
  return TRUE;
}

static gboolean
apply_key (CtQuery *q, CtQueryKind kind, const char *key, GVariant *value,
           GError **error)
{
  if (g_str_equal (key, "filter"))
    {
      g_autoptr (GError) local = NULL;
      CtFilter *filter
          = ct_filter_parse (g_variant_get_string (value, NULL), &local);

      if (filter == NULL)
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "invalid filter: %s", local->message);
          return FALSE;
        }
      ct_filter_free (q->filter);
      q->filter = filter;
    }
  else if (g_str_equal (key, "sort"))
    return parse_sort (q, g_variant_get_string (value, NULL), error);
  else if (g_str_equal (key, "offset"))
    q->offset = g_variant_get_uint32 (value);
  else if (g_str_equal (key, "limit"))
    {
      q->limit = g_variant_get_uint32 (value);
      if (kind == CT_QUERY_LIST && q->limit > CT_QUERY_MAX_LIMIT)
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_LIMIT_EXCEEDED,
                       "limit %u is above the maximum of %u (DumpFlows "
                       "has no maximum)",
                       q->limit, CT_QUERY_MAX_LIMIT);
          return FALSE;
        }
    }
  else if (g_str_equal (key, "format"))
    {
      const char *text = g_variant_get_string (value, NULL);

      if (!ct_dump_format_from_string (text, &q->format))
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "unknown format '%s' (known: legacy, json)", text);
          return FALSE;
        }
    }
  else if (g_str_equal (key, "interval-ms"))
    {
      q->interval_ms = g_variant_get_uint32 (value);
      if (q->interval_ms < CT_QUERY_MIN_INTERVAL_MS)
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "interval-ms %u is below the minimum of %u",
                       q->interval_ms, CT_QUERY_MIN_INTERVAL_MS);
          return FALSE;
        }
    }
  else
    g_assert_not_reached ();
  return TRUE;
}

CtQuery *
ct_query_parse (GVariant *dict, CtQueryKind kind, GError **error)
{
  g_autoptr (CtQuery) q = g_new0 (CtQuery, 1);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const KeySpec *specs = keys_for (kind);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_return_val_if_fail (g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT),
                        NULL);

  q->filter = ct_filter_parse ("", NULL);
  q->limit = kind == CT_QUERY_LIST ? CT_QUERY_DEFAULT_LIMIT : G_MAXUINT;
  q->format = CT_DUMP_LEGACY;
  q->interval_ms = CT_QUERY_DEFAULT_INTERVAL_MS;

  /* Keys are checked in the order the caller gave them, so the first
   * problem is the one reported. */
  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      const KeySpec *spec = NULL;

      for (guint i = 0; specs[i].name != NULL; i++)
        if (g_str_equal (key, specs[i].name))
          spec = &specs[i];
      if (spec == NULL)
        {
          g_autofree char *known = join_names (specs);

          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "unknown query key '%s' (known: %s)", key, known);
          g_variant_unref (value);
          return NULL;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type)))
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "query key '%s' must have type '%s', not '%s'", key,
                       spec->type, g_variant_get_type_string (value));
          g_variant_unref (value);
          return NULL;
        }
      if (!g_hash_table_add (seen, (gpointer)spec->name))
        {
          g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                       "query key '%s' given twice", key);
          g_variant_unref (value);
          return NULL;
        }
      if (!apply_key (q, kind, key, value, error))
        {
          g_variant_unref (value);
          return NULL;
        }
    }
  return g_steal_pointer (&q);
}

void
ct_query_free (CtQuery *query)
{
  if (query == NULL)
    return;
  ct_filter_free (query->filter);
  g_free (query);
}

CtFilter *
ct_query_steal_filter (CtQuery *query)
{
  return g_steal_pointer (&query->filter);
}

/* The dump order's protocol rank: TCP, UDP, ICMP, then by number. */
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

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

static int
compare_addr (const CtFlowKey *a, const guint8 *aa, const CtFlowKey *b,
              const guint8 *ba)
{
  if (a->family != b->family)
    return a->family == AF_INET ? -1 : 1;
  return memcmp (aa, ba, 16);
}

/* Flows without ports (ICMP keeps type and code there) sort first. */
static int
port_of (const CtFlowKey *k, guint16 port)
{
  return ct_flow_key_has_ports (k) ? port : -1;
}

static int
compare_field (CtSortField field, const CtFlow *a, const CtFlow *b)
{
  const CtFlowKey *ka = &a->key, *kb = &b->key;

  switch (field)
    {
    case CT_SORT_FAMILY:
      return ka->family == kb->family ? 0 : ka->family == AF_INET ? -1 : 1;
    case CT_SORT_PROTOCOL:
      return CMP (proto_rank (ka->proto), proto_rank (kb->proto));
    case CT_SORT_SRC:
      return compare_addr (ka, ka->src, kb, kb->src);
    case CT_SORT_DST:
      return compare_addr (ka, ka->dst, kb, kb->dst);
    case CT_SORT_SPORT:
      return CMP (port_of (ka, ka->sport), port_of (kb, kb->sport));
    case CT_SORT_DPORT:
      return CMP (port_of (ka, ka->dport), port_of (kb, kb->dport));
    case CT_SORT_FIRST_SEEN:
      return CMP (a->first_seen, b->first_seen);
    case CT_SORT_LAST_SEEN:
      return CMP (a->last_seen, b->last_seen);
    case CT_SORT_CONNECTIONS:
      return CMP (a->connections, b->connections);
    case CT_SORT_ACTIVE:
      return CMP (a->active, b->active);
    case CT_SORT_PACKETS:
      return CMP (a->packets, b->packets);
    case CT_SORT_BYTES:
      return CMP (a->bytes, b->bytes);
    case CT_SORT_ID:
      return CMP (a->id, b->id);
    case CT_SORT_N_FIELDS:
    default:
      g_assert_not_reached ();
    }
}

int
ct_query_compare (const CtQuery *query, const CtFlow *a, const CtFlow *b)
{
  for (guint i = 0; i < query->n_sort; i++)
    {
      int c = compare_field (query->sort[i].field, a, b);

      if (c != 0)
        return query->sort[i].descending ? -c : c;
    }
  return ct_flow_key_compare (&a->key, &b->key);
}

static int
compare_ptr (gconstpointer pa, gconstpointer pb, gpointer data)
{
  return ct_query_compare (data, *(CtFlow *const *)pa, *(CtFlow *const *)pb);
}

GPtrArray *
ct_query_select (const CtQuery *query, CtStore *store, gint64 now_us,
                 guint *total)
{
  g_autoptr (GPtrArray) all = ct_store_get_sorted (store);
  GPtrArray *out;
  guint matched = 0;
  guint64 end;

  /* Filter in place: `all` is already in the dump order. */
  for (guint i = 0; i < all->len; i++)
    {
      CtFlow *flow = g_ptr_array_index (all, i);

      if (ct_filter_match (query->filter, flow, now_us))
        all->pdata[matched++] = flow;
    }
  g_ptr_array_set_size (all, matched);
  if (query->n_sort > 0)
    g_ptr_array_sort_with_data (all, compare_ptr, (gpointer)query);

  *total = matched;
  end = MIN ((guint64)query->offset + query->limit, matched);
  out = g_ptr_array_sized_new (
      end > query->offset ? (guint)(end - query->offset) : 0);
  for (guint64 i = query->offset; i < end; i++)
    g_ptr_array_add (out, all->pdata[i]);
  return out;
}

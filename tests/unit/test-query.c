/* Query dictionaries: every accepted key per method, every rejection and
 * its message, and selection (filter, sort, offset, limit, total). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "ct-error.h"
#include "query.h"

/* An a{sv} from GVariant text, e.g. "{'limit': <uint32 5>}". */
static GVariant *
dict (const char *text)
{
  g_autoptr (GError) error = NULL;
  GVariant *v
      = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

  g_assert_no_error (error);
  return v; /* g_variant_parse returns a full reference */
}

static CtQuery *
parse_ok (CtQueryKind kind, const char *text)
{
  g_autoptr (GVariant) d = dict (text);
  g_autoptr (GError) error = NULL;
  CtQuery *q = ct_query_parse (d, kind, &error);

  g_assert_no_error (error);
  g_assert_nonnull (q);
  return q;
}

static void
assert_rejected (CtQueryKind kind, const char *text, int code,
                 const char *message)
{
  g_autoptr (GVariant) d = dict (text);
  g_autoptr (GError) error = NULL;
  CtQuery *q = ct_query_parse (d, kind, &error);

  g_assert_null (q);
  g_assert_error (error, CT_DBUS_ERROR, code);
  g_assert_cmpstr (error->message, ==, message);
}

static void
test_defaults (void)
{
  g_autoptr (CtQuery) list = parse_ok (CT_QUERY_LIST, "@a{sv} {}");
  g_autoptr (CtQuery) dump = parse_ok (CT_QUERY_DUMP, "@a{sv} {}");
  g_autoptr (CtQuery) sub = parse_ok (CT_QUERY_SUBSCRIBE, "@a{sv} {}");

  g_assert_nonnull (list->filter);
  g_assert_cmpuint (list->n_sort, ==, 0);
  g_assert_cmpuint (list->offset, ==, 0);
  g_assert_cmpuint (list->limit, ==, CT_QUERY_DEFAULT_LIMIT);
  g_assert_cmpuint (dump->limit, ==, G_MAXUINT);
  g_assert_cmpint (dump->format, ==, CT_DUMP_LEGACY);
  g_assert_nonnull (sub->filter);
  g_assert_cmpuint (sub->interval_ms, ==, CT_QUERY_DEFAULT_INTERVAL_MS);
}

static void
test_accepted (void)
{
  g_autoptr (CtQuery) list = parse_ok (
      CT_QUERY_LIST, "{'filter': <'proto tcp'>, 'sort': <' -bytes , src'>, "
                     "'offset': <uint32 5>, 'limit': <uint32 10000>}");
  g_autoptr (CtQuery) dump = parse_ok (
      CT_QUERY_DUMP, "{'format': <'json'>, 'limit': <uint32 4000000000>, "
                     "'sort': <''>}");
  g_autoptr (CtQuery) sub = parse_ok (
      CT_QUERY_SUBSCRIBE, "{'filter': <''>, 'interval-ms': <uint32 100>}");
  g_autofree char *filter = ct_filter_to_string (list->filter);
  g_autoptr (CtFilter) same = ct_filter_parse ("proto tcp", NULL);
  g_autofree char *expected = ct_filter_to_string (same);

  g_assert_cmpstr (filter, ==, expected);
  g_assert_cmpuint (list->n_sort, ==, 2);
  g_assert_cmpint (list->sort[0].field, ==, CT_SORT_BYTES);
  g_assert_true (list->sort[0].descending);
  g_assert_cmpint (list->sort[1].field, ==, CT_SORT_SRC);
  g_assert_false (list->sort[1].descending);
  g_assert_cmpuint (list->offset, ==, 5);
  g_assert_cmpuint (list->limit, ==, CT_QUERY_MAX_LIMIT);

  /* DumpFlows: no cap on limit; a blank sort is the dump order. */
  g_assert_cmpint (dump->format, ==, CT_DUMP_JSON);
  g_assert_cmpuint (dump->limit, ==, 4000000000u);
  g_assert_cmpuint (dump->n_sort, ==, 0);
  g_assert_cmpuint (sub->interval_ms, ==, 100);
}

static void
test_every_sort_key (void)
{
  for (int f = 0; f < CT_SORT_N_FIELDS; f++)
    {
      g_autofree char *text
          = g_strdup_printf ("{'sort': <'-%s'>}", ct_sort_field_to_string (f));
      g_autoptr (CtQuery) q = parse_ok (CT_QUERY_LIST, text);

      g_assert_cmpuint (q->n_sort, ==, 1);
      g_assert_cmpint (q->sort[0].field, ==, f);
      g_assert_true (q->sort[0].descending);
    }
}

#define KNOWN_SORT                                                             \
  "family, protocol, src, dst, sport, dport, first-seen, last-seen, "          \
  "connections, active, packets, bytes, id"

static void
test_rejected (void)
{
  assert_rejected (CT_QUERY_LIST, "{'foo': <1>}", CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown query key 'foo' (known: filter, sort, offset, "
                   "limit)");
  /* Keys of another method are unknown here. */
  assert_rejected (CT_QUERY_LIST, "{'format': <'json'>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown query key 'format' (known: filter, sort, "
                   "offset, limit)");
  assert_rejected (CT_QUERY_DUMP, "{'interval-ms': <uint32 500>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown query key 'interval-ms' (known: filter, sort, "
                   "offset, limit, format)");
  assert_rejected (CT_QUERY_SUBSCRIBE, "{'sort': <'id'>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown query key 'sort' (known: filter, interval-ms)");

  assert_rejected (CT_QUERY_LIST, "{'limit': <'10'>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "query key 'limit' must have type 'u', not 's'");
  assert_rejected (CT_QUERY_LIST, "{'offset': <int32 1>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "query key 'offset' must have type 'u', not 'i'");
  assert_rejected (CT_QUERY_LIST, "{'filter': <uint32 1>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "query key 'filter' must have type 's', not 'u'");
  assert_rejected (CT_QUERY_LIST, "{'sort': <['id']>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "query key 'sort' must have type 's', not 'as'");
  assert_rejected (CT_QUERY_DUMP, "{'format': <<'json'>>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "query key 'format' must have type 's', not 'v'");
  assert_rejected (CT_QUERY_SUBSCRIBE, "{'interval-ms': <uint64 500>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "query key 'interval-ms' must have type 'u', not 't'");

  assert_rejected (CT_QUERY_LIST, "{'sort': <'foo'>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown sort key 'foo' (known: " KNOWN_SORT
                   "; prefix '-' for descending)");
  assert_rejected (CT_QUERY_DUMP, "{'sort': <'src, -Bytes'>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown sort key 'Bytes' (known: " KNOWN_SORT
                   "; prefix '-' for descending)");
  assert_rejected (CT_QUERY_LIST, "{'sort': <'src,,dst'>}",
                   CT_DBUS_ERROR_INVALID_QUERY, "empty sort key in 'src,,dst'");
  assert_rejected (CT_QUERY_LIST, "{'sort': <'-'>}",
                   CT_DBUS_ERROR_INVALID_QUERY, "empty sort key in '-'");
  assert_rejected (CT_QUERY_LIST, "{'sort': <'src,-src'>}",
                   CT_DBUS_ERROR_INVALID_QUERY, "sort key 'src' given twice");

  assert_rejected (CT_QUERY_LIST, "{'limit': <uint32 10001>}",
                   CT_DBUS_ERROR_LIMIT_EXCEEDED,
                   "limit 10001 is above the maximum of 10000 (DumpFlows "
                   "has no maximum)");
  assert_rejected (CT_QUERY_DUMP, "{'format': <'xml'>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "unknown format 'xml' (known: legacy, json)");
  assert_rejected (CT_QUERY_SUBSCRIBE, "{'interval-ms': <uint32 99>}",
                   CT_DBUS_ERROR_INVALID_QUERY,
                   "interval-ms 99 is below the minimum of 100");
  assert_rejected (
      CT_QUERY_LIST, "[{'limit', <uint32 1>}, {'limit', <uint32 2>}]",
      CT_DBUS_ERROR_INVALID_QUERY, "query key 'limit' given twice");
}

static void
test_filter_error (void)
{
  static const char *const kinds_text[] = {
    "{'filter': <'proto tcp and ('>}",
  };
  const CtQueryKind kinds[]
      = { CT_QUERY_LIST, CT_QUERY_DUMP, CT_QUERY_SUBSCRIBE };

  /* The filter's own message, column included, after a prefix. */
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autoptr (GVariant) d = dict (kinds_text[0]);
      g_autoptr (GError) error = NULL;
      g_autoptr (GError) direct = NULL;
      g_autoptr (CtFilter) f = ct_filter_parse ("proto tcp and (", &direct);
      g_autofree char *expected = NULL;

      g_assert_null (f);
      g_assert_null (ct_query_parse (d, kinds[i], &error));
      g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY);
      expected = g_strconcat ("invalid filter: ", direct->message, NULL);
      g_assert_cmpstr (error->message, ==, expected);
      g_assert_true (
          g_str_has_prefix (error->message, "invalid filter: at column "));
    }
}

/* --- selection ------------------------------------------------------- */

static void
add (CtStore *store, guint32 id, guint8 proto, const char *src, guint16 sport,
     const char *dst, guint16 dport, guint64 bytes, gint64 t)
{
  CtConnEvent ev = { 0 };

  ev.type = CT_EVENT_NEW;
  ev.family = AF_INET;
  ev.proto = proto;
  ev.has_id = TRUE;
  ev.id = id;
  ev.has_counters = TRUE;
  ev.bytes = bytes;
  ev.packets = 1;
  inet_pton (AF_INET, src, ev.orig.src);
  inet_pton (AF_INET, dst, ev.orig.dst);
  ev.orig.sport = sport;
  ev.orig.dport = dport;
  memcpy (ev.reply.src, ev.orig.dst, 16);
  memcpy (ev.reply.dst, ev.orig.src, 16);
  ev.reply.sport = dport;
  ev.reply.dport = sport;
  ct_store_apply (store, &ev, t);
}

static CtStore *
sample_store (void)
{
  CtStore *store = ct_store_new (100, TRUE);

  /* ids follow creation order: 1..5 */
  add (store, 1, IPPROTO_UDP, "10.0.0.2", 5000, "10.0.0.1", 53, 300, 10);
  add (store, 2, IPPROTO_TCP, "10.0.0.3", 40000, "10.0.0.1", 22, 100, 20);
  add (store, 3, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.9", 443, 500, 30);
  add (store, 4, IPPROTO_ICMP, "10.0.0.1", 8, "10.0.0.2", 0, 0, 40);
  add (store, 5, IPPROTO_TCP, "10.0.0.1", 40000, "10.0.0.9", 80, 500, 50);
  return store;
}

static char *
ids_of (GPtrArray *flows)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < flows->len; i++)
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT, i ? "," : "",
                            ((CtFlow *)flows->pdata[i])->id);
  return g_string_free (s, FALSE);
}

static char *
select_ids (CtStore *store, const char *query, guint *total)
{
  g_autoptr (CtQuery) q = parse_ok (CT_QUERY_LIST, query);
  g_autoptr (GPtrArray) flows = ct_query_select (q, store, 100, total);

  return ids_of (flows);
}

static void
test_select (void)
{
  g_autoptr (CtStore) store = sample_store ();
  guint total = 0;
  char *ids;

  /* The dump order: TCP (by src, dst, ports), UDP, ICMP. */
  ids = select_ids (store, "@a{sv} {}", &total);
  g_assert_cmpstr (ids, ==, "5,3,2,1,4");
  g_assert_cmpuint (total, ==, 5);
  g_free (ids);

  ids = select_ids (store, "{'filter': <'proto tcp'>}", &total);
  g_assert_cmpstr (ids, ==, "5,3,2");
  g_assert_cmpuint (total, ==, 3);
  g_free (ids);

  /* Descending bytes, ties in the dump order. */
  ids = select_ids (store, "{'sort': <'-bytes'>}", &total);
  g_assert_cmpstr (ids, ==, "5,3,1,2,4");
  g_free (ids);

  /* Two keys: bytes descending, then id descending. */
  ids = select_ids (store, "{'sort': <'-bytes,-id'>}", &total);
  g_assert_cmpstr (ids, ==, "5,3,1,2,4");
  g_free (ids);
  ids = select_ids (store, "{'sort': <'bytes,-first-seen'>}", &total);
  g_assert_cmpstr (ids, ==, "4,2,1,5,3");
  g_free (ids);

  /* Ports: portless flows (ICMP) first. */
  ids = select_ids (store, "{'sort': <'dport'>}", &total);
  g_assert_cmpstr (ids, ==, "4,2,1,5,3");
  g_free (ids);

  /* Offset and limit apply after sorting; total counts every match. */
  ids = select_ids (store,
                    "{'sort': <'id'>, 'offset': <uint32 1>, "
                    "'limit': <uint32 2>}",
                    &total);
  g_assert_cmpstr (ids, ==, "2,3");
  g_assert_cmpuint (total, ==, 5);
  g_free (ids);
  ids = select_ids (store, "{'offset': <uint32 7>}", &total);
  g_assert_cmpstr (ids, ==, "");
  g_assert_cmpuint (total, ==, 5);
  g_free (ids);
  ids = select_ids (store, "{'limit': <uint32 0>}", &total);
  g_assert_cmpstr (ids, ==, "");
  g_assert_cmpuint (total, ==, 5);
  g_free (ids);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/query/defaults", test_defaults);
  g_test_add_func ("/query/accepted", test_accepted);
  g_test_add_func ("/query/every-sort-key", test_every_sort_key);
  g_test_add_func ("/query/rejected", test_rejected);
  g_test_add_func ("/query/filter-error", test_filter_error);
  g_test_add_func ("/query/select", test_select);
  return g_test_run ();
}

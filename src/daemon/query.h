/* query.h — the D-Bus query dictionaries (filter, sort, offset, limit,
 * format, interval-ms): validation with clear InvalidQuery messages, and
 * running a query over the store. No bus code, no authorization here. */
#pragma once

#include "dump-file.h"
#include "filter.h"
#include "store.h"

G_BEGIN_DECLS

/* Which method the dictionary came with: each accepts its own keys. */
typedef enum
{
  CT_QUERY_LIST,      /* ListFlows: filter, sort, offset, limit */
  CT_QUERY_DUMP,      /* DumpFlows: the same plus format; limit uncapped */
  CT_QUERY_SUBSCRIBE, /* Subscribe: filter, interval-ms */
} CtQueryKind;

#define CT_QUERY_DEFAULT_LIMIT       1000u
#define CT_QUERY_MAX_LIMIT           10000u
#define CT_QUERY_DEFAULT_INTERVAL_MS 500u
#define CT_QUERY_MIN_INTERVAL_MS     100u

typedef enum
{
  CT_SORT_FAMILY,
  CT_SORT_PROTOCOL,
  CT_SORT_SRC,
  CT_SORT_DST,
  CT_SORT_SPORT,
  CT_SORT_DPORT,
  CT_SORT_FIRST_SEEN,
  CT_SORT_LAST_SEEN,
  CT_SORT_CONNECTIONS,
  CT_SORT_ACTIVE,
  CT_SORT_PACKETS,
  CT_SORT_BYTES,
  CT_SORT_ID,
  CT_SORT_N_FIELDS,
} CtSortField;

typedef struct
{
  CtSortField field;
  gboolean descending;
} CtSortKey;

typedef struct
{
  CtFilter *filter; /* never NULL: absent or "" is the match-all filter */
  CtSortKey sort[CT_SORT_N_FIELDS]; /* each field at most once */
  guint n_sort; /* 0: the dump order (ct_flow_key_compare) */
  guint offset;
  guint limit;         /* LIST: default 1000; DUMP: default G_MAXUINT */
  CtDumpFormat format; /* DUMP only */
  guint interval_ms;   /* SUBSCRIBE only */
} CtQuery;

/* Parses an a{sv}. Errors are CT_DBUS_ERROR_INVALID_QUERY (unknown or
 * repeated key, wrong value type, bad sort key, format or interval, a
 * filter error with its column) or CT_DBUS_ERROR_LIMIT_EXCEEDED (a
 * ListFlows limit above CT_QUERY_MAX_LIMIT). */
CtQuery *ct_query_parse (GVariant *dict, CtQueryKind kind, GError **error);
void ct_query_free (CtQuery *query);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtQuery, ct_query_free)

/* Takes the filter out of the query (for a subscription to keep). */
CtFilter *ct_query_steal_filter (CtQuery *query);

/* The query's order: its sort keys, then the dump order, so that equal
 * keys still sort the same way every time. */
int ct_query_compare (const CtQuery *query, const CtFlow *a, const CtFlow *b);

/* The flows matching the filter at now_us, sorted, from offset, at most
 * limit. *total is how many matched before offset and limit. The flows are
 * borrowed from the store: use them before it changes. */
GPtrArray *ct_query_select (const CtQuery *query, CtStore *store, gint64 now_us,
                            guint *total);

/* The names of the sort fields, as the "sort" key spells them. */
const char *ct_sort_field_to_string (CtSortField field);

G_END_DECLS

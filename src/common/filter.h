/* filter.h — the filter language users type (conntrackerctl --filter, the
 * D-Bus `filter` query key): parsing and matching only; touches no flow store. */
#pragma once

#include "flow.h"

G_BEGIN_DECLS

/* Hostile input is bounded: longer text, deeper nesting and more terms are
 * refused with a syntax error rather than risking the stack or a slow
 * match. Terms (predicates, `not`s, and/or groups) are what bound the
 * canonical text: at most 60 bytes each, so anything accepted prints back
 * within CT_FILTER_MAX_LENGTH and re-parses. */
#define CT_FILTER_MAX_LENGTH 16384 /* bytes */
#define CT_FILTER_MAX_DEPTH  64
#define CT_FILTER_MAX_TERMS  256

#define CT_FILTER_ERROR (ct_filter_error_quark ())

typedef enum
{
  CT_FILTER_ERROR_SYNTAX,
} CtFilterError;

GQuark ct_filter_error_quark (void);

typedef struct _CtFilter CtFilter;

/* Returns NULL and sets a CT_FILTER_ERROR_SYNTAX error reading
 * "at column N: …" (N 1-based, in characters of text) on bad input.
 * Empty or all-blank text is a filter that matches every flow. */
CtFilter *ct_filter_parse (const char *text, GError **error);

/* now_us (µs since the Unix epoch) is what the age predicates measure
 * from. Allocates nothing: meant to run over the whole store. */
gboolean ct_filter_match (const CtFilter *filter, const CtFlow *flow,
                          gint64 now_us);

/* The canonical form: lower-case keywords, every and/or group in
 * parentheses, masked addresses; parsing it gives an equal filter. The
 * match-all filter is the empty string. */
char *ct_filter_to_string (const CtFilter *filter);

void ct_filter_free (CtFilter *filter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtFilter, ct_filter_free)

G_END_DECLS

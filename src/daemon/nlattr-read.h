/* nlattr-read.h — reading netlink attributes out of untrusted messages:
 * collecting one nesting level into a table and bounds-checked big-endian
 * integers. Shared by the trace parsers; pure, no allocation. */
#pragma once

#include <glib.h>
#include <libmnl/libmnl.h>

G_BEGIN_DECLS

/* Keeps the last attribute of each type up to max; later types (newer
 * kernels) are skipped. FALSE when the bytes do not end on an attribute
 * boundary: a truncated or corrupt message, never silently shortened. */
gboolean ct_nlattr_collect (const void *start, gsize len,
                            const struct nlattr **tb, guint max);

/* FALSE when the payload is too short for the integer. */
gboolean ct_nlattr_be32 (const struct nlattr *a, guint32 *out);
gboolean ct_nlattr_be64 (const struct nlattr *a, guint64 *out);

/* Optional 32-bit attributes: absent is fine (TRUE, *has untouched), too
 * short is not. */
gboolean ct_nlattr_opt_be32 (const struct nlattr *a, gboolean *has,
                             guint32 *out);

G_END_DECLS

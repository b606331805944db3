/* dump-file.h — renders the whole store as a dump (legacy text or JSON
 * lines) and writes it to a file atomically or to standard output. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef enum
{
  CT_DUMP_LEGACY,
  CT_DUMP_JSON,
} CtDumpFormat;

gboolean ct_dump_format_from_string (const char *text, CtDumpFormat *format);

/* Appends every flow of the store, in display order. */
void ct_dump_render (CtStore *store, CtDumpFormat format, GString *out);

/* Writes the dump to `path` (tmp file + rename, so readers never see half
 * a dump) or to standard output when path is "-". */
gboolean ct_dump_write (CtStore *store, CtDumpFormat format, const char *path,
                        GError **error);

G_END_DECLS

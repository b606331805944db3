/* text-table.h — aligned columns for people: widths come from the content,
 * counted in terminal cells, so translated headers and arrows line up. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CtTextTable CtTextTable;

CtTextTable *ct_text_table_new (guint n_columns);
void ct_text_table_free (CtTextTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtTextTable, ct_text_table_free)

/* Headers are optional; right-aligned columns suit numbers. */
void ct_text_table_set_column (CtTextTable *table, guint column,
                               const char *header, gboolean right_align);

/* Cells fill rows left to right; take_cell takes ownership of text. */
void ct_text_table_add_cell (CtTextTable *table, const char *text);
void ct_text_table_take_cell (CtTextTable *table, char *text);

guint ct_text_table_get_n_rows (const CtTextTable *table);

/* The table as lines, two spaces between columns, no trailing blanks. */
char *ct_text_table_render (const CtTextTable *table);

/* Terminal cells a UTF-8 string takes (wide characters count two). */
gsize ct_text_width (const char *text);

G_END_DECLS

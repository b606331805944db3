/* text-table.c — column layout for conntrackerctl's tables. */
#include "text-table.h"

struct _CtTextTable
{
  guint n_columns;
  char **headers;        /* n_columns entries, NULL for none */
  gboolean *right_align; /* n_columns entries */
  GPtrArray *cells;      /* char*, row-major */
};

CtTextTable *
ct_text_table_new (guint n_columns)
{
  CtTextTable *table = g_new0 (CtTextTable, 1);

  g_return_val_if_fail (n_columns > 0, NULL);
  table->n_columns = n_columns;
  table->headers = g_new0 (char *, n_columns + 1);
  table->right_align = g_new0 (gboolean, n_columns);
  table->cells = g_ptr_array_new_with_free_func (g_free);
  return table;
}

void
ct_text_table_free (CtTextTable *table)
{
  if (table == NULL)
    return;
  g_strfreev (table->headers);
  g_free (table->right_align);
  g_ptr_array_unref (table->cells);
  g_free (table);
}

void
ct_text_table_set_column (CtTextTable *table, guint column, const char *header,
                          gboolean right_align)
{
  g_return_if_fail (column < table->n_columns);
  g_free (table->headers[column]);
  table->headers[column] = g_strdup (header);
  table->right_align[column] = right_align;
}

void
ct_text_table_take_cell (CtTextTable *table, char *text)
{
  g_ptr_array_add (table->cells, text != NULL ? text : g_strdup (""));
}

void
ct_text_table_add_cell (CtTextTable *table, const char *text)
{
  ct_text_table_take_cell (table, g_strdup (text));
}

guint
ct_text_table_get_n_rows (const CtTextTable *table)
{
  return (table->cells->len + table->n_columns - 1) / table->n_columns;
}

gsize
ct_text_width (const char *text)
{
  gsize width = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iszerowidth (c))
        continue;
      width += g_unichar_iswide (c) ? 2 : 1;
    }
  return width;
}

static const char *
cell_at (const CtTextTable *table, guint row, guint column)
{
  guint i = row * table->n_columns + column;

  return i < table->cells->len ? g_ptr_array_index (table->cells, i) : "";
}

static void
append_row (const CtTextTable *table, GString *out, const gsize *widths,
            const char *const *row)
{
  gsize line_start = out->len;

  for (guint c = 0; c < table->n_columns; c++)
    {
      gsize pad = widths[c] - ct_text_width (row[c]);

      if (c > 0)
        g_string_append (out, "  ");
      if (table->right_align[c])
        {
          for (gsize i = 0; i < pad; i++)
            g_string_append_c (out, ' ');
          g_string_append (out, row[c]);
        }
      else
        {
          g_string_append (out, row[c]);
          for (gsize i = 0; i < pad; i++)
            g_string_append_c (out, ' ');
        }
    }
  /* No trailing blanks: they confuse diff and copy-paste. */
  while (out->len > line_start && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  g_string_append_c (out, '\n');
}

char *
ct_text_table_render (const CtTextTable *table)
{
  guint n_rows = ct_text_table_get_n_rows (table);
  g_autofree gsize *widths = g_new0 (gsize, table->n_columns);
  g_autofree const char **row = g_new0 (const char *, table->n_columns);
  gboolean has_headers = FALSE;
  GString *out = g_string_new (NULL);

  for (guint c = 0; c < table->n_columns; c++)
    if (table->headers[c] != NULL)
      {
        has_headers = TRUE;
        widths[c] = ct_text_width (table->headers[c]);
      }
  for (guint r = 0; r < n_rows; r++)
    for (guint c = 0; c < table->n_columns; c++)
      widths[c] = MAX (widths[c], ct_text_width (cell_at (table, r, c)));

  if (has_headers)
    {
      for (guint c = 0; c < table->n_columns; c++)
        row[c] = table->headers[c] != NULL ? table->headers[c] : "";
      append_row (table, out, widths, row);
    }
  for (guint r = 0; r < n_rows; r++)
    {
      for (guint c = 0; c < table->n_columns; c++)
        row[c] = cell_at (table, r, c);
      append_row (table, out, widths, row);
    }
  return g_string_free (out, FALSE);
}

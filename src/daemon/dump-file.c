/* dump-file.c — whole-store dumps for the legacy -o option. */
#include "dump-file.h"

#include <errno.h>
#include <gio/gio.h>
#include <unistd.h>

#include "json-format.h"
#include "legacy-format.h"

gboolean
ct_dump_format_from_string (const char *text, CtDumpFormat *format)
{
  if (g_str_equal (text, "legacy"))
    *format = CT_DUMP_LEGACY;
  else if (g_str_equal (text, "json"))
    *format = CT_DUMP_JSON;
  else
    return FALSE;
  return TRUE;
}

void
ct_dump_render (CtStore *store, CtDumpFormat format, GString *out)
{
  g_autoptr (GPtrArray) flows = ct_store_get_sorted (store);
  CtLegacyWriter writer = { 0 };

  for (guint i = 0; i < flows->len; i++)
    {
      CtFlow *flow = g_ptr_array_index (flows, i);

      if (format == CT_DUMP_JSON)
        ct_json_append_flow (out, flow);
      else
        {
          ct_flow_sort_hits (flow);
          ct_legacy_append_flow (&writer, out, flow);
        }
    }
}

static gboolean
write_all (int fd, const char *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int err = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "writing the dump to standard output: %s",
                       g_strerror (err));
          return FALSE;
        }
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

gboolean
ct_dump_write (CtStore *store, CtDumpFormat format, const char *path,
               GError **error)
{
  g_autoptr (GString) out = g_string_sized_new (4096);

  ct_dump_render (store, format, out);
  if (g_str_equal (path, "-"))
    return write_all (STDOUT_FILENO, out->str, out->len, error);
  return g_file_set_contents_full (path, out->str, (gssize)out->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0640, error);
}

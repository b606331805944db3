/* dump-file.c — whole-store dumps for the legacy -o option. */
#include "dump-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sys/stat.h>
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
write_all (int fd, const char *what, const char *data, gsize len,
           GError **error)
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
                       "writing the dump to %s: %s", what, g_strerror (err));
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

  struct stat st;
  int fd;
  gboolean ok;

  ct_dump_render (store, format, out);
  if (g_str_equal (path, "-"))
    return write_all (STDOUT_FILENO, "standard output", out->str, out->len,
                      error);

  /* A device or FIFO (/dev/null, a pipe to a reader) is written in place:
   * renaming a temporary file over it would replace the device itself. */
  if (stat (path, &st) == 0 && !S_ISREG (st.st_mode))
    {
      fd = open (path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
      if (fd < 0)
        {
          int err = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "opening %s: %s", path, g_strerror (err));
          return FALSE;
        }
      ok = write_all (fd, path, out->str, out->len, error);
      close (fd);
      return ok;
    }
  return g_file_set_contents_full (path, out->str, (gssize)out->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0640, error);
}

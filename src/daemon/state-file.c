/* state-file.c — the state file's I/O around store-state.c. */
#include "state-file.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "store-state.h"

gboolean
ct_state_file_save (CtStore *store, const char *path, GError **error)
{
  g_autoptr (GBytes) image = ct_store_save (store);
  gsize len;
  const char *data = g_bytes_get_data (image, &len);

  return g_file_set_contents_full (path, data, (gssize)len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

gboolean
ct_state_file_load (CtStore *store, const char *path, char **set_aside,
                    GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GBytes) image = NULL;
  g_autofree char *data = NULL;
  g_autofree char *aside = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                  "cannot read %s: ", path);
      return FALSE;
    }

  image = g_bytes_new_take (g_steal_pointer (&data), len);
  if (ct_store_load (store, image, &local))
    return TRUE;

  aside = g_strdup_printf ("%s.bad-%" G_GINT64_FORMAT, path,
                           g_get_real_time () / G_USEC_PER_SEC);
  if (g_rename (path, aside) != 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "%s: %s; and it could not be set aside: %s", path,
                   local->message, g_strerror (err));
      return FALSE;
    }
  g_set_error (error, local->domain, local->code, "%s: %s", path,
               local->message);
  if (set_aside != NULL)
    *set_aside = g_steal_pointer (&aside);
  return FALSE;
}

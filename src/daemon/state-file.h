/* state-file.h — where the store's image lives between runs: atomic save,
 * load, and setting aside a file that cannot be loaded. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

/* Writes the store to `path` atomically (tmp file + rename, mode 0600). */
gboolean ct_state_file_save (CtStore *store, const char *path, GError **error);

/* Loads `path` into an empty store. A missing file is not an error (the
 * first start). A file that cannot be loaded is renamed to
 * PATH.bad-TIMESTAMP, never deleted, and FALSE is returned with the reason
 * (and, in *set_aside, the new name) so the caller can report it; the store
 * is then left empty and the daemon carries on. */
gboolean ct_state_file_load (CtStore *store, const char *path, char **set_aside,
                             GError **error);

G_END_DECLS

/* store-state.h — the store as a state file, so flows survive a restart:
 * serialisation to bytes and back, with every field of a loaded file
 * validated (the file is outside input: fuzzed). No file I/O here. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

#define CT_STATE_ERROR (ct_state_error_quark ())
typedef enum
{
  CT_STATE_ERROR_FOREIGN, /* not a conntrackerd state file */
  CT_STATE_ERROR_VERSION, /* written by an incompatible version */
  CT_STATE_ERROR_CORRUPT, /* ours, but damaged */
} CtStateError;
GQuark ct_state_error_quark (void);

/* The whole store (flows with their hits, and the conntrack entries it
 * believes are live, so the next start's initial dump does not count them
 * twice) as a self-contained byte image. */
GBytes *ct_store_save (CtStore *store);

/* Loads an image into an EMPTY store (call before any event is applied).
 * Nothing is added unless the whole image is valid. Flows beyond the
 * store's bound are evicted as usual. */
gboolean ct_store_load (CtStore *store, GBytes *image, GError **error);

G_END_DECLS

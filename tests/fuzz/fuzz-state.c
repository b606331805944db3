/* Fuzz target: state files (read at start from $STATE_DIRECTORY). */
#include <stdint.h>

#include "store-state.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (CtStore) store = ct_store_new (8, TRUE);
  g_autoptr (GBytes) image = g_bytes_new (data, size);
  g_autoptr (GError) error = NULL;

  if (ct_store_load (store, image, &error))
    {
      /* Whatever loads must save and load again. */
      g_autoptr (GBytes) again = ct_store_save (store);
      g_autoptr (CtStore) second = ct_store_new (8, TRUE);

      if (!ct_store_load (second, again, &error))
        g_error ("a loaded state did not reload: %s", error->message);
    }
  return 0;
}

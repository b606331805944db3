/* Fuzz target: conntrackerd.conf (read at start). */
#include <stdint.h>

#include "config-file.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  CtConfig config;

  if (ct_config_parse (&config, (const char *)data, size, "fuzz", &error))
    ct_config_clear (&config);
  return 0;
}

/* config-file.c — conntrackerd.conf parsing with GKeyFile. Unknown groups
 * and keys are errors: a typo must not silently fall back to a default. */
#include "config-file.h"

#include <string.h>

typedef struct
{
  const char *group;
  const char *key;
} Known;

static const Known known[] = {
  { "daemon", "max-flows" },  { "daemon", "fold-ports" },
  { "daemon", "state-file" }, { "trace", "mode" },
  { "trace", "window" },      { "trace", "set-size" },
};

gboolean
ct_config_trace_mode_valid (const char *mode)
{
  return g_strcmp0 (mode, "off") == 0 || g_strcmp0 (mode, "new") == 0
         || g_strcmp0 (mode, "all") == 0;
}

static gboolean
is_known (const char *group, const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    if (g_str_equal (known[i].group, group)
        && (key == NULL || g_str_equal (known[i].key, key)))
      return TRUE;
  return FALSE;
}

static gboolean
bad_value (GError **error, const char *origin, const char *group,
           const char *key, const char *value, const char *expected)
{
  g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
               "%s: [%s] %s = '%s' is not valid: expected %s", origin, group,
               key, value, expected);
  return FALSE;
}

static gboolean
get_uint (GKeyFile *kf, const char *origin, const char *group, const char *key,
          guint64 min, guint64 max, gboolean *has, guint *out, GError **error)
{
  g_autofree char *raw = g_key_file_get_value (kf, group, key, NULL);
  g_autofree char *expected = NULL;
  guint64 v;

  if (raw == NULL)
    return TRUE;
  g_strstrip (raw);
  if (!g_ascii_string_to_unsigned (raw, 10, min, max, &v, NULL))
    {
      expected = g_strdup_printf ("a whole number from %" G_GUINT64_FORMAT
                                  " to %" G_GUINT64_FORMAT,
                                  min, max);
      return bad_value (error, origin, group, key, raw, expected);
    }
  *has = TRUE;
  *out = (guint)v;
  return TRUE;
}

static gboolean
parse_into (CtConfig *config, const char *text, gsize len, const char *origin,
            GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;

  if (!g_key_file_load_from_data (kf, text, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, local->domain, local->code, "%s: %s", origin,
                   local->message);
      return FALSE;
    }

  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = NULL;

      if (!is_known (groups[i], NULL))
        {
          g_set_error (error, G_KEY_FILE_ERROR,
                       G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                       "%s: unknown group [%s] (known: [daemon], [trace])",
                       origin, groups[i]);
          return FALSE;
        }
      keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        if (!is_known (groups[i], keys[j]))
          {
            g_set_error (
                error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                "%s: unknown key '%s' in [%s]", origin, keys[j], groups[i]);
            return FALSE;
          }
    }

  if (!get_uint (kf, origin, "daemon", "max-flows", CT_MAX_FLOWS_MIN,
                 CT_MAX_FLOWS_MAX, &config->has_max_flows, &config->max_flows,
                 error)
      || !get_uint (kf, origin, "trace", "window", CT_TRACE_WINDOW_MIN,
                    CT_TRACE_WINDOW_MAX, &config->has_trace_window,
                    &config->trace_window, error)
      || !get_uint (kf, origin, "trace", "set-size", CT_TRACE_SET_SIZE_MIN,
                    CT_TRACE_SET_SIZE_MAX, &config->has_trace_set_size,
                    &config->trace_set_size, error))
    return FALSE;

  if (g_key_file_has_key (kf, "daemon", "fold-ports", NULL))
    {
      g_autofree char *raw
          = g_key_file_get_value (kf, "daemon", "fold-ports", NULL);

      config->fold_ports
          = g_key_file_get_boolean (kf, "daemon", "fold-ports", &local);
      if (local != NULL)
        return bad_value (error, origin, "daemon", "fold-ports", raw,
                          "true or false");
      config->has_fold_ports = TRUE;
    }

  if (g_key_file_has_key (kf, "daemon", "state-file", NULL))
    {
      config->state_file
          = g_key_file_get_string (kf, "daemon", "state-file", NULL);
      if (config->state_file == NULL
          || (config->state_file[0] != '\0' && config->state_file[0] != '/'))
        {
          g_autofree char *raw
              = g_key_file_get_value (kf, "daemon", "state-file", NULL);

          g_clear_pointer (&config->state_file, g_free);
          return bad_value (error, origin, "daemon", "state-file",
                            raw ? raw : "",
                            "an absolute path, or nothing to keep no state");
        }
      config->has_state_file = TRUE;
    }

  if (g_key_file_has_key (kf, "trace", "mode", NULL))
    {
      config->trace_mode = g_key_file_get_string (kf, "trace", "mode", NULL);
      if (!ct_config_trace_mode_valid (config->trace_mode))
        {
          g_autofree char *raw
              = g_key_file_get_value (kf, "trace", "mode", NULL);

          g_clear_pointer (&config->trace_mode, g_free);
          return bad_value (error, origin, "trace", "mode", raw ? raw : "",
                            "off, new or all");
        }
      config->has_trace_mode = TRUE;
    }
  return TRUE;
}

gboolean
ct_config_parse (CtConfig *config, const char *text, gsize len,
                 const char *origin, GError **error)
{
  memset (config, 0, sizeof *config);
  if (parse_into (config, text, len, origin, error))
    return TRUE;
  ct_config_clear (config);
  return FALSE;
}

void
ct_config_clear (CtConfig *config)
{
  g_clear_pointer (&config->state_file, g_free);
  g_clear_pointer (&config->trace_mode, g_free);
}

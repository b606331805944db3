/* config-file.h — /etc/conntracker/conntrackerd.conf (GKeyFile): parsed
 * and validated in full, so a bad value stops the start with a message that
 * names the file, group and key. Pure: text in, settings out. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CT_DEFAULT_CONFIG_FILE "/etc/conntracker/conntrackerd.conf"

/* What the file set; has_* says which fields it gave. */
typedef struct
{
  gboolean has_max_flows;
  guint max_flows;
  gboolean has_fold_ports;
  gboolean fold_ports;
  gboolean has_state_file;
  char *state_file; /* "" = keep no state */
  gboolean has_trace_mode;
  char *trace_mode; /* off, new or all */
  gboolean has_trace_window;
  guint trace_window; /* seconds */
  gboolean has_trace_set_size;
  guint trace_set_size;
} CtConfig;

/* `origin` names the text in messages (usually the file's path). */
gboolean ct_config_parse (CtConfig *config, const char *text, gsize len,
                          const char *origin, GError **error);
void ct_config_clear (CtConfig *config);

/* The ranges shared with the command line. */
#define CT_MAX_FLOWS_MIN      1
#define CT_MAX_FLOWS_MAX      100000000
#define CT_TRACE_WINDOW_MIN   1
#define CT_TRACE_WINDOW_MAX   86400
#define CT_TRACE_SET_SIZE_MIN 16
#define CT_TRACE_SET_SIZE_MAX 16777216
gboolean ct_config_trace_mode_valid (const char *mode);

G_END_DECLS

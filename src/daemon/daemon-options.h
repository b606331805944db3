/* daemon-options.h — conntrackerd's command line: the 2021 tool's options
 * (-f, -d, -o, -c) plus ours, validated with clear messages. */
#pragma once

#include <glib.h>

#include "dump-file.h"

G_BEGIN_DECLS

#define CT_DEFAULT_MAX_FLOWS      100000
#define CT_DEFAULT_PIDFILE        "/run/conntrackerd.pid"
#define CT_DEFAULT_DAEMON_OUTPUT  "/var/log/conntracker.log"
#define CT_DEFAULT_TRACE_MODE     "new"
#define CT_DEFAULT_TRACE_WINDOW   30
#define CT_DEFAULT_TRACE_SET_SIZE 65536
#define CT_STATE_FILE_NAME        "flows.state"

typedef struct
{
  gboolean daemonize;   /* -d: fork, pidfile, syslog */
  char *output;         /* -o: dump destination, "-" = stdout */
  CtDumpFormat format;  /* --format */
  gboolean no_trace;    /* -c */
  gboolean fold_ports;  /* on unless --no-fold */
  guint max_flows;      /* --max-flows */
  guint rcvbuf;         /* --rcvbuf (0 = default, and grows on overrun) */
  char *pidfile;        /* --pidfile, with -d */
  gboolean no_bus;      /* --no-bus: serve no D-Bus API */
  gboolean no_dump;     /* --no-dump: write no dump file (systemd service) */
  char *state_file;     /* flows kept across restarts; NULL = none */
  char *listen;         /* --listen: a peer-to-peer D-Bus socket to create */
  char *trace_mode;     /* off, new (default) or all; -c means off */
  guint trace_window;   /* seconds a new flow stays traced */
  guint trace_set_size; /* bound of the tracer's sets */
  gboolean version;
} CtDaemonOptions;

/* Parses argv (GOption syntax), then the configuration file (--config, or
 * CT_DEFAULT_CONFIG_FILE when it exists) for what the command line left
 * unset, then defaults. The state file defaults to
 * $STATE_DIRECTORY/flows.state when systemd sets STATE_DIRECTORY. On error returns FALSE with a message fit
 * for "conntrackerd: MESSAGE"; the caller exits with status 2. */
gboolean ct_daemon_options_parse (CtDaemonOptions *opts, int argc, char **argv,
                                  GError **error);
void ct_daemon_options_clear (CtDaemonOptions *opts);

G_END_DECLS

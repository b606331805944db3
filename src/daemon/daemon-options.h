/* daemon-options.h — conntrackerd's command line: the 2021 tool's options
 * (-f, -d, -o, -c) plus ours, validated with clear messages. */
#pragma once

#include <glib.h>

#include "dump-file.h"

G_BEGIN_DECLS

#define CT_DEFAULT_MAX_FLOWS     100000
#define CT_DEFAULT_PIDFILE       "/run/conntrackerd.pid"
#define CT_DEFAULT_DAEMON_OUTPUT "/var/log/conntracker.log"

typedef struct
{
  gboolean daemonize;  /* -d: fork, pidfile, syslog */
  char *output;        /* -o: dump destination, "-" = stdout */
  CtDumpFormat format; /* --format */
  gboolean no_trace;   /* -c */
  gboolean fold_ports; /* on unless --no-fold */
  guint max_flows;     /* --max-flows */
  guint rcvbuf;        /* --rcvbuf (0 = default, and grows on overrun) */
  char *pidfile;       /* --pidfile, with -d */
  gboolean no_bus;     /* --no-bus: serve no D-Bus API */
  gboolean version;
} CtDaemonOptions;

/* Parses argv (GOption syntax). On error returns FALSE with a message fit
 * for "conntrackerd: MESSAGE"; the caller exits with status 2. */
gboolean ct_daemon_options_parse (CtDaemonOptions *opts, int argc, char **argv,
                                  GError **error);
void ct_daemon_options_clear (CtDaemonOptions *opts);

G_END_DECLS

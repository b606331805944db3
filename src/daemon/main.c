/* main.c — conntrackerd: wires the store, the ctnetlink source and the
 * tracking table to one GLib main loop, the signals and systemd. */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "ct-source.h"
#include "daemon-options.h"
#include "dbus-service.h"
#include "dump-file.h"
#include "flow.h"
#include "log-ids.h"
#include "state-file.h"
#include "store.h"
#include "tracing.h"
#include "tracking-table.h"
#include "xt-trace-source.h"

#define STATUS_INTERVAL_S     2
#define EVICT_LOG_INTERVAL_US (10 * G_USEC_PER_SEC)

typedef struct
{
  CtDaemonOptions opts;
  GMainLoop *loop;
  CtStore *store;
  CtSource *source;
  CtTrackingTable *tracking;
  CtTracing *tracing;
  CtXtTraceSource *xt_trace; /* legacy iptables TRACE over NFLOG */
  CtDBusService *service;
  gboolean dump_ready; /* the initial dump is in the store */
  gboolean bus_ready;  /* the name is ours, or there is no bus to serve on */
  gboolean ready;      /* both: READY=1 was sent */
  gboolean pidfile_written;
  gint64 last_evict_log;
  guint64 evicted_at_last_log;
  int exit_status;
} CtDaemon;

static char *
describe_counters (CtDaemon *d)
{
  const CtSourceStats *src = ct_source_get_stats (d->source);
  const CtStoreStats *st = ct_store_get_stats (d->store);

  return g_strdup_printf (
      "events=%" G_GUINT64_FORMAT " overruns=%" G_GUINT64_FORMAT
      " resyncs=%" G_GUINT64_FORMAT " evicted=%" G_GUINT64_FORMAT
      " flows=%u invalid=%" G_GUINT64_FORMAT " rcvbuf=%u",
      src->messages, src->overruns, src->resyncs, st->flows_evicted,
      ct_store_get_n_flows (d->store), src->invalid, src->rcvbuf);
}

static void
notify_status (CtDaemon *d)
{
  g_autofree char *counters = describe_counters (d);

  sd_notifyf (0, "STATUS=%s: %s", d->ready ? "tracking" : "starting", counters);
}

static gboolean
on_status_timer (gpointer data)
{
  notify_status (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog_timer (gpointer data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

static void
on_flow_removed (const CtFlow *flow, CtFlowRemoval why, gpointer data)
{
  CtDaemon *d = data;
  gint64 now = g_get_monotonic_time ();
  const CtStoreStats *st = ct_store_get_stats (d->store);
  g_autofree char *label = NULL;
  char src[46], dst[46];

  if (why != CT_FLOW_REMOVED_EVICTED)
    return;
  /* At most one line per interval: a flood must not flood the log too. */
  if (d->last_evict_log != 0 && now - d->last_evict_log < EVICT_LOG_INTERVAL_US)
    return;
  label = ct_flow_legacy_label (&flow->key);
  ct_log_event (
      G_LOG_LEVEL_MESSAGE, CT_LOG_ID_EVICTED,
      CT_LOG_FIELDS ("CT_EVICTED", CT_LOG_U64 (st->flows_evicted),
                     "CT_EVICTED_SINCE_REPORT",
                     CT_LOG_U64 (st->flows_evicted - d->evicted_at_last_log),
                     "CT_MAX_FLOWS",
                     CT_LOG_U64 (ct_store_get_max_flows (d->store))),
      "store full (%u flows): evicted %" G_GUINT64_FORMAT
      " least recently seen flow(s) since the last report, e.g. %s "
      "%s -> %s port %u (total evicted %" G_GUINT64_FORMAT ")",
      ct_store_get_max_flows (d->store),
      st->flows_evicted - d->evicted_at_last_log, label,
      ct_flow_addr_to_string (flow->key.family, flow->key.src, src, sizeof src),
      ct_flow_addr_to_string (flow->key.family, flow->key.dst, dst, sizeof dst),
      flow->key.dport, st->flows_evicted);
  d->last_evict_log = now;
  d->evicted_at_last_log = st->flows_evicted;
}

static const CtStoreListener eviction_logger = {
  .removed = on_flow_removed,
};

/* READY=1 means clients can use us: flows are complete and, when there is
 * a bus, the name answers. */
static void
maybe_ready (CtDaemon *d)
{
  if (d->ready || !d->dump_ready || !d->bus_ready)
    return;
  d->ready = TRUE;
  sd_notify (0, "READY=1");
  notify_status (d);
  ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_STARTED,
                CT_LOG_FIELDS ("CT_VERSION", PACKAGE_VERSION, "CT_FLOWS",
                               CT_LOG_U64 (ct_store_get_n_flows (d->store)),
                               "CT_CONNS",
                               CT_LOG_U64 (ct_store_get_n_conns (d->store))),
                "conntrackerd %s started: %u flows, %u live conntrack entries",
                PACKAGE_VERSION, ct_store_get_n_flows (d->store),
                ct_store_get_n_conns (d->store));
}

static void
on_source_ready (gpointer data)
{
  CtDaemon *d = data;

  d->dump_ready = TRUE;
  g_message ("initial conntrack dump applied: %u entries in %u flows; "
             "tracking events",
             ct_store_get_n_conns (d->store), ct_store_get_n_flows (d->store));
  maybe_ready (d);
}

static void
on_bus_state (CtDBusServiceState state, const char *message, gpointer data)
{
  CtDaemon *d = data;

  switch (state)
    {
    case CT_DBUS_SERVICE_OWNED:
    case CT_DBUS_SERVICE_NO_BUS:
      g_message ("%s", message);
      d->bus_ready = TRUE;
      maybe_ready (d);
      break;
    case CT_DBUS_SERVICE_FAILED:
    default:
      /* Under systemd stderr is the journal; with -d it is /dev/null. */
      if (d->opts.daemonize)
        g_warning ("%s", message);
      else
        g_printerr ("conntrackerd: %s\n", message);
      d->exit_status = EXIT_FAILURE;
      sd_notifyf (0, "STATUS=%s", message);
      sd_notify (0, "STOPPING=1");
      g_main_loop_quit (d->loop);
      break;
    }
}

/* Flows from the previous run come back before the first event, so the
 * initial dump reconciles them with what the kernel has now. */
static void
load_state (CtDaemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *aside = NULL;

  if (d->opts.state_file == NULL)
    return;
  if (ct_state_file_load (d->store, d->opts.state_file, &aside, &error))
    {
      if (ct_store_get_n_flows (d->store) > 0)
        g_message ("restored %u flows from %s", ct_store_get_n_flows (d->store),
                   d->opts.state_file);
      return;
    }
  if (aside != NULL)
    g_warning ("cannot use the saved state: %s; set it aside as %s and "
               "starting empty",
               error->message, aside);
  else
    g_warning ("cannot use the saved state: %s; starting empty",
               error->message);
}

static void
save_state (CtDaemon *d)
{
  g_autoptr (GError) error = NULL;

  if (d->opts.state_file == NULL)
    return;
  if (!ct_state_file_save (d->store, d->opts.state_file, &error))
    g_warning ("cannot save the flows: %s", error->message);
  else
    g_message ("saved %u flows to %s", ct_store_get_n_flows (d->store),
               d->opts.state_file);
}

static void
write_dump (CtDaemon *d)
{
  g_autoptr (GError) error = NULL;

  if (d->opts.output == NULL)
    return;
  if (!ct_dump_write (d->store, d->opts.format, d->opts.output, &error))
    g_warning ("cannot write the dump: %s", error->message);
  else if (!g_str_equal (d->opts.output, "-"))
    g_message ("dump of %u flows written to %s",
               ct_store_get_n_flows (d->store), d->opts.output);
}

static gboolean
on_sigusr1 (gpointer data)
{
  write_dump (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_quit (gpointer data)
{
  CtDaemon *d = data;

  sd_notify (0, "STOPPING=1");
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

static GLogWriterOutput
syslog_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
               gpointer data)
{
  int prio = LOG_INFO;
  const char *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE"))
      message = fields[i].value;
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    prio = LOG_ERR;
  else if (level & G_LOG_LEVEL_WARNING)
    prio = LOG_WARNING;
  else if (level & G_LOG_LEVEL_DEBUG)
    return G_LOG_WRITER_HANDLED;
  syslog (prio, "%s", message != NULL ? message : "");
  return G_LOG_WRITER_HANDLED;
}

/* -d: the classic double-fork daemon for hosts without systemd. */
static gboolean
daemonize (CtDaemon *d, GError **error)
{
  g_autofree char *pid = NULL;

  if (daemon (0, 0) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot detach: %s", g_strerror (errno));
      return FALSE;
    }
  openlog ("conntrackerd", LOG_PID, LOG_DAEMON);
  g_log_set_writer_func (syslog_writer, NULL, NULL);
  pid = g_strdup_printf ("%d\n", (int)getpid ());
  if (!g_file_set_contents (d->opts.pidfile, pid, -1, error))
    return FALSE;
  d->pidfile_written = TRUE;
  return TRUE;
}

static int
run (CtDaemon *d)
{
  g_autoptr (GError) error = NULL;
  CtSourceConfig src_config = {
    .rcvbuf_initial
    = d->opts.rcvbuf ? d->opts.rcvbuf : CT_SOURCE_RCVBUF_DEFAULT,
    .rcvbuf_max = d->opts.rcvbuf ? d->opts.rcvbuf : CT_SOURCE_RCVBUF_MAX,
  };
  guint64 watchdog_usec = 0;

  if (d->opts.daemonize && !daemonize (d, &error))
    {
      g_printerr ("conntrackerd: %s\n", error->message);
      return EXIT_FAILURE;
    }
  /* A DumpFlows reader that goes away must fail that call (EPIPE), not
   * kill the daemon. */
  signal (SIGPIPE, SIG_IGN);

  d->store = ct_store_new (d->opts.max_flows, d->opts.fold_ports);
  ct_store_add_listener (d->store, &eviction_logger, d);
  load_state (d);

  /* Our own table switches conntrack on: without a rule that needs it the
   * kernel tracks nothing in this network namespace. */
  d->tracking = ct_tracking_table_new (&error);
  if (d->tracking == NULL)
    {
      g_printerr ("conntrackerd: cannot switch connection tracking on: %s\n",
                  error->message);
      return EXIT_FAILURE;
    }

  d->source = ct_source_new (d->store, &src_config, on_source_ready, d, &error);
  if (d->source == NULL)
    {
      g_printerr ("conntrackerd: %s\n", error->message);
      return EXIT_FAILURE;
    }

  /* -c: flows only. Otherwise the tracer's chains join the owned table. */
  if (!d->opts.no_trace)
    {
      CtTracingConfig tc = { .window_s = d->opts.trace_window,
                             .set_size = d->opts.trace_set_size };

      if (ct_trace_mode_from_string (d->opts.trace_mode, &tc.mode, &error))
        d->tracing = ct_tracing_start (d->store, d->tracking, &tc, &error);
      if (d->tracing == NULL)
        {
          g_printerr ("conntrackerd: cannot start rule tracing: %s\n",
                      error->message);
          return EXIT_FAILURE;
        }
      /* Legacy xtables TRACE is a bonus: nft tracing works without it. */
      d->xt_trace = ct_xt_trace_source_new (d->store, &error);
      if (d->xt_trace == NULL)
        {
          g_warning ("legacy iptables tracing is off: %s", error->message);
          g_clear_error (&error);
        }
    }

  d->loop = g_main_loop_new (NULL, FALSE);
  /* The API: on the bus unless --no-bus, and peer to peer on the socket
   * of conntrackerd.socket and on --listen's. */
  d->service = ct_dbus_service_new (d->store, d->source, on_bus_state, d);
  if (d->tracing != NULL)
    ct_dbus_service_set_tracer (d->service, ct_tracing_get_tracer (d->tracing));
  if (!ct_dbus_service_listen (d->service, d->opts.listen, &error))
    {
      g_printerr ("conntrackerd: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (d->opts.no_bus)
    d->bus_ready = TRUE;
  else
    ct_dbus_service_start (d->service);
  g_unix_signal_add (SIGINT, on_quit, d);
  g_unix_signal_add (SIGTERM, on_quit, d);
  g_unix_signal_add (SIGUSR1, on_sigusr1, d);
  g_timeout_add_seconds (STATUS_INTERVAL_S, on_status_timer, d);
  if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec > 0)
    g_timeout_add (MAX (watchdog_usec / 2000, 1), on_watchdog_timer, d);

  if (!d->opts.daemonize && d->opts.output != NULL)
    g_message ("recording flows; the dump goes to %s on SIGUSR1 and at exit "
               "(Ctrl-C)",
               g_str_equal (d->opts.output, "-") ? "standard output"
                                                 : d->opts.output);
  g_main_loop_run (d->loop);

  /* Give the name up first: a successor or bus activation can take over
   * while we write the dump. */
  if (d->service != NULL)
    ct_dbus_service_stop (d->service);
  save_state (d);
  write_dump (d);
  {
    g_autofree char *counters = describe_counters (d);
    const CtSourceStats *src = ct_source_get_stats (d->source);
    const CtStoreStats *st = ct_store_get_stats (d->store);

    ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_STOPPED,
                  CT_LOG_FIELDS ("CT_EVENTS", CT_LOG_U64 (src->messages),
                                 "CT_OVERRUNS", CT_LOG_U64 (src->overruns),
                                 "CT_RESYNCS", CT_LOG_U64 (src->resyncs),
                                 "CT_EVICTED", CT_LOG_U64 (st->flows_evicted),
                                 "CT_FLOWS",
                                 CT_LOG_U64 (ct_store_get_n_flows (d->store)),
                                 "CT_EXIT_STATUS", CT_LOG_U64 (d->exit_status)),
                  "stopped; counters: %s", counters);
  }
  return d->exit_status;
}

int
main (int argc, char **argv)
{
  CtDaemon d = { 0 };
  g_autoptr (GError) error = NULL;

  if (!ct_daemon_options_parse (&d.opts, argc, argv, &error))
    {
      g_printerr ("conntrackerd: %s\n"
                  "Try 'conntrackerd --help' for more information.\n",
                  error->message);
      ct_daemon_options_clear (&d.opts);
      return 2;
    }
  if (d.opts.version)
    {
      g_print ("conntrackerd %s\n", PACKAGE_VERSION);
      ct_daemon_options_clear (&d.opts);
      return EXIT_SUCCESS;
    }

  d.exit_status = run (&d);

  /* The service runs the main loop a last time to let cancelled calls
   * reply, with every other source (and timer) still valid; the ct source
   * goes right after it, so no event reaches its store listener again. */
  g_clear_pointer (&d.service, ct_dbus_service_free);
  g_clear_pointer (&d.source, ct_source_free);
  g_clear_pointer (&d.xt_trace, ct_xt_trace_source_free); /* restores nf_log */
  g_clear_pointer (&d.tracing, ct_tracing_stop);
  g_clear_pointer (&d.tracking, ct_tracking_table_free);
  g_clear_pointer (&d.store, ct_store_free);
  g_clear_pointer (&d.loop, g_main_loop_unref);
  if (d.pidfile_written)
    unlink (d.opts.pidfile);
  ct_daemon_options_clear (&d.opts);
  return d.exit_status;
}

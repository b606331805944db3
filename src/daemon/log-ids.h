/* log-ids.h — the journal MESSAGE_IDs of conntrackerd's notable events, and
 * ct_log_event() to log one with its fields.
 *
 * GLib's structured logging sends every field to the journal when stderr is
 * the journal (systemd's JOURNAL_STREAM), so `journalctl MESSAGE_ID=…` or
 * `journalctl -u conntrackerd CT_DECISION=denied` finds these lines. On a
 * terminal, under -d (syslog) or in a file only MESSAGE is written: the
 * text must make sense on its own. The ids never change meaning; a new
 * kind of event gets a new id (`systemd-id128 new`).
 *
 * Fields of our own start with CT_; numbers are decimal. */
#pragma once

#include <glib.h>

/* The daemon is up: the initial dump is in and the API (bus name and/or
 * peer socket) answers; sent with READY=1. CT_FLOWS, CT_CONNS (live
 * conntrack entries), CT_VERSION. */
#define CT_LOG_ID_STARTED "675408041b2a4d77bb57a5289426e8b4"

/* The daemon stopped (SIGTERM, SIGINT or a fatal bus error): the final
 * counters. CT_EVENTS, CT_OVERRUNS, CT_RESYNCS, CT_EVICTED, CT_FLOWS,
 * CT_EXIT_STATUS. */
#define CT_LOG_ID_STOPPED "33dec602f7994a7f8a7fc3550ffd40e9"

/* The kernel dropped conntrack events (ENOBUFS on the event socket); a
 * resync follows. At most one line per 10 s. CT_OVERRUNS (in all),
 * CT_OVERRUNS_SINCE_REPORT, CT_RCVBUF (bytes, as the kernel reports it). */
#define CT_LOG_ID_OVERRUN "b7b199e635814293a4b925259e9030ce"

/* A resync (a full dump after an overrun) was applied: no flow is
 * missing any more. At most one line per 10 s. CT_RESYNCS (in all),
 * CT_RESYNCS_SINCE_REPORT, CT_CONNS, CT_CONNS_RECONCILED (entries found
 * gone: their DESTROY was among the lost events). */
#define CT_LOG_ID_RESYNC "bd2977a648624ef4b747f02b791def19"

/* The store was full and dropped its least recently seen flows. At most
 * one line per 10 s. CT_EVICTED (in all), CT_EVICTED_SINCE_REPORT,
 * CT_MAX_FLOWS. */
#define CT_LOG_ID_EVICTED "f44cf26d2b104f6eb87c6ca79355c428"

/* A D-Bus caller was allowed or denied an action. Privileged actions
 * (org.conntracker.reset, org.conntracker.trace) at notice level, reading
 * at debug level. CT_POLKIT_ACTION, CT_METHOD, CT_DECISION ("allowed" or
 * "denied"), CT_REASON, CT_CALLER (a bus name, or "peer"), CT_CALLER_UID
 * and CT_CALLER_PID when known, CT_TRANSPORT ("bus" or "peer"). */
#define CT_LOG_ID_AUTHORIZATION "14b52a404aa14994a0646c8b29bd89c1"

/* Reset emptied the store. CT_FLOWS (flows forgotten), CT_CALLER,
 * CT_CALLER_UID. */
#define CT_LOG_ID_STORE_RESET "b5db4a6edd81499ebdb37b6080697928"

/* Trace control changed what is traced: SetTraceMode, TraceFilter or
 * StopTraceFilter succeeded. CT_METHOD, CT_CALLER, and CT_TRACE_MODE (the
 * new mode), or CT_TRACE_FILTER (its text, for TraceFilter),
 * CT_TRACE_SECONDS and CT_TRACE_FILTER_ID. */
#define CT_LOG_ID_TRACE_CHANGED "73d429dc71504a3eb6fafe50887b8c73"

/* At most this many CT_ fields per line. */
#define CT_LOG_MAX_FIELDS 12

/* Extra fields for ct_log_event: key, value, key, value… (strings). */
#define CT_LOG_FIELDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A number as a field value; the string lives until the end of the
 * enclosing block (a compound literal), long enough for one log call. */
#define CT_LOG_U64(v) ct_log_format_u64 ((char[24]){ 0 }, (guint64)(v))

/* Logs MESSAGE (printf-style), PRIORITY, GLIB_DOMAIN, MESSAGE_ID, the code
 * location and fields (CT_LOG_FIELDS (…) or NULL) through GLib's writer:
 *
 *   ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_STARTED,
 *                 CT_LOG_FIELDS ("CT_FLOWS", CT_LOG_U64 (n)),
 *                 "tracking %u flows", n);
 */
#define ct_log_event(level, message_id, fields, ...)                           \
  ct_log_event_at (__FILE__, G_STRINGIFY (__LINE__), G_STRFUNC, (level),       \
                   (message_id), (fields), __VA_ARGS__)

static inline const char *
ct_log_format_u64 (char *buf, guint64 v)
{
  g_snprintf (buf, 24, "%" G_GUINT64_FORMAT, v);
  return buf;
}

/* GLib's mapping of levels to syslog priorities (g_log_structured). */
static inline const char *
ct_log_priority (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "3";
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return "4";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "5";
  if (level & G_LOG_LEVEL_INFO)
    return "6";
  return "7";
}

static inline void
ct_log_event_at (const char *file, const char *line, const char *func,
                 GLogLevelFlags level, const char *message_id,
                 const char *const *fields, const char *format, ...)
    G_GNUC_PRINTF (7, 8);

static inline void
ct_log_event_at (const char *file, const char *line, const char *func,
                 GLogLevelFlags level, const char *message_id,
                 const char *const *fields, const char *format, ...)
{
  GLogField f[7 + CT_LOG_MAX_FIELDS];
  const char *domain = G_LOG_DOMAIN;
  gsize n = 0;
  char *message;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  f[n++] = (GLogField){ "MESSAGE", message, -1 };
  f[n++] = (GLogField){ "PRIORITY", ct_log_priority (level), -1 };
  if (domain != NULL)
    f[n++] = (GLogField){ "GLIB_DOMAIN", domain, -1 };
  f[n++] = (GLogField){ "MESSAGE_ID", message_id, -1 };
  f[n++] = (GLogField){ "CODE_FILE", file, -1 };
  f[n++] = (GLogField){ "CODE_LINE", line, -1 };
  f[n++] = (GLogField){ "CODE_FUNC", func, -1 };
  for (gsize i = 0; fields != NULL && fields[i] != NULL && fields[i + 1] != NULL
                    && n < G_N_ELEMENTS (f);
       i += 2)
    f[n++] = (GLogField){ fields[i], fields[i + 1], -1 };
  g_log_structured_array (level, f, n);
  g_free (message);
}

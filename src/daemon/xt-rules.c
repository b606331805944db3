/* xt-rules.c — runs the legacy save tools with GSubprocess and reads their
 * output with g_subprocess_communicate_async: the main loop never waits for
 * a child. The tool is run without -t: it then prints only the tables that
 * exist (from /proc/net/ip_tables_names), whereas `-t raw` would create
 * the raw table in this namespace if it did not exist. */
#include "xt-rules.h"

#include <errno.h>
#include <gio/gio.h>
/* netinet/in.h first: the uapi headers then skip their own copies. */
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIN_INTERVAL_US (250 * G_TIME_SPAN_MILLISECOND)
#define RUN_TIMEOUT_S   10
#define BACKOFF_US      (30 * G_USEC_PER_SEC)

typedef struct _Run Run;

typedef struct
{
  CtXtRules *owner;
  guint8 family;
  const char *tool_name;
  char *tool; /* full path, NULL when not installed */

  CtXtRuleset *ruleset;
  gint64 taken;

  Run *run; /* in flight, or NULL */
  guint delay_id;
  gint64 last_start;
  gint64 failed_at; /* 0 when the last run succeeded */
  char *last_error; /* to warn once per distinct failure */
  int info_fd;      /* for IPT_SO_GET_INFO; -1 none yet, -2 unusable */
} Snap;

struct _Run
{
  Snap *snap; /* NULL once the owner is gone */
  GSubprocess *proc;
  GCancellable *cancel;
  gint64 started;
  guint timeout_id;
};

struct _CtXtRules
{
  Snap snaps[2];
  CtXtRulesFunc done;
  gpointer done_data;
  guint64 runs;
  guint64 failures;
};

static void start_run (Snap *snap);

static Snap *
snap_of (CtXtRules *rules, guint8 family)
{
  return &rules->snaps[family == AF_INET6 ? 1 : 0];
}

static char *
find_tool (const char *name)
{
  static const char *const dirs[] = { "/usr/sbin", "/sbin" };
  char *path = g_find_program_in_path (name);

  for (guint i = 0; path == NULL && i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *p = g_build_filename (dirs[i], name, NULL);

      if (g_file_test (p, G_FILE_TEST_IS_EXECUTABLE))
        path = g_steal_pointer (&p);
    }
  return path;
}

CtXtRules *
ct_xt_rules_new (CtXtRulesFunc done, gpointer user_data)
{
  CtXtRules *rules = g_new0 (CtXtRules, 1);

  rules->done = done;
  rules->done_data = user_data;
  for (guint i = 0; i < 2; i++)
    {
      Snap *s = &rules->snaps[i];

      s->owner = rules;
      s->family = i == 0 ? AF_INET : AF_INET6;
      s->tool_name = i == 0 ? "iptables-legacy-save" : "ip6tables-legacy-save";
      s->tool = find_tool (s->tool_name);
      s->info_fd = -1;
    }
  return rules;
}

static void
run_free (Run *run)
{
  g_clear_handle_id (&run->timeout_id, g_source_remove);
  g_clear_object (&run->proc);
  g_clear_object (&run->cancel);
  g_free (run);
}

void
ct_xt_rules_free (CtXtRules *rules)
{
  if (rules == NULL)
    return;
  for (guint i = 0; i < 2; i++)
    {
      Snap *s = &rules->snaps[i];

      g_clear_handle_id (&s->delay_id, g_source_remove);
      if (s->run != NULL)
        {
          /* The read finishes (cancelled) later and frees the run. */
          g_clear_handle_id (&s->run->timeout_id, g_source_remove);
          s->run->snap = NULL;
          g_cancellable_cancel (s->run->cancel);
          g_subprocess_force_exit (s->run->proc);
        }
      g_clear_pointer (&s->ruleset, ct_xt_ruleset_free);
      if (s->info_fd >= 0)
        close (s->info_fd);
      g_free (s->tool);
      g_free (s->last_error);
    }
  g_free (rules);
}

const CtXtRuleset *
ct_xt_rules_get (CtXtRules *rules, guint8 family, gint64 *taken)
{
  Snap *s = snap_of (rules, family);

  if (taken != NULL)
    *taken = s->taken;
  return s->ruleset;
}

gboolean
ct_xt_rules_is_failing (CtXtRules *rules, guint8 family)
{
  Snap *s = snap_of (rules, family);

  return s->failed_at != 0
         && g_get_monotonic_time () - s->failed_at < BACKOFF_US;
}

void
ct_xt_rules_get_counts (CtXtRules *rules, guint64 *runs, guint64 *failures)
{
  *runs = rules->runs;
  *failures = rules->failures;
}

static void
finish (Snap *snap, CtXtRuleset *ruleset, gint64 started, const char *error)
{
  CtXtRules *rules = snap->owner;

  if (ruleset != NULL)
    {
      g_clear_pointer (&snap->ruleset, ct_xt_ruleset_free);
      snap->ruleset = ruleset;
      snap->taken = started;
      snap->failed_at = 0;
      g_clear_pointer (&snap->last_error, g_free);
    }
  else
    {
      rules->failures++;
      snap->failed_at = g_get_monotonic_time ();
      if (g_strcmp0 (snap->last_error, error) != 0)
        g_warning ("cannot read the legacy %s rules (%s): %s; until it "
                   "works, legacy trace hits are recorded without rule text "
                   "or verdict (so a dropped first packet does not show as a "
                   "denied flow)",
                   snap->family == AF_INET6 ? "ip6tables" : "iptables",
                   snap->tool_name, error);
      g_free (snap->last_error);
      snap->last_error = g_strdup (error);
    }
  /* The caller asks again for what this snapshot did not answer. */
  rules->done (snap->family, rules->done_data);
}

static void
on_communicated (GObject *object, GAsyncResult *result, gpointer data)
{
  Run *run = data;
  Snap *snap = run->snap;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (CtXtRuleset) ruleset = NULL;
  g_autofree char *why = NULL;

  g_subprocess_communicate_finish (G_SUBPROCESS (object), result, &out, &err,
                                   &error);
  if (snap == NULL)
    {
      run_free (run);
      return;
    }
  snap->run = NULL;

  if (error != NULL)
    why = g_strdup (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                        ? "no output within 10 s"
                        : error->message);
  else if (!g_subprocess_get_if_exited (run->proc)
           || g_subprocess_get_exit_status (run->proc) != 0)
    {
      gsize len = 0;
      const char *text = err != NULL ? g_bytes_get_data (err, &len) : NULL;
      g_autofree char *first = g_strndup (text != NULL ? text : "", len);

      g_strdelimit (first, "\n", '\0');
      why = g_strdup_printf (
          "%s %s%s%s",
          g_subprocess_get_if_exited (run->proc) ? "failed" : "was killed",
          first[0] != '\0' ? "(" : "", first, first[0] != '\0' ? ")" : "");
    }
  else
    {
      gsize len;
      const char *text = g_bytes_get_data (out, &len);

      ruleset = ct_xt_ruleset_parse (text != NULL ? text : "", len, &error);
      if (ruleset == NULL)
        why = g_strdup (error->message);
    }
  finish (snap, g_steal_pointer (&ruleset), run->started, why);
  run_free (run);
}

static gboolean
on_run_timeout (gpointer data)
{
  Run *run = data;

  run->timeout_id = 0;
  g_cancellable_cancel (run->cancel);
  g_subprocess_force_exit (run->proc);
  return G_SOURCE_REMOVE;
}

static gboolean
on_delay (gpointer data)
{
  Snap *snap = data;

  snap->delay_id = 0;
  start_run (snap);
  return G_SOURCE_REMOVE;
}

gboolean
ct_xt_rules_tables_exist (guint8 family)
{
  g_autofree char *names = NULL;

  /* Absent: ip(6)_tables is not loaded, so there are no legacy rules. */
  if (!g_file_get_contents (family == AF_INET6
                                ? "/proc/self/net/ip6_tables_names"
                                : "/proc/self/net/ip_tables_names",
                            &names, NULL, NULL))
    return FALSE;
  g_strstrip (names);
  return names[0] != '\0';
}

static void
start_run (Snap *snap)
{
  g_autoptr (GError) error = NULL;
  const char *argv[] = { snap->tool, NULL };
  Run *run;

  snap->last_start = g_get_monotonic_time ();
  snap->owner->runs++;
  if (!ct_xt_rules_tables_exist (snap->family))
    {
      /* Nothing to print, and the tool would load ip_tables to say so. */
      finish (snap, ct_xt_ruleset_parse ("", 0, NULL), snap->last_start, NULL);
      return;
    }
  if (snap->tool == NULL)
    {
      g_autofree char *why
          = g_strdup_printf ("%s is not installed", snap->tool_name);

      finish (snap, NULL, snap->last_start, why);
      return;
    }

  run = g_new0 (Run, 1);
  run->started = snap->last_start;
  run->cancel = g_cancellable_new ();
  /* stdin is /dev/null when not asked for. */
  run->proc = g_subprocess_newv (
      argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
      &error);
  if (run->proc == NULL)
    {
      run_free (run);
      finish (snap, NULL, snap->last_start, error->message);
      return;
    }
  run->snap = snap;
  snap->run = run;
  run->timeout_id = g_timeout_add_seconds (RUN_TIMEOUT_S, on_run_timeout, run);
  /* Bytes, not UTF-8: a comment may hold any bytes, and the parser makes
   * rule texts valid. */
  g_subprocess_communicate_async (run->proc, NULL, run->cancel, on_communicated,
                                  run);
}

void
ct_xt_rules_request (CtXtRules *rules, guint8 family)
{
  Snap *s = snap_of (rules, family);
  gint64 wait;

  if (ct_xt_rules_is_failing (rules, family))
    return;
  /* A run in flight ends in `done`, where the caller asks again if it
   * needs a newer snapshot; a scheduled one starts after now. */
  if (s->run != NULL || s->delay_id != 0)
    return;
  /* Always from the loop, never on the caller's stack: `done` may run
   * before the process does (no tables, no tool), and the caller is then
   * in the middle of its own work. */
  wait = s->last_start == 0
             ? 0
             : s->last_start + MIN_INTERVAL_US - g_get_monotonic_time ();
  if (wait > 0)
    s->delay_id = g_timeout_add ((guint)(wait / 1000) + 1, on_delay, s);
  else
    s->delay_id = g_idle_add (on_delay, s);
}

CtXtTableCheck
ct_xt_rules_check_table (CtXtRules *rules, guint8 family, const char *table,
                         guint entries)
{
  Snap *s = snap_of (rules, family);
  /* ip6t_getinfo has the same layout. */
  struct ipt_getinfo info;
  socklen_t len = sizeof info;
  int r;

  if (s->info_fd == -2 || entries == 0)
    return CT_XT_TABLE_UNKNOWN;
  if (s->info_fd == -1)
    {
      s->info_fd = socket (family == AF_INET6 ? AF_INET6 : AF_INET,
                           SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s->info_fd < 0)
        {
          g_debug ("cannot check legacy tables for changes: %s",
                   g_strerror (errno));
          s->info_fd = -2;
          return CT_XT_TABLE_UNKNOWN;
        }
    }
  memset (&info, 0, sizeof info);
  g_strlcpy (info.name, table, sizeof info.name);
  if (family == AF_INET6)
    r = getsockopt (s->info_fd, IPPROTO_IPV6, IP6T_SO_GET_INFO, &info, &len);
  else
    r = getsockopt (s->info_fd, IPPROTO_IP, IPT_SO_GET_INFO, &info, &len);
  if (r < 0)
    {
      /* ENOENT: the table went away; EPERM and the like will not change. */
      if (errno == ENOENT)
        return CT_XT_TABLE_CHANGED;
      g_debug ("cannot check legacy tables for changes: %s",
               g_strerror (errno));
      close (s->info_fd);
      s->info_fd = -2;
      return CT_XT_TABLE_UNKNOWN;
    }
  return info.num_entries == entries ? CT_XT_TABLE_SAME : CT_XT_TABLE_CHANGED;
}

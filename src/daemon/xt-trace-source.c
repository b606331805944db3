/* xt-trace-source.c — nfnetlink_log I/O for legacy TRACE. A line is handed
 * to the store with its rule text and verdict once a rules snapshot holds
 * its (table, chain, type, position) and is no older than 5 s with the
 * kernel's entry count of that table unchanged; until then it waits (in
 * arrival order, bounded) for a snapshot started after it arrived. The
 * verdict decides whether a first packet's flow becomes a denied flow, so
 * lines are not applied first and resolved later. */
#include "xt-trace-source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "nf-log.h"
#include "nlmsg-walk.h"
#include "xt-rules.h"
#include "xt-trace-parse.h"

#define POLL_INTERVAL_S 2
#define MAX_AGE_US      (5 * G_USEC_PER_SEC)
#define MAX_WAITING     4096
/* IPv6 (40) + extension headers + TCP (60), or ICMPv6 (8) + the quoted
 * IPv6 packet with its headers: enough for every tuple packet-parse finds. */
#define COPY_RANGE        256
#define RCVBUF            (4u << 20)
#define RCVBUF_MAX        (32u << 20)
#define BUF_SIZE          65536
#define READS_PER_WAKEUP  64
#define CONFIG_TIMEOUT_MS 2000
#define LOG_INTERVAL_US   (10 * G_USEC_PER_SEC)
#define NFNETLINK_LOG     "nfnetlink_log"

typedef struct
{
  guint8 family; /* AF_INET, AF_INET6 */
  guint pf;      /* the same numbers as NFPROTO_IPV4/IPV6 */
  const char *label;
  gboolean bound;   /* nfnetlink_log is this family's logger for us */
  gboolean restore; /* we bound it: put `previous` back */
  gboolean yielded; /* someone rebound it under us: do not fight */
  char previous[CT_NF_LOG_NAME_LEN];
  GQueue waiting; /* Waiting*, oldest first */
} Family;

typedef struct
{
  gint64 mono; /* arrival, g_get_monotonic_time */
  gint64 real; /* arrival, g_get_real_time: the hit's time */
  CtXtTrace line;
} Waiting;

struct _CtXtTraceSource
{
  CtStore *store;
  CtXtRules *rules;
  CtXtTraceStats stats;

  struct mnl_socket *nl;
  guint watch;
  guint poll_id;
  guint first_id;
  guint32 config_seq;
  gboolean enabled;
  gboolean instance; /* group 0 is ours */
  gboolean busy_told;
  gboolean other_told;
  gboolean have_seq;
  guint32 next_seq;
  Family families[2];
  guint n_waiting;
  guint rcvbuf; /* bytes asked for */
  gint64 last_overrun_log;
  gint64 last_ignore_log;
  guint64 ignored_at_last_log;
  guint8 *buf;
};

typedef enum
{
  DONE,
  WAIT,
} Outcome;

static void handle_buffer (CtXtTraceSource *self, const void *buf, int len,
                           guint32 seq, int *ack);
static void on_overrun (CtXtTraceSource *self);

static Family *
family_of (CtXtTraceSource *self, guint8 family)
{
  return &self->families[family == AF_INET6 ? 1 : 0];
}

/* --- configuration requests ---------------------------------------------- */

/* Sends one NFULNL_MSG_CONFIG and waits for its acknowledgement. The kernel
 * answers while processing the send, so the wait is short; packets read
 * meanwhile are handled as usual. Returns 0 or a positive errno. */
static int
config (CtXtTraceSource *self, guint8 pf, guint8 command, gboolean mode,
        gboolean flags)
{
  char req[512];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (req);
  struct nfgenmsg *nfg;
  gint64 deadline
      = g_get_monotonic_time () + CONFIG_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  int fd = mnl_socket_get_fd (self->nl);
  int ack = -1;

  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++self->config_seq;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof *nfg);
  nfg->nfgen_family = pf;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons (0); /* group 0: where TRACE lines go */
  if (command != 0)
    {
      struct nfulnl_msg_config_cmd cmd = { .command = command };

      mnl_attr_put (nlh, NFULA_CFG_CMD, sizeof cmd, &cmd);
    }
  if (mode)
    {
      struct nfulnl_msg_config_mode m = {
        .copy_range = htonl (COPY_RANGE),
        .copy_mode = NFULNL_COPY_PACKET,
      };

      mnl_attr_put (nlh, NFULA_CFG_MODE, sizeof m, &m);
    }
  if (flags)
    mnl_attr_put_u16 (nlh, NFULA_CFG_FLAGS, htons (NFULNL_CFG_F_SEQ));

  if (mnl_socket_sendto (self->nl, nlh, nlh->nlmsg_len) < 0)
    return errno;
  while (ack < 0)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      gint64 left = deadline - g_get_monotonic_time ();
      struct sockaddr_nl from;
      socklen_t from_len = sizeof from;
      ssize_t n;

      if (left <= 0)
        return ETIMEDOUT;
      if (poll (&p, 1, (int)(left / 1000) + 1) < 0 && errno != EINTR)
        return errno;
      n = recvfrom (fd, self->buf, BUF_SIZE, MSG_DONTWAIT,
                    (struct sockaddr *)&from, &from_len);
      if (n < 0)
        {
          if (errno == ENOBUFS)
            on_overrun (self);
          else if (errno != EAGAIN && errno != EINTR)
            return errno;
          continue;
        }
      if (from.nl_pid != 0)
        continue;
      handle_buffer (self, self->buf, (int)n, nlh->nlmsg_seq, &ack);
    }
  return ack;
}

static gboolean
bind_instance (CtXtTraceSource *self)
{
  int err = config (self, AF_UNSPEC, NFULNL_CFG_CMD_BIND, FALSE, FALSE);

  if (err != 0)
    {
      if (!self->busy_told)
        g_warning ("legacy iptables tracing is off: cannot receive NFLOG "
                   "group 0: %s%s",
                   g_strerror (err),
                   err == EBUSY ? " (another program, ulogd perhaps, "
                                  "listens on it)"
                                : "");
      self->busy_told = TRUE;
      return FALSE;
    }
  err = config (self, AF_UNSPEC, 0, TRUE, TRUE);
  if (err != 0)
    {
      g_warning ("legacy iptables tracing is off: cannot configure NFLOG "
                 "group 0: %s",
                 g_strerror (err));
      config (self, AF_UNSPEC, NFULNL_CFG_CMD_UNBIND, FALSE, FALSE);
      return FALSE;
    }
  self->busy_told = FALSE;
  self->other_told = FALSE;
  self->instance = TRUE;
  self->have_seq = FALSE; /* a new instance counts from 0 */
  return TRUE;
}

static void
unbind_instance (CtXtTraceSource *self)
{
  int err = config (self, AF_UNSPEC, NFULNL_CFG_CMD_UNBIND, FALSE, FALSE);

  if (err != 0)
    g_warning ("cannot release NFLOG group 0: %s", g_strerror (err));
  self->instance = FALSE;
}

/* --- nf_log bindings --------------------------------------------------- */

static void
bind_family (CtXtTraceSource *self, Family *f)
{
  g_autoptr (GError) error = NULL;
  char previous[CT_NF_LOG_NAME_LEN];
  int err;

  if (!self->instance && !bind_instance (self))
    return;
  /* Without knowing what to put back, do not take it over. */
  if (!ct_nf_log_get_binding (f->pf, previous, sizeof previous, &error))
    {
      g_warning ("legacy %s tracing is off: %s", f->label, error->message);
      f->yielded = TRUE;
      return;
    }
  if (g_str_equal (previous, NFNETLINK_LOG))
    {
      /* Someone bound it (or a predecessor of ours was killed): leave it
       * so on stop as well. */
      g_message ("legacy %s tracing: nfnetlink_log already is the %s "
                 "logger; it stays so when conntrackerd stops",
                 f->label, f->label);
      f->bound = TRUE;
      f->restore = FALSE;
    }
  else if ((err = config (self, f->pf, NFULNL_CFG_CMD_PF_BIND, FALSE, FALSE))
           != 0)
    {
      g_warning ("legacy %s tracing is off: cannot bind nfnetlink_log as the "
                 "%s logger: %s",
                 f->label, f->label, g_strerror (err));
      f->yielded = TRUE;
      return;
    }
  else
    {
      g_strlcpy (f->previous, previous, sizeof f->previous);
      f->bound = TRUE;
      f->restore = TRUE;
      g_message ("legacy %s tracing: nfnetlink_log is the %s logger while "
                 "conntrackerd runs (was %s); kernel messages logged without "
                 "a logger of their own (TRACE, nf_conntrack_log_invalid) "
                 "come to conntrackerd meanwhile",
                 f->label, f->label, previous);
    }
  /* Have rules at hand before the first line. */
  ct_xt_rules_request (self->rules, f->family);
}

static void
unbind_family (CtXtTraceSource *self, Family *f)
{
  g_autoptr (GError) error = NULL;
  char now[CT_NF_LOG_NAME_LEN];
  int err;

  if (f->restore)
    {
      if (!ct_nf_log_get_binding (f->pf, now, sizeof now, &error))
        g_warning ("cannot restore the %s logger (%s): %s", f->label,
                   f->previous, error->message);
      else if (!g_str_equal (now, NFNETLINK_LOG))
        ; /* someone else changed it since: theirs */
      else if ((err
                = config (self, f->pf, NFULNL_CFG_CMD_PF_UNBIND, FALSE, FALSE))
               != 0)
        g_warning ("cannot unbind nfnetlink_log as the %s logger: %s", f->label,
                   g_strerror (err));
      else if (!g_str_equal (f->previous, CT_NF_LOG_NONE)
               && !ct_nf_log_set_binding (f->pf, f->previous, &error))
        g_warning ("cannot restore %s as the %s logger (left unbound): %s",
                   f->previous, f->label, error->message);
    }
  f->bound = FALSE;
  f->restore = FALSE;
}

/* Someone wrote the sysctl while we were bound: their choice wins. */
static void
check_still_bound (Family *f)
{
  char now[CT_NF_LOG_NAME_LEN];

  if (!f->restore || !ct_nf_log_get_binding (f->pf, now, sizeof now, NULL)
      || g_str_equal (now, NFNETLINK_LOG))
    return;
  g_warning ("the %s logger was changed to %s behind conntrackerd's back: "
             "legacy %s tracing stops (it will not bind again until tracing "
             "is switched off and on)",
             f->label, now, f->label);
  f->bound = FALSE;
  f->restore = FALSE;
  f->yielded = TRUE;
}

static void
update_bindings (CtXtTraceSource *self)
{
  gboolean any = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (self->families); i++)
    {
      Family *f = &self->families[i];
      gboolean wanted = self->enabled && !f->yielded
                        && ct_xt_rules_tables_exist (f->family);

      if (wanted && !f->bound)
        bind_family (self, f);
      else if (!wanted && f->bound)
        unbind_family (self, f);
      else if (f->bound)
        check_still_bound (f);
      any |= f->bound;
    }
  /* Hold group 0 only while it is of use: ulogd may want it otherwise. */
  if (!any && self->instance)
    unbind_instance (self);
  self->stats.bound_ipv4 = self->families[0].bound;
  self->stats.bound_ipv6 = self->families[1].bound;
}

static gboolean
on_poll (gpointer data)
{
  update_bindings (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_first_poll (gpointer data)
{
  CtXtTraceSource *self = data;

  self->first_id = 0;
  update_bindings (self);
  return G_SOURCE_REMOVE;
}

/* --- lines ----------------------------------------------------------------- */

static void
log_ignored (CtXtTraceSource *self, const CtXtTrace *line, const char *why)
{
  gint64 now = g_get_monotonic_time ();
  guint64 ignored = self->stats.mismatched + self->stats.suspect;

  if (self->last_ignore_log != 0
      && now - self->last_ignore_log < LOG_INTERVAL_US)
    return;
  g_message ("ignored %" G_GUINT64_FORMAT " legacy TRACE line(s) since the "
             "last report, e.g. \"%s:%s:%s:%u\": %s",
             ignored - self->ignored_at_last_log, line->table, line->chain,
             ct_hit_type_to_string (line->type), line->position, why);
  self->last_ignore_log = now;
  self->ignored_at_last_log = ignored;
}

static void
apply (CtXtTraceSource *self, const Waiting *w, const CtXtRuleInfo *info)
{
  g_autofree char *table = NULL;
  g_autofree char *chain = NULL;
  CtTraceEvent ev = { 0 };

  ev.tuple = w->line.tuple;
  ev.has_tuple = w->line.has_tuple;
  /* Names come from the kernel as bytes; D-Bus wants UTF-8. */
  ev.table = g_utf8_validate (w->line.table, -1, NULL)
                 ? w->line.table
                 : (table = g_utf8_make_valid (w->line.table, -1));
  ev.chain = g_utf8_validate (w->line.chain, -1, NULL)
                 ? w->line.chain
                 : (chain = g_utf8_make_valid (w->line.chain, -1));
  ev.type = w->line.type;
  ev.position = w->line.position;
  ev.verdict = info != NULL ? info->verdict : CT_VERDICT_NONE;
  ev.rule = info != NULL ? info->rule : NULL;
  if (info == NULL)
    self->stats.unresolved++;
  self->stats.applied++;
  ct_store_apply_trace (self->store, &ev, w->real);
}

/* Applies, ignores, or says the line must wait for a newer snapshot. */
static Outcome
resolve (CtXtTraceSource *self, const Waiting *w)
{
  gint64 taken;
  const CtXtRuleset *rs = ct_xt_rules_get (self->rules, w->line.family, &taken);
  CtXtRuleInfo info;

  if (rs != NULL)
    {
      CtXtFit fit = ct_xt_ruleset_resolve (rs, &w->line, &info);
      gboolean after = taken >= w->mono;
      /* Recent, and no rule added or deleted since, as far as the kernel's
       * entry count tells. */
      gboolean fresh
          = after
            || (taken >= w->mono - MAX_AGE_US
                && ct_xt_rules_check_table (
                       self->rules, w->line.family, w->line.table,
                       ct_xt_ruleset_count_entries (rs, w->line.table))
                       != CT_XT_TABLE_CHANGED);

      if (fit == CT_XT_FIT_OK && fresh)
        {
          apply (self, w, &info);
          return DONE;
        }
      if ((fit == CT_XT_FIT_FORGED || fit == CT_XT_FIT_WRONG_HOOK) && fresh)
        {
          g_autofree char *why
              = fit == CT_XT_FIT_FORGED
                    ? g_strdup_printf ("the rule `%s` writes the same prefix",
                                       info.forger)
                    : g_strdup_printf ("that chain never runs at hook %u",
                                       w->line.hook);

          self->stats.suspect++;
          log_ignored (self, &w->line, why);
          return DONE;
        }
      if (after)
        {
          self->stats.mismatched++;
          log_ignored (self, &w->line,
                       "no such rule in the rules read after it arrived");
          return DONE;
        }
    }
  if (ct_xt_rules_is_failing (self->rules, w->line.family))
    {
      apply (self, w, NULL);
      return DONE;
    }
  ct_xt_rules_request (self->rules, w->line.family);
  return WAIT;
}

static void
drain_waiting (CtXtTraceSource *self, Family *f)
{
  Waiting *w;

  while ((w = g_queue_peek_head (&f->waiting)) != NULL)
    {
      if (resolve (self, w) == WAIT)
        return;
      g_free (g_queue_pop_head (&f->waiting));
      self->n_waiting--;
    }
}

static void
on_rules (guint8 family, gpointer data)
{
  CtXtTraceSource *self = data;
  guint64 runs, failures;

  ct_xt_rules_get_counts (self->rules, &runs, &failures);
  self->stats.snapshots = runs;
  self->stats.snapshot_failures = failures;
  drain_waiting (self, family_of (self, family));
}

static void
handle_line (CtXtTraceSource *self, const CtXtTrace *line, gint64 mono,
             gint64 real)
{
  Family *f = family_of (self, line->family);
  Waiting w = { .mono = mono, .real = real, .line = *line };

  self->stats.lines++;
  /* Behind older lines, or resolved now. */
  if (g_queue_is_empty (&f->waiting) && resolve (self, &w) == DONE)
    return;
  if (self->n_waiting >= MAX_WAITING)
    {
      self->stats.queue_full++;
      return;
    }
  g_queue_push_tail (&f->waiting, g_memdup2 (&w, sizeof w));
  self->n_waiting++;
}

/* NFULA_SEQ and NFULA_PREFIX of any packet message, TRACE or not. */
static void
packet_attrs (const struct nlmsghdr *nlh, gboolean *has_seq, guint32 *seq,
              const char **prefix, gsize *prefix_len)
{
  const struct nlattr *a;

  *has_seq = FALSE;
  *prefix = NULL;
  /* The walk stops at the first attribute that does not fit. */
  mnl_attr_for_each (a, nlh, sizeof (struct nfgenmsg))
  {
    if (mnl_attr_get_type (a) == NFULA_SEQ
        && mnl_attr_get_payload_len (a) >= sizeof (guint32))
      {
        guint32 v;

        memcpy (&v, mnl_attr_get_payload (a), sizeof v);
        *seq = ntohl (v);
        *has_seq = TRUE;
      }
    else if (mnl_attr_get_type (a) == NFULA_PREFIX)
      {
        *prefix = mnl_attr_get_payload (a);
        *prefix_len = strnlen (*prefix, mnl_attr_get_payload_len (a));
      }
  }
}

static void
handle_packet (CtXtTraceSource *self, const struct nlmsghdr *nlh, gint64 mono,
               gint64 real)
{
  CtXtTrace line;
  gboolean has_seq;
  guint32 seq = 0;
  const char *prefix;
  gsize prefix_len = 0;

  if (nlh->nlmsg_len < mnl_nlmsg_size (sizeof (struct nfgenmsg)))
    {
      self->stats.invalid++;
      return;
    }
  packet_attrs (nlh, &has_seq, &seq, &prefix, &prefix_len);
  if (has_seq)
    {
      /* Per-instance numbers: any gap is messages the kernel dropped. */
      guint32 gap = seq - self->next_seq;

      if (self->have_seq && gap != 0 && gap < G_MAXINT32)
        self->stats.lost += gap;
      self->have_seq = TRUE;
      self->next_seq = seq + 1;
    }

  switch (ct_xt_trace_parse (nlh, &line))
    {
    case CT_PARSE_OK:
      handle_line (self, &line, mono, real);
      break;
    case CT_PARSE_INVALID:
      self->stats.invalid++;
      break;
    case CT_PARSE_IGNORED:
    default:
      self->stats.other++;
      if (!self->other_told)
        {
          g_autofree char *text = g_utf8_make_valid (
              prefix != NULL ? prefix : "", (gssize)prefix_len);

          g_message ("NFLOG group 0 also carries messages that are not "
                     "TRACE lines (the first: \"%s\"); they are counted and "
                     "dropped while conntrackerd holds group 0",
                     text);
          self->other_told = TRUE;
        }
      break;
    }
}

/* Handles every message of a datagram; *ack gets the errno (0 for success)
 * of an acknowledgement numbered `seq`, when one is there. */
static void
handle_buffer (CtXtTraceSource *self, const void *buf, int len, guint32 seq,
               int *ack)
{
  const struct nlmsghdr *nlh = buf;
  gint64 mono = g_get_monotonic_time ();
  gint64 real = g_get_real_time ();

  while (ct_nlmsg_ok (nlh, len))
    {
      if (nlh->nlmsg_type == NLMSG_ERROR)
        {
          const struct nlmsgerr *err = mnl_nlmsg_get_payload (nlh);

          if (ack != NULL && nlh->nlmsg_seq == seq
              && nlh->nlmsg_len >= mnl_nlmsg_size (sizeof *err))
            *ack = -err->error;
        }
      else if (NFNL_SUBSYS_ID (nlh->nlmsg_type) == NFNL_SUBSYS_ULOG
               && NFNL_MSG_TYPE (nlh->nlmsg_type) == NFULNL_MSG_PACKET)
        handle_packet (self, nlh, mono, real);
      nlh = mnl_nlmsg_next (nlh, &len);
    }
}

static void
set_rcvbuf (CtXtTraceSource *self, guint bytes)
{
  int fd = mnl_socket_get_fd (self->nl);
  int val = (int)bytes;

  self->rcvbuf = bytes;
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof val) < 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof val);
}

/* The kernel dropped lines: the next line's NFULA_SEQ says how many. */
static void
on_overrun (CtXtTraceSource *self)
{
  gint64 now = g_get_monotonic_time ();

  self->stats.overruns++;
  if (self->rcvbuf < RCVBUF_MAX)
    set_rcvbuf (self, MIN (self->rcvbuf * 2, RCVBUF_MAX));
  if (self->last_overrun_log != 0
      && now - self->last_overrun_log < LOG_INTERVAL_US)
    return;
  g_warning (
      "legacy TRACE lines were lost (NFLOG group 0 overrun; %" G_GUINT64_FORMAT
      " line(s) counted lost so far); receive "
      "buffer now %u bytes",
      self->stats.lost, self->rcvbuf);
  self->last_overrun_log = now;
}

static gboolean
on_readable (gint fd, GIOCondition cond, gpointer data)
{
  CtXtTraceSource *self = data;

  for (guint i = 0; i < READS_PER_WAKEUP; i++)
    {
      struct sockaddr_nl from;
      socklen_t from_len = sizeof from;
      struct iovec iov = { self->buf, BUF_SIZE };
      struct msghdr msg = {
        .msg_name = &from,
        .msg_namelen = from_len,
        .msg_iov = &iov,
        .msg_iovlen = 1,
      };
      ssize_t n = recvmsg (fd, &msg, MSG_DONTWAIT);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == ENOBUFS)
            {
              on_overrun (self);
              continue;
            }
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            g_warning ("reading NFLOG group 0: %s", g_strerror (errno));
          break;
        }
      /* Only the kernel (port id 0) may speak here. */
      if (from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC))
        {
          self->stats.invalid++;
          continue;
        }
      handle_buffer (self, self->buf, (int)n, 0, NULL);
    }
  return G_SOURCE_CONTINUE;
}

/* --- life ------------------------------------------------------------------ */

CtXtTraceSource *
ct_xt_trace_source_new (CtStore *store, GError **error)
{
  g_autoptr (CtXtTraceSource) self = g_new0 (CtXtTraceSource, 1);

  self->store = store;
  self->enabled = TRUE;
  self->families[0]
      = (Family){ .family = AF_INET, .pf = AF_INET, .label = "IPv4" };
  self->families[1]
      = (Family){ .family = AF_INET6, .pf = AF_INET6, .label = "IPv6" };
  self->buf = g_malloc (BUF_SIZE);
  self->rules = ct_xt_rules_new (on_rules, self);

  self->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (self->nl == NULL || mnl_socket_bind (self->nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot open an nfnetlink_log socket: %s%s",
                   g_strerror (err),
                   err == EPERM ? " (needs CAP_NET_ADMIN)" : "");
      return NULL;
    }
  /* TRACE lines come one per rule a traced packet passes. */
  set_rcvbuf (self, RCVBUF);
  self->watch = g_unix_fd_add (mnl_socket_get_fd (self->nl), G_IO_IN,
                               on_readable, self);
  self->poll_id = g_timeout_add_seconds (POLL_INTERVAL_S, on_poll, self);
  /* From the loop: a set_enabled (FALSE) right after this binds nothing. */
  self->first_id = g_idle_add (on_first_poll, self);
  return g_steal_pointer (&self);
}

void
ct_xt_trace_source_set_enabled (CtXtTraceSource *self, gboolean enabled)
{
  if (enabled && !self->enabled)
    for (guint i = 0; i < G_N_ELEMENTS (self->families); i++)
      self->families[i].yielded = FALSE;
  self->enabled = enabled;
  update_bindings (self);
}

const CtXtTraceStats *
ct_xt_trace_source_get_stats (CtXtTraceSource *self)
{
  return &self->stats;
}

static void
log_summary (CtXtTraceSource *self)
{
  const CtXtTraceStats *st = &self->stats;
  g_autofree char *seq
      = self->have_seq ? g_strdup_printf ("kernel sequence numbers up to %u",
                                          self->next_seq - 1)
                       : g_strdup ("no kernel sequence numbers");

  if (st->lines == 0 && st->other == 0 && st->invalid == 0)
    return;
  g_message ("legacy TRACE lines: %" G_GUINT64_FORMAT
             " received, %" G_GUINT64_FORMAT " applied (%" G_GUINT64_FORMAT
             " without rule text), %" G_GUINT64_FORMAT
             " not in the rules, %" G_GUINT64_FORMAT
             " forged or at a wrong hook, %" G_GUINT64_FORMAT
             " over the queue bound, %" G_GUINT64_FORMAT
             " lost by the kernel (%s), %" G_GUINT64_FORMAT
             " overruns; %" G_GUINT64_FORMAT " other and %" G_GUINT64_FORMAT
             " malformed group-0 messages; %" G_GUINT64_FORMAT
             " rule snapshots (%" G_GUINT64_FORMAT " failed)",
             st->lines, st->applied, st->unresolved, st->mismatched,
             st->suspect, st->queue_full, st->lost, seq, st->overruns,
             st->other, st->invalid, st->snapshots, st->snapshot_failures);
}

void
ct_xt_trace_source_free (CtXtTraceSource *self)
{
  if (self == NULL)
    return;
  if (self->nl != NULL)
    {
      self->enabled = FALSE;
      update_bindings (self);
    }
  /* Lines still waiting: with the rules at hand if they fit, else bare. */
  for (guint i = 0; i < G_N_ELEMENTS (self->families); i++)
    {
      Waiting *w;

      while ((w = g_queue_pop_head (&self->families[i].waiting)) != NULL)
        {
          const CtXtRuleset *rs
              = ct_xt_rules_get (self->rules, w->line.family, NULL);
          CtXtRuleInfo info;

          if (rs != NULL
              && ct_xt_ruleset_resolve (rs, &w->line, &info) == CT_XT_FIT_OK)
            apply (self, w, &info);
          else
            apply (self, w, NULL);
          g_free (w);
        }
    }
  log_summary (self);
  g_clear_handle_id (&self->watch, g_source_remove);
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->first_id, g_source_remove);
  g_clear_pointer (&self->nl, mnl_socket_close);
  g_clear_pointer (&self->rules, ct_xt_rules_free);
  g_free (self->buf);
  g_free (self);
}

/* ct-source.c — ctnetlink I/O. The event socket is drained with recvmmsg
 * until empty; under load the watch then pauses for a millisecond so the
 * next drain reads many events per wakeup. Per event: parse + store apply,
 * no syscalls (one clock read per batch). */
#include "ct-source.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <libmnl/libmnl.h>

#include "log-ids.h"
#include "nlmsg-walk.h"
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_compat.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH                 64
#define SLOT_SIZE             8192
#define DUMP_READS_PER_WAKEUP 16
#define RESYNC_RETRY_MS       1000
/* Under sustained overload overruns come back to back: let this much time
 * pass between two resyncs so the daemon reads events, not only dumps. */
#define RESYNC_HOLDOFF_MS       250
#define OVERRUN_LOG_INTERVAL_US (10 * G_USEC_PER_SEC)
/* The kernel fills dump replies up to 32 KiB when the reader offers it. */
#define DUMP_BUF_SIZE 32768

struct _CtSource
{
  CtStore *store;
  CtSourceConfig config;
  CtSourceStats stats;
  CtSourceReadyFunc ready;
  gpointer ready_data;
  gboolean initial_done;

  struct mnl_socket *events;
  guint events_watch;
  guint pause_timer;

  struct mnl_socket *dump;
  guint dump_watch;
  guint retry_timer;
  guint32 dump_seq;
  gboolean resync_pending;
  guint rcvbuf_requested; /* what we asked for; the kernel reports double */
  gint64 last_overrun_log;
  guint64 overruns_at_last_log;
  gint64 last_resync_log;
  guint64 resyncs_at_last_log;

  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_nl senders[BATCH];
  guint8 *slots;
  guint8 *dump_buf;
};

static void start_dump (CtSource *self);

static void
set_rcvbuf (CtSource *self, guint bytes)
{
  int fd = mnl_socket_get_fd (self->events);
  int val = (int)MIN (bytes, (guint)G_MAXINT / 2);
  socklen_t len = sizeof val;

  /* SO_RCVBUFFORCE passes net.core.rmem_max; without CAP_NET_ADMIN fall
   * back to what the sysctl allows. */
  self->rcvbuf_requested = (guint)val;
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof val) < 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof val);
  if (getsockopt (fd, SOL_SOCKET, SO_RCVBUF, &val, &len) == 0)
    self->stats.rcvbuf = (guint)val;
}

static void
apply_buffer (CtSource *self, const void *buf, int len, gboolean from_dump,
              gint64 now)
{
  const struct nlmsghdr *nlh = buf;
  CtConnEvent ev;

  while (ct_nlmsg_ok (nlh, len))
    {
      switch (ct_parse_message (nlh, from_dump, &ev))
        {
        case CT_PARSE_OK:
          self->stats.messages++;
          ct_store_apply (self->store, &ev, now);
          break;
        case CT_PARSE_INVALID:
          self->stats.invalid++;
          break;
        case CT_PARSE_IGNORED:
          break;
        }
      nlh = mnl_nlmsg_next (nlh, &len);
    }
}

static void
on_overrun (CtSource *self)
{
  guint grown = MIN (self->rcvbuf_requested * 2, self->config.rcvbuf_max);
  gint64 now = g_get_monotonic_time ();

  self->stats.overruns++;
  if (grown > self->rcvbuf_requested)
    set_rcvbuf (self, grown);
  /* Count every overrun, but log at most one line per interval. */
  if (self->last_overrun_log == 0
      || now - self->last_overrun_log >= OVERRUN_LOG_INTERVAL_US)
    {
      guint64 since = self->stats.overruns - self->overruns_at_last_log;

      ct_log_event (
          G_LOG_LEVEL_WARNING, CT_LOG_ID_OVERRUN,
          CT_LOG_FIELDS ("CT_OVERRUNS", CT_LOG_U64 (self->stats.overruns),
                         "CT_OVERRUNS_SINCE_REPORT", CT_LOG_U64 (since),
                         "CT_RCVBUF", CT_LOG_U64 (self->stats.rcvbuf)),
          "ctnetlink event overrun: events were lost (%" G_GUINT64_FORMAT
          " overrun(s) since the last report, %" G_GUINT64_FORMAT
          " in all); receive buffer now %u bytes; resyncing from a "
          "full dump",
          since, self->stats.overruns, self->stats.rcvbuf);
      self->last_overrun_log = now;
      self->overruns_at_last_log = self->stats.overruns;
    }
  start_dump (self);
}

static gboolean on_events (gint fd, GIOCondition cond, gpointer data);

/* A plain fd watch, except that it is marked recursive: GLib 2.74 pays two
 * eventfd writes, a read and a poll around every dispatch of a
 * non-recursive source, and this callback never re-enters the loop. */
static guint
add_events_watch (CtSource *self)
{
  GSource *source
      = g_unix_fd_source_new (mnl_socket_get_fd (self->events), G_IO_IN);
  guint id;

  g_source_set_can_recurse (source, TRUE);
  g_source_set_callback (source, G_SOURCE_FUNC (on_events), self, NULL);
  id = g_source_attach (source, NULL);
  g_source_unref (source);
  return id;
}

static gboolean
resume_events (gpointer data)
{
  CtSource *self = data;

  self->pause_timer = 0;
  self->events_watch = add_events_watch (self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_events (gint fd, GIOCondition cond, gpointer data)
{
  CtSource *self = data;
  guint received = 0;

  for (;;)
    {
      int n = recvmmsg (fd, self->msgs, BATCH, MSG_DONTWAIT, NULL);
      gint64 now;

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
            g_warning ("reading ctnetlink events: %s", g_strerror (errno));
          break;
        }

      now = g_get_real_time ();
      for (int i = 0; i < n; i++)
        {
          struct mmsghdr *m = &self->msgs[i];

          /* Only the kernel (port id 0) speaks on these groups. */
          if (self->senders[i].nl_pid != 0
              || (m->msg_hdr.msg_flags & MSG_TRUNC))
            {
              self->stats.invalid++;
              continue;
            }
          apply_buffer (self, self->iov[i].iov_base, (int)m->msg_len, FALSE,
                        now);
        }
      received += (guint)n;
      if (n < BATCH)
        break;
    }

  if (received > 0)
    {
      /* Events are flowing: let them pile up for a moment and take them in
       * bulk (one wakeup per millisecond, not one per event or two). */
      self->events_watch = 0;
      self->pause_timer = g_timeout_add (1, resume_events, self);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
stop_dump (CtSource *self)
{
  g_clear_handle_id (&self->dump_watch, g_source_remove);
  g_clear_pointer (&self->dump, mnl_socket_close);
}

static gboolean
retry_dump (gpointer data)
{
  CtSource *self = data;

  self->retry_timer = 0;
  start_dump (self);
  return G_SOURCE_REMOVE;
}

static void
finish_dump (CtSource *self, int error)
{
  stop_dump (self);

  if (error != 0)
    {
      self->stats.dump_failures++;
      ct_store_resync_abort (self->store);
      g_warning ("conntrack table dump failed: %s; retrying in %d ms",
                 g_strerror (error), RESYNC_RETRY_MS);
      self->retry_timer = g_timeout_add (RESYNC_RETRY_MS, retry_dump, self);
      return;
    }

  ct_store_resync_end (self->store);
  if (!self->initial_done)
    {
      self->initial_done = TRUE;
      if (self->ready != NULL)
        self->ready (self->ready_data);
    }
  else
    {
      gint64 now = g_get_monotonic_time ();

      self->stats.resyncs++;
      /* Like overruns: every resync counted, one line per interval. */
      if (self->last_resync_log == 0
          || now - self->last_resync_log >= OVERRUN_LOG_INTERVAL_US)
        {
          const CtStoreStats *st = ct_store_get_stats (self->store);
          guint64 since = self->stats.resyncs - self->resyncs_at_last_log;

          ct_log_event (
              G_LOG_LEVEL_MESSAGE, CT_LOG_ID_RESYNC,
              CT_LOG_FIELDS (
                  "CT_RESYNCS", CT_LOG_U64 (self->stats.resyncs),
                  "CT_RESYNCS_SINCE_REPORT", CT_LOG_U64 (since), "CT_CONNS",
                  CT_LOG_U64 (ct_store_get_n_conns (self->store)),
                  "CT_CONNS_RECONCILED", CT_LOG_U64 (st->conns_reconciled)),
              "resync completed: a full dump applied, %u live conntrack "
              "entries (%" G_GUINT64_FORMAT
              " resync(s) since the last report, %" G_GUINT64_FORMAT
              " in all; %" G_GUINT64_FORMAT " entries found gone in all)",
              ct_store_get_n_conns (self->store), since, self->stats.resyncs,
              st->conns_reconciled);
          self->last_resync_log = now;
          self->resyncs_at_last_log = self->stats.resyncs;
        }
    }

  if (self->resync_pending)
    {
      /* Events were lost while this dump ran: it may not cover them. */
      self->resync_pending = FALSE;
      self->retry_timer = g_timeout_add (RESYNC_HOLDOFF_MS, retry_dump, self);
    }
}

/* Returns 0 while the dump goes on, -1 when it completed, or an errno. */
static int
apply_dump_buffer (CtSource *self, const void *buf, int len, gint64 now)
{
  const struct nlmsghdr *nlh = buf;

  while (ct_nlmsg_ok (nlh, len))
    {
      if (nlh->nlmsg_seq != self->dump_seq)
        ; /* a stale answer: not ours */
      else if (nlh->nlmsg_type == NLMSG_DONE)
        return -1;
      else if (nlh->nlmsg_type == NLMSG_ERROR)
        {
          const struct nlmsgerr *err = mnl_nlmsg_get_payload (nlh);

          if (nlh->nlmsg_len < mnl_nlmsg_size (sizeof *err))
            return EBADMSG;
          if (err->error != 0)
            return -err->error;
        }
      else
        apply_buffer (self, nlh, (int)nlh->nlmsg_len, TRUE, now);
      nlh = mnl_nlmsg_next (nlh, &len);
    }
  return 0;
}

static gboolean
on_dump (gint fd, GIOCondition cond, gpointer data)
{
  CtSource *self = data;

  for (int i = 0; i < DUMP_READS_PER_WAKEUP; i++)
    {
      ssize_t n = recv (fd, self->dump_buf, DUMP_BUF_SIZE, MSG_DONTWAIT);
      int status;

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return G_SOURCE_CONTINUE;
          status = errno;
        }
      else
        status = apply_dump_buffer (self, self->dump_buf, (int)n,
                                    g_get_real_time ());

      if (status != 0)
        {
          /* finish_dump removes this watch; say so to GLib as well. */
          self->dump_watch = 0;
          finish_dump (self, status < 0 ? 0 : status);
          return G_SOURCE_REMOVE;
        }
    }
  return G_SOURCE_CONTINUE;
}

static void
start_dump (CtSource *self)
{
  char req[256];
  struct nlmsghdr *nlh;
  struct nfgenmsg *nfg;

  if (self->dump != NULL || self->retry_timer != 0)
    {
      self->resync_pending = TRUE;
      return;
    }

  self->dump
      = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (self->dump == NULL
      || mnl_socket_bind (self->dump, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int err = errno;

      g_clear_pointer (&self->dump, mnl_socket_close);
      ct_store_resync_begin (self->store);
      finish_dump (self, err);
      return;
    }

  nlh = mnl_nlmsg_put_header (req);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = self->dump_seq = (guint32)time (NULL) + self->dump_seq + 1;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof *nfg);
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;

  ct_store_resync_begin (self->store);
  if (mnl_socket_sendto (self->dump, nlh, nlh->nlmsg_len) < 0)
    {
      finish_dump (self, errno);
      return;
    }
  self->dump_watch
      = g_unix_fd_add (mnl_socket_get_fd (self->dump), G_IO_IN, on_dump, self);
}

CtSource *
ct_source_new (CtStore *store, const CtSourceConfig *config,
               CtSourceReadyFunc ready, gpointer user_data, GError **error)
{
  g_autoptr (CtSource) self = g_new0 (CtSource, 1);
  unsigned groups = NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE
                    | NF_NETLINK_CONNTRACK_DESTROY;

  self->store = store;
  self->config = *config;
  self->config.rcvbuf_max = MAX (config->rcvbuf_max, config->rcvbuf_initial);
  self->ready = ready;
  self->ready_data = user_data;

  self->events
      = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (self->events == NULL
      || mnl_socket_bind (self->events, groups, MNL_SOCKET_AUTOPID) < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot subscribe to conntrack events: %s%s",
                   g_strerror (err),
                   err == EPERM ? " (needs CAP_NET_ADMIN: run as root)" : "");
      return NULL;
    }
  set_rcvbuf (self, config->rcvbuf_initial);

  self->slots = g_malloc ((gsize)BATCH * SLOT_SIZE);
  self->dump_buf = g_malloc (DUMP_BUF_SIZE);
  for (guint i = 0; i < BATCH; i++)
    {
      self->iov[i].iov_base = self->slots + (gsize)i * SLOT_SIZE;
      self->iov[i].iov_len = SLOT_SIZE;
      self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
      self->msgs[i].msg_hdr.msg_iovlen = 1;
      self->msgs[i].msg_hdr.msg_name = &self->senders[i];
      self->msgs[i].msg_hdr.msg_namelen = sizeof self->senders[i];
    }

  /* Subscribed first, dumped second: an entry that appears in between is
   * seen twice, which the store absorbs; none can be missed. */
  self->events_watch = add_events_watch (self);
  start_dump (self);
  return g_steal_pointer (&self);
}

void
ct_source_free (CtSource *self)
{
  if (self == NULL)
    return;
  stop_dump (self);
  g_clear_handle_id (&self->retry_timer, g_source_remove);
  g_clear_handle_id (&self->pause_timer, g_source_remove);
  g_clear_handle_id (&self->events_watch, g_source_remove);
  g_clear_pointer (&self->events, mnl_socket_close);
  g_free (self->slots);
  g_free (self->dump_buf);
  g_free (self);
}

const CtSourceStats *
ct_source_get_stats (CtSource *self)
{
  return &self->stats;
}

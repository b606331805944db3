/* nft-trace-source.c — NFT_MSG_TRACE messages into store events. The
 * kernel sends the packet's headers (and, after conntrack's hook, its ct id
 * and direction) only with the first message of each base chain; the
 * messages after it carry the trace id alone. The assembler remembers per
 * id what the packet was, so every rule hit can be joined to its flow. */
#include "nft-trace-source.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nlmsg-walk.h"

/* --- verdicts --------------------------------------------------------- */

CtVerdict
ct_nft_verdict_from_code (gint32 code)
{
  switch (code)
    {
    case NFT_CONTINUE:
      return CT_VERDICT_CONTINUE;
    case NFT_JUMP:
      return CT_VERDICT_JUMP;
    case NFT_GOTO:
      return CT_VERDICT_GOTO;
    case NFT_RETURN:
      return CT_VERDICT_RETURN;
    case NFT_BREAK:
      return CT_VERDICT_NONE;
    default:
      break;
    }
  if (code < 0)
    return CT_VERDICT_NONE;
  /* The upper 16 bits hold a queue number or an errno. */
  switch ((guint32)code & NF_VERDICT_MASK)
    {
    case NF_ACCEPT:
      return CT_VERDICT_ACCEPT;
    case NF_DROP:
      return CT_VERDICT_DROP;
    case NF_QUEUE:
      return CT_VERDICT_QUEUE;
    default:
      return CT_VERDICT_NONE;
    }
}

/* "reject" as a word of the rule, outside quoted strings (a comment may
 * say anything). */
static gboolean
says_reject (const char *text)
{
  gboolean quoted = FALSE;

  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '"')
        quoted = !quoted;
      else if (!quoted && (p == text || p[-1] == ' ')
               && g_ascii_strncasecmp (p, "reject", 6) == 0
               && (p[6] == '\0' || p[6] == ' '))
        return TRUE;
    }
  return FALSE;
}

CtVerdict
ct_nft_verdict_refine (CtVerdict verdict, const char *rule_text)
{
  if (verdict == CT_VERDICT_DROP && rule_text != NULL
      && says_reject (rule_text))
    return CT_VERDICT_REJECT;
  return verdict;
}

/* --- the trace-id cache ----------------------------------------------- */

typedef struct
{
  guint32 id;
  gint64 last_seen;
  GList link; /* in the assembler's age order; data points here */

  gboolean has_tuple;
  CtPacketTuple tuple;
  gboolean has_ct_id;
  guint32 ct_id;
  gboolean has_ct_direction;
  gboolean ct_reply;
  gboolean has_ct_state;
  guint32 ct_state;

  /* A chain end waiting for the next message of the packet. */
  gboolean held;
  guint8 held_family;
  char *held_table;
  char *held_chain;
} IdEntry;

struct _CtNftTraceAssembler
{
  char *own_table;
  guint max_ids;
  gint64 ttl_us;
  GHashTable *ids; /* GUINT_TO_POINTER(id) -> IdEntry*, owned */
  GQueue age;      /* least recently touched first */
};

static void
entry_unhold (IdEntry *e)
{
  e->held = FALSE;
  g_clear_pointer (&e->held_table, g_free);
  g_clear_pointer (&e->held_chain, g_free);
}

static void
entry_free (gpointer p)
{
  IdEntry *e = p;

  entry_unhold (e);
  g_free (e);
}

CtNftTraceAssembler *
ct_nft_trace_assembler_new (const char *own_table, guint max_ids, gint64 ttl_us)
{
  CtNftTraceAssembler *self = g_new0 (CtNftTraceAssembler, 1);

  self->own_table = g_strdup (own_table);
  self->max_ids = MAX (max_ids, 1);
  self->ttl_us = ttl_us;
  self->ids = g_hash_table_new_full (NULL, NULL, NULL, entry_free);
  g_queue_init (&self->age);
  return self;
}

void
ct_nft_trace_assembler_free (CtNftTraceAssembler *self)
{
  if (self == NULL)
    return;
  /* The queue's links live inside the entries: no g_queue_clear. */
  g_hash_table_unref (self->ids);
  g_free (self->own_table);
  g_free (self);
}

guint
ct_nft_trace_assembler_get_n_ids (CtNftTraceAssembler *self)
{
  return g_hash_table_size (self->ids);
}

static void
fill_packet (const IdEntry *e, CtTraceEvent *ev)
{
  ev->has_tuple = e->has_tuple;
  if (e->has_tuple)
    ev->tuple = e->tuple;
  ev->has_ct_id = e->has_ct_id;
  ev->ct_id = e->ct_id;
  ev->has_ct_direction = e->has_ct_direction;
  ev->ct_reply = e->ct_reply;
  ev->has_ct_state = e->has_ct_state;
  ev->ct_state = e->ct_state;
}

/* The held chain end was a regular chain running out of rules: control
 * went back to its caller (the legacy "return" hit). */
static void
emit_held (IdEntry *e, CtNftTraceEmitFunc emit, gpointer user_data)
{
  CtTraceEvent ev = { 0 };

  if (!e->held)
    return;
  fill_packet (e, &ev);
  ev.family = ct_nft_family_name (e->held_family);
  ev.table = e->held_table;
  ev.chain = e->held_chain;
  ev.type = CT_HIT_RETURN;
  ev.verdict = CT_VERDICT_RETURN;
  emit (&ev, user_data);
  entry_unhold (e);
}

static void
forget (CtNftTraceAssembler *self, IdEntry *e, CtNftTraceEmitFunc emit,
        gpointer user_data)
{
  emit_held (e, emit, user_data);
  g_queue_unlink (&self->age, &e->link);
  g_hash_table_remove (self->ids, GUINT_TO_POINTER (e->id));
}

static IdEntry *
touch (CtNftTraceAssembler *self, guint32 id, gint64 now,
       CtNftTraceEmitFunc emit, gpointer user_data)
{
  IdEntry *e = g_hash_table_lookup (self->ids, GUINT_TO_POINTER (id));

  if (e != NULL)
    g_queue_unlink (&self->age, &e->link);
  else
    {
      while (g_hash_table_size (self->ids) >= self->max_ids)
        forget (self, self->age.head->data, emit, user_data);
      e = g_new0 (IdEntry, 1);
      e->id = id;
      e->link.data = e;
      g_hash_table_insert (self->ids, GUINT_TO_POINTER (id), e);
    }
  e->last_seen = now;
  g_queue_push_tail_link (&self->age, &e->link);
  return e;
}

/* What the first message of a base chain says about the packet: its
 * headers, and conntrack's view when the chain runs after conntrack's
 * hook. That view belongs to this chain's invocation: an earlier chain
 * (raw, before conntrack) or an earlier packet with the same id (ids are
 * skb hashes and get reused) must not lend it theirs. */
static void
learn (IdEntry *e, const CtNftTrace *t)
{
  gboolean first = t->has_tuple || t->iif != 0 || t->oif != 0 || t->has_ct_state
                   || t->has_ct_id;

  if (!first)
    return;
  e->has_tuple = t->has_tuple;
  if (t->has_tuple)
    e->tuple = t->tuple;
  e->has_ct_id = t->has_ct_id;
  e->ct_id = t->ct_id;
  e->has_ct_direction = t->has_ct_direction;
  e->ct_reply = t->ct_direction == IP_CT_DIR_REPLY;
  e->has_ct_state = t->has_ct_state;
  e->ct_state = t->ct_state;
}

static gboolean
is_own (CtNftTraceAssembler *self, const CtNftTrace *t)
{
  return self->own_table != NULL && t->family == NFPROTO_INET
         && g_str_equal (t->table, self->own_table);
}

void
ct_nft_trace_assembler_feed (CtNftTraceAssembler *self, const CtNftTrace *t,
                             gint64 now, CtNftTraceEmitFunc emit,
                             gpointer user_data)
{
  IdEntry *e = touch (self, t->id, now, emit, user_data);
  CtTraceEvent ev = { 0 };
  CtHitType type;

  if (e->held)
    {
      /* A base chain's end is followed by its policy: that is the hit. */
      if (t->type == NFT_TRACETYPE_POLICY && t->family == e->held_family
          && g_str_equal (t->table, e->held_table)
          && g_str_equal (t->chain, e->held_chain))
        entry_unhold (e);
      else
        emit_held (e, emit, user_data);
    }
  learn (e, t);

  if (is_own (self, t))
    return;

  if (ct_nft_trace_is_chain_end (t))
    {
      e->held = TRUE;
      e->held_family = t->family;
      e->held_table = g_strdup (t->table);
      e->held_chain = g_strdup (t->chain);
      return;
    }
  if (!ct_nft_trace_hit_type (t, &type))
    return;

  fill_packet (e, &ev);
  ev.family = ct_nft_family_name (t->family);
  ev.table = t->table;
  ev.chain = t->chain;
  ev.type = type;
  if (type == CT_HIT_POLICY)
    ev.verdict = t->has_policy ? ct_nft_verdict_from_code ((gint32)t->policy)
                               : CT_VERDICT_NONE;
  else
    {
      ev.handle = t->handle;
      ev.verdict = t->has_verdict ? ct_nft_verdict_from_code (t->verdict)
                                  : CT_VERDICT_NONE;
    }
  emit (&ev, user_data);
}

void
ct_nft_trace_assembler_expire (CtNftTraceAssembler *self, gint64 now,
                               CtNftTraceEmitFunc emit, gpointer user_data)
{
  while (self->age.head != NULL)
    {
      IdEntry *e = self->age.head->data;

      if (now - e->last_seen < self->ttl_us)
        break;
      forget (self, e, emit, user_data);
    }
}

/* --- the source ------------------------------------------------------- */

#define BATCH     32
#define SLOT_SIZE 8192
/* A burst of traces (mode "all") must not be lost to a small buffer. */
#define RCVBUF (16u << 20)
/* Trace ids live for one packet's walk through the hooks. */
#define ID_TTL_US   (2 * G_USEC_PER_SEC)
#define MAX_IDS     8192
#define MAX_WAITING 4096
/* Events wait at most this long for the rule cache. */
#define MAX_WAIT_US     (2 * G_USEC_PER_SEC)
#define LOG_INTERVAL_US (10 * G_USEC_PER_SEC)

/* An event copied while it waits for the rule cache. */
typedef struct
{
  CtTraceEvent ev;
  char *table;
  char *chain;
  gint64 now;
} Waiting;

struct _CtNftTraceSource
{
  CtStore *store;
  CtRuleCache *rules;
  CtNftTraceAssembler *assembler;
  CtNftTraceSourceStats stats;
  struct mnl_socket *nl;
  guint watch;
  GQueue waiting; /* Waiting*, oldest first */
  gint64 now;     /* of the batch being read */
  gint64 last_overrun_log;

  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_nl senders[BATCH];
  guint8 *slots;
};

static void
waiting_free (gpointer p)
{
  Waiting *w = p;

  g_free (w->table);
  g_free (w->chain);
  g_free (w);
}

/* Adds the rule's position and text; FALSE when the cache does not know
 * the rule (or, for a policy or return, the chain). */
static gboolean
resolve (CtNftTraceSource *self, CtTraceEvent *ev)
{
  const CtRuleSnapshot *snap;
  guint32 n_rules = 0;

  if (self->rules == NULL)
    return TRUE;
  snap = ct_rule_cache_get (self->rules);
  if (ev->type == CT_HIT_RULE)
    {
      if (!ct_rule_snapshot_lookup (snap, ev->family, ev->table, ev->chain,
                                    ev->handle, &ev->position, &ev->rule))
        return FALSE;
      ev->verdict = ct_nft_verdict_refine (ev->verdict, ev->rule);
      return TRUE;
    }
  /* A policy or a return counts as the rule after the chain's last, as
   * iptables -L --line-numbers and the legacy TRACE lines count them. */
  if (!ct_rule_snapshot_lookup_chain (snap, ev->family, ev->table, ev->chain,
                                      NULL, &n_rules))
    return FALSE;
  ev->position = n_rules + 1;
  return TRUE;
}

static void
apply (CtNftTraceSource *self, const CtTraceEvent *ev, gint64 now)
{
  self->stats.events++;
  if (ev->type == CT_HIT_RULE && ev->rule == NULL)
    self->stats.unresolved++;
  ct_store_apply_trace (self->store, ev, now);
}

static void
defer (CtNftTraceSource *self, const CtTraceEvent *ev, gint64 now)
{
  Waiting *w = g_new0 (Waiting, 1);

  w->ev = *ev;
  w->table = g_strdup (ev->table);
  w->chain = g_strdup (ev->chain);
  w->ev.table = w->table;
  w->ev.chain = w->chain;
  w->now = now;
  g_queue_push_tail (&self->waiting, w);
  self->stats.deferred++;
}

/* Applies waiting events in order while they resolve, or while the cache
 * is current (the rule is gone: no text), or when forced. */
static void
drain (CtNftTraceSource *self, gint64 force_before)
{
  Waiting *w;

  while ((w = g_queue_peek_head (&self->waiting)) != NULL)
    {
      if (!resolve (self, &w->ev) && ct_rule_cache_is_stale (self->rules)
          && w->now >= force_before
          && g_queue_get_length (&self->waiting) <= MAX_WAITING)
        break;
      g_queue_pop_head (&self->waiting);
      apply (self, &w->ev, w->now);
      waiting_free (w);
    }
}

static void
on_event (const CtTraceEvent *emitted, gpointer data)
{
  CtNftTraceSource *self = data;
  CtTraceEvent ev = *emitted;

  /* Keep the order: nothing overtakes an event that waits. */
  if (!g_queue_is_empty (&self->waiting))
    {
      defer (self, &ev, self->now);
      drain (self, G_MININT64);
      return;
    }
  if (!resolve (self, &ev) && ct_rule_cache_is_stale (self->rules))
    {
      /* The rule is probably newer than the cache's listing. */
      defer (self, emitted, self->now);
      return;
    }
  apply (self, &ev, self->now);
}

static void
feed_buffer (CtNftTraceSource *self, const void *buf, int len)
{
  const struct nlmsghdr *nlh = buf;
  CtNftTrace trace;

  while (ct_nlmsg_ok (nlh, len))
    {
      switch (ct_nft_trace_parse (nlh, &trace))
        {
        case CT_PARSE_OK:
          self->stats.messages++;
          ct_nft_trace_assembler_feed (self->assembler, &trace, self->now,
                                       on_event, self);
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
on_overrun (CtNftTraceSource *self)
{
  gint64 mono = g_get_monotonic_time ();

  self->stats.overruns++;
  if (self->last_overrun_log == 0
      || mono - self->last_overrun_log >= LOG_INTERVAL_US)
    {
      g_warning (
          "nft trace overrun: trace messages were lost (%" G_GUINT64_FORMAT
          " overrun(s) in all); some rule hits are missing",
          self->stats.overruns);
      self->last_overrun_log = mono;
    }
}

static gboolean
on_readable (gint fd, GIOCondition cond, gpointer data)
{
  CtNftTraceSource *self = data;

  /* Bounded: a trace storm must not starve the rest of the loop. */
  for (guint round = 0; round < 16; round++)
    {
      int n = recvmmsg (fd, self->msgs, BATCH, MSG_DONTWAIT, NULL);

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
            g_warning ("reading nft traces: %s", g_strerror (errno));
          break;
        }
      self->now = g_get_real_time ();
      for (int i = 0; i < n; i++)
        {
          if (self->senders[i].nl_pid != 0
              || (self->msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
            {
              self->stats.invalid++;
              continue;
            }
          feed_buffer (self, self->iov[i].iov_base, (int)self->msgs[i].msg_len);
        }
      if (n < BATCH)
        break;
    }
  return G_SOURCE_CONTINUE;
}

CtNftTraceSource *
ct_nft_trace_source_new (CtStore *store, CtRuleCache *rules,
                         const char *own_table, GError **error)
{
  g_autoptr (CtNftTraceSource) self = g_new0 (CtNftTraceSource, 1);
  int fd, val = RCVBUF;

  self->store = store;
  self->rules = rules;
  self->assembler = ct_nft_trace_assembler_new (own_table, MAX_IDS, ID_TTL_US);
  g_queue_init (&self->waiting);

  self->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (self->nl == NULL
      || mnl_socket_bind (self->nl, 1u << (NFNLGRP_NFTRACE - 1),
                          MNL_SOCKET_AUTOPID)
             < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot subscribe to nftables traces: %s%s",
                   g_strerror (err),
                   err == EPERM ? " (needs CAP_NET_ADMIN)" : "");
      return NULL;
    }
  fd = mnl_socket_get_fd (self->nl);
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof val) < 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof val);

  self->slots = g_malloc ((gsize)BATCH * SLOT_SIZE);
  for (guint i = 0; i < BATCH; i++)
    {
      self->iov[i].iov_base = self->slots + (gsize)i * SLOT_SIZE;
      self->iov[i].iov_len = SLOT_SIZE;
      self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
      self->msgs[i].msg_hdr.msg_iovlen = 1;
      self->msgs[i].msg_hdr.msg_name = &self->senders[i];
      self->msgs[i].msg_hdr.msg_namelen = sizeof self->senders[i];
    }
  self->watch = g_unix_fd_add (fd, G_IO_IN, on_readable, self);
  return g_steal_pointer (&self);
}

void
ct_nft_trace_source_free (CtNftTraceSource *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->watch, g_source_remove);
  g_clear_pointer (&self->nl, mnl_socket_close);
  g_queue_clear_full (&self->waiting, waiting_free);
  ct_nft_trace_assembler_free (self->assembler);
  g_free (self->slots);
  g_free (self);
}

void
ct_nft_trace_source_rules_updated (CtNftTraceSource *self)
{
  drain (self, G_MININT64);
}

void
ct_nft_trace_source_tick (CtNftTraceSource *self)
{
  self->now = g_get_real_time ();
  ct_nft_trace_assembler_expire (self->assembler, self->now, on_event, self);
  drain (self, self->now - MAX_WAIT_US);
}

const CtNftTraceSourceStats *
ct_nft_trace_source_get_stats (CtNftTraceSource *self)
{
  return &self->stats;
}

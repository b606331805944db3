/* rule-cache.c — the ruleset as text, indexed by rule handle. The kernel
 * announces every committed change on NFNLGRP_NFTABLES (the rule, chain and
 * table messages of a transaction, then NEWGEN); after a generation that
 * touched tables, chains or rules, a worker thread lists the ruleset with
 * libnftables and the main loop swaps in the parsed snapshot. */
#include "rule-cache.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <string.h>
#include <sys/socket.h>

#include "nlmsg-walk.h"

/* Change events are small and rare; a burst of a big `nft -f` fits. */
#define RCVBUF    (4u << 20)
#define READ_SIZE 65536

typedef struct
{
  guint32 position;
  char *text;
} RuleInfo;

typedef struct
{
  gboolean is_base;
  guint32 n_rules;
} ChainInfo;

struct _CtRuleSnapshot
{
  GHashTable *rules;  /* "family\ntable\nchain\nhandle" -> RuleInfo* */
  GHashTable *chains; /* "family\ntable\nchain" -> ChainInfo* */
  guint n_rules;
};

static void
rule_info_free (gpointer p)
{
  RuleInfo *r = p;

  g_free (r->text);
  g_free (r);
}

const char *
ct_nft_family_name (guint8 nfproto)
{
  switch (nfproto)
    {
    case NFPROTO_INET:
      return "inet";
    case NFPROTO_IPV4:
      return "ip";
    case NFPROTO_ARP:
      return "arp";
    case NFPROTO_NETDEV:
      return "netdev";
    case NFPROTO_BRIDGE:
      return "bridge";
    case NFPROTO_IPV6:
      return "ip6";
    default:
      return NULL;
    }
}

/* Keys join the names with '\n', which no nft name contains. */
static char *
chain_key (const char *family, const char *table, const char *chain)
{
  return g_strconcat (family, "\n", table, "\n", chain, NULL);
}

static char *
rule_key (const char *family, const char *table, const char *chain,
          guint64 handle)
{
  return g_strdup_printf ("%s\n%s\n%s\n%" G_GUINT64_FORMAT, family, table,
                          chain, handle);
}

/* Brace depth change of one line, ignoring braces in quoted strings and in
 * the trailing "# …" comment. */
static int
brace_delta (const char *line)
{
  gboolean quoted = FALSE;
  int delta = 0;

  for (const char *p = line; *p != '\0'; p++)
    {
      if (*p == '"')
        quoted = !quoted;
      else if (quoted)
        continue;
      else if (*p == '#')
        break;
      else if (*p == '{')
        delta++;
      else if (*p == '}')
        delta--;
    }
  return delta;
}

/* "… # handle 42" at the end of a line: the handle, and where the rule's
 * text ends (before the comment and the blank in front of it). */
static gboolean
split_handle (const char *line, guint64 *handle, gsize *text_len)
{
  static const char tag[] = "# handle ";
  const char *last = NULL;
  const char *digits;
  char *end = NULL;

  for (const char *p = strstr (line, tag); p != NULL; p = strstr (p + 1, tag))
    last = p;
  if (last == NULL)
    return FALSE;
  digits = last + strlen (tag);
  if (!g_ascii_isdigit (*digits))
    return FALSE;
  *handle = g_ascii_strtoull (digits, &end, 10);
  if (end == NULL || *end != '\0')
    return FALSE;
  while (last > line && g_ascii_isspace (last[-1]))
    last--;
  *text_len = (gsize)(last - line);
  return TRUE;
}

/* The word after `keyword ` up to a blank or '{'. */
static char *
word_after (const char *line, const char *keyword)
{
  const char *p = line + strlen (keyword);
  gsize n = strcspn (p, " \t{");

  return n > 0 ? g_strndup (p, n) : NULL;
}

CtRuleSnapshot *
ct_rule_snapshot_parse (const char *text)
{
  CtRuleSnapshot *snap = g_new0 (CtRuleSnapshot, 1);
  g_auto (GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);
  g_autofree char *family = NULL;
  g_autofree char *table = NULL;
  g_autofree char *chain = NULL;
  ChainInfo *info = NULL;
  int depth = 0;

  snap->rules
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, rule_info_free);
  snap->chains
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      guint64 handle;
      gsize len;

      if (*line == '\0' || *line == '#')
        continue;
      if (depth == 0 && g_str_has_prefix (line, "table "))
        {
          g_auto (GStrv) words = g_strsplit_set (line + 6, " \t", 3);

          g_clear_pointer (&family, g_free);
          g_clear_pointer (&table, g_free);
          if (words[0] != NULL && words[1] != NULL)
            {
              family = g_strdup (words[0]);
              table = g_strdup (words[1]);
            }
        }
      else if (depth == 1 && table != NULL && g_str_has_prefix (line, "chain "))
        {
          g_free (chain);
          chain = word_after (line, "chain ");
          info = NULL;
          if (chain != NULL)
            {
              info = g_new0 (ChainInfo, 1);
              g_hash_table_replace (snap->chains,
                                    chain_key (family, table, chain), info);
            }
        }
      else if (depth == 2 && info != NULL)
        {
          if (g_str_has_prefix (line, "type ") && strstr (line, " hook "))
            info->is_base = TRUE;
          else if (split_handle (line, &handle, &len))
            {
              RuleInfo *rule = g_new0 (RuleInfo, 1);

              rule->position = ++info->n_rules;
              rule->text = g_strndup (line, len);
              g_hash_table_replace (
                  snap->rules, rule_key (family, table, chain, handle), rule);
              snap->n_rules++;
            }
        }

      depth += brace_delta (line);
      if (depth < 0)
        depth = 0;
      if (depth < 2)
        info = NULL;
    }
  return snap;
}

void
ct_rule_snapshot_free (CtRuleSnapshot *snap)
{
  if (snap == NULL)
    return;
  g_hash_table_unref (snap->rules);
  g_hash_table_unref (snap->chains);
  g_free (snap);
}

gboolean
ct_rule_snapshot_lookup (const CtRuleSnapshot *snap, const char *family,
                         const char *table, const char *chain, guint64 handle,
                         guint32 *position, const char **text)
{
  g_autofree char *key = NULL;
  const RuleInfo *rule;

  if (snap == NULL || family == NULL)
    return FALSE;
  key = rule_key (family, table, chain, handle);
  rule = g_hash_table_lookup (snap->rules, key);
  if (rule == NULL)
    return FALSE;
  if (position != NULL)
    *position = rule->position;
  if (text != NULL)
    *text = rule->text;
  return TRUE;
}

gboolean
ct_rule_snapshot_lookup_chain (const CtRuleSnapshot *snap, const char *family,
                               const char *table, const char *chain,
                               gboolean *is_base, guint32 *n_rules)
{
  g_autofree char *key = NULL;
  const ChainInfo *info;

  if (snap == NULL || family == NULL)
    return FALSE;
  key = chain_key (family, table, chain);
  info = g_hash_table_lookup (snap->chains, key);
  if (info == NULL)
    return FALSE;
  if (is_base != NULL)
    *is_base = info->is_base;
  if (n_rules != NULL)
    *n_rules = info->n_rules;
  return TRUE;
}

guint
ct_rule_snapshot_get_n_rules (const CtRuleSnapshot *snap)
{
  return snap != NULL ? snap->n_rules : 0;
}

/* --- the cache ------------------------------------------------------- */

struct _CtRuleCache
{
  struct mnl_socket *nl;
  guint watch;
  CtRuleSnapshot *snap;
  gboolean dirty;     /* changed since the running or last listing began */
  gboolean in_flight; /* a listing runs in the worker */
  gboolean closing;
  GCancellable *cancel;
  CtRuleCacheUpdatedFunc updated;
  gpointer updated_data;
  CtRuleCacheStats stats;
  guint8 *buf;
};

static void start_listing (CtRuleCache *self);

/* Runs in a worker thread: everything here is the worker's own. */
static void
list_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  struct nft_ctx *nft = nft_ctx_new (NFT_CTX_DEFAULT);
  CtRuleSnapshot *snap;

  if (nft == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               "libnftables: cannot create a context");
      return;
    }
  /* Handles to index by; stateless so counters do not change the text;
   * terse so the elements of big sets (ours too) are not listed. */
  nft_ctx_output_set_flags (nft, NFT_CTX_OUTPUT_HANDLE
                                     | NFT_CTX_OUTPUT_STATELESS
                                     | NFT_CTX_OUTPUT_TERSE);
  nft_ctx_buffer_output (nft);
  nft_ctx_buffer_error (nft);
  if (nft_run_cmd_from_buffer (nft, "list ruleset") != 0)
    {
      g_autofree char *msg
          = g_strstrip (g_strdup (nft_ctx_get_error_buffer (nft)));

      nft_ctx_free (nft);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               "listing the nft ruleset: %s", msg);
      return;
    }
  snap = ct_rule_snapshot_parse (nft_ctx_get_output_buffer (nft));
  nft_ctx_free (nft);
  g_task_return_pointer (task, snap, (GDestroyNotify)ct_rule_snapshot_free);
}

static void
listing_done (GObject *source, GAsyncResult *res, gpointer data)
{
  CtRuleCache *self = data;
  g_autoptr (GError) error = NULL;
  CtRuleSnapshot *snap = g_task_propagate_pointer (G_TASK (res), &error);

  self->in_flight = FALSE;
  if (self->closing)
    {
      ct_rule_snapshot_free (snap);
      return;
    }
  if (snap == NULL)
    {
      self->stats.failures++;
      g_warning ("rule cache: %s", error->message);
    }
  else
    {
      ct_rule_snapshot_free (self->snap);
      self->snap = snap;
      self->stats.refreshes++;
    }
  /* Changes committed while it ran may be missing from it. */
  if (self->dirty)
    start_listing (self);
  if (self->updated != NULL)
    self->updated (self->updated_data);
}

static void
start_listing (CtRuleCache *self)
{
  g_autoptr (GTask) task = NULL;

  if (self->in_flight || self->closing)
    return;
  self->dirty = FALSE;
  self->in_flight = TRUE;
  task = g_task_new (NULL, self->cancel, listing_done, self);
  g_task_set_name (task, "ct-rule-cache-list");
  g_task_run_in_thread (task, list_thread);
}

static void
on_message (CtRuleCache *self, const struct nlmsghdr *nlh)
{
  if (NFNL_SUBSYS_ID (nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
    return;
  switch (NFNL_MSG_TYPE (nlh->nlmsg_type))
    {
    case NFT_MSG_NEWTABLE:
    case NFT_MSG_DELTABLE:
    case NFT_MSG_NEWCHAIN:
    case NFT_MSG_DELCHAIN:
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE:
      self->dirty = TRUE;
      break;
    case NFT_MSG_NEWGEN:
      /* The transaction is committed: list it once, whatever its size. */
      if (self->dirty)
        start_listing (self);
      break;
    default:
      break;
    }
}

static gboolean
on_readable (gint fd, GIOCondition cond, gpointer data)
{
  CtRuleCache *self = data;

  for (guint reads = 0; reads < 64; reads++)
    {
      ssize_t n = recv (fd, self->buf, READ_SIZE, MSG_DONTWAIT);
      int len = (int)n;

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == ENOBUFS)
            {
              /* Some change events are gone: list everything again. */
              self->stats.overruns++;
              self->dirty = TRUE;
              start_listing (self);
              continue;
            }
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            g_warning ("rule cache: reading nftables events: %s",
                       g_strerror (errno));
          break;
        }
      for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)self->buf;
           ct_nlmsg_ok (nlh, len); nlh = mnl_nlmsg_next (nlh, &len))
        on_message (self, nlh);
    }
  return G_SOURCE_CONTINUE;
}

CtRuleCache *
ct_rule_cache_new (CtRuleCacheUpdatedFunc updated, gpointer user_data,
                   GError **error)
{
  g_autoptr (CtRuleCache) self = g_new0 (CtRuleCache, 1);
  int fd, val = RCVBUF;

  self->updated = updated;
  self->updated_data = user_data;
  self->cancel = g_cancellable_new ();
  self->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (self->nl == NULL
      || mnl_socket_bind (self->nl, 1u << (NFNLGRP_NFTABLES - 1),
                          MNL_SOCKET_AUTOPID)
             < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot subscribe to nftables ruleset changes: %s",
                   g_strerror (err));
      return NULL;
    }
  fd = mnl_socket_get_fd (self->nl);
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof val) < 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof val);
  self->buf = g_malloc (READ_SIZE);
  self->watch = g_unix_fd_add (fd, G_IO_IN, on_readable, self);

  /* Subscribed first, listed second: a change in between lists again. */
  start_listing (self);
  return g_steal_pointer (&self);
}

void
ct_rule_cache_free (CtRuleCache *self)
{
  if (self == NULL)
    return;
  self->closing = TRUE;
  g_cancellable_cancel (self->cancel);
  /* The worker finishes within milliseconds; its callback must not
   * outlive us. */
  while (self->in_flight)
    g_main_context_iteration (NULL, TRUE);
  g_clear_handle_id (&self->watch, g_source_remove);
  g_clear_pointer (&self->nl, mnl_socket_close);
  g_clear_object (&self->cancel);
  ct_rule_snapshot_free (self->snap);
  g_free (self->buf);
  g_free (self);
}

gboolean
ct_rule_cache_is_stale (CtRuleCache *self)
{
  return self->snap == NULL || self->dirty || self->in_flight;
}

const CtRuleSnapshot *
ct_rule_cache_get (CtRuleCache *self)
{
  return self->snap;
}

const CtRuleCacheStats *
ct_rule_cache_get_stats (CtRuleCache *self)
{
  return &self->stats;
}

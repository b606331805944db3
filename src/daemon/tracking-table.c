/* tracking-table.c — the daemon's `flags owner` nft table, built with
 * libnftnl and sent over its own netfilter netlink socket with libmnl. */
#include "tracking-table.h"

#include <errno.h>
#include <gio/gio.h>
#include <libmnl/libmnl.h>

#include "nlmsg-walk.h"
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#define TABLE_NAME "conntracker"
#define CHAIN_NAME "track"
/* Our batches take a few hundred bytes; the kernel's answers fit a page. */
#define BUF_SIZE       8192
#define MAX_MSGS       3
#define RECV_TIMEOUT_S 2

typedef enum
{
  STEP_BATCH,
  STEP_NEW_TABLE,
  STEP_NEW_CHAIN,
  STEP_NEW_RULE,
  STEP_DEL_TABLE,
} Step;

static const char *const step_names[] = {
  [STEP_BATCH] = "sending the nftables batch",
  [STEP_NEW_TABLE] = "creating nft table inet " TABLE_NAME,
  [STEP_NEW_CHAIN]
  = "creating chain " CHAIN_NAME " in nft table inet " TABLE_NAME,
  [STEP_NEW_RULE] = "adding the ct state rule to chain " CHAIN_NAME,
  [STEP_DEL_TABLE] = "deleting nft table inet " TABLE_NAME,
};

struct _CtTrackingTable
{
  struct mnl_socket *nl;
  guint32 seq;
  /* Only a table we created may be deleted: after EEXIST it is someone else's. */
  gboolean created;
};

/* Messages are written in place; BATCH_BEGIN has sequence number `base` and
 * message i (from 0) has base + 1 + i. */
typedef struct
{
  char buf[BUF_SIZE];
  gsize len;
  struct nlmsghdr *last;
  guint32 base;
  guint n;
  Step steps[MAX_MSGS];
} Batch;

/* libnftnl returns NULL only when out of memory; GLib aborts then too. */
static gpointer
or_abort (gpointer p)
{
  if (G_UNLIKELY (p == NULL))
    g_error ("tracking-table: out of memory");
  return p;
}

/* A message's length is final once the next one starts: count it then. */
static char *
batch_tail (Batch *batch)
{
  if (batch->last != NULL)
    batch->len += NLMSG_ALIGN (batch->last->nlmsg_len);
  batch->last = NULL;
  g_assert (batch->len < BUF_SIZE / 2);
  return batch->buf + batch->len;
}

static Batch *
batch_new (guint32 base)
{
  Batch *batch = g_new0 (Batch, 1);

  batch->base = base;
  batch->last = nftnl_batch_begin (batch_tail (batch), base);
  return batch;
}

static struct nlmsghdr *
batch_msg (Batch *batch, guint16 type, guint16 flags, Step step)
{
  char *at = batch_tail (batch);

  g_assert (batch->n < MAX_MSGS);
  batch->steps[batch->n++] = step;
  batch->last = nftnl_nlmsg_build_hdr (
      at, type, NFPROTO_INET, flags | NLM_F_ACK, batch->base + batch->n);
  return batch->last;
}

static gboolean
set_errno_error (GError **error, const char *what, int err)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", what,
               g_strerror (err));
  return FALSE;
}

static gboolean
set_kernel_error (GError **error, Step step, int err)
{
  GIOErrorEnum code = g_io_error_from_errno (err);

  /* An owned table answers EPERM to every other socket's NEWTABLE. */
  if (step == STEP_NEW_TABLE && err == EPERM)
    g_set_error_literal (
        error, G_IO_ERROR, code,
        "another process already owns nft table inet " TABLE_NAME
        " in this network namespace "
        "(is conntrackerd already running?)");
  /* NLM_F_EXCL turns an unowned table (made with `nft`) into EEXIST; without
   * it the kernel would try to add the owner flag and answer EOPNOTSUPP. */
  else if (step == STEP_NEW_TABLE && err == EEXIST)
    g_set_error_literal (error, G_IO_ERROR, code,
                         "nft table inet " TABLE_NAME " already exists in "
                         "this network namespace and no process owns it; "
                         "remove it with `nft delete table inet " TABLE_NAME
                         "`");
  /* nfnetlink checks CAP_NET_ADMIN once per batch, answering its first message. */
  else if (step == STEP_BATCH && err == EPERM)
    g_set_error (error, G_IO_ERROR, code, "%s: %s (CAP_NET_ADMIN is needed)",
                 step_names[step], g_strerror (err));
  else
    return set_errno_error (error, step_names[step], err);
  return FALSE;
}

/* Sends the batch and waits for every message's ack, so success means the
 * kernel committed it. Answers outside the batch's sequence numbers belong
 * to other exchanges on this socket and are skipped. */
static gboolean
batch_talk (CtTrackingTable *self, Batch *batch, int ignore_err, GError **error)
{
  char buf[BUF_SIZE];
  guint acked = 0;

  self->seq = batch->base + batch->n + 2;
  batch->last = nftnl_batch_end (batch_tail (batch), self->seq - 1);
  batch_tail (batch);

  if (mnl_socket_sendto (self->nl, batch->buf, batch->len) < 0)
    return set_errno_error (error, step_names[STEP_BATCH], errno);

  while (acked < batch->n)
    {
      ssize_t got = mnl_socket_recvfrom (self->nl, buf, sizeof buf);
      int len = (int)got;

      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "%s: no answer from the kernel within %d s",
                       step_names[batch->steps[acked]], RECV_TIMEOUT_S);
          return FALSE;
        }
      if (got < 0)
        return set_errno_error (error, step_names[batch->steps[acked]], errno);

      for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
           ct_nlmsg_ok (nlh, len); nlh = mnl_nlmsg_next (nlh, &len))
        {
          const struct nlmsgerr *e = mnl_nlmsg_get_payload (nlh);
          guint32 i = nlh->nlmsg_seq - batch->base;

          if (nlh->nlmsg_type != NLMSG_ERROR
              || nlh->nlmsg_len < mnl_nlmsg_size (sizeof *e) || i > batch->n)
            continue;
          if (e->error == 0 || -e->error == ignore_err)
            acked++;
          /* The kernel answers in message order and aborts the whole batch
           * on an error, so the first error is the cause; later ones echo it. */
          else
            return set_kernel_error (
                error, i == 0 ? STEP_BATCH : batch->steps[i - 1], -e->error);
        }
    }
  return TRUE;
}

static void
put_table (Batch *batch, guint16 type, guint16 flags, Step step)
{
  struct nftnl_table *t = or_abort (nftnl_table_alloc ());

  nftnl_table_set_str (t, NFTNL_TABLE_NAME, TABLE_NAME);
  if (type == NFT_MSG_NEWTABLE)
    nftnl_table_set_u32 (t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
  nftnl_table_nlmsg_build_payload (batch_msg (batch, type, flags, step), t);
  nftnl_table_free (t);
}

static void
put_chain (Batch *batch)
{
  struct nftnl_chain *c = or_abort (nftnl_chain_alloc ());

  nftnl_chain_set_str (c, NFTNL_CHAIN_TABLE, TABLE_NAME);
  nftnl_chain_set_str (c, NFTNL_CHAIN_NAME, CHAIN_NAME);
  nftnl_chain_nlmsg_build_payload (batch_msg (batch, NFT_MSG_NEWCHAIN,
                                              NLM_F_CREATE | NLM_F_EXCL,
                                              STEP_NEW_CHAIN),
                                   c);
  nftnl_chain_free (c);
}

/* nft's own encoding of `ct state new,established,related,invalid,untracked`:
 * load the state bitmask, AND it with every state bit, compare != 0. Loading
 * ct state is what makes the kernel start conntrack in this netns. */
static void
put_rule (Batch *batch)
{
  const guint32 all_states
      = NF_CT_STATE_INVALID_BIT | NF_CT_STATE_BIT (IP_CT_ESTABLISHED)
        | NF_CT_STATE_BIT (IP_CT_RELATED) | NF_CT_STATE_BIT (IP_CT_NEW)
        | NF_CT_STATE_UNTRACKED_BIT;
  const guint32 zero = 0;
  struct nftnl_rule *r = or_abort (nftnl_rule_alloc ());
  struct nftnl_expr *ct = or_abort (nftnl_expr_alloc ("ct"));
  struct nftnl_expr *mask = or_abort (nftnl_expr_alloc ("bitwise"));
  struct nftnl_expr *cmp = or_abort (nftnl_expr_alloc ("cmp"));

  nftnl_expr_set_u32 (ct, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
  nftnl_expr_set_u32 (ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
  nftnl_expr_set_u32 (mask, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32 (mask, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32 (mask, NFTNL_EXPR_BITWISE_LEN, sizeof all_states);
  nftnl_expr_set (mask, NFTNL_EXPR_BITWISE_MASK, &all_states,
                  sizeof all_states);
  nftnl_expr_set (mask, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof zero);
  nftnl_expr_set_u32 (cmp, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32 (cmp, NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ);
  nftnl_expr_set (cmp, NFTNL_EXPR_CMP_DATA, &zero, sizeof zero);

  nftnl_rule_set_str (r, NFTNL_RULE_TABLE, TABLE_NAME);
  nftnl_rule_set_str (r, NFTNL_RULE_CHAIN, CHAIN_NAME);
  nftnl_rule_add_expr (r, ct); /* the rule owns its expressions */
  nftnl_rule_add_expr (r, mask);
  nftnl_rule_add_expr (r, cmp);
  nftnl_rule_nlmsg_build_payload (batch_msg (batch, NFT_MSG_NEWRULE,
                                             NLM_F_CREATE | NLM_F_APPEND,
                                             STEP_NEW_RULE),
                                  r);
  nftnl_rule_free (r);
}

CtTrackingTable *
ct_tracking_table_new (GError **error)
{
  g_autoptr (CtTrackingTable) self = g_new0 (CtTrackingTable, 1);
  g_autofree Batch *batch = NULL;
  const struct timeval timeout = { .tv_sec = RECV_TIMEOUT_S };

  /* CLOEXEC: a child holding the socket would keep the table alive after
   * the daemon dies. */
  self->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (self->nl == NULL || mnl_socket_bind (self->nl, 0, MNL_SOCKET_AUTOPID) < 0
      || setsockopt (mnl_socket_get_fd (self->nl), SOL_SOCKET, SO_RCVTIMEO,
                     &timeout, sizeof timeout)
             < 0)
    {
      set_errno_error (error, "opening a netfilter netlink socket", errno);
      return NULL;
    }

  batch = batch_new (1);
  put_table (batch, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL,
             STEP_NEW_TABLE);
  put_chain (batch);
  put_rule (batch);
  if (!batch_talk (self, batch, 0, error))
    return NULL;

  self->created = TRUE;
  return g_steal_pointer (&self);
}

int
ct_tracking_table_get_fd (CtTrackingTable *self)
{
  g_return_val_if_fail (self != NULL, -1);

  return mnl_socket_get_fd (self->nl);
}

void
ct_tracking_table_free (CtTrackingTable *self)
{
  g_autoptr (GError) error = NULL;
  g_autofree Batch *batch = NULL;

  if (self == NULL)
    return;

  /* Closing the socket would remove the table too, but not while a copy of
   * the fd lives on elsewhere; deleting it makes stopping deterministic. */
  if (self->created)
    {
      batch = batch_new (self->seq);
      put_table (batch, NFT_MSG_DELTABLE, 0, STEP_DEL_TABLE);
      if (!batch_talk (self, batch, ENOENT, &error))
        g_warning ("%s", error->message);
    }
  if (self->nl != NULL)
    mnl_socket_close (self->nl);
  g_free (self);
}

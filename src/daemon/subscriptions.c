/* subscriptions.c — pending sets per subscription. The listener runs for
 * every kernel event: with no subscription it returns at once; otherwise
 * it costs one filter match and one hash operation per subscription. */
#include "subscriptions.h"

#include "ct-error.h"

typedef enum
{
  PENDING_ADDED,   /* new since the last flush */
  PENDING_CHANGED, /* known to the subscriber, changed since */
  PENDING_EVICTED, /* known to the subscriber, evicted since */
} PendingKind;

typedef struct
{
  guint64 id; /* the hash key points here */
  PendingKind kind;
} Pending;

struct _CtSubscription
{
  CtSubscriptions *subs;
  guint id;
  char *owner;
  CtFilter *filter;
  guint interval_ms;
  GHashTable *pending; /* &Pending.id -> Pending*, owned */
  GArray *reset;       /* guint64 ids dropped by Reset, uncapped */
  guint64 rate_limited;
  guint64 overruns;
  guint timer;
};

struct _CtSubscriptions
{
  CtStore *store;
  GPtrArray *subs; /* CtSubscription*, owned, in creation order */
  guint last_id;
  CtSubscriptionFlushFunc flush;
  gpointer flush_data;
};

static gboolean
on_timer (gpointer data)
{
  CtSubscription *sub = data;

  sub->timer = 0;
  sub->subs->flush (sub, sub->subs->flush_data);
  return G_SOURCE_REMOVE;
}

/* The first change after a flush starts the interval: an idle
 * subscription costs no wakeups, and two flushes are never closer than
 * interval_ms. */
static void
schedule (CtSubscription *sub)
{
  if (sub->timer == 0 && sub->subs->flush != NULL)
    sub->timer = g_timeout_add (sub->interval_ms, on_timer, sub);
}

static gboolean
pend (CtSubscription *sub, guint64 id, PendingKind kind)
{
  Pending *p;

  if (g_hash_table_size (sub->pending) >= CT_SUBSCRIPTION_MAX_PENDING)
    {
      sub->rate_limited++;
      schedule (sub);
      return FALSE;
    }
  p = g_new (Pending, 1);
  p->id = id;
  p->kind = kind;
  g_hash_table_add (sub->pending, p);
  schedule (sub);
  /* cppcheck-suppress memleak ; the table owns p, key and value */
  return TRUE;
}

static void
on_added (CtFlow *flow, gpointer data)
{
  CtSubscriptions *subs = data;

  for (guint i = 0; i < subs->subs->len; i++)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);

      /* The store has just set last_seen to the event's time. */
      if (ct_filter_match (sub->filter, flow, flow->last_seen))
        pend (sub, flow->id, PENDING_ADDED);
    }
}

static void
on_changed (CtFlow *flow, gpointer data)
{
  CtSubscriptions *subs = data;

  for (guint i = 0; i < subs->subs->len; i++)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);

      /* Already pending (added or changed): the flush sends the flow as
       * it is then. A flow that comes to match only now is sent as
       * changed: subscribers treat FlowsChanged as add-or-update. */
      if (g_hash_table_contains (sub->pending, &flow->id))
        continue;
      if (ct_filter_match (sub->filter, flow, flow->last_seen))
        pend (sub, flow->id, PENDING_CHANGED);
    }
}

static void
on_removed (const CtFlow *flow, CtFlowRemoval why, gpointer data)
{
  CtSubscriptions *subs = data;
  gint64 now = 0;

  for (guint i = 0; i < subs->subs->len; i++)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);
      Pending *p = g_hash_table_lookup (sub->pending, &flow->id);

      if (p != NULL && p->kind == PENDING_ADDED)
        {
          /* Never sent: the subscriber need not hear of it at all. */
          g_hash_table_remove (sub->pending, &flow->id);
          continue;
        }
      if (p == NULL)
        {
          if (now == 0)
            now = g_get_real_time ();
          if (!ct_filter_match (sub->filter, flow, now))
            continue;
        }
      if (why == CT_FLOW_REMOVED_RESET)
        {
          if (p != NULL)
            g_hash_table_remove (sub->pending, &flow->id);
          g_array_append_val (sub->reset, flow->id);
          schedule (sub);
        }
      else if (p != NULL)
        p->kind = PENDING_EVICTED;
      else
        pend (sub, flow->id, PENDING_EVICTED);
    }
}

/* The store calls these for every kernel event. With no subscription each
 * is one load and one branch (the loop bound) and allocates nothing. */
static const CtStoreListener listener = {
  .added = on_added,
  .changed = on_changed,
  .removed = on_removed,
};

static void
subscription_free (gpointer p)
{
  CtSubscription *sub = p;

  g_clear_handle_id (&sub->timer, g_source_remove);
  g_hash_table_destroy (sub->pending);
  g_array_unref (sub->reset);
  ct_filter_free (sub->filter);
  g_free (sub->owner);
  g_free (sub);
}

CtSubscriptions *
ct_subscriptions_new (CtStore *store, CtSubscriptionFlushFunc flush,
                      gpointer user_data)
{
  CtSubscriptions *subs = g_new0 (CtSubscriptions, 1);

  subs->store = store;
  subs->subs = g_ptr_array_new_with_free_func (subscription_free);
  subs->flush = flush;
  subs->flush_data = user_data;
  ct_store_add_listener (store, &listener, subs);
  return subs;
}

void
ct_subscriptions_free (CtSubscriptions *subs)
{
  if (subs == NULL)
    return;
  g_ptr_array_unref (subs->subs);
  g_free (subs);
}

guint
ct_subscriptions_count_owner (CtSubscriptions *subs, const char *owner)
{
  guint n = 0;

  for (guint i = 0; i < subs->subs->len; i++)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);

      if (g_str_equal (sub->owner, owner))
        n++;
    }
  return n;
}

guint
ct_subscriptions_get_n (CtSubscriptions *subs)
{
  return subs->subs->len;
}

static gboolean
id_in_use (CtSubscriptions *subs, guint id)
{
  for (guint i = 0; i < subs->subs->len; i++)
    if (((CtSubscription *)g_ptr_array_index (subs->subs, i))->id == id)
      return TRUE;
  return FALSE;
}

CtSubscription *
ct_subscriptions_add (CtSubscriptions *subs, const char *owner,
                      CtFilter *filter, guint interval_ms, GError **error)
{
  CtSubscription *sub;

  g_return_val_if_fail (owner != NULL && filter != NULL, NULL);

  if (ct_subscriptions_count_owner (subs, owner) >= CT_SUBSCRIPTIONS_PER_CLIENT)
    {
      ct_filter_free (filter);
      g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_LIMIT_EXCEEDED,
                   "this client already holds %u subscriptions, the "
                   "maximum; unsubscribe first",
                   CT_SUBSCRIPTIONS_PER_CLIENT);
      return NULL;
    }
  if (subs->subs->len >= CT_SUBSCRIPTIONS_MAX)
    {
      ct_filter_free (filter);
      g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_LIMIT_EXCEEDED,
                   "the daemon already serves %u subscriptions, the "
                   "maximum for all clients together",
                   CT_SUBSCRIPTIONS_MAX);
      return NULL;
    }

  sub = g_new0 (CtSubscription, 1);
  sub->subs = subs;
  /* Ids start at 1 and are not reused while in use, even after the
   * counter wraps. */
  do
    subs->last_id++;
  while (subs->last_id == 0 || id_in_use (subs, subs->last_id));
  sub->id = subs->last_id;
  sub->owner = g_strdup (owner);
  sub->filter = filter;
  sub->interval_ms = MAX (interval_ms, 1);
  sub->pending
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);
  sub->reset = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_ptr_array_add (subs->subs, sub);
  return sub;
}

gboolean
ct_subscriptions_remove (CtSubscriptions *subs, const char *owner, guint id)
{
  for (guint i = 0; i < subs->subs->len; i++)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);

      if (sub->id == id && g_str_equal (sub->owner, owner))
        {
          g_ptr_array_remove_index (subs->subs, i);
          return TRUE;
        }
    }
  return FALSE;
}

guint
ct_subscriptions_remove_owner (CtSubscriptions *subs, const char *owner)
{
  guint n = 0;

  for (guint i = subs->subs->len; i-- > 0;)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);

      if (g_str_equal (sub->owner, owner))
        {
          g_ptr_array_remove_index (subs->subs, i);
          n++;
        }
    }
  return n;
}

void
ct_subscriptions_note_overruns (CtSubscriptions *subs, guint64 n)
{
  for (guint i = 0; n > 0 && i < subs->subs->len; i++)
    {
      CtSubscription *sub = g_ptr_array_index (subs->subs, i);

      sub->overruns += n;
      schedule (sub);
    }
}

guint
ct_subscription_get_id (const CtSubscription *sub)
{
  return sub->id;
}

const char *
ct_subscription_get_owner (const CtSubscription *sub)
{
  return sub->owner;
}

guint
ct_subscription_get_interval (const CtSubscription *sub)
{
  return sub->interval_ms;
}

static int
compare_id (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;

  return x < y ? -1 : x > y ? 1 : 0;
}

gboolean
ct_subscription_take_batch (CtSubscription *sub, CtSubscriptionBatch *batch)
{
  GHashTableIter iter;
  gpointer value;
  gboolean any;

  batch->added = g_array_new (FALSE, FALSE, sizeof (guint64));
  batch->changed = g_array_new (FALSE, FALSE, sizeof (guint64));
  batch->evicted = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_hash_table_iter_init (&iter, sub->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const Pending *p = value;
      GArray *to = p->kind == PENDING_ADDED     ? batch->added
                   : p->kind == PENDING_CHANGED ? batch->changed
                                                : batch->evicted;

      g_array_append_val (to, p->id);
    }
  g_hash_table_remove_all (sub->pending);
  g_array_sort (batch->added, compare_id);
  g_array_sort (batch->changed, compare_id);
  g_array_sort (batch->evicted, compare_id);

  batch->reset = sub->reset;
  sub->reset = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_array_sort (batch->reset, compare_id);
  batch->rate_limited = sub->rate_limited;
  batch->overruns = sub->overruns;
  sub->rate_limited = 0;
  sub->overruns = 0;

  any = batch->added->len > 0 || batch->changed->len > 0
        || batch->evicted->len > 0 || batch->reset->len > 0
        || batch->rate_limited > 0 || batch->overruns > 0;
  return any;
}

void
ct_subscription_batch_clear (CtSubscriptionBatch *batch)
{
  g_clear_pointer (&batch->added, g_array_unref);
  g_clear_pointer (&batch->changed, g_array_unref);
  g_clear_pointer (&batch->evicted, g_array_unref);
  g_clear_pointer (&batch->reset, g_array_unref);
  batch->rate_limited = 0;
  batch->overruns = 0;
}

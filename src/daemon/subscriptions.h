/* subscriptions.h — Subscribe without the bus: a store listener files flow
 * ids into each subscription's pending set (filtered, deduplicated,
 * capped) and a timer per subscription asks for a flush. Sends nothing:
 * dbus-service.c turns batches into signals. */
#pragma once

#include "filter.h"
#include "store.h"

G_BEGIN_DECLS

#define CT_SUBSCRIPTIONS_PER_CLIENT 8u
#define CT_SUBSCRIPTIONS_MAX        64u
/* Changes one subscription may hold between two flushes; more are counted
 * as lost ("rate-limit"). Removals by Reset are exempt: a client must
 * learn every id a reset dropped. */
#define CT_SUBSCRIPTION_MAX_PENDING 1000u
/* Flows or ids per signal. */
#define CT_SUBSCRIPTION_BATCH 1000u

typedef struct _CtSubscriptions CtSubscriptions;
typedef struct _CtSubscription CtSubscription;

/* What one flush sends. The id arrays (guint64, ascending) are disjoint:
 * ids are never reused, and a flow added and removed within one interval
 * appears in none. */
typedef struct
{
  GArray *added;
  GArray *changed;
  GArray *evicted;      /* FlowsRemoved "evicted" */
  GArray *reset;        /* FlowsRemoved "reset" */
  guint64 rate_limited; /* EventsLost "rate-limit" */
  guint64 overruns;     /* EventsLost "kernel-overrun" */
} CtSubscriptionBatch;

/* Called from the main loop once a subscription's interval has passed
 * since its first pending change: call ct_subscription_take_batch. */
typedef void (*CtSubscriptionFlushFunc) (CtSubscription *sub,
                                         gpointer user_data);

/* Adds a listener to the store (store listeners cannot be removed): free
 * this only once the store no longer changes. flush may be NULL (tests):
 * then no timers run. */
CtSubscriptions *ct_subscriptions_new (CtStore *store,
                                       CtSubscriptionFlushFunc flush,
                                       gpointer user_data);
void ct_subscriptions_free (CtSubscriptions *subs);

/* Takes the filter. Fails with CT_DBUS_ERROR_LIMIT_EXCEEDED when owner
 * holds CT_SUBSCRIPTIONS_PER_CLIENT or the daemon CT_SUBSCRIPTIONS_MAX. */
CtSubscription *ct_subscriptions_add (CtSubscriptions *subs, const char *owner,
                                      CtFilter *filter, guint interval_ms,
                                      GError **error);
/* FALSE when owner holds no subscription with that id. */
gboolean ct_subscriptions_remove (CtSubscriptions *subs, const char *owner,
                                  guint id);
/* Drops every subscription of owner; returns how many. */
guint ct_subscriptions_remove_owner (CtSubscriptions *subs, const char *owner);
guint ct_subscriptions_count_owner (CtSubscriptions *subs, const char *owner);
guint ct_subscriptions_get_n (CtSubscriptions *subs);

/* The kernel dropped events n times: every subscription is told. */
void ct_subscriptions_note_overruns (CtSubscriptions *subs, guint64 n);

guint ct_subscription_get_id (const CtSubscription *sub);
const char *ct_subscription_get_owner (const CtSubscription *sub);
guint ct_subscription_get_interval (const CtSubscription *sub);

/* Moves everything pending into batch (initialised here; clear it with
 * ct_subscription_batch_clear). FALSE when there was nothing to send. */
gboolean ct_subscription_take_batch (CtSubscription *sub,
                                     CtSubscriptionBatch *batch);
void ct_subscription_batch_clear (CtSubscriptionBatch *batch);

G_END_DECLS

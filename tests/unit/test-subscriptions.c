/* Subscriptions without a bus: what a flush would send after a sequence
 * of store events (filtering, dedup, add-then-remove, eviction, reset),
 * the caps, the per-client limits and the flush timer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "ct-error.h"
#include "subscriptions.h"

static CtConnEvent
ev (CtEventType type, guint32 id, guint8 proto, guint16 dport)
{
  CtConnEvent e = { 0 };

  e.type = type;
  e.family = AF_INET;
  e.proto = proto;
  e.has_id = TRUE;
  e.id = id;
  inet_pton (AF_INET, "10.0.0.1", e.orig.src);
  inet_pton (AF_INET, "10.0.0.2", e.orig.dst);
  e.orig.sport = 40000 + (guint16)id;
  e.orig.dport = dport;
  memcpy (e.reply.src, e.orig.dst, 16);
  memcpy (e.reply.dst, e.orig.src, 16);
  e.reply.sport = dport;
  e.reply.dport = e.orig.sport;
  return e;
}

/* Applies a NEW for conntrack id `id`: a new flow per distinct dport. */
static void
new_conn (CtStore *store, guint32 id, guint8 proto, guint16 dport)
{
  CtConnEvent e = ev (CT_EVENT_NEW, id, proto, dport);

  ct_store_apply (store, &e, g_get_real_time ());
}

static void
update_conn (CtStore *store, guint32 id, guint8 proto, guint16 dport)
{
  CtConnEvent e = ev (CT_EVENT_UPDATE, id, proto, dport);

  ct_store_apply (store, &e, g_get_real_time ());
}

static CtFilter *
filter (const char *text)
{
  g_autoptr (GError) error = NULL;
  CtFilter *f = ct_filter_parse (text, &error);

  g_assert_no_error (error);
  return f;
}

static char *
ids (GArray *a)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < a->len; i++)
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT, i ? "," : "",
                            g_array_index (a, guint64, i));
  return g_string_free (s, FALSE);
}

/* "added|changed|evicted|reset|rate-limited|overruns" of the next batch. */
static char *
take (CtSubscription *sub)
{
  CtSubscriptionBatch b;
  g_autofree char *a = NULL, *c = NULL, *e = NULL, *r = NULL;
  char *out;

  if (!ct_subscription_take_batch (sub, &b))
    {
      ct_subscription_batch_clear (&b);
      return g_strdup ("nothing");
    }
  a = ids (b.added);
  c = ids (b.changed);
  e = ids (b.evicted);
  r = ids (b.reset);
  out = g_strdup_printf ("%s|%s|%s|%s|%" G_GUINT64_FORMAT "|%" G_GUINT64_FORMAT,
                         a, c, e, r, b.rate_limited, b.overruns);
  ct_subscription_batch_clear (&b);
  return out;
}

#define ASSERT_BATCH(sub, expected)                                            \
  do                                                                           \
    {                                                                          \
      g_autofree char *got_ = take (sub);                                      \
      g_assert_cmpstr (got_, ==, expected);                                    \
    }                                                                          \
  while (0)

static void
test_filter_and_dedup (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtSubscriptions *subs = ct_subscriptions_new (store, NULL, NULL);
  CtSubscription *tcp, *all;

  tcp = ct_subscriptions_add (subs, ":1.1", filter ("proto tcp"), 500, NULL);
  all = ct_subscriptions_add (subs, ":1.2", filter (""), 500, NULL);
  ASSERT_BATCH (tcp, "nothing");

  new_conn (store, 1, IPPROTO_TCP, 22); /* flow 1 */
  new_conn (store, 2, IPPROTO_UDP, 53); /* flow 2 */
  update_conn (store, 1, IPPROTO_TCP, 22);
  new_conn (store, 3, IPPROTO_TCP, 22); /* same flow 1, another entry */
  /* Added once, however often it changed before the flush. */
  ASSERT_BATCH (tcp, "1||||0|0");
  ASSERT_BATCH (all, "1,2||||0|0");
  ASSERT_BATCH (all, "nothing");

  update_conn (store, 1, IPPROTO_TCP, 22);
  update_conn (store, 2, IPPROTO_UDP, 53);
  update_conn (store, 1, IPPROTO_TCP, 22);
  ASSERT_BATCH (tcp, "|1|||0|0");
  ASSERT_BATCH (all, "|1,2|||0|0");
  ct_subscriptions_free (subs);
}

static void
test_removal (void)
{
  g_autoptr (CtStore) store = ct_store_new (2, TRUE);
  CtSubscriptions *subs = ct_subscriptions_new (store, NULL, NULL);
  CtSubscription *sub
      = ct_subscriptions_add (subs, ":1.1", filter (""), 500, NULL);

  new_conn (store, 1, IPPROTO_TCP, 1); /* flow 1 */
  new_conn (store, 2, IPPROTO_TCP, 2); /* flow 2 */
  ASSERT_BATCH (sub, "1,2||||0|0");

  /* Flow 3 evicts flow 1 (sent before: reported). Flow 2 changes, so
   * flow 4 evicts flow 3, which was never sent: dropped silently. Flow 5
   * evicts flow 2 (sent, changed since: reported as evicted). */
  new_conn (store, 3, IPPROTO_TCP, 3);
  update_conn (store, 2, IPPROTO_TCP, 2);
  new_conn (store, 4, IPPROTO_TCP, 4);
  new_conn (store, 5, IPPROTO_TCP, 5);
  ASSERT_BATCH (sub, "4,5||1,2||0|0");

  /* Reset: everything known goes, ascending; pending adds vanish. */
  update_conn (store, 4, IPPROTO_TCP, 4);
  new_conn (store, 6, IPPROTO_TCP, 6); /* evicts flow 5: known */
  ct_store_reset (store);
  ASSERT_BATCH (sub, "||5|4|0|0");
  ct_subscriptions_free (subs);
}

static void
test_removal_filtered (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtSubscriptions *subs = ct_subscriptions_new (store, NULL, NULL);
  CtSubscription *sub
      = ct_subscriptions_add (subs, ":1.1", filter ("proto udp"), 500, NULL);

  new_conn (store, 1, IPPROTO_TCP, 1);
  new_conn (store, 2, IPPROTO_UDP, 2);
  ASSERT_BATCH (sub, "2||||0|0");
  /* Only flows matching the filter are reported gone. */
  ct_store_reset (store);
  ASSERT_BATCH (sub, "|||2|0|0");
  ct_subscriptions_free (subs);
}

static void
test_rate_limit (void)
{
  g_autoptr (CtStore) store = ct_store_new (100000, TRUE);
  CtSubscriptions *subs = ct_subscriptions_new (store, NULL, NULL);
  CtSubscription *sub
      = ct_subscriptions_add (subs, ":1.1", filter (""), 500, NULL);
  CtSubscriptionBatch b;
  guint n = CT_SUBSCRIPTION_MAX_PENDING + 25;

  for (guint i = 1; i <= n; i++)
    new_conn (store, i, IPPROTO_UDP, (guint16)i);
  g_assert_true (ct_subscription_take_batch (sub, &b));
  g_assert_cmpuint (b.added->len, ==, CT_SUBSCRIPTION_MAX_PENDING);
  g_assert_cmpuint (b.rate_limited, ==, 25);
  /* The first ones made it, in order. */
  g_assert_cmpuint (g_array_index (b.added, guint64, 0), ==, 1);
  ct_subscription_batch_clear (&b);

  /* The count restarts after each flush; a reset is never capped (and
   * reports the flows lost to the cap too: they match the filter). */
  ct_store_reset (store);
  g_assert_true (ct_subscription_take_batch (sub, &b));
  g_assert_cmpuint (b.reset->len, ==, n);
  g_assert_cmpuint (b.rate_limited, ==, 0);
  ct_subscription_batch_clear (&b);
  ct_subscriptions_free (subs);
}

static void
test_overruns (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtSubscriptions *subs = ct_subscriptions_new (store, NULL, NULL);
  CtSubscription *a
      = ct_subscriptions_add (subs, ":1.1", filter (""), 500, NULL);
  CtSubscription *b
      = ct_subscriptions_add (subs, ":1.2", filter ("proto sctp"), 500, NULL);

  ct_subscriptions_note_overruns (subs, 2);
  ct_subscriptions_note_overruns (subs, 1);
  ASSERT_BATCH (a, "||||0|3");
  ASSERT_BATCH (b, "||||0|3");
  ASSERT_BATCH (a, "nothing");
  ct_subscriptions_free (subs);
}

static void
test_limits (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  CtSubscriptions *subs = ct_subscriptions_new (store, NULL, NULL);
  g_autoptr (GError) error = NULL;
  guint first = 0;

  for (guint i = 0; i < CT_SUBSCRIPTIONS_PER_CLIENT; i++)
    {
      CtSubscription *s
          = ct_subscriptions_add (subs, ":1.1", filter (""), 100, &error);

      g_assert_no_error (error);
      if (i == 0)
        first = ct_subscription_get_id (s);
      g_assert_cmpstr (ct_subscription_get_owner (s), ==, ":1.1");
    }
  g_assert_null (ct_subscriptions_add (subs, ":1.1", filter (""), 100, &error));
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_LIMIT_EXCEEDED);
  g_assert_cmpstr (error->message, ==,
                   "this client already holds 8 subscriptions, the maximum; "
                   "unsubscribe first");
  g_clear_error (&error);

  /* Only the owner may unsubscribe; then there is room again. */
  g_assert_false (ct_subscriptions_remove (subs, ":1.2", first));
  g_assert_true (ct_subscriptions_remove (subs, ":1.1", first));
  g_assert_false (ct_subscriptions_remove (subs, ":1.1", first));
  g_assert_nonnull (
      ct_subscriptions_add (subs, ":1.1", filter (""), 100, &error));

  /* The daemon-wide cap. */
  for (guint c = 2; ct_subscriptions_get_n (subs) < CT_SUBSCRIPTIONS_MAX; c++)
    {
      g_autofree char *owner = g_strdup_printf (":1.%u", c);

      g_assert_nonnull (
          ct_subscriptions_add (subs, owner, filter (""), 100, &error));
    }
  g_assert_null (
      ct_subscriptions_add (subs, ":1.999", filter (""), 100, &error));
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);

  /* A client that leaves takes all its subscriptions along. */
  g_assert_cmpuint (ct_subscriptions_count_owner (subs, ":1.1"), ==, 8);
  g_assert_cmpuint (ct_subscriptions_remove_owner (subs, ":1.1"), ==, 8);
  g_assert_cmpuint (ct_subscriptions_count_owner (subs, ":1.1"), ==, 0);
  g_assert_cmpuint (ct_subscriptions_get_n (subs), ==,
                    CT_SUBSCRIPTIONS_MAX - 8);
  ct_subscriptions_free (subs);
}

typedef struct
{
  GMainLoop *loop;
  guint flushes;
  gint64 at;
  char *batch;
} TimerState;

static void
on_flush (CtSubscription *sub, gpointer data)
{
  TimerState *st = data;

  st->flushes++;
  st->at = g_get_monotonic_time ();
  g_free (st->batch);
  st->batch = take (sub);
  g_main_loop_quit (st->loop);
}

static gboolean
on_give_up (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
test_timer (void)
{
  g_autoptr (CtStore) store = ct_store_new (100, TRUE);
  TimerState st = { g_main_loop_new (NULL, FALSE), 0, 0, NULL };
  CtSubscriptions *subs = ct_subscriptions_new (store, on_flush, &st);
  gint64 start;
  guint give_up;

  ct_subscriptions_add (subs, ":1.1", filter (""), 100, NULL);
  /* Idle: no timer, no flush. */
  give_up = g_timeout_add (300, on_give_up, st.loop);
  g_main_loop_run (st.loop);
  g_assert_cmpuint (st.flushes, ==, 0);

  /* The first change starts the interval; more changes join the batch. */
  start = g_get_monotonic_time ();
  new_conn (store, 1, IPPROTO_TCP, 1);
  new_conn (store, 2, IPPROTO_TCP, 2);
  give_up = g_timeout_add (5000, on_give_up, st.loop);
  g_main_loop_run (st.loop);
  g_source_remove (give_up);
  g_assert_cmpuint (st.flushes, ==, 1);
  g_assert_cmpstr (st.batch, ==, "1,2||||0|0");
  g_assert_cmpint (st.at - start, >=, 100 * 1000);

  /* Removing a subscription stops its timer. */
  new_conn (store, 3, IPPROTO_TCP, 3);
  ct_subscriptions_remove_owner (subs, ":1.1");
  give_up = g_timeout_add (300, on_give_up, st.loop);
  g_main_loop_run (st.loop);
  g_assert_cmpuint (st.flushes, ==, 1);

  ct_subscriptions_free (subs);
  g_main_loop_unref (st.loop);
  g_free (st.batch);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/subscriptions/filter-and-dedup", test_filter_and_dedup);
  g_test_add_func ("/subscriptions/removal", test_removal);
  g_test_add_func ("/subscriptions/removal-filtered", test_removal_filtered);
  g_test_add_func ("/subscriptions/rate-limit", test_rate_limit);
  g_test_add_func ("/subscriptions/overruns", test_overruns);
  g_test_add_func ("/subscriptions/limits", test_limits);
  g_test_add_func ("/subscriptions/timer", test_timer);
  return g_test_run ();
}

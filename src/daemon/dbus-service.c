/* dbus-service.c — the D-Bus face of the daemon. Every method is answered
 * asynchronously: validate the arguments, authorize, then do the work. The
 * same skeleton is exported on the system bus connection and on every
 * peer-to-peer connection (peer-server.c). */
#include "config.h"

#include "dbus-service.h"

#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "authority.h"
#include "ct-dbus-generated.h"
#include "ct-error.h"
#include "dump-stream.h"
#include "flow-variant.h"
#include "log-ids.h"
#include "peer-server.h"
#include "query.h"
#include "subscriptions.h"

#define PROPERTIES_INTERVAL_S 1
#define RELEASE_TIMEOUT_MS    2000
#define DRAIN_TIMEOUT_US      (2 * G_USEC_PER_SEC)

/* Subscription owners of peer-to-peer connections: "peer:N", which no bus
 * name can be (unique names start with ':'). */
#define PEER_OWNER_PREFIX "peer:"

/* org.freedesktop.DBus.RequestName flags and replies. */
#define NAME_FLAG_DO_NOT_QUEUE 4
#define NAME_PRIMARY_OWNER     1
#define NAME_EXISTS            3
#define NAME_ALREADY_OWNER     4

struct _CtDBusService
{
  CtStore *store;
  CtSource *source;
  CtDBusServiceStateFunc state_func;
  gpointer state_data;
  CtDBusFlows *skeleton;
  GDBusConnection *conn;
  GCancellable *cancellable;
  CtSubscriptions *subs;
  GHashTable *watches; /* subscriber's unique name -> watch id */
  CtPeerServer *peer_server;
  GHashTable *peers;       /* GDBusConnection * -> Peer * (owned) */
  GHashTable *peer_owners; /* "peer:N" -> Peer * */
  guint64 peer_seq;
  guint name_lost_sub;
  gulong closed_handler;
  guint props_timer;
  guint64 overruns_seen;
  const CtDBusTracerOps *tracer_ops; /* NULL: tracing is disabled (-c) */
  gpointer tracer;
  gboolean owned;
  gboolean stopping;
  guint n_pending; /* async operations that will call back into us */
};

/* One peer-to-peer connection. */
typedef struct
{
  CtDBusService *svc;
  GDBusConnection *conn;
  char *owner; /* "peer:N" */
  gulong closed_handler;
} Peer;

/* One method call on its way through authorization and work. */
typedef struct
{
  CtDBusService *svc;
  GDBusMethodInvocation *invocation; /* the reply consumes it */
  CtQuery *query;
  int fd;          /* DumpFlows: ours until the stream takes it */
  guint64 flow_id; /* GetFlow */
  /* Trace control. */
  CtTraceMode mode;     /* SetTraceMode */
  CtTraceFilter filter; /* TraceFilter, with its text and seconds */
  char *filter_text;
  guint seconds;
  guint trace_id; /* StopTraceFilter */
} Call;

static Call *
call_new (CtDBusService *svc, GDBusMethodInvocation *invocation, CtQuery *query)
{
  Call *call = g_new0 (Call, 1);

  call->svc = svc;
  call->invocation = invocation;
  call->query = query;
  call->fd = -1;
  svc->n_pending++;
  return call;
}

static void
call_free (Call *call)
{
  call->svc->n_pending--;
  ct_query_free (call->query);
  g_free (call->filter_text);
  if (call->fd >= 0)
    close (call->fd);
  g_free (call);
}

/* Replies with error (consuming the invocation) and frees the call. */
static void
call_fail (Call *call, const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_dbus_method_invocation_return_error_literal (
        call->invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED,
        "conntrackerd is stopping");
  else if (error->domain == CT_DBUS_ERROR)
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else
    g_dbus_method_invocation_return_error (call->invocation, CT_DBUS_ERROR,
                                           CT_DBUS_ERROR_FAILED, "%s",
                                           error->message);
  call_free (call);
}

/* Finishes the authorization step: FALSE (after replying) when denied. */
static gboolean
call_authorized (Call *call, GAsyncResult *res)
{
  g_autoptr (GError) error = NULL;

  if (ct_authority_check_finish (res, &error)
      && !g_cancellable_is_cancelled (call->svc->cancellable))
    return TRUE;
  if (error == NULL)
    error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
  call_fail (call, error);
  return FALSE;
}

static void
authorize (Call *call, CtAction action, GAsyncReadyCallback then)
{
  ct_authority_check_async (call->invocation, action, call->svc->cancellable,
                            then, call);
}

static Peer *
peer_of (CtDBusService *svc, GDBusMethodInvocation *invocation)
{
  return g_hash_table_lookup (
      svc->peers, g_dbus_method_invocation_get_connection (invocation));
}

/* Who holds the caller's subscriptions: its unique name on the bus, or
 * "peer:N" for a peer-to-peer connection (whose messages' sender field is
 * the peer's own invention). NULL once a peer's connection closed. */
static const char *
owner_of (CtDBusService *svc, GDBusMethodInvocation *invocation)
{
  Peer *peer = peer_of (svc, invocation);

  if (peer != NULL)
    return peer->owner;
  if (svc->conn == NULL
      || g_dbus_method_invocation_get_connection (invocation) != svc->conn)
    return NULL;
  return g_dbus_method_invocation_get_sender (invocation);
}

/* The caller, for the log. */
static const char *
caller_of (CtDBusService *svc, GDBusMethodInvocation *invocation)
{
  const char *owner = owner_of (svc, invocation);

  return owner != NULL ? owner : "a closed peer connection";
}

static GVariant *
flows_to_variant (GPtrArray *flows)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < flows->len; i++)
    g_variant_builder_add_value (
        &b, ct_flow_to_variant (g_ptr_array_index (flows, i),
                                CT_FLOW_VARIANT_DEFAULT));
  return g_variant_builder_end (&b);
}

/* --- ListFlows ----------------------------------------------------------- */

static void
list_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  g_autoptr (GPtrArray) flows = NULL;
  guint total = 0;

  if (!call_authorized (call, res))
    return;
  flows = ct_query_select (call->query, svc->store, g_get_real_time (), &total);
  ct_dbus_flows_complete_list_flows (svc->skeleton, call->invocation,
                                     flows_to_variant (flows), total);
  call_free (call);
}

static gboolean
handle_list_flows (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                   GVariant *query, gpointer data)
{
  g_autoptr (GError) error = NULL;
  CtQuery *q = ct_query_parse (query, CT_QUERY_LIST, &error);

  if (q == NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    authorize (call_new (data, invocation, q), CT_ACTION_READ, list_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- GetFlow ------------------------------------------------------------- */

static void
get_flow_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  guint64 id = call->flow_id;
  CtFlow *flow;

  if (!call_authorized (call, res))
    return;
  flow = ct_store_lookup_id (call->svc->store, id);
  if (flow == NULL)
    {
      g_dbus_method_invocation_return_error (
          call->invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_NO_SUCH_FLOW,
          "no flow has id %" G_GUINT64_FORMAT
          " (never, or not any more: it may have been evicted or reset)",
          id);
      call_free (call);
      return;
    }
  ct_flow_sort_hits (flow);
  ct_dbus_flows_complete_get_flow (
      call->svc->skeleton, call->invocation,
      ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));
  call_free (call);
}

static gboolean
handle_get_flow (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                 guint64 id, gpointer data)
{
  Call *call = call_new (data, invocation, NULL);

  call->flow_id = id;
  authorize (call, CT_ACTION_READ, get_flow_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- DumpFlows ----------------------------------------------------------- */

static void
dump_written (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  guint count = 0;

  if (!ct_dump_stream_finish (res, &count, &error))
    {
      g_autoptr (GError) failed = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          call_fail (call, error);
          return;
        }
      failed = g_error_new (
          CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED, "writing the dump failed: %s%s",
          error->message,
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)
              ? " (the reader went away)"
              : "");
      g_debug ("DumpFlows for %s: %s", caller_of (call->svc, call->invocation),
               failed->message);
      call_fail (call, failed);
      return;
    }
  ct_dbus_flows_complete_dump_flows (call->svc->skeleton, call->invocation,
                                     count);
  call_free (call);
}

static void
dump_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  g_autoptr (GPtrArray) flows = NULL;
  GArray *ids;
  guint total = 0;

  if (!call_authorized (call, res))
    return;
  /* Ids, not pointers: flows may be evicted while the dump is written. */
  flows = ct_query_select (call->query, svc->store, g_get_real_time (), &total);
  ids = g_array_sized_new (FALSE, FALSE, sizeof (guint64), flows->len);
  for (guint i = 0; i < flows->len; i++)
    g_array_append_val (ids, ((CtFlow *)g_ptr_array_index (flows, i))->id);
  ct_dump_stream_async (svc->store, ids, call->query->format, call->fd,
                        svc->cancellable, dump_written, call);
  call->fd = -1; /* the stream owns it now */
}

static gboolean
handle_dump_flows (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                   GVariant *query, GVariant *fd_handle, gpointer data)
{
  GDBusMessage *msg = g_dbus_method_invocation_get_message (invocation);
  GUnixFDList *fds = g_dbus_message_get_unix_fd_list (msg);
  gint32 handle = g_variant_get_handle (fd_handle);
  g_autoptr (GError) error = NULL;
  g_autoptr (CtQuery) q = ct_query_parse (query, CT_QUERY_DUMP, &error);
  int fd = -1;

  if (q == NULL)
    goto fail;
  if (fds == NULL || handle < 0 || handle >= g_unix_fd_list_get_length (fds))
    {
      g_set_error (&error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                   "no file descriptor came with the call for handle %d",
                   handle);
      goto fail;
    }
  fd = g_unix_fd_list_get (fds, handle, &error);
  if (fd < 0)
    goto fail;
  if (!ct_dump_stream_check_fd (fd, &error))
    {
      close (fd);
      goto fail;
    }
  {
    Call *call = call_new (data, invocation, g_steal_pointer (&q));

    call->fd = fd;
    authorize (call, CT_ACTION_READ, dump_authorized);
  }
  return G_DBUS_METHOD_INVOCATION_HANDLED;

fail:
  if (error->domain != CT_DBUS_ERROR)
    {
      GError *mapped
          = g_error_new (CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED,
                         "cannot use the file descriptor: %s", error->message);

      g_clear_error (&error);
      error = mapped;
    }
  g_dbus_method_invocation_return_gerror (invocation, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- Reset --------------------------------------------------------------- */

static void
reset_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  guint n;

  if (!call_authorized (call, res))
    return;
  n = ct_store_get_n_flows (svc->store);
  ct_store_reset (svc->store);
  ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_STORE_RESET,
                CT_LOG_FIELDS ("CT_FLOWS", CT_LOG_U64 (n), "CT_CALLER",
                               caller_of (svc, call->invocation)),
                "store reset by %s: %u flows forgotten",
                caller_of (svc, call->invocation), n);
  ct_dbus_flows_complete_reset (svc->skeleton, call->invocation);
  call_free (call);
}

static gboolean
handle_reset (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
              gpointer data)
{
  authorize (call_new (data, invocation, NULL), CT_ACTION_RESET,
             reset_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- Subscribe, Unsubscribe, signals ------------------------------------- */

static void
on_subscriber_vanished (GDBusConnection *conn, const char *name, gpointer data)
{
  CtDBusService *svc = data;
  guint n = ct_subscriptions_remove_owner (svc->subs, name);

  g_debug ("%s left the bus: %u subscription(s) dropped", name, n);
  g_hash_table_remove (svc->watches, name);
}

static void
subscribe_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  const char *owner;
  g_autoptr (GError) error = NULL;
  CtSubscription *sub;

  if (!call_authorized (call, res))
    return;
  /* Now, not before: a peer that closed meanwhile subscribes nothing. */
  owner = owner_of (svc, call->invocation);
  if (owner == NULL)
    {
      error = g_error_new_literal (CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED,
                                   "the connection closed");
      call_fail (call, error);
      return;
    }
  sub = ct_subscriptions_add (svc->subs, owner,
                              ct_query_steal_filter (call->query),
                              call->query->interval_ms, &error);
  if (sub == NULL)
    {
      call_fail (call, error);
      return;
    }
  if (!g_str_has_prefix (owner, PEER_OWNER_PREFIX)
      && !g_hash_table_contains (svc->watches, owner))
    {
      /* Fires at once if the name is already gone. */
      guint watch = g_bus_watch_name_on_connection (
          svc->conn, owner, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
          on_subscriber_vanished, svc, NULL);

      g_hash_table_insert (svc->watches, g_strdup (owner),
                           GUINT_TO_POINTER (watch));
    }
  g_debug ("%s subscribed: id %u, every %u ms", owner,
           ct_subscription_get_id (sub), ct_subscription_get_interval (sub));
  ct_dbus_flows_complete_subscribe (svc->skeleton, call->invocation,
                                    ct_subscription_get_id (sub));
  call_free (call);
}

static gboolean
handle_subscribe (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                  GVariant *query, gpointer data)
{
  g_autoptr (GError) error = NULL;
  CtQuery *q = ct_query_parse (query, CT_QUERY_SUBSCRIBE, &error);

  if (q == NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    authorize (call_new (data, invocation, q), CT_ACTION_READ,
               subscribe_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* No authorization: it only ever drops the caller's own subscriptions. */
static gboolean
handle_unsubscribe (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                    guint id, gpointer data)
{
  CtDBusService *svc = data;
  const char *owner = owner_of (svc, invocation);

  if (owner == NULL || !ct_subscriptions_remove (svc->subs, owner, id))
    {
      g_dbus_method_invocation_return_error (
          invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED,
          "this caller holds no subscription %u", id);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (ct_subscriptions_count_owner (svc->subs, owner) == 0)
    g_hash_table_remove (svc->watches, owner);
  ct_dbus_flows_complete_unsubscribe (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
emit (CtDBusService *svc, CtSubscription *sub, const char *signal,
      GVariant *params)
{
  const char *owner = ct_subscription_get_owner (sub);
  GDBusConnection *conn = svc->conn;
  const char *destination = owner;
  g_autoptr (GError) error = NULL;

  if (g_str_has_prefix (owner, PEER_OWNER_PREFIX))
    {
      Peer *peer = g_hash_table_lookup (svc->peer_owners, owner);

      /* The peer is the only one on its connection. */
      conn = peer != NULL ? peer->conn : NULL;
      destination = NULL;
    }
  if (conn == NULL)
    {
      g_variant_unref (g_variant_ref_sink (params));
      return;
    }
  /* Unicast: the generated ct_dbus_flows_emit_* would broadcast. */
  if (!g_dbus_connection_emit_signal (conn, destination, CT_DBUS_PATH,
                                      CT_DBUS_INTERFACE, signal, params,
                                      &error))
    g_debug ("cannot send %s to %s: %s", signal, owner, error->message);
}

static void
emit_flows (CtDBusService *svc, CtSubscription *sub, const char *signal,
            GArray *ids)
{
  for (guint start = 0; start < ids->len; start += CT_SUBSCRIPTION_BATCH)
    {
      guint end = MIN (start + CT_SUBSCRIPTION_BATCH, ids->len);
      GVariantBuilder b;
      guint n = 0;

      g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
      for (guint i = start; i < end; i++)
        {
          CtFlow *flow = ct_store_lookup_id (svc->store,
                                             g_array_index (ids, guint64, i));

          if (flow == NULL)
            continue;
          g_variant_builder_add_value (
              &b, ct_flow_to_variant (flow, CT_FLOW_VARIANT_DEFAULT));
          n++;
        }
      if (n == 0)
        {
          g_variant_builder_clear (&b);
          continue;
        }
      emit (svc, sub, signal,
            g_variant_new ("(u@aa{sv})", ct_subscription_get_id (sub),
                           g_variant_builder_end (&b)));
    }
}

static void
emit_removed (CtDBusService *svc, CtSubscription *sub, GArray *ids,
              const char *reason)
{
  for (guint start = 0; start < ids->len; start += CT_SUBSCRIPTION_BATCH)
    {
      guint n = MIN (CT_SUBSCRIPTION_BATCH, ids->len - start);
      GVariant *array = g_variant_new_fixed_array (
          G_VARIANT_TYPE_UINT64, &g_array_index (ids, guint64, start), n,
          sizeof (guint64));

      emit (svc, sub, "FlowsRemoved",
            g_variant_new ("(u@ats)", ct_subscription_get_id (sub), array,
                           reason));
    }
}

static void
on_flush (CtSubscription *sub, gpointer data)
{
  CtDBusService *svc = data;
  CtSubscriptionBatch batch;
  guint id = ct_subscription_get_id (sub);

  if (!ct_subscription_take_batch (sub, &batch))
    {
      ct_subscription_batch_clear (&batch);
      return;
    }
  emit_flows (svc, sub, "FlowsAdded", batch.added);
  emit_flows (svc, sub, "FlowsChanged", batch.changed);
  emit_removed (svc, sub, batch.evicted, "evicted");
  emit_removed (svc, sub, batch.reset, "reset");
  if (batch.overruns > 0)
    emit (svc, sub, "EventsLost",
          g_variant_new ("(ust)", id, "kernel-overrun", batch.overruns));
  if (batch.rate_limited > 0)
    emit (svc, sub, "EventsLost",
          g_variant_new ("(ust)", id, "rate-limit", batch.rate_limited));
  ct_subscription_batch_clear (&batch);
}

/* --- trace control ------------------------------------------------------ */

#define TRACING_DISABLED "tracing is disabled (-c)"

/* Fails the call when the daemon does not trace at all (-c): before
 * authorization, so nobody authenticates for a call that cannot work. */
static gboolean
check_tracing (CtDBusService *svc, GDBusMethodInvocation *invocation)
{
  if (svc->tracer_ops != NULL)
    return TRUE;
  g_dbus_method_invocation_return_error_literal (
      invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED, TRACING_DISABLED);
  return FALSE;
}

static void
update_tracing_properties (CtDBusService *svc)
{
  const CtTracerConfig *c;

  if (svc->tracer_ops == NULL)
    {
      ct_dbus_flows_set_tracing_mode (svc->skeleton, "disabled");
      ct_dbus_flows_set_trace_window (svc->skeleton, 0);
      ct_dbus_flows_set_trace_set_size (svc->skeleton, 0);
      return;
    }
  c = svc->tracer_ops->get_config (svc->tracer);
  ct_dbus_flows_set_tracing_mode (svc->skeleton,
                                  ct_trace_mode_to_string (c->mode));
  ct_dbus_flows_set_trace_window (svc->skeleton, c->window_s);
  ct_dbus_flows_set_trace_set_size (svc->skeleton, c->set_size);
}

/* The tracer's errors as the contract names them: a filter it refuses
 * (overlapping, out of range) is the caller's mistake, too many filters a
 * limit, anything else (the kernel said no) a failure. */
static GError *
trace_error (const GError *error)
{
  CtDBusError code = CT_DBUS_ERROR_FAILED;

  if (error->domain == CT_DBUS_ERROR)
    return g_error_copy (error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    code = CT_DBUS_ERROR_INVALID_QUERY;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    code = CT_DBUS_ERROR_LIMIT_EXCEEDED;
  return g_error_new_literal (CT_DBUS_ERROR, code, error->message);
}

static void
trace_fail (Call *call, const GError *error)
{
  g_autoptr (GError) mapped = trace_error (error);

  g_debug ("%s for %s failed: %s",
           g_dbus_method_invocation_get_method_name (call->invocation),
           caller_of (call->svc, call->invocation), error->message);
  call_fail (call, mapped);
}

static void
set_trace_mode_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  const char *mode = ct_trace_mode_to_string (call->mode);
  const char *caller;
  g_autoptr (GError) error = NULL;

  if (!call_authorized (call, res))
    return;
  if (!svc->tracer_ops->set_mode (svc->tracer, call->mode, &error))
    {
      trace_fail (call, error);
      return;
    }
  update_tracing_properties (svc);
  caller = caller_of (svc, call->invocation);
  ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_TRACE_CHANGED,
                CT_LOG_FIELDS ("CT_METHOD", "SetTraceMode", "CT_CALLER", caller,
                               "CT_TRACE_MODE", mode),
                "trace mode set to %s by %s", mode, caller);
  ct_dbus_flows_complete_set_trace_mode (svc->skeleton, call->invocation);
  call_free (call);
}

static gboolean
handle_set_trace_mode (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                       const char *mode, gpointer data)
{
  CtDBusService *svc = data;
  g_autoptr (GError) error = NULL;
  CtTraceMode parsed;
  Call *call;

  if (!check_tracing (svc, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!ct_trace_mode_from_string (mode, &parsed, &error))
    {
      g_dbus_method_invocation_return_error_literal (
          invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
          error->message);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  call = call_new (svc, invocation, NULL);
  call->mode = parsed;
  authorize (call, CT_ACTION_TRACE, set_trace_mode_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
trace_filter_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  const char *caller;
  g_autoptr (GError) error = NULL;
  guint id = 0;

  if (!call_authorized (call, res))
    return;
  if (!svc->tracer_ops->trace_filter (svc->tracer, &call->filter, call->seconds,
                                      &id, &error))
    {
      trace_fail (call, error);
      return;
    }
  caller = caller_of (svc, call->invocation);
  ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_TRACE_CHANGED,
                CT_LOG_FIELDS ("CT_METHOD", "TraceFilter", "CT_CALLER", caller,
                               "CT_TRACE_FILTER", call->filter_text,
                               "CT_TRACE_SECONDS", CT_LOG_U64 (call->seconds),
                               "CT_TRACE_FILTER_ID", CT_LOG_U64 (id)),
                "tracing '%s' for %u s (filter %u) for %s", call->filter_text,
                call->seconds, id, caller);
  ct_dbus_flows_complete_trace_filter (svc->skeleton, call->invocation, id);
  call_free (call);
}

static gboolean
handle_trace_filter (CtDBusFlows *skeleton, GDBusMethodInvocation *invocation,
                     const char *filter, guint seconds, gpointer data)
{
  CtDBusService *svc = data;
  g_autoptr (GError) error = NULL;
  CtTraceFilter parsed;
  Call *call;

  if (!check_tracing (svc, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!ct_trace_filter_parse (filter, &parsed, &error))
    {
      g_dbus_method_invocation_return_error_literal (
          invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
          error->message);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (seconds < 1 || seconds > CT_TRACER_FILTER_MAX_S)
    {
      g_dbus_method_invocation_return_error (
          invocation, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
          "a filter is traced for 1 to %u seconds, not %u",
          CT_TRACER_FILTER_MAX_S, seconds);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  call = call_new (svc, invocation, NULL);
  call->filter = parsed;
  call->filter_text = g_strdup (filter);
  call->seconds = seconds;
  authorize (call, CT_ACTION_TRACE, trace_filter_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
stop_trace_filter_authorized (GObject *source, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  CtDBusService *svc = call->svc;
  const char *caller;
  g_autoptr (GError) error = NULL;

  if (!call_authorized (call, res))
    return;
  if (!svc->tracer_ops->stop_filter (svc->tracer, call->trace_id, &error))
    {
      g_autoptr (GError) failed = g_error_new_literal (
          CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED, error->message);

      call_fail (call, failed);
      return;
    }
  caller = caller_of (svc, call->invocation);
  ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_TRACE_CHANGED,
                CT_LOG_FIELDS ("CT_METHOD", "StopTraceFilter", "CT_CALLER",
                               caller, "CT_TRACE_FILTER_ID",
                               CT_LOG_U64 (call->trace_id)),
                "trace filter %u stopped by %s", call->trace_id, caller);
  ct_dbus_flows_complete_stop_trace_filter (svc->skeleton, call->invocation);
  call_free (call);
}

static gboolean
handle_stop_trace_filter (CtDBusFlows *skeleton,
                          GDBusMethodInvocation *invocation, guint id,
                          gpointer data)
{
  CtDBusService *svc = data;
  Call *call;

  if (!check_tracing (svc, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  call = call_new (svc, invocation, NULL);
  call->trace_id = id;
  authorize (call, CT_ACTION_TRACE, stop_trace_filter_authorized);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* The real tracer (tracer.c) behind the service. */
static gboolean
tracer_set_mode (gpointer tracer, CtTraceMode mode, GError **error)
{
  /* The window stays as configured at start. */
  return ct_tracer_set_mode (tracer, mode, 0, error);
}

static gboolean
tracer_trace_filter (gpointer tracer, const CtTraceFilter *filter,
                     guint seconds, guint *id, GError **error)
{
  return ct_tracer_trace_filter (tracer, filter, seconds, id, error);
}

static gboolean
tracer_stop_filter (gpointer tracer, guint id, GError **error)
{
  return ct_tracer_stop_filter (tracer, id, error);
}

static const CtTracerConfig *
tracer_get_config (gpointer tracer)
{
  return ct_tracer_get_config (tracer);
}

static const CtDBusTracerOps kernel_tracer_ops = {
  .set_mode = tracer_set_mode,
  .trace_filter = tracer_trace_filter,
  .stop_filter = tracer_stop_filter,
  .get_config = tracer_get_config,
};

void
ct_dbus_service_set_tracer_ops (CtDBusService *svc, const CtDBusTracerOps *ops,
                                gpointer tracer)
{
  svc->tracer_ops = tracer != NULL ? ops : NULL;
  svc->tracer = tracer;
  update_tracing_properties (svc);
}

void
ct_dbus_service_set_tracer (CtDBusService *svc, CtTracer *tracer)
{
  ct_dbus_service_set_tracer_ops (svc, &kernel_tracer_ops, tracer);
}

/* --- properties ---------------------------------------------------------- */

static void
update_properties (CtDBusService *svc)
{
  const CtStoreStats *st = ct_store_get_stats (svc->store);
  CtSourceStats none = { 0 };
  const CtSourceStats *src
      = svc->source != NULL ? ct_source_get_stats (svc->source) : &none;

  /* The skeleton sends one PropertiesChanged for whatever changed here. */
  ct_dbus_flows_set_flow_count (svc->skeleton,
                                ct_store_get_n_flows (svc->store));
  ct_dbus_flows_set_max_flows (svc->skeleton,
                               ct_store_get_max_flows (svc->store));
  ct_dbus_flows_set_events (svc->skeleton, st->events);
  ct_dbus_flows_set_evicted (svc->skeleton, st->flows_evicted);
  ct_dbus_flows_set_overruns (svc->skeleton, src->overruns);
  ct_dbus_flows_set_resyncs (svc->skeleton, src->resyncs);

  if (src->overruns > svc->overruns_seen)
    ct_subscriptions_note_overruns (svc->subs,
                                    src->overruns - svc->overruns_seen);
  svc->overruns_seen = src->overruns;
}

static gboolean
on_properties_timer (gpointer data)
{
  update_properties (data);
  return G_SOURCE_CONTINUE;
}

/* --- peer-to-peer connections ------------------------------------------- */

static void
peer_free (gpointer data)
{
  Peer *peer = data;
  GDBusInterfaceSkeleton *skeleton
      = G_DBUS_INTERFACE_SKELETON (peer->svc->skeleton);

  g_hash_table_remove (peer->svc->peer_owners, peer->owner);
  g_clear_signal_handler (&peer->closed_handler, peer->conn);
  if (g_dbus_interface_skeleton_has_connection (skeleton, peer->conn))
    g_dbus_interface_skeleton_unexport_from_connection (skeleton, peer->conn);
  g_object_unref (peer->conn);
  g_free (peer->owner);
  g_free (peer);
}

/* A closed connection takes its subscriptions with it. */
static void
drop_peer (CtDBusService *svc, GDBusConnection *conn)
{
  Peer *peer = g_hash_table_lookup (svc->peers, conn);
  guint n;

  if (peer == NULL)
    return;
  n = ct_subscriptions_remove_owner (svc->subs, peer->owner);
  g_debug ("%s closed its connection: %u subscription(s) dropped", peer->owner,
           n);
  g_hash_table_remove (svc->peers, conn);
}

static void
on_peer_closed (GDBusConnection *conn, gboolean remote_peer_vanished,
                GError *error, gpointer data)
{
  drop_peer (data, conn);
}

/* An authenticated peer-to-peer connection (peer-server.c): the same
 * object as on the bus, then messages flow. */
static void
on_peer (GDBusConnection *conn, gpointer data)
{
  CtDBusService *svc = data;
  GCredentials *creds = g_dbus_connection_get_peer_credentials (conn);
  g_autoptr (GError) error = NULL;
  Peer *peer;

  if (svc->stopping)
    {
      g_dbus_connection_close (conn, NULL, NULL, NULL);
      return;
    }
  if (!g_dbus_interface_skeleton_export (
          G_DBUS_INTERFACE_SKELETON (svc->skeleton), conn, CT_DBUS_PATH,
          &error))
    {
      g_warning ("cannot serve a peer-to-peer connection: %s", error->message);
      g_dbus_connection_close (conn, NULL, NULL, NULL);
      return;
    }
  peer = g_new0 (Peer, 1);
  peer->svc = svc;
  peer->conn = g_object_ref (conn);
  peer->owner = g_strdup_printf (PEER_OWNER_PREFIX "%" G_GUINT64_FORMAT,
                                 ++svc->peer_seq);
  peer->closed_handler
      = g_signal_connect (conn, "closed", G_CALLBACK (on_peer_closed), svc);
  g_hash_table_insert (svc->peers, conn, peer);
  g_hash_table_insert (svc->peer_owners, peer->owner, peer);
  g_debug ("%s connected: uid %d, pid %d", peer->owner,
           creds != NULL ? (int)g_credentials_get_unix_user (creds, NULL) : -1,
           creds != NULL ? (int)g_credentials_get_unix_pid (creds, NULL) : -1);
  g_dbus_connection_start_message_processing (conn);
  /* It may have closed before the handler was connected. */
  if (g_dbus_connection_is_closed (conn))
    drop_peer (svc, conn);
}

gboolean
ct_dbus_service_listen (CtDBusService *svc, const char *listen_path,
                        GError **error)
{
  const char *const *addresses;
  int adopted;

  g_return_val_if_fail (svc->peer_server == NULL, FALSE);
  svc->peer_server = ct_peer_server_new (on_peer, svc);
  adopted = ct_peer_server_adopt_systemd (svc->peer_server, error);
  if (adopted < 0)
    return FALSE;
  if (listen_path != NULL
      && !ct_peer_server_listen (svc->peer_server, listen_path, error))
    return FALSE;
  addresses = ct_peer_server_get_addresses (svc->peer_server);
  for (int i = 0; addresses[i] != NULL; i++)
    g_message ("serving " CT_DBUS_INTERFACE " peer to peer at %s%s",
               addresses[i], i < adopted ? " (socket from systemd)" : "");
  return TRUE;
}

guint
ct_dbus_service_get_n_peers (CtDBusService *svc)
{
  return g_hash_table_size (svc->peers);
}

/* --- the bus and the name ------------------------------------------------ */

static void report (CtDBusService *svc, CtDBusServiceState state,
                    const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
report (CtDBusService *svc, CtDBusServiceState state, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  if (svc->stopping)
    return;
  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  svc->state_func (state, message, svc->state_data);
}

static void
on_name_lost (GDBusConnection *conn, const char *sender, const char *path,
              const char *iface, const char *signal, GVariant *params,
              gpointer data)
{
  CtDBusService *svc = data;
  const char *name;

  g_variant_get (params, "(&s)", &name);
  if (!g_str_equal (name, CT_DBUS_NAME) || !svc->owned)
    return;
  svc->owned = FALSE;
  report (svc, CT_DBUS_SERVICE_FAILED,
          "lost the name " CT_DBUS_NAME " on the system bus");
}

static void
on_closed (GDBusConnection *conn, gboolean remote_peer_vanished, GError *error,
           gpointer data)
{
  CtDBusService *svc = data;

  svc->owned = FALSE;
  report (svc, CT_DBUS_SERVICE_FAILED,
          "the connection to the system bus closed%s%s",
          error != NULL ? ": " : "", error != NULL ? error->message : "");
}

static void
on_request_name (GObject *source, GAsyncResult *res, gpointer data)
{
  CtDBusService *svc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  guint32 code;

  svc->n_pending--;
  reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      report (svc, CT_DBUS_SERVICE_FAILED,
              "cannot own " CT_DBUS_NAME
              " on the system bus: %s (only root may own it, with "
              "org.conntracker.conf installed in the bus's system.d)",
              error->message);
      return;
    }
  g_variant_get (reply, "(u)", &code);
  if (code == NAME_PRIMARY_OWNER || code == NAME_ALREADY_OWNER)
    {
      svc->owned = TRUE;
      report (svc, CT_DBUS_SERVICE_OWNED,
              "serving " CT_DBUS_INTERFACE " as " CT_DBUS_NAME
              " on the system bus");
    }
  else if (code == NAME_EXISTS)
    report (svc, CT_DBUS_SERVICE_FAILED,
            "another process owns " CT_DBUS_NAME
            " on the system bus (is conntrackerd already running?)");
  else
    report (svc, CT_DBUS_SERVICE_FAILED,
            "the system bus did not give us " CT_DBUS_NAME
            " (RequestName answered %u)",
            code);
}

static void
on_bus (GObject *source, GAsyncResult *res, gpointer data)
{
  CtDBusService *svc = data;
  g_autoptr (GError) error = NULL;
  GDBusConnection *conn;

  svc->n_pending--;
  conn = g_bus_get_finish (res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (conn == NULL)
    {
      report (svc, CT_DBUS_SERVICE_NO_BUS,
              "no system bus (%s): running without the D-Bus API",
              error->message);
      return;
    }
  svc->conn = conn;
  /* Losing the bus is reported and handled (exit 1), not a SIGTERM. */
  g_dbus_connection_set_exit_on_close (conn, FALSE);
  svc->closed_handler
      = g_signal_connect (conn, "closed", G_CALLBACK (on_closed), svc);

  if (!g_dbus_interface_skeleton_export (
          G_DBUS_INTERFACE_SKELETON (svc->skeleton), conn, CT_DBUS_PATH,
          &error))
    {
      report (svc, CT_DBUS_SERVICE_FAILED, "cannot export %s: %s", CT_DBUS_PATH,
              error->message);
      return;
    }
  svc->name_lost_sub = g_dbus_connection_signal_subscribe (
      conn, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameLost",
      "/org/freedesktop/DBus", CT_DBUS_NAME, G_DBUS_SIGNAL_FLAGS_NONE,
      on_name_lost, svc, NULL);
  /* Not g_bus_own_name: its callbacks do not say why a name was refused
   * (policy or another owner), and the administrator needs to know. */
  svc->n_pending++;
  g_dbus_connection_call (
      conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
      "org.freedesktop.DBus", "RequestName",
      g_variant_new ("(su)", CT_DBUS_NAME, NAME_FLAG_DO_NOT_QUEUE),
      G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, svc->cancellable,
      on_request_name, svc);
}

static void
unwatch (gpointer watch_id)
{
  g_bus_unwatch_name (GPOINTER_TO_UINT (watch_id));
}

CtDBusService *
ct_dbus_service_new (CtStore *store, CtSource *source,
                     CtDBusServiceStateFunc state_func, gpointer user_data)
{
  CtDBusService *svc = g_new0 (CtDBusService, 1);

  svc->store = store;
  svc->source = source;
  svc->state_func = state_func;
  svc->state_data = user_data;
  svc->cancellable = g_cancellable_new ();
  svc->watches
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, unwatch);
  svc->peers = g_hash_table_new_full (NULL, NULL, NULL, peer_free);
  svc->peer_owners = g_hash_table_new (g_str_hash, g_str_equal);
  svc->subs = ct_subscriptions_new (store, on_flush, svc);

  svc->skeleton = ct_dbus_flows_skeleton_new ();
  g_signal_connect (svc->skeleton, "handle-list-flows",
                    G_CALLBACK (handle_list_flows), svc);
  g_signal_connect (svc->skeleton, "handle-get-flow",
                    G_CALLBACK (handle_get_flow), svc);
  g_signal_connect (svc->skeleton, "handle-dump-flows",
                    G_CALLBACK (handle_dump_flows), svc);
  g_signal_connect (svc->skeleton, "handle-reset", G_CALLBACK (handle_reset),
                    svc);
  g_signal_connect (svc->skeleton, "handle-subscribe",
                    G_CALLBACK (handle_subscribe), svc);
  g_signal_connect (svc->skeleton, "handle-unsubscribe",
                    G_CALLBACK (handle_unsubscribe), svc);
  g_signal_connect (svc->skeleton, "handle-set-trace-mode",
                    G_CALLBACK (handle_set_trace_mode), svc);
  g_signal_connect (svc->skeleton, "handle-trace-filter",
                    G_CALLBACK (handle_trace_filter), svc);
  g_signal_connect (svc->skeleton, "handle-stop-trace-filter",
                    G_CALLBACK (handle_stop_trace_filter), svc);

  ct_dbus_flows_set_version (svc->skeleton, PACKAGE_VERSION);
  ct_dbus_flows_set_api_version (svc->skeleton, CT_DBUS_API_VERSION);
  ct_dbus_flows_set_start_time (svc->skeleton, g_get_real_time ());
  update_tracing_properties (svc);
  if (source != NULL)
    svc->overruns_seen = ct_source_get_stats (source)->overruns;
  update_properties (svc);
  svc->props_timer
      = g_timeout_add_seconds (PROPERTIES_INTERVAL_S, on_properties_timer, svc);
  return svc;
}

void
ct_dbus_service_start (CtDBusService *svc)
{
  svc->n_pending++;
  g_bus_get (G_BUS_TYPE_SYSTEM, svc->cancellable, on_bus, svc);
}

void
ct_dbus_service_stop (CtDBusService *svc)
{
  svc->stopping = TRUE;
  /* No new peers; the socket we created goes. Open peers stay until
   * ct_dbus_service_free (calls in flight get their replies). */
  if (svc->peer_server != NULL)
    ct_peer_server_stop (svc->peer_server);
  if (svc->conn == NULL)
    return;
  if (svc->owned)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply = NULL;

      /* Blocking, bounded: the loop has stopped, and a successor (or bus
       * activation) should find the name free before we write the dump. */
      reply = g_dbus_connection_call_sync (
          svc->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
          "org.freedesktop.DBus", "ReleaseName",
          g_variant_new ("(s)", CT_DBUS_NAME), G_VARIANT_TYPE ("(u)"),
          G_DBUS_CALL_FLAGS_NONE, RELEASE_TIMEOUT_MS, NULL, &error);
      if (reply == NULL)
        g_warning ("cannot release " CT_DBUS_NAME ": %s", error->message);
      svc->owned = FALSE;
    }
  if (g_dbus_interface_skeleton_has_connection (
          G_DBUS_INTERFACE_SKELETON (svc->skeleton), svc->conn))
    g_dbus_interface_skeleton_unexport_from_connection (
        G_DBUS_INTERFACE_SKELETON (svc->skeleton), svc->conn);
}

static gboolean
on_drain_tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static void
on_flushed (GObject *source, GAsyncResult *res, gpointer data)
{
  CtDBusService *svc = data;

  g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), res, NULL);
  svc->n_pending--;
}

static void
flush_connection (CtDBusService *svc, GDBusConnection *conn)
{
  if (conn == NULL || g_dbus_connection_is_closed (conn))
    return;
  svc->n_pending++;
  g_dbus_connection_flush (conn, NULL, on_flushed, svc);
}

static void
close_peer (gpointer key, gpointer value, gpointer data)
{
  g_dbus_connection_close (key, NULL, NULL, NULL);
}

/* Runs the main context until nothing calls back into us any more, or
 * DRAIN_TIMEOUT_US passed. */
static void
drain (CtDBusService *svc)
{
  gint64 deadline = g_get_monotonic_time () + DRAIN_TIMEOUT_US;
  guint tick;

  if (svc->n_pending == 0)
    return;
  tick = g_timeout_add (50, on_drain_tick, NULL);
  while (svc->n_pending > 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  if (svc->n_pending > 0)
    g_warning ("%u D-Bus operation(s) did not finish while stopping",
               svc->n_pending);
}

void
ct_dbus_service_free (CtDBusService *svc)
{
  if (svc == NULL)
    return;
  svc->stopping = TRUE;
  if (svc->peer_server != NULL)
    ct_peer_server_stop (svc->peer_server);
  g_cancellable_cancel (svc->cancellable);
  /* Cancelled calls still complete through the main context; let them,
   * so that every caller gets its reply and nothing points at us. */
  drain (svc);
  /* Those replies must leave before the process does. */
  flush_connection (svc, svc->conn);
  {
    GHashTableIter iter;
    gpointer conn;

    g_hash_table_iter_init (&iter, svc->peers);
    while (g_hash_table_iter_next (&iter, &conn, NULL))
      flush_connection (svc, conn);
  }
  drain (svc);
  g_clear_pointer (&svc->peer_server, ct_peer_server_free);
  g_hash_table_foreach (svc->peers, close_peer, NULL);
  g_hash_table_destroy (svc->peers);
  g_hash_table_destroy (svc->peer_owners);
  g_clear_handle_id (&svc->props_timer, g_source_remove);
  g_hash_table_destroy (svc->watches);
  ct_subscriptions_free (svc->subs);
  if (svc->conn != NULL)
    {
      if (svc->name_lost_sub != 0)
        g_dbus_connection_signal_unsubscribe (svc->conn, svc->name_lost_sub);
      g_clear_signal_handler (&svc->closed_handler, svc->conn);
    }
  if (g_dbus_interface_skeleton_get_connection (
          G_DBUS_INTERFACE_SKELETON (svc->skeleton))
      != NULL)
    g_dbus_interface_skeleton_unexport (
        G_DBUS_INTERFACE_SKELETON (svc->skeleton));
  g_object_unref (svc->skeleton);
  g_clear_object (&svc->conn);
  g_object_unref (svc->cancellable);
  g_free (svc);
}

/* The service end to end on a private bus (GTestDBus), without the kernel:
 * a store filled by hand, the real skeleton, authority, dump stream and
 * subscriptions, and a client connection calling it. As root every call
 * is authorized (uid 0); as anyone else the bus has no polkitd, so reading
 * must be refused with NotAuthorized. Both runs check what they can. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ct-error.h"
#include "dbus-service.h"

typedef struct
{
  GTestDBus *bus;
  CtStore *store;
  CtDBusService *svc;
  GDBusConnection *client;
  gboolean owned;
} Fixture;

static Fixture fx;

static gboolean
is_root (void)
{
  return geteuid () == 0;
}

static void
add_flow (guint32 id, guint8 proto, guint16 dport)
{
  CtConnEvent ev = { 0 };

  ev.type = CT_EVENT_NEW;
  ev.family = AF_INET;
  ev.proto = proto;
  ev.has_id = TRUE;
  ev.id = id;
  inet_pton (AF_INET, "10.0.0.1", ev.orig.src);
  inet_pton (AF_INET, "10.0.0.2", ev.orig.dst);
  ev.orig.sport = 40000;
  ev.orig.dport = dport;
  memcpy (ev.reply.src, ev.orig.dst, 16);
  memcpy (ev.reply.dst, ev.orig.src, 16);
  ev.reply.sport = dport;
  ev.reply.dport = 40000;
  ct_store_apply (fx.store, &ev, g_get_real_time ());
}

static void
on_state (CtDBusServiceState state, const char *message, gpointer data)
{
  g_assert_cmpint (state, ==, CT_DBUS_SERVICE_OWNED);
  fx.owned = TRUE;
}

typedef struct
{
  GVariant *reply;
  GError *error;
  gboolean done;
} Result;

static void
on_reply (GObject *source, GAsyncResult *res, gpointer data)
{
  Result *r = data;

  r->reply = g_dbus_connection_call_with_unix_fd_list_finish (
      G_DBUS_CONNECTION (source), NULL, res, &r->error);
  r->done = TRUE;
}

/* Calls a method of the service and runs the main loop (which serves it)
 * until the reply is in. */
static GVariant *
call_iface (GDBusConnection *conn, const char *iface, const char *method,
            GVariant *params, GUnixFDList *fds, GError **error)
{
  Result r = { NULL, NULL, FALSE };

  g_dbus_connection_call_with_unix_fd_list (
      conn, CT_DBUS_NAME, CT_DBUS_PATH, iface, method, params, NULL,
      G_DBUS_CALL_FLAGS_NONE, 10000, fds, NULL, on_reply, &r);
  while (!r.done)
    g_main_context_iteration (NULL, TRUE);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.reply;
}

static GVariant *
call_full (GDBusConnection *conn, const char *method, GVariant *params,
           GUnixFDList *fds, GError **error)
{
  return call_iface (conn, CT_DBUS_INTERFACE, method, params, fds, error);
}

static GVariant *
call (const char *method, GVariant *params, GError **error)
{
  return call_full (fx.client, method, params, NULL, error);
}

static void
assert_remote_error (const GError *error, const char *name)
{
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, name);
}

/* Not root: reading needs polkit, and there is none on this bus. */
static void
assert_denied (const GError *error)
{
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_NOT_AUTHORIZED);
  assert_remote_error (error, "org.conntracker.Error.NotAuthorized");
  g_assert_nonnull (strstr (error->message, "polkit is unavailable"));
}

static void
test_properties (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  const char *s;
  guint32 u;
  gint64 x;

  /* Readable by anyone: no per-user data in them. */
  reply = call_iface (fx.client, "org.freedesktop.DBus.Properties", "GetAll",
                      g_variant_new ("(s)", CT_DBUS_INTERFACE), NULL, &error);
  g_assert_no_error (error);
  props = g_variant_get_child_value (reply, 0);
  g_assert_true (g_variant_lookup (props, "Version", "&s", &s));
  g_assert_cmpstr (s, ==, PACKAGE_VERSION);
  g_assert_true (g_variant_lookup (props, "ApiVersion", "u", &u));
  g_assert_cmpuint (u, ==, 1);
  g_assert_true (g_variant_lookup (props, "MaxFlows", "u", &u));
  g_assert_cmpuint (u, ==, 5000);
  g_assert_true (g_variant_lookup (props, "FlowCount", "u", &u));
  g_assert_cmpuint (u, ==, ct_store_get_n_flows (fx.store));
  g_assert_true (g_variant_lookup (props, "StartTime", "x", &x));
  g_assert_cmpint (x, >, 0);
  /* No tracer given: the daemon runs as with -c. */
  g_assert_true (g_variant_lookup (props, "TracingMode", "&s", &s));
  g_assert_cmpstr (s, ==, "disabled");
  g_assert_true (g_variant_lookup (props, "TraceWindow", "u", &u));
  g_assert_cmpuint (u, ==, 0);
  g_assert_true (g_variant_lookup (props, "TraceSetSize", "u", &u));
  g_assert_cmpuint (u, ==, 0);
  for (guint i = 0; i < 4; i++)
    {
      static const char *const counters[]
          = { "Events", "Overruns", "Resyncs", "Evicted" };

      g_assert_true (g_variant_lookup (props, counters[i], "t", NULL));
    }
}

static void
test_list_and_get (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) flows = NULL;
  g_autoptr (GVariant) first = NULL;
  g_autoptr (GVariant) flow = NULL;
  guint32 total;
  guint64 id;

  reply = call ("ListFlows",
                g_variant_new_parsed ("({'filter': <'dport 22'>},)"), &error);
  if (!is_root ())
    {
      assert_denied (error);
      return;
    }
  g_assert_no_error (error);
  g_variant_get (reply, "(@aa{sv}u)", &flows, &total);
  g_assert_cmpuint (total, ==, 1);
  g_assert_cmpuint (g_variant_n_children (flows), ==, 1);
  first = g_variant_get_child_value (flows, 0);
  g_assert_true (g_variant_lookup (first, "id", "t", &id));
  g_clear_pointer (&reply, g_variant_unref);

  reply = call ("GetFlow", g_variant_new ("(t)", id), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &flow);
  g_assert_true (g_variant_lookup (flow, "hits", "@aa{sv}", NULL));
  g_clear_pointer (&reply, g_variant_unref);

  reply = call ("GetFlow", g_variant_new ("(t)", (guint64)999999), &error);
  g_assert_null (reply);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_NO_SUCH_FLOW);
  g_clear_error (&error);

  /* Offset and limit: total still counts every match. */
  reply = call ("ListFlows",
                g_variant_new_parsed ("({'offset': <uint32 2>, "
                                      "'limit': <uint32 3>},)"),
                &error);
  g_assert_no_error (error);
  g_clear_pointer (&flows, g_variant_unref);
  g_variant_get (reply, "(@aa{sv}u)", &flows, &total);
  g_assert_cmpuint (g_variant_n_children (flows), ==, 3);
  g_assert_cmpuint (total, ==, ct_store_get_n_flows (fx.store));
}

static void
test_invalid_queries (void)
{
  static const struct
  {
    const char *method;
    const char *params;
    const char *error;
  } cases[] = {
    { "ListFlows", "({'foo': <1>},)", "org.conntracker.Error.InvalidQuery" },
    { "ListFlows", "({'limit': <uint32 10001>},)",
      "org.conntracker.Error.LimitExceeded" },
    { "ListFlows", "({'sort': <'nope'>},)",
      "org.conntracker.Error.InvalidQuery" },
    { "Subscribe", "({'interval-ms': <uint32 10>},)",
      "org.conntracker.Error.InvalidQuery" },
    { "Subscribe", "({'filter': <'port'>},)",
      "org.conntracker.Error.InvalidQuery" },
  };

  /* Validation comes before authorization: same answer for everyone. */
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply = call (
          cases[i].method, g_variant_new_parsed (cases[i].params), &error);

      g_assert_null (reply);
      assert_remote_error (error, cases[i].error);
    }
}

typedef struct
{
  GString *data;
  gboolean eof;
} Reader;

static gboolean
on_readable (int fd, GIOCondition cond, gpointer data)
{
  Reader *r = data;
  char buf[16384];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n > 0)
    {
      g_string_append_len (r->data, buf, n);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0 && errno == EAGAIN)
    return G_SOURCE_CONTINUE;
  r->eof = TRUE;
  return G_SOURCE_REMOVE;
}

static GVariant *
dump (const char *query, int fd, GError **error)
{
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  int handle = g_unix_fd_list_append (fds, fd, NULL);

  return call_full (
      fx.client, "DumpFlows",
      g_variant_new ("(@a{sv}h)", g_variant_new_parsed (query), handle), fds,
      error);
}

static void
test_dump (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  Reader r = { g_string_new (NULL), FALSE };
  g_auto (GStrv) lines = NULL;
  int p[2];
  guint watch;
  guint32 count;

  /* More than a pipe holds and several chunks: the service must wait
   * for the reader without blocking the loop that reads here. */
  g_assert_true (g_unix_open_pipe (p, FD_CLOEXEC, NULL));
  g_unix_set_fd_nonblocking (p[0], TRUE, NULL);
  watch = g_unix_fd_add (p[0], G_IO_IN | G_IO_HUP, on_readable, &r);
  reply = dump ("{'format': <'json'>, 'sort': <'-id'>}", p[1], &error);
  /* The description is the caller's too: its flags stay as they were. */
  g_assert_false (fcntl (p[1], F_GETFL) & O_NONBLOCK);
  close (p[1]);
  while (!r.eof)
    g_main_context_iteration (NULL, TRUE);
  close (p[0]);
  (void)watch;
  if (!is_root ())
    {
      assert_denied (error);
      g_assert_cmpuint (r.data->len, ==, 0);
      g_string_free (r.data, TRUE);
      return;
    }
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &count);
  g_assert_cmpuint (count, ==, ct_store_get_n_flows (fx.store));
  g_assert_cmpuint (count, >, 2 * 1000);
  lines = g_strsplit (r.data->str, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, count + 1);
  g_assert_true (g_str_has_prefix (lines[0], "{\"id\":"));
  g_assert_nonnull (strstr (lines[0], "\"protocol_number\":"));
  g_string_free (r.data, TRUE);
  g_clear_pointer (&reply, g_variant_unref);

  /* A socket, written without touching its flags either; and a file. */
  {
    g_autoptr (GError) serror = NULL;
    g_autoptr (GVariant) sreply = NULL;
    char path[] = "/tmp/test-dbus-service-XXXXXX";
    g_autofree char *contents = NULL;
    gsize len = 0;
    int sp[2], file;

    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     ==, 0);
    r.data = g_string_new (NULL);
    r.eof = FALSE;
    g_unix_set_fd_nonblocking (sp[0], TRUE, NULL);
    g_unix_fd_add (sp[0], G_IO_IN | G_IO_HUP, on_readable, &r);
    sreply = dump ("@a{sv} {}", sp[1], &serror);
    g_assert_no_error (serror);
    g_assert_false (fcntl (sp[1], F_GETFL) & O_NONBLOCK);
    close (sp[1]);
    while (!r.eof)
      g_main_context_iteration (NULL, TRUE);
    close (sp[0]);
    g_variant_get (sreply, "(u)", &count);
    g_assert_cmpuint (count, ==, ct_store_get_n_flows (fx.store));
    g_assert_true (g_str_has_prefix (r.data->str, " TCPv4 [           0]"));
    g_string_free (r.data, TRUE);

    file = g_mkstemp (path);
    g_assert_cmpint (file, >=, 0);
    g_clear_pointer (&sreply, g_variant_unref);
    sreply = dump ("{'limit': <uint32 5>}", file, &serror);
    g_assert_no_error (serror);
    close (file);
    g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
    {
      g_auto (GStrv) file_lines = g_strsplit (contents, "\n", -1);

      /* Five lines and the empty string after the last newline. */
      g_assert_cmpuint (g_strv_length (file_lines), ==, 6);
    }
    unlink (path);
  }

  /* A reader that went away. */
  g_assert_true (g_unix_open_pipe (p, FD_CLOEXEC, NULL));
  close (p[0]);
  reply = dump ("@a{sv} {}", p[1], &error);
  close (p[1]);
  g_assert_null (reply);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "the reader went away"));
  g_clear_error (&error);

  /* A descriptor that cannot be written. */
  g_assert_true (g_unix_open_pipe (p, FD_CLOEXEC, NULL));
  reply = dump ("@a{sv} {}", p[0], &error);
  close (p[0]);
  close (p[1]);
  g_assert_null (reply);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY);
  g_clear_error (&error);
}

typedef struct
{
  guint n;
  guint subscription;
  char *last_signal;
  GVariant *last;
} Signals;

static void
on_signal (GDBusConnection *conn, const char *sender, const char *path,
           const char *iface, const char *signal, GVariant *params,
           gpointer data)
{
  Signals *s = data;

  s->n++;
  g_free (s->last_signal);
  s->last_signal = g_strdup (signal);
  g_clear_pointer (&s->last, g_variant_unref);
  s->last = g_variant_ref (params);
  g_variant_get_child (params, 0, "u", &s->subscription);
}

static void
wait_for_signal (Signals *s, guint n)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (s->n < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (s->n, >=, n);
}

static void
test_subscribe (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GDBusConnection) other = NULL;
  Signals mine = { 0 }, theirs = { 0 };
  guint sub_mine, sub_theirs, id;

  other = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (fx.bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
  /* Both listen to every signal of the service; only the subscriber
   * must get any. */
  sub_mine = g_dbus_connection_signal_subscribe (
      fx.client, NULL, CT_DBUS_INTERFACE, NULL, CT_DBUS_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &mine, NULL);
  sub_theirs = g_dbus_connection_signal_subscribe (
      other, NULL, CT_DBUS_INTERFACE, NULL, CT_DBUS_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &theirs, NULL);

  reply = call ("Subscribe",
                g_variant_new_parsed ("({'filter': <'proto udp'>, "
                                      "'interval-ms': <uint32 100>},)"),
                &error);
  if (!is_root ())
    {
      assert_denied (error);
      g_clear_error (&error);
      goto out;
    }
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &id);

  add_flow (90001, IPPROTO_TCP, 7001); /* filtered out */
  add_flow (90002, IPPROTO_UDP, 7002);
  wait_for_signal (&mine, 1);
  g_assert_cmpstr (mine.last_signal, ==, "FlowsAdded");
  g_assert_cmpuint (mine.subscription, ==, id);
  {
    g_autoptr (GVariant) flows = g_variant_get_child_value (mine.last, 1);
    g_autoptr (GVariant) flow = g_variant_get_child_value (flows, 0);
    const char *proto;

    g_assert_cmpuint (g_variant_n_children (flows), ==, 1);
    g_assert_true (g_variant_lookup (flow, "protocol", "&s", &proto));
    g_assert_cmpstr (proto, ==, "udp");
  }

  /* Reset: FlowsRemoved "reset" with the matching ids. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call ("Reset", NULL, &error);
  g_assert_no_error (error);
  wait_for_signal (&mine, 2);
  g_assert_cmpstr (mine.last_signal, ==, "FlowsRemoved");
  {
    const char *reason;
    g_autoptr (GVariant) ids = NULL;

    g_variant_get (mine.last, "(u@at&s)", NULL, &ids, &reason);
    g_assert_cmpstr (reason, ==, "reset");
    g_assert_cmpuint (g_variant_n_children (ids), >=, 1);
  }
  g_assert_cmpuint (ct_store_get_n_flows (fx.store), ==, 0);

  g_clear_pointer (&reply, g_variant_unref);
  reply = call ("Unsubscribe", g_variant_new ("(u)", id), &error);
  g_assert_no_error (error);

out:
  /* Unsubscribe needs no authorization; a foreign id is refused. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call ("Unsubscribe", g_variant_new ("(u)", 4242u), &error);
  g_assert_null (reply);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED);
  g_clear_error (&error);

  /* Unicast: the other connection heard nothing. */
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (theirs.n, ==, 0);

  g_dbus_connection_signal_unsubscribe (fx.client, sub_mine);
  g_dbus_connection_signal_unsubscribe (other, sub_theirs);
  g_free (mine.last_signal);
  g_clear_pointer (&mine.last, g_variant_unref);
}

static void
test_reset_denied_or_allowed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  add_flow (91001, IPPROTO_TCP, 9001);
  reply = call ("Reset", NULL, &error);
  if (!is_root ())
    {
      g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_NOT_AUTHORIZED);
      g_assert_cmpuint (ct_store_get_n_flows (fx.store), >, 0);
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (ct_store_get_n_flows (fx.store), ==, 0);
}

/* --- trace control, with a stand-in tracer ------------------------------ */

typedef struct
{
  CtTracerConfig config;
  guint calls;
  CtTraceFilter filter;
  guint seconds;
  guint next_id;
  guint live_id; /* the one filter "traced", 0 when none */
  GError *fail;  /* the next call fails with this (consumed) */
} FakeTracer;

static FakeTracer fake;

static gboolean
fake_fails (GError **error)
{
  fake.calls++;
  if (fake.fail == NULL)
    return FALSE;
  g_propagate_error (error, g_steal_pointer (&fake.fail));
  return TRUE;
}

static gboolean
fake_set_mode (gpointer tracer, CtTraceMode mode, GError **error)
{
  g_assert_true (tracer == &fake);
  if (fake_fails (error))
    return FALSE;
  fake.config.mode = mode;
  return TRUE;
}

static gboolean
fake_trace_filter (gpointer tracer, const CtTraceFilter *filter, guint seconds,
                   guint *id, GError **error)
{
  if (fake_fails (error))
    return FALSE;
  fake.filter = *filter;
  fake.seconds = seconds;
  fake.live_id = *id = ++fake.next_id;
  return TRUE;
}

static gboolean
fake_stop_filter (gpointer tracer, guint id, GError **error)
{
  if (fake_fails (error))
    return FALSE;
  if (id == 0 || id != fake.live_id)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no trace filter has id %u (it may have ended)", id);
      return FALSE;
    }
  fake.live_id = 0;
  return TRUE;
}

static const CtTracerConfig *
fake_get_config (gpointer tracer)
{
  return &fake.config;
}

static const CtDBusTracerOps fake_ops = {
  .set_mode = fake_set_mode,
  .trace_filter = fake_trace_filter,
  .stop_filter = fake_stop_filter,
  .get_config = fake_get_config,
};

static GVariant *
get_property (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_iface (
      fx.client, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", CT_DBUS_INTERFACE, name), NULL, &error);
  GVariant *value;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static void
assert_failed_with (const char *method, GVariant *params, const char *name,
                    const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call (method, params, &error);

  g_assert_null (reply);
  assert_remote_error (error, name);
  if (message != NULL && strstr (error->message, message) == NULL)
    g_error ("%s: \"%s\" does not say \"%s\"", method, error->message, message);
}

static void
test_trace_disabled (void)
{
  guint calls = fake.calls;

  /* Without a tracer (-c), for everyone and before polkit is asked. */
  assert_failed_with ("SetTraceMode", g_variant_new ("(s)", "new"),
                      "org.conntracker.Error.Failed",
                      "tracing is disabled (-c)");
  assert_failed_with ("TraceFilter", g_variant_new ("(su)", "to 10.0.0.2", 60u),
                      "org.conntracker.Error.Failed",
                      "tracing is disabled (-c)");
  assert_failed_with ("StopTraceFilter", g_variant_new ("(u)", 1u),
                      "org.conntracker.Error.Failed",
                      "tracing is disabled (-c)");
  g_assert_cmpuint (fake.calls, ==, calls);
}

static void
test_trace_invalid (void)
{
  static const struct
  {
    const char *filter;
    guint seconds;
    const char *message;
  } filters[] = {
    { "", 60, "an empty filter" },
    { "to 10.0.0.300", 60, "is not an address" },
    { "to 10.0.0.2 from fd00::1", 60, "of the filter's family" },
    { "port 99999", 60, "is not a port" },
    { "frob 1", 60, "is not understood here" },
    { "to 10.0.0.2", 0, "1 to 86400 seconds, not 0" },
    { "to 10.0.0.2", 86401, "not 86401" },
  };
  guint calls = fake.calls;

  ct_dbus_service_set_tracer_ops (fx.svc, &fake_ops, &fake);
  /* Validation before authorization: the same answer for everyone. */
  assert_failed_with ("SetTraceMode", g_variant_new ("(s)", "on"),
                      "org.conntracker.Error.InvalidQuery",
                      "unknown trace mode 'on'");
  for (guint i = 0; i < G_N_ELEMENTS (filters); i++)
    assert_failed_with (
        "TraceFilter",
        g_variant_new ("(su)", filters[i].filter, filters[i].seconds),
        "org.conntracker.Error.InvalidQuery", filters[i].message);
  g_assert_cmpuint (fake.calls, ==, calls);
}

static void
test_trace_control (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) value = NULL;
  guint calls = fake.calls;
  guint32 id;

  ct_dbus_service_set_tracer_ops (fx.svc, &fake_ops, &fake);
  value = get_property ("TracingMode");
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "new");
  g_clear_pointer (&value, g_variant_unref);
  value = get_property ("TraceWindow");
  g_assert_cmpuint (g_variant_get_uint32 (value), ==, 30);
  g_clear_pointer (&value, g_variant_unref);
  value = get_property ("TraceSetSize");
  g_assert_cmpuint (g_variant_get_uint32 (value), ==, 4096);
  g_clear_pointer (&value, g_variant_unref);

  reply = call ("SetTraceMode", g_variant_new ("(s)", "ALL"), &error);
  if (!is_root ())
    {
      /* org.conntracker.trace needs polkit, and there is none here. */
      assert_denied (error);
      g_clear_error (&error);
      assert_failed_with (
          "TraceFilter", g_variant_new ("(su)", "to 10.0.0.2", 5u),
          "org.conntracker.Error.NotAuthorized", "polkit is unavailable");
      assert_failed_with ("StopTraceFilter", g_variant_new ("(u)", 1u),
                          "org.conntracker.Error.NotAuthorized", NULL);
      g_assert_cmpuint (fake.calls, ==, calls);
      value = get_property ("TracingMode");
      g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "new");
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpint (fake.config.mode, ==, CT_TRACE_MODE_ALL);
  value = get_property ("TracingMode");
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "all");
  g_clear_pointer (&value, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);

  reply = call ("SetTraceMode", g_variant_new ("(s)", "off"), &error);
  g_assert_no_error (error);
  value = get_property ("TracingMode");
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "off");
  g_clear_pointer (&value, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);

  /* The kernel refusing a mode change: Failed with its message, and the
   * mode stays. */
  fake.fail = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                                   "changing the trace mode: the kernel "
                                   "refused message 2 of the batch");
  assert_failed_with ("SetTraceMode", g_variant_new ("(s)", "new"),
                      "org.conntracker.Error.Failed", "the kernel refused");
  value = get_property ("TracingMode");
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "off");
  g_clear_pointer (&value, g_variant_unref);

  /* A filter, parsed by the daemon, handed to the tracer. */
  reply = call ("TraceFilter",
                g_variant_new ("(su)", "to 10.0.0.2 proto tcp port 80", 5u),
                &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &id);
  g_assert_cmpuint (id, >, 0);
  g_assert_cmpuint (fake.seconds, ==, 5);
  g_assert_true (fake.filter.has_dst);
  g_assert_false (fake.filter.has_src);
  g_assert_true (fake.filter.has_proto);
  g_assert_cmpuint (fake.filter.proto, ==, IPPROTO_TCP);
  g_assert_cmpuint (fake.filter.port_lo, ==, 80);
  g_assert_cmpuint (fake.filter.port_hi, ==, 80);
  g_assert_cmpuint (fake.filter.family, ==, AF_INET);
  g_clear_pointer (&reply, g_variant_unref);

  reply = call ("StopTraceFilter", g_variant_new ("(u)", id), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fake.live_id, ==, 0);
  assert_failed_with ("StopTraceFilter", g_variant_new ("(u)", id),
                      "org.conntracker.Error.Failed", "no trace filter");

  /* The tracer's refusals as the contract names them. */
  fake.fail = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                                   "64 filters are traced already");
  assert_failed_with ("TraceFilter", g_variant_new ("(su)", "udp", 5u),
                      "org.conntracker.Error.LimitExceeded",
                      "64 filters are traced already");
  fake.fail = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_EXISTS,
                                   "cannot trace the filter: it overlaps");
  assert_failed_with ("TraceFilter", g_variant_new ("(su)", "udp", 5u),
                      "org.conntracker.Error.InvalidQuery", "it overlaps");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  fx.bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fx.bus);
  /* The service and polkit both use "the system bus": make it ours. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (fx.bus),
            TRUE);

  fake.config = (CtTracerConfig){ .mode = CT_TRACE_MODE_NEW,
                                  .window_s = 30,
                                  .seen_timeout_s = 3600,
                                  .set_size = 4096 };
  fx.store = ct_store_new (5000, TRUE);
  for (guint i = 1; i <= 2500; i++)
    add_flow (i, i % 3 ? IPPROTO_TCP : IPPROTO_UDP, (guint16)i);
  fx.svc = ct_dbus_service_new (fx.store, NULL, on_state, NULL);
  ct_dbus_service_start (fx.svc);
  while (!fx.owned)
    g_main_context_iteration (NULL, TRUE);
  fx.client = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (fx.bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
  /* Make sure the client maps org.conntracker.Error.* to CT_DBUS_ERROR. */
  (void)CT_DBUS_ERROR;

  g_test_add_func ("/dbus-service/properties", test_properties);
  g_test_add_func ("/dbus-service/list-and-get", test_list_and_get);
  g_test_add_func ("/dbus-service/invalid-queries", test_invalid_queries);
  g_test_add_func ("/dbus-service/dump", test_dump);
  g_test_add_func ("/dbus-service/subscribe", test_subscribe);
  g_test_add_func ("/dbus-service/reset", test_reset_denied_or_allowed);
  g_test_add_func ("/dbus-service/trace-disabled", test_trace_disabled);
  g_test_add_func ("/dbus-service/trace-invalid", test_trace_invalid);
  g_test_add_func ("/dbus-service/trace-control", test_trace_control);
  status = g_test_run ();

  ct_dbus_service_stop (fx.svc);
  g_clear_object (&fx.client);
  ct_dbus_service_free (fx.svc);
  ct_store_free (fx.store);
  g_test_dbus_down (fx.bus);
  g_object_unref (fx.bus);
  return status;
}

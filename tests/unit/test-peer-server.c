/* Peer-to-peer D-Bus without a bus: the real service (skeleton, authority,
 * dump stream, subscriptions) on a socket in a temporary directory, and
 * clients connecting to it as conntrackerctl --address does. As root every
 * call is authorized (uid 0 from the kernel's credentials); as anyone else
 * there is no polkitd (DBUS_SYSTEM_BUS_ADDRESS points nowhere), so reading
 * must be refused. Also: the socket file's life (mode, stale sockets,
 * removal), adopting listening sockets, EXTERNAL as the only mechanism,
 * and the journal fields of authorization decisions (log-ids.h), caught by
 * a GLog writer. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ct-error.h"
#include "dbus-service.h"
#include "log-ids.h"
#include "peer-server.h"
#include "subscriptions.h"

typedef struct
{
  CtStore *store;
  CtDBusService *svc;
  char *dir;
  char *path;
  char *address;
  GPtrArray *events; /* GHashTable *: the fields of lines with a MESSAGE_ID */
} Fixture;

static Fixture fx;

static gboolean
is_root (void)
{
  return geteuid () == 0;
}

/* Fields of every structured line with a MESSAGE_ID, then GLib's writer. */
static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n,
                gpointer data)
{
  for (gsize i = 0; i < n; i++)
    if (g_str_equal (fields[i].key, "MESSAGE_ID"))
      {
        GHashTable *event
            = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

        for (gsize j = 0; j < n; j++)
          g_hash_table_insert (
              event, g_strdup (fields[j].key),
              fields[j].length < 0
                  ? g_strdup (fields[j].value)
                  : g_strndup (fields[j].value, (gsize)fields[j].length));
        g_ptr_array_add (fx.events, event);
        break;
      }
  return g_log_writer_default (level, fields, n, data);
}

/* The last captured line with that MESSAGE_ID, or NULL. */
static GHashTable *
last_event (const char *id)
{
  for (guint i = fx.events->len; i > 0; i--)
    {
      GHashTable *e = g_ptr_array_index (fx.events, i - 1);

      if (g_strcmp0 (g_hash_table_lookup (e, "MESSAGE_ID"), id) == 0)
        return e;
    }
  return NULL;
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
  g_assert_not_reached (); /* never started on a bus */
}

/* Runs the main loop until *flag or 5 s passed. */
static void
wait_for (const gboolean *flag)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (!*flag && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (*flag);
}

static void
wait_for_peers (guint n)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (ct_dbus_service_get_n_peers (fx.svc) != n
         && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (ct_dbus_service_get_n_peers (fx.svc), ==, n);
}

typedef struct
{
  GDBusConnection *conn;
  GVariant *reply;
  GError *error;
  gboolean done;
} Result;

static void
on_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  Result *r = data;

  r->conn = g_dbus_connection_new_for_address_finish (res, &r->error);
  r->done = TRUE;
}

/* Asynchronously: this thread's main loop also runs the server. */
static GDBusConnection *
connect_to (const char *address)
{
  Result r = { 0 };

  g_dbus_connection_new_for_address (
      address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL,
      on_connected, &r);
  wait_for (&r.done);
  g_assert_no_error (r.error);
  return r.conn;
}

static GDBusConnection *
connect_peer (void)
{
  GDBusConnection *conn = connect_to (fx.address);

  g_assert_cmpint (g_dbus_connection_get_capabilities (conn)
                       & G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING,
                   !=, 0);
  return conn;
}

static void
disconnect_peer (GDBusConnection *conn)
{
  guint before = ct_dbus_service_get_n_peers (fx.svc);

  g_dbus_connection_close_sync (conn, NULL, NULL);
  g_object_unref (conn);
  wait_for_peers (before - 1);
}

static void
on_reply (GObject *source, GAsyncResult *res, gpointer data)
{
  Result *r = data;

  r->reply = g_dbus_connection_call_with_unix_fd_list_finish (
      G_DBUS_CONNECTION (source), NULL, res, &r->error);
  r->done = TRUE;
}

/* A call without a destination: there is no bus. */
static GVariant *
call_iface (GDBusConnection *conn, const char *path, const char *iface,
            const char *method, GVariant *params, GUnixFDList *fds,
            GError **error)
{
  Result r = { 0 };

  g_dbus_connection_call_with_unix_fd_list (
      conn, NULL, path, iface, method, params, NULL, G_DBUS_CALL_FLAGS_NONE,
      10000, fds, NULL, on_reply, &r);
  wait_for (&r.done);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.reply;
}

static GVariant *
call (GDBusConnection *conn, const char *method, GVariant *params,
      GError **error)
{
  return call_iface (conn, CT_DBUS_PATH, CT_DBUS_INTERFACE, method, params,
                     NULL, error);
}

static void
assert_denied (const GError *error)
{
  g_autofree char *remote = NULL;

  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_NOT_AUTHORIZED);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.conntracker.Error.NotAuthorized");
  g_assert_nonnull (strstr (error->message, "polkit is unavailable"));
}

static void
test_socket_file (void)
{
  struct stat st;

  g_assert_cmpint (lstat (fx.path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  /* Everyone may connect; each call is authorized. */
  g_assert_cmpint (st.st_mode & 07777, ==, 0666);
}

static void
test_introspect_and_properties (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) xml = NULL;
  g_autoptr (GVariant) root = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) ping = NULL;
  GDBusConnection *conn = connect_peer ();
  const char *s;
  guint32 u;

  wait_for_peers (1);
  xml = call_iface (conn, CT_DBUS_PATH, "org.freedesktop.DBus.Introspectable",
                    "Introspect", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (xml, "(&s)", &s);
  g_assert_nonnull (strstr (s, "<interface name=\"" CT_DBUS_INTERFACE "\">"));
  g_assert_nonnull (strstr (s, "<signal name=\"FlowsAdded\">"));
  /* The tree leads there, as busctl tree expects. */
  root = call_iface (conn, "/", "org.freedesktop.DBus.Introspectable",
                     "Introspect", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (root, "(&s)", &s);
  g_assert_nonnull (strstr (s, "<node name=\"org\"/>"));
  ping = call_iface (conn, "/", "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                     &error);
  g_assert_no_error (error);

  /* Properties are everyone's, as on the bus. */
  props = call_iface (conn, CT_DBUS_PATH, "org.freedesktop.DBus.Properties",
                      "GetAll", g_variant_new ("(s)", CT_DBUS_INTERFACE), NULL,
                      &error);
  g_assert_no_error (error);
  {
    g_autoptr (GVariant) dict = g_variant_get_child_value (props, 0);

    g_assert_true (g_variant_lookup (dict, "Version", "&s", &s));
    g_assert_cmpstr (s, ==, PACKAGE_VERSION);
    g_assert_true (g_variant_lookup (dict, "FlowCount", "u", &u));
    g_assert_cmpuint (u, ==, ct_store_get_n_flows (fx.store));
  }
  disconnect_peer (conn);
}

static void
test_list (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GDBusConnection *conn = connect_peer ();

  reply = call (conn, "ListFlows",
                g_variant_new_parsed ("({'limit': <uint32 5>},)"), &error);
  if (!is_root ())
    assert_denied (error);
  else
    {
      g_autoptr (GVariant) flows = NULL;
      guint32 total;

      g_assert_no_error (error);
      g_variant_get (reply, "(@aa{sv}u)", &flows, &total);
      g_assert_cmpuint (g_variant_n_children (flows), ==, 5);
      g_assert_cmpuint (total, ==, ct_store_get_n_flows (fx.store));
    }
  g_clear_error (&error);

  /* Validation first, for everyone. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (conn, "ListFlows", g_variant_new_parsed ("({'foo': <1>},)"),
                &error);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY);
  disconnect_peer (conn);
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

/* The fd travels over the peer connection (SCM_RIGHTS). */
static void
test_dump (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  GDBusConnection *conn = connect_peer ();
  Reader r = { g_string_new (NULL), FALSE };
  int p[2], handle;
  guint32 count;

  g_assert_true (g_unix_open_pipe (p, FD_CLOEXEC, NULL));
  g_unix_set_fd_nonblocking (p[0], TRUE, NULL);
  g_unix_fd_add (p[0], G_IO_IN | G_IO_HUP, on_readable, &r);
  handle = g_unix_fd_list_append (fds, p[1], NULL);
  close (p[1]);
  reply = call_iface (
      conn, CT_DBUS_PATH, CT_DBUS_INTERFACE, "DumpFlows",
      g_variant_new ("(@a{sv}h)", g_variant_new_parsed ("{'format': <'json'>}"),
                     handle),
      fds, &error);
  g_clear_object (&fds);
  wait_for (&r.eof);
  close (p[0]);
  if (!is_root ())
    {
      assert_denied (error);
      g_assert_cmpuint (r.data->len, ==, 0);
    }
  else
    {
      g_auto (GStrv) lines = NULL;

      g_assert_no_error (error);
      g_variant_get (reply, "(u)", &count);
      g_assert_cmpuint (count, ==, ct_store_get_n_flows (fx.store));
      lines = g_strsplit (r.data->str, "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), ==, count + 1);
      g_assert_true (g_str_has_prefix (lines[0], "{\"id\":"));
    }
  g_string_free (r.data, TRUE);
  disconnect_peer (conn);
}

typedef struct
{
  guint n;
  guint subscription;
  char *last_signal;
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
  g_variant_get_child (params, 0, "u", &s->subscription);
}

static guint
subscribe (GDBusConnection *conn, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  guint id = 0;

  reply = call (conn, "Subscribe",
                g_variant_new_parsed ("({'filter': <'proto udp'>, "
                                      "'interval-ms': <uint32 100>},)"),
                error);
  if (reply != NULL)
    g_variant_get (reply, "(u)", &id);
  return id;
}

static void
test_subscribe (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GDBusConnection *a = connect_peer ();
  GDBusConnection *b = connect_peer ();
  Signals sa = { 0 }, sb = { 0 };
  guint watch_a, watch_b, id;
  gint64 until;

  wait_for_peers (2);
  watch_a = g_dbus_connection_signal_subscribe (
      a, NULL, CT_DBUS_INTERFACE, NULL, CT_DBUS_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &sa, NULL);
  watch_b = g_dbus_connection_signal_subscribe (
      b, NULL, CT_DBUS_INTERFACE, NULL, CT_DBUS_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &sb, NULL);

  id = subscribe (a, &error);
  if (!is_root ())
    {
      assert_denied (error);
      goto out;
    }
  g_assert_no_error (error);
  add_flow (80001, IPPROTO_TCP, 8001); /* filtered out */
  add_flow (80002, IPPROTO_UDP, 8002);
  until = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (sa.n == 0 && g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (sa.n, ==, 1);
  g_assert_cmpstr (sa.last_signal, ==, "FlowsAdded");
  g_assert_cmpuint (sa.subscription, ==, id);

  /* b holds no subscription: it heard nothing and cannot drop a's. */
  reply = call (b, "Unsubscribe", g_variant_new ("(u)", id), &error);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_FAILED);
  g_clear_error (&error);

  /* Eight per connection. */
  for (guint i = 0; i < CT_SUBSCRIPTIONS_PER_CLIENT; i++)
    {
      subscribe (b, &error);
      g_assert_no_error (error);
    }
  subscribe (b, &error);
  g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);

out:
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (sb.n, ==, 0);
  g_dbus_connection_signal_unsubscribe (a, watch_a);
  g_dbus_connection_signal_unsubscribe (b, watch_b);
  g_free (sa.last_signal);
  disconnect_peer (a);
  disconnect_peer (b);
}

/* A closed connection takes its subscriptions along: otherwise the
 * daemon's limit (64) would be reached after eight full connections. */
static void
test_close_drops_subscriptions (void)
{
  if (!is_root ())
    {
      g_test_skip ("subscribing needs polkit when not root");
      return;
    }
  for (guint round = 0;
       round < CT_SUBSCRIPTIONS_MAX / CT_SUBSCRIPTIONS_PER_CLIENT + 2; round++)
    {
      GDBusConnection *conn = connect_peer ();

      for (guint i = 0; i < CT_SUBSCRIPTIONS_PER_CLIENT; i++)
        {
          g_autoptr (GError) error = NULL;

          subscribe (conn, &error);
          g_assert_no_error (error);
        }
      disconnect_peer (conn);
    }
}

/* Reset's authorization and the reset itself carry their journal fields;
 * the client's pid comes from the kernel. */
static void
test_reset_logged (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *uid = g_strdup_printf ("%u", (guint)geteuid ());
  g_autofree char *pid = g_strdup_printf ("%d", (int)getpid ());
  GDBusConnection *conn = connect_peer ();
  guint n = ct_store_get_n_flows (fx.store);
  GHashTable *e;

  g_assert_cmpuint (n, >, 0);
  g_ptr_array_set_size (fx.events, 0);
  reply = call (conn, "Reset", NULL, &error);
  e = last_event (CT_LOG_ID_AUTHORIZATION);
  g_assert_nonnull (e);
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_POLKIT_ACTION"), ==,
                   "org.conntracker.reset");
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_METHOD"), ==, "Reset");
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_TRANSPORT"), ==, "peer");
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_CALLER"), ==, "peer");
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_CALLER_UID"), ==, uid);
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_CALLER_PID"), ==, pid);
  g_assert_cmpstr (g_hash_table_lookup (e, "PRIORITY"), ==, "5");
  g_assert_cmpstr (g_hash_table_lookup (e, "GLIB_DOMAIN"), ==, "conntracker");
  g_assert_true (
      g_str_has_suffix (g_hash_table_lookup (e, "CODE_FILE"), "authority.c"));
  g_assert_cmpstr (g_hash_table_lookup (e, "CODE_FUNC"), ==, "log_decision");
  g_assert_nonnull (strstr (g_hash_table_lookup (e, "MESSAGE"),
                            "authorization: Reset from a peer (uid "));
  if (!is_root ())
    {
      g_assert_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_NOT_AUTHORIZED);
      g_assert_cmpstr (g_hash_table_lookup (e, "CT_DECISION"), ==, "denied");
      g_assert_nonnull (strstr (g_hash_table_lookup (e, "CT_REASON"),
                                "polkit is unavailable"));
      g_assert_null (last_event (CT_LOG_ID_STORE_RESET));
      g_assert_cmpuint (ct_store_get_n_flows (fx.store), ==, n);
    }
  else
    {
      g_autofree char *flows = g_strdup_printf ("%u", n);

      g_assert_no_error (error);
      g_assert_cmpstr (g_hash_table_lookup (e, "CT_DECISION"), ==, "allowed");
      g_assert_cmpstr (g_hash_table_lookup (e, "CT_REASON"), ==, "root");
      e = last_event (CT_LOG_ID_STORE_RESET);
      g_assert_nonnull (e);
      g_assert_cmpstr (g_hash_table_lookup (e, "CT_FLOWS"), ==, flows);
      g_assert_true (
          g_str_has_prefix (g_hash_table_lookup (e, "CT_CALLER"), "peer:"));
      g_assert_cmpuint (ct_store_get_n_flows (fx.store), ==, 0);
    }
  disconnect_peer (conn);
}

static void
test_log_event (void)
{
  GHashTable *e;
  guint64 big = G_MAXUINT64;
  int line;

  g_ptr_array_set_size (fx.events, 0);
  line = __LINE__ + 1;
  ct_log_event (
      G_LOG_LEVEL_INFO, CT_LOG_ID_STARTED,
      CT_LOG_FIELDS ("CT_FLOWS", CT_LOG_U64 (42), "CT_BIG", CT_LOG_U64 (big)),
      "started with %u flows", 42u);
  e = last_event (CT_LOG_ID_STARTED);
  g_assert_nonnull (e);
  g_assert_cmpstr (g_hash_table_lookup (e, "MESSAGE"), ==,
                   "started with 42 flows");
  g_assert_cmpstr (g_hash_table_lookup (e, "PRIORITY"), ==, "6");
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_FLOWS"), ==, "42");
  g_assert_cmpstr (g_hash_table_lookup (e, "CT_BIG"), ==,
                   "18446744073709551615");
  g_assert_cmpstr (g_hash_table_lookup (e, "CODE_FUNC"), ==, "test_log_event");
  g_assert_cmpint (atoi (g_hash_table_lookup (e, "CODE_LINE")), ==, line);
  g_assert_true (g_str_has_suffix (g_hash_table_lookup (e, "CODE_FILE"),
                                   "test-peer-server.c"));

  /* No fields, and every id is a journal id: 32 lowercase hex digits. */
  ct_log_event (G_LOG_LEVEL_MESSAGE, CT_LOG_ID_STOPPED, NULL, "stopped");
  e = last_event (CT_LOG_ID_STOPPED);
  g_assert_nonnull (e);
  g_assert_cmpstr (g_hash_table_lookup (e, "PRIORITY"), ==, "5");
  {
    static const char *const ids[]
        = { CT_LOG_ID_STARTED,    CT_LOG_ID_STOPPED, CT_LOG_ID_OVERRUN,
            CT_LOG_ID_RESYNC,     CT_LOG_ID_EVICTED, CT_LOG_ID_AUTHORIZATION,
            CT_LOG_ID_STORE_RESET };

    for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
      {
        g_assert_cmpuint (strlen (ids[i]), ==, 32);
        for (const char *c = ids[i]; *c; c++)
          g_assert_true (g_ascii_isdigit (*c) || (*c >= 'a' && *c <= 'f'));
        for (guint j = 0; j < i; j++)
          g_assert_cmpstr (ids[i], !=, ids[j]);
      }
  }
}

/* The server offers EXTERNAL and nothing else. */
typedef struct
{
  char *path;
  GString *replies;
  gboolean done;
} RawClient;

static gpointer
raw_client (gpointer data)
{
  RawClient *rc = data;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = 5 };
  static const char *const lines[]
      = { "AUTH\r\n", "AUTH ANONYMOUS\r\n", "AUTH DBUS_COOKIE_SHA1 30\r\n" };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (sun.sun_path, rc->path, sizeof sun.sun_path);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect (fd, (struct sockaddr *)&sun, sizeof sun) == 0
      && write (fd, "", 1) == 1)
    for (guint i = 0; i < G_N_ELEMENTS (lines); i++)
      {
        char buf[256];
        ssize_t n;

        if (write (fd, lines[i], strlen (lines[i])) < 0)
          break;
        n = read (fd, buf, sizeof buf - 1);
        if (n <= 0)
          break;
        g_string_append_len (rc->replies, buf, n);
      }
  close (fd);
  g_atomic_int_set (&rc->done, TRUE);
  return NULL;
}

static void
test_only_external (void)
{
  RawClient rc = { fx.path, g_string_new (NULL), FALSE };
  GThread *thread = g_thread_new ("raw-client", raw_client, &rc);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!g_atomic_int_get (&rc.done) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_thread_join (thread);
  g_assert_cmpstr (rc.replies->str, ==,
                   "REJECTED EXTERNAL\r\nREJECTED EXTERNAL\r\n"
                   "REJECTED EXTERNAL\r\n");
  g_string_free (rc.replies, TRUE);
}

/* A socket file left by a daemon that did not stop cleanly. */
static void
make_stale_socket (const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (sun.sun_path, path, sizeof sun.sun_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&sun, sizeof sun), ==, 0);
  close (fd);
}

static void
on_any_peer (GDBusConnection *conn, gpointer data)
{
  guint *n = data;

  if (n != NULL)
    (*n)++;
  g_dbus_connection_start_message_processing (conn);
}

static void
test_socket_life (void)
{
  g_autofree char *stale = g_build_filename (fx.dir, "stale", NULL);
  g_autofree char *file = g_build_filename (fx.dir, "file", NULL);
  g_autofree char *nested = g_build_filename (fx.dir, "a", "b", "sock", NULL);
  g_autofree char *address = NULL;
  g_autoptr (GError) error = NULL;
  CtPeerServer *one = ct_peer_server_new (on_any_peer, NULL);
  CtPeerServer *two = ct_peer_server_new (on_any_peer, NULL);
  CtPeerServer *three = ct_peer_server_new (on_any_peer, NULL);
  g_autofree char *contents = NULL;
  struct stat st;

  /* A stale socket is replaced, and removed at stop. */
  make_stale_socket (stale);
  g_assert_true (ct_peer_server_listen (one, stale, &error));
  g_assert_no_error (error);
  address = g_strconcat ("unix:path=", stale, NULL);
  g_assert_cmpstr (ct_peer_server_get_addresses (one)[0], ==, address);
  g_assert_null (ct_peer_server_get_addresses (one)[1]);
  g_assert_cmpuint (ct_peer_server_get_n_sockets (one), ==, 1);

  /* A live one is not: the second daemon fails, the first keeps it. */
  g_assert_false (ct_peer_server_listen (two, stale, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull (strstr (error->message, "already running"));
  g_clear_error (&error);
  ct_peer_server_free (two);
  g_assert_cmpint (lstat (stale, &st), ==, 0);

  ct_peer_server_stop (one);
  g_assert_cmpint (lstat (stale, &st), ==, -1);
  ct_peer_server_free (one);

  /* Anything else is never removed. */
  g_assert_true (g_file_set_contents (file, "keep", -1, NULL));
  g_assert_false (ct_peer_server_listen (three, file, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "keep");
  g_assert_false (ct_peer_server_listen (three, "relative/socket", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Missing directories are made; a socket replaced by someone else after
   * we listened is theirs, and stays. */
  g_assert_true (ct_peer_server_listen (three, nested, &error));
  g_assert_no_error (error);
  g_assert_cmpint (unlink (nested), ==, 0);
  g_assert_true (g_file_set_contents (nested, "theirs", -1, NULL));
  ct_peer_server_free (three);
  g_assert_cmpint (lstat (nested, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  unlink (nested);
  unlink (file);
}

static int
listening_socket (const char *path, gboolean do_listen)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (sun.sun_path, path, sizeof sun.sun_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&sun, sizeof sun), ==, 0);
  if (do_listen)
    g_assert_cmpint (listen (fd, 8), ==, 0);
  return fd;
}

/* What systemd passes: listening sockets only. */
static void
test_adopt (void)
{
  g_autofree char *path = g_build_filename (fx.dir, "adopted", NULL);
  g_autofree char *idle = g_build_filename (fx.dir, "idle", NULL);
  g_autofree char *address = NULL;
  g_autoptr (GError) error = NULL;
  CtPeerServer *s = ct_peer_server_new (on_any_peer, NULL);
  guint accepted = 0;
  GDBusConnection *conn;
  gint64 deadline;

  g_assert_false (ct_peer_server_adopt_fd (
      s, socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "not a listening Unix stream"));
  g_clear_error (&error);
  g_assert_false (
      ct_peer_server_adopt_fd (s, listening_socket (idle, FALSE), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpuint (ct_peer_server_get_n_sockets (s), ==, 0);
  ct_peer_server_free (s);

  s = ct_peer_server_new (on_any_peer, &accepted);
  g_assert_true (
      ct_peer_server_adopt_fd (s, listening_socket (path, TRUE), &error));
  g_assert_no_error (error);
  address = g_strconcat ("unix:path=", path, NULL);
  g_assert_cmpstr (ct_peer_server_get_addresses (s)[0], ==, address);
  conn = connect_to (address);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (accepted == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (accepted, ==, 1);
  g_assert_cmpuint (ct_peer_server_get_n_connections (s), ==, 1);
  g_dbus_connection_close_sync (conn, NULL, NULL);
  g_object_unref (conn);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (ct_peer_server_get_n_connections (s) > 0
         && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (ct_peer_server_get_n_connections (s), ==, 0);
  /* Adopted sockets are systemd's: the file stays. */
  ct_peer_server_free (s);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  unlink (path);
  unlink (idle);
}

/* Last: stopping removes the socket, and the connections open until the
 * service is freed still get answers. */
static void
test_stop (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GDBusConnection *conn = connect_peer ();

  wait_for_peers (1);
  ct_dbus_service_stop (fx.svc);
  g_assert_false (g_file_test (fx.path, G_FILE_TEST_EXISTS));
  reply = call_iface (
      conn, CT_DBUS_PATH, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", CT_DBUS_INTERFACE, "Version"), NULL, &error);
  g_assert_no_error (error);
  ct_dbus_service_free (fx.svc);
  fx.svc = NULL;
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (!g_dbus_connection_is_closed (conn)
           && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, FALSE);
  }
  g_assert_true (g_dbus_connection_is_closed (conn));
  g_object_unref (conn);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* Hermetic: no polkitd to ask, whatever the host has. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/conntracker-test-no-bus", TRUE);
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_PID");
  fx.events
      = g_ptr_array_new_with_free_func ((GDestroyNotify)g_hash_table_unref);
  g_log_set_writer_func (capture_writer, NULL, NULL);

  fx.store = ct_store_new (5000, TRUE);
  for (guint i = 1; i <= 1500; i++)
    add_flow (i, i % 3 ? IPPROTO_TCP : IPPROTO_UDP, (guint16)i);
  fx.dir = g_dir_make_tmp ("test-peer-server-XXXXXX", &error);
  g_assert_no_error (error);
  fx.path = g_build_filename (fx.dir, "run", "socket", NULL);
  fx.address = g_strconcat ("unix:path=", fx.path, NULL);
  fx.svc = ct_dbus_service_new (fx.store, NULL, on_state, NULL);
  g_assert_true (ct_dbus_service_listen (fx.svc, fx.path, &error));
  g_assert_no_error (error);

  g_test_add_func ("/peer-server/socket-file", test_socket_file);
  g_test_add_func ("/peer-server/introspect-and-properties",
                   test_introspect_and_properties);
  g_test_add_func ("/peer-server/list", test_list);
  g_test_add_func ("/peer-server/dump", test_dump);
  g_test_add_func ("/peer-server/subscribe", test_subscribe);
  g_test_add_func ("/peer-server/close-drops-subscriptions",
                   test_close_drops_subscriptions);
  g_test_add_func ("/peer-server/reset-logged", test_reset_logged);
  g_test_add_func ("/peer-server/log-event", test_log_event);
  g_test_add_func ("/peer-server/only-external", test_only_external);
  g_test_add_func ("/peer-server/socket-life", test_socket_life);
  g_test_add_func ("/peer-server/adopt", test_adopt);
  g_test_add_func ("/peer-server/stop", test_stop);
  status = g_test_run ();

  g_clear_pointer (&fx.svc, ct_dbus_service_free);
  ct_store_free (fx.store);
  {
    g_autofree char *run = g_path_get_dirname (fx.path);

    g_rmdir (run);
  }
  g_rmdir (fx.dir);
  g_free (fx.path);
  g_free (fx.address);
  g_free (fx.dir);
  g_ptr_array_unref (fx.events);
  return status;
}

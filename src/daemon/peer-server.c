/* peer-server.c — accepting peer-to-peer D-Bus connections. The GIO
 * socket service accepts in the main loop; GDBus authenticates each
 * connection in a worker thread (EXTERNAL only, bounded in time) and the
 * connection is handed over in the main loop. */
#include "peer-server.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define LISTEN_BACKLOG          128
#define REFUSAL_LOG_INTERVAL_US (10 * G_USEC_PER_SEC)

typedef struct _Pending Pending;

struct _CtPeerServer
{
  CtPeerServerFunc func;
  gpointer user_data;
  GSocketService *service;
  GDBusAuthObserver *observer;
  char *guid;
  GPtrArray *addresses; /* char *, NULL-terminated */
  guint n_sockets;
  gboolean stopped;
  /* The socket we created: removed at stop if it is still ours. */
  char *path;
  dev_t path_dev;
  ino_t path_ino;
  GHashTable *pending; /* Pending *, handshakes in progress */
  GHashTable *open;    /* GDBusConnection * (a reference) -> Open * */
  /* Limits, for everyone but root. */
  GHashTable *per_uid; /* uid -> UserCount * */
  guint n_handshakes;  /* pending, not root's */
  gint64 last_refusal_log;
  guint refused_since_log;
};

typedef struct
{
  gulong closed_handler;
  uid_t uid;
} Open;

typedef struct
{
  guint connections; /* pending or open */
  guint handshakes;  /* pending */
} UserCount;

/* One handshake. It outlives the server when the server is freed while
 * GDBus still authenticates (server is NULL then). */
struct _Pending
{
  CtPeerServer *server;
  GIOStream *stream;
  GCancellable *cancellable;
  guint timeout;
  uid_t uid;
};

static const UserCount *
count_of (CtPeerServer *s, uid_t uid)
{
  static const UserCount none = { 0, 0 };
  const UserCount *c = g_hash_table_lookup (s->per_uid, GUINT_TO_POINTER (uid));

  return c != NULL ? c : &none;
}

/* Root is neither counted nor limited. */
static void
count_uid (CtPeerServer *s, uid_t uid, int connections, int handshakes)
{
  UserCount *c;

  if (uid == 0)
    return;
  c = g_hash_table_lookup (s->per_uid, GUINT_TO_POINTER (uid));
  if (c == NULL)
    {
      c = g_new0 (UserCount, 1);
      g_hash_table_insert (s->per_uid, GUINT_TO_POINTER (uid), c);
    }
  c->connections += (guint)connections;
  c->handshakes += (guint)handshakes;
  s->n_handshakes += (guint)handshakes;
  if (c->connections == 0)
    g_hash_table_remove (s->per_uid, GUINT_TO_POINTER (uid));
}

static void
pending_free (Pending *p)
{
  g_clear_handle_id (&p->timeout, g_source_remove);
  g_object_unref (p->cancellable);
  g_object_unref (p->stream);
  g_free (p);
}

/* Only EXTERNAL: the kernel vouches for the peer's uid and pid, which
 * polkit needs. Runs in GDBus's worker thread. */
static gboolean
on_allow_mechanism (GDBusAuthObserver *observer, const char *mechanism,
                    gpointer data)
{
  return g_strcmp0 (mechanism, "EXTERNAL") == 0;
}

/* Everyone may connect: each call is authorized by itself. Credentials are
 * a must, though. Runs in GDBus's worker thread. */
static gboolean
on_authorize_peer (GDBusAuthObserver *observer, GIOStream *stream,
                   GCredentials *credentials, gpointer data)
{
  return credentials != NULL;
}

/* Drops the "closed" handler and our reference, once. */
static void
drop_connection (CtPeerServer *s, GDBusConnection *conn)
{
  gpointer key, value;
  Open *o;

  if (!g_hash_table_steal_extended (s->open, conn, &key, &value))
    return;
  o = value;
  count_uid (s, o->uid, -1, 0);
  g_signal_handler_disconnect (key, o->closed_handler);
  g_object_unref (key);
  g_free (o);
}

static void
on_connection_closed (GDBusConnection *conn, gboolean remote_peer_vanished,
                      GError *error, gpointer data)
{
  drop_connection (data, conn);
}

static gboolean
forget_connection (gpointer key, gpointer value, gpointer data)
{
  Open *o = value;

  g_signal_handler_disconnect (key, o->closed_handler);
  g_object_unref (key);
  g_free (o);
  return TRUE;
}

static void
on_handshake_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Pending *p = data;
  CtPeerServer *s = p->server;
  uid_t uid = p->uid;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) conn = g_dbus_connection_new_finish (res, &error);
  Open *o;

  if (s != NULL)
    {
      g_hash_table_remove (s->pending, p);
      /* Open now, or gone. */
      count_uid (s, uid, conn != NULL && !s->stopped ? 0 : -1, -1);
    }
  if (conn == NULL)
    {
      if (s != NULL)
        g_debug ("a peer-to-peer client failed to authenticate: %s",
                 error->message);
      g_io_stream_close (p->stream, NULL, NULL);
      pending_free (p);
      return;
    }
  pending_free (p);
  if (s == NULL || s->stopped)
    {
      g_dbus_connection_close (conn, NULL, NULL, NULL);
      return;
    }
  o = g_new0 (Open, 1);
  o->uid = uid;
  o->closed_handler
      = g_signal_connect (conn, "closed", G_CALLBACK (on_connection_closed), s);
  g_hash_table_insert (s->open, g_object_ref (conn), o);
  s->func (conn, s->user_data);
  /* It may have closed before the handler was connected; then "closed"
   * may never reach the handler. */
  if (g_dbus_connection_is_closed (conn))
    drop_connection (s, conn);
}

static gboolean
on_handshake_timeout (gpointer data)
{
  Pending *p = data;

  p->timeout = 0;
  g_debug ("a peer-to-peer client did not authenticate within %u s",
           CT_PEER_HANDSHAKE_TIMEOUT_S);
  g_cancellable_cancel (p->cancellable);
  return G_SOURCE_REMOVE;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection,
             GObject *source_object, gpointer data)
{
  CtPeerServer *s = data;
  guint busy = g_hash_table_size (s->pending) + g_hash_table_size (s->open);
  g_autoptr (GCredentials) creds = g_socket_get_credentials (
      g_socket_connection_get_socket (connection), NULL);
  uid_t uid
      = creds != NULL ? g_credentials_get_unix_user (creds, NULL) : (uid_t)-1;
  const UserCount *c = count_of (s, uid);
  Pending *p;

  /* Handshakes run in GLib's worker threads, blocked on the client: a few
   * at a time, so that stalled clients cannot starve the pool. One user
   * cannot take every slot; root always gets in. */
  if (uid == (uid_t)-1
      || (uid != 0
          && (busy >= CT_PEER_MAX_CONNECTIONS
              || c->connections >= CT_PEER_MAX_PER_USER
              || s->n_handshakes >= CT_PEER_MAX_HANDSHAKES
              || c->handshakes >= CT_PEER_MAX_HANDSHAKES_PER_USER)))
    {
      gint64 now = g_get_monotonic_time ();

      s->refused_since_log++;
      if (s->last_refusal_log == 0
          || now - s->last_refusal_log >= REFUSAL_LOG_INTERVAL_US)
        {
          g_warning ("peer-to-peer D-Bus: refused %u connection(s) since "
                     "the last report (now %u open, %u authenticating; uid "
                     "%d has %u and %u; at most %u and %u, %u and %u per "
                     "user)",
                     s->refused_since_log, busy - s->n_handshakes,
                     s->n_handshakes, (int)uid, c->connections - c->handshakes,
                     c->handshakes, CT_PEER_MAX_CONNECTIONS,
                     CT_PEER_MAX_HANDSHAKES, CT_PEER_MAX_PER_USER,
                     CT_PEER_MAX_HANDSHAKES_PER_USER);
          s->last_refusal_log = now;
          s->refused_since_log = 0;
        }
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  p = g_new0 (Pending, 1);
  p->server = s;
  p->uid = uid;
  count_uid (s, uid, +1, +1);
  p->stream = G_IO_STREAM (g_object_ref (connection));
  p->cancellable = g_cancellable_new ();
  p->timeout = g_timeout_add_seconds (CT_PEER_HANDSHAKE_TIMEOUT_S,
                                      on_handshake_timeout, p);
  g_hash_table_add (s->pending, p);
  g_dbus_connection_new (p->stream, s->guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER
                             | G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                         s->observer, p->cancellable, on_handshake_done, p);
  return TRUE;
}

CtPeerServer *
ct_peer_server_new (CtPeerServerFunc func, gpointer user_data)
{
  CtPeerServer *s = g_new0 (CtPeerServer, 1);

  s->func = func;
  s->user_data = user_data;
  s->guid = g_dbus_generate_guid ();
  s->addresses = g_ptr_array_new_null_terminated (1, g_free, TRUE);
  s->pending = g_hash_table_new (NULL, NULL);
  s->open = g_hash_table_new (NULL, NULL);
  s->per_uid = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  s->observer = g_dbus_auth_observer_new ();
  g_signal_connect (s->observer, "allow-mechanism",
                    G_CALLBACK (on_allow_mechanism), NULL);
  g_signal_connect (s->observer, "authorize-authenticated-peer",
                    G_CALLBACK (on_authorize_peer), NULL);
  s->service = g_socket_service_new ();
  g_signal_connect (s->service, "incoming", G_CALLBACK (on_incoming), s);
  return s;
}

static char *
describe_address (GSocket *sock)
{
  g_autoptr (GSocketAddress) addr = g_socket_get_local_address (sock, NULL);
  GUnixSocketAddress *ua;
  g_autofree char *escaped = NULL;

  if (addr == NULL || !G_IS_UNIX_SOCKET_ADDRESS (addr))
    return g_strdup_printf ("an unnamed socket (fd %d)",
                            g_socket_get_fd (sock));
  ua = G_UNIX_SOCKET_ADDRESS (addr);
  switch (g_unix_socket_address_get_address_type (ua))
    {
    case G_UNIX_SOCKET_ADDRESS_PATH:
      escaped
          = g_dbus_address_escape_value (g_unix_socket_address_get_path (ua));
      return g_strconcat ("unix:path=", escaped, NULL);
    case G_UNIX_SOCKET_ADDRESS_ABSTRACT:
    case G_UNIX_SOCKET_ADDRESS_ABSTRACT_PADDED:
      escaped
          = g_dbus_address_escape_value (g_unix_socket_address_get_path (ua));
      return g_strconcat ("unix:abstract=", escaped, NULL);
    case G_UNIX_SOCKET_ADDRESS_INVALID:
    case G_UNIX_SOCKET_ADDRESS_ANONYMOUS:
    default:
      return g_strdup_printf ("an unnamed socket (fd %d)",
                              g_socket_get_fd (sock));
    }
}

static gboolean
add_socket (CtPeerServer *s, GSocket *sock, GError **error)
{
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (s->service), sock, NULL,
                                     error))
    return FALSE;
  g_ptr_array_add (s->addresses, describe_address (sock));
  s->n_sockets++;
  return TRUE;
}

gboolean
ct_peer_server_adopt_fd (CtPeerServer *s, int fd, GError **error)
{
  g_autoptr (GSocket) sock = NULL;
  int r = sd_is_socket_unix (fd, SOCK_STREAM, 1, NULL, 0);

  if (r <= 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "file descriptor %d is not a listening Unix stream "
                   "socket%s%s",
                   fd, r < 0 ? ": " : "", r < 0 ? g_strerror (-r) : "");
      close (fd);
      return FALSE;
    }
  sock = g_socket_new_from_fd (fd, error);
  if (sock == NULL)
    {
      close (fd);
      return FALSE;
    }
  return add_socket (s, sock, error);
}

int
ct_peer_server_adopt_systemd (CtPeerServer *s, GError **error)
{
  int n = sd_listen_fds (1);

  if (n < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-n),
                   "cannot take the sockets passed by systemd: %s",
                   g_strerror (-n));
      return -1;
    }
  for (int i = 0; i < n; i++)
    {
      g_autoptr (GError) local = NULL;

      if (!ct_peer_server_adopt_fd (s, SD_LISTEN_FDS_START + i, &local))
        {
          /* The rest are ours too: close them. */
          for (int j = i + 1; j < n; j++)
            close (SD_LISTEN_FDS_START + j);
          g_set_error (error, local->domain, local->code,
                       "of the sockets systemd passed (conntrackerd.socket), "
                       "%s",
                       local->message);
          return -1;
        }
    }
  return n;
}

/* A socket file nobody listens on is left over from a daemon that did not
 * stop cleanly: remove it. */
static gboolean
remove_stale (const char *path, GError **error)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct stat st;
  int fd, r, err;

  if (lstat (path, &st) < 0)
    {
      if (errno == ENOENT)
        return TRUE;
      err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot use %s: %s", path, g_strerror (err));
      return FALSE;
    }
  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   "%s exists and is not a socket; not replacing it", path);
      return FALSE;
    }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    {
      err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot create a socket: %s", g_strerror (err));
      return FALSE;
    }
  memcpy (sun.sun_path, path, strlen (path) + 1);
  r = connect (fd, (struct sockaddr *)&sun, sizeof sun);
  err = errno;
  close (fd);
  if (r == 0 || err == EAGAIN || err == EINPROGRESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   "another process listens on %s (is conntrackerd already "
                   "running?)",
                   path);
      return FALSE;
    }
  if (err != ECONNREFUSED && err != ENOENT)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot check whether %s is in use: %s", path,
                   g_strerror (err));
      return FALSE;
    }
  if (unlink (path) < 0 && errno != ENOENT)
    {
      err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot remove the stale socket %s: %s", path,
                   g_strerror (err));
      return FALSE;
    }
  g_debug ("removed the stale socket %s", path);
  return TRUE;
}

static gboolean
fail_at (GError **error, const char *path, const char *what, int err)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
               "cannot %s %s: %s", what, path, g_strerror (err));
  return FALSE;
}

gboolean
ct_peer_server_listen (CtPeerServer *s, const char *path, GError **error)
{
  struct sockaddr_un sun;
  g_autofree char *dir = NULL;
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (GError) local = NULL;
  struct stat st;

  g_return_val_if_fail (s->path == NULL, FALSE);
  if (!g_path_is_absolute (path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "cannot listen on %s: not an absolute path", path);
      return FALSE;
    }
  if (strlen (path) >= sizeof sun.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   "cannot listen on %s: a Unix socket path has at most %zu "
                   "bytes",
                   path, sizeof sun.sun_path - 1);
      return FALSE;
    }
  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) < 0)
    return fail_at (error, dir, "create the directory", errno);
  if (!remove_stale (path, error))
    return FALSE;

  sock = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                       G_SOCKET_PROTOCOL_DEFAULT, error);
  if (sock == NULL)
    return FALSE;
  addr = g_unix_socket_address_new (path);
  if (!g_socket_bind (sock, addr, FALSE, &local))
    {
      g_set_error (error, local->domain, local->code, "cannot listen on %s: %s",
                   path, local->message);
      return FALSE;
    }
  /* Everyone may connect; each call is authorized. The umask (0077 under
   * systemd) applied at bind; nobody can connect before listen. */
  if (chmod (path, 0666) < 0 || lstat (path, &st) < 0)
    {
      int err = errno;

      unlink (path);
      return fail_at (error, path, "set the mode of", err);
    }
  g_socket_set_listen_backlog (sock, LISTEN_BACKLOG);
  if (!g_socket_listen (sock, &local) || !add_socket (s, sock, &local))
    {
      unlink (path);
      g_set_error (error, local->domain, local->code, "cannot listen on %s: %s",
                   path, local->message);
      return FALSE;
    }
  s->path = g_strdup (path);
  s->path_dev = st.st_dev;
  s->path_ino = st.st_ino;
  return TRUE;
}

const char *const *
ct_peer_server_get_addresses (CtPeerServer *s)
{
  return (const char *const *)s->addresses->pdata;
}

guint
ct_peer_server_get_n_sockets (CtPeerServer *s)
{
  return s->n_sockets;
}

guint
ct_peer_server_get_n_connections (CtPeerServer *s)
{
  return g_hash_table_size (s->open);
}

void
ct_peer_server_stop (CtPeerServer *s)
{
  struct stat st;

  if (s->stopped)
    return;
  s->stopped = TRUE;
  g_socket_service_stop (s->service);
  g_socket_listener_close (G_SOCKET_LISTENER (s->service));
  /* A successor may have put its own socket there already. */
  if (s->path != NULL && lstat (s->path, &st) == 0 && st.st_dev == s->path_dev
      && st.st_ino == s->path_ino)
    {
      if (unlink (s->path) < 0)
        g_warning ("cannot remove %s: %s", s->path, g_strerror (errno));
    }
}

static gboolean
abandon_pending (gpointer key, gpointer value, gpointer data)
{
  Pending *p = key;

  /* Its callback comes later and frees it. */
  p->server = NULL;
  g_clear_handle_id (&p->timeout, g_source_remove);
  g_cancellable_cancel (p->cancellable);
  return TRUE;
}

void
ct_peer_server_free (CtPeerServer *s)
{
  if (s == NULL)
    return;
  ct_peer_server_stop (s);
  g_hash_table_foreach_steal (s->pending, abandon_pending, NULL);
  g_hash_table_foreach_steal (s->open, forget_connection, NULL);
  g_hash_table_destroy (s->open);
  g_hash_table_destroy (s->pending);
  g_hash_table_destroy (s->per_uid);
  g_signal_handlers_disconnect_by_data (s->service, s);
  g_object_unref (s->service);
  g_object_unref (s->observer);
  g_ptr_array_unref (s->addresses);
  g_free (s->guid);
  g_free (s->path);
  g_free (s);
}

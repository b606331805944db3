/* peer-server.h — peer-to-peer D-Bus without a bus: listening Unix sockets
 * (adopted from systemd, or created at a path), EXTERNAL authentication
 * only (the kernel's SO_PEERCRED credentials), and every authenticated
 * connection handed over. Knows nothing of what is served on them:
 * dbus-service.c exports the interface and authorizes each call. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Connections open or authenticating at once, in all and per user, and
 * connections authenticating (each holds one of GLib's worker threads
 * while it waits for the client), in all and per user; more are closed at
 * once (and logged, at most once per 10 s). Root's connections count
 * towards the totals but are never refused. */
#define CT_PEER_MAX_CONNECTIONS         64u
#define CT_PEER_MAX_PER_USER            16u
#define CT_PEER_MAX_HANDSHAKES          8u
#define CT_PEER_MAX_HANDSHAKES_PER_USER 4u
/* A client that does not finish authenticating within this is dropped. */
#define CT_PEER_HANDSHAKE_TIMEOUT_S 5u

typedef struct _CtPeerServer CtPeerServer;

/* A new authenticated connection, from the main loop. Its message
 * processing is delayed: export objects, then call
 * g_dbus_connection_start_message_processing(). Take a reference to keep
 * it; the server keeps its own until the connection closes. */
typedef void (*CtPeerServerFunc) (GDBusConnection *conn, gpointer user_data);

CtPeerServer *ct_peer_server_new (CtPeerServerFunc func, gpointer user_data);

/* Adopts the sockets systemd passed (sd_listen_fds, which then clears
 * LISTEN_FDS from the environment): each must be a listening AF_UNIX
 * stream socket, or this fails naming it. Returns how many (0 when not
 * socket-activated), or -1 with error. */
int ct_peer_server_adopt_systemd (CtPeerServer *server, GError **error);

/* Adopts one listening AF_UNIX stream socket (the server owns fd then,
 * even on failure). */
gboolean ct_peer_server_adopt_fd (CtPeerServer *server, int fd, GError **error);

/* Creates a socket at path (absolute; its directory is created, 0755, if
 * missing) with mode 0666, and listens on it. A stale socket there (no
 * process listening) is replaced; a live one, or anything not a socket,
 * is an error. ct_peer_server_stop removes it again, unless something
 * else replaced it meanwhile. */
gboolean ct_peer_server_listen (CtPeerServer *server, const char *path,
                                GError **error);

/* D-Bus addresses of the sockets in use ("unix:path=…"), for the log;
 * NULL-terminated, owned by the server. */
const char *const *ct_peer_server_get_addresses (CtPeerServer *server);
guint ct_peer_server_get_n_sockets (CtPeerServer *server);
/* Connections open now (handed over and not closed). */
guint ct_peer_server_get_n_connections (CtPeerServer *server);

/* Stops accepting, closes the listening sockets and removes the one it
 * created. Open connections stay open. Idempotent. */
void ct_peer_server_stop (CtPeerServer *server);

/* Stops, abandons handshakes in progress and forgets open connections
 * (without closing them: their users do). */
void ct_peer_server_free (CtPeerServer *server);

G_END_DECLS

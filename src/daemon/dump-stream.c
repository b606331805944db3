/* dump-stream.c — chunked asynchronous dumps into a caller's fd. */
#include "dump-stream.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ct-error.h"
#include "flow-variant.h"
#include "legacy-format.h"

typedef struct
{
  CtStore *store;
  GArray *ids;
  CtDumpFormat format;
  GOutputStream *out; /* pipes, terminals, files: GIO does the waiting */
  int sock;           /* sockets: we wait ourselves (-1 otherwise) */
  GSource *sock_watch;
  gsize sent; /* bytes of chunk already on the socket */
  guint next; /* index into ids of the next flow to format */
  guint written;
  CtLegacyWriter legacy;
  GString *chunk; /* alive until its write completes */
  GError *error;  /* the write error, kept while the stream closes */
} Dump;

static void
dump_free (gpointer p)
{
  Dump *d = p;

  g_array_unref (d->ids);
  if (d->sock_watch != NULL)
    {
      g_source_destroy (d->sock_watch);
      g_source_unref (d->sock_watch);
    }
  if (d->sock >= 0)
    close (d->sock);
  g_clear_object (&d->out);
  if (d->chunk != NULL)
    g_string_free (d->chunk, TRUE);
  g_clear_error (&d->error);
  g_free (d);
}

gboolean
ct_dump_stream_check_fd (int fd, GError **error)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags < 0)
    {
      int err = errno;

      g_set_error (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                   "the file descriptor is not usable: %s", g_strerror (err));
      return FALSE;
    }
  if ((flags & O_ACCMODE) != O_WRONLY && (flags & O_ACCMODE) != O_RDWR)
    {
      g_set_error_literal (error, CT_DBUS_ERROR, CT_DBUS_ERROR_INVALID_QUERY,
                           "the file descriptor is not open for writing");
      return FALSE;
    }
  return TRUE;
}

static void write_next (GTask *task);

static void
on_closed (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Dump *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  /* A write error wins over a close error: it says what went wrong. */
  if (!g_output_stream_close_finish (G_OUTPUT_STREAM (source), res, &error)
      && d->error == NULL)
    d->error = g_steal_pointer (&error);
  if (d->error != NULL)
    g_task_return_error (task, g_steal_pointer (&d->error));
  else
    g_task_return_int (task, d->written);
  g_object_unref (task);
}

static void
finish (GTask *task, GError *error)
{
  Dump *d = g_task_get_task_data (task);

  d->error = error;
  if (d->out == NULL)
    {
      /* A socket: closing it cannot block. */
      close (d->sock);
      d->sock = -1;
      if (d->error != NULL)
        g_task_return_error (task, g_steal_pointer (&d->error));
      else
        g_task_return_int (task, d->written);
      g_object_unref (task);
      return;
    }
  /* Not the task's cancellable: the fd must be closed even when stopping. */
  g_output_stream_close_async (d->out, G_PRIORITY_DEFAULT, NULL, on_closed,
                               task);
}

static void
chunk_done (GTask *task)
{
  Dump *d = g_task_get_task_data (task);

  g_string_free (d->chunk, TRUE);
  d->chunk = NULL;
  write_next (task);
}

static void
on_written (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL,
                                         &error))
    {
      finish (task, error);
      return;
    }
  chunk_done (task);
}

static gboolean on_socket_ready (int fd, GIOCondition cond, gpointer data);

/* Sends what the socket takes now; waits for POLLOUT (or cancellation)
 * when it takes no more. */
static void
send_chunk (GTask *task)
{
  Dump *d = g_task_get_task_data (task);

  while (d->sent < d->chunk->len)
    {
      ssize_t n = send (d->sock, d->chunk->str + d->sent,
                        d->chunk->len - d->sent, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n >= 0)
        {
          d->sent += (gsize)n;
          continue;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          GCancellable *cancellable = g_task_get_cancellable (task);

          d->sock_watch = g_unix_fd_source_new (d->sock, G_IO_OUT);
          if (cancellable != NULL)
            {
              GSource *c = g_cancellable_source_new (cancellable);

              /* A ready child source dispatches its parent too. */
              g_source_set_dummy_callback (c);
              g_source_add_child_source (d->sock_watch, c);
              g_source_unref (c);
            }
          g_source_set_callback (d->sock_watch, G_SOURCE_FUNC (on_socket_ready),
                                 task, NULL);
          g_source_attach (d->sock_watch, g_main_context_get_thread_default ());
          return;
        }
      {
        int err = errno;

        finish (task, g_error_new (G_IO_ERROR, g_io_error_from_errno (err),
                                   "Error writing to the socket: %s",
                                   g_strerror (err)));
        return;
      }
    }
  chunk_done (task);
}

static gboolean
on_socket_ready (int fd, GIOCondition cond, gpointer data)
{
  GTask *task = data;
  Dump *d = g_task_get_task_data (task);
  GError *error = NULL;

  g_source_destroy (d->sock_watch);
  g_clear_pointer (&d->sock_watch, g_source_unref);
  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task),
                                            &error))
    finish (task, error);
  else
    send_chunk (task);
  return G_SOURCE_REMOVE;
}

static void
write_next (GTask *task)
{
  Dump *d = g_task_get_task_data (task);
  GError *error = NULL;
  guint formatted = 0;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task),
                                            &error))
    {
      finish (task, error);
      return;
    }

  /* Flows evicted or reset since the snapshot are skipped; a chunk that
   * vanished entirely is not written at all. */
  d->chunk = g_string_sized_new (64 * 1024);
  while (d->next < d->ids->len && formatted < CT_DUMP_STREAM_CHUNK)
    {
      guint64 id = g_array_index (d->ids, guint64, d->next++);
      CtFlow *flow = ct_store_lookup_id (d->store, id);

      if (flow == NULL)
        continue;
      ct_flow_sort_hits (flow);
      if (d->format == CT_DUMP_JSON)
        {
          g_autoptr (GVariant) dict = g_variant_ref_sink (
              ct_flow_to_variant (flow, CT_FLOW_VARIANT_HITS));

          /* The flow dictionary's keys, like the client's --json, rather
           * than the file dump's ct_json_append_flow (see the XML). */
          ct_flow_variant_append_json (d->chunk, dict);
        }
      else
        ct_legacy_append_flow (&d->legacy, d->chunk, flow);
      formatted++;
    }
  if (formatted == 0)
    {
      g_string_free (d->chunk, TRUE);
      d->chunk = NULL;
      finish (task, NULL);
      return;
    }
  d->written += formatted;
  if (d->out == NULL)
    {
      d->sent = 0;
      send_chunk (task);
      return;
    }
  g_output_stream_write_all_async (
      d->out, d->chunk->str, d->chunk->len, G_PRIORITY_DEFAULT,
      g_task_get_cancellable (task), on_written, task);
}

/* A description of our own for fd's pipe, FIFO or terminal, non-blocking;
 * takes fd. -1 with errno set on failure (fd is then still open). */
static int
reopen_nonblocking (int fd)
{
  char path[64];
  int nfd;

  g_snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  nfd = open (path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (nfd >= 0)
    close (fd);
  return nfd;
}

void
ct_dump_stream_async (CtStore *store, GArray *ids, CtDumpFormat format, int fd,
                      GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Dump *d = g_new0 (Dump, 1);
  struct stat st;

  g_task_set_source_tag (task, ct_dump_stream_async);
  d->store = store;
  d->ids = ids;
  d->format = format;
  d->sock = -1;
  g_task_set_task_data (task, d, dump_free);

  if (fstat (fd, &st) == 0 && S_ISSOCK (st.st_mode))
    d->sock = fd;
  else if (fstat (fd, &st) == 0
           && (S_ISFIFO (st.st_mode) || S_ISCHR (st.st_mode)))
    {
      int nfd = reopen_nonblocking (fd);

      if (nfd < 0 && errno == ENXIO && S_ISFIFO (st.st_mode))
        {
          /* Opening a FIFO for writing without a reader. */
          close (fd);
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                                   "nobody reads the pipe");
          g_object_unref (task);
          return;
        }
      if (nfd < 0)
        {
          /* No /proc: share the flag rather than block the loop. */
          g_debug ("DumpFlows: cannot reopen fd %d (%s); setting O_NONBLOCK "
                   "on the caller's description",
                   fd, g_strerror (errno));
          g_unix_set_fd_nonblocking (fd, TRUE, NULL);
          nfd = fd;
        }
      d->out = g_unix_output_stream_new (nfd, TRUE);
    }
  else
    d->out = g_unix_output_stream_new (fd, TRUE);
  write_next (task);
}

gboolean
ct_dump_stream_finish (GAsyncResult *result, guint *count, GError **error)
{
  gssize n;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  n = g_task_propagate_int (G_TASK (result), error);
  if (n < 0)
    return FALSE;
  if (count != NULL)
    *count = (guint)n;
  return TRUE;
}

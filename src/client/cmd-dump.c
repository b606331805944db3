/* cmd-dump.c — `conntrackerctl dump`: DumpFlows streamed through a pipe to
 * stdout while the call is pending, so no dump is too big for a message. */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <gio/gunixfdlist.h>
#include <poll.h>
#include <unistd.h>

#include "conntrackerctl.h"

#define COPY_CHUNK (64 * 1024)

typedef struct
{
  GMainLoop *loop;
  int fd; /* the pipe's read end, -1 once closed */
  guint watch;
  gboolean replied;
  guint32 count;
  GError *error;    /* the call's error */
  int read_errno;   /* reading the pipe failed */
  int write_errno;  /* writing to stdout failed */
  gboolean aborted; /* stop copying: an error, or we are done */
} DumpState;

/* stdout may be a pipe to a slow reader: blocking there is fine, the
 * daemon writes without blocking its other clients. */
static gboolean
write_all (const char *buf, gsize len, int *error_out)
{
  while (len > 0)
    {
      ssize_t n = write (STDOUT_FILENO, buf, len);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };

              (void)poll (&pfd, 1, -1);
              continue;
            }
          *error_out = errno;
          return FALSE;
        }
      buf += n;
      len -= (gsize)n;
    }
  return TRUE;
}

typedef enum
{
  COPY_MORE,  /* copied something; there may be more */
  COPY_AGAIN, /* nothing to read now */
  COPY_DONE,  /* end of file, or a failure recorded in the state */
} CopyResult;

static CopyResult
copy_chunk (DumpState *state)
{
  char buf[COPY_CHUNK];
  ssize_t n;

  do
    n = read (state->fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return COPY_AGAIN;
  if (n < 0)
    {
      state->read_errno = errno;
      return COPY_DONE;
    }
  if (n == 0)
    return COPY_DONE;
  if (!write_all (buf, (gsize)n, &state->write_errno))
    return COPY_DONE;
  return COPY_MORE;
}

static void
stop_reading (DumpState *state)
{
  if (state->watch != 0)
    g_source_remove (state->watch);
  state->watch = 0;
  if (state->fd >= 0)
    close (state->fd);
  state->fd = -1;
}

/* Called at end of file, after a failure, and with the reply. */
static void
maybe_finish (DumpState *state)
{
  stop_reading (state);
  /* The reply says whether the dump is complete. After a failure to read
   * or write, though, there is nothing to wait for: closing the read end
   * made the daemon's writes fail, which ends its side. */
  if (state->replied || state->write_errno != 0 || state->read_errno != 0)
    g_main_loop_quit (state->loop);
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer data)
{
  DumpState *state = data;
  CopyResult result = copy_chunk (state);

  if (result == COPY_DONE)
    {
      state->watch = 0;
      maybe_finish (state);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
on_dump_done (GObject *source, GAsyncResult *result, gpointer data)
{
  DumpState *state = data;
  g_autoptr (GVariant) reply = g_dbus_connection_call_with_unix_fd_list_finish (
      G_DBUS_CONNECTION (source), NULL, result, &state->error);

  state->replied = TRUE;
  if (reply == NULL)
    {
      stop_reading (state);
      g_main_loop_quit (state->loop);
      return;
    }
  g_variant_get (reply, "(u)", &state->count);
  /* The reply comes after the last byte was written, so all of it is in
   * the pipe now: drain it without waiting for end of file, which a stray
   * copy of the write end could delay. */
  while (state->fd >= 0 && copy_chunk (state) == COPY_MORE)
    ;
  maybe_finish (state);
}

CtExit
ct_cmd_dump (CtClient *client, const CtCommand *command, int argc, char **argv)
{
  g_autofree char *filter = NULL;
  g_autofree char *sort = NULL;
  g_autofree char *format = NULL;
  const GOptionEntry entries[] = {
    { "format", 0, 0, G_OPTION_ARG_STRING, &format,
      N_ ("“legacy” (the default: the 2021 text format) or “json” (one "
          "object per line)"),
      N_ ("FORMAT") },
    { "filter", 'f', 0, G_OPTION_ARG_STRING, &filter,
      N_ ("Only flows matching EXPR (see FILTERS in conntrackerctl(1))"),
      N_ ("EXPR") },
    { "sort", 's', 0, G_OPTION_ARG_STRING, &sort,
      N_ ("Sort by comma-separated KEYS; \"-\" before a key sorts "
          "descending"),
      N_ ("KEYS") },
    { NULL },
  };
  g_autoptr (GUnixFDList) fd_list = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  DumpState state = { 0 };
  GVariantBuilder query;
  int fds[2];
  int index;
  CtExit status;

  if (!ct_command_parse_options (command, entries, NULL, &argc, &argv))
    return CT_EXIT_USAGE;
  if (argc > 1)
    return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                   argv[1]);
  if (format == NULL)
    format = g_strdup ("legacy");
  if (!g_str_equal (format, "legacy") && !g_str_equal (format, "json"))
    return ct_command_usage_error (
        command, _ ("unknown format “%s” (use “legacy” or “json”)"), format);
  if (!ct_command_check_filter (filter))
    return CT_EXIT_USAGE;

  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error)
      || !g_unix_set_fd_nonblocking (fds[0], TRUE, &error))
    {
      ct_print_error (_ ("cannot create a pipe: %s"), error->message);
      return CT_EXIT_FAILURE;
    }
  fd_list = g_unix_fd_list_new ();
  index = g_unix_fd_list_append (fd_list, fds[1], &error);
  /* The list holds its own copy; ours must go so that end of file can
   * come when the daemon closes its copy. */
  close (fds[1]);
  if (index < 0)
    {
      close (fds[0]);
      ct_print_error (_ ("cannot pass the pipe: %s"), error->message);
      return CT_EXIT_FAILURE;
    }

  g_variant_builder_init (&query, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&query, "{sv}", "format",
                         g_variant_new_string (format));
  if (filter != NULL)
    g_variant_builder_add (&query, "{sv}", "filter",
                           g_variant_new_string (filter));
  if (sort != NULL)
    g_variant_builder_add (&query, "{sv}", "sort", g_variant_new_string (sort));

  loop = g_main_loop_new (NULL, FALSE);
  state.loop = loop;
  state.fd = fds[0];
  state.watch = g_unix_fd_add (state.fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                               on_readable, &state);
  ct_client_call_with_fds (
      client, "DumpFlows", g_variant_new ("(a{sv}h)", &query, index),
      G_VARIANT_TYPE ("(u)"), fd_list, on_dump_done, &state);
  g_clear_object (&fd_list);
  g_main_loop_run (loop);
  stop_reading (&state);

  /* A reader that went away (`dump | head`) is not our failure. */
  if (state.write_errno == EPIPE)
    {
      g_clear_error (&state.error);
      return CT_EXIT_OK;
    }
  if (state.write_errno != 0)
    {
      g_clear_error (&state.error);
      ct_print_error (_ ("cannot write to standard output: %s"),
                      g_strerror (state.write_errno));
      return CT_EXIT_FAILURE;
    }
  if (state.error == NULL && state.read_errno != 0)
    {
      ct_print_error (_ ("cannot read the dump: %s"),
                      g_strerror (state.read_errno));
      return CT_EXIT_FAILURE;
    }
  if (state.error != NULL)
    {
      status = ct_client_report_error (client, state.error);
      g_clear_error (&state.error);
      return status;
    }
  return CT_EXIT_OK;
}

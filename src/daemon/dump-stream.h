/* dump-stream.h — DumpFlows' writer: streams a snapshot of flow ids into a
 * caller's file descriptor chunk by chunk, asynchronously, never holding
 * the whole dump in memory. Reads the store; knows nothing of the bus. */
#pragma once

#include <gio/gio.h>

#include "dump-file.h"
#include "store.h"

G_BEGIN_DECLS

/* Flows formatted per write. */
#define CT_DUMP_STREAM_CHUNK 1000u

/* Checks that fd is open for writing (CT_DBUS_ERROR_INVALID_QUERY if
 * not). Changes nothing. */
gboolean ct_dump_stream_check_fd (int fd, GError **error);

/* Writes the flows whose ids are in `ids` (guint64, in output order;
 * taken) to fd (taken, closed at the end either way). Flows that left the
 * store meanwhile are skipped. The store must outlive the operation.
 *
 * The open file description is shared with the caller (it may be a
 * shell's stdout), so its flags are left alone: a pipe, FIFO or terminal
 * is reopened through /proc/self/fd as a non-blocking description of its
 * own, a socket is written with MSG_DONTWAIT, and a regular file through
 * GIO's worker threads. A slow reader never stalls the main loop. */
void ct_dump_stream_async (CtStore *store, GArray *ids, CtDumpFormat format,
                           int fd, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);

/* The number of flows written, or FALSE with a G_IO_ERROR (a reader that
 * went away is G_IO_ERROR_BROKEN_PIPE). */
gboolean ct_dump_stream_finish (GAsyncResult *result, guint *count,
                                GError **error);

G_END_DECLS

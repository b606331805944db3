/* authority.h — who may call what: polkit checks, asynchronous and
 * honouring ALLOW_INTERACTIVE_AUTHORIZATION; uid 0 always passes, and
 * without polkitd only root does. Knows actions, not methods or flows. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  CT_ACTION_READ,  /* org.conntracker.read: flows are every user's */
  CT_ACTION_RESET, /* org.conntracker.reset: privileged */
  CT_ACTION_TRACE, /* org.conntracker.trace: privileged (trace control) */
} CtAction;

/* Bounds on one check: polkitd may hang, a user may leave a prompt open. */
#define CT_AUTHORITY_TIMEOUT_S             30u
#define CT_AUTHORITY_INTERACTIVE_TIMEOUT_S 300u

const char *ct_action_get_id (CtAction action);

/* Decides whether the caller of invocation may perform action: uid 0 at
 * once, everyone else through polkit. On a bus connection the bus names
 * the caller (GetConnectionUnixUser, polkit's system-bus-name subject); on
 * a peer-to-peer connection only the kernel's credentials count (uid, and
 * the pid for polkit's unix-process subject), never the message's sender
 * field, which the peer writes itself. The decision is logged with
 * MESSAGE_ID CT_LOG_ID_AUTHORIZATION (log-ids.h): at message level for
 * privileged actions, debug for reading. Does not reply to invocation. */
void ct_authority_check_async (GDBusMethodInvocation *invocation,
                               CtAction action, GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);

/* TRUE when allowed. Otherwise CT_DBUS_ERROR_NOT_AUTHORIZED with a
 * message fit for the caller, or G_IO_ERROR_CANCELLED when cancellable
 * was cancelled (the daemon is stopping). */
gboolean ct_authority_check_finish (GAsyncResult *result, GError **error);

G_END_DECLS

/* authority.c — polkit checks, one GTask each, never blocking the loop. */
#include "authority.h"

#include <polkit/polkit.h>

#include "ct-error.h"
#include "log-ids.h"

typedef struct
{
  GDBusMethodInvocation *invocation;
  CtAction action;
  gboolean interactive;
  /* A peer-to-peer connection: the kernel's credentials say who it is.
   * Its messages' sender field is whatever the peer wrote: never used. */
  gboolean peer;
  gint64 uid; /* -1 until known */
  gint64 pid; /* peers only; -1 when unknown */
  /* Ours: cancelled by the caller's cancellable or by the timeout. */
  GCancellable *cancellable;
  GCancellable *parent;
  gulong parent_handler;
  guint timeout;
  gboolean timed_out;
} Check;

const char *
ct_action_get_id (CtAction action)
{
  switch (action)
    {
    case CT_ACTION_RESET:
      return "org.conntracker.reset";
    case CT_ACTION_TRACE:
      return "org.conntracker.trace";
    case CT_ACTION_READ:
    default:
      return "org.conntracker.read";
    }
}

static void
check_free (gpointer p)
{
  Check *c = p;

  g_clear_handle_id (&c->timeout, g_source_remove);
  if (c->parent != NULL)
    {
      g_cancellable_disconnect (c->parent, c->parent_handler);
      g_object_unref (c->parent);
    }
  g_object_unref (c->cancellable);
  g_object_unref (c->invocation);
  g_free (c);
}

/* The bus vouches for the sender of a message on a bus connection; on a
 * peer-to-peer connection there is none. */
static gboolean
is_peer_connection (GDBusConnection *conn)
{
  return (g_dbus_connection_get_flags (conn)
          & G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION)
         == 0;
}

/* One line per decision, with journal fields (log-ids.h); reading is
 * logged at debug level only. reason: "root" or "polkit" when allowed,
 * the caller's error message when denied. */
static void
log_decision (Check *c, gboolean allowed, const char *reason)
{
  GDBusMethodInvocation *inv = c->invocation;
  const char *method = g_dbus_method_invocation_get_method_name (inv);
  const char *caller
      = c->peer ? "peer" : g_dbus_method_invocation_get_sender (inv);
  const char *action = ct_action_get_id (c->action);
  char uid[24], pid[24];
  const char *fields[2 * 8 + 1];
  g_autofree char *who = NULL;
  guint n = 0;

  if (caller == NULL)
    caller = "unknown";
  fields[n++] = "CT_POLKIT_ACTION";
  fields[n++] = action;
  fields[n++] = "CT_METHOD";
  fields[n++] = method;
  fields[n++] = "CT_DECISION";
  fields[n++] = allowed ? "allowed" : "denied";
  fields[n++] = "CT_REASON";
  fields[n++] = reason;
  fields[n++] = "CT_CALLER";
  fields[n++] = caller;
  fields[n++] = "CT_TRANSPORT";
  fields[n++] = c->peer ? "peer" : "bus";
  if (c->uid >= 0)
    {
      g_snprintf (uid, sizeof uid, "%" G_GINT64_FORMAT, c->uid);
      fields[n++] = "CT_CALLER_UID";
      fields[n++] = uid;
    }
  if (c->pid > 0)
    {
      g_snprintf (pid, sizeof pid, "%" G_GINT64_FORMAT, c->pid);
      fields[n++] = "CT_CALLER_PID";
      fields[n++] = pid;
    }
  fields[n] = NULL;

  if (c->peer && c->pid > 0)
    who = g_strdup_printf ("a peer (uid %s, pid %s)", uid, pid);
  else if (c->uid >= 0)
    who = g_strdup_printf ("%s (uid %s)", caller, uid);
  else
    who = g_strdup (c->peer ? "a peer" : caller);
  ct_log_event (c->action == CT_ACTION_READ ? G_LOG_LEVEL_DEBUG
                                            : G_LOG_LEVEL_MESSAGE,
                CT_LOG_ID_AUTHORIZATION, fields,
                "authorization: %s from %s for %s: %s%s%s", method, who, action,
                allowed ? "allowed (" : "denied: ", reason, allowed ? ")" : "");
}

static void
allow (GTask *task, const char *why)
{
  log_decision (g_task_get_task_data (task), TRUE, why);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void deny (GTask *task, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
deny (GTask *task, const char *format, ...)
{
  Check *c = g_task_get_task_data (task);
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  log_decision (c, FALSE, message);
  g_task_return_new_error (task, CT_DBUS_ERROR, CT_DBUS_ERROR_NOT_AUTHORIZED,
                           "%s", message);
  g_object_unref (task);
}

/* Cancellation by the caller (stopping) ends the task quietly; a timeout
 * is a denial the caller hears about. */
static gboolean
ended_by_cancel (GTask *task, GError *error)
{
  Check *c = g_task_get_task_data (task);

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  if (c->timed_out)
    deny (task,
          "polkit did not decide on %s within %u s; only root is "
          "allowed without it",
          ct_action_get_id (c->action),
          c->interactive ? CT_AUTHORITY_INTERACTIVE_TIMEOUT_S
                         : CT_AUTHORITY_TIMEOUT_S);
  else
    {
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
  return TRUE;
}

static void
on_checked (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Check *c = g_task_get_task_data (task);
  const char *action = ct_action_get_id (c->action);
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) result = NULL;

  result = polkit_authority_check_authorization_finish (
      POLKIT_AUTHORITY (source), res, &error);
  if (result == NULL)
    {
      if (!ended_by_cancel (task, error))
        {
          g_dbus_error_strip_remote_error (error);
          deny (task, "polkit is unavailable (%s); only root may use %s",
                error->message, action);
        }
      return;
    }
  if (polkit_authorization_result_get_is_authorized (result))
    allow (task, "polkit");
  else if (polkit_authorization_result_get_dismissed (result))
    deny (task, "authentication for %s was dismissed", action);
  else if (polkit_authorization_result_get_is_challenge (result))
    deny (task,
          "%s needs authentication, and the call did not allow "
          "interactive authorization",
          action);
  else
    deny (task, "not authorized for %s (polkit said no)", action);
}

static void
on_authority (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Check *c = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthority) authority = NULL;
  g_autoptr (PolkitSubject) subject = NULL;
  PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;

  authority = polkit_authority_get_finish (res, &error);
  if (authority == NULL)
    {
      if (!ended_by_cancel (task, error))
        deny (task, "polkit is unavailable (%s); only root may use %s",
              error->message, ct_action_get_id (c->action));
      return;
    }

  if (!c->peer)
    subject = polkit_system_bus_name_new (
        g_dbus_method_invocation_get_sender (c->invocation));
  else if (c->pid <= 0)
    {
      deny (task, "the peer's process is unknown, so polkit cannot "
                  "decide; only root may use this connection");
      return;
    }
  else
    subject = polkit_unix_process_new_for_owner ((gint)c->pid, 0, (gint)c->uid);
  if (c->interactive)
    flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  polkit_authority_check_authorization (
      authority, subject, ct_action_get_id (c->action), NULL, flags,
      c->cancellable, on_checked, task);
}

static void
decide_for_uid (GTask *task, guint32 uid)
{
  Check *c = g_task_get_task_data (task);

  c->uid = uid;
  if (uid == 0)
    {
      allow (task, "root");
      return;
    }
  polkit_authority_get_async (c->cancellable, on_authority, task);
}

static void
on_uid (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  guint32 uid;

  reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (reply == NULL)
    {
      if (!ended_by_cancel (task, error))
        {
          g_dbus_error_strip_remote_error (error);
          deny (task, "cannot identify the caller: %s", error->message);
        }
      return;
    }
  g_variant_get (reply, "(u)", &uid);
  decide_for_uid (task, uid);
}

static gboolean
on_timeout (gpointer data)
{
  Check *c = data;

  c->timeout = 0;
  c->timed_out = TRUE;
  g_cancellable_cancel (c->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_parent_cancelled (GCancellable *parent, gpointer data)
{
  g_cancellable_cancel (data);
}

void
ct_authority_check_async (GDBusMethodInvocation *invocation, CtAction action,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  GDBusConnection *conn = g_dbus_method_invocation_get_connection (invocation);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  GDBusMessage *msg = g_dbus_method_invocation_get_message (invocation);
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Check *c = g_new0 (Check, 1);

  g_task_set_source_tag (task, ct_authority_check_async);
  c->invocation = g_object_ref (invocation);
  c->action = action;
  c->peer = is_peer_connection (conn);
  c->uid = -1;
  c->pid = -1;
  c->interactive = (g_dbus_message_get_flags (msg)
                    & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
                   != 0;
  c->cancellable = g_cancellable_new ();
  g_task_set_task_data (task, c, check_free);
  if (cancellable != NULL)
    {
      c->parent = g_object_ref (cancellable);
      c->parent_handler = g_cancellable_connect (
          cancellable, G_CALLBACK (on_parent_cancelled), c->cancellable, NULL);
    }
  c->timeout = g_timeout_add_seconds (c->interactive
                                          ? CT_AUTHORITY_INTERACTIVE_TIMEOUT_S
                                          : CT_AUTHORITY_TIMEOUT_S,
                                      on_timeout, c);

  if (c->peer)
    {
      /* The kernel told us who is there (SO_PEERCRED, at connect). */
      GCredentials *creds = g_dbus_connection_get_peer_credentials (conn);
      uid_t uid = creds != NULL ? g_credentials_get_unix_user (creds, NULL)
                                : (uid_t)-1;

      if (creds != NULL)
        c->pid = g_credentials_get_unix_pid (creds, NULL);
      if (uid == (uid_t)-1)
        {
          deny (task, "the peer's credentials are unknown");
          return;
        }
      decide_for_uid (task, uid);
      return;
    }
  g_dbus_connection_call (conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, c->cancellable, on_uid,
                          task);
}

gboolean
ct_authority_check_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

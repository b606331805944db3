/* dbus-service.h — org.conntracker.Flows on the system bus and peer to
 * peer: owns the name, exports the object (on the bus connection and on
 * every peer-to-peer connection), answers the methods once authority.c
 * allows them, turns subscription batches into unicast signals and keeps
 * the properties current. Reads the store; only Reset changes it. Trace
 * control (SetTraceMode, TraceFilter, StopTraceFilter) goes to the tracer
 * given with ct_dbus_service_set_tracer. */
#pragma once

#include "ct-source.h"
#include "store.h"
#include "tracer.h"

G_BEGIN_DECLS

#define CT_DBUS_NAME        "org.conntracker"
#define CT_DBUS_PATH        "/org/conntracker/Flows"
#define CT_DBUS_INTERFACE   "org.conntracker.Flows"
#define CT_DBUS_API_VERSION 1

typedef struct _CtDBusService CtDBusService;

typedef enum
{
  CT_DBUS_SERVICE_OWNED,  /* the name is ours: the API is up */
  CT_DBUS_SERVICE_NO_BUS, /* no system bus: running without the API */
  CT_DBUS_SERVICE_FAILED, /* the name was refused or lost: exit 1 */
} CtDBusServiceState;

/* Reports each state once, from the main loop; message says why, in a
 * form fit for the log ("conntrackerd: MESSAGE" for FAILED). */
typedef void (*CtDBusServiceStateFunc) (CtDBusServiceState state,
                                        const char *message,
                                        gpointer user_data);

/* source may be NULL (then its counters read 0). Both must outlive the
 * service, and the store must not change after it is freed (its listener
 * stays registered): free the source right after the service, without
 * running the main loop in between. */
CtDBusService *ct_dbus_service_new (CtStore *store, CtSource *source,
                                    CtDBusServiceStateFunc state_func,
                                    gpointer user_data);

/* Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS or the standard
 * socket), exports the object and asks for the name; the outcome comes
 * through state_func. */
void ct_dbus_service_start (CtDBusService *service);

/* Also serves the interface peer to peer, with or without
 * ct_dbus_service_start: on the listening sockets systemd passed
 * (conntrackerd.socket, through sd_listen_fds) and, when listen_path is
 * not NULL, on a socket created there (mode 0666, a stale socket
 * replaced, removed again at stop). Each connection authenticates with
 * EXTERNAL and gets the same methods, the same polkit checks (on the
 * peer's kernel credentials) and its own subscriptions, which end when it
 * closes. TRUE with nothing to do when there is neither; FALSE with a
 * message fit for "conntrackerd: MESSAGE" when a socket is unusable. Call
 * at most once, after ct_dbus_service_new. */
gboolean ct_dbus_service_listen (CtDBusService *service,
                                 const char *listen_path, GError **error);

/* Rule tracing for SetTraceMode, TraceFilter, StopTraceFilter and the
 * tracing properties. Without it (the default, and under -c) those
 * methods fail with Failed "tracing is disabled (-c)" and TracingMode
 * reads "disabled". The tracer must outlive the service. */
void ct_dbus_service_set_tracer (CtDBusService *service, CtTracer *tracer);

/* What the service asks of a tracer; ct_dbus_service_set_tracer uses the
 * ct_tracer_* functions. Tests put a stand-in here. Each call is made
 * from the main loop after authorization and must not block for long. */
typedef struct
{
  gboolean (*set_mode) (gpointer tracer, CtTraceMode mode, GError **error);
  gboolean (*trace_filter) (gpointer tracer, const CtTraceFilter *filter,
                            guint seconds, guint *id, GError **error);
  gboolean (*stop_filter) (gpointer tracer, guint id, GError **error);
  const CtTracerConfig *(*get_config) (gpointer tracer);
} CtDBusTracerOps;

void ct_dbus_service_set_tracer_ops (CtDBusService *service,
                                     const CtDBusTracerOps *ops,
                                     gpointer tracer);

/* Peer-to-peer connections open now. */
guint ct_dbus_service_get_n_peers (CtDBusService *service);

/* Releases the name (waiting at most 2 s for the bus) and unexports the
 * object, so clients and a successor see the service go at once; stops
 * accepting peers and removes the socket of ct_dbus_service_listen. */
void ct_dbus_service_stop (CtDBusService *service);

/* Cancels what is in flight (calls get Failed) and waits, briefly, for it
 * to wind down. */
void ct_dbus_service_free (CtDBusService *service);

G_END_DECLS

/* dbus-service.h — org.conntracker.Flows on the system bus: owns the name,
 * exports the object, answers the methods once authority.c allows them,
 * turns subscription batches into unicast signals and keeps the
 * properties current. Reads the store; only Reset changes it. */
#pragma once

#include "ct-source.h"
#include "store.h"

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

/* Releases the name (waiting at most 2 s for the bus) and unexports the
 * object, so clients and a successor see the service go at once. */
void ct_dbus_service_stop (CtDBusService *service);

/* Cancels what is in flight (calls get Failed) and waits, briefly, for it
 * to wind down. */
void ct_dbus_service_free (CtDBusService *service);

G_END_DECLS

/* ct-source.h — the ctnetlink side: the event socket (NEW/UPDATE/DESTROY),
 * the initial dump and every resync after an overrun. Feeds a CtStore; owns
 * no flow data itself. */
#pragma once

#include "store.h"

G_BEGIN_DECLS

typedef struct _CtSource CtSource;

typedef struct
{
  guint rcvbuf_initial; /* bytes asked of SO_RCVBUFFORCE at start */
  guint rcvbuf_max;     /* growth cap after overruns (>= initial) */
} CtSourceConfig;

#define CT_SOURCE_RCVBUF_DEFAULT (32u << 20)
#define CT_SOURCE_RCVBUF_MAX     (128u << 20)

typedef struct
{
  guint64 messages;      /* ctnetlink messages received (events + dump lines) */
  guint64 invalid;       /* malformed messages skipped */
  guint64 overruns;      /* ENOBUFS seen on the event socket */
  guint64 resyncs;       /* full dumps completed after an overrun */
  guint64 dump_failures; /* dumps the kernel ended with an error */
  guint rcvbuf;          /* receive buffer in force, as the kernel reports it */
} CtSourceStats;

/* Called once, when the initial dump has been applied to the store. */
typedef void (*CtSourceReadyFunc) (gpointer user_data);

/* Opens and subscribes the event socket (so nothing that happens from now
 * on is missed), then starts the initial dump. */
CtSource *ct_source_new (CtStore *store, const CtSourceConfig *config,
                         CtSourceReadyFunc ready, gpointer user_data,
                         GError **error);
void ct_source_free (CtSource *source);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtSource, ct_source_free)

const CtSourceStats *ct_source_get_stats (CtSource *source);

G_END_DECLS

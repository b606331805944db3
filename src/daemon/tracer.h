/* tracer.h — decides in the kernel which packets get nftrace: base chains
 * and dynamic timeout sets added to the daemon's owned table (the tracking
 * table's socket, so `flags owner` covers them and a crash leaves nothing).
 * Built with libnftnl; every change is one batch whose acks are read. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CT_TRACE_MODE_OFF, /* only on-demand filters trace */
  CT_TRACE_MODE_NEW, /* a flow's first packet opens a trace window */
  CT_TRACE_MODE_ALL, /* every packet (heavy: chosen explicitly) */
} CtTraceMode;

#define CT_TRACER_WINDOW_DEFAULT   30
#define CT_TRACER_SEEN_DEFAULT     3600
#define CT_TRACER_SET_SIZE_DEFAULT 65536
#define CT_TRACER_MAX_FILTERS      64
#define CT_TRACER_FILTER_MAX_S     (24 * 3600) /* an on-demand filter's most */

typedef struct
{
  CtTraceMode mode;
  guint window_s;       /* how long a new flow stays traced */
  guint seen_timeout_s; /* how long a flow counts as seen (not new) */
  guint set_size;       /* bound of every set, per family */
} CtTracerConfig;

/* "off", "new", "all" (case-insensitive). */
gboolean ct_trace_mode_from_string (const char *text, CtTraceMode *mode,
                                    GError **error);
const char *ct_trace_mode_to_string (CtTraceMode mode);

/* On-demand tracing: packets between src and dst (either way round, with
 * the ports swapped for replies) for some seconds. Parsed from words:
 *   [from|src ADDR[/LEN]] [to|dst ADDR[/LEN]] [proto tcp|udp|icmp|icmpv6|N]
 *   [port|dport N[-M]]
 * joined by blanks or "and"; at least one part; one family. */
typedef struct
{
  guint8 family; /* AF_INET, AF_INET6, or AF_UNSPEC: both */
  gboolean has_src, has_dst, has_proto, has_port;
  guint8 src_lo[16], src_hi[16]; /* the prefix as a range */
  guint8 dst_lo[16], dst_hi[16];
  guint8 proto;             /* a port without proto: TCP and UDP */
  guint16 port_lo, port_hi; /* destination port (source for replies) */
} CtTraceFilter;

gboolean ct_trace_filter_parse (const char *text, CtTraceFilter *out,
                                GError **error);

/* The tracer's netlink batch, built without a socket (unit tests): the
 * sets and base chains (setup), the chains' rules for a mode (replacing
 * what they held), or one filter element. seq numbers messages from
 * `seq`; n_msgs receives how many ask for an ack. */
GBytes *ct_tracer_build_setup (const char *table, const CtTracerConfig *config,
                               guint32 seq, guint *n_msgs);
GBytes *ct_tracer_build_mode (const char *table, const CtTracerConfig *config,
                              guint32 seq, guint *n_msgs);
GBytes *ct_tracer_build_filter (const char *table, const CtTraceFilter *filter,
                                guint seconds, guint32 seq, guint *n_msgs);

typedef struct _CtTracer CtTracer;

/* Adds the sets and chains to `table` (inet, existing, owned by the
 * socket fd) and loads the rules of config->mode. */
CtTracer *ct_tracer_new (int nl_fd, const char *table,
                         const CtTracerConfig *config, GError **error);
void ct_tracer_free (CtTracer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtTracer, ct_tracer_free)

/* Replaces the chains' rules in one transaction; the window applies to
 * windows opened from now on. */
gboolean ct_tracer_set_mode (CtTracer *self, CtTraceMode mode, guint window_s,
                             GError **error);
const CtTracerConfig *ct_tracer_get_config (CtTracer *self);

/* Traces what the filter matches for `seconds` (the kernel expires it);
 * *id (may be NULL) receives the filter's id for ct_tracer_stop_filter.
 * The same filter again keeps its id and is traced until the later of
 * both ends. G_IO_ERROR_INVALID_ARGUMENT for seconds outside 1 s to 24 h,
 * G_IO_ERROR_NO_SPACE with CT_TRACER_MAX_FILTERS traced already,
 * G_IO_ERROR_EXISTS when it overlaps another filter (the kernel's interval
 * set refuses that); the messages say so. */
gboolean ct_tracer_trace_filter (CtTracer *self, const CtTraceFilter *filter,
                                 guint seconds, guint *id, GError **error);

/* Ends a filter before its time. G_IO_ERROR_NOT_FOUND when no filter has
 * that id (any more: it may have ended). */
gboolean ct_tracer_stop_filter (CtTracer *self, guint id, GError **error);

/* Filters traced now. */
guint ct_tracer_get_n_filters (CtTracer *self);

G_END_DECLS

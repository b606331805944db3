/* nf-log.h — which logger gets a protocol family's nf_log output in this
 * network namespace (/proc/net/netfilter/nf_log), and binding one by name
 * (/proc/sys/net/netfilter/nf_log/<pf>). The parser is pure; the rest are
 * small synchronous procfs reads and writes. Knows nothing of NFLOG. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NFLOGGER_NAME_LEN in the kernel, with room for the NUL. */
#define CT_NF_LOG_NAME_LEN 64

/* "NONE" is what the kernel shows, and accepts, for no logger. */
#define CT_NF_LOG_NONE "NONE"

/* Finds the line of protocol family `pf` (NFPROTO_*: 2 IPv4, 10 IPv6) in
 * the text of /proc/net/netfilter/nf_log — " 2 nf_log_ipv4 (nf_log_ipv4,
 * nfnetlink_log)" — and copies the bound logger's name (the word before the
 * parenthesis, "NONE" when none) into name. FALSE when the line is absent,
 * malformed, or the name does not fit. */
gboolean ct_nf_log_parse_binding (const char *text, gsize len, guint pf,
                                  char *name, gsize size);

/* The binding of pf now, read from /proc/self/net/netfilter/nf_log (which,
 * unlike /proc/net, stays visible under systemd's ProcSubset=pid). */
gboolean ct_nf_log_get_binding (guint pf, char *name, gsize size,
                                GError **error);

/* Binds logger `name` ("NONE" unbinds) for pf by writing it to
 * /proc/sys/net/netfilter/nf_log/<pf>, the only way to bind a logger other
 * than nfnetlink_log. */
gboolean ct_nf_log_set_binding (guint pf, const char *name, GError **error);

G_END_DECLS

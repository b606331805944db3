/* tracking-table.h — the daemon-owned nft table that switches conntrack on in
 * this netns, and the netlink socket that owns it; touches no other table. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CtTrackingTable CtTrackingTable;

/* Creates `table inet conntracker { flags owner; chain track { ct state
 * new,established,related,invalid,untracked } }` in one batch over a new
 * NETLINK_NETFILTER socket that the object keeps open. The chain is regular
 * (no hook), so the rule never runs: it exists only to take the kernel's
 * conntrack reference. Because the table is owned by that socket, the kernel
 * removes it when the socket closes, even if the daemon crashes. Fails with
 * G_IO_ERROR_PERMISSION_DENIED when another process already owns the table. */
CtTrackingTable *ct_tracking_table_new (GError **error);

/* The owning socket's fd, so later code (a tracer) can add to the same table,
 * which only this socket may modify. Whoever sends on it reads its own acks:
 * ct_tracking_table_free() skips answers to sequence numbers not its own. */
int ct_tracking_table_get_fd (CtTrackingTable *self);

/* Deletes the table explicitly, then closes the socket. NULL-safe. */
void ct_tracking_table_free (CtTrackingTable *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtTrackingTable, ct_tracking_table_free)

G_END_DECLS

/* trace-event.h — one trace hit as a trace source (nft trace, legacy
 * xtables TRACE) hands it to the store: which packet, which rule, what the
 * rule did. Plain data; the store decides which flow it belongs to. */
#pragma once

#include "flow.h"
#include "packet-parse.h"

G_BEGIN_DECLS

typedef struct
{
  /* The packet, as its headers showed it. For an ICMP error the tuple is
   * the embedded packet's (tuple.icmp_error), i.e. the flow it is about. */
  CtPacketTuple tuple;
  gboolean has_tuple;
  /* Conntrack's id for the packet's entry and the direction, when the
   * kernel said (nft traces on Linux >= 6.16, after conntrack's hook). */
  gboolean has_ct_id;
  guint32 ct_id;
  gboolean has_ct_direction;
  gboolean ct_reply;
  /* Conntrack's state bits for the packet (NF_CT_STATE_BIT: 2
   * established, 4 related, 8 new), when the kernel said. */
  gboolean has_ct_state;
  guint32 ct_state;

  /* The rule: borrowed strings, copied by the store. */
  const char *family; /* nft table family, NULL for xtables */
  const char *table;
  const char *chain;
  CtHitType type;
  guint32 position; /* 1-based; 0 when unknown */
  guint64 handle;   /* nft rule handle; 0 for xtables and policies */
  CtVerdict verdict;
  const char *rule; /* the rule's text, NULL when unknown */
} CtTraceEvent;

G_END_DECLS

/* legacy-format.h — the 2021 tool's text dump, byte for byte: one line per
 * flow, numbered per protocol label, with its trace hits indented below. */
#pragma once

#include "flow.h"

G_BEGIN_DECLS

/* Numbering restarts at 0 for each label (TCPv4, UDPv4, …), so a writer
 * carries that state across calls; zero-initialise it before the first. */
typedef struct
{
  guint8 family;
  guint8 proto;
  guint32 index;
  gboolean started;
} CtLegacyWriter;

/* Appends one flow (which must come in ct_flow_key_compare order relative
 * to the previous one). Hits are printed in the order the flow holds them:
 * call ct_flow_sort_hits first for the legacy order. */
void ct_legacy_append_flow (CtLegacyWriter *writer, GString *out,
                            const CtFlow *flow);

G_END_DECLS

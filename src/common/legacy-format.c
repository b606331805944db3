/* legacy-format.c — formats flows in the 2021 tool's dump format. */
#include "legacy-format.h"

#include <arpa/inet.h>

void
ct_legacy_append_flow (CtLegacyWriter *writer, GString *out, const CtFlow *flow)
{
  const CtFlowKey *k = &flow->key;
  g_autofree char *label = ct_flow_legacy_label (k);
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  const char *confirmed
      = (flow->flags & CT_FLOW_CONFIRMED) ? " (confirmed)" : "";

  if (!writer->started || writer->family != k->family
      || writer->proto != k->proto)
    {
      writer->started = TRUE;
      writer->family = k->family;
      writer->proto = k->proto;
      writer->index = 0;
    }

  ct_flow_addr_to_string (k->family, k->src, src, sizeof src);
  ct_flow_addr_to_string (k->family, k->dst, dst, sizeof dst);

  if (ct_flow_key_is_icmp (k))
    g_string_append_printf (
        out, "%6s [%12u] src = %s to dst = %s (type=%u | code=%u)%s\n", label,
        writer->index, src, dst, k->sport, k->dport, confirmed);
  else if (ct_flow_key_has_ports (k))
    g_string_append_printf (
        out, "%6s [%12u] src = %s (port=%u) to dst = %s (port=%u)%s\n", label,
        writer->index, src, k->sport, dst, k->dport, confirmed);
  else
    g_string_append_printf (out, "%6s [%12u] src = %s to dst = %s%s\n", label,
                            writer->index, src, dst, confirmed);
  writer->index++;

  if (flow->hits == NULL)
    return;
  for (guint i = 0; i < flow->hits->len; i++)
    {
      const CtTraceHit *hit = g_ptr_array_index (flow->hits, i);

      g_string_append_printf (
          out, "\t\t\t\ttable: %s, chain: %s, type: %s, position: %u\n",
          hit->table, hit->chain, ct_hit_type_to_string (hit->type),
          hit->position);
    }
}

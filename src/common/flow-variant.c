/* flow-variant.c — flow dictionaries for the D-Bus API. */
#include "flow-variant.h"

#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>

const char *
ct_flow_variant_protocol (guint8 proto, char *buf, gsize len)
{
  switch (proto)
    {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return "icmp";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_DCCP:
      return "dccp";
    case IPPROTO_UDPLITE:
      return "udplite";
    case IPPROTO_GRE:
      return "gre";
    case IPPROTO_ESP:
      return "esp";
    case IPPROTO_AH:
      return "ah";
    default:
      g_snprintf (buf, len, "%u", proto);
      return buf;
    }
}

static void
add_addr (GVariantBuilder *b, const char *key, guint8 family,
          const guint8 *addr)
{
  char buf[INET6_ADDRSTRLEN];

  g_variant_builder_add (b, "{sv}", key,
                         g_variant_new_string (ct_flow_addr_to_string (
                             family, addr, buf, sizeof buf)));
}

static const char *
directions_to_string (guint8 directions)
{
  switch (directions & (CT_HIT_ORIGINAL | CT_HIT_REPLY))
    {
    case CT_HIT_ORIGINAL:
      return "original";
    case CT_HIT_REPLY:
      return "reply";
    case CT_HIT_ORIGINAL | CT_HIT_REPLY:
      return "both";
    default:
      return NULL;
    }
}

/* One hit's entries into an open a{sv} (a hit of "hits", or "blame"). */
static void
add_hit_entries (GVariantBuilder *b, const CtTraceHit *hit)
{
  const char *directions = directions_to_string (hit->directions);

  if (hit->family != NULL)
    g_variant_builder_add (b, "{sv}", "family",
                           g_variant_new_string (hit->family));
  g_variant_builder_add (b, "{sv}", "table", g_variant_new_string (hit->table));
  g_variant_builder_add (b, "{sv}", "chain", g_variant_new_string (hit->chain));
  g_variant_builder_add (
      b, "{sv}", "type",
      g_variant_new_string (ct_hit_type_to_string (hit->type)));
  g_variant_builder_add (b, "{sv}", "position",
                         g_variant_new_uint32 (hit->position));
  if (hit->handle != 0)
    g_variant_builder_add (b, "{sv}", "handle",
                           g_variant_new_uint64 (hit->handle));
  g_variant_builder_add (
      b, "{sv}", "verdict",
      g_variant_new_string (ct_verdict_to_string (hit->verdict)));
  if (hit->rule != NULL)
    g_variant_builder_add (b, "{sv}", "rule", g_variant_new_string (hit->rule));
  if (directions != NULL)
    g_variant_builder_add (b, "{sv}", "directions",
                           g_variant_new_string (directions));
  g_variant_builder_add (b, "{sv}", "count", g_variant_new_uint64 (hit->count));
  g_variant_builder_add (b, "{sv}", "last-seen",
                         g_variant_new_int64 (hit->last_seen));
}

static GVariant *
hit_to_variant (const CtTraceHit *hit)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add_hit_entries (&b, hit);
  return g_variant_builder_end (&b);
}

static GVariant *
hits_to_variant (const CtFlow *flow)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; flow->hits != NULL && i < flow->hits->len; i++)
    g_variant_builder_add_value (
        &b, hit_to_variant (g_ptr_array_index (flow->hits, i)));
  return g_variant_builder_end (&b);
}

const char *
ct_flow_variant_verdict (const CtFlow *flow)
{
  if (!(flow->flags & CT_FLOW_DENIED))
    return "accept";
  /* Denied: what the deciding rule did. A reject rule drops the packet
   * and answers it; anything else that kept the flow out is a drop. */
  if (flow->blame != NULL && flow->blame->verdict == CT_VERDICT_REJECT)
    return "reject";
  return "drop";
}

GVariant *
ct_flow_to_variant (const CtFlow *flow, CtFlowVariantFlags flags)
{
  const CtFlowKey *k = &flow->key;
  gboolean ports = ct_flow_key_has_ports (k);
  GVariantBuilder b;
  char num[4];

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "id", g_variant_new_uint64 (flow->id));
  g_variant_builder_add (
      &b, "{sv}", "family",
      g_variant_new_string (k->family == AF_INET6 ? "ipv6" : "ipv4"));
  g_variant_builder_add (&b, "{sv}", "protocol",
                         g_variant_new_string (ct_flow_variant_protocol (
                             k->proto, num, sizeof num)));
  g_variant_builder_add (&b, "{sv}", "protocol-number",
                         g_variant_new_byte (k->proto));
  add_addr (&b, "src", k->family, k->src);
  add_addr (&b, "dst", k->family, k->dst);
  if (ports)
    {
      g_variant_builder_add (&b, "{sv}", "sport",
                             g_variant_new_uint16 (k->sport));
      g_variant_builder_add (&b, "{sv}", "dport",
                             g_variant_new_uint16 (k->dport));
    }
  else if (ct_flow_key_is_icmp (k))
    {
      /* The key keeps ICMP type and code in the port fields. */
      g_variant_builder_add (&b, "{sv}", "icmp-type",
                             g_variant_new_byte ((guint8)k->sport));
      g_variant_builder_add (&b, "{sv}", "icmp-code",
                             g_variant_new_byte ((guint8)k->dport));
    }
  g_variant_builder_add (
      &b, "{sv}", "confirmed",
      g_variant_new_boolean ((flow->flags & CT_FLOW_CONFIRMED) != 0));
  g_variant_builder_add (&b, "{sv}", "verdict",
                         g_variant_new_string (ct_flow_variant_verdict (flow)));
  if (flow->flags & CT_FLOW_DNAT)
    {
      add_addr (&b, "dnat-addr", k->family, flow->nat_dst);
      if (ports)
        g_variant_builder_add (&b, "{sv}", "dnat-port",
                               g_variant_new_uint16 (flow->nat_dport));
    }
  if (flow->flags & CT_FLOW_SNAT)
    {
      add_addr (&b, "snat-addr", k->family, flow->nat_src);
      if (ports)
        g_variant_builder_add (&b, "{sv}", "snat-port",
                               g_variant_new_uint16 (flow->nat_sport));
    }
  g_variant_builder_add (&b, "{sv}", "connections",
                         g_variant_new_uint64 (flow->connections));
  g_variant_builder_add (&b, "{sv}", "active",
                         g_variant_new_uint32 (flow->active));
  g_variant_builder_add (&b, "{sv}", "packets",
                         g_variant_new_uint64 (flow->packets));
  g_variant_builder_add (&b, "{sv}", "bytes",
                         g_variant_new_uint64 (flow->bytes));
  g_variant_builder_add (&b, "{sv}", "first-seen",
                         g_variant_new_int64 (flow->first_seen));
  g_variant_builder_add (&b, "{sv}", "last-seen",
                         g_variant_new_int64 (flow->last_seen));
  if (flow->blame != NULL)
    g_variant_builder_add (&b, "{sv}", "blame", hit_to_variant (flow->blame));
  if (flags & CT_FLOW_VARIANT_HITS)
    g_variant_builder_add (&b, "{sv}", "hits", hits_to_variant (flow));
  return g_variant_builder_end (&b);
}

static void add_json_value (JsonBuilder *b, GVariant *value);

static void
add_json_dict (JsonBuilder *b, GVariant *dict)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  json_builder_begin_object (b);
  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      char name[64];

      g_strlcpy (name, key, sizeof name);
      g_strdelimit (name, "-", '_');
      json_builder_set_member_name (b, name);
      add_json_value (b, value);
    }
  json_builder_end_object (b);
}

static void
add_json_value (JsonBuilder *b, GVariant *value)
{
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      json_builder_add_boolean_value (b, g_variant_get_boolean (value));
      break;
    case G_VARIANT_CLASS_BYTE:
      json_builder_add_int_value (b, g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      json_builder_add_int_value (b, g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      json_builder_add_int_value (b, g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_INT64:
      json_builder_add_int_value (b, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      /* Ids and counters stay far below 2^63; JSON has no unsigned. */
      json_builder_add_int_value (b, (gint64)g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_STRING:
      json_builder_add_string_value (b, g_variant_get_string (value, NULL));
      break;
    case G_VARIANT_CLASS_ARRAY:
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
        add_json_dict (b, value);
      else
        {
          GVariantIter iter;
          GVariant *child;

          json_builder_begin_array (b);
          g_variant_iter_init (&iter, value);
          while ((child = g_variant_iter_next_value (&iter)) != NULL)
            {
              add_json_value (b, child);
              g_variant_unref (child);
            }
          json_builder_end_array (b);
        }
      break;
    default:
      /* Flow dictionaries hold none of the other types. */
      json_builder_add_null_value (b);
      break;
    }
}

void
ct_flow_variant_append_json (GString *out, GVariant *dict)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  g_return_if_fail (g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT));
  add_json_dict (b, dict);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  g_string_append (out, text);
  g_string_append_c (out, '\n');
}

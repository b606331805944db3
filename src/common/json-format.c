/* json-format.c — flows as JSON lines, built with json-glib. */
#include "json-format.h"

#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <sys/socket.h>

static void
add_addr (JsonBuilder *b, const char *name, guint8 family, const guint8 *addr)
{
  char buf[INET6_ADDRSTRLEN];

  json_builder_set_member_name (b, name);
  json_builder_add_string_value (
      b, ct_flow_addr_to_string (family, addr, buf, sizeof buf));
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_nat (JsonBuilder *b, const char *name, const CtFlowKey *k,
         const guint8 *addr, guint16 port)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  add_addr (b, "addr", k->family, addr);
  if (ct_flow_key_has_ports (k))
    add_int (b, "port", port);
  json_builder_end_object (b);
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

/* One trace hit. family, handle and rule only when known (nft hits);
 * directions lists the ways packets went: "original", "reply". */
static void
add_hit (JsonBuilder *b, const CtTraceHit *hit)
{
  json_builder_begin_object (b);
  if (hit->family != NULL)
    add_string (b, "family", hit->family);
  add_string (b, "table", hit->table);
  add_string (b, "chain", hit->chain);
  add_string (b, "type", ct_hit_type_to_string (hit->type));
  add_int (b, "position", hit->position);
  if (hit->handle != 0)
    add_int (b, "handle", (gint64)hit->handle);
  add_string (b, "verdict", ct_verdict_to_string (hit->verdict));
  if (hit->rule != NULL)
    add_string (b, "rule", hit->rule);
  json_builder_set_member_name (b, "directions");
  json_builder_begin_array (b);
  if (hit->directions & CT_HIT_ORIGINAL)
    json_builder_add_string_value (b, "original");
  if (hit->directions & CT_HIT_REPLY)
    json_builder_add_string_value (b, "reply");
  json_builder_end_array (b);
  add_int (b, "count", (gint64)hit->count);
  add_int (b, "last_seen_us", hit->last_seen);
  json_builder_end_object (b);
}

void
ct_json_append_flow (GString *out, const CtFlow *flow)
{
  const CtFlowKey *k = &flow->key;
  const char *name = ct_flow_proto_name (k->proto);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  add_int (b, "id", (gint64)flow->id);
  json_builder_set_member_name (b, "family");
  json_builder_add_string_value (b, k->family == AF_INET6 ? "ipv6" : "ipv4");
  json_builder_set_member_name (b, "protocol");
  if (name != NULL)
    json_builder_add_string_value (b, name);
  else
    json_builder_add_int_value (b, k->proto);
  add_int (b, "protocol_number", k->proto);
  add_addr (b, "src", k->family, k->src);
  add_addr (b, "dst", k->family, k->dst);
  if (ct_flow_key_is_icmp (k))
    {
      add_int (b, "icmp_type", k->sport);
      add_int (b, "icmp_code", k->dport);
    }
  else if (ct_flow_key_has_ports (k))
    {
      add_int (b, "sport", k->sport);
      add_int (b, "dport", k->dport);
    }
  json_builder_set_member_name (b, "confirmed");
  json_builder_add_boolean_value (b, (flow->flags & CT_FLOW_CONFIRMED) != 0);
  if (flow->flags & CT_FLOW_DNAT)
    add_nat (b, "dnat", k, flow->nat_dst, flow->nat_dport);
  if (flow->flags & CT_FLOW_SNAT)
    add_nat (b, "snat", k, flow->nat_src, flow->nat_sport);
  add_int (b, "connections", (gint64)flow->connections);
  add_int (b, "active", flow->active);
  add_int (b, "packets", (gint64)flow->packets);
  add_int (b, "bytes", (gint64)flow->bytes);
  add_int (b, "first_seen_us", flow->first_seen);
  add_int (b, "last_seen_us", flow->last_seen);

  json_builder_set_member_name (b, "denied");
  json_builder_add_boolean_value (b, (flow->flags & CT_FLOW_DENIED) != 0);
  json_builder_set_member_name (b, "hits");
  json_builder_begin_array (b);
  for (guint i = 0; flow->hits != NULL && i < flow->hits->len; i++)
    add_hit (b, g_ptr_array_index (flow->hits, i));
  json_builder_end_array (b);
  if (flow->blame != NULL)
    {
      json_builder_set_member_name (b, "blame");
      add_hit (b, flow->blame);
    }
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  g_string_append (out, text);
  g_string_append_c (out, '\n');
}

/* flow-text.c — the human-readable side of a flow dictionary. */
#include "config.h"

#include "flow-text.h"

#include <glib/gi18n.h>

const char *
ct_text_arrow (void)
{
  return g_get_charset (NULL) ? "→" : "->";
}

gboolean
ct_flow_is_ipv6 (GVariant *flow)
{
  const char *family = NULL;

  return g_variant_lookup (flow, "family", "&s", &family)
         && g_str_equal (family, "ipv6");
}

static gboolean
is_icmp (GVariant *flow)
{
  guint8 type;

  return g_variant_lookup (flow, "icmp-type", "y", &type);
}

char *
ct_text_u64 (guint64 value)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, value);
}

char *
ct_text_protocol (GVariant *flow)
{
  const char *name = NULL;
  guint8 number;
  const char *suffix = ct_flow_is_ipv6 (flow) ? "v6" : "v4";

  if (g_variant_lookup (flow, "protocol", "&s", &name))
    return g_strconcat (name, suffix, NULL);
  if (g_variant_lookup (flow, "protocol-number", "y", &number))
    return g_strdup_printf ("%u%s", number, suffix);
  return g_strdup ("?");
}

char *
ct_text_sport (GVariant *flow)
{
  guint16 port;

  if (g_variant_lookup (flow, "sport", "q", &port))
    return g_strdup_printf ("%u", port);
  return g_strdup ("-");
}

char *
ct_text_dport (GVariant *flow)
{
  guint16 port;
  guint8 type, code;

  if (g_variant_lookup (flow, "dport", "q", &port))
    return g_strdup_printf ("%u", port);
  if (g_variant_lookup (flow, "icmp-type", "y", &type))
    {
      if (g_variant_lookup (flow, "icmp-code", "y", &code))
        return g_strdup_printf ("%u/%u", type, code);
      return g_strdup_printf ("%u", type);
    }
  return g_strdup ("-");
}

static char *
format_endpoint (GVariant *flow, const char *addr, gboolean has_port,
                 guint16 port)
{
  if (!has_port)
    return g_strdup (addr);
  if (ct_flow_is_ipv6 (flow))
    return g_strdup_printf ("[%s]:%u", addr, port);
  return g_strdup_printf ("%s:%u", addr, port);
}

char *
ct_text_endpoint (GVariant *flow, gboolean source)
{
  const char *addr = "?";
  guint16 port = 0;
  gboolean has_port;

  g_variant_lookup (flow, source ? "src" : "dst", "&s", &addr);
  has_port = g_variant_lookup (flow, source ? "sport" : "dport", "q", &port);
  return format_endpoint (flow, addr, has_port, port);
}

gboolean
ct_flow_is_denied (GVariant *flow)
{
  const char *verdict = NULL;

  return g_variant_lookup (flow, "verdict", "&s", &verdict)
         && !g_str_equal (verdict, "accept");
}

char *
ct_text_hit_place (GVariant *hit)
{
  const char *family = NULL, *table = "?", *chain = "?";

  g_variant_lookup (hit, "table", "&s", &table);
  g_variant_lookup (hit, "chain", "&s", &chain);
  if (g_variant_lookup (hit, "family", "&s", &family))
    return g_strdup_printf ("%s %s %s", family, table, chain);
  return g_strdup_printf ("%s %s", table, chain);
}

char *
ct_text_hit (GVariant *hit)
{
  g_autofree char *place = ct_text_hit_place (hit);
  const char *type = "", *verdict = "?", *rule = NULL;
  guint32 position = 0;

  g_variant_lookup (hit, "type", "&s", &type);
  g_variant_lookup (hit, "verdict", "&s", &verdict);
  g_variant_lookup (hit, "position", "u", &position);
  g_variant_lookup (hit, "rule", "&s", &rule);
  if (g_str_equal (type, "policy"))
    /* Translators: a chain's policy decided: "inet fw input, policy
     * (drop)"; the verdict stays in English, as nft prints it. */
    return g_strdup_printf (_ ("%s, policy (%s)"), place, verdict);
  if (g_str_equal (type, "return"))
    /* Translators: the packet ran off the end of a regular chain. */
    return g_strdup_printf (_ ("%s, end of chain (%s)"), place, verdict);
  if (rule != NULL)
    /* Translators: a rule by its position in its chain, its verdict and
     * its text: "inet fw input, rule 8 (drop): udp dport 9 drop". */
    return g_strdup_printf (_ ("%s, rule %u (%s): %s"), place, position,
                            verdict, rule);
  /* Translators: the same without the rule's text (not known). */
  return g_strdup_printf (_ ("%s, rule %u (%s)"), place, position, verdict);
}

const char *
ct_text_state_word (GVariant *flow)
{
  gboolean confirmed = FALSE;

  g_variant_lookup (flow, "confirmed", "b", &confirmed);
  if (ct_flow_is_denied (flow))
    /* Translators: the state of a flow the firewall dropped or rejected
     * (its first packet never got through). */
    return _ ("denied");
  if (confirmed)
    /* Translators: the state of a flow whose peer replied. */
    return _ ("confirmed");
  /* Translators: the state of a flow that never saw a reply. */
  return _ ("unreplied");
}

char *
ct_text_state (GVariant *flow)
{
  const char *state = ct_text_state_word (flow);
  const char *dnat = NULL;
  guint16 port = 0;
  gboolean has_port;
  g_autofree char *target = NULL;

  if (!g_variant_lookup (flow, "dnat-addr", "&s", &dnat))
    return g_strdup (state);
  has_port = g_variant_lookup (flow, "dnat-port", "q", &port);
  target = format_endpoint (flow, dnat, has_port, port);
  return g_strdup_printf ("%s %s %s", state, ct_text_arrow (), target);
}

char *
ct_text_flow_line (GVariant *flow)
{
  guint64 id = 0, connections = 0;
  g_autofree char *proto = ct_text_protocol (flow);
  g_autofree char *src = ct_text_endpoint (flow, TRUE);
  g_autofree char *dst = ct_text_endpoint (flow, FALSE);
  g_autofree char *state = ct_text_state (flow);
  g_autofree char *icmp = NULL;
  g_autofree char *conns = NULL;
  GString *line = g_string_new (NULL);

  g_variant_lookup (flow, "id", "t", &id);
  g_string_append_printf (line, "%" G_GUINT64_FORMAT " %s %s %s %s", id, proto,
                          src, ct_text_arrow (), dst);
  if (is_icmp (flow))
    {
      guint8 type = 0, code = 0;

      g_variant_lookup (flow, "icmp-type", "y", &type);
      g_variant_lookup (flow, "icmp-code", "y", &code);
      /* Translators: ICMP type and code of a flow, "type 8 code 0". */
      icmp = g_strdup_printf (_ ("type %u code %u"), type, code);
      g_string_append_printf (line, " %s", icmp);
    }
  g_string_append_printf (line, " %s", state);
  if (g_variant_lookup (flow, "connections", "t", &connections))
    {
      conns = g_strdup_printf (
          /* Translators: how many conntrack entries a flow had so far. */
          ngettext ("%lu connection", "%lu connections",
                    (unsigned long)connections),
          (unsigned long)connections);
      g_string_append_printf (line, ", %s", conns);
    }
  return g_string_free (line, FALSE);
}

char *
ct_text_age (gint64 then_us, gint64 now_us)
{
  gint64 s = (now_us - then_us) / G_USEC_PER_SEC;

  s = CLAMP (s, 0, (gint64)G_MAXUINT * 60 * 60 * 24);
  if (s < 60)
    /* Translators: a time that many seconds ago, short: "5s ago". */
    return g_strdup_printf (_ ("%us ago"), (guint)s);
  if (s < 60 * 60)
    /* Translators: minutes ago, short: "3m ago". */
    return g_strdup_printf (_ ("%um ago"), (guint)(s / 60));
  if (s < 60 * 60 * 24)
    /* Translators: hours ago, short: "2h ago". */
    return g_strdup_printf (_ ("%uh ago"), (guint)(s / (60 * 60)));
  /* Translators: days ago, short: "4d ago". */
  return g_strdup_printf (_ ("%ud ago"), (guint)(s / (60 * 60 * 24)));
}

char *
ct_text_time (gint64 us)
{
  g_autoptr (GDateTime) t
      = g_date_time_new_from_unix_local (us / G_USEC_PER_SEC);

  if (t == NULL)
    return g_strdup ("?");
  return g_date_time_format (t, "%Y-%m-%d %H:%M:%S");
}

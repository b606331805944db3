/* cmd-show.c — `conntrackerctl show ID`: everything known about one flow,
 * with the rules it passed (its trace hits). */
#include "config.h"

#include "conntrackerctl.h"
#include "flow-text.h"
#include "text-table.h"
#include "variant-json.h"

static void
add_row (CtTextTable *table, const char *label, char *value)
{
  ct_text_table_add_cell (table, label);
  ct_text_table_take_cell (table, value);
}

static char *
address_with_port (GVariant *flow, const char *addr_key, const char *port_key)
{
  const char *addr = NULL;
  guint16 port;

  if (!g_variant_lookup (flow, addr_key, "&s", &addr))
    return NULL;
  if (g_variant_lookup (flow, port_key, "q", &port))
    /* Translators: an address and its port, "10.0.0.1, port 22". */
    return g_strdup_printf (_ ("%s, port %u"), addr, port);
  return g_strdup (addr);
}

static char *
time_with_age (gint64 us, gint64 now)
{
  g_autofree char *when = ct_text_time (us);
  g_autofree char *age = ct_text_age (us, now);

  return g_strdup_printf ("%s (%s)", when, age);
}

static void
print_fields (GVariant *flow, gint64 now)
{
  g_autoptr (CtTextTable) table = ct_text_table_new (2);
  g_autofree char *rendered = NULL;
  const char *protocol = NULL, *verdict = NULL;
  guint8 number, icmp_type, icmp_code;
  guint64 u64;
  guint32 active;
  gint64 when;
  char *text;

  g_variant_lookup (flow, "protocol", "&s", &protocol);
  if (g_variant_lookup (flow, "protocol-number", "y", &number))
    text = g_strdup_printf ("%s (%u)", protocol ? protocol : "?", number);
  else
    text = g_strdup (protocol ? protocol : "?");
  add_row (table, _ ("Protocol:"),
           g_strdup_printf ("%s, %s", text,
                            ct_flow_is_ipv6 (flow) ? "IPv6" : "IPv4"));
  g_free (text);

  if ((text = address_with_port (flow, "src", "sport")) != NULL)
    add_row (table, _ ("Source:"), text);
  if ((text = address_with_port (flow, "dst", "dport")) != NULL)
    add_row (table, _ ("Destination:"), text);
  if (g_variant_lookup (flow, "icmp-type", "y", &icmp_type))
    {
      if (!g_variant_lookup (flow, "icmp-code", "y", &icmp_code))
        icmp_code = 0;
      add_row (table, _ ("ICMP:"),
               g_strdup_printf (_ ("type %u code %u"), icmp_type, icmp_code));
    }
  if ((text = address_with_port (flow, "dnat-addr", "dnat-port")) != NULL)
    /* Translators: where DNAT sent the flow. */
    add_row (table, _ ("DNAT to:"), text);
  if ((text = address_with_port (flow, "snat-addr", "snat-port")) != NULL)
    /* Translators: the source address the peer saw after SNAT. */
    add_row (table, _ ("SNAT as:"), text);

  add_row (table, _ ("State:"), g_strdup (ct_text_state_word (flow)));
  if (g_variant_lookup (flow, "verdict", "&s", &verdict))
    add_row (table, _ ("Verdict:"), g_strdup (verdict));

  if (g_variant_lookup (flow, "connections", "t", &u64))
    {
      g_autofree char *count = ct_text_u64 (u64);

      if (g_variant_lookup (flow, "active", "u", &active))
        /* Translators: connections ever seen, and how many the kernel
         * tracks now: "12 (1 active)". */
        add_row (table, _ ("Connections:"),
                 g_strdup_printf (_ ("%s (%u active)"), count, active));
      else
        add_row (table, _ ("Connections:"), g_steal_pointer (&count));
    }
  if (g_variant_lookup (flow, "packets", "t", &u64))
    add_row (table, _ ("Packets:"), ct_text_u64 (u64));
  if (g_variant_lookup (flow, "bytes", "t", &u64))
    add_row (table, _ ("Bytes:"),
             g_format_size_full (u64, G_FORMAT_SIZE_LONG_FORMAT));
  if (g_variant_lookup (flow, "first-seen", "x", &when))
    add_row (table, _ ("First seen:"), time_with_age (when, now));
  if (g_variant_lookup (flow, "last-seen", "x", &when))
    add_row (table, _ ("Last seen:"), time_with_age (when, now));

  rendered = ct_text_table_render (table);
  g_print ("%s", rendered);
}

static void
add_hit_cell (CtTextTable *table, GVariant *hit, const char *key)
{
  const char *s;

  ct_text_table_add_cell (table,
                          g_variant_lookup (hit, key, "&s", &s) ? s : "-");
}

/* The rules the flow passed, in the legacy order (table, chain, type,
 * position), each with what it did and its text. */
static void
print_hits (GVariant *flow, gint64 now)
{
  g_autoptr (GVariant) hits
      = g_variant_lookup_value (flow, "hits", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (CtTextTable) table = ct_text_table_new (10);
  g_autofree char *rendered = NULL;
  GVariantIter iter;
  GVariant *hit;

  if (hits == NULL || g_variant_n_children (hits) == 0)
    return;

  /* Translators: column headers of the rule hits in `show`. FAMILY is
   * the nftables table's family (ip, ip6, inet, …); DIRECTION says which
   * packets met the rule (original, reply or both). */
  ct_text_table_set_column (table, 0, _ ("FAMILY"), FALSE);
  ct_text_table_set_column (table, 1, _ ("TABLE"), FALSE);
  ct_text_table_set_column (table, 2, _ ("CHAIN"), FALSE);
  ct_text_table_set_column (table, 3, _ ("TYPE"), FALSE);
  ct_text_table_set_column (table, 4, _ ("POSITION"), TRUE);
  ct_text_table_set_column (table, 5, _ ("VERDICT"), FALSE);
  ct_text_table_set_column (table, 6, _ ("DIRECTION"), FALSE);
  ct_text_table_set_column (table, 7, _ ("COUNT"), TRUE);
  ct_text_table_set_column (table, 8, _ ("LAST SEEN"), FALSE);
  ct_text_table_set_column (table, 9, _ ("RULE"), FALSE);

  g_variant_iter_init (&iter, hits);
  while ((hit = g_variant_iter_next_value (&iter)) != NULL)
    {
      guint32 position;
      guint64 count;
      gint64 last_seen;

      add_hit_cell (table, hit, "family");
      add_hit_cell (table, hit, "table");
      add_hit_cell (table, hit, "chain");
      add_hit_cell (table, hit, "type");
      if (g_variant_lookup (hit, "position", "u", &position) && position > 0)
        ct_text_table_take_cell (table, g_strdup_printf ("%u", position));
      else
        ct_text_table_add_cell (table, "-");
      add_hit_cell (table, hit, "verdict");
      add_hit_cell (table, hit, "directions");
      if (g_variant_lookup (hit, "count", "t", &count))
        ct_text_table_take_cell (table, ct_text_u64 (count));
      else
        ct_text_table_add_cell (table, "-");
      if (g_variant_lookup (hit, "last-seen", "x", &last_seen))
        ct_text_table_take_cell (table, ct_text_age (last_seen, now));
      else
        ct_text_table_add_cell (table, "-");
      add_hit_cell (table, hit, "rule");
      g_variant_unref (hit);
    }

  rendered = ct_text_table_render (table);
  g_print ("\n%s\n%s", _ ("Rules passed:"), rendered);
}

/* The rule that decided the flow: for a denied flow the one that dropped
 * or rejected it, else the accept that let its first packet through. */
static void
print_blame (GVariant *flow)
{
  g_autoptr (GVariant) blame
      = g_variant_lookup_value (flow, "blame", G_VARIANT_TYPE_VARDICT);
  g_autofree char *text = NULL;

  if (blame == NULL)
    return;
  text = ct_text_hit (blame);
  /* Translators: the rule that dropped or rejected a denied flow, or the
   * one that accepted another: "Denied by: inet fw input, rule 8 (drop):
   * udp dport 9 drop". */
  g_print ("\n%s %s\n",
           ct_flow_is_denied (flow) ? _ ("Denied by:") : _ ("Decided by:"),
           text);
}

CtExit
ct_cmd_show (CtClient *client, const CtCommand *command, int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_ ("Print the flow as one JSON object"), NULL },
    { NULL },
  };
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) flow = NULL;
  g_autoptr (GError) error = NULL;
  guint64 id;
  g_autofree char *title = NULL;
  CtExit status;

  /* Translators: the argument of `show` in its usage line. */
  if (!ct_command_parse_options (command, entries, _ ("ID"), &argc, &argv))
    return CT_EXIT_USAGE;
  if (argc < 2)
    return ct_command_usage_error (command, _ ("missing flow ID"));
  if (argc > 2)
    return ct_command_usage_error (command, _ ("unexpected argument “%s”"),
                                   argv[2]);
  if (!g_ascii_string_to_unsigned (argv[1], 10, 0, G_MAXUINT64, &id, NULL))
    return ct_command_usage_error (
        command, _ ("“%s” is not a flow ID (IDs are numbers, see “list”)"),
        argv[1]);

  status = ct_client_connect (client);
  if (status != CT_EXIT_OK)
    return status;
  reply = ct_client_call (client, "GetFlow", g_variant_new ("(t)", id),
                          G_VARIANT_TYPE ("(a{sv})"), &error);
  if (reply == NULL)
    {
      if (ct_exit_status_for_error (error) == CT_EXIT_NO_SUCH_FLOW)
        {
          ct_print_error (_ ("no flow with ID %s (it may have been evicted "
                             "or reset)"),
                          argv[1]);
          return CT_EXIT_NO_SUCH_FLOW;
        }
      return ct_client_report_error (client, error);
    }
  flow = g_variant_get_child_value (reply, 0);

  if (json)
    {
      g_autoptr (JsonNode) node = ct_json_from_variant (flow);

      ct_json_print_line (node);
      return CT_EXIT_OK;
    }
  title = ct_text_flow_line (flow);
  /* Translators: the heading of `show`, followed by a one-line summary. */
  g_print (_ ("Flow %s\n"), title);
  print_fields (flow, g_get_real_time ());
  print_hits (flow, g_get_real_time ());
  print_blame (flow);
  return CT_EXIT_OK;
}

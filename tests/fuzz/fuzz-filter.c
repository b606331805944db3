/* Fuzz target: filter expressions as any user (or D-Bus caller) may type
 * them. Checks that parsing never crashes, errors are well-formed, and the
 * canonical text re-parses to the same filter with the same verdicts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define NOW_US (G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC)

static CtFlow *
make_flow (guint8 family, guint8 proto, const char *src, guint16 sport,
           const char *dst, guint16 dport, guint32 flags, gint64 age_s)
{
  CtFlowKey key = { 0 };
  CtFlow *flow;

  key.family = family;
  key.proto = proto;
  key.sport = sport;
  key.dport = dport;
  if (inet_pton (family, src, key.src) != 1
      || inet_pton (family, dst, key.dst) != 1)
    abort ();
  flow = ct_flow_new (&key);
  flow->flags = flags;
  flow->active = flags & CT_FLOW_CONFIRMED ? 1 : 0;
  flow->first_seen = NOW_US - 2 * age_s * G_USEC_PER_SEC;
  flow->last_seen = NOW_US - age_s * G_USEC_PER_SEC;
  return flow;
}

static GPtrArray *
fixed_flows (void)
{
  static GPtrArray *flows;

  if (flows != NULL)
    return flows;
  flows = g_ptr_array_new ();
  g_ptr_array_add (flows, make_flow (AF_INET, IPPROTO_TCP, "192.168.1.10", 1024,
                                     "10.1.2.3", 22, CT_FLOW_CONFIRMED, 30));
  g_ptr_array_add (flows, make_flow (AF_INET6, IPPROTO_ICMPV6, "2001:db8::1",
                                     128, "fe80::2", 0,
                                     CT_FLOW_CONFIRMED | CT_FLOW_SNAT, 4000));
  g_ptr_array_add (flows, make_flow (AF_INET, IPPROTO_UDP, "0.0.0.0", 68,
                                     "255.255.255.255", 67, CT_FLOW_DENIED, 0));
  g_ptr_array_add (flows, make_flow (AF_INET6, IPPROTO_GRE, "::", 0, "::1", 0,
                                     CT_FLOW_DNAT, 100000));
  return flows;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_malloc (size + 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (CtFilter) filter = NULL;
  g_autoptr (CtFilter) again = NULL;
  g_autofree char *canon = NULL;
  g_autofree char *canon2 = NULL;
  GPtrArray *flows = fixed_flows ();

  memcpy (text, data, size);
  text[size] = '\0';

  filter = ct_filter_parse (text, &error);
  if (filter == NULL)
    {
      /* Messages travel over D-Bus: they must be UTF-8 and say where. */
      if (error == NULL
          || !g_error_matches (error, CT_FILTER_ERROR, CT_FILTER_ERROR_SYNTAX)
          || !g_utf8_validate (error->message, -1, NULL)
          || !g_str_has_prefix (error->message, "at column "))
        abort ();
      return 0;
    }

  canon = ct_filter_to_string (filter);
  again = ct_filter_parse (canon, &error);
  if (again == NULL)
    {
      fprintf (stderr, "canonical form does not parse: '%s': %s\n", canon,
               error->message);
      abort ();
    }
  canon2 = ct_filter_to_string (again);
  if (strcmp (canon, canon2) != 0)
    {
      fprintf (stderr, "canonical form not stable: '%s' vs '%s'\n", canon,
               canon2);
      abort ();
    }
  for (guint i = 0; i < flows->len; i++)
    if (ct_filter_match (filter, flows->pdata[i], NOW_US)
        != ct_filter_match (again, flows->pdata[i], NOW_US))
      {
        fprintf (stderr, "'%s' and its canonical form disagree\n", text);
        abort ();
      }
  return 0;
}

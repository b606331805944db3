/* Fuzz target: raw packets and transport headers. The first byte picks
 * the entry point: bit 0 the family (IPv4, IPv6), bit 1 a whole network
 * packet or, with the protocol in the second byte, a transport header. */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "packet-parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check (const CtPacketTuple *t, guint8 family)
{
  static const guint8 zero[12];

  g_assert_cmpuint (t->family, ==, family);
  g_assert_cmpint (t->l4, <=, CT_PACKET_L4_UNKNOWN);
  if (family == AF_INET)
    {
      g_assert_cmpmem (t->src + 4, 12, zero, 12);
      g_assert_cmpmem (t->dst + 4, 12, zero, 12);
    }
  if (t->l4 == CT_PACKET_L4_FRAGMENT || t->l4 == CT_PACKET_L4_UNKNOWN)
    g_assert_true (t->sport == 0 && t->dport == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree guint8 *buf = NULL;
  CtPacketTuple t;
  guint8 family, proto;

  if (size < 2)
    return 0;
  family = data[0] & 1 ? AF_INET6 : AF_INET;
  if (!(data[0] & 2))
    {
      /* An exact-size copy: any over-read is a finding. */
      buf = g_memdup2 (data + 1, size - 1);
      if (ct_packet_parse (family, buf, size - 1, &t))
        check (&t, family);
      else
        {
          CtPacketTuple zero;

          memset (&zero, 0, sizeof zero);
          g_assert_cmpmem (&t, sizeof t, &zero, sizeof zero);
        }
      return 0;
    }

  proto = data[1];
  buf = g_memdup2 (data + 2, size - 2);
  memset (&t, 0, sizeof t);
  t.family = family;
  ct_packet_parse_l4 (proto, buf, size - 2, &t);
  check (&t, family);
  if (!t.icmp_error)
    g_assert_cmpuint (t.proto, ==, proto);
  return 0;
}

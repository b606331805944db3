/* Fuzz target: NFT_MSG_TRACE messages as the kernel (or anyone able to
 * corrupt them) might deliver them, several to a datagram. */
#include <libmnl/libmnl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "nlmsg-walk.h"
#include "nft-trace-parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* An exact-size, malloc-aligned copy: a read past the datagram is a
   * finding, as it would be in a real receive buffer's neighbour. */
  g_autofree guint8 *buf = g_memdup2 (data, size);
  const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
  int len = (int)MIN (size, (size_t)G_MAXINT);
  CtNftTrace t;
  CtHitType hit;

  while (ct_nlmsg_ok (nlh, len))
    {
      if (ct_nft_trace_parse (nlh, &t) == CT_PARSE_OK)
        {
          g_assert_cmpuint (strlen (t.table), <, sizeof t.table);
          g_assert_cmpuint (strlen (t.chain), <, sizeof t.chain);
          g_assert_cmpuint (strlen (t.verdict_chain), <,
                            sizeof t.verdict_chain);
          if (ct_nft_trace_hit_type (&t, &hit))
            g_assert_false (ct_nft_trace_is_chain_end (&t));
          if (t.has_tuple)
            {
              g_assert_true (t.tuple.family == AF_INET
                             || t.tuple.family == AF_INET6);
              g_assert_cmpint (t.tuple.l4, <=, CT_PACKET_L4_UNKNOWN);
            }
        }
      nlh = mnl_nlmsg_next (nlh, &len);
    }
  return 0;
}

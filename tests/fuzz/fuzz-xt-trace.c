/* Fuzz target: nfnetlink_log packet messages carrying legacy TRACE lines
 * (or anything else an NFLOG group-0 listener may receive). */
#include <libmnl/libmnl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "nlmsg-walk.h"
#include "xt-trace-parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* An exact-size, malloc-aligned copy: any over-read is a finding. */
  g_autofree guint8 *buf = g_memdup2 (data, size);
  const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
  int len = (int)MIN (size, (size_t)G_MAXINT);
  CtXtTrace t;

  while (ct_nlmsg_ok (nlh, len))
    {
      if (ct_xt_trace_parse (nlh, &t) == CT_PARSE_OK)
        {
          gsize table = strlen (t.table), chain = strlen (t.chain);

          g_assert_true (table > 0 && table < sizeof t.table);
          g_assert_true (chain > 0 && chain < sizeof t.chain);
          g_assert_null (memchr (t.table, ':', table));
          g_assert_cmpuint (t.position, >, 0);
          g_assert_true (t.type == CT_HIT_RULE || t.type == CT_HIT_RETURN
                         || t.type == CT_HIT_POLICY);
          g_assert_true (t.family == AF_INET || t.family == AF_INET6);
          if (t.has_tuple)
            g_assert_cmpuint (t.tuple.family, ==, t.family);
        }
      nlh = mnl_nlmsg_next (nlh, &len);
    }
  return 0;
}

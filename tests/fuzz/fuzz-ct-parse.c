/* Fuzz target: ctnetlink messages as the kernel (or an attacker able to
 * corrupt them) might deliver them, parsed and applied to a store. */
#include <libmnl/libmnl.h>

#include "nlmsg-walk.h"
#include <stdint.h>
#include <string.h>

#include "ct-parse.h"
#include "store.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (CtStore) store = ct_store_new (16, TRUE);
  /* Copy: netlink data is 4-byte aligned in a real receive buffer. */
  g_autofree guint32 *buf = g_malloc0 (size + 4);
  const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
  int len = (int)size;
  CtConnEvent ev;

  memcpy (buf, data, size);
  ct_store_resync_begin (store);
  while (ct_nlmsg_ok (nlh, len))
    {
      for (int dump = 0; dump <= 1; dump++)
        if (ct_parse_message (nlh, dump, &ev) == CT_PARSE_OK)
          ct_store_apply (store, &ev, 1);
      nlh = mnl_nlmsg_next (nlh, &len);
    }
  ct_store_resync_end (store);
  return 0;
}

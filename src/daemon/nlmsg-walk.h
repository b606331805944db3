/* nlmsg-walk.h — the bounds check for walking netlink messages in a
 * buffer. libmnl's mnl_nlmsg_ok compares (int) nlmsg_len, so a length of
 * 2 GiB or more would pass it and mnl_nlmsg_next would leave the buffer. */
#pragma once

#include <glib.h>
#include <libmnl/libmnl.h>

static inline gboolean
ct_nlmsg_ok (const struct nlmsghdr *nlh, int len)
{
  return mnl_nlmsg_ok (nlh, len) && nlh->nlmsg_len <= (guint32)len;
}

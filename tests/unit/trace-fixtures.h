/* trace-fixtures.h — shared by the trace parser tests: recorded kernel
 * messages from tests/unit/data/trace, and address assertions. Test-only. */
#pragma once

#include <arpa/inet.h>
#include <glib.h>
#include <libmnl/libmnl.h>

/* A recorded message in a buffer of exactly its size (8-byte aligned by
 * malloc), so that ASAN sees any read past nlmsg_len. */
static inline struct nlmsghdr *
ct_test_load_message (const char *name)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "trace", name, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  struct nlmsghdr *nlh;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  nlh = g_memdup2 (data, len);
  g_assert_true (mnl_nlmsg_ok (nlh, (int)len));
  g_assert_cmpuint (nlh->nlmsg_len, ==, len);
  return nlh;
}

static inline void
ct_test_assert_addr (guint8 family, const guint8 *addr, const char *want)
{
  guint8 a[16] = { 0 };

  inet_pton (family, want, a);
  g_assert_cmpmem (addr, 16, a, 16);
}

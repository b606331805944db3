/* Dump files: atomic replacement for regular files, in-place writes for
 * anything else (a FIFO here; /dev/null in real life), never replacing a
 * device or pipe with a regular file. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ct-msg.h"
#include "dump-file.h"

static CtStore *
store_with_one_flow (void)
{
  CtStore *store = ct_store_new (10, TRUE);
  guint8 buf[1024];
  struct nlmsghdr *nlh
      = ct_msg_build (buf, IPCTNL_MSG_CT_NEW, NLM_F_CREATE, AF_INET,
                      IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 40000, 22, 1, 0);
  CtConnEvent ev;

  g_assert_cmpint (ct_parse_message (nlh, FALSE, &ev), ==, CT_PARSE_OK);
  ct_store_apply (store, &ev, 1);
  return store;
}

static void
test_regular_file (void)
{
  g_autoptr (CtStore) store = store_with_one_flow ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ct-dump-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "flows.txt", NULL);
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_assert_true (ct_dump_write (store, CT_DUMP_LEGACY, path, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==,
                   " TCPv4 [           0] src = 10.0.0.1 (port=1024) to dst "
                   "= 10.0.0.2 (port=22)\n");
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_fifo_stays_a_fifo (void)
{
  g_autoptr (CtStore) store = store_with_one_flow ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ct-dump-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "pipe", NULL);
  char buf[256] = { 0 };
  struct stat st;
  int reader;

  g_assert_no_error (error);
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  reader = open (path, O_RDONLY | O_NONBLOCK);
  g_assert_cmpint (reader, >=, 0);

  g_assert_true (ct_dump_write (store, CT_DUMP_JSON, path, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_true (S_ISFIFO (st.st_mode));
  g_assert_cmpint (read (reader, buf, sizeof buf - 1), >, 0);
  g_assert_nonnull (strstr (buf, "\"dst\":\"10.0.0.2\""));

  close (reader);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dump-file/regular-file", test_regular_file);
  g_test_add_func ("/dump-file/fifo-stays-a-fifo", test_fifo_stays_a_fifo);
  return g_test_run ();
}

/* State files: a saved store loads back the same, and damaged, foreign or
 * truncated files are refused whole, set aside, and never crash. */
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "state-file.h"
#include "store-state.h"

static CtConnEvent
conn4 (guint32 id, const char *src, guint16 sport, const char *dst,
       guint16 dport, guint32 status)
{
  CtConnEvent ev = { 0 };

  ev.type = CT_EVENT_NEW;
  ev.family = AF_INET;
  ev.proto = IPPROTO_TCP;
  ev.has_id = TRUE;
  ev.id = id;
  ev.status = status;
  inet_pton (AF_INET, src, ev.orig.src);
  inet_pton (AF_INET, dst, ev.orig.dst);
  ev.orig.sport = sport;
  ev.orig.dport = dport;
  memcpy (ev.reply.src, ev.orig.dst, 16);
  memcpy (ev.reply.dst, ev.orig.src, 16);
  ev.reply.sport = dport;
  ev.reply.dport = sport;
  return ev;
}

static CtStore *
sample_store (void)
{
  CtStore *store = ct_store_new (100, TRUE);
  CtConnEvent a = conn4 (1, "10.0.0.1", 40000, "10.0.0.2", 22, IPS_SEEN_REPLY);
  CtConnEvent b = conn4 (2, "10.0.0.1", 40001, "10.0.0.3", 8080, 0);
  CtTraceEvent hit = { 0 };

  inet_pton (AF_INET, "10.9.9.9", b.reply.src); /* DNAT'd */
  b.reply.sport = 80;
  ct_store_apply (store, &a, 10);
  ct_store_apply (store, &b, 20);

  hit.has_tuple = TRUE;
  hit.tuple.family = AF_INET;
  hit.tuple.proto = IPPROTO_TCP;
  memcpy (hit.tuple.src, a.orig.src, 16);
  memcpy (hit.tuple.dst, a.orig.dst, 16);
  hit.tuple.sport = 40000;
  hit.tuple.dport = 22;
  hit.family = "inet";
  hit.table = "filter";
  hit.chain = "input";
  hit.type = CT_HIT_RULE;
  hit.position = 2;
  hit.handle = 7;
  hit.verdict = CT_VERDICT_ACCEPT;
  hit.rule = "tcp dport 22 accept";
  ct_store_apply_trace (store, &hit, 30);
  return store;
}

static void
test_round_trip (void)
{
  g_autoptr (CtStore) store = sample_store ();
  g_autoptr (CtStore) back = ct_store_new (100, TRUE);
  g_autoptr (GBytes) image = ct_store_save (store);
  g_autoptr (GBytes) again = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) flows = NULL;
  CtFlow *ssh, *web;

  g_assert_true (ct_store_load (back, image, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ct_store_get_n_flows (back), ==, 2);
  g_assert_cmpuint (ct_store_get_n_conns (back), ==, 2);

  flows = ct_store_get_sorted (back);
  ssh = g_ptr_array_index (flows, 0);
  web = g_ptr_array_index (flows, 1);
  g_assert_cmpuint (ssh->key.dport, ==, 22);
  g_assert_true (ssh->flags & CT_FLOW_CONFIRMED);
  g_assert_cmpuint (ssh->active, ==, 1);
  g_assert_cmpint (ssh->first_seen, ==, 10);
  g_assert_nonnull (ssh->blame);
  g_assert_cmpstr (ssh->blame->rule, ==, "tcp dport 22 accept");
  g_assert_cmpstr (ssh->blame->family, ==, "inet");
  g_assert_true (web->flags & CT_FLOW_DNAT);
  g_assert_cmpuint (web->nat_dport, ==, 80);
  /* Ids survive, so clients holding one can still ask for it. */
  g_assert_true (ct_store_lookup_id (back, ssh->id) == ssh);
  g_assert_cmpuint (ssh->id, ==, ct_store_lookup (store, &ssh->key)->id);

  /* The entries it believed live are known again: the next dump counts
   * them once, not twice. */
  {
    CtConnEvent dump = conn4 (1, "10.0.0.1", 40000, "10.0.0.2", 22, 0);

    dump.type = CT_EVENT_DUMP;
    ct_store_resync_begin (back);
    ct_store_apply (back, &dump, 40);
    ct_store_resync_end (back);
    g_assert_cmpuint (ssh->connections, ==, 1);
    g_assert_cmpuint (ssh->active, ==, 1);
    /* Entry 2 went away while we were down. */
    g_assert_cmpuint (web->active, ==, 0);
  }

  /* Saving the reloaded store gives a loadable image again. */
  again = ct_store_save (back);
  {
    g_autoptr (CtStore) third = ct_store_new (100, TRUE);

    g_assert_true (ct_store_load (third, again, &error));
    g_assert_cmpuint (ct_store_get_n_flows (third), ==, 2);
  }
}

static void
test_bound_applies_on_load (void)
{
  g_autoptr (CtStore) store = sample_store ();
  g_autoptr (CtStore) small = ct_store_new (1, TRUE);
  g_autoptr (GBytes) image = ct_store_save (store);
  g_autoptr (GError) error = NULL;

  g_assert_true (ct_store_load (small, image, &error));
  g_assert_cmpuint (ct_store_get_n_flows (small), ==, 1);
  g_assert_cmpuint (ct_store_get_stats (small)->flows_evicted, ==, 1);
}

static void
test_bad_images (void)
{
  g_autoptr (CtStore) store = sample_store ();
  g_autoptr (GBytes) image = ct_store_save (store);
  gsize len;
  const guint8 *data = g_bytes_get_data (image, &len);
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (CtStore) s = ct_store_new (100, TRUE);
    g_autoptr (GBytes) junk = g_bytes_new_static ("hello world", 11);

    g_assert_false (ct_store_load (s, junk, &error));
    g_assert_error (error, CT_STATE_ERROR, CT_STATE_ERROR_FOREIGN);
    g_clear_error (&error);
  }

  /* Every truncation and every single-byte change: refused or loaded,
   * never a crash, and a refusal leaves the store empty. */
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr (CtStore) s = ct_store_new (100, TRUE);
      g_autoptr (GBytes) part = g_bytes_new (data, cut);

      g_assert_false (ct_store_load (s, part, &error));
      g_assert_cmpuint (ct_store_get_n_flows (s), ==, 0);
      g_clear_error (&error);
    }
  for (gsize at = 0; at < len; at++)
    {
      g_autoptr (CtStore) s = ct_store_new (100, TRUE);
      g_autofree guint8 *copy = g_memdup2 (data, len);
      g_autoptr (GBytes) bent = NULL;

      copy[at] ^= 0x5a;
      bent = g_bytes_new (copy, len);
      if (!ct_store_load (s, bent, &error))
        {
          g_assert_nonnull (error);
          g_assert_cmpuint (ct_store_get_n_flows (s), ==, 0);
          g_clear_error (&error);
        }
    }
}

static void
test_file_set_aside (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ct-state-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "flows.state", NULL);
  g_autofree char *aside = NULL;
  g_autoptr (CtStore) store = sample_store ();
  g_autoptr (CtStore) empty = ct_store_new (100, TRUE);
  g_autoptr (CtStore) fresh = ct_store_new (100, TRUE);

  /* No file yet: the first start. */
  g_assert_true (ct_state_file_load (empty, path, &aside, &error));
  g_assert_no_error (error);

  g_assert_true (ct_state_file_save (store, path, &error));
  g_assert_true (ct_state_file_load (fresh, path, &aside, &error));
  g_assert_cmpuint (ct_store_get_n_flows (fresh), ==, 2);

  g_assert_true (g_file_set_contents (path, "garbage", -1, NULL));
  g_assert_false (ct_state_file_load (empty, path, &aside, &error));
  g_assert_nonnull (strstr (error->message, "not a conntrackerd state file"));
  g_assert_nonnull (aside);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (aside, G_FILE_TEST_EXISTS));
  g_unlink (aside);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store-state/round-trip", test_round_trip);
  g_test_add_func ("/store-state/bound-applies-on-load",
                   test_bound_applies_on_load);
  g_test_add_func ("/store-state/bad-images", test_bad_images);
  g_test_add_func ("/store-state/file-set-aside", test_file_set_aside);
  return g_test_run ();
}

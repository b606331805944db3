/* nf-log.c — reading and setting nf_log bindings through procfs. The
 * kernel prints one line per family: "%2d %s (" the bound logger or NONE,
 * then the registered loggers separated by ',' and ")". */
#include "nf-log.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#define NF_LOG_PROC   "/proc/self/net/netfilter/nf_log"
#define NF_LOG_SYSCTL "/proc/sys/net/netfilter/nf_log/%u"

static gboolean
parse_line (const char *s, gsize n, guint pf, char *name, gsize size)
{
  gsize i = 0, start;
  guint64 num = 0;
  gboolean digits = FALSE;

  while (i < n && s[i] == ' ')
    i++;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
    {
      num = num * 10 + (guint)(s[i] - '0');
      digits = TRUE;
      if (num > G_MAXUINT)
        return FALSE;
    }
  if (!digits || num != pf || i >= n || s[i] != ' ')
    return FALSE;
  start = ++i;
  while (i < n && s[i] != ' ' && s[i] != '(')
    i++;
  /* The name, then " (" and the list of loggers. */
  if (i == start || i - start >= size || i + 1 >= n || s[i] != ' '
      || s[i + 1] != '(' || s[n - 1] != ')')
    return FALSE;
  memcpy (name, s + start, i - start);
  name[i - start] = '\0';
  return TRUE;
}

gboolean
ct_nf_log_parse_binding (const char *text, gsize len, guint pf, char *name,
                         gsize size)
{
  gsize start = 0;

  while (start < len)
    {
      const char *nl = memchr (text + start, '\n', len - start);
      gsize end = nl != NULL ? (gsize)(nl - text) : len;

      if (parse_line (text + start, end - start, pf, name, size))
        return TRUE;
      start = end + 1;
    }
  return FALSE;
}

gboolean
ct_nf_log_get_binding (guint pf, char *name, gsize size, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;

  if (!g_file_get_contents (NF_LOG_PROC, &text, &len, error))
    return FALSE;
  if (!ct_nf_log_parse_binding (text, len, pf, name, size))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s has no line for protocol family %u", NF_LOG_PROC, pf);
      return FALSE;
    }
  return TRUE;
}

gboolean
ct_nf_log_set_binding (guint pf, const char *name, GError **error)
{
  g_autofree char *path = g_strdup_printf (NF_LOG_SYSCTL, pf);
  gsize len = strlen (name);
  ssize_t n;
  int fd, err;

  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    {
      err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot open %s: %s", path, g_strerror (err));
      return FALSE;
    }
  do
    n = write (fd, name, len);
  while (n < 0 && errno == EINTR);
  err = errno;
  close (fd);
  if (n < 0 || (gsize)n != len)
    {
      /* ENOENT: no logger of that name is registered for pf. */
      g_set_error (error, G_IO_ERROR,
                   n < 0 ? g_io_error_from_errno (err) : G_IO_ERROR_FAILED,
                   "cannot write %s to %s: %s", name, path,
                   n < 0 ? g_strerror (err) : "short write");
      return FALSE;
    }
  return TRUE;
}

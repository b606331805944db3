/* nlattr-read.c — bounds-checked attribute reading for the parsers. */
#include "nlattr-read.h"

#include <stddef.h>
#include <string.h>

gboolean
ct_nlattr_collect (const void *start, gsize len, const struct nlattr **tb,
                   guint max)
{
  const char *end = (const char *)start + len;
  const struct nlattr *a = start;

  memset (tb, 0, sizeof (*tb) * (max + 1));
  while (mnl_attr_ok (a, (int)(end - (const char *)a)))
    {
      guint type = mnl_attr_get_type (a);

      if (type <= max)
        tb[type] = a;
      a = mnl_attr_next (a);
    }
  /* Up to 3 bytes of alignment padding may follow the last attribute. */
  return (const char *)a >= end
         || end - (const char *)a < (ptrdiff_t)sizeof (struct nlattr);
}

gboolean
ct_nlattr_be32 (const struct nlattr *a, guint32 *out)
{
  guint32 v;

  if (mnl_attr_get_payload_len (a) < sizeof v)
    return FALSE;
  memcpy (&v, mnl_attr_get_payload (a), sizeof v);
  *out = GUINT32_FROM_BE (v);
  return TRUE;
}

gboolean
ct_nlattr_be64 (const struct nlattr *a, guint64 *out)
{
  guint64 v;

  if (mnl_attr_get_payload_len (a) < sizeof v)
    return FALSE;
  memcpy (&v, mnl_attr_get_payload (a), sizeof v);
  *out = GUINT64_FROM_BE (v);
  return TRUE;
}

gboolean
ct_nlattr_opt_be32 (const struct nlattr *a, gboolean *has, guint32 *out)
{
  if (a == NULL)
    return TRUE;
  if (!ct_nlattr_be32 (a, out))
    return FALSE;
  if (has != NULL)
    *has = TRUE;
  return TRUE;
}

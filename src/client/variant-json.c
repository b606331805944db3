/* variant-json.c — GVariant to JSON, for conntrackerctl's --json. */
#include "variant-json.h"

#include <stdio.h>

static char *
json_key (const char *key)
{
  char *copy = g_strdup (key);

  g_strdelimit (copy, "-", '_');
  return copy;
}

static JsonNode *
from_dict (GVariant *dict)
{
  JsonObject *object = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  GVariantIter iter;
  GVariant *entry;

  g_variant_iter_init (&iter, dict);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr (GVariant) key = g_variant_get_child_value (entry, 0);
      g_autoptr (GVariant) value = g_variant_get_child_value (entry, 1);
      g_autofree char *name = json_key (g_variant_get_string (key, NULL));

      json_object_set_member (object, name, ct_json_from_variant (value));
      g_variant_unref (entry);
    }
  json_node_take_object (node, object);
  return node;
}

static JsonNode *
from_array (GVariant *container)
{
  JsonArray *array = json_array_new ();
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  GVariantIter iter;
  GVariant *child;

  g_variant_iter_init (&iter, container);
  while ((child = g_variant_iter_next_value (&iter)) != NULL)
    {
      json_array_add_element (array, ct_json_from_variant (child));
      g_variant_unref (child);
    }
  json_node_take_array (node, array);
  return node;
}

JsonNode *
ct_json_from_variant (GVariant *value)
{
  JsonNode *node;

  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr (GVariant) inner = g_variant_get_variant (value);

      return ct_json_from_variant (inner);
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("a{s*}")))
    return from_dict (value);
  if (g_variant_is_container (value))
    return from_array (value);

  node = json_node_new (JSON_NODE_VALUE);
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      json_node_set_boolean (node, g_variant_get_boolean (value));
      break;
    case G_VARIANT_CLASS_BYTE:
      json_node_set_int (node, g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_INT16:
      json_node_set_int (node, g_variant_get_int16 (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      json_node_set_int (node, g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_INT32:
      json_node_set_int (node, g_variant_get_int32 (value));
      break;
    case G_VARIANT_CLASS_HANDLE:
      json_node_set_int (node, g_variant_get_handle (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      json_node_set_int (node, g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_INT64:
      json_node_set_int (node, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      /* Ids and counters stay far below 2^63 in practice; JSON has no
       * unsigned type to say otherwise. */
      json_node_set_int (node, (gint64)g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_DOUBLE:
      json_node_set_double (node, g_variant_get_double (value));
      break;
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      json_node_set_string (node, g_variant_get_string (value, NULL));
      break;
    default:
      json_node_init_null (node);
      break;
    }
  return node;
}

void
ct_json_print_line (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, FALSE);

  /* JSON is UTF-8 whatever the locale: no g_print conversion here. */
  fputs (text, stdout);
  fputc ('\n', stdout);
}

/* variant-json.h — D-Bus values as JSON for scripts. Dictionary keys get
 * "_" for "-", as in DumpFlows' JSON format, so list, show, watch and dump
 * speak the same keys. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Dictionaries with string keys become objects, other containers arrays,
 * variants are unboxed, integers of every width become JSON numbers. */
JsonNode *ct_json_from_variant (GVariant *value);

/* The node as one line of JSON on stdout, then a newline. */
void ct_json_print_line (JsonNode *node);

G_END_DECLS

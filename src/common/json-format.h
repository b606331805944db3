/* json-format.h — one flow as a JSON object (the machine-readable dump and
 * the JSON-lines stream); every field a user could need, NAT included. */
#pragma once

#include "flow.h"

G_BEGIN_DECLS

/* Appends the flow as one line of JSON followed by '\n'. */
void ct_json_append_flow (GString *out, const CtFlow *flow);

G_END_DECLS

/*
 * registry.c - the connectors payd knows, by name (DESIGN.md section 7).
 *
 * Invariants: names are unique; the table is constant. Threading: read-only.
 */
#include <string.h>

#include "connectors_int.h"

static const struct pay_connector *const connectors[] = {
    &pay_sandbox_connector,
};

const struct pay_connector *pay_connector_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(connectors) / sizeof(connectors[0]); i++) {
        if (strcmp(connectors[i]->name, name) == 0) {
            return connectors[i];
        }
    }
    return NULL;
}

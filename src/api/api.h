/*
 * api.h - the HTTP <-> domain glue: one file per resource under src/api/,
 * and the routing table (src/api/routes.c) that names every route, its
 * roles and its summary. Nothing here touches SQL or money rules; it parses,
 * authorises and calls the domain modules.
 */
#ifndef PAY_API_H
#define PAY_API_H

#include "../http/http.h"

/* The routing table, as data. */
const struct pay_route *pay_api_routes(size_t *n_out);

/*
 * The OpenAPI 3.1 description served at /v1/openapi.json: every embedded
 * fragment under src/api/openapi/ merged into base.json (each fragment
 * contributes "paths", "components" and "tags"), then annotated from the
 * routing table (public operations get "security": [], the others
 * "x-roles"). Built once at first use; borrowed, never NULL unless a
 * fragment is not valid JSON (a build defect, logged).
 * Threading: safe from any thread; the document must not be modified.
 */
json_t *pay_api_openapi(void);

/*
 * Write the OpenAPI form of a route pattern ("/v1/customers/:id" ->
 * "/v1/customers/{id}") into @out; false when it does not fit in @n bytes.
 */
bool pay_api_openapi_path(const char *pattern, char *out, size_t n);

#endif

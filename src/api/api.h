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

#endif

/*
 * api_int.h - declarations shared by the files of src/api/ only.
 *
 * Each resource file (customers.c, payment_intents.c, ...) defines its
 * routes as a table and its OpenAPI fragment as
 * src/api/openapi/<resource>.json; routes.c lists the tables.
 */
#ifndef PAY_API_INT_H
#define PAY_API_INT_H

#include "api.h"

#define PAY_API_ROUTES_DECL(name)                                                     \
    extern const struct pay_route pay_api_##name##_routes[];                          \
    extern const size_t pay_api_##name##_routes_n

/* Define a resource's table: PAY_API_ROUTES_DEFINE(customers) = { {...}, ... }; */
#define PAY_API_ROUTES_DEFINE(name) const struct pay_route pay_api_##name##_routes[]
#define PAY_API_ROUTES_COUNT(name)                                                    \
    const size_t pay_api_##name##_routes_n =                                          \
        sizeof(pay_api_##name##_routes) / sizeof(pay_api_##name##_routes[0])

#endif

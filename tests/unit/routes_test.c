/*
 * routes_test.c - the routing table and the OpenAPI description agree:
 * every route has its operation in the merged document, every operation
 * in the document has its route, and the document carries what the
 * routing table says about access (public or the roles admitted).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

static const char *const doc_methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};

static void lower(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < n; i++) {
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
    }
    out[i] = '\0';
}

static json_t *doc_paths(void)
{
    json_t *doc = pay_api_openapi();
    cr_assert_not_null(doc, "the OpenAPI fragments do not merge (invalid JSON?)");
    json_t *paths = json_object_get(doc, "paths");
    cr_assert(json_is_object(paths), "the document has no paths object");
    return paths;
}

Test(routes, openapi_path_conversion)
{
    char out[64];
    cr_assert(pay_api_openapi_path("/v1/customers/:id", out, sizeof(out)));
    cr_assert_str_eq(out, "/v1/customers/{id}");
    cr_assert(pay_api_openapi_path("/v1/a/:id/b/:sub_id/c", out, sizeof(out)));
    cr_assert_str_eq(out, "/v1/a/{id}/b/{sub_id}/c");
    cr_assert(pay_api_openapi_path("/health", out, sizeof(out)));
    cr_assert_str_eq(out, "/health");
    cr_assert_not(pay_api_openapi_path("/v1/customers/:id", out, 10));
}

Test(routes, document_is_openapi_3_1)
{
    json_t *doc = pay_api_openapi();
    cr_assert_not_null(doc);
    const char *version = pay_json_str(doc, "openapi");
    cr_assert_not_null(version);
    cr_assert(strncmp(version, "3.1", 3) == 0, "openapi is %s", version);
    cr_assert_not_null(pay_json_str(json_object_get(doc, "info"), "title"));
    cr_assert(json_is_object(json_object_get(json_object_get(doc, "components"), "schemas")));
    cr_assert_not_null(
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Error"));
}

Test(routes, every_route_is_documented)
{
    json_t *paths = doc_paths();
    size_t n = 0;
    const struct pay_route *routes = pay_api_routes(&n);
    cr_assert_gt(n, 0);
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        char path[256];
        char method[16];
        cr_assert(pay_api_openapi_path(routes[i].pattern, path, sizeof(path)));
        lower(routes[i].method, method, sizeof(method));
        json_t *op = json_object_get(json_object_get(paths, path), method);
        if (!json_is_object(op)) {
            fprintf(stderr, "route %s %s is missing from the OpenAPI document (%s %s)\n",
                    routes[i].method, routes[i].pattern, method, path);
            missing++;
            continue;
        }
        if (routes[i].summary == NULL || routes[i].summary[0] == '\0') {
            fprintf(stderr, "route %s %s has no summary\n", routes[i].method, routes[i].pattern);
            missing++;
        }
        cr_assert(json_is_object(json_object_get(op, "responses")), "%s %s documents no responses",
                  method, path);
    }
    cr_assert_eq(missing, 0, "%d route(s) undocumented; see above", missing);
}

Test(routes, every_documented_operation_is_a_route)
{
    json_t *paths = doc_paths();
    size_t n = 0;
    const struct pay_route *routes = pay_api_routes(&n);
    const char *path;
    json_t *item;
    int extra = 0;
    json_object_foreach(paths, path, item)
    {
        for (size_t m = 0; m < sizeof(doc_methods) / sizeof(doc_methods[0]); m++) {
            if (json_object_get(item, doc_methods[m]) == NULL) {
                continue;
            }
            bool found = false;
            for (size_t i = 0; i < n && !found; i++) {
                char rpath[256];
                char rmethod[16];
                cr_assert(pay_api_openapi_path(routes[i].pattern, rpath, sizeof(rpath)));
                lower(routes[i].method, rmethod, sizeof(rmethod));
                found = strcmp(rpath, path) == 0 && strcmp(rmethod, doc_methods[m]) == 0;
            }
            if (!found) {
                fprintf(stderr, "the OpenAPI document has %s %s but no route serves it\n",
                        doc_methods[m], path);
                extra++;
            }
        }
    }
    cr_assert_eq(extra, 0, "%d documented operation(s) without a route; see above", extra);
}

Test(routes, access_is_stated_from_the_table)
{
    json_t *paths = doc_paths();
    size_t n = 0;
    const struct pay_route *routes = pay_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        char method[16];
        cr_assert(pay_api_openapi_path(routes[i].pattern, path, sizeof(path)));
        lower(routes[i].method, method, sizeof(method));
        json_t *op = json_object_get(json_object_get(paths, path), method);
        if (op == NULL) {
            continue; /* every_route_is_documented reports it */
        }
        json_t *security = json_object_get(op, "security");
        json_t *roles = json_object_get(op, "x-roles");
        if (routes[i].flags & PAY_ROUTE_PUBLIC) {
            cr_assert(json_is_array(security) && json_array_size(security) == 0,
                      "public %s %s must say security: []", method, path);
            cr_assert_null(roles);
        } else {
            cr_assert(json_is_array(roles), "%s %s has no x-roles", method, path);
            cr_assert_gt(json_array_size(roles), 0, "%s %s admits no role", method, path);
            size_t k;
            json_t *r;
            json_array_foreach(roles, k, r)
            {
                cr_assert(routes[i].roles & pay_role_parse(json_string_value(r)),
                          "%s %s lists a role the table does not admit", method, path);
            }
        }
    }
}

Test(routes, routes_are_unique)
{
    size_t n = 0;
    const struct pay_route *routes = pay_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            cr_assert(strcmp(routes[i].method, routes[j].method) != 0 ||
                          strcmp(routes[i].pattern, routes[j].pattern) != 0,
                      "%s %s is in the table twice", routes[i].method, routes[i].pattern);
        }
    }
}

Test(routes, ops_routes_are_present)
{
    json_t *paths = doc_paths();
    const char *const ops[] = {"/health", "/metrics", "/v1/openapi.json", "/docs", "/v1/keys"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        cr_assert_not_null(json_object_get(json_object_get(paths, ops[i]), "get"), "%s", ops[i]);
    }
}

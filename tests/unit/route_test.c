/*
 * route_test.c - pay_route_find: literal and ":name" segments, 404 vs 405,
 * trailing slashes, specificity, and captured parameters.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http/http.h"

static const struct pay_route routes[] = {
    {"GET", "/health", NULL, 0, PAY_ROUTE_PUBLIC, "health"},
    {"GET", "/v1/customers", NULL, PAY_ROLES_ALL, 0, "list"},
    {"POST", "/v1/customers", NULL, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "create"},
    {"GET", "/v1/customers/:id", NULL, PAY_ROLES_ALL, 0, "retrieve"},
    {"POST", "/v1/customers/:id", NULL, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "update"},
    {"DELETE", "/v1/customers/:id", NULL, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "delete"},
    {"GET", "/v1/customers/search", NULL, PAY_ROLES_ALL, 0, "search"},
    {"POST", "/v1/payment_intents/:id/capture", NULL, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "capture"},
    {"GET", "/v1/customers/:customer/sources/:id", NULL, PAY_ROLES_ALL, 0, "source"},
    {"GET", "/", NULL, 0, PAY_ROUTE_PUBLIC, "root"},
};
static const size_t n_routes = sizeof(routes) / sizeof(routes[0]);

struct found {
    enum pay_route_match m;
    const struct pay_route *r;
    const char *params[PAY_ROUTE_PARAMS_MAX];
    char scratch[256];
};

/* Results live in one static struct: the parameters point into its scratch. */
static struct found found;

static struct found *find(const char *method, const char *path)
{
    memset(&found, 0x5a, sizeof(found)); /* garbage in, so NULLs out are real */
    found.m = pay_route_find(routes, n_routes, method, path, &found.r, found.params, found.scratch,
                             sizeof(found.scratch));
    return &found;
}

static void expect_route(const char *method, const char *path, const char *summary)
{
    struct found *f = find(method, path);
    cr_assert_eq(f->m, PAY_MATCH_OK, "%s %s: match %d", method, path, f->m);
    cr_assert_not_null(f->r);
    cr_assert_str_eq(f->r->summary, summary, "%s %s -> %s, want %s", method, path, f->r->summary,
                     summary);
}

Test(route, literal_paths)
{
    expect_route("GET", "/health", "health");
    expect_route("GET", "/v1/customers", "list");
    expect_route("POST", "/v1/customers", "create");
    expect_route("GET", "/", "root");
    struct found *f = find("GET", "/health");
    for (int i = 0; i < PAY_ROUTE_PARAMS_MAX; i++) {
        cr_assert_null(f->params[i]);
    }
}

Test(route, params_are_captured)
{
    struct found *f = find("GET", "/v1/customers/cus_123");
    cr_assert_eq(f->m, PAY_MATCH_OK);
    cr_assert_str_eq(f->r->summary, "retrieve");
    cr_assert_str_eq(f->params[0], "cus_123");
    cr_assert_null(f->params[1]);
    /* The parameter points into the caller's scratch buffer. */
    cr_assert(f->params[0] >= f->scratch && f->params[0] < f->scratch + sizeof(f->scratch));

    f = find("POST", "/v1/payment_intents/pi_abc/capture");
    cr_assert_eq(f->m, PAY_MATCH_OK);
    cr_assert_str_eq(f->r->summary, "capture");
    cr_assert_str_eq(f->params[0], "pi_abc");

    f = find("GET", "/v1/customers/cus_1/sources/src_2");
    cr_assert_eq(f->m, PAY_MATCH_OK);
    cr_assert_str_eq(f->params[0], "cus_1");
    cr_assert_str_eq(f->params[1], "src_2");
    cr_assert_null(f->params[2]);
}

Test(route, method_selects_among_same_path)
{
    expect_route("GET", "/v1/customers/cus_1", "retrieve");
    expect_route("POST", "/v1/customers/cus_1", "update");
    expect_route("DELETE", "/v1/customers/cus_1", "delete");
}

Test(route, literal_beats_parameter_regardless_of_order)
{
    expect_route("GET", "/v1/customers/search", "search");
    struct found *f = find("GET", "/v1/customers/search");
    cr_assert_null(f->params[0]);
    /* POST has no literal search route, so the parameter route takes it. */
    struct found *g = find("POST", "/v1/customers/search");
    cr_assert_eq(g->m, PAY_MATCH_OK);
    cr_assert_str_eq(g->r->summary, "update");
    cr_assert_str_eq(g->params[0], "search");
}

Test(route, not_found_vs_method_not_allowed)
{
    struct found *f = find("GET", "/v1/nothing");
    cr_assert_eq(f->m, PAY_MATCH_NO_ROUTE);
    cr_assert_null(f->r);
    f = find("DELETE", "/v1/customers");
    cr_assert_eq(f->m, PAY_MATCH_BAD_METHOD);
    cr_assert_null(f->r);
    f = find("GET", "/v1/payment_intents/pi_1/capture");
    cr_assert_eq(f->m, PAY_MATCH_BAD_METHOD);
    f = find("PATCH", "/health");
    cr_assert_eq(f->m, PAY_MATCH_BAD_METHOD);
    f = find("get", "/health"); /* methods are case-sensitive */
    cr_assert_eq(f->m, PAY_MATCH_BAD_METHOD);
}

Test(route, head_is_not_special)
{
    struct found *f = find("HEAD", "/health");
    cr_assert_eq(f->m, PAY_MATCH_BAD_METHOD);
}

Test(route, trailing_slash_tolerated)
{
    expect_route("GET", "/v1/customers/", "list");
    expect_route("GET", "/health/", "health");
    struct found *f = find("GET", "/v1/customers/cus_9/");
    cr_assert_eq(f->m, PAY_MATCH_OK);
    cr_assert_str_eq(f->params[0], "cus_9");
}

Test(route, segment_counts_and_empty_segments)
{
    cr_assert_eq(find("GET", "/v1/customers/a/b")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "/v1")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "/v1//customers")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "/v1/customers//")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "//")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "/v1/customersx")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "/v1/custom")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "v1/customers")->m, PAY_MATCH_NO_ROUTE);
    cr_assert_eq(find("GET", "")->m, PAY_MATCH_NO_ROUTE);
    /* A parameter never matches an empty segment. */
    cr_assert_eq(find("POST", "/v1/payment_intents//capture")->m, PAY_MATCH_NO_ROUTE);
}

Test(route, scratch_too_small_is_no_route)
{
    const struct pay_route *r = NULL;
    const char *params[PAY_ROUTE_PARAMS_MAX];
    char scratch[4];
    enum pay_route_match m = pay_route_find(routes, n_routes, "GET", "/v1/customers/cus_12345", &r,
                                            params, scratch, sizeof(scratch));
    cr_assert_eq(m, PAY_MATCH_NO_ROUTE);
    cr_assert_null(r);
    cr_assert_null(params[0]);
    m = pay_route_find(routes, n_routes, "GET", "/v1/customers/abc", &r, params, scratch,
                       sizeof(scratch));
    cr_assert_eq(m, PAY_MATCH_OK);
    cr_assert_str_eq(params[0], "abc");
}

/*
 * route_find.c - libFuzzer target for pay_route_find (src/http/route.c)
 * over payd's real routing table. The first byte picks the method, the rest
 * is the path. The scratch buffer is sized as the server sizes it. Checks: a
 * match names a route of that method, and every path parameter is a
 * non-empty string inside the scratch buffer.
 */
#include "api/api.h"
#include "fuzz.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "PATCH", "get", ""};
    if (size < 1) {
        return 0;
    }
    const char *method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    char *path = fuzz_strdup(data + 1, size - 1);
    size_t n = 0;
    const struct pay_route *routes = pay_api_routes(&n);

    size_t scratch_len = strlen(path) + PAY_ROUTE_PARAMS_MAX + 1;
    char *scratch = malloc(scratch_len);
    fuzz_check(scratch != NULL);
    const struct pay_route *r = NULL;
    const char *params[PAY_ROUTE_PARAMS_MAX];
    enum pay_route_match m =
        pay_route_find(routes, n, method, path, &r, params, scratch, scratch_len);
    if (m == PAY_MATCH_OK) {
        fuzz_check(r != NULL);
        fuzz_check(strcmp(r->method, method) == 0);
        for (size_t i = 0; i < PAY_ROUTE_PARAMS_MAX; i++) {
            if (params[i]) {
                fuzz_check(params[i] >= scratch && params[i] < scratch + scratch_len);
                fuzz_check(params[i][0] != '\0');
            }
        }
    } else {
        fuzz_check(m == PAY_MATCH_NO_ROUTE || m == PAY_MATCH_BAD_METHOD);
    }
    free(scratch);
    free(path);
    return 0;
}

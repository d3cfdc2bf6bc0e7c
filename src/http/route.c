/*
 * route.c - matching a request's method and path against the routing table
 * (src/api/routes.c), which is data: {method, pattern, handler, roles, ...}.
 *
 * Rules: a pattern is "/"-separated segments; a literal segment matches the
 * same bytes, a ":name" segment matches any one non-empty segment and
 * captures it. One trailing slash on the request path is tolerated
 * ("/v1/customers/" is "/v1/customers"); empty segments elsewhere ("//")
 * match nothing. When several patterns match a path, the one with a literal
 * segment where the other has a parameter wins, leftmost first
 * ("/v1/customers/search" beats "/v1/customers/:id"); ties go to the earlier
 * row. A path that some route matches with another method is
 * PAY_MATCH_BAD_METHOD (405), so clients can tell a typo from a wrong verb.
 * HEAD is not special: it matches only routes declared with "HEAD".
 *
 * The request path arrives already percent-decoded by libmicrohttpd.
 *
 * Threading: pure, no state; safe from any thread.
 */
#include <string.h>

#include "http_int.h"

/* Segment [*p, end of segment) of a path; advances *p past it and its '/'. */
static bool next_segment(const char **p, const char **seg, size_t *len)
{
    const char *s = *p;
    if (*s == '\0') {
        return false;
    }
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    *seg = s;
    *len = n;
    *p = slash ? slash + 1 : s + n;
    return true;
}

/*
 * Does @path (after its leading '/') match @pattern (after its leading '/')?
 * *literal_mask gets one bit per segment, leftmost segment in the highest
 * bit, set when the pattern segment is a literal: a larger mask is a more
 * specific route. When @params is not NULL, captured segments are copied
 * into @scratch.
 */
static bool match(const char *pattern, const char *path, uint64_t *literal_mask,
                  const char **params, char *scratch, size_t scratch_len, bool *scratch_full)
{
    const char *pp = pattern;
    const char *qp = path;
    uint64_t mask = 0;
    size_t nparams = 0;
    size_t used = 0;
    int depth = 0;

    for (;;) {
        const char *pseg, *qseg;
        size_t plen, qlen;
        bool have_p = next_segment(&pp, &pseg, &plen);
        bool have_q = next_segment(&qp, &qseg, &qlen);
        if (!have_p || !have_q) {
            if (have_p || have_q) {
                return false;
            }
            break;
        }
        if (qlen == 0) {
            /* "//" inside the path; the one tolerated trailing slash never
             * produces an empty segment (next_segment stops at the NUL). */
            return false;
        }
        bool is_param = plen > 1 && pseg[0] == ':';
        if (is_param) {
            if (nparams >= PAY_ROUTE_PARAMS_MAX) {
                return false;
            }
            if (params) {
                if (qlen + 1 > scratch_len - used) {
                    *scratch_full = true;
                    return false;
                }
                memcpy(scratch + used, qseg, qlen);
                scratch[used + qlen] = '\0';
                params[nparams] = scratch + used;
                used += qlen + 1;
            }
            nparams++;
        } else if (plen != qlen || memcmp(pseg, qseg, plen) != 0) {
            return false;
        }
        if (depth < 63) {
            mask |= (uint64_t)(is_param ? 0 : 1) << (63 - depth);
        }
        depth++;
    }
    *literal_mask = mask;
    return true;
}

enum pay_route_match pay_route_find(const struct pay_route *routes, size_t n, const char *method,
                                    const char *path, const struct pay_route **out,
                                    const char *params[PAY_ROUTE_PARAMS_MAX], char *scratch,
                                    size_t scratch_len)
{
    for (size_t i = 0; i < PAY_ROUTE_PARAMS_MAX; i++) {
        params[i] = NULL;
    }
    *out = NULL;
    if (!path || path[0] != '/' || !method) {
        return PAY_MATCH_NO_ROUTE;
    }

    const struct pay_route *best = NULL;
    uint64_t best_mask = 0;
    bool path_known = false;
    for (size_t i = 0; i < n; i++) {
        const char *pattern = routes[i].pattern;
        if (!pattern || pattern[0] != '/') {
            continue;
        }
        uint64_t mask;
        if (!match(pattern + 1, path + 1, &mask, NULL, NULL, 0, NULL)) {
            continue;
        }
        path_known = true;
        if (strcmp(routes[i].method, method) != 0) {
            continue;
        }
        if (!best || mask > best_mask) {
            best = &routes[i];
            best_mask = mask;
        }
    }
    if (!best) {
        return path_known ? PAY_MATCH_BAD_METHOD : PAY_MATCH_NO_ROUTE;
    }

    uint64_t mask;
    bool scratch_full = false;
    if (!scratch || scratch_len == 0 ||
        !match(best->pattern + 1, path + 1, &mask, params, scratch, scratch_len, &scratch_full)) {
        /* Only a scratch buffer too small for the captures gets here: treat
         * such an absurdly long path as unknown rather than truncate an id. */
        for (size_t i = 0; i < PAY_ROUTE_PARAMS_MAX; i++) {
            params[i] = NULL;
        }
        return PAY_MATCH_NO_ROUTE;
    }
    *out = best;
    return PAY_MATCH_OK;
}

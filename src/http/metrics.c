/*
 * metrics.c - the server's Prometheus metrics: requests counted by (route
 * pattern, method, status), a latency histogram per route pattern, and the
 * number of requests in flight; rendered in the text exposition format
 * (version 0.0.4) by pay_metrics_render.
 *
 * Invariants: label values come from bounded sets only, so a client cannot
 * grow the tables: the route is a pattern of the routing table or
 * "unmatched" (never the raw path), the method is one of a fixed list or
 * "OTHER", the status an integer. The tables are fixed arrays (open
 * addressing); a series that does not fit is counted in
 * payd_http_metrics_dropped_total instead of allocating.
 *
 * Threading: one mutex guards the tables (held for a hash probe and an
 * increment); the in-flight gauge is an atomic. State is process-wide, as
 * Prometheus expects of one process.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define ROUTE_LEN_MAX 128
#define COUNTERS_MAX 2048 /* power of two */
#define HISTS_MAX 512     /* power of two */
#define RENDER_BYTES_MAX (8 * 1024 * 1024)

/* Prometheus' default buckets, in microseconds; +Inf is the count. */
static const int64_t bucket_us[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                        "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                        "1",      "2.5",   "5"};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))
_Static_assert(sizeof(bucket_le) / sizeof(bucket_le[0]) == N_BUCKETS, "bucket tables");

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

struct counter {
    bool used;
    char route[ROUTE_LEN_MAX];
    const char *method; /* one of methods[] or "OTHER" */
    int status;
    uint64_t count;
};

struct hist {
    bool used;
    char route[ROUTE_LEN_MAX];
    uint64_t buckets[N_BUCKETS]; /* not cumulative; summed when rendered */
    uint64_t count;
    int64_t sum_us;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter counters[COUNTERS_MAX];
static struct hist hists[HISTS_MAX];
static uint64_t dropped;
static atomic_long in_flight;

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static const char *method_label(const char *m)
{
    for (size_t i = 0; m && i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i]) == 0) {
            return methods[i];
        }
    }
    return "OTHER";
}

void pay_metrics_inflight_add(int delta)
{
    atomic_fetch_add(&in_flight, delta);
}

static struct counter *counter_get(const char *route, const char *method, int status)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, route);
    h = fnv1a(h, method);
    h ^= (uint64_t)(unsigned)status;
    h *= 0x100000001b3ULL;
    for (size_t i = 0; i < COUNTERS_MAX; i++) {
        struct counter *c = &counters[(h + i) & (COUNTERS_MAX - 1)];
        if (!c->used) {
            c->used = true;
            snprintf(c->route, sizeof(c->route), "%s", route);
            c->method = method;
            c->status = status;
            return c;
        }
        if (c->status == status && c->method == method && strcmp(c->route, route) == 0) {
            return c;
        }
    }
    return NULL;
}

static struct hist *hist_get(const char *route)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, route);
    for (size_t i = 0; i < HISTS_MAX; i++) {
        struct hist *x = &hists[(h + i) & (HISTS_MAX - 1)];
        if (!x->used) {
            x->used = true;
            snprintf(x->route, sizeof(x->route), "%s", route);
            return x;
        }
        if (strcmp(x->route, route) == 0) {
            return x;
        }
    }
    return NULL;
}

void pay_metrics_observe(const char *route, const char *method, int status, int64_t duration_us)
{
    if (!route) {
        route = "unmatched";
    }
    if (duration_us < 0) {
        duration_us = 0;
    }
    const char *m = method_label(method);
    pthread_mutex_lock(&lock);
    struct counter *c = counter_get(route, m, status);
    struct hist *x = hist_get(route);
    if (c) {
        c->count++;
    }
    if (x) {
        size_t b = 0;
        while (b < N_BUCKETS && duration_us > bucket_us[b]) {
            b++;
        }
        if (b < N_BUCKETS) {
            x->buckets[b]++;
        }
        x->count++;
        x->sum_us += duration_us;
    }
    if (!c || !x) {
        dropped++;
    }
    pthread_mutex_unlock(&lock);
}

/* A label value with \, " and newlines escaped, as the format requires. */
static enum pay_err add_label(struct pay_buf *b, const char *v)
{
    enum pay_err rc = PAY_OK;
    for (; *v && rc == PAY_OK; v++) {
        if (*v == '\\') {
            rc = pay_buf_adds(b, "\\\\");
        } else if (*v == '"') {
            rc = pay_buf_adds(b, "\\\"");
        } else if (*v == '\n') {
            rc = pay_buf_adds(b, "\\n");
        } else {
            rc = pay_buf_add(b, v, 1);
        }
    }
    return rc;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((rc = (expr)) != PAY_OK) {                                                             \
            goto out_unlock;                                                                       \
        }                                                                                          \
    } while (0)

char *pay_metrics_render(void)
{
    struct pay_buf b;
    pay_buf_init(&b, RENDER_BYTES_MAX);
    enum pay_err rc = PAY_OK;

    pthread_mutex_lock(&lock);
    TRY(pay_buf_adds(&b, "# HELP payd_http_requests_total HTTP requests answered, by route "
                         "pattern, method and status.\n"
                         "# TYPE payd_http_requests_total counter\n"));
    for (size_t i = 0; i < COUNTERS_MAX; i++) {
        const struct counter *c = &counters[i];
        if (!c->used) {
            continue;
        }
        TRY(pay_buf_adds(&b, "payd_http_requests_total{route=\""));
        TRY(add_label(&b, c->route));
        TRY(pay_buf_addf(&b, "\",method=\"%s\",status=\"%d\"} %" PRIu64 "\n", c->method, c->status,
                         c->count));
    }

    TRY(pay_buf_adds(&b, "# HELP payd_http_request_duration_seconds Time from a request's "
                         "headers to its last response byte.\n"
                         "# TYPE payd_http_request_duration_seconds histogram\n"));
    for (size_t i = 0; i < HISTS_MAX; i++) {
        const struct hist *x = &hists[i];
        if (!x->used) {
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++) {
            cumulative += k < N_BUCKETS ? x->buckets[k] : 0;
            TRY(pay_buf_adds(&b, "payd_http_request_duration_seconds_bucket{route=\""));
            TRY(add_label(&b, x->route));
            TRY(pay_buf_addf(&b, "\",le=\"%s\"} %" PRIu64 "\n",
                             k < N_BUCKETS ? bucket_le[k] : "+Inf",
                             k < N_BUCKETS ? cumulative : x->count));
        }
        TRY(pay_buf_adds(&b, "payd_http_request_duration_seconds_sum{route=\""));
        TRY(add_label(&b, x->route));
        TRY(pay_buf_addf(&b, "\"} %" PRId64 ".%06" PRId64 "\n", x->sum_us / 1000000,
                         x->sum_us % 1000000));
        TRY(pay_buf_adds(&b, "payd_http_request_duration_seconds_count{route=\""));
        TRY(add_label(&b, x->route));
        TRY(pay_buf_addf(&b, "\"} %" PRIu64 "\n", x->count));
    }

    TRY(pay_buf_addf(&b,
                     "# HELP payd_http_requests_in_flight Requests being processed now.\n"
                     "# TYPE payd_http_requests_in_flight gauge\n"
                     "payd_http_requests_in_flight %ld\n"
                     "# HELP payd_http_metrics_dropped_total Observations that found no free "
                     "series slot.\n"
                     "# TYPE payd_http_metrics_dropped_total counter\n"
                     "payd_http_metrics_dropped_total %" PRIu64 "\n",
                     atomic_load(&in_flight), dropped));

out_unlock:
    pthread_mutex_unlock(&lock);
    if (rc != PAY_OK) {
        pay_buf_release(&b);
        return NULL;
    }
    return pay_buf_detach(&b, NULL);
}

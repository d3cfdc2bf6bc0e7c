/*
 * stripe_provider.c - `payd serve`'s outbound Stripe provider: its options
 * (PAY_CLI_STRIPE_OPTS), the struct pay_stripe_config handed to the domain,
 * and the settler thread that finishes ambiguous provider calls
 * (pay_provider_settle: intents left `processing` by a timeout).
 *
 * Invariants: the secret key is copied once, wiped on release and never
 * printed; without --stripe-secret-key nothing here runs and provider
 * "stripe" is refused at intent creation.
 *
 * Threading: load/start/stop on the main thread; the settler is one thread
 * that only touches the store and the (read-only) config.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../payments/payments.h"
#include "cli.h"

/* Attempts settled per round; the rest wait for the next. */
#define SETTLE_BATCH_MAX 50

struct pay_cli_stripe {
    struct pay_stripe_config cfg;
    char *secret_key;
    char *base_url;
    char *api_version;
    long settle_interval_ms;
    long settle_after_s;
    struct pay_store *store;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
};

static bool parse_long(const struct pay_config *cfg, const char *name, long min, long max,
                       long *out)
{
    const char *v = pay_config_get(cfg, name);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v != NULL ? v : "", &end, 10);
    if (v == NULL || errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "payd serve: --%s must be an integer in %ld..%ld\n", name, min, max);
        return false;
    }
    *out = (long)n;
    return true;
}

void pay_cli_stripe_free(struct pay_cli_stripe *s)
{
    if (s == NULL) {
        return;
    }
    pay_cli_stripe_stop(s);
    if (s->secret_key != NULL) {
        explicit_bzero(s->secret_key, strlen(s->secret_key));
    }
    free(s->secret_key);
    free(s->base_url);
    free(s->api_version);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

bool pay_cli_stripe_load(const struct pay_config *cfg, struct pay_cli_stripe **out)
{
    *out = NULL;
    const char *key = pay_config_get(cfg, "stripe-secret-key");
    if (key == NULL || key[0] == '\0') {
        return true; /* not configured */
    }
    struct pay_cli_stripe *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return false;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    long connect_ms = 0, timeout_ms = 0, retries = 0, backoff_ms = 0;
    bool ok = parse_long(cfg, "stripe-connect-timeout-ms", 1, 600000, &connect_ms) &&
              parse_long(cfg, "stripe-timeout-ms", 1, 600000, &timeout_ms) &&
              parse_long(cfg, "stripe-retries", 0, PAY_STRIPE_RETRIES_MAX, &retries) &&
              parse_long(cfg, "stripe-backoff-ms", 1, 60000, &backoff_ms) &&
              parse_long(cfg, "stripe-settle-interval-ms", 10, 3600000, &s->settle_interval_ms) &&
              parse_long(cfg, "stripe-settle-after-s", 0, 86400, &s->settle_after_s);
    const char *base = pay_config_get(cfg, "stripe-base-url");
    const char *version = pay_config_get(cfg, "stripe-api-version");
    if (ok &&
        (base == NULL || (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0))) {
        fprintf(stderr, "payd serve: --stripe-base-url must be an http:// or https:// URL\n");
        ok = false;
    }
    if (ok) {
        s->secret_key = strdup(key);
        s->base_url = strdup(base);
        s->api_version = strdup(version != NULL ? version : "");
        ok = s->secret_key != NULL && s->base_url != NULL && s->api_version != NULL;
    }
    if (!ok) {
        pay_cli_stripe_free(s);
        return false;
    }
    s->cfg = (struct pay_stripe_config){
        .secret_key = s->secret_key,
        .base_url = s->base_url,
        .api_version = s->api_version,
        .connect_timeout_ms = connect_ms,
        .timeout_ms = timeout_ms,
        .retries = (int)retries,
        .backoff_ms = backoff_ms,
    };
    *out = s;
    return true;
}

const struct pay_stripe_config *pay_cli_stripe_config(const struct pay_cli_stripe *s)
{
    return s != NULL ? &s->cfg : NULL;
}

static void *settler(void *arg)
{
    struct pay_cli_stripe *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += s->settle_interval_ms / 1000;
        until.tv_nsec += (s->settle_interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0) {
        }
        if (s->stopping) {
            break;
        }
        pthread_mutex_unlock(&s->lock);
        int settled = 0;
        enum pay_err e = pay_provider_settle(s->store, &s->cfg, pay_now() - s->settle_after_s,
                                             SETTLE_BATCH_MAX, &settled);
        if (e != PAY_OK) {
            pay_logf(PAY_LOG_WARN, NULL, "stripe settler: %s", pay_err_str(e));
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

bool pay_cli_stripe_start(struct pay_cli_stripe *s, struct pay_store *store)
{
    if (s == NULL) {
        return true;
    }
    s->store = store;
    if (pthread_create(&s->thread, NULL, settler, s) != 0) {
        fprintf(stderr, "payd serve: cannot start the Stripe settler thread\n");
        return false;
    }
    s->running = true;
    return true;
}

void pay_cli_stripe_stop(struct pay_cli_stripe *s)
{
    if (s == NULL || !s->running) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->running = false;
}

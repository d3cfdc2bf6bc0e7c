/*
 * momo_poller.c - payd serve's mobile money poller: a thread that asks the
 * wallets about open requests-to-pay (pay_momo_poll, mobile_money.h) every
 * --momo-poll-interval-ms, so an outcome whose callback never came (or came
 * to nobody) is still applied, exactly once, and requests whose sending was
 * interrupted are sent again under their reference. Before it starts (also
 * when it is off), the wallet numbers an older payd stored in clear are
 * sealed (pay_momo_wallets_reseal).
 *
 * Threading: one thread; start/stop from the main thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../payments/mobile_money.h"
#include "cli.h"

#define POLL_BATCH_MAX 50

struct pay_cli_momo_poller {
    struct pay_store *store;
    const char *server_key; /* borrowed from serve */
    const char *public_url; /* borrowed from serve */
    long interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
};

static void *poller(void *arg)
{
    struct pay_cli_momo_poller *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += p->interval_ms / 1000;
        until.tv_nsec += (p->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!p->stopping && pthread_cond_timedwait(&p->cond, &p->lock, &until) == 0) {
        }
        if (p->stopping) {
            break;
        }
        pthread_mutex_unlock(&p->lock);
        int settled = 0;
        enum pay_err e =
            pay_momo_poll(p->store, p->server_key, p->public_url, POLL_BATCH_MAX, &settled);
        if (e != PAY_OK) {
            pay_logf(PAY_LOG_WARN, NULL, "momo poller: %s", pay_err_str(e));
        }
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

bool pay_cli_momo_poller_start(struct pay_store *store, const char *server_key,
                               const char *public_url, long interval_ms,
                               struct pay_cli_momo_poller **out)
{
    *out = NULL;
    int64_t resealed = 0;
    enum pay_err e = pay_momo_wallets_reseal(store, server_key, &resealed);
    if (e != PAY_OK) {
        /* Still readable as they are: tried again at the next start. */
        pay_logf(PAY_LOG_ERROR, NULL, "momo: cannot seal the wallet numbers stored in clear: %s",
                 pay_err_str(e));
    } else if (resealed > 0) {
        pay_logf(PAY_LOG_INFO, NULL, "momo: sealed %lld wallet numbers stored in clear",
                 (long long)resealed);
    }
    if (interval_ms <= 0) {
        return true;
    }
    struct pay_cli_momo_poller *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return false;
    }
    p->store = store;
    p->server_key = server_key;
    p->public_url = public_url;
    p->interval_ms = interval_ms;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, poller, p) != 0) {
        fprintf(stderr, "payd serve: cannot start the mobile money poller\n");
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return false;
    }
    *out = p;
    return true;
}

void pay_cli_momo_poller_stop(struct pay_cli_momo_poller *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/*
 * rate.c - request rate limits: token buckets kept in memory per process,
 * one table per kind of caller (API key, JWT subject, client address).
 *
 * A bucket holds up to `burst` tokens and refills at `per_s` tokens per
 * second; a request takes one token or is refused with the time until the
 * next token (the Retry-After header). Tokens are counted in millionths
 * (integer arithmetic, no floating point), time from the monotonic clock.
 *
 * Bounds: a table tracks at most PAY_RATE_ENTRIES_MAX callers. When it is
 * full, callers whose bucket has refilled completely (idle ones: forgetting
 * them changes nothing) are dropped; if none is idle the request passes
 * untracked (fail open: a flood of distinct addresses must not lock out
 * everyone, and each of those addresses still gets its own bucket once
 * there is room).
 *
 * Several payd processes behind one database each keep their own buckets:
 * the limit is per process.
 *
 * Threading: each table has its own mutex; any thread may call.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define SLOTS 4096
#define MICRO 1000000LL

struct entry {
    struct entry *next;
    int64_t tokens_micro;
    int64_t last_us;
    char key[];
};

struct pay_rate_table {
    struct pay_rate_limit limit;
    pthread_mutex_t lock;
    size_t count;
    struct entry *slots[SLOTS];
};

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

enum pay_err pay_rate_parse(const char *s, struct pay_rate_limit *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || !*s) {
        return PAY_OK;
    }
    char *end = NULL;
    long long per_s = strtoll(s, &end, 10);
    long long burst = per_s;
    if (end == s || per_s < 0 || per_s > PAY_RATE_PER_S_MAX) {
        return PAY_ERR_CONFIG;
    }
    if (*end == ':') {
        const char *b = end + 1;
        burst = strtoll(b, &end, 10);
        if (end == b || burst < 1 || burst > PAY_RATE_BURST_MAX) {
            return PAY_ERR_CONFIG;
        }
    }
    if (*end != '\0') {
        return PAY_ERR_CONFIG;
    }
    out->per_s = per_s;
    out->burst = per_s == 0 ? 0 : (burst < 1 ? 1 : burst);
    return PAY_OK;
}

struct pay_rate_table *pay_rate_table_new(const struct pay_rate_limit *limit)
{
    if (!limit || limit->per_s <= 0) {
        return NULL;
    }
    struct pay_rate_table *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->limit = *limit;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void pay_rate_table_free(struct pay_rate_table *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < SLOTS; i++) {
        struct entry *e = t->slots[i];
        while (e) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Refill @e up to the burst at @now_us. */
static void refill(const struct pay_rate_table *t, struct entry *e, int64_t now_us)
{
    int64_t cap = t->limit.burst * MICRO;
    int64_t elapsed = now_us - e->last_us;
    if (elapsed <= 0) {
        return;
    }
    e->last_us = now_us;
    /* per_s <= PAY_RATE_PER_S_MAX keeps elapsed * per_s far from overflow
     * for any elapsed below a century; clamp longer gaps first. */
    if (elapsed > cap) {
        e->tokens_micro = cap;
        return;
    }
    e->tokens_micro += elapsed * t->limit.per_s;
    if (e->tokens_micro > cap) {
        e->tokens_micro = cap;
    }
}

/* Drop every idle (fully refilled) entry; caller holds the lock. */
static void sweep(struct pay_rate_table *t, int64_t now_us)
{
    for (size_t i = 0; i < SLOTS; i++) {
        struct entry **pp = &t->slots[i];
        while (*pp) {
            struct entry *e = *pp;
            refill(t, e, now_us);
            if (e->tokens_micro >= t->limit.burst * MICRO) {
                *pp = e->next;
                free(e);
                t->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

bool pay_rate_take(struct pay_rate_table *t, const char *key, int64_t now_us,
                   int64_t *retry_after_s)
{
    *retry_after_s = 0;
    if (!t || !key) {
        return true;
    }
    size_t klen = strlen(key);
    uint32_t slot = hash_key(key) % SLOTS;
    bool allowed = true;
    pthread_mutex_lock(&t->lock);
    struct entry *e = t->slots[slot];
    while (e && strcmp(e->key, key) != 0) {
        e = e->next;
    }
    if (!e) {
        if (t->count >= PAY_RATE_ENTRIES_MAX) {
            sweep(t, now_us);
        }
        if (t->count >= PAY_RATE_ENTRIES_MAX) {
            goto out_unlock; /* full of active callers: pass untracked */
        }
        e = malloc(sizeof(*e) + klen + 1);
        if (!e) {
            goto out_unlock;
        }
        memcpy(e->key, key, klen);
        e->key[klen] = '\0';
        e->tokens_micro = t->limit.burst * MICRO;
        e->last_us = now_us;
        e->next = t->slots[slot];
        t->slots[slot] = e;
        t->count++;
    }
    refill(t, e, now_us);
    if (e->tokens_micro >= MICRO) {
        e->tokens_micro -= MICRO;
    } else {
        allowed = false;
        int64_t missing = MICRO - e->tokens_micro;
        /* Seconds until one token, rounded up: at least 1. */
        int64_t wait_us = (missing + t->limit.per_s - 1) / t->limit.per_s;
        *retry_after_s = (wait_us + MICRO - 1) / MICRO;
        if (*retry_after_s < 1) {
            *retry_after_s = 1;
        }
    }
out_unlock:
    pthread_mutex_unlock(&t->lock);
    return allowed;
}

size_t pay_rate_table_size(struct pay_rate_table *t)
{
    if (!t) {
        return 0;
    }
    pthread_mutex_lock(&t->lock);
    size_t n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

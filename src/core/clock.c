/*
 * clock.c - the one source of "now" in payd, injectable so tests can fix or
 * shift time (idempotency expiry, scheduled retries, token expiry).
 *
 * Invariants: a fixed time of 0 means the real clock. Threading: the test
 * hooks and readers use atomics, so a test may move the clock while server
 * threads read it.
 */
#include <stdatomic.h>
#include <time.h>

#include "core/core.h"

static _Atomic int64_t clock_fixed;
static _Atomic int64_t clock_offset;

int64_t pay_now(void)
{
    int64_t fixed = atomic_load_explicit(&clock_fixed, memory_order_relaxed);
    if (fixed != 0) {
        return fixed;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec + atomic_load_explicit(&clock_offset, memory_order_relaxed);
}

int64_t pay_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void pay_clock_set_fixed(int64_t t)
{
    atomic_store_explicit(&clock_fixed, t, memory_order_relaxed);
}

void pay_clock_set_offset(int64_t seconds)
{
    atomic_store_explicit(&clock_offset, seconds, memory_order_relaxed);
}

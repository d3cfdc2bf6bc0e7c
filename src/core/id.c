/*
 * id.c - randomness from the OS, object ids and secrets:
 * "<prefix>_<24 base62>".
 *
 * An object id is 8 characters of the creation time in milliseconds, then
 * 16 random ones (~95 bits): unguessable, and nearly sorted by creation,
 * which keeps index inserts on a few hot pages (as Stripe's ids are roughly
 * time-ordered). A secret (webhook signing secrets, client secrets, lease
 * tokens) is 24 random characters (~143 bits), nothing derived from time.
 *
 * Invariants: every random byte comes from getrandom(2), never a userspace
 * PRNG (ids draw theirs from a per-thread pool filled by it); base62 characters are drawn by
 * rejection sampling, so each of the 62 is equally likely. Threading: safe from any thread.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/core.h"

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

enum pay_err pay_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return PAY_ERR_INTERNAL;
        }
        p += got;
        n -= (size_t)got;
    }
    return PAY_OK;
}

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_prefix_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Write "<prefix>_" into @out; returns where the characters after it go. */
static char *put_prefix(const char *prefix, char *out)
{
    PAY_ASSERT(prefix != NULL && out != NULL);
    size_t plen = strlen(prefix);
    PAY_ASSERT(plen >= 1 && plen <= PAY_ID_PREFIX_LEN_MAX);
    memcpy(out, prefix, plen);
    out[plen] = '_';
    return out + plen + 1;
}

/* Bytes from getrandom(2), @size at a time; each handed out once and wiped. */
struct rnd_pool {
    size_t size, used;
    unsigned char buf[512];
};

static unsigned char pool_byte(struct rnd_pool *pool)
{
    if (pool->used == pool->size) {
        PAY_ASSERT(pay_random_bytes(pool->buf, pool->size) == PAY_OK);
        pool->used = 0;
    }
    unsigned char b = pool->buf[pool->used];
    pool->buf[pool->used++] = 0;
    return b;
}

/* @n uniformly random base62 characters into @r (no terminator). 248 =
 * 4 * 62: bytes at or above it are rejected so that byte % 62 is uniform. */
static void put_base62(struct rnd_pool *pool, char *r, size_t n)
{
    size_t done = 0;
    while (done < n) {
        unsigned char b = pool_byte(pool);
        if (b < 248) {
            r[done++] = base62[b % 62];
        }
    }
}

/*
 * Ids draw from a per-thread pool filled 512 bytes at a time: one system
 * call per ~20 ids instead of one per id (it was 2 % of the writer
 * thread's time in a payment). A secret draws from a pool of its own on
 * the stack (48 bytes almost always give 24 characters), wiped after the
 * call: nothing of it is kept.
 */
static _Thread_local struct rnd_pool id_pool = {.size = sizeof(id_pool.buf),
                                                .used = sizeof(id_pool.buf)};

void pay_id_new(const char *prefix, char *out)
{
    char *r = put_prefix(prefix, out);
    /* The wall clock's milliseconds, big-endian base62 (62^8 ms is ~6,900
     * years): ids of one table are created in nearly ascending order, so
     * their unique indexes grow at one end instead of at random pages. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = PAY_ID_TIME_LEN - 1; i >= 0; i--) {
        r[i] = base62[ms % 62];
        ms /= 62;
    }
    put_base62(&id_pool, r + PAY_ID_TIME_LEN, PAY_ID_RANDOM_LEN - PAY_ID_TIME_LEN);
    r[PAY_ID_RANDOM_LEN] = '\0';
}

void pay_secret_new(const char *prefix, char *out)
{
    char *r = put_prefix(prefix, out);
    struct rnd_pool pool = {.size = 48, .used = 48};
    put_base62(&pool, r, PAY_ID_RANDOM_LEN);
    explicit_bzero(&pool, sizeof(pool));
    r[PAY_ID_RANDOM_LEN] = '\0';
}

bool pay_id_valid(const char *id, const char *prefix)
{
    if (!id) {
        return false;
    }
    size_t i = 0;
    if (prefix) {
        size_t plen = strlen(prefix);
        if (plen == 0 || strncmp(id, prefix, plen) != 0) {
            return false;
        }
        i = plen;
    } else {
        while (i < PAY_ID_PREFIX_LEN_MAX && is_prefix_char(id[i])) {
            i++;
        }
        if (i == 0) {
            return false;
        }
    }
    if (id[i] != '_') {
        return false;
    }
    i++;
    size_t start = i;
    while (is_base62(id[i])) {
        i++;
        if (i > PAY_ID_LEN_MAX) {
            return false;
        }
    }
    return id[i] == '\0' && i > start;
}

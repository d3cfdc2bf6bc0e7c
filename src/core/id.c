/*
 * id.c - randomness from the OS and object ids: "<prefix>_<24 base62>".
 *
 * Invariants: every random byte comes from getrandom(2), never a userspace
 * PRNG; base62 characters are drawn by rejection sampling, so each of the 62
 * is equally likely (~143 bits per id). Threading: safe from any thread.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

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

void pay_id_new(const char *prefix, char *out)
{
    PAY_ASSERT(prefix != NULL && out != NULL);
    size_t plen = strlen(prefix);
    PAY_ASSERT(plen >= 1 && plen <= PAY_ID_PREFIX_LEN_MAX);
    memcpy(out, prefix, plen);
    out[plen] = '_';
    char *r = out + plen + 1;

    /* 248 = 4 * 62: bytes at or above it are rejected so that byte % 62 is
     * uniform. A batch of 48 bytes almost always gives 24 characters. */
    unsigned char rnd[48];
    size_t have = 0;
    size_t used = 0;
    size_t done = 0;
    while (done < PAY_ID_RANDOM_LEN) {
        if (used == have) {
            PAY_ASSERT(pay_random_bytes(rnd, sizeof(rnd)) == PAY_OK);
            have = sizeof(rnd);
            used = 0;
        }
        unsigned char b = rnd[used++];
        if (b < 248) {
            r[done++] = base62[b % 62];
        }
    }
    r[done] = '\0';
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

/*
 * stripe_signature.c - Stripe-Signature verification (see
 * stripe_signature.h; the rule is PROTOCOLS.md's "Webhook signatures").
 *
 * Invariants: the header is bounded (PAY_STRIPE_SIG_HEADER_LEN_MAX) before
 * it is read; the HMAC covers exactly "<t as sent>.<raw body>"; v1 values
 * are compared to the expected hex with pay_secure_equal only.
 *
 * Threading: pure; no shared state.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "stripe_signature.h"

/* Longest accepted t: 18 digits always fits an int64_t. */
#define T_DIGITS_MAX 18
#define HEX_LEN 64

struct parsed {
    const char *t; /* points into the header */
    size_t t_len;
    int64_t t_value;
    const char *v1[PAY_STRIPE_SIG_V1_MAX];
    size_t v1_len[PAY_STRIPE_SIG_V1_MAX];
    size_t n_v1;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Split "k=v,k=v" into t and the v1 values. */
static enum pay_stripe_sig_result parse(const char *h, size_t len, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && h[end] != ',') {
            end++;
        }
        size_t a = i;
        size_t b = end;
        while (a < b && is_space(h[a])) {
            a++;
        }
        while (b > a && is_space(h[b - 1])) {
            b--;
        }
        i = end + 1;
        if (a == b) {
            continue; /* ",," or a trailing comma: nothing there */
        }
        const char *eq = memchr(h + a, '=', b - a);
        if (eq == NULL) {
            return PAY_STRIPE_SIG_MALFORMED;
        }
        size_t klen = (size_t)(eq - (h + a));
        const char *v = eq + 1;
        size_t vlen = (size_t)((h + b) - v);
        if (klen == 1 && h[a] == 't') {
            if (p->t != NULL || vlen == 0 || vlen > T_DIGITS_MAX) {
                return PAY_STRIPE_SIG_MALFORMED;
            }
            int64_t t = 0;
            for (size_t k = 0; k < vlen; k++) {
                if (v[k] < '0' || v[k] > '9') {
                    return PAY_STRIPE_SIG_MALFORMED;
                }
                t = t * 10 + (v[k] - '0');
            }
            p->t = v;
            p->t_len = vlen;
            p->t_value = t;
        } else if (klen == 2 && h[a] == 'v' && h[a + 1] == '1') {
            if (p->n_v1 == PAY_STRIPE_SIG_V1_MAX) {
                return PAY_STRIPE_SIG_MALFORMED;
            }
            p->v1[p->n_v1] = v;
            p->v1_len[p->n_v1] = vlen;
            p->n_v1++;
        }
        /* v0 (Stripe's test-only scheme) and unknown keys are ignored. */
    }
    return p->t == NULL ? PAY_STRIPE_SIG_MALFORMED : PAY_STRIPE_SIG_OK;
}

/* Lower-case hex HMAC-SHA256(@secret, "@t.@body") into @hex (65 bytes). */
static bool expected_hex(const char *secret, const char *t, size_t t_len, const char *body,
                         size_t body_len, char hex[HEX_LEN + 1])
{
    size_t n = t_len + 1 + body_len;
    char *msg = malloc(n ? n : 1);
    if (msg == NULL) {
        return false;
    }
    memcpy(msg, t, t_len);
    msg[t_len] = '.';
    if (body_len > 0) {
        memcpy(msg + t_len + 1, body, body_len);
    }
    unsigned char mac[32];
    pay_hmac_sha256(secret, strlen(secret), msg, n, mac);
    free(msg);
    pay_hex_encode(mac, sizeof(mac), hex);
    explicit_bzero(mac, sizeof(mac));
    return true;
}

enum pay_stripe_sig_result pay_stripe_signature_verify(const char *header, const char *body,
                                                       size_t body_len, const char *const *secrets,
                                                       size_t n_secrets, int64_t now,
                                                       int64_t tolerance_s)
{
    if (header == NULL) {
        return PAY_STRIPE_SIG_MISSING;
    }
    size_t len = strnlen(header, PAY_STRIPE_SIG_HEADER_LEN_MAX + 1);
    if (len == 0) {
        return PAY_STRIPE_SIG_MISSING;
    }
    if (len > PAY_STRIPE_SIG_HEADER_LEN_MAX) {
        return PAY_STRIPE_SIG_MALFORMED;
    }
    if (body == NULL && body_len > 0) {
        return PAY_STRIPE_SIG_MISMATCH;
    }
    struct parsed p;
    enum pay_stripe_sig_result r = parse(header, len, &p);
    if (r != PAY_STRIPE_SIG_OK) {
        return r;
    }
    if (p.n_v1 == 0) {
        return PAY_STRIPE_SIG_NO_V1;
    }
    int64_t age = 0;
    if (tolerance_s < 0 || __builtin_sub_overflow(now, p.t_value, &age) || age > tolerance_s ||
        age < -tolerance_s) {
        return PAY_STRIPE_SIG_STALE;
    }
    bool have_secret = false;
    bool match = false;
    for (size_t s = 0; s < n_secrets && s < PAY_STRIPE_SIG_SECRETS_MAX && !match; s++) {
        if (secrets == NULL || secrets[s] == NULL || secrets[s][0] == '\0') {
            continue;
        }
        have_secret = true;
        char hex[HEX_LEN + 1];
        if (!expected_hex(secrets[s], p.t, p.t_len, body ? body : "", body_len, hex)) {
            return PAY_STRIPE_SIG_MISMATCH; /* out of memory: refuse, Stripe retries */
        }
        for (size_t k = 0; k < p.n_v1; k++) {
            /* A v1 of the wrong length or case simply does not match. */
            if (pay_secure_equal(hex, HEX_LEN, p.v1[k], p.v1_len[k])) {
                match = true;
            }
        }
        explicit_bzero(hex, sizeof(hex));
    }
    if (!have_secret) {
        return PAY_STRIPE_SIG_NO_SECRET;
    }
    return match ? PAY_STRIPE_SIG_OK : PAY_STRIPE_SIG_MISMATCH;
}

const char *pay_stripe_signature_reason(enum pay_stripe_sig_result r)
{
    switch (r) {
    case PAY_STRIPE_SIG_OK:
        return "valid";
    case PAY_STRIPE_SIG_MISSING:
        return "the header is missing";
    case PAY_STRIPE_SIG_MALFORMED:
        return "the header is malformed (expected t=<timestamp>,v1=<signature>)";
    case PAY_STRIPE_SIG_NO_V1:
        return "the header has no v1 signature";
    case PAY_STRIPE_SIG_STALE:
        return "the timestamp is outside the tolerance";
    case PAY_STRIPE_SIG_MISMATCH:
        return "no v1 signature matches the payload";
    case PAY_STRIPE_SIG_NO_SECRET:
        return "no webhook secret is configured";
    }
    return "invalid";
}

int pay_stripe_signature_header(const char *secret, int64_t t, const char *body, size_t body_len,
                                char *out, size_t out_len)
{
    char ts[24];
    int tn = snprintf(ts, sizeof(ts), "%lld", (long long)t);
    char hex[HEX_LEN + 1];
    if (tn <= 0 || !expected_hex(secret, ts, (size_t)tn, body ? body : "", body_len, hex)) {
        return -1;
    }
    int n = snprintf(out, out_len, "t=%s,v1=%s", ts, hex);
    return n > 0 && (size_t)n < out_len ? 0 : -1;
}

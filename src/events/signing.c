/*
 * signing.c - the pure parts of webhook delivery: Stripe's signature
 * header, enabled_events matching and the retry schedule.
 *
 * Stripe's scheme (https://docs.stripe.com/webhooks#verify-manually):
 * Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 keyed by the
 * whole secret string "whsec_...", over "<t>.<raw body>">, with one v1 per
 * secret that currently signs (two during a rotation overlap). Receivers
 * accept the event when any v1 matches and t is recent.
 *
 * Threading: no state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhooks.h"

enum pay_err pay_webhook_signature(const char *const *secrets, size_t n_secrets, int64_t t,
                                   const char *body, size_t body_len, char *out, size_t out_len)
{
    enum pay_err rc = PAY_OK;
    struct pay_buf signed_payload;
    pay_buf_init(&signed_payload, body_len + 32);
    rc = pay_buf_addf(&signed_payload, "%" PRId64 ".", t);
    if (rc == PAY_OK) {
        rc = pay_buf_add(&signed_payload, body, body_len);
    }
    if (rc != PAY_OK) {
        goto out;
    }
    int n = snprintf(out, out_len, "t=%" PRId64, t);
    if (n < 0 || (size_t)n >= out_len) {
        rc = PAY_ERR_INTERNAL;
        goto out;
    }
    size_t used = (size_t)n;
    for (size_t i = 0; i < n_secrets; i++) {
        unsigned char mac[32];
        char hex[65];
        pay_hmac_sha256(secrets[i], strlen(secrets[i]), signed_payload.data, signed_payload.len,
                        mac);
        pay_hex_encode(mac, sizeof(mac), hex);
        n = snprintf(out + used, out_len - used, ",v1=%s", hex);
        if (n < 0 || (size_t)n >= out_len - used) {
            rc = PAY_ERR_INTERNAL;
            goto out;
        }
        used += (size_t)n;
    }
out:
    pay_buf_release(&signed_payload);
    return rc;
}

bool pay_webhook_pattern_matches(const char *pattern, const char *type)
{
    if (pattern == NULL || type == NULL) {
        return false;
    }
    size_t len = strlen(pattern);
    if (strcmp(pattern, "*") == 0) {
        return true;
    }
    if (len >= 2 && pattern[len - 2] == '.' && pattern[len - 1] == '*') {
        return strncmp(pattern, type, len - 1) == 0 && type[len - 1] != '\0';
    }
    return strcmp(pattern, type) == 0;
}

bool pay_webhook_pattern_valid(const char *pattern)
{
    if (pattern == NULL || pattern[0] == '\0' || strlen(pattern) > 100) {
        return false;
    }
    if (strcmp(pattern, "*") == 0) {
        return true;
    }
    size_t len = strlen(pattern);
    size_t end = len;
    if (len >= 2 && pattern[len - 2] == '.' && pattern[len - 1] == '*') {
        end = len - 2;
        if (end == 0) {
            return false;
        }
    }
    if (pattern[0] == '.' || pattern[end - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < end; i++) {
        char c = pattern[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) {
            return false;
        }
        if (c == '.' && pattern[i + 1] == '.') {
            return false;
        }
    }
    return true;
}

int64_t pay_webhook_backoff_ms(const struct pay_webhook_config *c, int64_t failures, uint32_t rand)
{
    int64_t base = c->retry_base_ms > 0 ? c->retry_base_ms : 1;
    int64_t cap = c->retry_max_delay_ms > 0 ? c->retry_max_delay_ms : base;
    int64_t d = base;
    for (int64_t i = 1; i < failures && d < cap; i++) {
        d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
    }
    if (d > cap) {
        d = cap;
    }
    int64_t half = d / 2;
    int64_t span = d - half;
    return half + (int64_t)(((unsigned __int128)span * rand) >> 32);
}

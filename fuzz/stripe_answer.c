/*
 * stripe_answer.c - libFuzzer target for pay_stripe_parse_answer (how payd
 * reads Stripe's HTTP answers, src/connectors/stripe.c). The input is
 * "STATUS\nBODY": a first line of 1-3 digits is the HTTP status, the rest
 * the body; an input without such a line is a 200 whose body is all of it.
 * Checks: the mapping is deterministic; 409, 429 and 5xx are "retry" and
 * change nothing but http_status; the status is one of enum
 * pay_conn_status; an HTTP error (>= 400) is never a success of any kind
 * (only DECLINED or FAILED), UNKNOWN comes only from a 2xx without a JSON
 * object (Stripe may have acted), a body that is no JSON object is never a
 * success; every string is NUL-terminated inside its array.
 */
#include "connectors/connectors.h"
#include "fuzz.h"

static void check_str(const char *s, size_t n)
{
    fuzz_check(memchr(s, '\0', n) != NULL);
}

static bool is_object(const uint8_t *body, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)body, len, 0, &jerr);
    bool obj = json_is_object(o);
    json_decref(o);
    return obj;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long http = 200;
    size_t skip = 0;
    size_t digits = 0;
    long v = 0;
    while (digits < size && digits < 3 && data[digits] >= '0' && data[digits] <= '9') {
        v = v * 10 + (data[digits] - '0');
        digits++;
    }
    if (digits > 0 && digits < size && data[digits] == '\n') {
        http = v;
        skip = digits + 1;
    }
    const char *body = (const char *)data + skip;
    size_t len = size - skip;

    struct pay_conn_result r, again, before;
    memset(&r, 0, sizeof(r));
    memset(&again, 0, sizeof(again));
    memset(&before, 0, sizeof(before));
    bool final = pay_stripe_parse_answer(http, body, len, &r);
    bool final2 = pay_stripe_parse_answer(http, body, len, &again);
    fuzz_check(final == final2 && memcmp(&r, &again, sizeof(r)) == 0);
    fuzz_check(r.http_status == (int)http);

    bool retry = http == 409 || http == 429 || http >= 500;
    fuzz_check(final == !retry);
    if (retry) {
        before.http_status = (int)http;
        fuzz_check(memcmp(&r, &before, sizeof(r)) == 0);
        return 0;
    }
    fuzz_check(r.status == PAY_CONN_SUCCEEDED || r.status == PAY_CONN_REQUIRES_ACTION ||
               r.status == PAY_CONN_PROCESSING || r.status == PAY_CONN_DECLINED ||
               r.status == PAY_CONN_FAILED || r.status == PAY_CONN_UNKNOWN ||
               r.status == PAY_CONN_REQUIRES_CAPTURE || r.status == PAY_CONN_CANCELED);
    check_str(r.provider_ref, sizeof(r.provider_ref));
    check_str(r.code, sizeof(r.code));
    check_str(r.decline_code, sizeof(r.decline_code));
    check_str(r.message, sizeof(r.message));
    check_str(r.redirect_url, sizeof(r.redirect_url));
    fuzz_check(r.attempts == 0);
    if (http >= 400) {
        fuzz_check(r.status == PAY_CONN_DECLINED || r.status == PAY_CONN_FAILED);
    }
    if (r.status == PAY_CONN_UNKNOWN) {
        fuzz_check(http >= 200 && http < 300);
    }
    if (!is_object(data + skip, len)) {
        fuzz_check(r.status == PAY_CONN_UNKNOWN || r.status == PAY_CONN_FAILED);
    }
    if (r.status != PAY_CONN_REQUIRES_ACTION) {
        fuzz_check(r.redirect_url[0] == '\0');
    }
    return 0;
}

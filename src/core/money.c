/*
 * money.c - checked arithmetic on int64_t minor units, exact decimal parsing
 * and formatting in a currency's major unit, basis-point rates and splits.
 *
 * Invariants: no floating point anywhere; every operation either gives the
 * exact result or reports overflow, and the output is left alone on failure.
 * The one rounding rule is half to even (DESIGN.md section 4), done in
 * 128-bit integers. Threading: pure functions.
 */
#include <string.h>

#include "core/core.h"

bool pay_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

bool pay_money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

bool pay_money_mul(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

bool pay_amount_valid(int64_t amount_minor)
{
    return amount_minor >= 0 && amount_minor <= PAY_AMOUNT_MAX_MINOR;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum pay_err pay_amount_parse(const char *s, const struct pay_currency *cur, int64_t *out_minor)
{
    if (!s || !cur) {
        return PAY_ERR_AMOUNT_INVALID;
    }
    /* Syntax first, so "99999999999999999999x" is invalid rather than an
     * overflow: -?[0-9]+(\.[0-9]{1,exponent})? */
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    const char *int_start = p;
    while (is_digit(*p)) {
        p++;
    }
    const char *int_end = p;
    if (int_end == int_start) {
        return PAY_ERR_AMOUNT_INVALID;
    }
    const char *frac_start = p;
    const char *frac_end = p;
    if (*p == '.') {
        frac_start = ++p;
        while (is_digit(*p)) {
            p++;
        }
        frac_end = p;
        size_t n_frac = (size_t)(frac_end - frac_start);
        if (n_frac == 0 || n_frac > cur->exponent) {
            return PAY_ERR_AMOUNT_INVALID;
        }
    }
    if (*p != '\0') {
        return PAY_ERR_AMOUNT_INVALID;
    }

    /* Accumulate the magnitude; a negative value may reach 2^63 (INT64_MIN). */
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (const char *q = int_start; q < int_end; q++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*q - '0'), &v)) {
            return PAY_ERR_OVERFLOW;
        }
    }
    const char *q = frac_start;
    for (unsigned i = 0; i < cur->exponent; i++) {
        uint64_t d = 0;
        if (q < frac_end) {
            d = (uint64_t)(*q++ - '0');
        }
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v)) {
            return PAY_ERR_OVERFLOW;
        }
    }
    if (v > limit) {
        return PAY_ERR_OVERFLOW;
    }
    if (neg) {
        /* v <= 2^63: negate in unsigned space, then convert without UB. */
        *out_minor = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        *out_minor = (int64_t)v;
    }
    return PAY_OK;
}

size_t pay_amount_format(int64_t amount_minor, const struct pay_currency *cur, char *buf, size_t n)
{
    if (buf && n > 0) {
        buf[0] = '\0';
    }
    if (!cur || !buf || cur->exponent > 18) {
        return 0; /* no real currency has more than 4 decimals */
    }
    /* Magnitude without negating INT64_MIN. */
    uint64_t mag = amount_minor < 0 ? (uint64_t)(-(amount_minor + 1)) + 1 : (uint64_t)amount_minor;
    char digits[24];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag != 0);
    /* At least one integer digit before the fractional ones: "0.05". */
    while (nd < (size_t)cur->exponent + 1) {
        digits[nd++] = '0';
    }
    char tmp[32];
    size_t len = 0;
    if (amount_minor < 0) {
        tmp[len++] = '-';
    }
    for (size_t i = nd; i > 0; i--) {
        if (i == cur->exponent && cur->exponent > 0) {
            tmp[len++] = '.';
        }
        tmp[len++] = digits[i - 1];
    }
    if (len + 1 > n) {
        return 0;
    }
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}

bool pay_money_bps(int64_t amount_minor, int64_t bps, int64_t *out)
{
    __int128 prod = (__int128)amount_minor * bps; /* |prod| <= 2^126: exact */
    __int128 q = prod / 10000;
    __int128 r = prod % 10000; /* same sign as prod */
    __int128 twice_r = r < 0 ? -2 * r : 2 * r;
    if (twice_r > 10000 || (twice_r == 10000 && (q & 1) != 0)) {
        q += prod < 0 ? -1 : 1; /* away from zero */
    }
    if (q > INT64_MAX || q < INT64_MIN) {
        return false;
    }
    *out = (int64_t)q;
    return true;
}

void pay_money_split(int64_t total, size_t n, int64_t *parts)
{
    if (n == 0 || !parts) {
        return;
    }
    int64_t q;
    int64_t rem;
    if (n > (size_t)INT64_MAX) {
        q = 0;
        rem = total; /* |total| < n: everything is remainder */
    } else {
        q = total / (int64_t)n;
        rem = total % (int64_t)n; /* same sign as total */
    }
    int64_t unit = total < 0 ? -1 : 1;
    /* |rem| < n, so negating is safe except when n == 1 (rem == 0). */
    uint64_t extra = rem < 0 ? (uint64_t)(-(rem + 1)) + 1 : (uint64_t)rem;
    for (size_t i = 0; i < n; i++) {
        parts[i] = q + ((uint64_t)i < extra ? unit : 0);
    }
}

enum pay_err pay_fee_compute(int64_t amount_minor, int64_t fee_bps, int64_t fee_fixed_minor,
                             int64_t *out)
{
    if (amount_minor < 0 || fee_bps < 0 || fee_bps > PAY_FEE_BPS_MAX || fee_fixed_minor < 0) {
        return PAY_ERR_AMOUNT_INVALID;
    }
    int64_t pct = 0;
    int64_t fee = 0;
    if (!pay_money_bps(amount_minor, fee_bps, &pct) || !pay_money_add(pct, fee_fixed_minor, &fee)) {
        return PAY_ERR_OVERFLOW;
    }
    *out = fee < amount_minor ? fee : amount_minor;
    return PAY_OK;
}

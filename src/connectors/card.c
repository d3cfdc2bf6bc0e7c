/*
 * card.c - raw card data in, what payd may keep out: brand, last4, expiry,
 * a keyed fingerprint and the sandbox's token (connectors.h).
 *
 * Invariants: the card number and CVC exist only in the caller's buffers
 * and in this file's stack frames, which are wiped (explicit_bzero) before
 * every return; nothing here logs. The sandbox scenario of a number comes
 * from PROTOCOLS.md's test-card table (Stripe's test mode); every other
 * valid number succeeds.
 *
 * Threading: pure functions, safe from any thread.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "connectors_int.h"

/* Card numbers have 12..19 digits (ISO/IEC 7812); the input may carry
 * spaces or dashes between groups, so allow some room for them. */
#define CARD_DIGITS_MIN 12
#define CARD_DIGITS_MAX 19
#define CARD_INPUT_LEN_MAX 40
/* Expiry years further ahead than this are typos, as Stripe treats them. */
#define CARD_EXP_YEARS_AHEAD_MAX 50
#define FINGERPRINT_LEN 16

/* PROTOCOLS.md's test cards (and Stripe's other documented 3-D Secure and
 * debit numbers), with the sandbox scenario each encodes. */
static const struct {
    const char *number;
    const char *scenario;
    const char *funding;
} test_cards[] = {
    {"4242424242424242", "success", "credit"},
    {"4000056655665556", "success", "debit"},
    {"5555555555554444", "success", "credit"},
    {"378282246310005", "success", "credit"},
    {"6011111111111117", "success", "credit"},
    {"4000000000000002", "generic_decline", "credit"},
    {"4000000000009995", "insufficient_funds", "credit"},
    {"4000000000009987", "lost_card", "credit"},
    {"4000000000009979", "stolen_card", "credit"},
    {"4000000000000069", "expired_card", "credit"},
    {"4000000000000127", "incorrect_cvc", "credit"},
    {"4000000000000119", "processing_error", "credit"},
    {"4100000000000019", "fraudulent", "credit"},
    {"4000000000000259", "dispute", "credit"},
    {"4000000000000341", "charge_fails", "credit"},
    {"4000002760003184", "3ds_required", "credit"},
    {"4000000000003220", "3ds_required", "credit"},
    {"4000000000003063", "3ds_required", "credit"},
    {"4000002500003155", "3ds_unless_off_session", "credit"},
    {"4000008260003178", "3ds_then_insufficient", "credit"},
    {"4000008400001629", "3ds_then_decline", "credit"},
};

/* Stripe's test payment method names: pm_card_<x> and tok_<x>. */
static const struct {
    const char *suffix;
    const char *number;
} test_names[] = {
    {"visa", "4242424242424242"},
    {"visa_debit", "4000056655665556"},
    {"mastercard", "5555555555554444"},
    {"amex", "378282246310005"},
    {"discover", "6011111111111117"},
    {"chargeDeclined", "4000000000000002"},
    {"chargeDeclinedInsufficientFunds", "4000000000009995"},
    {"chargeDeclinedLostCard", "4000000000009987"},
    {"chargeDeclinedStolenCard", "4000000000009979"},
    {"chargeDeclinedExpiredCard", "4000000000000069"},
    {"chargeDeclinedIncorrectCvc", "4000000000000127"},
    {"chargeDeclinedProcessingError", "4000000000000119"},
    {"chargeDeclinedFraudulent", "4100000000000019"},
    {"createDispute", "4000000000000259"},
    {"chargeCustomerFail", "4000000000000341"},
    {"threeDSecure2Required", "4000000000003220"},
    {"threeDSecureRequired", "4000000000003063"},
    {"authenticationRequired", "4000002760003184"},
    {"authenticationRequiredOnSetup", "4000002500003155"},
};

static bool prefix_in(const char *digits, size_t len, unsigned lo, unsigned hi)
{
    /* Compare the leading digits (as many as @hi has) with [lo, hi]. */
    size_t width = 1;
    for (unsigned h = hi; h >= 10; h /= 10) {
        width++;
    }
    if (len < width) {
        return false;
    }
    unsigned v = 0;
    for (size_t i = 0; i < width; i++) {
        v = v * 10 + (unsigned)(digits[i] - '0');
    }
    return v >= lo && v <= hi;
}

/* Brand by IIN, and whether @len is a length that brand issues. */
static const char *brand_of(const char *d, size_t len, bool *len_ok)
{
    const char *brand = "unknown";
    bool ok = len >= CARD_DIGITS_MIN && len <= CARD_DIGITS_MAX;
    if (prefix_in(d, len, 34, 34) || prefix_in(d, len, 37, 37)) {
        brand = "amex";
        ok = len == 15;
    } else if (prefix_in(d, len, 3528, 3589)) {
        brand = "jcb";
        ok = len >= 16 && len <= 19;
    } else if (prefix_in(d, len, 36, 36) || prefix_in(d, len, 300, 305) ||
               prefix_in(d, len, 38, 39)) {
        brand = "diners";
        ok = len >= 14 && len <= 19;
    } else if (prefix_in(d, len, 4, 4)) {
        brand = "visa";
        ok = len == 13 || len == 16 || len == 19;
    } else if (prefix_in(d, len, 51, 55) || prefix_in(d, len, 2221, 2720)) {
        brand = "mastercard";
        ok = len == 16;
    } else if (prefix_in(d, len, 6011, 6011) || prefix_in(d, len, 644, 649) ||
               prefix_in(d, len, 65, 65)) {
        brand = "discover";
        ok = len >= 16 && len <= 19;
    } else if (prefix_in(d, len, 62, 62)) {
        brand = "unionpay";
        ok = len >= 16 && len <= 19;
    }
    *len_ok = ok;
    return brand;
}

/* The Luhn (mod 10) check of ISO/IEC 7812-1. */
static bool luhn_ok(const char *d, size_t len)
{
    unsigned sum = 0;
    bool dbl = false;
    for (size_t i = len; i-- > 0;) {
        unsigned v = (unsigned)(d[i] - '0');
        if (dbl) {
            v *= 2;
            if (v > 9) {
                v -= 9;
            }
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

/* The last FINGERPRINT_LEN base62 digits of the 256-bit MAC, read as a
 * big-endian number: stable, keyed, and reveals nothing of the number. */
static void fingerprint_of(const char *key, const char *digits, size_t len, char *out)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char mac[32];
    const char *k = key ? key : "";
    pay_hmac_sha256(k, strlen(k), digits, len, mac);
    char rev[FINGERPRINT_LEN];
    for (size_t n = 0; n < FINGERPRINT_LEN; n++) {
        unsigned rem = 0;
        for (size_t i = 0; i < sizeof(mac); i++) {
            unsigned cur = (rem << 8) | mac[i];
            mac[i] = (unsigned char)(cur / 62);
            rem = cur % 62;
        }
        rev[n] = b62[rem];
    }
    for (size_t n = 0; n < FINGERPRINT_LEN; n++) {
        out[n] = rev[FINGERPRINT_LEN - 1 - n];
    }
    out[FINGERPRINT_LEN] = '\0';
    explicit_bzero(mac, sizeof(mac));
}

static void year_month(int64_t now, int *year, int *month)
{
    time_t t = (time_t)now;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        *year = 1970;
        *month = 1;
        return;
    }
    *year = tm.tm_year + 1900;
    *month = tm.tm_mon + 1;
}

static enum pay_err card_error(struct pay_error *err, const char *code, const char *param,
                               const char *message)
{
    pay_error_set(err, PAY_ERR_CARD_ERROR, param, "%s", message);
    if (err != NULL) {
        /* Stripe names the fault in error.code ("incorrect_number"); there
         * is no decline_code because no issuer was asked. */
        snprintf(err->code_str, sizeof(err->code_str), "%s", code);
    }
    return PAY_ERR_CARD_ERROR;
}

enum pay_err pay_card_expiry_check(int exp_month, int *exp_year, int64_t now, struct pay_error *err)
{
    int year_now, month_now;
    year_month(now, &year_now, &month_now);
    if (exp_month < 1 || exp_month > 12) {
        return card_error(err, "invalid_expiry_month", "card[exp_month]",
                          "Your card's expiration month is invalid.");
    }
    int year = *exp_year;
    if (year >= 0 && year < 100) {
        year += 2000;
    }
    if (year < year_now || year > year_now + CARD_EXP_YEARS_AHEAD_MAX) {
        return card_error(err, "invalid_expiry_year", "card[exp_year]",
                          "Your card's expiration year is invalid.");
    }
    if (year == year_now && exp_month < month_now) {
        return card_error(err, "invalid_expiry_month", "card[exp_month]",
                          "Your card's expiration month is invalid.");
    }
    *exp_year = year;
    return PAY_OK;
}

/* Fill everything but the expiry and cvc_check from validated @digits. */
static void describe(const char *digits, size_t len, const char *brand, const char *key,
                     struct pay_card_info *info, char token[PAY_TOKEN_LEN_MAX])
{
    const char *scenario = "success";
    const char *funding = NULL;
    for (size_t i = 0; i < sizeof(test_cards) / sizeof(test_cards[0]); i++) {
        if (strlen(test_cards[i].number) == len && memcmp(test_cards[i].number, digits, len) == 0) {
            scenario = test_cards[i].scenario;
            funding = test_cards[i].funding;
            break;
        }
    }
    snprintf(info->brand, sizeof(info->brand), "%s", brand);
    memcpy(info->last4, digits + len - 4, 4);
    info->last4[4] = '\0';
    fingerprint_of(key, digits, len, info->fingerprint);
    /* Test cards are US credit cards (Stripe's); a number we know nothing
     * about has an unknown funding and no country. */
    snprintf(info->funding, sizeof(info->funding), "%s", funding ? funding : "unknown");
    snprintf(info->country, sizeof(info->country), "%s", funding ? "US" : "");
    snprintf(token, PAY_TOKEN_LEN_MAX, "%s%s", PAY_SANDBOX_TOKEN_PREFIX, scenario);
}

enum pay_err pay_card_tokenize(const char *number, int exp_month, int exp_year, const char *cvc,
                               const char *fingerprint_key, int64_t now,
                               struct pay_card_info *info_out, char token_out[PAY_TOKEN_LEN_MAX],
                               struct pay_error *err)
{
    char digits[CARD_DIGITS_MAX + 1];
    size_t len = 0;
    enum pay_err rc = PAY_OK;

    memset(info_out, 0, sizeof(*info_out));
    token_out[0] = '\0';
    if (number == NULL || number[0] == '\0') {
        return pay_error_set(err, PAY_ERR_PARAM_MISSING, "card[number]",
                             "Missing required param: card[number].");
    }
    size_t in_len = strnlen(number, CARD_INPUT_LEN_MAX + 1);
    bool bad_char = in_len > CARD_INPUT_LEN_MAX;
    for (size_t i = 0; i < in_len && !bad_char; i++) {
        char c = number[i];
        if (c >= '0' && c <= '9') {
            if (len == CARD_DIGITS_MAX) {
                bad_char = true;
                break;
            }
            digits[len++] = c;
        } else if (c != ' ' && c != '-') {
            bad_char = true;
        }
    }
    bool len_ok = false;
    const char *brand = bad_char ? "unknown" : brand_of(digits, len, &len_ok);
    if (bad_char || !len_ok) {
        rc = card_error(err, "invalid_number", "card[number]", "Your card number is invalid.");
        goto out_wipe;
    }
    if (!luhn_ok(digits, len)) {
        rc = card_error(err, "incorrect_number", "card[number]", "Your card number is incorrect.");
        goto out_wipe;
    }

    rc = pay_card_expiry_check(exp_month, &exp_year, now, err);
    if (rc != PAY_OK) {
        goto out_wipe;
    }
    bool cvc_given = cvc != NULL && cvc[0] != '\0';
    if (cvc_given) {
        size_t cl = strnlen(cvc, 5);
        bool ok = cl >= 3 && cl <= 4;
        for (size_t i = 0; ok && i < cl; i++) {
            ok = cvc[i] >= '0' && cvc[i] <= '9';
        }
        if (!ok) {
            rc = card_error(err, "invalid_cvc", "card[cvc]",
                            "Your card's security code is invalid.");
            goto out_wipe;
        }
    }

    describe(digits, len, brand, fingerprint_key, info_out, token_out);
    info_out->exp_month = exp_month;
    info_out->exp_year = exp_year;
    snprintf(info_out->cvc_check, sizeof(info_out->cvc_check), "%s", cvc_given ? "pass" : "");
out_wipe:
    explicit_bzero(digits, sizeof(digits));
    return rc;
}

enum pay_err pay_card_test_token(const char *name, const char *fingerprint_key, int64_t now,
                                 struct pay_card_info *info_out, char token_out[PAY_TOKEN_LEN_MAX])
{
    const char *suffix = NULL;
    if (name == NULL) {
        return PAY_ERR_NOT_FOUND;
    }
    if (strncmp(name, "pm_card_", 8) == 0) {
        suffix = name + 8;
    } else if (strncmp(name, "tok_", 4) == 0) {
        suffix = name + 4;
    } else {
        return PAY_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < sizeof(test_names) / sizeof(test_names[0]); i++) {
        if (strcmp(test_names[i].suffix, suffix) != 0) {
            continue;
        }
        const char *number = test_names[i].number;
        size_t len = strlen(number);
        bool len_ok = false;
        const char *brand = brand_of(number, len, &len_ok);
        PAY_ASSERT(len_ok && luhn_ok(number, len));
        memset(info_out, 0, sizeof(*info_out));
        describe(number, len, brand, fingerprint_key, info_out, token_out);
        int year_now, month_now;
        year_month(now, &year_now, &month_now);
        info_out->exp_month = 12;
        info_out->exp_year = year_now + 1;
        /* Stripe's test payment methods carry no CVC check result. */
        snprintf(info_out->cvc_check, sizeof(info_out->cvc_check), "%s", "unchecked");
        return PAY_OK;
    }
    return PAY_ERR_NOT_FOUND;
}

/*
 * card_test.c - pay_card_tokenize and pay_card_test_token (src/connectors/card.c):
 * Luhn, brands by IIN and length, expiry and CVC checks, each test card's
 * sandbox scenario, keyed fingerprints, and that the number never appears
 * in anything that comes out.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "connectors/connectors.h"

/* 2025-06-15T00:00:00Z */
#define NOW 1749945600LL
#define KEY "fp-key-1"

static enum pay_err tok(const char *number, int m, int y, const char *cvc,
                        struct pay_card_info *info, char token[PAY_TOKEN_LEN_MAX],
                        struct pay_error *err)
{
    pay_error_clear(err);
    return pay_card_tokenize(number, m, y, cvc, KEY, NOW, info, token, err);
}

/* A Luhn-valid number of @len digits starting with @prefix. */
static void make_number(const char *prefix, size_t len, char *out)
{
    size_t plen = strlen(prefix);
    memcpy(out, prefix, plen);
    for (size_t i = plen; i < len - 1; i++) {
        out[i] = '0' + (char)(i % 7);
    }
    out[len] = '\0';
    for (char check = '0'; check <= '9'; check++) {
        out[len - 1] = check;
        unsigned sum = 0;
        bool dbl = false;
        for (size_t i = len; i-- > 0;) {
            unsigned v = (unsigned)(out[i] - '0');
            if (dbl) {
                v = v * 2 > 9 ? v * 2 - 9 : v * 2;
            }
            sum += v;
            dbl = !dbl;
        }
        if (sum % 10 == 0) {
            return;
        }
    }
    cr_assert_fail("no check digit");
}

Test(card, luhn_valid_and_invalid)
{
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok("4242424242424242", 12, 2030, "123", &info, token, &err), PAY_OK);
    cr_assert_str_eq(info.brand, "visa");
    cr_assert_str_eq(info.last4, "4242");
    cr_assert_eq(info.exp_month, 12);
    cr_assert_eq(info.exp_year, 2030);
    cr_assert_str_eq(info.cvc_check, "pass");
    cr_assert_str_eq(info.funding, "credit");
    cr_assert_str_eq(info.country, "US");

    cr_assert_eq(tok("4242424242424241", 12, 2030, "123", &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_str_eq(err.code_str, "incorrect_number");
    cr_assert_str_eq(err.param, "card[number]");
    cr_assert_str_eq(err.message, "Your card number is incorrect.");
    cr_assert_str_eq(token, "");
    cr_assert_str_eq(info.last4, "");
}

Test(card, separators_allowed_other_characters_not)
{
    struct pay_card_info a, b;
    char ta[PAY_TOKEN_LEN_MAX], tb[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok("4242 4242-4242 4242", 1, 2026, NULL, &a, ta, &err), PAY_OK);
    cr_assert_eq(tok("4242424242424242", 1, 2026, NULL, &b, tb, &err), PAY_OK);
    cr_assert_str_eq(a.fingerprint, b.fingerprint);
    cr_assert_str_eq(a.cvc_check, "");

    const char *bad[] = {
        "4242x42424242424", "4242.4242.4242.4242", "", "42424242424242424242", "4242",
        "+4242424242424242"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum pay_err e = tok(bad[i], 1, 2026, NULL, &a, ta, &err);
        cr_assert(e == PAY_ERR_CARD_ERROR || e == PAY_ERR_PARAM_MISSING, "%s", bad[i]);
        cr_assert_str_eq(err.param, "card[number]", "%s", bad[i]);
        if (e == PAY_ERR_CARD_ERROR) {
            cr_assert_str_eq(err.code_str, "invalid_number", "%s", bad[i]);
        }
    }
    cr_assert_eq(tok(NULL, 1, 2026, NULL, &a, ta, &err), PAY_ERR_PARAM_MISSING);
}

struct brand_case {
    char prefix[8];
    size_t len;
    char brand[16];
};

ParameterizedTestParameters(card, brand_by_iin)
{
    static struct brand_case cases[] = {
        {"4", 16, "visa"},          {"4", 13, "visa"},          {"4", 19, "visa"},
        {"51", 16, "mastercard"},   {"53", 16, "mastercard"},   {"55", 16, "mastercard"},
        {"2221", 16, "mastercard"}, {"2500", 16, "mastercard"}, {"2720", 16, "mastercard"},
        {"2220", 16, "unknown"},    {"2721", 16, "unknown"},    {"56", 16, "unknown"},
        {"34", 15, "amex"},         {"37", 15, "amex"},         {"6011", 16, "discover"},
        {"65", 16, "discover"},     {"644", 16, "discover"},    {"649", 19, "discover"},
        {"643", 16, "unknown"},     {"3528", 16, "jcb"},        {"3589", 19, "jcb"},
        {"3527", 16, "unknown"},    {"36", 14, "diners"},       {"300", 14, "diners"},
        {"305", 16, "diners"},      {"38", 14, "diners"},       {"39", 14, "diners"},
        {"306", 14, "unknown"},     {"62", 16, "unionpay"},     {"62", 19, "unionpay"},
        {"1", 12, "unknown"},       {"9", 19, "unknown"},
    };
    return cr_make_param_array(struct brand_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct brand_case *c, card, brand_by_iin)
{
    char number[24];
    make_number(c->prefix, c->len, number);
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok(number, 6, 2027, "123", &info, token, &err), PAY_OK, "%s: %s", number,
                 err.message);
    cr_assert_str_eq(info.brand, c->brand, "%s", number);
    cr_assert_str_eq(info.last4, number + c->len - 4);
    cr_assert_str_eq(token, "tok_sandbox_success");
}

Test(card, brand_lengths)
{
    struct {
        const char *prefix;
        size_t len;
    } bad[] = {{"4", 15},    {"4", 14},    {"51", 15}, {"51", 17}, {"34", 16}, {"37", 14},
               {"6011", 15}, {"3528", 15}, {"36", 13}, {"62", 15}, {"1", 11}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char number[24];
        make_number(bad[i].prefix, bad[i].len, number);
        struct pay_card_info info;
        char token[PAY_TOKEN_LEN_MAX];
        struct pay_error err;
        cr_assert_eq(tok(number, 6, 2027, "123", &info, token, &err), PAY_ERR_CARD_ERROR, "%s",
                     number);
        cr_assert_str_eq(err.code_str, "invalid_number", "%s", number);
    }
}

struct scenario_case {
    char number[24];
    char scenario[32];
    char brand[16];
};

ParameterizedTestParameters(card, test_card_scenarios)
{
    /* PROTOCOLS.md's test-card table. */
    static struct scenario_case cases[] = {
        {"4242 4242 4242 4242", "success", "visa"},
        {"5555 5555 5555 4444", "success", "mastercard"},
        {"3782 822463 10005", "success", "amex"},
        {"4000 0000 0000 0002", "generic_decline", "visa"},
        {"4000 0000 0000 9995", "insufficient_funds", "visa"},
        {"4000 0000 0000 9987", "lost_card", "visa"},
        {"4000 0000 0000 9979", "stolen_card", "visa"},
        {"4000 0000 0000 0069", "expired_card", "visa"},
        {"4000 0000 0000 0127", "incorrect_cvc", "visa"},
        {"4000 0000 0000 0119", "processing_error", "visa"},
        {"4100 0000 0000 0019", "fraudulent", "visa"},
        {"4000 0000 0000 0259", "dispute", "visa"},
        {"4000 0000 0000 0341", "charge_fails", "visa"},
        {"4000 0027 6000 3184", "3ds_required", "visa"},
        {"4000 0025 0000 3155", "3ds_unless_off_session", "visa"},
        {"4000 0082 6000 3178", "3ds_then_insufficient", "visa"},
        {"4000 0084 0000 1629", "3ds_then_decline", "visa"},
        {"6011 1111 1111 1117", "success", "discover"},
        {"4012 8888 8888 1881", "success", "visa"},
    };
    return cr_make_param_array(struct scenario_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct scenario_case *c, card, test_card_scenarios)
{
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok(c->number, 3, 2030, "314", &info, token, &err), PAY_OK, "%s: %s", c->number,
                 err.message);
    char want[PAY_TOKEN_LEN_MAX];
    snprintf(want, sizeof(want), "tok_sandbox_%s", c->scenario);
    cr_assert_str_eq(token, want, "%s", c->number);
    cr_assert_not_null(pay_sandbox_scenario(token), "%s", token);
    cr_assert_str_eq(pay_sandbox_scenario(token), c->scenario);
    cr_assert_str_eq(info.brand, c->brand);
    cr_assert_str_eq(info.last4, c->number + strlen(c->number) - 4);
}

Test(card, unknown_numbers_have_no_test_card_facts)
{
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok("4012888888881881", 3, 2030, NULL, &info, token, &err), PAY_OK);
    cr_assert_str_eq(info.funding, "unknown");
    cr_assert_str_eq(info.country, "");
}

Test(card, expiry_and_cvc)
{
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    const char *n = "4242424242424242";

    cr_assert_eq(tok(n, 0, 2030, NULL, &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_str_eq(err.code_str, "invalid_expiry_month");
    cr_assert_str_eq(err.param, "card[exp_month]");
    cr_assert_eq(tok(n, 13, 2030, NULL, &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_str_eq(err.code_str, "invalid_expiry_month");

    cr_assert_eq(tok(n, 12, 2024, NULL, &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_str_eq(err.code_str, "invalid_expiry_year");
    cr_assert_str_eq(err.param, "card[exp_year]");
    cr_assert_eq(tok(n, 12, 2100, NULL, &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_str_eq(err.code_str, "invalid_expiry_year");

    /* June 2025: May has passed, June has not. */
    cr_assert_eq(tok(n, 5, 2025, NULL, &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_str_eq(err.code_str, "invalid_expiry_month");
    cr_assert_eq(tok(n, 6, 2025, NULL, &info, token, &err), PAY_OK);

    cr_assert_eq(tok(n, 6, 30, NULL, &info, token, &err), PAY_OK);
    cr_assert_eq(info.exp_year, 2030);
    cr_assert_eq(tok(n, 6, 24, NULL, &info, token, &err), PAY_ERR_CARD_ERROR);

    const char *bad_cvc[] = {"12", "12345", "12a", " 123", "abc"};
    for (size_t i = 0; i < sizeof(bad_cvc) / sizeof(bad_cvc[0]); i++) {
        cr_assert_eq(tok(n, 6, 2030, bad_cvc[i], &info, token, &err), PAY_ERR_CARD_ERROR, "%s",
                     bad_cvc[i]);
        cr_assert_str_eq(err.code_str, "invalid_cvc");
        cr_assert_str_eq(err.param, "card[cvc]");
    }
    cr_assert_eq(tok(n, 6, 2030, "1234", &info, token, &err), PAY_OK);
    cr_assert_eq(tok(n, 6, 2030, "", &info, token, &err), PAY_OK);
    cr_assert_str_eq(info.cvc_check, "");
}

static bool is_base62(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
            return false;
        }
    }
    return true;
}

Test(card, fingerprints)
{
    struct pay_card_info a, b, c, d;
    char t[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok("4242424242424242", 1, 2030, "123", &a, t, &err), PAY_OK);
    cr_assert_eq(tok("4242424242424242", 7, 2031, "999", &b, t, &err), PAY_OK);
    cr_assert_eq(tok("5555555555554444", 1, 2030, "123", &c, t, &err), PAY_OK);
    cr_assert_eq(
        pay_card_tokenize("4242424242424242", 1, 2030, "123", "another-key", NOW, &d, t, &err),
        PAY_OK);
    cr_assert_eq(strlen(a.fingerprint), 16);
    cr_assert(is_base62(a.fingerprint));
    cr_assert_str_eq(a.fingerprint, b.fingerprint, "same number, same fingerprint");
    cr_assert_str_neq(a.fingerprint, c.fingerprint, "other number, other fingerprint");
    cr_assert_str_neq(a.fingerprint, d.fingerprint, "other key, other fingerprint");

    /* A test name's fingerprint is its number's. */
    struct pay_card_info e;
    cr_assert_eq(pay_card_test_token("pm_card_visa", KEY, NOW, &e, t), PAY_OK);
    cr_assert_str_eq(e.fingerprint, a.fingerprint);
}

static bool contains(const void *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

Test(card, number_and_cvc_appear_nowhere_in_the_outputs)
{
    const char *numbers[] = {"4242424242424242", "378282246310005", "4000000000000002",
                             "6011111111111117"};
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        struct pay_card_info info;
        char token[PAY_TOKEN_LEN_MAX];
        struct pay_error err;
        memset(&info, 0xAA, sizeof(info));
        memset(token, 0xAA, sizeof(token));
        cr_assert_eq(tok(numbers[i], 1, 2030, "7319", &info, token, &err), PAY_OK);
        cr_assert_not(contains(&info, sizeof(info), numbers[i]));
        cr_assert_not(contains(token, sizeof(token), numbers[i]));
        /* Not even the first twelve digits (the part last4 does not show). */
        char head[13];
        memcpy(head, numbers[i], 12);
        head[12] = '\0';
        cr_assert_not(contains(&info, sizeof(info), head));
        cr_assert_not(contains(&info, sizeof(info), "7319"));
        cr_assert_not(contains(token, sizeof(token), "7319"));
    }
    /* Nor in the error of a failed tokenization. */
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    struct pay_error err;
    cr_assert_eq(tok("4242424242424241", 1, 2030, "7319", &info, token, &err), PAY_ERR_CARD_ERROR);
    cr_assert_not(contains(&err, sizeof(err), "4242424242424241"));
    cr_assert_not(contains(&err, sizeof(err), "424242424242"));
}

struct name_case {
    char name[48];
    char brand[16];
    char last4[5];
    char scenario[32];
    char funding[8];
};

ParameterizedTestParameters(card, test_names)
{
    static struct name_case cases[] = {
        {"pm_card_visa", "visa", "4242", "success", "credit"},
        {"pm_card_visa_debit", "visa", "5556", "success", "debit"},
        {"pm_card_mastercard", "mastercard", "4444", "success", "credit"},
        {"pm_card_amex", "amex", "0005", "success", "credit"},
        {"pm_card_discover", "discover", "1117", "success", "credit"},
        {"pm_card_chargeDeclined", "visa", "0002", "generic_decline", "credit"},
        {"pm_card_chargeDeclinedInsufficientFunds", "visa", "9995", "insufficient_funds", "credit"},
        {"pm_card_chargeDeclinedLostCard", "visa", "9987", "lost_card", "credit"},
        {"pm_card_chargeDeclinedStolenCard", "visa", "9979", "stolen_card", "credit"},
        {"pm_card_chargeDeclinedExpiredCard", "visa", "0069", "expired_card", "credit"},
        {"pm_card_chargeDeclinedIncorrectCvc", "visa", "0127", "incorrect_cvc", "credit"},
        {"pm_card_chargeDeclinedProcessingError", "visa", "0119", "processing_error", "credit"},
        {"pm_card_chargeDeclinedFraudulent", "visa", "0019", "fraudulent", "credit"},
        {"pm_card_threeDSecure2Required", "visa", "3220", "3ds_required", "credit"},
        {"pm_card_threeDSecureRequired", "visa", "3063", "3ds_required", "credit"},
        {"pm_card_authenticationRequired", "visa", "3184", "3ds_required", "credit"},
        {"tok_visa", "visa", "4242", "success", "credit"},
        {"tok_mastercard", "mastercard", "4444", "success", "credit"},
        {"tok_amex", "amex", "0005", "success", "credit"},
        {"tok_chargeDeclined", "visa", "0002", "generic_decline", "credit"},
        {"tok_chargeDeclinedInsufficientFunds", "visa", "9995", "insufficient_funds", "credit"},
    };
    return cr_make_param_array(struct name_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct name_case *c, card, test_names)
{
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    cr_assert_eq(pay_card_test_token(c->name, KEY, NOW, &info, token), PAY_OK, "%s", c->name);
    cr_assert_str_eq(info.brand, c->brand, "%s", c->name);
    cr_assert_str_eq(info.last4, c->last4, "%s", c->name);
    cr_assert_str_eq(info.funding, c->funding, "%s", c->name);
    cr_assert_str_eq(info.country, "US");
    cr_assert_eq(info.exp_month, 12);
    cr_assert_eq(info.exp_year, 2026);
    cr_assert_str_eq(pay_sandbox_scenario(token), c->scenario, "%s", c->name);
}

Test(card, unknown_test_names)
{
    struct pay_card_info info;
    char token[PAY_TOKEN_LEN_MAX];
    const char *bad[] = {"pm_card_", "pm_card_nope", "tok_",          "tok_Visa",
                         "pm_visa",  "visa",         "pm_card_visa ", "card_visa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(pay_card_test_token(bad[i], KEY, NOW, &info, token), PAY_ERR_NOT_FOUND, "%s",
                     bad[i]);
    }
    cr_assert_eq(pay_card_test_token(NULL, KEY, NOW, &info, token), PAY_ERR_NOT_FOUND);
}

/* currency_test.c - the ISO 4217 table and lookups. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

static void expect(const char *code, const char *lower, uint16_t numeric, uint8_t exponent)
{
    const struct pay_currency *c = pay_currency_find(code);
    cr_assert_not_null(c, "%s", code);
    cr_assert_str_eq(c->code, lower);
    cr_assert_eq(c->numeric, numeric, "%s numeric %u", code, c->numeric);
    cr_assert_eq(c->exponent, exponent, "%s exponent %u", code, c->exponent);
}

Test(currency, well_known)
{
    expect("usd", "usd", 840, 2);
    expect("eur", "eur", 978, 2);
    expect("jpy", "jpy", 392, 0);
    expect("kwd", "kwd", 414, 3);
    expect("sdg", "sdg", 938, 2);
    expect("ssp", "ssp", 728, 2);
    expect("clf", "clf", 990, 4);
    expect("uyw", "uyw", 927, 4);
    expect("ves", "ves", 928, 2);
    expect("zwg", "zwg", 924, 2);
    expect("sle", "sle", 925, 2);
    expect("all", "all", 8, 2);
}

Test(currency, case_insensitive)
{
    expect("USD", "usd", 840, 2);
    expect("UsD", "usd", 840, 2);
    expect("Jpy", "jpy", 392, 0);
}

Test(currency, not_found)
{
    static const char *const bad[] = {"us",  "usdd", "xau", "xag", "xts",  "xxx", "xdr", "hrk",
                                      "zwl", "",     "u$d", "us ", " usd", "u",   "123", "usd\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(pay_currency_find(bad[i]), "\"%s\" found", bad[i]);
    }
    cr_assert_null(pay_currency_find(NULL));
}

Test(currency, exponents_match_iso)
{
    static const char *const zero[] = {"bif", "clp", "djf", "gnf", "isk", "jpy",
                                       "kmf", "krw", "pyg", "rwf", "ugx", "uyi",
                                       "vnd", "vuv", "xaf", "xof", "xpf"};
    static const char *const three[] = {"bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"};
    static const char *const four[] = {"clf", "uyw"};
    size_t n = 0;
    const struct pay_currency *t = pay_currency_table(&n);
    for (size_t i = 0; i < n; i++) {
        unsigned want = 2;
        for (size_t k = 0; k < sizeof(zero) / sizeof(zero[0]); k++) {
            want = strcmp(t[i].code, zero[k]) == 0 ? 0 : want;
        }
        for (size_t k = 0; k < sizeof(three) / sizeof(three[0]); k++) {
            want = strcmp(t[i].code, three[k]) == 0 ? 3 : want;
        }
        for (size_t k = 0; k < sizeof(four) / sizeof(four[0]); k++) {
            want = strcmp(t[i].code, four[k]) == 0 ? 4 : want;
        }
        cr_assert_eq(t[i].exponent, want, "%s has exponent %u, want %u", t[i].code, t[i].exponent,
                     want);
    }
}

Test(currency, table_sorted_unique_lowercase)
{
    size_t n = 0;
    const struct pay_currency *t = pay_currency_table(&n);
    cr_assert_gt(n, 150);
    cr_assert_lt(n, 200);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(strlen(t[i].code), 3);
        for (size_t k = 0; k < 3; k++) {
            cr_assert(t[i].code[k] >= 'a' && t[i].code[k] <= 'z', "%s", t[i].code);
        }
        cr_assert(t[i].numeric > 0 && t[i].numeric < 1000, "%s", t[i].code);
        if (i > 0) {
            cr_assert_lt(strcmp(t[i - 1].code, t[i].code), 0, "%s before %s", t[i - 1].code,
                         t[i].code);
        }
        /* every entry is reachable through the lookup */
        cr_assert_eq(pay_currency_find(t[i].code), &t[i]);
    }
}

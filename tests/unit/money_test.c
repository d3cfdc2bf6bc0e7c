/* money_test.c - checked arithmetic, exact parse/format, half-even bps, splits. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

static const struct pay_currency *cur(const char *code)
{
    const struct pay_currency *c = pay_currency_find(code);
    cr_assert_not_null(c, "currency %s", code);
    return c;
}

Test(money, add_sub_mul_overflow_leave_output_alone)
{
    int64_t out = 42;
    cr_assert(pay_money_add(2, 3, &out));
    cr_assert_eq(out, 5);
    out = 42;
    cr_assert_not(pay_money_add(INT64_MAX, 1, &out));
    cr_assert_eq(out, 42);
    cr_assert_not(pay_money_add(INT64_MIN, -1, &out));
    cr_assert(pay_money_add(INT64_MAX, INT64_MIN, &out));
    cr_assert_eq(out, -1);
    cr_assert(pay_money_sub(5, 7, &out));
    cr_assert_eq(out, -2);
    out = 42;
    cr_assert_not(pay_money_sub(INT64_MIN, 1, &out));
    cr_assert_not(pay_money_sub(0, INT64_MIN, &out));
    cr_assert_eq(out, 42);
    cr_assert(pay_money_mul(-4, 25, &out));
    cr_assert_eq(out, -100);
    cr_assert_not(pay_money_mul(INT64_MAX / 2 + 1, 2, &out));
    cr_assert_not(pay_money_mul(INT64_MIN, -1, &out));
    cr_assert_not(pay_money_mul(3037000500LL, 3037000500LL, &out));
    cr_assert_eq(out, -100);
}

Test(money, amount_valid)
{
    cr_assert(pay_amount_valid(0));
    cr_assert(pay_amount_valid(1));
    cr_assert(pay_amount_valid(PAY_AMOUNT_MAX_MINOR));
    cr_assert_not(pay_amount_valid(PAY_AMOUNT_MAX_MINOR + 1));
    cr_assert_not(pay_amount_valid(-1));
    cr_assert_not(pay_amount_valid(INT64_MIN));
}

struct parse_case {
    const char *code;
    const char *text;
    int64_t minor;
};

Test(money, parse_valid)
{
    static const struct parse_case cases[] = {
        {"usd", "12.50", 1250},
        {"usd", "12.5", 1250},
        {"usd", "12", 1200},
        {"usd", "0.5", 50},
        {"usd", "0.05", 5},
        {"usd", "-3", -300},
        {"usd", "-0.01", -1},
        {"usd", "-0", 0},
        {"usd", "007", 700},
        {"jpy", "1000", 1000},
        {"jpy", "-1", -1},
        {"kwd", "1.234", 1234},
        {"kwd", "1.2", 1200},
        {"kwd", "0.001", 1},
        {"clf", "1.2345", 12345},
        {"clf", "0.0001", 1},
        {"sdg", "1500000.75", 150000075},
        {"usd", "92233720368547758.07", INT64_MAX},
        {"usd", "-92233720368547758.08", INT64_MIN},
        {"jpy", "9223372036854775807", INT64_MAX},
        {"jpy", "-9223372036854775808", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 99;
        enum pay_err rc = pay_amount_parse(cases[i].text, cur(cases[i].code), &v);
        cr_assert_eq(rc, PAY_OK, "%s %s -> %s", cases[i].code, cases[i].text, pay_err_str(rc));
        cr_assert_eq(v, cases[i].minor, "%s %s -> %lld", cases[i].code, cases[i].text,
                     (long long)v);
    }
}

Test(money, parse_rejects_bad_strings)
{
    static const char *const bad_usd[] = {
        "",      "-",   "+1",       " 1",    "1 ",     "1e3", ".5",   "5.",
        "1.2.3", "--1", "0x10",     "1,000", "12.345", "abc", "1.5x", "1..5",
        "-.5",   "- 1", "\xd9\xa1", "1\n",   "1.-5",   "NaN", "inf",
    };
    for (size_t i = 0; i < sizeof(bad_usd) / sizeof(bad_usd[0]); i++) {
        int64_t v = 99;
        enum pay_err rc = pay_amount_parse(bad_usd[i], cur("usd"), &v);
        cr_assert_eq(rc, PAY_ERR_AMOUNT_INVALID, "\"%s\" -> %s", bad_usd[i], pay_err_str(rc));
        cr_assert_eq(v, 99, "output untouched for \"%s\"", bad_usd[i]);
    }
    int64_t v = 0;
    cr_assert_eq(pay_amount_parse("1.0", cur("jpy"), &v), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_amount_parse("1.", cur("jpy"), &v), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_amount_parse("1.2345", cur("kwd"), &v), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_amount_parse("1.23456", cur("clf"), &v), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_amount_parse(NULL, cur("usd"), &v), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_amount_parse("1", NULL, &v), PAY_ERR_AMOUNT_INVALID);
    /* Syntax is checked before size: junk after a huge number is invalid. */
    cr_assert_eq(pay_amount_parse("99999999999999999999999x", cur("usd"), &v),
                 PAY_ERR_AMOUNT_INVALID);
}

Test(money, parse_overflow)
{
    int64_t v = 99;
    cr_assert_eq(pay_amount_parse("92233720368547758.08", cur("usd"), &v), PAY_ERR_OVERFLOW);
    cr_assert_eq(pay_amount_parse("-92233720368547758.09", cur("usd"), &v), PAY_ERR_OVERFLOW);
    cr_assert_eq(pay_amount_parse("9223372036854775808", cur("jpy"), &v), PAY_ERR_OVERFLOW);
    cr_assert_eq(pay_amount_parse("-9223372036854775809", cur("jpy"), &v), PAY_ERR_OVERFLOW);
    cr_assert_eq(pay_amount_parse("922337203685477.5808", cur("clf"), &v), PAY_ERR_OVERFLOW);
    cr_assert_eq(pay_amount_parse("100000000000000000000000000000", cur("jpy"), &v),
                 PAY_ERR_OVERFLOW);
    cr_assert_eq(pay_amount_parse("18446744073709551616", cur("jpy"), &v), PAY_ERR_OVERFLOW);
    cr_assert_eq(v, 99);
}

struct format_case {
    const char *code;
    int64_t minor;
    const char *text;
};

Test(money, format_exact)
{
    static const struct format_case cases[] = {
        {"usd", 1250, "12.50"},
        {"usd", -5, "-0.05"},
        {"usd", 0, "0.00"},
        {"usd", 100, "1.00"},
        {"jpy", 1000, "1000"},
        {"jpy", -7, "-7"},
        {"kwd", 1, "0.001"},
        {"kwd", -1234, "-1.234"},
        {"clf", 12345, "1.2345"},
        {"clf", 5, "0.0005"},
        {"usd", INT64_MAX, "92233720368547758.07"},
        {"usd", INT64_MIN, "-92233720368547758.08"},
        {"jpy", INT64_MIN, "-9223372036854775808"},
        {"clf", INT64_MIN, "-922337203685477.5808"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        size_t n = pay_amount_format(cases[i].minor, cur(cases[i].code), buf, sizeof(buf));
        cr_assert_str_eq(buf, cases[i].text);
        cr_assert_eq(n, strlen(cases[i].text));
    }
}

Test(money, format_small_buffer)
{
    char buf[6];
    cr_assert_eq(pay_amount_format(1250, cur("usd"), buf, 6), 5);
    cr_assert_str_eq(buf, "12.50");
    cr_assert_eq(pay_amount_format(12500, cur("usd"), buf, 6), 0);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(pay_amount_format(1, NULL, buf, 6), 0);
}

static uint64_t lcg_state = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    /* xorshift64: deterministic, so a failure reproduces. */
    lcg_state ^= lcg_state << 13;
    lcg_state ^= lcg_state >> 7;
    lcg_state ^= lcg_state << 17;
    return lcg_state;
}

static void round_trip(int64_t v, const struct pay_currency *c)
{
    char buf[32];
    size_t n = pay_amount_format(v, c, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    int64_t back = 0;
    enum pay_err rc = pay_amount_parse(buf, c, &back);
    cr_assert_eq(rc, PAY_OK, "%s %s: %s", c->code, buf, pay_err_str(rc));
    cr_assert_eq(back, v, "%s %lld -> %s -> %lld", c->code, (long long)v, buf, (long long)back);
}

Test(money, parse_format_round_trip)
{
    static const char *const codes[] = {"jpy", "usd", "kwd", "clf"};
    static const int64_t edges[] = {
        0,
        1,
        -1,
        9,
        10,
        99,
        100,
        999,
        1000,
        9999,
        10000,
        -9999,
        -10000,
        PAY_AMOUNT_MAX_MINOR,
        -PAY_AMOUNT_MAX_MINOR,
        INT64_MAX,
        INT64_MIN,
        INT64_MAX - 1,
        INT64_MIN + 1,
        INT64_MAX / 10,
        INT64_MIN / 10,
    };
    size_t count = 0;
    for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
        const struct pay_currency *c = cur(codes[k]);
        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
            round_trip(edges[i], c);
            count++;
        }
        for (int64_t v = -2000; v <= 2000; v++) {
            round_trip(v, c);
            count++;
        }
        for (int i = 0; i < 2000; i++) {
            uint64_t r = next_rand();
            /* Spread over all magnitudes, not just huge ones. */
            int64_t v = (int64_t)(r >> (r % 64));
            round_trip(v, c);
            round_trip(-v, c);
            count += 2;
        }
    }
    cr_assert_gt(count, 10000);
}

struct bps_case {
    int64_t amount;
    int64_t bps;
    int64_t want;
};

Test(money, bps_half_even)
{
    static const struct bps_case cases[] = {
        {1, 250, 0},       /* 0.025 */
        {1, 5000, 0},      /* 0.5 -> even 0 */
        {3, 5000, 2},      /* 1.5 -> 2 */
        {1, 15000, 2},     /* 1.5 -> 2 */
        {5, 5000, 2},      /* 2.5 -> 2 */
        {7, 5000, 4},      /* 3.5 -> 4 */
        {1, 25000, 2},     /* 2.5 -> 2 */
        {1, 35000, 4},     /* 3.5 -> 4 */
        {1, 5001, 1},      /* 0.5001 -> 1 */
        {1, 4999, 0},      /* 0.4999 -> 0 */
        {10000, 250, 250}, /* exact */
        {12345, 290, 358}, /* 358.005 */
        {1000, 333, 33},   /* 33.3 */
        {1050, 5000, 525}, /* exact */
        {-3, 5000, -2},    /* -1.5 -> -2 */
        {-5, 5000, -2},    /* -2.5 -> -2 */
        {-1, 5000, 0},     /* -0.5 -> 0 */
        {-1, 15000, -2},   /* -1.5 -> -2 */
        {-7, 5000, -4},    /* -3.5 -> -4 */
        {-1, 5001, -1},
        {3, -5000, -2},
        {-3, -5000, 2},
        {0, 10000, 0},
        {123, 0, 0},
        {INT64_MAX, 10000, INT64_MAX},
        {INT64_MIN, 10000, INT64_MIN},
        {INT64_MAX, 5000, INT64_MAX / 2 + 1}, /* 4611686018427387903.5 -> ...904 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t out = 99;
        cr_assert(pay_money_bps(cases[i].amount, cases[i].bps, &out), "case %zu", i);
        cr_assert_eq(out, cases[i].want, "%lld * %lld bps = %lld, want %lld",
                     (long long)cases[i].amount, (long long)cases[i].bps, (long long)out,
                     (long long)cases[i].want);
    }
}

Test(money, bps_overflow)
{
    int64_t out = 99;
    cr_assert_not(pay_money_bps(INT64_MAX, 20000, &out));
    cr_assert_not(pay_money_bps(INT64_MIN, -10000, &out));
    cr_assert_not(pay_money_bps(INT64_MAX, INT64_MAX, &out));
    cr_assert_eq(out, 99);
}

static void check_split(int64_t total, size_t n)
{
    int64_t parts[64];
    cr_assert_leq(n, 64);
    pay_money_split(total, n, parts);
    __int128 sum = 0;
    int64_t lo = parts[0];
    int64_t hi = parts[0];
    for (size_t i = 0; i < n; i++) {
        sum += parts[i];
        lo = parts[i] < lo ? parts[i] : lo;
        hi = parts[i] > hi ? parts[i] : hi;
        if (i > 0) {
            /* the remainder goes to the first parts */
            cr_assert(total >= 0 ? parts[i] <= parts[i - 1] : parts[i] >= parts[i - 1]);
        }
    }
    cr_assert(sum == total, "split %lld into %zu", (long long)total, n);
    cr_assert_leq((__int128)hi - lo, 1);
}

Test(money, split)
{
    int64_t p[5];
    pay_money_split(100, 3, p);
    cr_assert_eq(p[0], 34);
    cr_assert_eq(p[1], 33);
    cr_assert_eq(p[2], 33);
    pay_money_split(-100, 3, p);
    cr_assert_eq(p[0], -34);
    cr_assert_eq(p[1], -33);
    cr_assert_eq(p[2], -33);
    pay_money_split(2, 5, p);
    cr_assert_eq(p[0], 1);
    cr_assert_eq(p[1], 1);
    cr_assert_eq(p[2], 0);
    cr_assert_eq(p[4], 0);
    pay_money_split(-2, 5, p);
    cr_assert_eq(p[0], -1);
    cr_assert_eq(p[1], -1);
    cr_assert_eq(p[2], 0);

    static const int64_t totals[] = {
        0, 1, -1, 7, -7, 1000, -1001, 99999, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
    for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
        for (size_t n = 1; n <= 64; n++) {
            check_split(totals[t], n);
        }
    }
    for (int i = 0; i < 2000; i++) {
        int64_t total = (int64_t)next_rand();
        check_split(total >> (i % 60), (size_t)(i % 64) + 1);
    }
}

/*
 * pay_fee_compute over amounts in SDG, USD (2 decimals), JPY (0) and KWD
 * (3): fee = round_half_even(amount * bps / 10000) + fixed, capped at the
 * amount. The expected values are worked by hand from the rule (the
 * fraction is written beside each), in the currency's minor unit.
 */
struct fee_case {
    const char *currency;
    int64_t amount, bps, fixed, want;
};

Test(money, fee_table)
{
    static const struct fee_case cases[] = {
        /* SDG, 2 decimals: Visa/Mastercard 2.5 %, banks 1.5 %, wallets 1 %. */
        {"sdg", 100000, 250, 0, 2500}, /* 1000.00 SDG at 2.5 % = 25.00 */
        {"sdg", 1010, 250, 0, 25},     /* 25.25 -> 25 */
        {"sdg", 1020, 250, 0, 26},     /* 25.5 -> 26 (26 is even) */
        {"sdg", 1060, 250, 0, 26},     /* 26.5 -> 26 (even) */
        {"sdg", 1061, 250, 0, 27},     /* 26.525 -> 27 */
        {"sdg", 12345, 150, 0, 185},   /* 185.175 -> 185 */
        {"sdg", 12350, 100, 0, 124},   /* 123.5 -> 124 (even) */
        {"sdg", 12250, 100, 0, 122},   /* 122.5 -> 122 (even) */
        {"sdg", 50000, 50, 0, 250},    /* bank draft 0.5 % */
        {"sdg", 777777, 0, 0, 0},      /* cash 0 % */
        {"sdg", 10000, 100, 500, 600}, /* 1 % + 5.00 fixed */
        {"sdg", 300, 0, 500, 300},     /* fixed fee above the amount: capped */
        {"sdg", 1, 250, 0, 0},         /* 0.025 -> 0 */
        {"sdg", 20, 250, 0, 0},        /* 0.5 -> 0 (even) */
        {"sdg", 60, 250, 0, 2},        /* 1.5 -> 2 (even) */
        /* USD, 2 decimals: Stripe-like 2.9 % + 30 cents. */
        {"usd", 1000, 290, 30, 59},  /* 29 + 30 */
        {"usd", 1050, 290, 30, 60},  /* 30.45 -> 30, + 30 */
        {"usd", 2500, 290, 30, 102}, /* 72.5 -> 72 (even), + 30 */
        {"usd", 999999999999, 290, 30,
         29000000030},             /* largest: 28999999999.971 -> 29000000000, + 30 */
        {"usd", 10, 10000, 0, 10}, /* 100 %: the whole amount */
        /* JPY, no decimals. */
        {"jpy", 1000, 360, 0, 36},
        {"jpy", 125, 200, 0, 2},  /* 2.5 -> 2 (even) */
        {"jpy", 175, 200, 0, 4},  /* 3.5 -> 4 (even) */
        {"jpy", 99, 250, 10, 12}, /* 2.475 -> 2, + 10 */
        /* KWD, 3 decimals. */
        {"kwd", 1000, 250, 0, 25},   /* 1.000 KWD at 2.5 % = 0.025 */
        {"kwd", 12345, 150, 0, 185}, /* 185.175 -> 185 */
        {"kwd", 1500, 50, 0, 8},     /* 7.5 -> 8 (even) */
        {"kwd", 2500, 50, 0, 12},    /* 12.5 -> 12 (even) */
        {"kwd", 100, 150, 100, 100}, /* 1.5 -> 2, + 100 = 102, capped at 100 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct fee_case *c = &cases[i];
        cr_assert_not_null(pay_currency_find(c->currency));
        int64_t fee = -1;
        cr_assert_eq(pay_fee_compute(c->amount, c->bps, c->fixed, &fee), PAY_OK, "case %zu", i);
        cr_assert_eq(fee, c->want, "%s %lld at %lld bps + %lld: fee %lld, want %lld", c->currency,
                     (long long)c->amount, (long long)c->bps, (long long)c->fixed, (long long)fee,
                     (long long)c->want);
        cr_assert_leq(fee, c->amount);
    }
}

/* The rule agrees with a plain reading of half-even over every small amount. */
Test(money, fee_matches_definition)
{
    static const int64_t rates[] = {0, 1, 50, 100, 150, 250, 290, 999, 5000, 10000};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        for (int64_t a = 0; a <= 20000; a++) {
            int64_t num = a * rates[r];
            int64_t q = num / 10000, rem = num % 10000;
            if (rem * 2 > 10000 || (rem * 2 == 10000 && q % 2 == 1)) {
                q++;
            }
            int64_t fee = -1;
            cr_assert_eq(pay_fee_compute(a, rates[r], 0, &fee), PAY_OK);
            cr_assert_eq(fee, q, "%lld at %lld bps", (long long)a, (long long)rates[r]);
        }
    }
}

Test(money, fee_refuses_bad_input)
{
    int64_t fee = 77;
    cr_assert_eq(pay_fee_compute(-1, 100, 0, &fee), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_fee_compute(100, -1, 0, &fee), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_fee_compute(100, 10001, 0, &fee), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_fee_compute(100, 100, -5, &fee), PAY_ERR_AMOUNT_INVALID);
    cr_assert_eq(pay_fee_compute(INT64_MAX, 10000, INT64_MAX, &fee), PAY_ERR_OVERFLOW);
    cr_assert_eq(fee, 77, "left alone on failure");
    cr_assert_eq(pay_fee_compute(INT64_MAX, 10000, 0, &fee), PAY_OK);
    cr_assert_eq(fee, INT64_MAX);
}

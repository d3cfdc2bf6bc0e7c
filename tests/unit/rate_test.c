/*
 * rate_test.c - src/http/rate.c: option parsing, token buckets (burst,
 * refill, Retry-After), separate callers, the table bound.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "http/http_int.h"

#define SEC 1000000LL

Test(rate, parse)
{
    struct pay_rate_limit l;
    cr_assert_eq(pay_rate_parse("10:20", &l), PAY_OK);
    cr_assert_eq(l.per_s, 10);
    cr_assert_eq(l.burst, 20);
    cr_assert_eq(pay_rate_parse("5", &l), PAY_OK);
    cr_assert_eq(l.burst, 5, "burst defaults to the rate");
    cr_assert_eq(pay_rate_parse("0", &l), PAY_OK);
    cr_assert_eq(l.per_s, 0);
    cr_assert_eq(pay_rate_parse(NULL, &l), PAY_OK);
    cr_assert_eq(l.per_s, 0);
    const char *bad[] = {"x", "-1", "10:", "10:0", "10:x", "1.5", "10:20:30", "99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(pay_rate_parse(bad[i], &l), PAY_ERR_CONFIG, "%s", bad[i]);
    }
}

Test(rate, off_allows_everything)
{
    struct pay_rate_limit l = {0, 0};
    struct pay_rate_table *t = pay_rate_table_new(&l);
    cr_assert_null(t);
    int64_t retry = -1;
    for (int i = 0; i < 1000; i++) {
        cr_assert(pay_rate_take(t, "a", i, &retry));
    }
    cr_assert_eq(retry, 0);
}

Test(rate, burst_then_refill)
{
    struct pay_rate_limit l = {2, 5};
    struct pay_rate_table *t = pay_rate_table_new(&l);
    cr_assert_not_null(t);
    int64_t now = 1000 * SEC;
    int64_t retry = 0;
    for (int i = 0; i < 5; i++) {
        cr_assert(pay_rate_take(t, "k", now, &retry), "request %d of the burst", i);
    }
    cr_assert_not(pay_rate_take(t, "k", now, &retry));
    cr_assert_eq(retry, 1, "one token comes back within a second at 2/s");
    /* Half a second later one token is back (2 per second), not two. */
    cr_assert(pay_rate_take(t, "k", now + SEC / 2, &retry));
    cr_assert_not(pay_rate_take(t, "k", now + SEC / 2, &retry));
    /* A long pause refills to the burst, never beyond. */
    now += 3600 * SEC;
    for (int i = 0; i < 5; i++) {
        cr_assert(pay_rate_take(t, "k", now, &retry));
    }
    cr_assert_not(pay_rate_take(t, "k", now, &retry));
    pay_rate_table_free(t);
}

Test(rate, retry_after_rounds_up)
{
    struct pay_rate_limit l = {1, 1};
    struct pay_rate_table *t = pay_rate_table_new(&l);
    int64_t retry = 0;
    cr_assert(pay_rate_take(t, "k", 0, &retry));
    cr_assert_not(pay_rate_take(t, "k", 1, &retry));
    cr_assert_eq(retry, 1);
    cr_assert_not(pay_rate_take(t, "k", SEC - 1, &retry));
    cr_assert_eq(retry, 1, "never 0: a client told to retry at once would spin");
    cr_assert(pay_rate_take(t, "k", SEC, &retry));
    pay_rate_table_free(t);
}

Test(rate, callers_are_separate)
{
    struct pay_rate_limit l = {1, 1};
    struct pay_rate_table *t = pay_rate_table_new(&l);
    int64_t retry = 0;
    cr_assert(pay_rate_take(t, "a", 0, &retry));
    cr_assert_not(pay_rate_take(t, "a", 0, &retry));
    cr_assert(pay_rate_take(t, "b", 0, &retry));
    cr_assert(pay_rate_take(t, NULL, 0, &retry), "no key: nothing to count against");
    cr_assert_eq(pay_rate_table_size(t), 2);
    pay_rate_table_free(t);
}

Test(rate, table_stays_bounded)
{
    struct pay_rate_limit l = {1, 2};
    struct pay_rate_table *t = pay_rate_table_new(&l);
    int64_t retry = 0;
    char key[32];
    for (int i = 0; i < PAY_RATE_ENTRIES_MAX + 100; i++) {
        snprintf(key, sizeof(key), "addr-%d", i);
        cr_assert(pay_rate_take(t, key, 0, &retry));
    }
    cr_assert_leq(pay_rate_table_size(t), PAY_RATE_ENTRIES_MAX);
    /* Once the first callers have refilled, they are forgotten for new ones. */
    cr_assert(pay_rate_take(t, "newcomer", 10 * SEC, &retry));
    cr_assert_leq(pay_rate_table_size(t), PAY_RATE_ENTRIES_MAX);
    cr_assert(pay_rate_take(t, "newcomer", 10 * SEC, &retry));
    cr_assert_not(pay_rate_take(t, "newcomer", 10 * SEC, &retry), "the newcomer is tracked");
    pay_rate_table_free(t);
}

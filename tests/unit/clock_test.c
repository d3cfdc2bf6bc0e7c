/* clock_test.c - the injectable clock. */
#include <criterion/criterion.h>
#include <time.h>

#include "core/core.h"

Test(clock, real_fixed_offset)
{
    int64_t real = (int64_t)time(NULL);
    cr_assert_leq(llabs(pay_now() - real), 2);
    pay_clock_set_fixed(1700000000);
    cr_assert_eq(pay_now(), 1700000000);
    pay_clock_set_fixed(0);
    pay_clock_set_offset(3600);
    cr_assert_leq(llabs(pay_now() - (real + 3600)), 2);
    pay_clock_set_offset(0);
    cr_assert_leq(llabs(pay_now() - real), 2);
}

Test(clock, monotonic_moves_forward)
{
    int64_t a = pay_monotonic_us();
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t b = pay_monotonic_us();
    cr_assert_geq(b - a, 2000);
}

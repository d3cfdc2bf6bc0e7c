/* assert_test.c - PAY_ASSERT stops the process. */
#include <criterion/criterion.h>
#include <signal.h>

#include "core/core.h"

Test(assert, true_passes)
{
    int x = 1;
    PAY_ASSERT(x == 1);
    cr_assert_eq(x, 1);
}

Test(assert, false_aborts, .signal = SIGABRT)
{
    volatile int x = 1;
    PAY_ASSERT(x == 2);
}

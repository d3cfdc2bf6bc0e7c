/* list_test.c - list argument defaults. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

Test(list, args_init)
{
    struct pay_list_args a;
    memset(&a, 0x5a, sizeof(a));
    pay_list_args_init(&a);
    cr_assert_eq(a.limit, PAY_LIST_LIMIT_DEFAULT);
    cr_assert_null(a.starting_after);
    cr_assert_null(a.ending_before);
    cr_assert_eq(a.created_gte, INT64_MIN);
    cr_assert_eq(a.created_gt, INT64_MIN);
    cr_assert_eq(a.created_lte, INT64_MAX);
    cr_assert_eq(a.created_lt, INT64_MAX);
}

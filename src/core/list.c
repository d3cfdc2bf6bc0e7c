/*
 * list.c - defaults of list endpoint arguments (Stripe's cursor pagination).
 *
 * Invariants: an initialised struct pay_list_args has a limit within
 * 1..PAY_LIST_LIMIT_MAX and open created bounds. Threading: pure.
 */
#include "core/core.h"

void pay_list_args_init(struct pay_list_args *a)
{
    a->limit = PAY_LIST_LIMIT_DEFAULT;
    a->starting_after = NULL;
    a->ending_before = NULL;
    a->created_gte = INT64_MIN;
    a->created_gt = INT64_MIN;
    a->created_lte = INT64_MAX;
    a->created_lt = INT64_MAX;
}

/*
 * momo_intents.c - payment intents paid by mobile money (issue 6).
 * Skeleton: not available yet.
 */
#include "payments_int.h"

enum pay_err pay_momo_begin(struct pay_op *op, struct pay_intent_row *row,
                            const struct pay_route_choice *route)
{
    (void)row;
    (void)route;
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method_types",
                         "Mobile money payments are not available yet.");
}

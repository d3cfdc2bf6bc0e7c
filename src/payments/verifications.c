/*
 * verifications.c - manual tenders and fraud reviews wait for a second
 * staff member (issue 6). Skeleton: not available yet.
 */
#include "payments_int.h"

enum pay_err pay_verification_open(struct pay_op *op, struct pay_intent_row *row,
                                   const char *kind, const struct pay_route_choice *route)
{
    (void)row;
    (void)kind;
    (void)route;
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method_types",
                         "Payments that need verification are not available yet.");
}

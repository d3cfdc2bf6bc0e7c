/*
 * risk.c - limits and fraud scoring of payment attempts (issue 6).
 * Skeleton: approves everything.
 */
#include <string.h>

#include "payments_int.h"

enum pay_err pay_risk_assess(struct pay_op *op, struct pay_intent_row *row,
                             const struct pay_pm_charge *pm, const struct pay_route_choice *route,
                             struct pay_risk_verdict *out)
{
    (void)op;
    (void)row;
    (void)pm;
    (void)route;
    memset(out, 0, sizeof(*out));
    out->decision = PAY_RISK_APPROVE;
    return PAY_OK;
}

enum pay_err pay_risk_outcome(struct pay_op *op, const char *attempt_id, const char *outcome)
{
    (void)op;
    (void)attempt_id;
    (void)outcome;
    return PAY_OK;
}

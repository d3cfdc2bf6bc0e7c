/*
 * providers.c - routing of payment attempts to providers, and their fees
 * (issue 6). Skeleton: the built-in defaults only (no provider table yet):
 * cards go to their payment method's connector (or stripe), manual tenders
 * to the manual connector, fee 0.
 */
#include <string.h>

#include "payments_int.h"

static const char *const tenders[] = {"card",          "mobile_wallet", "cash", "cheque",
                                      "bank_transfer", "bank_draft",    NULL};

bool pay_tender_valid(const char *s)
{
    for (size_t i = 0; s != NULL && tenders[i] != NULL; i++) {
        if (strcmp(s, tenders[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool pay_tender_manual(const char *s)
{
    return pay_tender_valid(s) && strcmp(s, PAY_TENDER_CARD) != 0 &&
           strcmp(s, PAY_TENDER_MOBILE_WALLET) != 0;
}

void pay_route_choice_release(struct pay_route_choice *c)
{
    json_decref(c->config);
    c->config = NULL;
}

enum pay_err pay_route_pick(struct pay_op *op, struct pay_intent_row *row, const char *tender,
                            const char *after_provider, struct pay_route_choice *out)
{
    memset(out, 0, sizeof(*out));
    if (after_provider != NULL) {
        return PAY_ERR_NOT_FOUND; /* the built-in default has no next */
    }
    snprintf(out->tender, sizeof(out->tender), "%s", tender);
    if (strcmp(tender, PAY_TENDER_CARD) == 0) {
        snprintf(out->connector, sizeof(out->connector), "%s",
                 row->connector[0] ? row->connector : "sandbox");
        return PAY_OK;
    }
    if (pay_tender_manual(tender)) {
        snprintf(out->connector, sizeof(out->connector), "%s", PAY_CONNECTOR_MANUAL);
        out->manual_verification = true;
        return PAY_OK;
    }
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method_types",
                         "No active provider takes payment method type '%s'.", tender);
}

enum pay_err pay_route_apply(struct pay_op *op, struct pay_intent_row *row,
                             const struct pay_route_choice *c)
{
    (void)op;
    snprintf(row->connector, sizeof(row->connector), "%s", c->connector);
    return PAY_OK;
}

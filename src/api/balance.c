/*
 * balance.c - GET /v1/balance and the balance transactions (Stripe's
 * shapes), read from the ledger. Read-only routes in a read snapshot.
 *
 * Access: staff, admin and auditors; a patient's token has no business
 * with the merchant's balance (403, the route itself is not secret).
 */
#include "api_int.h"

static enum pay_err balance_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    json_t *bal = NULL;
    PAY_TRY(pay_ledger_balance(req->tx, &bal, &req->err));
    pay_resp_json(req, 200, bal);
    return PAY_OK;
}

static enum pay_err bt_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "type", "source", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *type = NULL, *source = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "type", false, 64, &type, NULL));
    PAY_TRY(pay_arg_str(req, req->query, "source", false, PAY_ID_LEN_MAX, &source, NULL));
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_ledger_bt_list(req->tx, type, source, &args, &data, &has_more, &req->err));
    pay_api_list(req, "/v1/balance_transactions", data, has_more);
    return PAY_OK;
}

static enum pay_err bt_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    json_t *bt = NULL;
    PAY_TRY(pay_ledger_bt_get(req->tx, req->params[0], &bt, &req->err));
    pay_resp_json(req, 200, bt);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(balance) = {
    {"GET", "/v1/balance", balance_get, PAY_ROLES_READ_ALL, 0, "Retrieve the balance"},
    {"GET", "/v1/balance_transactions", bt_list, PAY_ROLES_READ_ALL, 0,
     "List balance transactions"},
    {"GET", "/v1/balance_transactions/:id", bt_get, PAY_ROLES_READ_ALL, 0,
     "Retrieve a balance transaction"},
};
PAY_API_ROUTES_COUNT(balance);

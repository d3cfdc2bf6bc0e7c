/*
 * risk.c - /v1/blocklist_entries (admin: create, retrieve, list, delete)
 * and /v1/payment_attempts (staff, admin, auditor: every payment attempt
 * with its risk score, reasons and decision). Domain code:
 * src/payments/risk.c.
 *
 * Patients never see risk data: neither route admits their role, and the
 * intent object carries no score.
 */
#include "../payments/risk.h"
#include "api_int.h"

static const char *const types[] = {"card_fingerprint", "email", "client_address", NULL};

static enum pay_err blocklist_create(struct pay_request *req)
{
    static const char *const allowed[] = {"type", "value", "description", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *type = NULL, *value = NULL, *description = NULL;
    PAY_TRY(pay_arg_enum(req, req->body, "type", true, types, &type, NULL));
    PAY_TRY(pay_arg_str(req, req->body, "value", true, PAY_RISK_VALUE_LEN_MAX, &value, NULL));
    PAY_TRY(pay_arg_str(req, req->body, "description", false, PAY_RISK_DESCRIPTION_LEN_MAX,
                        &description, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_blocklist_create(&op, type, value, description, &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err blocklist_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_blocklist_get(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err blocklist_delete(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_blocklist_delete(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err blocklist_list(struct pay_request *req)
{
    static const char *const allowed[] = {"limit",   "starting_after", "ending_before",
                                          "created", "type",           NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *type = NULL;
    PAY_TRY(pay_arg_enum(req, req->query, "type", false, types, &type, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_blocklist_list(&op, type, &args, &data, &has_more));
    pay_api_list(req, "/v1/blocklist_entries", data, has_more);
    return PAY_OK;
}

static enum pay_err attempts_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "payment_intent", "customer", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *intent = NULL, *customer = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "payment_intent", false, PAY_ID_LEN_MAX, &intent, NULL));
    PAY_TRY(pay_arg_str(req, req->query, "customer", false, PAY_ID_LEN_MAX, &customer, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_risk_attempt_list(&op, intent && intent[0] ? intent : NULL,
                                  customer && customer[0] ? customer : NULL, &args, &data,
                                  &has_more));
    pay_api_list(req, "/v1/payment_attempts", data, has_more);
    return PAY_OK;
}

static enum pay_err attempts_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_risk_attempt_get(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(risk) = {
    {"POST", "/v1/blocklist_entries", blocklist_create, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Add a value to the blocklist"},
    {"GET", "/v1/blocklist_entries", blocklist_list, PAY_ROLE_ADMIN, 0, "List blocklist entries"},
    {"GET", "/v1/blocklist_entries/:id", blocklist_get, PAY_ROLE_ADMIN, 0,
     "Retrieve a blocklist entry"},
    {"DELETE", "/v1/blocklist_entries/:id", blocklist_delete, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Remove a value from the blocklist"},
    {"GET", "/v1/payment_attempts", attempts_list, PAY_ROLES_READ_ALL, 0,
     "List payment attempts with their risk scores"},
    {"GET", "/v1/payment_attempts/:id", attempts_get, PAY_ROLES_READ_ALL, 0,
     "Retrieve a payment attempt"},
};
PAY_API_ROUTES_COUNT(risk);

/*
 * refunds.c - /v1/refunds: parse, call the domain (src/payments/refunds.c),
 * answer.
 *
 * Access: admin and staff create, update and cancel; auditors read; a
 * patient's token reads only the refunds of its own customer's intents
 * (others answer 404).
 */
#include <string.h>

#include "api_int.h"

static const char *const reasons[] = {"duplicate", "fraudulent", "requested_by_customer", NULL};

static enum pay_err answer(struct pay_request *req, enum pay_err e, json_t *obj)
{
    if (e != PAY_OK) {
        json_decref(obj);
        return e;
    }
    pay_resp_json(req, 200, obj);
    return PAY_OK;
}

static enum pay_err answer_op(struct pay_request *req, struct pay_op *op, enum pay_err e,
                              json_t *obj)
{
    (void)op;
    return answer(req, e, obj);
}

static enum pay_err refund_create(struct pay_request *req)
{
    static const char *const allowed[] = {"payment_intent", "amount", "reason", "metadata", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_refund_params p = {0};
    PAY_TRY(pay_arg_str(req, req->body, "payment_intent", true, PAY_ID_LEN_MAX, &p.payment_intent,
                        NULL));
    PAY_TRY(pay_arg_amount(req, req->body, "amount", false, 1, &p.amount_minor, &p.has_amount));
    PAY_TRY(pay_arg_enum(req, req->body, "reason", false, reasons, &p.reason, NULL));
    json_t *metadata = NULL;
    PAY_TRY(pay_arg_metadata(req, req->body, "metadata", &metadata));
    p.metadata = metadata;
    struct pay_op op = pay_api_op(req);
    struct pay_provider_call call;
    memset(&call, 0, sizeof(call));
    op.call = &call;
    json_t *obj = NULL;
    enum pay_err e = pay_refund_create(&op, &p, &obj);
    json_decref(metadata);
    return pay_api_defer_call(req, &call, answer(req, e, obj), answer_op);
}

static enum pay_err refund_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_refund_get(&op, req->params[0], &obj);
    return answer(req, e, obj);
}

static enum pay_err refund_update(struct pay_request *req)
{
    static const char *const allowed[] = {"metadata", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    json_t *metadata = NULL;
    const json_t *md = json_object_get(req->body, "metadata");
    bool clear = json_is_string(md) && json_string_length(md) == 0; /* metadata="" */
    if (!clear) {
        PAY_TRY(pay_arg_metadata(req, req->body, "metadata", &metadata));
    }
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_refund_update(&op, req->params[0], metadata, clear, &obj);
    json_decref(metadata);
    return answer(req, e, obj);
}

static enum pay_err refund_cancel(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_refund_cancel(&op, req->params[0], &obj);
    return answer(req, e, obj);
}

static enum pay_err refund_list(struct pay_request *req)
{
    static const char *const allowed[] = {"limit",   "starting_after", "ending_before",
                                          "created", "payment_intent", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *pi = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "payment_intent", false, PAY_ID_LEN_MAX, &pi, NULL));
    if (pi != NULL && pi[0] == '\0') {
        pi = NULL;
    }
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_refund_list(&op, pi, &args, &data, &has_more));
    pay_api_list(req, "/v1/refunds", data, has_more);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(refunds) = {
    {"POST", "/v1/refunds", refund_create, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "Create a refund"},
    {"GET", "/v1/refunds", refund_list, PAY_ROLES_ALL, 0, "List refunds"},
    {"GET", "/v1/refunds/:id", refund_get, PAY_ROLES_ALL, 0, "Retrieve a refund"},
    {"POST", "/v1/refunds/:id", refund_update, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "Update a refund"},
    {"POST", "/v1/refunds/:id/cancel", refund_cancel, PAY_ROLES_STAFF, PAY_ROUTE_WRITE,
     "Cancel a refund"},
};
PAY_API_ROUTES_COUNT(refunds);

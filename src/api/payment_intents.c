/*
 * payment_intents.c - /v1/payment_intents: parse and range-check the
 * request, call the domain (src/payments/payment_intents.c), answer.
 *
 * Access: admin and staff do everything; auditors read; a patient's token
 * creates, confirms, retrieves, lists and cancels only its own customer's
 * intents (others answer 404) and may not update or capture them.
 *
 * A decline answers 402 with Stripe's card_error envelope, which also
 * carries the intent ("payment_intent") and Stripe's own code
 * ("expired_card", "incorrect_cvc", ...). The http layer renders error
 * returns from req->err alone, so this file renders that envelope itself
 * and returns PAY_OK: the response (and the recorded attempt) is committed
 * and stored for idempotent replay like any other answer.
 */
#include <string.h>

#include "api_int.h"
#include "momo_api.h"

static const char *const capture_methods[] = {"automatic", "manual", NULL};
static const char *const future_usages[] = {"on_session", "off_session", "", NULL};
static const char *const statuses[] = {"requires_payment_method",
                                       "requires_confirmation",
                                       "requires_action",
                                       "requires_verification",
                                       "processing",
                                       "requires_capture",
                                       "succeeded",
                                       "canceled",
                                       NULL};
static const char *const cancellation_reasons[] = {"duplicate", "fraudulent",
                                                   "requested_by_customer", "abandoned", NULL};

/* The same limits as a customer's fields (payments.h). */
#define EMAIL_LEN_MAX PAY_CUSTOMER_EMAIL_LEN_MAX
#define DESCRIPTION_LEN_MAX PAY_CUSTOMER_DESCRIPTION_LEN_MAX
#define FACILITY_LEN_MAX PAY_FACILITY_LEN_MAX
/* A return_url: browsers handle 2 KiB URLs everywhere. */
#define URL_LEN_MAX 2048

/* payment_method_types: a non-empty array of distinct tender types. */
static enum pay_err check_pm_types(struct pay_request *req, const json_t *src,
                                   struct pay_intent_params *p)
{
    const json_t *v = json_object_get(src, "payment_method_types");
    if (v == NULL || json_is_null(v)) {
        return PAY_OK;
    }
    size_t i;
    const json_t *t;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 6) {
        goto out_invalid;
    }
    json_array_foreach(v, i, t)
    {
        if (!json_is_string(t) || !pay_tender_valid(json_string_value(t))) {
            goto out_invalid;
        }
        for (size_t k = 0; k < i; k++) {
            if (json_equal(json_array_get(v, k), t)) {
                goto out_invalid;
            }
        }
    }
    p->payment_method_types = v;
    return PAY_OK;
out_invalid:
    return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "payment_method_types",
                         "Invalid payment_method_types: a list of distinct types among card, "
                         "mobile_wallet, cash, cheque, bank_transfer, bank_draft.");
}

static enum pay_err parse_email(struct pay_request *req, const json_t *src,
                                struct pay_intent_params *p)
{
    const char *s = NULL;
    PAY_TRY(
        pay_arg_str(req, src, "receipt_email", false, EMAIL_LEN_MAX, &s, &p->has_receipt_email));
    if (s != NULL && s[0] != '\0') {
        const char *at = strchr(s, '@');
        if (at == NULL || at == s || at[1] == '\0' || strpbrk(s, " \t\r\n<>\"") != NULL) {
            return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "receipt_email",
                                 "Invalid email address: %s", s);
        }
    }
    p->receipt_email = s && s[0] ? s : NULL;
    return PAY_OK;
}

/*
 * Read every field create/update/confirm may carry (pay_args_allow has
 * already refused the others). *metadata_out is owned by the caller.
 */
static enum pay_err parse_params(struct pay_request *req, struct pay_intent_params *p,
                                 json_t **metadata_out)
{
    const json_t *b = req->body;
    memset(p, 0, sizeof(*p));
    *metadata_out = NULL;
    PAY_TRY(pay_arg_amount(req, b, "amount", false, 1, &p->amount_minor, &p->has_amount));
    PAY_TRY(pay_arg_currency(req, b, "currency", false, &p->currency, NULL));
    PAY_TRY(pay_arg_str(req, b, "customer", false, PAY_ID_LEN_MAX, &p->customer, NULL));
    PAY_TRY(pay_arg_str(req, b, "payment_method", false, 64, &p->payment_method, NULL));
    PAY_TRY(
        pay_arg_enum(req, b, "capture_method", false, capture_methods, &p->capture_method, NULL));
    PAY_TRY(pay_arg_str(req, b, "description", false, DESCRIPTION_LEN_MAX, &p->description,
                        &p->has_description));
    if (p->description != NULL && p->description[0] == '\0') {
        p->description = NULL;
    }
    PAY_TRY(parse_email(req, b, p));
    PAY_TRY(pay_arg_enum(req, b, "setup_future_usage", false, future_usages, &p->setup_future_usage,
                         NULL));
    PAY_TRY(pay_arg_str(req, b, "facility", false, FACILITY_LEN_MAX, &p->facility, NULL));
    PAY_TRY(pay_arg_str(req, b, "return_url", false, URL_LEN_MAX, &p->return_url, NULL));
    PAY_TRY(pay_arg_bool(req, b, "confirm", &p->confirm, NULL));
    PAY_TRY(pay_arg_bool(req, b, "off_session", &p->off_session, NULL));
    PAY_TRY(check_pm_types(req, b, p));
    if (p->customer != NULL && p->customer[0] == '\0') {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "customer",
                             "Invalid customer: must be a customer id.");
    }
    if (p->payment_method != NULL && p->payment_method[0] == '\0') {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "payment_method",
                             "Invalid payment_method: must be a payment method id.");
    }
    if (p->return_url != NULL && p->return_url[0] == '\0') {
        p->return_url = NULL;
    }
    const json_t *md = json_object_get(b, "metadata");
    if (json_is_string(md) && json_string_length(md) == 0) {
        p->metadata_clear = true; /* Stripe: metadata="" unsets every key */
    } else {
        PAY_TRY(pay_arg_metadata(req, b, "metadata", metadata_out));
        p->metadata = *metadata_out;
    }
    return PAY_OK;
}

/*
 * Replace the ids named by expand[] with their objects (best effort).
 * @prefix is "" for one intent and "data." for each intent of a list
 * (Stripe's expand[]=data.customer). latest_charge may be asked for and
 * stays null: payd has no Charge objects.
 */
static void expand_paths(struct pay_request *req, struct pay_op *op, json_t *obj,
                         const char *prefix)
{
    char path[32];
    const char *customer = pay_json_str(obj, "customer");
    snprintf(path, sizeof(path), "%scustomer", prefix);
    if (customer != NULL && pay_arg_expands(req, path)) {
        json_t *c = NULL;
        if (pay_customer_get(op, customer, &c) == PAY_OK) {
            json_object_set_new_nocheck(obj, "customer", c);
        }
    }
    const char *pm = pay_json_str(obj, "payment_method");
    snprintf(path, sizeof(path), "%spayment_method", prefix);
    if (pm != NULL && pay_arg_expands(req, path)) {
        json_t *m = NULL;
        if (pay_payment_method_get(op, pm, &m) == PAY_OK) {
            json_object_set_new_nocheck(obj, "payment_method", m);
        }
    }
    pay_error_clear(&req->err);
}

static void expand(struct pay_request *req, struct pay_op *op, json_t *obj)
{
    expand_paths(req, op, obj, "");
}

/*
 * Answer the outcome @e of a domain call that produced @obj (stolen). A
 * recorded decline becomes Stripe's 402 card_error with the intent inside.
 */
static enum pay_err answer(struct pay_request *req, struct pay_op *op, enum pay_err e, json_t *obj)
{
    if (e == PAY_OK && obj != NULL) {
        expand(req, op, obj);
        pay_resp_json(req, 200, obj);
        return PAY_OK;
    }
    if (e == PAY_ERR_CARD_DECLINED && obj != NULL) {
        json_t *body = pay_http_error_body(&req->err);
        json_t *error = json_object_get(body, "error");
        if (error == NULL) {
            json_decref(body);
            json_decref(obj);
            return e;
        }
        const char *code = pay_json_str(json_object_get(obj, "last_payment_error"), "code");
        if (code != NULL) {
            /* Stripe's code for this decline, richer than payd's enum. */
            json_object_set_new_nocheck(error, "code", json_string(code));
        }
        json_t *lpe = json_object_get(obj, "last_payment_error");
        const char *doc_url = pay_json_str(lpe, "doc_url");
        if (doc_url != NULL) {
            json_object_set_new_nocheck(error, "doc_url", json_string(doc_url));
        }
        json_object_set_nocheck(error, "payment_method", json_object_get(lpe, "payment_method"));
        json_object_set_new_nocheck(error, "payment_intent", obj);
        pay_resp_json(req, 402, body);
        return PAY_OK;
    }
    json_decref(obj);
    return e;
}

static const char *const create_allowed[] = {"amount",
                                             "currency",
                                             "customer",
                                             "payment_method",
                                             "capture_method",
                                             "confirm",
                                             "description",
                                             "metadata",
                                             "receipt_email",
                                             "setup_future_usage",
                                             "facility",
                                             "return_url",
                                             "payment_method_types",
                                             "off_session",
                                             "provider",
                                             "payment_method_data",
                                             NULL};

/*
 * payment_method_data[type]=mobile_wallet with
 * payment_method_data[mobile_wallet][phone]: a new mobile_wallet payment
 * method for this intent (mobile money, issue 6); @pm_id holds its id.
 */
static enum pay_err wallet_pm(struct pay_request *req, struct pay_op *op,
                              struct pay_intent_params *p, char pm_id[PAY_ID_LEN_MAX + 1])
{
    static const char *const types[] = {"mobile_wallet", NULL};
    static const char *const keys[] = {"type", "mobile_wallet", NULL};
    static const char *const wallet_keys[] = {"phone", NULL};
    const json_t *pmd = json_object_get(req->body, "payment_method_data");
    if (pmd == NULL || json_is_null(pmd)) {
        return PAY_OK;
    }
    if (!json_is_object(pmd)) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "payment_method_data",
                             "Invalid payment_method_data: an object.");
    }
    if (p->payment_method != NULL) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "payment_method_data",
                             "Pass either payment_method or payment_method_data, not both.");
    }
    PAY_TRY(pay_args_allow(req, pmd, keys));
    const char *type = NULL;
    PAY_TRY(pay_arg_enum(req, req->body, "payment_method_data[type]", true, types, &type, NULL));
    const json_t *mw = json_object_get(pmd, "mobile_wallet");
    if (mw != NULL && json_is_object(mw)) {
        PAY_TRY(pay_args_allow(req, mw, wallet_keys));
    }
    const char *phone = NULL;
    PAY_TRY(pay_arg_str(req, req->body, "payment_method_data[mobile_wallet][phone]", true, 32,
                        &phone, NULL));
    PAY_TRY(pay_momo_pm_create(op, phone, "payment_method_data[mobile_wallet][phone]", pm_id));
    p->payment_method = pm_id;
    return PAY_OK;
}

static enum pay_err intent_create(struct pay_request *req)
{
    PAY_TRY(pay_args_allow(req, req->body, create_allowed));
    struct pay_intent_params p;
    json_t *metadata = NULL;
    enum pay_err e = parse_params(req, &p, &metadata);
    if (e == PAY_OK) {
        /* payd's own parameter: which connector takes the payment. */
        e = pay_arg_str(req, req->body, "provider", false, 32, &p.provider, NULL);
    }
    json_t *obj = NULL;
    struct pay_op op = pay_api_op(req);
    struct pay_provider_call call;
    memset(&call, 0, sizeof(call));
    op.call = &call;
    char wallet_pm_id[PAY_ID_LEN_MAX + 1] = "";
    if (e == PAY_OK) {
        e = wallet_pm(req, &op, &p, wallet_pm_id);
    }
    if (e == PAY_OK) {
        e = pay_intent_create(&op, &p, &obj);
    }
    json_decref(metadata);
    e = pay_api_momo_defer(req, &call, answer(req, &op, e, obj), answer);
    return pay_api_defer_call(req, &call, e, answer);
}

static enum pay_err intent_get(struct pay_request *req)
{
    static const char *const allowed[] = {"client_secret", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_intent_get(&op, req->params[0], &obj);
    return answer(req, &op, e, obj);
}

static const char *const update_allowed[] = {"amount",
                                             "currency",
                                             "customer",
                                             "description",
                                             "metadata",
                                             "payment_method",
                                             "receipt_email",
                                             "setup_future_usage",
                                             "capture_method",
                                             "facility",
                                             "payment_method_types",
                                             NULL};

static enum pay_err intent_update(struct pay_request *req)
{
    PAY_TRY(pay_args_allow(req, req->body, update_allowed));
    struct pay_intent_params p;
    json_t *metadata = NULL;
    enum pay_err e = parse_params(req, &p, &metadata);
    json_t *obj = NULL;
    struct pay_op op = pay_api_op(req);
    if (e == PAY_OK) {
        e = pay_intent_update(&op, req->params[0], &p, &obj);
    }
    json_decref(metadata);
    return answer(req, &op, e, obj);
}

static const char *const confirm_allowed[] = {
    "payment_method", "return_url",          "off_session",
    "receipt_email",  "setup_future_usage",  "payment_method_types",
    "client_secret",  "payment_method_data", NULL};

static enum pay_err intent_confirm(struct pay_request *req)
{
    PAY_TRY(pay_args_allow(req, req->body, confirm_allowed));
    struct pay_intent_params p;
    json_t *metadata = NULL;
    enum pay_err e = parse_params(req, &p, &metadata);
    json_t *obj = NULL;
    struct pay_op op = pay_api_op(req);
    struct pay_provider_call call;
    memset(&call, 0, sizeof(call));
    op.call = &call;
    char wallet_pm_id[PAY_ID_LEN_MAX + 1] = "";
    if (e == PAY_OK) {
        e = wallet_pm(req, &op, &p, wallet_pm_id);
    }
    if (e == PAY_OK) {
        e = pay_intent_confirm(&op, req->params[0], &p, &obj);
    }
    json_decref(metadata);
    e = pay_api_momo_defer(req, &call, answer(req, &op, e, obj), answer);
    return pay_api_defer_call(req, &call, e, answer);
}

static enum pay_err intent_capture(struct pay_request *req)
{
    static const char *const allowed[] = {"amount_to_capture", "metadata", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    int64_t amount = 0;
    bool has_amount = false;
    PAY_TRY(pay_arg_amount(req, req->body, "amount_to_capture", false, 1, &amount, &has_amount));
    json_t *metadata = NULL;
    const json_t *md = json_object_get(req->body, "metadata");
    bool clear = json_is_string(md) && json_string_length(md) == 0;
    if (!clear) {
        PAY_TRY(pay_arg_metadata(req, req->body, "metadata", &metadata));
    }
    struct pay_op op = pay_api_op(req);
    struct pay_provider_call call;
    memset(&call, 0, sizeof(call));
    op.call = &call;
    json_t *obj = NULL;
    enum pay_err e = pay_intent_capture(&op, req->params[0], has_amount, amount, &obj);
    if (e == PAY_OK && (metadata != NULL || clear)) {
        /* Stripe lets capture set metadata; an update in the same transaction. */
        json_decref(obj);
        obj = NULL;
        struct pay_intent_params p = {.metadata = metadata, .metadata_clear = clear};
        e = pay_intent_update(&op, req->params[0], &p, &obj);
    }
    json_decref(metadata);
    return pay_api_defer_call(req, &call, answer(req, &op, e, obj), answer);
}

static enum pay_err intent_cancel(struct pay_request *req)
{
    static const char *const allowed[] = {"cancellation_reason", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *reason = NULL;
    PAY_TRY(pay_arg_enum(req, req->body, "cancellation_reason", false, cancellation_reasons,
                         &reason, NULL));
    struct pay_op op = pay_api_op(req);
    struct pay_provider_call call;
    memset(&call, 0, sizeof(call));
    op.call = &call;
    json_t *obj = NULL;
    enum pay_err e = pay_intent_cancel(&op, req->params[0], reason, &obj);
    return pay_api_defer_call(req, &call, answer(req, &op, e, obj), answer);
}

static enum pay_err intent_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "customer", "status", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *customer = NULL, *status = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "customer", false, PAY_ID_LEN_MAX, &customer, NULL));
    PAY_TRY(pay_arg_enum(req, req->query, "status", false, statuses, &status, NULL));
    if (customer != NULL && customer[0] == '\0') {
        customer = NULL;
    }
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    if (!pay_arg_expands(req, "data.customer") && !pay_arg_expands(req, "data.payment_method")) {
        /* Nothing to expand: the stored objects are the answer, spliced as
         * they are (pay_api_list_text) rather than parsed and dumped again. */
        struct pay_buf items;
        pay_buf_init(&items, PAY_LIST_TEXT_MAX);
        /* A page of stored intents is about 1.1 KB each: grow in few steps. */
        enum pay_err e = pay_buf_reserve(&items, (size_t)args.limit * 1024);
        if (e == PAY_OK) {
            e = pay_intent_list_text(&op, customer, status, &args, &items, &has_more);
        }
        if (e == PAY_OK) {
            e = pay_api_list_text(req, "/v1/payment_intents", &items, has_more);
        }
        pay_buf_release(&items);
        return e;
    }
    PAY_TRY(pay_intent_list(&op, customer, status, &args, &data, &has_more));
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item)
    {
        expand_paths(req, &op, item, "data.");
    }
    pay_api_list(req, "/v1/payment_intents", data, has_more);
    return PAY_OK;
}

#define ROLES_PAYER (PAY_ROLES_STAFF | PAY_ROLE_PATIENT)

PAY_API_ROUTES_DEFINE(payment_intents) = {
    {"POST", "/v1/payment_intents", intent_create, ROLES_PAYER, PAY_ROUTE_WRITE,
     "Create a payment intent"},
    {"GET", "/v1/payment_intents", intent_list, PAY_ROLES_ALL, 0, "List payment intents"},
    {"GET", "/v1/payment_intents/:id", intent_get, PAY_ROLES_ALL, 0, "Retrieve a payment intent"},
    {"POST", "/v1/payment_intents/:id", intent_update, PAY_ROLES_STAFF, PAY_ROUTE_WRITE,
     "Update a payment intent"},
    {"POST", "/v1/payment_intents/:id/confirm", intent_confirm, ROLES_PAYER, PAY_ROUTE_WRITE,
     "Confirm a payment intent"},
    {"POST", "/v1/payment_intents/:id/capture", intent_capture, PAY_ROLES_STAFF, PAY_ROUTE_WRITE,
     "Capture a payment intent"},
    {"POST", "/v1/payment_intents/:id/cancel", intent_cancel, ROLES_PAYER, PAY_ROUTE_WRITE,
     "Cancel a payment intent"},
};
PAY_API_ROUTES_COUNT(payment_intents);

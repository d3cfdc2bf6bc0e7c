/*
 * payment_methods.c - /v1/payment_methods (Stripe's PaymentMethod API, type
 * card): create from card data or a test token, retrieve, update, attach,
 * detach, list by customer.
 *
 * Card numbers and CVCs pass through here only as borrowed request values
 * handed to the domain, which tokenizes them; nothing here logs or copies
 * them, and error messages never quote them.
 *
 * Access: admin and staff do everything; auditors read; a patient's token
 * creates payment methods, attaches them only to its own customer, and sees,
 * updates, detaches and lists only its own customer's; any other id answers
 * 404.
 */
#include "api_int.h"

#define BILLING_FIELDS                                                                             \
    "billing_details[email]", "billing_details[name]", "billing_details[phone]",                   \
        "billing_details[address][city]", "billing_details[address][country]",                     \
        "billing_details[address][line1]", "billing_details[address][line2]",                      \
        "billing_details[address][postal_code]", "billing_details[address][state]"

/* Card numbers with separators fit easily; the tokenizer judges the rest. */
#define CARD_NUMBER_ARG_LEN_MAX 40
#define CARD_CVC_ARG_LEN_MAX 8
/* Wider than any real expiry, so out-of-range values reach the tokenizer
 * and come back as Stripe's card errors (invalid_expiry_month, ...). */
#define CARD_EXP_ARG_MAX 1000000

/* With expand[]=@path ("customer", or "data.customer" on a list), replace
 * the customer id by the object. */
static enum pay_err expand_customer(struct pay_request *req, struct pay_op *op, json_t *pm,
                                    const char *path)
{
    const char *cid = pay_json_str(pm, "customer");
    if (cid == NULL || !pay_arg_expands(req, path)) {
        return PAY_OK;
    }
    json_t *c = NULL;
    PAY_TRY(pay_customer_get(op, cid, &c));
    json_object_set_new_nocheck(pm, "customer", c);
    return PAY_OK;
}

static enum pay_err respond(struct pay_request *req, struct pay_op *op, json_t *pm)
{
    enum pay_err e = expand_customer(req, op, pm, "customer");
    if (e != PAY_OK) {
        json_decref(pm);
        return e;
    }
    pay_resp_json(req, 200, pm);
    return PAY_OK;
}

/* billing_details, metadata and the card's expiry, shared by create and
 * update; *md_out gets the metadata object (caller releases). */
static enum pay_err parse_common(struct pay_request *req, struct pay_pm_params *p, json_t **md_out)
{
    const json_t *b = req->body;
    *md_out = NULL;
    static const char *const bd_strs[] = {BILLING_FIELDS};
    const json_t *bd = json_object_get(b, "billing_details");
    for (size_t i = 0; json_is_object(bd) && i < sizeof(bd_strs) / sizeof(bd_strs[0]); i++) {
        const char *ignored = NULL;
        size_t max = i == 0   ? PAY_CUSTOMER_EMAIL_LEN_MAX
                     : i == 1 ? PAY_CUSTOMER_NAME_LEN_MAX
                     : i == 2 ? PAY_CUSTOMER_PHONE_LEN_MAX
                              : PAY_ADDRESS_FIELD_LEN_MAX;
        PAY_TRY(pay_arg_str(req, b, bd_strs[i], false, max, &ignored, NULL));
    }
    p->billing_details = bd;
    PAY_TRY(pay_arg_int(req, b, "card[exp_month]", false, -CARD_EXP_ARG_MAX, CARD_EXP_ARG_MAX,
                        &p->exp_month, &p->has_exp_month));
    PAY_TRY(pay_arg_int(req, b, "card[exp_year]", false, -CARD_EXP_ARG_MAX, CARD_EXP_ARG_MAX,
                        &p->exp_year, &p->has_exp_year));
    const json_t *md = json_object_get(b, "metadata");
    if (json_is_string(md) && json_string_length(md) == 0) {
        p->metadata_clear = true;
    } else {
        PAY_TRY(pay_arg_metadata(req, b, "metadata", md_out));
        p->metadata = *md_out;
    }
    return PAY_OK;
}

static enum pay_err pm_create(struct pay_request *req)
{
    static const char *const allowed[] = {"type",           "card[number]", "card[exp_month]",
                                          "card[exp_year]", "card[cvc]",    "card[token]",
                                          "metadata",       BILLING_FIELDS, NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const json_t *b = req->body;
    struct pay_pm_params p = {0};
    static const char *const types[] = {"card", NULL};
    PAY_TRY(pay_arg_enum(req, b, "type", true, types, &p.type, NULL));
    PAY_TRY(
        pay_arg_str(req, b, "card[number]", false, CARD_NUMBER_ARG_LEN_MAX, &p.card_number, NULL));
    PAY_TRY(pay_arg_str(req, b, "card[cvc]", false, CARD_CVC_ARG_LEN_MAX, &p.card_cvc, NULL));
    PAY_TRY(pay_arg_str(req, b, "card[token]", false, PAY_TOKEN_LEN_MAX - 1, &p.card_token, NULL));
    json_t *md = NULL;
    enum pay_err e = parse_common(req, &p, &md);
    json_t *out = NULL;
    struct pay_op op = pay_api_op(req);
    if (e == PAY_OK) {
        e = pay_payment_method_create(&op, &p, &out);
    }
    json_decref(md);
    PAY_TRY(e);
    return respond(req, &op, out);
}

static enum pay_err pm_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_payment_method_retrieve(&op, req->params[0], &out));
    return respond(req, &op, out);
}

static enum pay_err pm_update(struct pay_request *req)
{
    static const char *const allowed[] = {"card[exp_month]", "card[exp_year]", "metadata",
                                          BILLING_FIELDS, NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_pm_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_common(req, &p, &md);
    json_t *out = NULL;
    struct pay_op op = pay_api_op(req);
    if (e == PAY_OK) {
        e = pay_payment_method_update(&op, req->params[0], &p, &out);
    }
    json_decref(md);
    PAY_TRY(e);
    return respond(req, &op, out);
}

static enum pay_err pm_attach(struct pay_request *req)
{
    static const char *const allowed[] = {"customer", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *customer = NULL;
    PAY_TRY(pay_arg_str(req, req->body, "customer", true, 255, &customer, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_payment_method_save(&op, req->params[0], customer, &out));
    return respond(req, &op, out);
}

static enum pay_err pm_detach(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_payment_method_detach(&op, req->params[0], &out));
    return respond(req, &op, out);
}

static enum pay_err pm_list(struct pay_request *req)
{
    static const char *const allowed[] = {"customer",       "type",          "limit",
                                          "starting_after", "ending_before", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *customer = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "customer", true, 255, &customer, NULL));
    static const char *const types[] = {"card", NULL};
    const char *type = NULL;
    PAY_TRY(pay_arg_enum(req, req->query, "type", false, types, &type, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_payment_method_list(&op, customer, type, &args, &data, &has_more));
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item)
    {
        enum pay_err e = expand_customer(req, &op, item, "data.customer");
        if (e != PAY_OK) {
            json_decref(data);
            return e;
        }
    }
    pay_api_list(req, "/v1/payment_methods", data, has_more);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(payment_methods) = {
    {"POST", "/v1/payment_methods", pm_create, PAY_ROLES_STAFF | PAY_ROLE_PATIENT, PAY_ROUTE_WRITE,
     "Create a payment method"},
    {"GET", "/v1/payment_methods", pm_list, PAY_ROLES_ALL, 0, "List a customer's payment methods"},
    {"GET", "/v1/payment_methods/:id", pm_get, PAY_ROLES_ALL, 0, "Retrieve a payment method"},
    {"POST", "/v1/payment_methods/:id", pm_update, PAY_ROLES_STAFF | PAY_ROLE_PATIENT,
     PAY_ROUTE_WRITE, "Update a payment method"},
    {"POST", "/v1/payment_methods/:id/attach", pm_attach, PAY_ROLES_STAFF | PAY_ROLE_PATIENT,
     PAY_ROUTE_WRITE, "Attach a payment method to a customer"},
    {"POST", "/v1/payment_methods/:id/detach", pm_detach, PAY_ROLES_STAFF | PAY_ROLE_PATIENT,
     PAY_ROUTE_WRITE, "Detach a payment method from its customer"},
};
PAY_API_ROUTES_COUNT(payment_methods);

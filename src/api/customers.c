/*
 * customers.c - /v1/customers (Stripe's Customer API plus payd's
 * external_id and facility): create, retrieve, update, delete, list, and
 * the customer's payment methods.
 *
 * Access: admin and staff do everything; auditors read and list; a
 * patient's token retrieves and updates only its own customer (not its
 * external_id or facility) and lists only its own payment methods; any
 * other id answers 404.
 */
#include <stdio.h>

#include "api_int.h"

#define CUSTOMER_FIELDS                                                                            \
    "email", "name", "phone", "description", "metadata", "external_id", "facility",                \
        "address[city]", "address[country]", "address[line1]", "address[line2]",                   \
        "address[postal_code]", "address[state]", "invoice_settings[default_payment_method]"

/* Parse the fields of a create or update into @p; *md_out gets the
 * metadata object (caller releases). */
static enum pay_err parse_customer(struct pay_request *req, struct pay_customer_params *p,
                                   json_t **md_out)
{
    const json_t *b = req->body;
    *md_out = NULL;
    static const struct {
        const char *name;
        size_t max_len;
        size_t off;
    } strs[] = {
        {"email", PAY_CUSTOMER_EMAIL_LEN_MAX, offsetof(struct pay_customer_params, email)},
        {"name", PAY_CUSTOMER_NAME_LEN_MAX, offsetof(struct pay_customer_params, name)},
        {"phone", PAY_CUSTOMER_PHONE_LEN_MAX, offsetof(struct pay_customer_params, phone)},
        {"description", PAY_CUSTOMER_DESCRIPTION_LEN_MAX,
         offsetof(struct pay_customer_params, description)},
        {"external_id", PAY_EXTERNAL_ID_LEN_MAX, offsetof(struct pay_customer_params, external_id)},
        {"facility", PAY_FACILITY_LEN_MAX, offsetof(struct pay_customer_params, facility)},
        {"invoice_settings[default_payment_method]", 255,
         offsetof(struct pay_customer_params, default_payment_method)},
        {"payment_method", 255, offsetof(struct pay_customer_params, payment_method)},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char **dst = (const char **)((char *)p + strs[i].off);
        PAY_TRY(pay_arg_str(req, b, strs[i].name, false, strs[i].max_len, dst, NULL));
    }
    const json_t *addr = json_object_get(b, "address");
    if (addr != NULL) {
        static const char *const lines[] = {"address[city]",        "address[country]",
                                            "address[line1]",       "address[line2]",
                                            "address[postal_code]", "address[state]"};
        for (size_t i = 0; json_is_object(addr) && i < sizeof(lines) / sizeof(lines[0]); i++) {
            const char *ignored = NULL;
            PAY_TRY(
                pay_arg_str(req, b, lines[i], false, PAY_ADDRESS_FIELD_LEN_MAX, &ignored, NULL));
        }
        p->address = addr;
    }
    const json_t *md = json_object_get(b, "metadata");
    if (json_is_string(md) && json_string_length(md) == 0) {
        p->metadata_clear = true; /* Stripe: metadata="" unsets every key */
    } else {
        PAY_TRY(pay_arg_metadata(req, b, "metadata", md_out));
        p->metadata = *md_out;
    }
    return PAY_OK;
}

static enum pay_err customers_create(struct pay_request *req)
{
    static const char *const allowed[] = {CUSTOMER_FIELDS, "payment_method", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_customer_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_customer(req, &p, &md);
    json_t *out = NULL;
    if (e == PAY_OK) {
        struct pay_op op = pay_api_op(req);
        e = pay_customer_create(&op, &p, &out);
    }
    json_decref(md);
    PAY_TRY(e);
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err customers_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_customer_retrieve(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err customers_update(struct pay_request *req)
{
    static const char *const allowed[] = {CUSTOMER_FIELDS, NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_customer_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_customer(req, &p, &md);
    json_t *out = NULL;
    if (e == PAY_OK) {
        struct pay_op op = pay_api_op(req);
        e = pay_customer_update(&op, req->params[0], &p, &out);
    }
    json_decref(md);
    PAY_TRY(e);
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err customers_delete(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_customer_delete(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err customers_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "email", "external_id", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *email = NULL;
    const char *external_id = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "email", false, PAY_CUSTOMER_EMAIL_LEN_MAX, &email, NULL));
    PAY_TRY(pay_arg_str(req, req->query, "external_id", false, PAY_EXTERNAL_ID_LEN_MAX,
                        &external_id, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_customer_list(&op, email, external_id, &args, &data, &has_more));
    pay_api_list(req, "/v1/customers", data, has_more);
    return PAY_OK;
}

static enum pay_err customers_payment_methods(struct pay_request *req)
{
    static const char *const allowed[] = {"limit", "starting_after", "ending_before", "type", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    static const char *const types[] = {"card", NULL};
    const char *type = NULL;
    PAY_TRY(pay_arg_enum(req, req->query, "type", false, types, &type, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    enum pay_err e = pay_payment_method_list(&op, req->params[0], type, &args, &data, &has_more);
    if (e == PAY_ERR_NOT_FOUND && req->err.code == e) {
        /* The customer is the path's id here. */
        snprintf(req->err.param, sizeof(req->err.param), "id");
    }
    PAY_TRY(e);
    if (json_array_size(data) > 0 && pay_arg_expands(req, "data.customer")) {
        /* Every card here belongs to the path's customer: one read. */
        json_t *c = NULL;
        e = pay_customer_get(&op, req->params[0], &c);
        if (e != PAY_OK) {
            json_decref(data);
            return e;
        }
        size_t i;
        json_t *item;
        json_array_foreach(data, i, item)
        {
            json_object_set_nocheck(item, "customer", c);
        }
        json_decref(c);
    }
    char url[96];
    snprintf(url, sizeof(url), "/v1/customers/%s/payment_methods", req->params[0]);
    pay_api_list(req, url, data, has_more);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(customers) = {
    {"POST", "/v1/customers", customers_create, PAY_ROLES_STAFF, PAY_ROUTE_WRITE,
     "Create a customer"},
    {"GET", "/v1/customers", customers_list, PAY_ROLES_READ_ALL, 0, "List customers"},
    {"GET", "/v1/customers/:id", customers_get, PAY_ROLES_ALL, 0, "Retrieve a customer"},
    {"POST", "/v1/customers/:id", customers_update, PAY_ROLES_STAFF | PAY_ROLE_PATIENT,
     PAY_ROUTE_WRITE, "Update a customer"},
    {"DELETE", "/v1/customers/:id", customers_delete, PAY_ROLES_STAFF, PAY_ROUTE_WRITE,
     "Delete a customer"},
    {"GET", "/v1/customers/:id/payment_methods", customers_payment_methods, PAY_ROLES_ALL, 0,
     "List a customer's payment methods"},
};
PAY_API_ROUTES_COUNT(customers);

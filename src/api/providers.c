/*
 * providers.c - /v1/providers: the payment providers routing chooses from
 * (issue 6). Domain code: src/payments/provider_config.c (objects) and
 * src/payments/providers.c (routing, fees).
 *
 * Access: admin only (fees, limits and connector credentials are the
 * platform's configuration). Credentials are write-only: objects show
 * credentials_set.
 */
#include "../payments/providers.h"
#include "api_int.h"

#define PROVIDER_FIELDS                                                                            \
    "name", "display_name", "type", "connector", "currencies", "card_brands", "fee_bps",           \
        "fee_fixed", "min_amount", "max_amount", "supports_refunds",                               \
        "requires_manual_verification", "active", "priority", "facilities", "connector_config",    \
        "credentials", "metadata"

static const char *const types[] = {"card",          "mobile_wallet", "cash", "cheque",
                                    "bank_transfer", "bank_draft",    NULL};

/* A tri-state boolean: -1 when absent. */
static enum pay_err arg_tristate(struct pay_request *req, const char *name, int *out)
{
    bool v = false, present = false;
    PAY_TRY(pay_arg_bool(req, req->body, name, &v, &present));
    *out = present ? (v ? 1 : 0) : -1;
    return PAY_OK;
}

/* min_amount / max_amount: an amount, or "" / null to remove the limit. */
static enum pay_err arg_limit(struct pay_request *req, const char *name, bool *has, int64_t *out)
{
    const json_t *v = json_object_get(req->body, name);
    if (v != NULL && (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))) {
        *has = true;
        *out = -1;
        return PAY_OK;
    }
    return pay_arg_amount(req, req->body, name, false, 1, out, has);
}

/* An array parameter: a JSON array, a form's name[]=..., or one string. */
static enum pay_err arg_list(struct pay_request *req, const char *name, const json_t **out)
{
    const json_t *v = json_object_get(req->body, name);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return PAY_OK;
    }
    if (!json_is_array(v) && !json_is_string(v)) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, name, "Invalid %s: must be a list.",
                             name);
    }
    *out = v;
    return PAY_OK;
}

static enum pay_err parse_provider(struct pay_request *req, struct pay_provider_params *p,
                                   json_t **md_out)
{
    const json_t *b = req->body;
    *md_out = NULL;
    PAY_TRY(pay_arg_str(req, b, "name", false, PAY_PROVIDER_NAME_LEN_MAX, &p->name, NULL));
    PAY_TRY(pay_arg_str(req, b, "display_name", false, PAY_DISPLAY_NAME_LEN_MAX, &p->display_name,
                        NULL));
    PAY_TRY(pay_arg_enum(req, b, "type", false, types, &p->type, NULL));
    PAY_TRY(pay_arg_str(req, b, "connector", false, 32, &p->connector, NULL));
    PAY_TRY(arg_list(req, "currencies", &p->currencies));
    PAY_TRY(arg_list(req, "card_brands", &p->card_brands));
    PAY_TRY(arg_list(req, "facilities", &p->facilities));
    PAY_TRY(
        pay_arg_int(req, b, "fee_bps", false, 0, PAY_FEE_BPS_MAX, &p->fee_bps, &p->has_fee_bps));
    PAY_TRY(pay_arg_amount(req, b, "fee_fixed", false, 0, &p->fee_fixed, &p->has_fee_fixed));
    PAY_TRY(arg_limit(req, "min_amount", &p->has_min_amount, &p->min_amount));
    PAY_TRY(arg_limit(req, "max_amount", &p->has_max_amount, &p->max_amount));
    PAY_TRY(arg_tristate(req, "supports_refunds", &p->supports_refunds));
    PAY_TRY(arg_tristate(req, "requires_manual_verification", &p->requires_manual_verification));
    PAY_TRY(arg_tristate(req, "active", &p->active));
    PAY_TRY(pay_arg_int(req, b, "priority", false, -PAY_PRIORITY_MAX, PAY_PRIORITY_MAX,
                        &p->priority, &p->has_priority));
    const json_t *cc = json_object_get(b, "connector_config");
    p->connector_config = json_is_null(cc) ? NULL : cc;
    const json_t *cr = json_object_get(b, "credentials");
    p->credentials = json_is_null(cr) ? NULL : cr;
    const json_t *md = json_object_get(b, "metadata");
    if (json_is_string(md) && json_string_length(md) == 0) {
        p->metadata_clear = true;
    } else {
        PAY_TRY(pay_arg_metadata(req, b, "metadata", md_out));
        p->metadata = *md_out;
    }
    return PAY_OK;
}

static enum pay_err write_provider(struct pay_request *req, bool create)
{
    static const char *const allowed[] = {PROVIDER_FIELDS, NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_provider_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_provider(req, &p, &md);
    json_t *out = NULL;
    if (e == PAY_OK) {
        struct pay_op op = pay_api_op(req);
        e = create ? pay_provider_create(&op, &p, &out)
                   : pay_provider_update(&op, req->params[0], &p, &out);
    }
    json_decref(md);
    PAY_TRY(e);
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err providers_create(struct pay_request *req)
{
    return write_provider(req, true);
}

static enum pay_err providers_update(struct pay_request *req)
{
    return write_provider(req, false);
}

static enum pay_err providers_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_provider_get(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err providers_delete(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *out = NULL;
    PAY_TRY(pay_provider_delete(&op, req->params[0], &out));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err providers_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "type", "active", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *type = NULL;
    PAY_TRY(pay_arg_enum(req, req->query, "type", false, types, &type, NULL));
    bool active = false, has_active = false;
    PAY_TRY(pay_arg_bool(req, req->query, "active", &active, &has_active));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(
        pay_provider_list(&op, type, has_active ? (active ? 1 : 0) : -1, &args, &data, &has_more));
    pay_api_list(req, "/v1/providers", data, has_more);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(providers) = {
    {"POST", "/v1/providers", providers_create, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Create a payment provider"},
    {"GET", "/v1/providers", providers_list, PAY_ROLE_ADMIN, 0, "List payment providers"},
    {"GET", "/v1/providers/:id", providers_get, PAY_ROLE_ADMIN, 0, "Retrieve a payment provider"},
    {"POST", "/v1/providers/:id", providers_update, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Update a payment provider"},
    {"DELETE", "/v1/providers/:id", providers_delete, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Delete a payment provider"},
};
PAY_API_ROUTES_COUNT(providers);

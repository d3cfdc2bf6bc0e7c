/*
 * events.c - GET /v1/events and GET /v1/events/:id (Stripe's shapes).
 * Read-only routes in a read snapshot.
 *
 * Access: every role; a patient's token sees only the events of its own
 * customer, and any other event id answers 404 (existence does not leak).
 */
#include "api_int.h"

/* Stripe's types[] (types[]=a&types[]=b, or one string): up to
 * PAY_EVENT_TYPES_MAX strings into @out. */
static enum pay_err parse_types(struct pay_request *req, const char **out, size_t *n_out)
{
    const json_t *v = json_object_get(req->query, "types");
    *n_out = 0;
    if (v == NULL || json_is_null(v)) {
        return PAY_OK;
    }
    if (json_is_string(v)) {
        out[(*n_out)++] = json_string_value(v);
        return PAY_OK;
    }
    if (!json_is_array(v) || json_array_size(v) > PAY_EVENT_TYPES_MAX) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "types",
                             "Invalid types: an array of at most %d event types.",
                             PAY_EVENT_TYPES_MAX);
    }
    size_t i;
    const json_t *t;
    json_array_foreach(v, i, t)
    {
        if (!json_is_string(t) || json_string_length(t) > PAY_EVENT_TYPE_LEN_MAX) {
            return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "types",
                                 "Invalid types: each must be an event type.");
        }
        out[(*n_out)++] = json_string_value(t);
    }
    return PAY_OK;
}

static enum pay_err events_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "type", "types", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *type = NULL;
    bool has_type = false;
    PAY_TRY(pay_arg_str(req, req->query, "type", false, PAY_EVENT_TYPE_LEN_MAX, &type, &has_type));
    const char *types[PAY_EVENT_TYPES_MAX];
    size_t n_types = 0;
    PAY_TRY(parse_types(req, types, &n_types));
    if (has_type && n_types > 0) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "types",
                             "You may pass either type or types, but not both.");
    }
    if (has_type && type[0] != '\0') {
        types[0] = type;
        n_types = 1;
    }
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_event_list_types(req->tx, types, n_types, op.customer_scope, &args, &data,
                                 &has_more, &req->err));
    pay_api_list(req, "/v1/events", data, has_more);
    return PAY_OK;
}

static enum pay_err events_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *ev = NULL;
    PAY_TRY(pay_event_get(req->tx, req->params[0], op.customer_scope, &ev, &req->err));
    pay_resp_json(req, 200, ev);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(events) = {
    {"GET", "/v1/events", events_list, PAY_ROLES_ALL, 0, "List events"},
    {"GET", "/v1/events/:id", events_get, PAY_ROLES_ALL, 0, "Retrieve an event"},
};
PAY_API_ROUTES_COUNT(events);

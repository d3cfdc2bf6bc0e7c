/*
 * webhook_endpoints.c - /v1/webhook_endpoints (Stripe's WebhookEndpoint
 * API plus rotate_secret), the delivery log (/v1/webhook_deliveries,
 * /v1/events/:id/deliveries) and redelivery (/v1/events/:id/redeliver).
 * Domain code: src/events/endpoints.c.
 *
 * Access: admin only (an endpoint's URL and the events sent to it are the
 * platform's plumbing). The signing secret appears only in the responses
 * of create and rotate_secret.
 */
#include <stdlib.h>
#include <string.h>

#include "../events/webhooks.h"
#include "api_int.h"

#define API_VERSION_LEN_MAX 32

/* enabled_events: a JSON array, a form's enabled_events[]=..., or one string. */
static enum pay_err parse_events(struct pay_request *req, const char **buf, size_t *n,
                                 bool *present)
{
    const json_t *v = json_object_get(req->body, "enabled_events");
    *n = 0;
    *present = false;
    if (v == NULL || json_is_null(v)) {
        return PAY_OK;
    }
    *present = true;
    if (json_is_string(v)) {
        buf[(*n)++] = json_string_value(v);
        return PAY_OK;
    }
    if (!json_is_array(v) || json_array_size(v) > PAY_WEBHOOK_EVENTS_MAX) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "enabled_events",
                             "enabled_events must be an array of at most %d event types.",
                             PAY_WEBHOOK_EVENTS_MAX);
    }
    size_t i;
    const json_t *t;
    json_array_foreach(v, i, t)
    {
        if (!json_is_string(t)) {
            return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "enabled_events",
                                 "enabled_events must contain event type strings.");
        }
        buf[(*n)++] = json_string_value(t);
    }
    return PAY_OK;
}

static enum pay_err parse_params(struct pay_request *req, struct pay_webhook_endpoint_params *p,
                                 const char **events, json_t **md_out)
{
    const json_t *b = req->body;
    *md_out = NULL;
    p->disabled = -1;
    PAY_TRY(pay_arg_str(req, b, "url", false, PAY_WEBHOOK_URL_LEN_MAX, &p->url, NULL));
    size_t n = 0;
    bool has_events = false;
    PAY_TRY(parse_events(req, events, &n, &has_events));
    if (has_events) {
        p->events = events;
        p->n_events = n;
    }
    const json_t *desc = json_object_get(b, "description");
    if (json_is_string(desc) && json_string_length(desc) == 0) {
        p->has_description = true; /* "" clears it */
        p->description = NULL;
    } else {
        PAY_TRY(pay_arg_str(req, b, "description", false, PAY_WEBHOOK_DESCRIPTION_LEN_MAX,
                            &p->description, &p->has_description));
    }
    PAY_TRY(pay_arg_str(req, b, "api_version", false, API_VERSION_LEN_MAX, &p->api_version, NULL));
    bool disabled = false, has_disabled = false;
    PAY_TRY(pay_arg_bool(req, b, "disabled", &disabled, &has_disabled));
    if (has_disabled) {
        p->disabled = disabled ? 1 : 0;
    }
    const json_t *md = json_object_get(b, "metadata");
    if (json_is_string(md) && json_string_length(md) == 0) {
        p->metadata_clear = true;
    } else {
        PAY_TRY(pay_arg_metadata(req, b, "metadata", md_out));
        p->metadata = *md_out;
    }
    return PAY_OK;
}

/*
 * Before the write transaction (pay_route.prepare): check the URL now,
 * resolving its host on the connection's thread, and keep the verdict for
 * the handler. A lookup can take seconds; in the transaction it would hold
 * the writer, and on SQLite every payment would wait behind it. A URL
 * that is not a string of the right size is left for the handler to refuse.
 */
static void endpoints_check_url(struct pay_request *req)
{
    const json_t *url = json_object_get(req->body, "url");
    if (!json_is_string(url) || json_string_length(url) == 0 ||
        json_string_length(url) > PAY_WEBHOOK_URL_LEN_MAX) {
        return;
    }
    struct pay_webhook_url_verdict *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return; /* the handler checks it itself */
    }
    memcpy(v->url, json_string_value(url), json_string_length(url) + 1);
    v->rc = pay_webhook_url_check(v->url, pay_webhook_config(), NULL, &v->err);
    req->prepared_arg = v;
}

static enum pay_err endpoints_create(struct pay_request *req)
{
    static const char *const allowed[] = {
        "url", "enabled_events", "description", "metadata", "api_version", "disabled", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *events[PAY_WEBHOOK_EVENTS_MAX];
    struct pay_webhook_endpoint_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_params(req, &p, events, &md);
    p.url_checked = req->prepared_arg;
    json_t *out = NULL;
    if (e == PAY_OK) {
        e = pay_webhook_endpoint_create(req->tx, pay_webhook_config(), &p, &out, &req->err);
    }
    json_decref(md);
    PAY_TRY(e);
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err endpoints_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    json_t *out = NULL;
    PAY_TRY(pay_webhook_endpoint_get(req->tx, req->params[0], &out, &req->err));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err endpoints_update(struct pay_request *req)
{
    static const char *const allowed[] = {
        "url", "enabled_events", "description", "metadata", "api_version", "disabled", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *events[PAY_WEBHOOK_EVENTS_MAX];
    struct pay_webhook_endpoint_params p = {0};
    json_t *md = NULL;
    enum pay_err e = parse_params(req, &p, events, &md);
    p.url_checked = req->prepared_arg;
    json_t *out = NULL;
    if (e == PAY_OK && p.url != NULL && p.url[0] == '\0') {
        e = pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "url", "url must not be empty.");
    }
    if (e == PAY_OK) {
        e = pay_webhook_endpoint_update(req->tx, pay_webhook_config(), req->params[0], &p, &out,
                                        &req->err);
    }
    json_decref(md);
    PAY_TRY(e);
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err endpoints_delete(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    json_t *out = NULL;
    PAY_TRY(pay_webhook_endpoint_delete(req->tx, req->params[0], &out, &req->err));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err endpoints_list(struct pay_request *req)
{
    static const char *const allowed[] = {"limit", "starting_after", "ending_before", "created",
                                          NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_webhook_endpoint_list(req->tx, &args, &data, &has_more, &req->err));
    pay_api_list(req, "/v1/webhook_endpoints", data, has_more);
    return PAY_OK;
}

static enum pay_err endpoints_rotate(struct pay_request *req)
{
    static const char *const allowed[] = {"expires_in_s", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    int64_t expires_in_s = 24 * 3600;
    PAY_TRY(pay_arg_int(req, req->body, "expires_in_s", false, 0, PAY_WEBHOOK_ROTATION_S_MAX,
                        &expires_in_s, NULL));
    json_t *out = NULL;
    PAY_TRY(pay_webhook_endpoint_rotate(req->tx, pay_webhook_config(), req->params[0], expires_in_s,
                                        &out, &req->err));
    pay_resp_json(req, 200, out);
    return PAY_OK;
}

static enum pay_err event_deliveries(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    json_t *ev = NULL;
    PAY_TRY(pay_event_get(req->tx, req->params[0], NULL, &ev, &req->err));
    json_decref(ev);
    json_t *data = NULL;
    PAY_TRY(pay_webhook_deliveries_of_event(req->tx, req->params[0], &data, &req->err));
    char url[128];
    snprintf(url, sizeof(url), "/v1/events/%.64s/deliveries", req->params[0]);
    pay_api_list(req, url, data, false);
    return PAY_OK;
}

static enum pay_err event_redeliver(struct pay_request *req)
{
    static const char *const allowed[] = {"endpoint", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *endpoint = NULL;
    PAY_TRY(pay_arg_str(req, req->body, "endpoint", false, 255, &endpoint, NULL));
    json_t *data = NULL;
    PAY_TRY(pay_webhook_redeliver(req->tx, req->params[0], endpoint, &data, &req->err));
    char url[128];
    snprintf(url, sizeof(url), "/v1/events/%.64s/deliveries", req->params[0]);
    pay_api_list(req, url, data, false);
    return PAY_OK;
}

static enum pay_err deliveries_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created", "endpoint", "status", NULL};
    static const char *const statuses[] = {"pending", "succeeded", "failed", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    const char *endpoint = NULL, *status = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "endpoint", false, 255, &endpoint, NULL));
    PAY_TRY(pay_arg_enum(req, req->query, "status", false, statuses, &status, NULL));
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_webhook_deliveries_list(req->tx, endpoint != NULL && endpoint[0] ? endpoint : NULL,
                                        status, &args, &data, &has_more, &req->err));
    pay_api_list(req, "/v1/webhook_deliveries", data, has_more);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(webhook_endpoints) = {
    {"POST", "/v1/webhook_endpoints", endpoints_create, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Create a webhook endpoint", endpoints_check_url},
    {"GET", "/v1/webhook_endpoints", endpoints_list, PAY_ROLE_ADMIN, 0, "List webhook endpoints"},
    {"GET", "/v1/webhook_endpoints/:id", endpoints_get, PAY_ROLE_ADMIN, 0,
     "Retrieve a webhook endpoint"},
    {"POST", "/v1/webhook_endpoints/:id", endpoints_update, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Update a webhook endpoint", endpoints_check_url},
    {"DELETE", "/v1/webhook_endpoints/:id", endpoints_delete, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Delete a webhook endpoint"},
    {"POST", "/v1/webhook_endpoints/:id/rotate_secret", endpoints_rotate, PAY_ROLE_ADMIN,
     PAY_ROUTE_WRITE, "Rotate a webhook endpoint's signing secret"},
    {"GET", "/v1/webhook_deliveries", deliveries_list, PAY_ROLE_ADMIN, 0,
     "List webhook deliveries"},
    {"GET", "/v1/events/:id/deliveries", event_deliveries, PAY_ROLE_ADMIN, 0,
     "List an event's webhook deliveries and their attempts"},
    {"POST", "/v1/events/:id/redeliver", event_redeliver, PAY_ROLE_ADMIN, PAY_ROUTE_WRITE,
     "Deliver an event again"},
};
PAY_API_ROUTES_COUNT(webhook_endpoints);

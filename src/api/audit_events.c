/*
 * audit_events.c - GET /v1/audit_events and GET /v1/audit_events/:id: the
 * hash-chained audit log (src/audit/), read-only, for admins and auditors.
 *
 * Filters: actor (a principal subject), object (the id of the object
 * concerned), action ("POST /v1/refunds"), created; cursor pagination as
 * every list.
 */
#include "../audit/audit.h"
#include "api_int.h"

static enum pay_err audit_events_list(struct pay_request *req)
{
    static const char *const allowed[] = {"limit", "starting_after", "ending_before", "created",
                                          "actor", "object",         "action",        NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    struct pay_audit_filter f = {0};
    PAY_TRY(pay_arg_str(req, req->query, "actor", false, 128, &f.actor, NULL));
    PAY_TRY(pay_arg_str(req, req->query, "object", false, PAY_ID_LEN_MAX * 2, &f.object, NULL));
    PAY_TRY(
        pay_arg_str(req, req->query, "action", false, PAY_AUDIT_ACTION_LEN_MAX, &f.action, NULL));
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_audit_list(req->tx, &f, &args, &data, &has_more, &req->err));
    pay_api_list(req, "/v1/audit_events", data, has_more);
    return PAY_OK;
}

static enum pay_err audit_events_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    json_t *ev = NULL;
    PAY_TRY(pay_audit_get(req->tx, req->params[0], &ev, &req->err));
    pay_resp_json(req, 200, ev);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(audit_events) = {
    {"GET", "/v1/audit_events", audit_events_list, PAY_ROLE_ADMIN | PAY_ROLE_AUDITOR, 0,
     "List audit events"},
    {"GET", "/v1/audit_events/:id", audit_events_get, PAY_ROLE_ADMIN | PAY_ROLE_AUDITOR, 0,
     "Retrieve an audit event"},
};
PAY_API_ROUTES_COUNT(audit_events);

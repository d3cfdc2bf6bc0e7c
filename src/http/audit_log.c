/*
 * audit_log.c - what the server records in the audit log (src/audit/) for
 * one state-changing request: the principal's subject and role, the
 * action ("POST /v1/refunds/:id/cancel": method and route pattern), the
 * object (the route's :id, else the id of the object answered), the NAMES
 * of the body's top-level parameters (never a value: a body may carry a
 * card number or a patient's name), the client address, the request id
 * and the status sent.
 *
 * Threading: called on the request's thread or the store's writer, with
 * the request it is given only.
 */
#include <string.h>

#include "../audit/audit.h"
#include "http_int.h"

static enum pay_err audit_object(struct pay_tx *tx, const struct pay_request *req,
                                 const char *object, int status)
{
    char action[PAY_AUDIT_ACTION_LEN_MAX + 1];
    char summary[PAY_AUDIT_SUMMARY_LEN_MAX + 1];
    snprintf(action, sizeof(action), "%s %s", req->route->method, req->route->pattern);
    pay_audit_summary(req->body, summary, sizeof(summary));
    bool anonymous = req->who.kind == PAY_PRINCIPAL_NONE;
    struct pay_audit_record rec = {
        .created = pay_now(),
        .actor = anonymous ? NULL : req->who.subject,
        .role = anonymous ? NULL : pay_role_name(req->who.role),
        .action = action,
        .object = object,
        .summary = summary,
        .client_addr = req->client_addr,
        .request_id = req->request_id,
        .status = status,
    };
    return pay_audit_append(tx, &rec, NULL);
}

enum pay_err pay_http_audit(struct pay_tx *tx, const struct pay_request *req, int status)
{
    if (!req->route) {
        return PAY_OK;
    }
    const char *object = req->params[0];
    if (!object && json_is_object(req->resp)) {
        object = pay_json_str(req->resp, "id");
    }
    return audit_object(tx, req, object, status);
}

enum pay_err pay_request_audit(struct pay_tx *tx, struct pay_request *req, const char *object,
                               int status)
{
    if (!req->route) {
        return PAY_OK;
    }
    enum pay_err e = audit_object(tx, req, object, status);
    if (e == PAY_OK) {
        req->audited = true;
    }
    return e;
}

/*
 * verifications.c - the verification queue of manual tenders, fraud
 * reviews, payments held by providers that require manual verification,
 * and manual refund requests (/v1/verifications, approve, reject)
 * and their evidence files (POST /v1/payment_intents/:id/evidence,
 * /v1/evidence/:id, /v1/evidence/:id/content). Domain code:
 * src/payments/verifications.c.
 *
 * Access: admin, staff and auditors read the queue and the evidence; admin
 * and staff decide (never the principal who recorded the payment:
 * maker-checker, 403 maker_checker_violation); admin, staff and a patient
 * (for its own customer's intents; others 404) upload evidence. Evidence
 * bodies are multipart/form-data (PAY_ROUTE_MULTIPART: the http layer
 * parses them with libmicrohttpd's post processor and applies the upload
 * limit, payd serve --evidence-max-bytes).
 */
#include <string.h>

#include "api_int.h"

static enum pay_err answer(struct pay_request *req, enum pay_err e, json_t *obj)
{
    if (e != PAY_OK) {
        json_decref(obj);
        return e;
    }
    pay_resp_json(req, 200, obj);
    return PAY_OK;
}

static const char *const statuses[] = {"pending", "approved", "rejected", "canceled", NULL};
static const char *const kinds[] = {"payment", "fraud_review",     "provider_review",
                                    "refund",  "unapplied_refund", NULL};
static const char *const tenders[] = {"card",          "mobile_wallet", "cash", "cheque",
                                      "bank_transfer", "bank_draft",    NULL};
static const char *const evidence_kinds[] = {"receipt_photo", "cash_count", "cheque_image",
                                             "bank_slip", NULL};

static enum pay_err verification_list(struct pay_request *req)
{
    static const char *const allowed[] = {
        "limit", "starting_after", "ending_before", "created",        "status",
        "kind",  "tender",         "facility",      "payment_intent", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_list_args args;
    PAY_TRY(pay_list_args_parse(req, &args));
    struct pay_verification_filter f = {0};
    PAY_TRY(pay_arg_enum(req, req->query, "status", false, statuses, &f.status, NULL));
    PAY_TRY(pay_arg_enum(req, req->query, "kind", false, kinds, &f.kind, NULL));
    PAY_TRY(pay_arg_enum(req, req->query, "tender", false, tenders, &f.tender, NULL));
    PAY_TRY(
        pay_arg_str(req, req->query, "facility", false, PAY_FACILITY_LEN_MAX, &f.facility, NULL));
    PAY_TRY(pay_arg_str(req, req->query, "payment_intent", false, PAY_ID_LEN_MAX, &f.payment_intent,
                        NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool has_more = false;
    PAY_TRY(pay_verification_list(&op, &f, &args, &data, &has_more));
    pay_api_list(req, "/v1/verifications", data, has_more);
    return PAY_OK;
}

static enum pay_err verification_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_verification_get(&op, req->params[0], &obj);
    return answer(req, e, obj);
}

/*
 * After the provider call an approval made (a card on Stripe held for fraud
 * review is charged once the review is approved): answer with the
 * verification, whatever the card did (the intent shows that).
 */
static enum pay_err answer_after_call(struct pay_request *req, struct pay_op *op, enum pay_err e,
                                      json_t *intent)
{
    json_decref(intent);
    if (e != PAY_OK && e != PAY_ERR_CARD_DECLINED) {
        return e;
    }
    pay_error_clear(&req->err);
    json_t *obj = NULL;
    e = pay_verification_get(op, req->params[0], &obj);
    return answer(req, e, obj);
}

static enum pay_err verification_decide(struct pay_request *req, bool approve)
{
    static const char *const allowed[] = {"reason", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *reason = NULL;
    PAY_TRY(pay_arg_str(req, req->body, "reason", !approve, PAY_VERIFICATION_REASON_LEN_MAX,
                        &reason, NULL));
    struct pay_op op = pay_api_op(req);
    struct pay_provider_call call;
    memset(&call, 0, sizeof(call));
    op.call = &call;
    json_t *obj = NULL;
    enum pay_err e = approve ? pay_verification_approve(&op, req->params[0], reason, &obj)
                             : pay_verification_reject(&op, req->params[0], reason, &obj);
    return pay_api_defer_call(req, &call, answer(req, e, obj), answer_after_call);
}

static enum pay_err verification_approve(struct pay_request *req)
{
    return verification_decide(req, true);
}

static enum pay_err verification_reject(struct pay_request *req)
{
    return verification_decide(req, false);
}

static enum pay_err evidence_create(struct pay_request *req)
{
    /* The intent first: one out of the caller's scope is a 404 whatever
     * the body holds. */
    struct pay_op op = pay_api_op(req);
    json_t *intent = NULL;
    enum pay_err e = pay_intent_get(&op, req->params[0], &intent);
    json_decref(intent);
    if (e != PAY_OK) {
        if (e == PAY_ERR_NOT_FOUND) {
            pay_error_set(&req->err, e, "id", "No such payment_intent: '%.64s'", req->params[0]);
        }
        return e;
    }
    static const char *const allowed[] = {"kind", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *kind = NULL;
    PAY_TRY(pay_arg_enum(req, req->body, "kind", true, evidence_kinds, &kind, NULL));
    const struct pay_upload *file = NULL;
    for (size_t i = 0; i < req->n_uploads; i++) {
        if (strcmp(req->uploads[i].field, "file") != 0) {
            return pay_error_set(&req->err, PAY_ERR_PARAM_UNKNOWN, req->uploads[i].field,
                                 "Received unknown file field: %.64s (send the file as `file`).",
                                 req->uploads[i].field);
        }
        if (file != NULL) {
            return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "file",
                                 "Send one file per request.");
        }
        file = &req->uploads[i];
    }
    if (file == NULL) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_MISSING, "file",
                             "Missing required param: file (a multipart/form-data file part).");
    }
    const struct pay_evidence_params p = {
        .payment_intent = req->params[0],
        .kind = kind,
        .filename = file->filename,
        .content_type = file->content_type,
        .data = file->data.data,
        .len = file->data.len,
    };
    json_t *obj = NULL;
    e = pay_evidence_create(&op, &p, &obj);
    return answer(req, e, obj);
}

static enum pay_err evidence_get(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_evidence_get(&op, req->params[0], &obj);
    return answer(req, e, obj);
}

static enum pay_err evidence_content(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *meta = NULL;
    struct pay_buf bytes;
    pay_buf_init(&bytes, PAY_UPLOAD_BYTES_MAX);
    enum pay_err e = pay_evidence_content(&op, req->params[0], &meta, &bytes);
    if (e == PAY_OK) {
        e = pay_resp_raw(req, 200, pay_json_str(meta, "content_type"),
                         bytes.data != NULL ? bytes.data : "", bytes.len);
    }
    json_decref(meta);
    pay_buf_release(&bytes);
    return e;
}

PAY_API_ROUTES_DEFINE(verifications) = {
    {"GET", "/v1/verifications", verification_list, PAY_ROLES_READ_ALL, 0, "List verifications"},
    {"GET", "/v1/verifications/:id", verification_get, PAY_ROLES_READ_ALL, 0,
     "Retrieve a verification"},
    {"POST", "/v1/verifications/:id/approve", verification_approve, PAY_ROLES_STAFF,
     PAY_ROUTE_WRITE, "Approve a verification"},
    {"POST", "/v1/verifications/:id/reject", verification_reject, PAY_ROLES_STAFF, PAY_ROUTE_WRITE,
     "Reject a verification"},
    {"POST", "/v1/payment_intents/:id/evidence", evidence_create,
     PAY_ROLES_STAFF | PAY_ROLE_PATIENT, PAY_ROUTE_WRITE | PAY_ROUTE_MULTIPART,
     "Upload evidence for a payment"},
    {"GET", "/v1/evidence/:id", evidence_get, PAY_ROLES_READ_ALL, 0, "Retrieve evidence"},
    {"GET", "/v1/evidence/:id/content", evidence_content, PAY_ROLES_READ_ALL, 0,
     "Download evidence"},
};
PAY_API_ROUTES_COUNT(verifications);

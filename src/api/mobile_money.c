/*
 * mobile_money.c - the HTTP side of mobile money payments (issue 6):
 *   PUT|POST /v1/mobile_money/callbacks/:reference?sig=...  the provider's
 *       callback (public; the signature payd put in the URL authenticates
 *       it; the raw body is parsed with the request's wallet profile);
 *   POST /v1/payment_intents/:id/verify_otp  {otp}: the code an OTP wallet
 *       sent the payer;
 * and the continuation that sends a request-to-pay after the confirming
 * request's commit (pay_api_momo_defer).
 *
 * Invariants: no provider is called inside a transaction: the routes that
 * call one do it in their continuation (pay_request.deferred), between a
 * read (the request's config) and a write (its outcome, exactly once in
 * the domain). An OTP is never stored or logged.
 *
 * Threading: handlers run per request; no state of their own.
 */
#include <stdlib.h>
#include <string.h>

#include "../payments/mobile_money.h"
#include "momo_api.h"

struct momo_deferred {
    pay_api_answer_fn answer;
    char reference[PAY_MOMO_REF_LEN];
    char otp[PAY_MOMO_OTP_LEN_MAX + 1]; /* "" = send the request-to-pay */
};

struct load_arg {
    struct pay_request *req;
    const char *reference;
    struct pay_momo_job *job;
};

static enum pay_err load_cb(struct pay_tx *tx, void *arg)
{
    struct load_arg *a = arg;
    a->req->tx = tx;
    struct pay_op op = pay_api_op(a->req);
    enum pay_err e = pay_momo_job_load(&op, a->reference, a->job);
    a->req->tx = NULL;
    return e;
}

struct apply_arg {
    struct pay_request *req;
    struct momo_deferred *d;
    const char *reference;
    const char *source;
    const struct pay_momo_result *res;
    char next[PAY_MOMO_REF_LEN];
};

static enum pay_err apply_cb(struct pay_tx *tx, void *arg)
{
    struct apply_arg *a = arg;
    struct pay_request *req = a->req;
    pay_error_clear(&req->err);
    req->tx = tx;
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_momo_apply(&op, a->reference, a->source, a->res, a->next, &obj);
    e = a->d->answer(req, &op, e, obj);
    req->tx = NULL;
    return e;
}

static enum pay_err continue_momo(struct pay_request *req)
{
    struct momo_deferred *d = req->deferred_arg;
    char ref[PAY_MOMO_REF_LEN];
    snprintf(ref, sizeof(ref), "%s", d->reference);
    bool otp = d->otp[0] != '\0';
    for (int hop = 0; hop < PAY_MOMO_FALLBACKS_MAX && ref[0] != '\0'; hop++) {
        struct pay_momo_job job;
        memset(&job, 0, sizeof(job));
        struct load_arg la = {.req = req, .reference = ref, .job = &job};
        enum pay_err e = pay_store_read(req->app->store, load_cb, &la);
        if (e != PAY_OK || job.config == NULL) {
            pay_momo_job_release(&job);
            pay_error_clear(&req->err);
            if (otp) {
                return pay_error_set(&req->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                                     "The mobile money request was settled meanwhile.");
            }
            return PAY_OK; /* settled meanwhile: the committed answer stands */
        }
        struct pay_momo_result res;
        e = otp ? pay_momo_job_otp(&job, d->otp, &res) : pay_momo_job_send(&job, &res);
        pay_momo_job_release(&job);
        if (otp) {
            explicit_bzero(d->otp, sizeof(d->otp));
        }
        if (e != PAY_OK) {
            pay_logf(PAY_LOG_WARN, req->request_id, "momo %s: %s; left for the poller", ref,
                     res.message);
            return PAY_OK;
        }
        if (otp && res.state == PAY_MOMO_REFUSED && strcmp(res.reason, "OTP_INVALID") == 0) {
            pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "otp",
                          "The code is not the one the wallet sent to the payer. Ask for it "
                          "again (after too many wrong codes the wallet declines the payment).");
            snprintf(req->err.code_str, sizeof(req->err.code_str), "incorrect_otp");
            return PAY_ERR_PARAM_INVALID;
        }
        json_t *committed = json_incref(req->resp);
        int committed_status = req->status;
        struct apply_arg aa = {
            .req = req, .d = d, .reference = ref, .source = otp ? "otp" : "request", .res = &res};
        e = pay_store_write(req->app->store, apply_cb, &aa);
        if (e != PAY_OK && e != PAY_ERR_UNEXPECTED_STATE) {
            pay_logf(PAY_LOG_WARN, req->request_id,
                     "momo %s: cannot apply the answer now (%s); left for the poller", ref,
                     pay_err_str(e));
            pay_error_clear(&req->err);
            pay_resp_json(req, committed_status, committed);
            return PAY_OK;
        }
        json_decref(committed);
        if (e != PAY_OK) {
            return e;
        }
        /* The provider was down and the next one took over: send to it now. */
        snprintf(ref, sizeof(ref), "%s", aa.next);
        otp = false;
    }
    return PAY_OK;
}

static enum pay_err defer(struct pay_request *req, const char *reference, const char *otp,
                          pay_api_answer_fn answer)
{
    struct momo_deferred *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
    }
    d->answer = answer;
    size_t ref_len = strlen(reference);
    if (ref_len >= sizeof(d->reference)) {
        free(d);
        return pay_error_set(&req->err, PAY_ERR_INTERNAL, NULL, "A wallet reference is too long.");
    }
    memcpy(d->reference, reference, ref_len + 1);
    snprintf(d->otp, sizeof(d->otp), "%s", otp ? otp : "");
    if (req->deferred_arg != NULL) {
        free(req->deferred_arg);
    }
    req->deferred_arg = d;
    req->deferred = continue_momo;
    return PAY_OK;
}

enum pay_err pay_api_momo_defer(struct pay_request *req, const struct pay_provider_call *call,
                                enum pay_err e, pay_api_answer_fn answer)
{
    if (e != PAY_OK || call->momo_reference[0] == '\0') {
        return e;
    }
    return defer(req, call->momo_reference, NULL, answer);
}

/* ---- Routes ---------------------------------------------------------------- */

static enum pay_err callback(struct pay_request *req)
{
    const char *ref = req->params[0];
    const char *sig = pay_json_str(req->query, "sig");
    struct pay_op op = pay_api_op(req);
    enum pay_err e =
        pay_momo_callback(&op, ref, sig, req->raw_body ? req->raw_body : "", req->raw_body_len);
    if (e != PAY_OK) {
        return e;
    }
    json_t *o = json_object();
    pay_json_set_bool(o, "received", true);
    pay_resp_json(req, 200, o);
    return PAY_OK;
}

/* verify_otp's answer: the intent, or its decline as Stripe's 402. */
static enum pay_err otp_answer(struct pay_request *req, struct pay_op *op, enum pay_err e,
                               json_t *obj)
{
    (void)op;
    if (e == PAY_OK && obj != NULL) {
        pay_resp_json(req, 200, obj);
        return PAY_OK;
    }
    if (e == PAY_ERR_CARD_DECLINED && obj != NULL) {
        json_t *body = pay_http_error_body(&req->err);
        json_t *error = json_object_get(body, "error");
        const json_t *lpe = json_object_get(obj, "last_payment_error");
        if (error != NULL && pay_json_str(lpe, "code") != NULL) {
            json_object_set_new_nocheck(error, "code", json_string(pay_json_str(lpe, "code")));
        }
        if (error != NULL) {
            json_object_set_new_nocheck(error, "payment_intent", obj);
            pay_resp_json(req, 402, body);
            return PAY_OK;
        }
        json_decref(body);
    }
    json_decref(obj);
    return e;
}

static enum pay_err verify_otp(struct pay_request *req)
{
    static const char *const allowed[] = {"otp", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    /* Whose intent it is comes first: another's is a 404 whatever was sent. */
    struct pay_op op = pay_api_op(req);
    char ref[PAY_MOMO_REF_LEN];
    PAY_TRY(pay_momo_otp_request(&op, req->params[0], ref));
    const char *otp = NULL;
    PAY_TRY(pay_arg_str(req, req->body, "otp", true, PAY_MOMO_OTP_LEN_MAX, &otp, NULL));
    size_t n = strlen(otp);
    if (n < PAY_MOMO_OTP_LEN_MIN || strspn(otp, "0123456789") != n) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "otp",
                             "Invalid otp: the %d to %d digits the wallet sent to the payer.",
                             PAY_MOMO_OTP_LEN_MIN, PAY_MOMO_OTP_LEN_MAX);
    }
    json_t *obj = NULL;
    PAY_TRY(pay_intent_get(&op, req->params[0], &obj));
    pay_resp_json(req, 200, obj);
    /* The code goes to the wallet after this (empty) transaction commits. */
    return defer(req, ref, otp, otp_answer);
}

static enum pay_err request_list(struct pay_request *req)
{
    static const char *const allowed[] = {"payment_intent", "status", "starting_after", NULL};
    static const char *const statuses[] = {
        "sending",  "pending", "canceling", "succeeded", "succeeded_unapplied",
        "refunded", "failed",  "canceled",  NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    const char *pi = NULL;
    const char *status = NULL;
    PAY_TRY(pay_arg_enum(req, req->query, "status", false, statuses, &status, NULL));
    /* Without a status (the unapplied ones staff look for), one intent's. */
    PAY_TRY(
        pay_arg_str(req, req->query, "payment_intent", status == NULL, PAY_ID_LEN_MAX, &pi, NULL));
    const char *after = NULL;
    PAY_TRY(
        pay_arg_str(req, req->query, "starting_after", false, PAY_MOMO_REF_LEN - 1, &after, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *data = NULL;
    bool more = false;
    PAY_TRY(pay_momo_request_list(&op, pi, status, after, &data, &more));
    pay_api_list(req, "/v1/mobile_money_requests", data, more);
    return PAY_OK;
}

/*
 * Staff record paying back a request's unapplied money: a verification
 * (kind unapplied_refund) another staff member approves.
 */
static enum pay_err request_refund(struct pay_request *req)
{
    static const char *const allowed[] = {NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    PAY_TRY(pay_verification_unapplied_refund(&op, req->params[0], &obj));
    pay_resp_json(req, 200, obj);
    return PAY_OK;
}

#define ROLES_PAYER (PAY_ROLES_STAFF | PAY_ROLE_PATIENT)

PAY_API_ROUTES_DEFINE(mobile_money) = {
    {"PUT", "/v1/mobile_money/callbacks/:reference", callback, 0,
     PAY_ROUTE_PUBLIC | PAY_ROUTE_WRITE | PAY_ROUTE_RAW_BODY,
     "Mobile money provider callback (request-to-pay outcome)"},
    {"POST", "/v1/mobile_money/callbacks/:reference", callback, 0,
     PAY_ROUTE_PUBLIC | PAY_ROUTE_WRITE | PAY_ROUTE_RAW_BODY,
     "Mobile money provider callback (request-to-pay outcome)"},
    {"POST", "/v1/payment_intents/:id/verify_otp", verify_otp, ROLES_PAYER, PAY_ROUTE_WRITE,
     "Confirm a mobile money payment with the code the wallet sent the payer"},
    {"GET", "/v1/mobile_money_requests", request_list, PAY_ROLES_READ_ALL, 0,
     "List the mobile money requests of a payment intent"},
    {"POST", "/v1/mobile_money_requests/:reference/refund", request_refund, PAY_ROLES_STAFF,
     PAY_ROUTE_WRITE, "Ask to pay back a mobile money request's unapplied money (maker-checker)"},
};
PAY_API_ROUTES_COUNT(mobile_money);

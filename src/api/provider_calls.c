/*
 * provider_calls.c - the HTTP side of calls to payment providers: a write
 * route whose domain operation left a provider call to make (payments.h,
 * "Provider calls") hands it to the server as a continuation. The server
 * commits the `processing` state first; the continuation sends the request
 * with no transaction open, applies the answer in a new transaction and
 * answers with the final object.
 *
 * Invariants: an ambiguous answer (timeout) changes nothing: the committed
 * `processing` answer stands and the settler (pay_provider_settle) finishes
 * the job; a transaction that fails while applying leaves the attempt
 * pending for the settler too, and the committed answer stands.
 *
 * Threading: runs on the request's connection thread.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

/* One allocation (the server free()s it): the request bytes live in @data. */
struct deferred_call {
    pay_api_answer_fn answer;
    char attempt_id[PAY_ID_LEN_MAX + 1];
    char method[8];
    char idempotency_key[PAY_STRIPE_IDEM_KEY_LEN_MAX];
    size_t path_len;
    char data[]; /* path NUL body NUL */
};

struct apply_arg {
    struct pay_request *req;
    struct deferred_call *d;
    const struct pay_conn_result *res;
};

static enum pay_err apply_cb(struct pay_tx *tx, void *arg)
{
    struct apply_arg *a = arg;
    struct pay_request *req = a->req;
    pay_error_clear(&req->err);
    req->tx = tx;
    struct pay_op op = pay_api_op(req);
    json_t *obj = NULL;
    enum pay_err e = pay_provider_apply(&op, a->d->attempt_id, a->res, &obj);
    e = a->d->answer(req, &op, e, obj);
    req->tx = NULL;
    return e;
}

static enum pay_err continue_call(struct pay_request *req)
{
    struct deferred_call *d = req->deferred_arg;
    struct pay_stripe_req r;
    memset(&r, 0, sizeof(r));
    memcpy(r.method, d->method, sizeof(r.method));
    memcpy(r.idempotency_key, d->idempotency_key, sizeof(r.idempotency_key));
    r.path = d->data;
    r.body = d->data + d->path_len + 1;
    struct pay_conn_result res;
    if (pay_stripe_send(req->app->stripe, &r, &res) != PAY_OK || res.status == PAY_CONN_UNKNOWN) {
        pay_logf(PAY_LOG_WARN, req->request_id,
                 "provider attempt %s: outcome unknown (%s); left processing for the settler",
                 d->attempt_id, res.message);
        return PAY_OK;
    }
    /* Keep the committed answer in case applying fails. */
    json_t *committed = json_incref(req->resp);
    int committed_status = req->status;
    struct apply_arg a = {.req = req, .d = d, .res = &res};
    enum pay_err e = pay_store_write(req->app->store, apply_cb, &a);
    if (e == PAY_OK || e == PAY_ERR_PROVIDER || e == PAY_ERR_UNEXPECTED_STATE) {
        json_decref(committed);
        return e;
    }
    pay_logf(PAY_LOG_WARN, req->request_id,
             "provider attempt %s: cannot apply the outcome now (%s); left for the settler",
             d->attempt_id, pay_err_str(e));
    pay_error_clear(&req->err);
    pay_resp_json(req, committed_status, committed);
    return PAY_OK;
}

enum pay_err pay_api_defer_call(struct pay_request *req, struct pay_provider_call *call,
                                enum pay_err e, pay_api_answer_fn answer)
{
    if (e != PAY_OK || call->attempt_id[0] == '\0' || call->req.path == NULL) {
        pay_provider_call_release(call);
        return e;
    }
    size_t plen = strlen(call->req.path);
    size_t blen = strlen(call->req.body ? call->req.body : "");
    struct deferred_call *d = calloc(1, sizeof(*d) + plen + 1 + blen + 1);
    if (d == NULL) {
        pay_provider_call_release(call);
        return pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
    }
    d->answer = answer;
    memcpy(d->attempt_id, call->attempt_id, sizeof(d->attempt_id));
    memcpy(d->method, call->req.method, sizeof(d->method));
    memcpy(d->idempotency_key, call->req.idempotency_key, sizeof(d->idempotency_key));
    d->path_len = plen;
    memcpy(d->data, call->req.path, plen + 1);
    memcpy(d->data + plen + 1, call->req.body ? call->req.body : "", blen + 1);
    pay_provider_call_release(call);
    free(req->deferred_arg);
    req->deferred_arg = d;
    req->deferred = continue_call;
    return PAY_OK;
}

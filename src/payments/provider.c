/*
 * provider.c - calls to external payment providers (the stripe connector)
 * around, never inside, database transactions: the provider_attempts rows
 * (migration 0006), step 1's bookkeeping, step 3's dispatch, and the
 * settling of ambiguous outcomes (payments.h, "Provider calls").
 *
 * Invariants:
 * - an attempt row, with the exact request and its Idempotency-Key, is
 *   committed before the request is sent, so every request payd may have
 *   sent can be found and asked about again;
 * - an attempt's outcome is applied once: step 3 locks the intent, re-reads
 *   the attempt and does nothing when it is no longer pending (a request's
 *   own step 3 and the settler may race; the provider's idempotency makes
 *   both see the same answer);
 * - at most one pending attempt per intent (checked here, and by a unique
 *   partial index).
 *
 * Threading: step 1 and 3 run in the caller's transaction; pay_provider_call_send
 * and pay_provider_settle block on the network and must run outside any.
 */
#include <stdlib.h>
#include <string.h>

#include "payments_int.h"

const char *pay_conn_status_name(enum pay_conn_status s)
{
    switch (s) {
    case PAY_CONN_SUCCEEDED:
        return "succeeded";
    case PAY_CONN_REQUIRES_ACTION:
        return "requires_action";
    case PAY_CONN_PROCESSING:
        return "processing";
    case PAY_CONN_DECLINED:
        return "declined";
    case PAY_CONN_FAILED:
        return "failed";
    case PAY_CONN_UNKNOWN:
        return "unknown";
    case PAY_CONN_REQUIRES_CAPTURE:
        return "requires_capture";
    case PAY_CONN_CANCELED:
        return "canceled";
    }
    return "unknown";
}

void pay_provider_call_release(struct pay_provider_call *c)
{
    pay_stripe_req_release(&c->req);
    memset(c, 0, sizeof(*c));
}

enum pay_err pay_provider_call_send(const struct pay_stripe_config *cfg,
                                    const struct pay_provider_call *c, struct pay_conn_result *res)
{
    return pay_stripe_send(cfg, &c->req, res);
}

enum pay_err pay_attempt_any_pending(struct pay_op *op, const char *intent, bool *out)
{
    int64_t n = 0;
    bool found = false;
    struct pay_param p[1] = {PAY_PTEXT(intent)};
    enum pay_err e = pay_tx_query_int(
        op->tx, "SELECT COUNT(*) FROM provider_attempts WHERE intent = $1 AND status = 'pending'",
        p, 1, &n, &found);
    *out = e == PAY_OK && found && n > 0;
    return pay_op_fail(op, e);
}

enum pay_err pay_attempt_begin(struct pay_op *op, const struct pay_attempt_spec *s)
{
    if (op->stripe == NULL || op->stripe->secret_key == NULL) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, "provider",
                             "The provider 'stripe' is not configured on this payd.");
    }
    if (op->call == NULL) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                             "This operation cannot be sent to Stripe from here.");
    }
    bool pending = false;
    enum pay_err e = pay_attempt_any_pending(op, s->intent, &pending);
    if (e != PAY_OK) {
        return e;
    }
    if (pending) {
        return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                             "A request to the payment provider for PaymentIntent %s is still "
                             "in progress; retry once it has settled.",
                             s->intent);
    }
    struct pay_provider_call *c = op->call;
    pay_provider_call_release(c);
    char key[PAY_STRIPE_IDEM_KEY_LEN_MAX];
    pay_id_new("pat", c->attempt_id);
    snprintf(key, sizeof(key), "payd_%s", c->attempt_id);
    pay_copy_str(c->operation, sizeof(c->operation), s->operation);
    const char *op_name = s->operation;
    if (strcmp(op_name, "confirm") == 0) {
        e = s->create ? pay_stripe_build_create(s->create, key, &c->req) : PAY_ERR_INTERNAL;
    } else if (strcmp(op_name, "retrieve") == 0) {
        e = pay_stripe_build_retrieve(s->stripe_pi, &c->req);
    } else if (strcmp(op_name, "capture") == 0) {
        e = pay_stripe_build_capture(s->stripe_pi, s->amount_minor, key, &c->req);
    } else if (strcmp(op_name, "cancel") == 0) {
        e = pay_stripe_build_cancel(s->stripe_pi, key, &c->req);
    } else if (strcmp(op_name, "refund") == 0) {
        e = pay_stripe_build_refund(s->stripe_pi, s->amount_minor, key, &c->req);
    } else {
        e = PAY_ERR_INTERNAL;
    }
    if (e != PAY_OK) {
        pay_provider_call_release(c);
        return pay_error_set(op->err, e == PAY_ERR_PARAM_INVALID ? PAY_ERR_PARAM_INVALID : e,
                             e == PAY_ERR_PARAM_INVALID ? "payment_method" : NULL,
                             e == PAY_ERR_PARAM_INVALID ? "Invalid Stripe request parameters."
                                                        : NULL);
    }
    struct pay_param p[11] = {
        PAY_PTEXT(c->attempt_id),
        PAY_PINT(pay_now()),
        PAY_PTEXT(s->intent),
        PAY_PTEXT(s->refund),
        PAY_PTEXT(PAY_CONNECTOR_STRIPE),
        PAY_PTEXT(s->operation),
        PAY_PTEXT(key),
        PAY_PINT(s->amount_minor),
        PAY_PTEXT(c->req.method),
        PAY_PTEXT(c->req.path),
        PAY_PTEXT(c->req.body),
    };
    e = pay_tx_exec(
        op->tx,
        "INSERT INTO provider_attempts (id, created, intent, refund, connector, "
        "operation, idempotency_key, amount, status, request_method, request_path, "
        "request_body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)",
        p, PAY_NPARAMS(p), NULL);
    if (e == PAY_OK && s->prior_status != NULL) {
        struct pay_param q[2] = {PAY_PTEXT(c->attempt_id), PAY_PTEXT(s->prior_status)};
        e = pay_tx_exec(op->tx, "UPDATE provider_attempts SET outcome = $2 WHERE id = $1", q, 2,
                        NULL);
    }
    if (e != PAY_OK) {
        pay_provider_call_release(c);
        return pay_op_fail(op, e);
    }
    return PAY_OK;
}

enum pay_err pay_attempt_load(struct pay_op *op, const char *id, struct pay_attempt *out)
{
    memset(out, 0, sizeof(*out));
    struct pay_param p[1] = {PAY_PTEXT(id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT intent, refund, operation, outcome, amount, status "
                                  "FROM provider_attempts WHERE id = $1",
                                  p, 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = false;
    if (pay_rows_next(r)) {
        found = true;
        pay_copy_str(out->id, sizeof(out->id), id);
        pay_copy_str(out->intent, sizeof(out->intent), pay_rows_text(r, 0));
        pay_copy_str(out->refund, sizeof(out->refund), pay_rows_text(r, 1));
        pay_copy_str(out->operation, sizeof(out->operation), pay_rows_text(r, 2));
        const char *st = pay_rows_text(r, 5);
        out->pending = st != NULL && strcmp(st, "pending") == 0;
        /* While pending, `outcome` holds the intent's status before the call. */
        if (out->pending) {
            pay_copy_str(out->prior_status, sizeof(out->prior_status), pay_rows_text(r, 3));
        }
        out->amount_minor = pay_rows_int(r, 4);
    }
    e = pay_rows_close(r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (!found) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, NULL, "No such provider attempt: %s", id);
    }
    return PAY_OK;
}

enum pay_err pay_attempt_finish(struct pay_op *op, const char *id,
                                const struct pay_conn_result *res)
{
    struct pay_param p[5] = {
        PAY_PTEXT(id),
        PAY_PTEXT(pay_conn_status_name(res->status)),
        PAY_PTEXT(res->provider_ref[0] ? res->provider_ref : NULL),
        PAY_PINT(res->http_status),
        PAY_PINT(pay_now()),
    };
    return pay_op_fail(op,
                       pay_tx_exec(op->tx,
                                   "UPDATE provider_attempts SET status = 'done', outcome = $2, "
                                   "provider_ref = $3, http_status = $4, settled_at = $5 "
                                   "WHERE id = $1",
                                   p, PAY_NPARAMS(p), NULL));
}

enum pay_err pay_provider_apply(struct pay_op *op, const char *attempt_id,
                                const struct pay_conn_result *res, json_t **out)
{
    *out = NULL;
    struct pay_op unscoped = *op;
    unscoped.customer_scope = NULL;
    struct pay_attempt a;
    enum pay_err e = pay_attempt_load(&unscoped, attempt_id, &a);
    if (e != PAY_OK) {
        return e;
    }
    if (strcmp(a.operation, "refund") == 0) {
        return pay_refund_provider_apply(&unscoped, &a, res, out);
    }
    return pay_intent_provider_apply(&unscoped, &a, res, out);
}

/* ---- Settling ambiguous outcomes ------------------------------------------ */

struct due {
    char id[PAY_ID_LEN_MAX + 1];
    char operation[16];
    char intent_ref[64]; /* the Stripe intent's id once known */
    struct pay_stripe_req req;
};

struct due_list {
    int64_t created_before;
    int limit;
    int n;
    struct due *items;
};

static enum pay_err due_read(struct pay_tx *tx, void *arg)
{
    struct due_list *l = arg;
    struct pay_param p[2] = {PAY_PINT(l->created_before), PAY_PINT(l->limit)};
    struct pay_rows *r = NULL;
    l->n = 0;
    enum pay_err e = pay_tx_query(
        tx,
        "SELECT a.id, a.operation, p.provider_ref, a.request_method, a.request_path, "
        "a.request_body, a.idempotency_key FROM provider_attempts a "
        "JOIN payment_intents p ON p.id = a.intent "
        "WHERE a.status = 'pending' AND a.created <= $1 ORDER BY a.created, a.seq LIMIT $2",
        p, 2, &r);
    if (e != PAY_OK) {
        return e;
    }
    while (l->n < l->limit && pay_rows_next(r)) {
        struct due *d = &l->items[l->n];
        memset(d, 0, sizeof(*d));
        pay_copy_str(d->id, sizeof(d->id), pay_rows_text(r, 0));
        pay_copy_str(d->operation, sizeof(d->operation), pay_rows_text(r, 1));
        pay_copy_str(d->intent_ref, sizeof(d->intent_ref), pay_rows_text(r, 2));
        pay_copy_str(d->req.method, sizeof(d->req.method), pay_rows_text(r, 3));
        const char *path = pay_rows_text(r, 4);
        const char *body = pay_rows_text(r, 5);
        d->req.path = strdup(path ? path : "");
        d->req.body = strdup(body ? body : "");
        pay_copy_str(d->req.idempotency_key, sizeof(d->req.idempotency_key), pay_rows_text(r, 6));
        l->n++;
        if (d->req.path == NULL || d->req.body == NULL) {
            e = PAY_ERR_NOMEM;
            break;
        }
    }
    enum pay_err ce = pay_rows_close(r);
    return e != PAY_OK ? e : ce;
}

struct apply_arg {
    const struct pay_stripe_config *cfg;
    const char *attempt_id;
    const struct pay_conn_result *res;
    struct pay_error err;
};

static enum pay_err apply_tx(struct pay_tx *tx, void *arg)
{
    struct apply_arg *a = arg;
    pay_error_clear(&a->err);
    struct pay_op op = {.tx = tx, .err = &a->err, .stripe = a->cfg};
    json_t *obj = NULL;
    enum pay_err e = pay_provider_apply(&op, a->attempt_id, a->res, &obj);
    json_decref(obj);
    return e;
}

enum pay_err pay_provider_settle(struct pay_store *s, const struct pay_stripe_config *cfg,
                                 int64_t created_before, int batch_max, int *settled_out)
{
    *settled_out = 0;
    if (batch_max < 1) {
        return PAY_OK;
    }
    struct due_list l = {.created_before = created_before, .limit = batch_max};
    l.items = calloc((size_t)batch_max, sizeof(*l.items));
    if (l.items == NULL) {
        return PAY_ERR_NOMEM;
    }
    enum pay_err e = pay_store_read(s, due_read, &l);
    for (int i = 0; e == PAY_OK && i < l.n; i++) {
        struct due *d = &l.items[i];
        struct pay_stripe_req get;
        memset(&get, 0, sizeof(get));
        const struct pay_stripe_req *req = &d->req;
        bool by_id =
            (strcmp(d->operation, "confirm") == 0 || strcmp(d->operation, "retrieve") == 0) &&
            d->intent_ref[0] != '\0';
        if (by_id && pay_stripe_build_retrieve(d->intent_ref, &get) == PAY_OK) {
            /* Stripe gave its intent's id (status processing): ask about it. */
            req = &get;
        }
        struct pay_conn_result res;
        enum pay_err se = pay_stripe_send(cfg, req, &res);
        pay_stripe_req_release(&get);
        if (se != PAY_OK || res.status == PAY_CONN_UNKNOWN ||
            (by_id && res.status == PAY_CONN_PROCESSING)) {
            continue; /* still unknown: next round */
        }
        struct apply_arg a = {.cfg = cfg, .attempt_id = d->id, .res = &res};
        enum pay_err ae = pay_store_write(s, apply_tx, &a);
        if (ae == PAY_OK || ae == PAY_ERR_CARD_DECLINED || ae == PAY_ERR_PROVIDER) {
            /* A decline or a refused capture is an outcome, applied. */
            (*settled_out)++;
            pay_logf(PAY_LOG_INFO, NULL, "provider attempt %s settled: %s", d->id,
                     pay_conn_status_name(res.status));
        } else {
            pay_logf(PAY_LOG_WARN, NULL, "provider attempt %s: cannot apply the outcome: %s", d->id,
                     pay_err_str(ae));
        }
    }
    for (int i = 0; i < l.n; i++) {
        pay_stripe_req_release(&l.items[i].req);
    }
    free(l.items);
    return e;
}

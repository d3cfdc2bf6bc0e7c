/*
 * refunds.c - refunds of succeeded payment intents (Stripe's Refund
 * object), and pay_payments_verify, the check that what payments say they
 * received and refunded is what the ledger booked.
 *
 * Invariants:
 * - the sum of an intent's succeeded and pending refunds never exceeds its
 *   amount_received: a refund locks the intent row (SELECT ... FOR UPDATE)
 *   before reading amount_refunded, so concurrent refunds serialise on
 *   PostgreSQL as they do on SQLite's single writer, and the table's CHECK
 *   (amount_refunded <= amount_received) stops any bug that slips by;
 * - each refund posts one ledger entry (kind "refund", source the refund
 *   id) in the same transaction as the refund row and the intent's
 *   amount_refunded; a canceled refund posts the reverse, so a refund's
 *   ledger sum on the merchant balance is its amount while it counts, 0
 *   after.
 *
 * Threading: no state of its own; runs inside the caller's transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments_int.h"

#define ACCOUNT_LEN_MAX 96
/* Example ids named on one FAIL line of the verify report. */
#define VERIFY_EXAMPLES_MAX 3

static enum pay_err not_found(struct pay_op *op, const char *id)
{
    return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such refund: '%s'", id ? id : "");
}

/* Load refund @id (in scope) into *out (caller owns). */
static enum pay_err refund_load(struct pay_op *op, const char *id, bool for_update, json_t **out)
{
    *out = NULL;
    if (id == NULL || !pay_id_valid(id, "re")) {
        return not_found(op, id);
    }
    static const char *const sqls[2][2] = {
        {"SELECT data FROM refunds WHERE id = $1",
         "SELECT data FROM refunds WHERE id = $1 FOR UPDATE"},
        {"SELECT data FROM refunds WHERE id = $1 AND customer = $2",
         "SELECT data FROM refunds WHERE id = $1 AND customer = $2 FOR UPDATE"},
    };
    bool scoped = op->customer_scope != NULL;
    struct pay_param p[2] = {PAY_PTEXT(id), PAY_PTEXT(op->customer_scope)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sqls[scoped][for_update], p, scoped ? 2 : 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = false;
    if (pay_rows_next(r)) {
        found = true;
        const char *data = pay_rows_text(r, 0);
        json_error_t jerr;
        *out = data ? json_loadb(data, pay_rows_len(r, 0), 0, &jerr) : NULL;
    }
    e = pay_rows_close(r);
    if (e == PAY_OK && found && !json_is_object(*out)) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Stored refund %s is corrupt.", id);
    }
    if (e != PAY_OK || !found) {
        json_decref(*out);
        *out = NULL;
        return e != PAY_OK ? pay_op_fail(op, e) : not_found(op, id);
    }
    return PAY_OK;
}

enum pay_err pay_refund_row_save(struct pay_op *op, const json_t *obj)
{
    char *data = pay_json_dump(obj);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[3] = {PAY_PTEXT(pay_json_str(obj, "id")),
                             PAY_PTEXT(pay_json_str(obj, "status")), PAY_PJSON(data)};
    int64_t changes = 0;
    enum pay_err e = pay_tx_exec(op->tx, "UPDATE refunds SET status = $2, data = $3 WHERE id = $1",
                                 p, PAY_NPARAMS(p), &changes);
    free(data);
    if (e == PAY_OK && changes != 1) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Refund %s vanished.",
                          pay_json_str(obj, "id"));
    }
    return pay_op_fail(op, e);
}

/*
 * Post the ledger entry of a refund moving @amount out of (@sign 1) or,
 * when it is undone, back into (@sign -1) the merchant balance.
 */
static enum pay_err post_refund(struct pay_op *op, const char *refund_id, const char *connector,
                                const char *currency, int64_t amount, int sign)
{
    char account[ACCOUNT_LEN_MAX];
    snprintf(account, sizeof(account), "assets:processor:%s", connector);
    const struct pay_ledger_line lines[2] = {
        {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = sign * amount},
        {.account = account, .amount_minor = -sign * amount},
    };
    const struct pay_ledger_entry entry = {
        .kind = sign > 0 ? "refund" : "refund_reversal",
        .currency = currency,
        .source_id = refund_id,
        .description = sign > 0 ? "Refund" : "Refund canceled",
        .lines = lines,
        .n_lines = 2,
        .bt = {.type = sign > 0 ? "refund" : "refund_failure",
               .amount_minor = -sign * amount,
               .fee_minor = 0},
    };
    return pay_op_fail(op, pay_ledger_post(op->tx, &entry, NULL, op->err));
}

/* The id of the balance transaction the ledger wrote for @source (or NULL). */
static json_t *balance_transaction_of(struct pay_op *op, const char *source, const char *type)
{
    struct pay_list_args args;
    pay_list_args_init(&args);
    args.limit = 1;
    json_t *data = NULL;
    bool more = false;
    struct pay_error ignored;
    pay_error_clear(&ignored);
    if (pay_ledger_bt_list(op->tx, type, source, &args, &data, &more, &ignored) != PAY_OK) {
        return json_null();
    }
    const char *id = pay_json_str(json_array_get(data, 0), "id");
    json_t *v = id ? json_string(id) : json_null();
    json_decref(data);
    return v;
}

/* "$12.50"-style text of @amount in @currency for messages. */
static void money_text(int64_t amount, const char *currency, char *buf, size_t n)
{
    const struct pay_currency *cur = pay_currency_find(currency ? currency : "");
    char num[32];
    if (cur == NULL || pay_amount_format(amount, cur, num, sizeof(num)) == 0) {
        snprintf(num, sizeof(num), "%lld", (long long)amount);
    }
    if (pay_str_eq(currency, "usd")) {
        snprintf(buf, n, "$%s", num);
    } else {
        snprintf(buf, n, "%s %s", num, currency ? currency : "");
    }
}

/* ---- Refunds of intents routed to Stripe (payments.h, "Provider calls") - */

/*
 * Step 1: the attempt, and a `pending` refund booked at once as the
 * sandbox books its pending refunds (ledger entry, amount_refunded), so a
 * concurrent refund or an inbound charge.refunded sees the amount taken; a
 * refund Stripe then refuses is reversed in step 3.
 */
static enum pay_err stripe_refund_begin(struct pay_op *op, const struct pay_refund_params *p,
                                        struct pay_intent_row *row, int64_t amount, json_t **out)
{
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("re", id);
    const struct pay_attempt_spec spec = {
        .intent = p->payment_intent,
        .refund = id,
        .operation = "refund",
        .amount_minor = amount,
        .stripe_pi = row->provider_ref,
    };
    enum pay_err e = pay_attempt_begin(op, &spec);
    if (e != PAY_OK) {
        return e;
    }
    int64_t now = pay_now();
    const char *customer = pay_json_str(row->obj, "customer");
    const char *currency = pay_json_str(row->obj, "currency");
    json_t *refund = json_object();
    pay_json_set_str(refund, "id", id);
    pay_json_set_str(refund, "object", "refund");
    pay_json_set_int(refund, "amount", amount);
    json_object_set_new_nocheck(refund, "balance_transaction", json_null());
    json_object_set_new_nocheck(refund, "charge", json_null());
    pay_json_set_int(refund, "created", now);
    pay_json_set_str(refund, "currency", currency);
    json_object_set_new_nocheck(refund, "metadata", json_object());
    pay_metadata_merge(refund, p->metadata);
    pay_json_set_str(refund, "payment_intent", p->payment_intent);
    pay_json_set_str(refund, "reason", p->reason);
    json_object_set_new_nocheck(refund, "receipt_number", json_null());
    json_object_set_new_nocheck(refund, "source_transfer_reversal", json_null());
    pay_json_set_str(refund, "status", "pending");
    json_object_set_new_nocheck(refund, "transfer_reversal", json_null());
    int64_t refunded = 0;
    if (!pay_money_add(pay_json_int(row->obj, "amount_refunded", 0), amount, &refunded)) {
        json_decref(refund);
        return pay_op_fail(op, PAY_ERR_OVERFLOW);
    }
    e = post_refund(op, id, row->connector, currency, amount, 1);
    if (e == PAY_OK) {
        pay_json_set_int(row->obj, "amount_refunded", refunded);
        e = pay_intent_row_save(op, row);
    }
    if (e != PAY_OK) {
        json_decref(refund);
        return e;
    }
    json_object_set_new_nocheck(refund, "balance_transaction",
                                balance_transaction_of(op, id, "refund"));
    char *data = pay_json_dump(refund);
    if (data == NULL) {
        json_decref(refund);
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param ins[8] = {
        PAY_PTEXT(id),        PAY_PINT(now),    PAY_PTEXT(p->payment_intent), PAY_PTEXT(customer),
        PAY_PTEXT("pending"), PAY_PINT(amount), PAY_PTEXT(currency),          PAY_PJSON(data),
    };
    e = pay_tx_exec(op->tx,
                    "INSERT INTO refunds (id, created, payment_intent, customer, status, amount, "
                    "currency, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    ins, PAY_NPARAMS(ins), NULL);
    if (e == PAY_OK) {
        /* The text just stored is the event's object. */
        e = pay_event_append_dumped(op->tx, "refund.created", refund, data, customer,
                                    op->request_id, op->err);
    }
    free(data);
    if (e != PAY_OK) {
        json_decref(refund);
        return pay_op_fail(op, e);
    }
    *out = refund;
    return PAY_OK;
}

enum pay_err pay_refund_provider_apply(struct pay_op *op, const struct pay_attempt *a,
                                       const struct pay_conn_result *res, json_t **out)
{
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, a->intent, true, "payment_intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    json_t *refund = NULL;
    struct pay_attempt cur;
    e = pay_attempt_load(op, a->id, &cur);
    if (e == PAY_OK) {
        e = refund_load(op, a->refund, true, &refund);
    }
    if (e != PAY_OK || !cur.pending || res->status == PAY_CONN_UNKNOWN) {
        goto out;
    }
    e = pay_attempt_finish(op, a->id, res);
    if (e != PAY_OK) {
        goto out;
    }
    const char *customer = pay_json_str(row.obj, "customer");
    int64_t amount = pay_json_int(refund, "amount", 0);
    if (!pay_str_eq(pay_json_str(refund, "status"), "pending")) {
        goto out; /* settled meanwhile by another path */
    }
    if (res->status == PAY_CONN_SUCCEEDED) {
        pay_json_set_str(refund, "status", "succeeded");
    } else if (res->status == PAY_CONN_PROCESSING) {
        /* Stripe's refund is pending too: booked already, it stays so. */
    } else {
        /* Refused: give the amount back, as a canceled pending refund does. */
        int64_t refunded = 0;
        if (!pay_money_sub(pay_json_int(row.obj, "amount_refunded", 0), amount, &refunded) ||
            refunded < 0) {
            e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL,
                              "Refund %s is larger than its intent's amount_refunded.", a->refund);
            goto out;
        }
        e = post_refund(op, a->refund, row.connector, pay_json_str(refund, "currency"), amount, -1);
        if (e != PAY_OK) {
            goto out;
        }
        pay_json_set_int(row.obj, "amount_refunded", refunded);
        e = pay_intent_row_save(op, &row);
        pay_json_set_str(refund, "status",
                         res->status == PAY_CONN_CANCELED ? "canceled" : "failed");
        pay_json_set_str(refund, "failure_reason",
                         res->decline_code[0] ? res->decline_code : "unknown");
    }
    if (e == PAY_OK) {
        e = pay_refund_row_save(op, refund);
    }
    if (e == PAY_OK) {
        e = pay_op_fail(op, pay_event_append(op->tx, "refund.updated", refund, customer,
                                             op->request_id, NULL, op->err));
    }
    if (e == PAY_OK && res->http_status >= 400) {
        /* Stripe refused the request itself: keep the failed refund, answer an error. */
        pay_tx_commit_anyway(op->tx);
        e = pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                          "The payment provider refused the "
                          "refund%s%s.",
                          res->message[0] ? ": " : "", res->message);
    }
out:
    pay_intent_row_release(&row);
    if (e == PAY_OK) {
        *out = refund;
    } else {
        json_decref(refund);
    }
    return e;
}

enum pay_err pay_refund_create(struct pay_op *op, const struct pay_refund_params *p, json_t **out)
{
    *out = NULL;
    if (p->payment_intent == NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "payment_intent",
                             "Missing required param: payment_intent.");
    }
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, p->payment_intent, true, "payment_intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    json_t *refund = NULL;
    const char *status = pay_json_str(row.obj, "status");
    const char *currency = pay_json_str(row.obj, "currency");
    int64_t received = pay_json_int(row.obj, "amount_received", 0);
    int64_t refunded = pay_json_int(row.obj, "amount_refunded", 0);
    int64_t remaining = 0;
    if (!pay_str_eq(status, "succeeded")) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "payment_intent",
                          "This PaymentIntent has a status of %s; only a succeeded "
                          "PaymentIntent can be refunded.",
                          status ? status : "unknown");
        goto out_release;
    }
    if (!pay_money_sub(received, refunded, &remaining) || remaining < 0) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL,
                          "Payment intent %s has refunded more than it received.",
                          p->payment_intent);
        goto out_release;
    }
    int64_t amount = p->has_amount ? p->amount_minor : remaining;
    if (remaining == 0) {
        e = pay_error_set(op->err, PAY_ERR_AMOUNT_TOO_LARGE, p->has_amount ? "amount" : NULL,
                          "PaymentIntent %s has already been refunded in full.", p->payment_intent);
        goto out_release;
    }
    if (amount < 1 || !pay_amount_valid(amount)) {
        e = pay_error_set(op->err, PAY_ERR_AMOUNT_INVALID, "amount",
                          "Invalid amount: must be at least 1.");
        goto out_release;
    }
    if (amount > remaining) {
        char want[48], left[48];
        money_text(amount, currency, want, sizeof(want));
        money_text(remaining, currency, left, sizeof(left));
        e = pay_error_set(op->err, PAY_ERR_AMOUNT_TOO_LARGE, "amount",
                          "Refund amount (%s) is greater than unrefunded amount on charge (%s)",
                          want, left);
        goto out_release;
    }
    /* Issue 6: a provider configured with supports_refunds=false. */
    e = pay_route_refund_check(op, &row);
    if (e != PAY_OK) {
        goto out_release;
    }

    if (pay_str_eq(row.connector, PAY_CONNECTOR_STRIPE)) {
        e = stripe_refund_begin(op, p, &row, amount, out);
        goto out_release;
    }
    if (pay_str_eq(row.connector, PAY_CONNECTOR_MANUAL) ||
        pay_str_eq(row.connector, PAY_CONNECTOR_MOBILE_MONEY)) {
        /* Cash, cheques, transfers: a refund request a second person approves.
         * Mobile money too: a wallet's collection API cannot refund; staff
         * send the money back (the wallet's disbursement) and a second
         * person approves. */
        e = pay_verification_refund_request(op, &row, p, amount, out);
        goto out_release;
    }
    const struct pay_connector *conn = pay_connector_find(row.connector);
    struct pay_conn_result res;
    memset(&res, 0, sizeof(res));
    if (conn == NULL || conn->refund(row.provider_ref, amount, &res) != PAY_OK ||
        (res.status != PAY_CONN_SUCCEEDED && res.status != PAY_CONN_PROCESSING)) {
        e = pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                          "The payment provider refused the refund%s%s.",
                          res.message[0] ? ": " : "", res.message);
        goto out_release;
    }

    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("re", id);
    int64_t now = pay_now();
    const char *customer = pay_json_str(row.obj, "customer");
    const char *refund_status = res.status == PAY_CONN_SUCCEEDED ? "succeeded" : "pending";
    refund = json_object();
    pay_json_set_str(refund, "id", id);
    pay_json_set_str(refund, "object", "refund");
    pay_json_set_int(refund, "amount", amount);
    json_object_set_new_nocheck(refund, "balance_transaction", json_null());
    json_object_set_new_nocheck(refund, "charge", json_null());
    pay_json_set_int(refund, "created", now);
    pay_json_set_str(refund, "currency", currency);
    json_object_set_new_nocheck(refund, "metadata", json_object());
    pay_metadata_merge(refund, p->metadata);
    pay_json_set_str(refund, "payment_intent", p->payment_intent);
    pay_json_set_str(refund, "reason", p->reason);
    json_object_set_new_nocheck(refund, "receipt_number", json_null());
    json_object_set_new_nocheck(refund, "source_transfer_reversal", json_null());
    pay_json_set_str(refund, "status", refund_status);
    json_object_set_new_nocheck(refund, "transfer_reversal", json_null());

    e = post_refund(op, id, row.connector, currency, amount, 1);
    if (e != PAY_OK) {
        goto out_release;
    }
    json_object_set_new_nocheck(refund, "balance_transaction",
                                balance_transaction_of(op, id, "refund"));
    char *data = pay_json_dump(refund);
    if (data == NULL) {
        e = pay_op_fail(op, PAY_ERR_NOMEM);
        goto out_release;
    }
    struct pay_param ins[8] = {
        PAY_PTEXT(id),
        PAY_PINT(now),
        PAY_PTEXT(p->payment_intent),
        PAY_PTEXT(customer),
        PAY_PTEXT(refund_status),
        PAY_PINT(amount),
        PAY_PTEXT(currency),
        PAY_PJSON(data),
    };
    e = pay_tx_exec(op->tx,
                    "INSERT INTO refunds (id, created, payment_intent, customer, status, amount, "
                    "currency, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    ins, PAY_NPARAMS(ins), NULL);
    if (e != PAY_OK) {
        free(data);
        e = pay_op_fail(op, e);
        goto out_release;
    }
    int64_t refunded_now = 0;
    if (!pay_money_add(refunded, amount, &refunded_now)) {
        free(data);
        e = pay_op_fail(op, PAY_ERR_OVERFLOW);
        goto out_release;
    }
    pay_json_set_int(row.obj, "amount_refunded", refunded_now);
    e = pay_intent_row_save(op, &row);
    if (e == PAY_OK) {
        /* The text just stored is the event's object. */
        e = pay_op_fail(op, pay_event_append_dumped(op->tx, "refund.created", refund, data,
                                                    customer, op->request_id, op->err));
    }
    free(data);
    if (e == PAY_OK) {
        *out = json_incref(refund);
    }
out_release:
    json_decref(refund);
    pay_intent_row_release(&row);
    return e;
}

enum pay_err pay_refund_get(struct pay_op *op, const char *id, json_t **out)
{
    return refund_load(op, id, false, out);
}

enum pay_err pay_refund_update(struct pay_op *op, const char *id, const json_t *metadata,
                               bool clear, json_t **out)
{
    *out = NULL;
    json_t *obj = NULL;
    enum pay_err e = refund_load(op, id, true, &obj);
    if (e != PAY_OK) {
        return e;
    }
    if (metadata != NULL || clear) {
        if (clear) {
            json_object_set_new_nocheck(obj, "metadata", json_object());
        }
        pay_metadata_merge(obj, metadata);
        if (json_object_size(json_object_get(obj, "metadata")) > PAY_METADATA_KEYS_MAX) {
            json_decref(obj);
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "metadata",
                                 "Invalid metadata: at most %d keys are allowed.",
                                 PAY_METADATA_KEYS_MAX);
        }
        e = pay_refund_row_save(op, obj);
        if (e == PAY_OK) {
            e = pay_op_fail(op, pay_event_append(op->tx, "refund.updated", obj, NULL,
                                                 op->request_id, NULL, op->err));
        }
    }
    if (e == PAY_OK) {
        *out = obj;
    } else {
        json_decref(obj);
    }
    return e;
}

enum pay_err pay_refund_cancel(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    json_t *obj = NULL;
    enum pay_err e = refund_load(op, id, true, &obj);
    if (e != PAY_OK) {
        return e;
    }
    struct pay_intent_row row;
    memset(&row, 0, sizeof(row));
    const char *status = pay_json_str(obj, "status");
    if (!pay_str_eq(status, "pending")) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "Refund %s has a status of %s; only a pending refund can be canceled.",
                          id, status ? status : "unknown");
        goto out;
    }
    /* Give the amount back to the intent and the merchant balance. */
    e = pay_intent_row_load(op, pay_json_str(obj, "payment_intent"), true, "payment_intent", &row);
    if (e != PAY_OK) {
        goto out;
    }
    if (pay_str_eq(row.connector, PAY_CONNECTOR_STRIPE)) {
        /* Stripe decides a pending card refund itself; payd cannot take it back. */
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "Refund %s is with Stripe and cannot be canceled through payd.", id);
        goto out;
    }
    if (pay_str_eq(row.connector, PAY_CONNECTOR_MANUAL)) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "Refund %s waits for verification: reject it in the verification "
                          "queue (POST /v1/verifications/:id/reject).",
                          id);
        goto out;
    }
    int64_t amount = pay_json_int(obj, "amount", 0);
    int64_t refunded = 0;
    if (!pay_money_sub(pay_json_int(row.obj, "amount_refunded", 0), amount, &refunded) ||
        refunded < 0) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL,
                          "Refund %s is larger than its intent's amount_refunded.", id);
        goto out;
    }
    pay_json_set_int(row.obj, "amount_refunded", refunded);
    pay_json_set_str(obj, "status", "canceled");
    e = post_refund(op, id, row.connector, pay_json_str(obj, "currency"), amount, -1);
    if (e == PAY_OK) {
        e = pay_intent_row_save(op, &row);
    }
    if (e == PAY_OK) {
        e = pay_refund_row_save(op, obj);
    }
    if (e == PAY_OK) {
        e = pay_op_fail(op, pay_event_append(op->tx, "refund.updated", obj,
                                             pay_json_str(row.obj, "customer"), op->request_id,
                                             NULL, op->err));
    }
out:
    pay_intent_row_release(&row);
    if (e == PAY_OK) {
        *out = obj;
    } else {
        json_decref(obj);
    }
    return e;
}

enum pay_err pay_refund_list(struct pay_op *op, const char *payment_intent,
                             const struct pay_list_args *args, json_t **data_out, bool *has_more)
{
    *data_out = NULL;
    *has_more = false;
    struct pay_param p[2];
    size_t n = 0;
    const char *where = NULL;
    if (payment_intent != NULL && op->customer_scope != NULL) {
        where = "payment_intent = $1 AND customer = $2";
        p[n++] = PAY_PTEXT(payment_intent);
        p[n++] = PAY_PTEXT(op->customer_scope);
    } else if (payment_intent != NULL) {
        where = "payment_intent = $1";
        p[n++] = PAY_PTEXT(payment_intent);
    } else if (op->customer_scope != NULL) {
        where = "customer = $1";
        p[n++] = PAY_PTEXT(op->customer_scope);
    }
    return pay_op_fail(op, pay_tx_list(op->tx, "refunds", where, n ? p : NULL, n, args, data_out,
                                       has_more, op->err));
}

/* ---- pay_payments_verify ------------------------------------------------- */

struct verify_row {
    char id[PAY_ID_LEN_MAX + 1];
    int64_t a, b;     /* intents: received, refunded; refunds: amount, counts (0/1) */
    int64_t fee;      /* intents: the provider's fee (issue 6), part of the capture entry */
    bool data_agrees; /* the JSON object carries the same amounts as the columns */
};

/* A check's tally: how many rows, how many failed, and a few examples. */
struct tally {
    int64_t checked, failed;
    struct pay_buf examples;
};

static void tally_init(struct tally *t)
{
    t->checked = t->failed = 0;
    pay_buf_init(&t->examples, 1024);
}

static void tally_fail(struct tally *t, const char *fmt, ...) PAY_PRINTF(2, 3);
static void tally_fail(struct tally *t, const char *fmt, ...)
{
    if (t->failed++ < VERIFY_EXAMPLES_MAX) {
        char line[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (pay_buf_addf(&t->examples, "%s%s", t->examples.len ? "; " : "", line) != PAY_OK) {
            /* The report stays correct without examples. */
        }
    }
}

static enum pay_err tally_report(struct tally *t, struct pay_buf *report, const char *what,
                                 const char *unit, int64_t *violations)
{
    enum pay_err e;
    if (t->failed == 0) {
        e = pay_buf_addf(report, "ok   %s (%lld %s)\n", what, (long long)t->checked, unit);
    } else {
        e = pay_buf_addf(report, "FAIL %s: %lld of %lld %s differ, e.g. %s\n", what,
                         (long long)t->failed, (long long)t->checked, unit,
                         t->examples.data ? t->examples.data : "");
        *violations += t->failed;
    }
    pay_buf_release(&t->examples);
    return e;
}

/* Read every row of @sql (id, int, int, data) into a new array. */
static enum pay_err collect(struct pay_tx *tx, const char *sql, bool intents,
                            struct verify_row **rows_out, size_t *n_out)
{
    *rows_out = NULL;
    *n_out = 0;
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(tx, sql, NULL, 0, &r);
    if (e != PAY_OK) {
        return e;
    }
    size_t cap = 0;
    while (pay_rows_next(r)) {
        if (*n_out == cap) {
            size_t ncap = cap ? 2 * cap : 256;
            struct verify_row *nrows = realloc(*rows_out, ncap * sizeof(**rows_out));
            if (nrows == NULL) {
                e = PAY_ERR_NOMEM;
                break;
            }
            *rows_out = nrows;
            cap = ncap;
        }
        struct verify_row *v = &(*rows_out)[(*n_out)++];
        memset(v, 0, sizeof(*v));
        const char *id = pay_rows_text(r, 0);
        snprintf(v->id, sizeof(v->id), "%s", id ? id : "?");
        v->a = pay_rows_int(r, 1);
        const char *data = pay_rows_text(r, 3);
        json_error_t jerr;
        json_t *obj = data ? json_loadb(data, pay_rows_len(r, 3), 0, &jerr) : NULL;
        if (intents) {
            v->b = pay_rows_int(r, 2);
            v->fee = pay_rows_int(r, 4);
            /* disputed is the fraud rules' copy of the object's mark (0018). */
            v->data_agrees =
                json_is_object(obj) && pay_json_int(obj, "amount_received", -1) == v->a &&
                pay_json_int(obj, "amount_refunded", -1) == v->b &&
                pay_json_int(obj, "fee_amount", 0) == v->fee &&
                json_is_true(json_object_get(obj, "disputed")) == (pay_rows_int(r, 5) != 0);
        } else {
            const char *status = pay_rows_text(r, 2);
            v->b = pay_str_eq(status, "succeeded") || pay_str_eq(status, "pending");
            v->data_agrees = json_is_object(obj) && pay_json_int(obj, "amount", -1) == v->a &&
                             pay_str_eq(pay_json_str(obj, "status"), status);
        }
        json_decref(obj);
    }
    enum pay_err ce = pay_rows_close(r);
    if (e == PAY_OK) {
        e = ce;
    }
    if (e != PAY_OK) {
        free(*rows_out);
        *rows_out = NULL;
        *n_out = 0;
    }
    return e;
}

/*
 * Wallet money no intent took (momo_intents.c): each request that is
 * succeeded_unapplied holds its amount on the unapplied-receipts liability
 * (one unapplied_receipt entry, no refund entry); each refunded request has
 * both entries, which cancel out; and no other request has either.
 */
static enum pay_err wallets_verify(struct pay_tx *tx, struct tally *t)
{
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(
        tx,
        "SELECT reference, amount, status FROM momo_requests WHERE status IN "
        "('succeeded_unapplied', 'refunded') OR reference IN (SELECT source_id FROM "
        "ledger_entries WHERE kind IN ('unapplied_receipt', 'unapplied_refund')) ORDER BY seq",
        NULL, 0, &r);
    if (e != PAY_OK) {
        return e;
    }
    while (e == PAY_OK && pay_rows_next(r)) {
        const char *ref = pay_rows_text(r, 0);
        int64_t amount = pay_rows_int(r, 1);
        const char *status = pay_rows_text(r, 2);
        bool unapplied = pay_str_eq(status, "succeeded_unapplied");
        bool refunded = pay_str_eq(status, "refunded");
        int64_t receipt = 0, refund = 0;
        e = pay_ledger_source_sum(tx, ref, "unapplied_receipt", PAY_ACCOUNT_UNAPPLIED_MOMO,
                                  &receipt);
        if (e == PAY_OK) {
            e = pay_ledger_source_sum(tx, ref, "unapplied_refund", PAY_ACCOUNT_UNAPPLIED_MOMO,
                                      &refund);
        }
        if (e != PAY_OK) {
            break;
        }
        t->checked++;
        /* The liability is credit-normal: money held is a negative line. */
        int64_t want_receipt = unapplied || refunded ? -amount : 0;
        int64_t want_refund = refunded ? amount : 0;
        if (receipt != want_receipt || refund != want_refund) {
            tally_fail(t, "%s (%s, %lld): unapplied receipt %lld, refund %lld", ref ? ref : "?",
                       status ? status : "?", (long long)amount, (long long)-receipt,
                       (long long)refund);
        }
    }
    enum pay_err ce = pay_rows_close(r);
    return e != PAY_OK ? e : ce;
}

enum pay_err pay_payments_verify(struct pay_tx *tx, struct pay_buf *report, int64_t *violations_out)
{
    *violations_out = 0;
    struct verify_row *intents = NULL, *refunds = NULL;
    size_t n_intents = 0, n_refunds = 0;
    struct tally t_data, t_recv, t_ref, t_refunds;
    tally_init(&t_data);
    tally_init(&t_recv);
    tally_init(&t_ref);
    tally_init(&t_refunds);

    enum pay_err e = collect(tx,
                             "SELECT id, amount_received, amount_refunded, data, fee, "
                             "disputed FROM payment_intents ORDER BY seq",
                             true, &intents, &n_intents);
    if (e == PAY_OK) {
        e = collect(tx, "SELECT id, amount, status, data FROM refunds ORDER BY seq", false,
                    &refunds, &n_refunds);
    }
    for (size_t i = 0; e == PAY_OK && i < n_intents; i++) {
        const struct verify_row *v = &intents[i];
        t_data.checked++;
        if (!v->data_agrees) {
            tally_fail(&t_data, "%s: object and columns disagree (%lld/%lld)", v->id,
                       (long long)v->a, (long long)v->b);
        }
        int64_t captured = 0;
        e = pay_ledger_source_sum(tx, v->id, "capture", PAY_ACCOUNT_MERCHANT_BALANCE, &captured);
        if (e != PAY_OK) {
            break;
        }
        t_recv.checked++;
        /* The merchant balance is credit-normal: a capture is a negative line,
         * less the provider's fee (issue 6), booked in the same entry. */
        int64_t net = v->a > 0 ? v->a - v->fee : 0;
        if (captured == INT64_MIN || net != -captured) {
            tally_fail(&t_recv, "%s: amount_received %lld, ledger %lld", v->id, (long long)v->a,
                       (long long)(captured == INT64_MIN ? captured : -captured));
        }
        int64_t refunded = 0;
        bool found = false;
        struct pay_param p[1] = {PAY_PTEXT(v->id)};
        e = pay_tx_query_int(tx,
                             "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE "
                             "payment_intent = $1 AND status IN ('succeeded', 'pending')",
                             p, 1, &refunded, &found);
        if (e != PAY_OK) {
            break;
        }
        t_ref.checked++;
        if (v->b != refunded || v->b > v->a) {
            tally_fail(&t_ref, "%s: amount_refunded %lld, refunds %lld", v->id, (long long)v->b,
                       (long long)refunded);
        }
    }
    for (size_t i = 0; e == PAY_OK && i < n_refunds; i++) {
        const struct verify_row *v = &refunds[i];
        int64_t booked = 0;
        e = pay_ledger_source_sum(tx, v->id, NULL, PAY_ACCOUNT_MERCHANT_BALANCE, &booked);
        if (e != PAY_OK) {
            break;
        }
        t_refunds.checked++;
        int64_t want = v->b ? v->a : 0;
        if (want != 0 && booked == 0) {
            /* A manual refund request books its entry only when approved. */
            int64_t waiting = 0;
            bool found = false;
            struct pay_param rp[1] = {PAY_PTEXT(v->id)};
            e = pay_tx_query_int(tx,
                                 "SELECT COUNT(*) FROM verifications WHERE refund = $1 AND "
                                 "status = 'pending'",
                                 rp, 1, &waiting, &found);
            if (e != PAY_OK) {
                break;
            }
            want = waiting > 0 ? 0 : want;
        }
        if (booked != want || !v->data_agrees) {
            tally_fail(&t_refunds, "%s: amount %lld, ledger %lld", v->id, (long long)want,
                       (long long)booked);
        }
    }
    free(intents);
    free(refunds);
    struct tally t_wallets;
    tally_init(&t_wallets);
    if (e == PAY_OK) {
        e = wallets_verify(tx, &t_wallets);
    }
    if (e != PAY_OK) {
        pay_buf_release(&t_data.examples);
        pay_buf_release(&t_recv.examples);
        pay_buf_release(&t_ref.examples);
        pay_buf_release(&t_refunds.examples);
        pay_buf_release(&t_wallets.examples);
        return e;
    }
    enum pay_err re[5] = {
        tally_report(&t_data, report, "payment intents: stored objects agree with their columns",
                     "intents", violations_out),
        tally_report(&t_recv, report,
                     "payment intents: amount_received equals the ledger's captures", "intents",
                     violations_out),
        tally_report(&t_ref, report, "payment intents: amount_refunded equals their refunds",
                     "intents", violations_out),
        tally_report(&t_refunds, report, "refunds: each equals its ledger entries", "refunds",
                     violations_out),
        tally_report(&t_wallets, report,
                     "mobile money: unapplied and refunded requests equal their ledger entries",
                     "requests", violations_out),
    };
    for (size_t i = 0; i < 5; i++) {
        if (re[i] != PAY_OK) {
            return re[i];
        }
    }
    return PAY_OK;
}

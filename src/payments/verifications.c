/*
 * verifications.c - manual tenders (cash, cheque, bank transfer, bank
 * draft), fraud reviews, payments of providers configured with
 * requires_manual_verification (provider_review) and refund requests of
 * manual tenders wait in one verification queue until a second person
 * decides (maker-checker), with
 * evidence files (receipt photos, cash counts, cheque images, bank slips)
 * kept beside them. The rules are payments.h's "Manual tenders".
 *
 * Invariants:
 * - the person who decides is never the one who recorded (recorded_by =
 *   op->actor when the verification was opened), checked under the
 *   verification's row lock;
 * - at most one pending verification per intent and kind (per refund for
 *   refund requests): a partial unique index (0012_verifications);
 * - a decision locks the intent row first, then the verification row, and
 *   changes both in the request's transaction together with the ledger
 *   entry and the events, so an approval books exactly once;
 * - a manual refund request reserves its amount on the intent
 *   (amount_refunded) when asked for and books the ledger only when
 *   approved; a rejection releases the amount (pay_payments_verify knows
 *   such pending requests book nothing);
 * - evidence bytes are stored base64url-encoded with the hex SHA-256 of the
 *   raw bytes, checked again when they are read back.
 *
 * Threading: no state of its own; runs inside the caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "mobile_money.h"
#include "payments_int.h"

#define ACCOUNT_LEN_MAX 96

static const char *const ST_PENDING = "pending";
static const char *const ST_APPROVED = "approved";
static const char *const ST_REJECTED = "rejected";
static const char *const ST_CANCELED = "canceled";
static const char *const INTENT_RV = "requires_verification";

static const char *actor_of(const struct pay_op *op)
{
    return op->actor != NULL ? op->actor : "";
}

/* ---- Rows ---------------------------------------------------------------- */

/* Load the `data` of the row of @table with id @id (FOR UPDATE when asked)
 * into *out; *out stays NULL when there is none. */
static enum pay_err load_data(struct pay_op *op, const char *sql, const char *id, json_t **out)
{
    *out = NULL;
    struct pay_param p[1] = {PAY_PTEXT(id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sql, p, 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (pay_rows_next(r)) {
        const char *data = pay_rows_text(r, 0);
        json_error_t jerr;
        *out = data ? json_loadb(data, pay_rows_len(r, 0), 0, &jerr) : NULL;
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Stored object %s is corrupt.", id);
        }
    }
    enum pay_err ce = pay_rows_close(r);
    if (e == PAY_OK && ce != PAY_OK) {
        json_decref(*out);
        *out = NULL;
        e = ce;
    }
    return pay_op_fail(op, e);
}

static enum pay_err verification_not_found(struct pay_op *op, const char *id)
{
    return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such verification: '%s'",
                         id ? id : "");
}

static enum pay_err verification_load(struct pay_op *op, const char *id, bool for_update,
                                      json_t **out)
{
    *out = NULL;
    if (id == NULL || !pay_id_valid(id, "ver")) {
        return verification_not_found(op, id);
    }
    enum pay_err e =
        load_data(op,
                  for_update ? "SELECT data FROM verifications WHERE id = $1 FOR UPDATE"
                             : "SELECT data FROM verifications WHERE id = $1",
                  id, out);
    if (e == PAY_OK && *out == NULL) {
        return verification_not_found(op, id);
    }
    return e;
}

static enum pay_err verification_insert(struct pay_op *op, const json_t *v)
{
    char *data = pay_json_dump(v);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[14] = {
        PAY_PTEXT(pay_json_str(v, "id")),
        PAY_PINT(pay_json_int(v, "created", 0)),
        PAY_PTEXT(pay_json_str(v, "kind")),
        PAY_PTEXT(pay_json_str(v, "status")),
        PAY_PTEXT(pay_json_str(v, "payment_intent")),
        PAY_PTEXT(pay_json_str(v, "refund")),
        PAY_PTEXT(pay_json_str(v, "customer")),
        PAY_PTEXT(pay_json_str(v, "tender")),
        PAY_PTEXT(pay_json_str(v, "facility")),
        PAY_PINT(pay_json_int(v, "amount", 0)),
        PAY_PTEXT(pay_json_str(v, "currency")),
        PAY_PTEXT(pay_json_str(v, "recorded_by")),
        PAY_PTEXT(data),
        PAY_PTEXT(pay_json_str(v, "mobile_money_request")),
    };
    enum pay_err e = pay_tx_exec(op->tx,
                                 "INSERT INTO verifications (id, created, kind, status, "
                                 "payment_intent, refund, customer, tender, facility, amount, "
                                 "currency, recorded_by, data, mobile_money_request) VALUES ($1, "
                                 "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                                 p, PAY_NPARAMS(p), NULL);
    free(data);
    if (e == PAY_ERR_DB_UNIQUE && pay_json_str(v, "mobile_money_request") != NULL) {
        return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "reference",
                             "Paying back mobile money request %s already waits for approval.",
                             pay_json_str(v, "mobile_money_request"));
    }
    if (e == PAY_ERR_DB_UNIQUE) {
        return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                             "A verification of this kind is already pending for %s.",
                             pay_json_str(v, "payment_intent"));
    }
    return pay_op_fail(op, e);
}

static enum pay_err verification_save(struct pay_op *op, const json_t *v)
{
    char *data = pay_json_dump(v);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    const char *decided_by = pay_json_str(v, "decided_by");
    json_t *da = json_object_get(v, "decided_at");
    struct pay_param p[5] = {
        PAY_PTEXT(pay_json_str(v, "id")),
        PAY_PTEXT(pay_json_str(v, "status")),
        PAY_PTEXT(decided_by),
        json_is_integer(da) ? PAY_PINT(json_integer_value(da)) : PAY_PNULL,
        PAY_PTEXT(data),
    };
    int64_t changes = 0;
    enum pay_err e = pay_tx_exec(op->tx,
                                 "UPDATE verifications SET status = $2, decided_by = $3, "
                                 "decided_at = $4, data = $5 WHERE id = $1",
                                 p, PAY_NPARAMS(p), &changes);
    free(data);
    if (e == PAY_OK && changes != 1) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Verification %s vanished.",
                          pay_json_str(v, "id"));
    }
    return pay_op_fail(op, e);
}

/* Staff-only events: no customer, so a patient's token never lists them. */
static enum pay_err emit(struct pay_op *op, const char *type, const json_t *obj,
                         const char *customer)
{
    return pay_op_fail(
        op, pay_event_append(op->tx, type, obj, customer, op->request_id, NULL, op->err));
}

/* A new verification object (status pending). */
static json_t *verification_new(struct pay_op *op, const char *kind, const json_t *intent,
                                const char *tender, int64_t amount, const char *refund)
{
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("ver", id);
    json_t *v = json_object();
    if (v == NULL) {
        return NULL;
    }
    pay_json_set_str(v, "id", id);
    pay_json_set_str(v, "object", "verification");
    pay_json_set_int(v, "created", pay_now());
    pay_json_set_str(v, "kind", kind);
    pay_json_set_str(v, "status", ST_PENDING);
    pay_json_set_str(v, "payment_intent", pay_json_str(intent, "id"));
    pay_json_set_str(v, "refund", refund);
    pay_json_set_str(v, "customer", pay_json_str(intent, "customer"));
    pay_json_set_str(v, "tender", tender);
    pay_json_set_str(v, "facility", pay_json_str(intent, "facility"));
    pay_json_set_int(v, "amount", amount);
    pay_json_set_str(v, "currency", pay_json_str(intent, "currency"));
    pay_json_set_str(v, "recorded_by", actor_of(op));
    pay_json_set_str(v, "recorded_by_role", op->actor_role != NULL ? op->actor_role : "");
    json_object_set_new_nocheck(v, "decided_by", json_null());
    json_object_set_new_nocheck(v, "decided_by_role", json_null());
    json_object_set_new_nocheck(v, "decided_at", json_null());
    json_object_set_new_nocheck(v, "reason", json_null());
    json_object_set_new_nocheck(v, "evidence", json_array());
    pay_json_set_bool(v, "livemode", false);
    return v;
}

/* The intent's tender: its "tender" field, else its payment method types' one. */
static const char *tender_of(const json_t *intent)
{
    const char *t = pay_json_str(intent, "tender");
    if (t != NULL) {
        return t;
    }
    const json_t *types = json_object_get(intent, "payment_method_types");
    if (json_array_size(types) == 1 && json_is_string(json_array_get(types, 0))) {
        return json_string_value(json_array_get(types, 0));
    }
    return "card";
}

/* next_action while the intent waits: what to do and where evidence goes. */
static json_t *verify_action(const json_t *v)
{
    json_t *inner = json_object();
    pay_json_set_str(inner, "verification", pay_json_str(v, "id"));
    pay_json_set_str(inner, "kind", pay_json_str(v, "kind"));
    char url[PAY_ID_LEN_MAX + 64];
    snprintf(url, sizeof(url), "/v1/payment_intents/%s/evidence",
             pay_json_str(v, "payment_intent"));
    pay_json_set_str(inner, "evidence_upload_url", url);
    json_t *na = json_object();
    pay_json_set_str(na, "type", "manual_verification");
    json_object_set_new_nocheck(na, "manual_verification", inner);
    return na;
}

enum pay_err pay_verification_open(struct pay_op *op, struct pay_intent_row *row, const char *kind,
                                   const struct pay_route_choice *route, bool off_session)
{
    const char *tender =
        route != NULL && route->tender[0] != '\0' ? route->tender : tender_of(row->obj);
    if (route != NULL && row->connector[0] == '\0') {
        snprintf(row->connector, sizeof(row->connector), "%s", route->connector);
    }
    json_t *v =
        verification_new(op, kind, row->obj, tender, pay_json_int(row->obj, "amount", 0), NULL);
    if (v == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    pay_json_set_bool(v, "off_session", off_session);
    enum pay_err e = verification_insert(op, v);
    if (e == PAY_OK) {
        json_object_set_new_nocheck(row->obj, "last_payment_error", json_null());
        json_object_set_new_nocheck(row->obj, "next_action", verify_action(v));
        pay_json_set_int(row->obj, "amount_capturable", 0);
        pay_json_set_str(row->obj, "status", INTENT_RV);
        e = pay_intent_row_save(op, row);
    }
    if (e == PAY_OK) {
        e = emit(op, "payment_intent.requires_verification", row->obj,
                 pay_json_str(row->obj, "customer"));
    }
    if (e == PAY_OK) {
        e = emit(op, "verification.created", v, NULL);
    }
    json_decref(v);
    return e;
}

/* ---- Paying back unapplied wallet money ------------------------------------ */

enum pay_err pay_verification_unapplied_refund(struct pay_op *op, const char *reference,
                                               json_t **out)
{
    *out = NULL;
    /* Staff act for every customer: the request and its intent unscoped. */
    struct pay_op sys = *op;
    sys.customer_scope = NULL;
    json_t *req = NULL;
    enum pay_err e = pay_momo_unapplied_get(&sys, reference, &req);
    if (e != PAY_OK) {
        return e;
    }
    /* The intent is locked first, as a decision locks it. */
    struct pay_intent_row row;
    e = pay_intent_row_load(&sys, pay_json_str(req, "payment_intent"), true, "reference", &row);
    if (e != PAY_OK) {
        json_decref(req);
        return e;
    }
    json_t *v = verification_new(op, "unapplied_refund", row.obj, PAY_TENDER_MOBILE_WALLET,
                                 pay_json_int(req, "amount", 0), NULL);
    if (v == NULL) {
        e = pay_op_fail(op, PAY_ERR_NOMEM);
        goto out;
    }
    pay_json_set_str(v, "currency", pay_json_str(req, "currency"));
    pay_json_set_str(v, "mobile_money_request", reference);
    e = verification_insert(op, v);
    if (e == PAY_OK) {
        e = emit(op, "verification.created", v, NULL);
    }
out:
    pay_intent_row_release(&row);
    json_decref(req);
    if (e == PAY_OK) {
        *out = v;
    } else {
        json_decref(v);
    }
    return e;
}

/* ---- Refund requests of manual tenders ------------------------------------ */

static enum pay_err refund_load(struct pay_op *op, const char *id, json_t **out)
{
    enum pay_err e = load_data(op, "SELECT data FROM refunds WHERE id = $1 FOR UPDATE", id, out);
    if (e == PAY_OK && *out == NULL) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Refund %s of a verification vanished.",
                          id ? id : "");
    }
    return e;
}

/* The id of the balance transaction the ledger wrote for @source (or null). */
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

enum pay_err pay_verification_refund_request(struct pay_op *op, struct pay_intent_row *row,
                                             const struct pay_refund_params *p, int64_t amount,
                                             json_t **out)
{
    *out = NULL;
    int64_t refunded = 0;
    if (!pay_money_add(pay_json_int(row->obj, "amount_refunded", 0), amount, &refunded)) {
        return pay_op_fail(op, PAY_ERR_OVERFLOW);
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("re", id);
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
    pay_json_set_str(refund, "payment_intent", pay_json_str(row->obj, "id"));
    pay_json_set_str(refund, "reason", p->reason);
    json_object_set_new_nocheck(refund, "receipt_number", json_null());
    json_object_set_new_nocheck(refund, "source_transfer_reversal", json_null());
    pay_json_set_str(refund, "status", "pending");
    json_object_set_new_nocheck(refund, "transfer_reversal", json_null());
    char *data = pay_json_dump(refund);
    if (data == NULL) {
        json_decref(refund);
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param ins[8] = {
        PAY_PTEXT(id),       PAY_PINT(now),        PAY_PTEXT(pay_json_str(row->obj, "id")),
        PAY_PTEXT(customer), PAY_PTEXT("pending"), PAY_PINT(amount),
        PAY_PTEXT(currency), PAY_PJSON(data),
    };
    enum pay_err e = pay_tx_exec(op->tx,
                                 "INSERT INTO refunds (id, created, payment_intent, customer, "
                                 "status, amount, currency, data) VALUES ($1, $2, $3, $4, $5, $6, "
                                 "$7, $8)",
                                 ins, PAY_NPARAMS(ins), NULL);
    free(data);
    /* The amount is reserved now (no second request can exceed what was
     * received); the ledger moves when the request is approved. */
    if (e == PAY_OK) {
        pay_json_set_int(row->obj, "amount_refunded", refunded);
        e = pay_intent_row_save(op, row);
    }
    if (e == PAY_OK) {
        e = emit(op, "refund.created", refund, customer);
    }
    json_t *v = NULL;
    if (e == PAY_OK) {
        v = verification_new(op, "refund", row->obj, tender_of(row->obj), amount, id);
        e = v != NULL ? verification_insert(op, v) : pay_op_fail(op, PAY_ERR_NOMEM);
    }
    if (e == PAY_OK) {
        e = emit(op, "verification.created", v, NULL);
    }
    json_decref(v);
    if (e != PAY_OK) {
        json_decref(refund);
        return pay_op_fail(op, e);
    }
    *out = refund;
    return PAY_OK;
}

/* Approve (post the refund's ledger entry) or reject (release the amount). */
static enum pay_err decide_refund(struct pay_op *op, json_t *v, struct pay_intent_row *row,
                                  bool approve)
{
    json_t *refund = NULL;
    enum pay_err e = refund_load(op, pay_json_str(v, "refund"), &refund);
    if (e != PAY_OK) {
        return e;
    }
    const char *rid = pay_json_str(refund, "id");
    int64_t amount = pay_json_int(refund, "amount", 0);
    if (!pay_str_eq(pay_json_str(refund, "status"), "pending")) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "Refund %s has a status of %s; only a pending refund can be decided.",
                          rid, pay_json_str(refund, "status"));
        goto out;
    }
    if (approve) {
        char account[ACCOUNT_LEN_MAX];
        snprintf(account, sizeof(account), "assets:processor:%s",
                 row->connector[0] ? row->connector : PAY_CONNECTOR_MANUAL);
        const struct pay_ledger_line lines[2] = {
            {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = amount},
            {.account = account, .amount_minor = -amount},
        };
        const struct pay_ledger_entry entry = {
            .kind = "refund",
            .currency = pay_json_str(refund, "currency"),
            .source_id = rid,
            .description = "Refund (verified)",
            .lines = lines,
            .n_lines = 2,
            .bt = {.type = "refund", .amount_minor = -amount, .fee_minor = 0},
        };
        e = pay_op_fail(op, pay_ledger_post(op->tx, &entry, NULL, op->err));
        if (e != PAY_OK) {
            goto out;
        }
        json_object_set_new_nocheck(refund, "balance_transaction",
                                    balance_transaction_of(op, rid, "refund"));
        pay_json_set_str(refund, "status", "succeeded");
    } else {
        int64_t refunded = 0;
        if (!pay_money_sub(pay_json_int(row->obj, "amount_refunded", 0), amount, &refunded) ||
            refunded < 0) {
            e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL,
                              "Refund %s is larger than its intent's amount_refunded.", rid);
            goto out;
        }
        pay_json_set_int(row->obj, "amount_refunded", refunded);
        e = pay_intent_row_save(op, row);
        if (e != PAY_OK) {
            goto out;
        }
        pay_json_set_str(refund, "status", "failed");
        pay_json_set_str(refund, "failure_reason", "declined");
    }
    e = pay_refund_row_save(op, refund);
    if (e == PAY_OK) {
        e = emit(op, "refund.updated", refund, pay_json_str(row->obj, "customer"));
    }
out:
    json_decref(refund);
    return e;
}

/* ---- Decisions -------------------------------------------------------------- */

/* last_payment_error of a rejected verification (Stripe's shape). */
static json_t *rejection_error(const char *kind, const char *reason)
{
    bool fraud = pay_str_eq(kind, "fraud_review");
    json_t *lpe = json_object();
    pay_json_set_str(lpe, "type", "card_error");
    pay_json_set_str(lpe, "code", fraud ? "card_declined" : "payment_method_provider_decline");
    pay_json_set_str(lpe, "decline_code", fraud ? "fraudulent" : "verification_rejected");
    pay_json_set_str(lpe, "doc_url",
                     fraud ? "https://stripe.com/docs/error-codes/card-declined"
                           : "https://stripe.com/docs/error-codes/payment-method-provider-decline");
    char msg[PAY_VERIFICATION_REASON_LEN_MAX + 64];
    snprintf(msg, sizeof(msg), "The payment was rejected at verification: %s", reason);
    pay_json_set_str(lpe, "message", msg);
    json_object_set_new_nocheck(lpe, "payment_method", json_null());
    return lpe;
}

static enum pay_err decide_payment(struct pay_op *op, json_t *v, struct pay_intent_row *row,
                                   bool approve, const char *reason)
{
    const char *status = pay_json_str(row->obj, "status");
    if (!pay_str_eq(status, INTENT_RV)) {
        return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                             "PaymentIntent %s has a status of %s; only a PaymentIntent in "
                             "requires_verification can be approved or rejected.",
                             pay_json_str(row->obj, "id"), status ? status : "unknown");
    }
    const char *customer = pay_json_str(row->obj, "customer");
    enum pay_err e;
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    if (approve) {
        e = pay_intent_verified(op, row, pay_json_str(v, "kind"),
                                json_is_true(json_object_get(v, "off_session")));
        return e;
    }
    json_object_set_new_nocheck(row->obj, "last_payment_error",
                                rejection_error(pay_json_str(v, "kind"), reason));
    json_object_set_new_nocheck(row->obj, "payment_method", json_null());
    pay_json_set_int(row->obj, "amount_capturable", 0);
    pay_json_set_str(row->obj, "status", "requires_payment_method");
    e = pay_intent_row_save(op, row);
    if (e == PAY_OK) {
        e = emit(op, "payment_intent.payment_failed", row->obj, customer);
    }
    if (e == PAY_OK) {
        /* A rejection counts as a decline for the customer's risk rules. */
        e = pay_risk_challenge_outcome(op, pay_json_str(row->obj, "id"), "declined");
    }
    return e;
}

/*
 * Paying back a wallet's unapplied money: approved, the request becomes
 * refunded with its reverse ledger entry (pay_momo_unapplied_refunded);
 * rejected, it stays succeeded_unapplied (nothing moves) and may be asked
 * for again. The intent is left alone either way.
 */
static enum pay_err decide_unapplied_refund(struct pay_op *op, const json_t *v, bool approve)
{
    if (!approve) {
        return PAY_OK;
    }
    json_t *req = NULL;
    enum pay_err e = pay_momo_unapplied_refunded(op, pay_json_str(v, "mobile_money_request"),
                                                 pay_json_str(v, "customer"), &req);
    json_decref(req);
    return e;
}

static enum pay_err decide(struct pay_op *op, const char *id, bool approve, const char *reason,
                           json_t **out)
{
    *out = NULL;
    if (!approve && (reason == NULL || reason[0] == '\0')) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "reason",
                             "Missing required param: reason (why the payment is rejected).");
    }
    /* The intent is locked before the verification (the order every writer
     * of both keeps); the verification is read again under its lock. */
    json_t *v = NULL;
    enum pay_err e = verification_load(op, id, false, &v);
    if (e != PAY_OK) {
        return e;
    }
    struct pay_op sys = *op;
    sys.customer_scope = NULL;
    struct pay_intent_row row;
    e = pay_intent_row_load(&sys, pay_json_str(v, "payment_intent"), true, "payment_intent", &row);
    json_decref(v);
    v = NULL;
    if (e != PAY_OK) {
        return e;
    }
    e = verification_load(op, id, true, &v);
    if (e != PAY_OK) {
        goto out;
    }
    const char *status = pay_json_str(v, "status");
    if (!pay_str_eq(status, ST_PENDING)) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "Verification %s has a status of %s; only a pending verification can "
                          "be %s.",
                          id, status ? status : "unknown", approve ? "approved" : "rejected");
        goto out;
    }
    const char *maker = pay_json_str(v, "recorded_by");
    if (maker != NULL && maker[0] != '\0' && pay_str_eq(maker, actor_of(op))) {
        e = pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL,
                          "Maker-checker: %s recorded this %s and may not also %s it; another "
                          "staff member must decide.",
                          maker,
                          pay_str_eq(pay_json_str(v, "kind"), "refund") ||
                                  pay_str_eq(pay_json_str(v, "kind"), "unapplied_refund")
                              ? "refund"
                              : "payment",
                          approve ? "approve" : "reject");
        if (op->err != NULL) {
            snprintf(op->err->code_str, sizeof(op->err->code_str), "maker_checker_violation");
        }
        /* Nothing was written; committing keeps the audit record of the
         * refused attempt (the server adds it to this transaction). */
        pay_tx_commit_anyway(op->tx);
        goto out;
    }
    if (pay_str_eq(pay_json_str(v, "kind"), "refund")) {
        e = decide_refund(op, v, &row, approve);
    } else if (pay_str_eq(pay_json_str(v, "kind"), "unapplied_refund")) {
        e = decide_unapplied_refund(op, v, approve);
    } else {
        e = decide_payment(op, v, &row, approve, reason);
    }
    if (e != PAY_OK) {
        goto out;
    }
    pay_json_set_str(v, "status", approve ? ST_APPROVED : ST_REJECTED);
    pay_json_set_str(v, "decided_by", actor_of(op));
    pay_json_set_str(v, "decided_by_role", op->actor_role != NULL ? op->actor_role : "");
    pay_json_set_int(v, "decided_at", pay_now());
    if (reason != NULL && reason[0] != '\0') {
        pay_json_set_str(v, "reason", reason);
    }
    e = verification_save(op, v);
    if (e == PAY_OK) {
        e = emit(op, approve ? "verification.approved" : "verification.rejected", v, NULL);
    }
out:
    pay_intent_row_release(&row);
    if (e == PAY_OK) {
        *out = v;
    } else {
        json_decref(v);
    }
    return e;
}

enum pay_err pay_verification_approve(struct pay_op *op, const char *id, const char *reason,
                                      json_t **out)
{
    return decide(op, id, true, reason, out);
}

enum pay_err pay_verification_reject(struct pay_op *op, const char *id, const char *reason,
                                     json_t **out)
{
    return decide(op, id, false, reason, out);
}

enum pay_err pay_verification_cancel_for_intent(struct pay_op *op, const char *intent)
{
    /* At most one pending verification per kind: two ids suffice. */
    char ids[2][PAY_ID_LEN_MAX + 1];
    size_t n = 0;
    struct pay_param p[1] = {PAY_PTEXT(intent)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT id FROM verifications WHERE payment_intent = $1 AND "
                                  "status = 'pending' AND kind NOT IN ('refund', "
                                  "'unapplied_refund')",
                                  p, 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    while (pay_rows_next(r)) {
        if (n < 2) {
            snprintf(ids[n++], sizeof(ids[0]), "%s", pay_rows_text(r, 0));
        }
    }
    e = pay_rows_close(r);
    for (size_t i = 0; e == PAY_OK && i < n; i++) {
        json_t *v = NULL;
        e = verification_load(op, ids[i], true, &v);
        if (e != PAY_OK) {
            break;
        }
        pay_json_set_str(v, "status", ST_CANCELED);
        pay_json_set_str(v, "decided_by", actor_of(op));
        pay_json_set_str(v, "decided_by_role", op->actor_role != NULL ? op->actor_role : "");
        pay_json_set_int(v, "decided_at", pay_now());
        e = verification_save(op, v);
        if (e == PAY_OK) {
            e = emit(op, "verification.canceled", v, NULL);
        }
        json_decref(v);
    }
    return pay_op_fail(op, e);
}

enum pay_err pay_verification_get(struct pay_op *op, const char *id, json_t **out)
{
    enum pay_err e = verification_load(op, id, false, out);
    if (e == PAY_OK && op->customer_scope != NULL &&
        !pay_str_eq(pay_json_str(*out, "customer"), op->customer_scope)) {
        json_decref(*out);
        *out = NULL;
        return verification_not_found(op, id);
    }
    return e;
}

enum pay_err pay_verification_list(struct pay_op *op, const struct pay_verification_filter *f,
                                   const struct pay_list_args *args, json_t **data_out,
                                   bool *has_more)
{
    *data_out = NULL;
    *has_more = false;
    static const char *const cols[] = {"status",   "kind",           "tender",
                                       "facility", "payment_intent", "customer"};
    const char *vals[6] = {f->status,   f->kind,           f->tender,
                           f->facility, f->payment_intent, op->customer_scope};
    struct pay_param p[6];
    size_t n = 0;
    char where[256];
    size_t used = 0;
    where[0] = '\0';
    for (size_t i = 0; i < 6; i++) {
        if (vals[i] == NULL) {
            continue;
        }
        p[n++] = PAY_PTEXT(vals[i]);
        int w = snprintf(where + used, sizeof(where) - used, "%s%s = $%zu", used ? " AND " : "",
                         cols[i], n);
        PAY_ASSERT(w > 0 && (size_t)w < sizeof(where) - used);
        used += (size_t)w;
    }
    return pay_op_fail(op, pay_tx_list(op->tx, "verifications", n ? where : NULL, n ? p : NULL, n,
                                       args, data_out, has_more, op->err));
}

/* ---- Evidence --------------------------------------------------------------- */

/* The type the bytes are, by their magic numbers, or NULL when not allowed. */
static const char *sniff_type(const unsigned char *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        return "image/jpeg";
    }
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= sizeof(png) && memcmp(d, png, sizeof(png)) == 0) {
        return "image/png";
    }
    if (n >= 5 && memcmp(d, "%PDF-", 5) == 0) {
        return "application/pdf";
    }
    return NULL;
}

/* The media type of a Content-Type value, lower-cased, without parameters. */
static void media_type(const char *ct, char *out, size_t n)
{
    size_t o = 0;
    while (ct != NULL && (*ct == ' ' || *ct == '\t')) {
        ct++;
    }
    for (; ct != NULL && *ct && *ct != ';' && *ct != ' ' && o + 1 < n; ct++) {
        char c = *ct;
        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[o] = '\0';
}

/* A file name safe to show: its last path segment, printable ASCII only. */
static void clean_filename(const char *in, char *out, size_t n)
{
    const char *base = in != NULL ? in : "";
    for (const char *c = base; *c; c++) {
        if (*c == '/' || *c == '\\') {
            base = c + 1;
        }
    }
    size_t o = 0;
    for (const char *c = base; *c && o + 1 < n; c++) {
        out[o++] = (*c >= 0x20 && *c < 0x7f && *c != '"') ? *c : '_';
    }
    out[o] = '\0';
}

static enum pay_err evidence_not_found(struct pay_op *op, const char *id)
{
    return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such evidence: '%s'", id ? id : "");
}

enum pay_err pay_evidence_create(struct pay_op *op, const struct pay_evidence_params *p,
                                 json_t **out)
{
    *out = NULL;
    static const char *const kinds[] = {"receipt_photo", "cash_count", "cheque_image", "bank_slip"};
    bool kind_ok = false;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        kind_ok = kind_ok || pay_str_eq(p->kind, kinds[i]);
    }
    if (!kind_ok) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "kind",
                             "Invalid kind: must be one of receipt_photo, cash_count, "
                             "cheque_image, bank_slip.");
    }
    if (p->data == NULL || p->len == 0) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "file", "The file is empty.");
    }
    const char *type = sniff_type(p->data, p->len);
    if (type == NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "file",
                             "The file is not a JPEG, PNG or PDF document.");
    }
    char declared[128];
    media_type(p->content_type, declared, sizeof(declared));
    if (declared[0] != '\0' && strcmp(declared, "application/octet-stream") != 0 &&
        strcmp(declared, type) != 0) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "file",
                             "The file's Content-Type %.64s does not match its content (%s).",
                             declared, type);
    }
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, p->payment_intent, true, "id", &row);
    if (e != PAY_OK) {
        return e;
    }
    json_t *v = NULL;
    json_t *ev = NULL;
    char *vid = NULL;
    struct pay_param ip[1] = {PAY_PTEXT(p->payment_intent)};
    e = pay_op_fail(op,
                    pay_tx_query_text(op->tx,
                                      "SELECT id FROM verifications WHERE payment_intent = $1 AND "
                                      "status = 'pending' ORDER BY seq DESC LIMIT 1",
                                      ip, 1, &vid));
    if (e == PAY_OK && vid == NULL) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "PaymentIntent %s has no pending verification: evidence is added while "
                          "a payment or refund waits for verification.",
                          p->payment_intent);
    }
    if (e == PAY_OK) {
        e = verification_load(op, vid, true, &v);
    }
    if (e != PAY_OK) {
        goto out;
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("evd", id);
    char sha[65];
    pay_sha256_hex(p->data, p->len, sha);
    char filename[PAY_EVIDENCE_FILENAME_LEN_MAX + 1];
    clean_filename(p->filename, filename, sizeof(filename));
    int64_t now = pay_now();
    ev = json_object();
    pay_json_set_str(ev, "id", id);
    pay_json_set_str(ev, "object", "evidence");
    pay_json_set_int(ev, "created", now);
    pay_json_set_str(ev, "payment_intent", p->payment_intent);
    pay_json_set_str(ev, "verification", vid);
    pay_json_set_str(ev, "kind", p->kind);
    pay_json_set_str(ev, "filename", filename[0] ? filename : NULL);
    pay_json_set_str(ev, "content_type", type);
    pay_json_set_int(ev, "size", (int64_t)p->len);
    pay_json_set_str(ev, "sha256", sha);
    pay_json_set_str(ev, "uploaded_by", actor_of(op));
    char url[PAY_ID_LEN_MAX + 32];
    snprintf(url, sizeof(url), "/v1/evidence/%s/content", id);
    pay_json_set_str(ev, "url", url);
    pay_json_set_bool(ev, "livemode", false);

    struct pay_buf enc;
    pay_buf_init(&enc, (p->len / 3 + 1) * 4 + 8);
    if (pay_base64url_encode(p->data, p->len, &enc) != 0) {
        pay_buf_release(&enc);
        e = pay_op_fail(op, PAY_ERR_NOMEM);
        goto out;
    }
    char *data = pay_json_dump(ev);
    if (data == NULL) {
        pay_buf_release(&enc);
        e = pay_op_fail(op, PAY_ERR_NOMEM);
        goto out;
    }
    struct pay_param ins[12] = {
        PAY_PTEXT(id),
        PAY_PINT(now),
        PAY_PTEXT(p->payment_intent),
        PAY_PTEXT(vid),
        PAY_PTEXT(pay_json_str(row.obj, "customer")),
        PAY_PTEXT(p->kind),
        PAY_PTEXT(type),
        PAY_PINT((int64_t)p->len),
        PAY_PTEXT(sha),
        PAY_PTEXT(actor_of(op)),
        PAY_PTEXTN(enc.data, enc.len),
        PAY_PTEXT(data),
    };
    e = pay_op_fail(op,
                    pay_tx_exec(op->tx,
                                "INSERT INTO evidence (id, created, payment_intent, verification, "
                                "customer, kind, content_type, size, sha256, uploaded_by, content, "
                                "data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                                ins, PAY_NPARAMS(ins), NULL));
    free(data);
    pay_buf_release(&enc);
    if (e != PAY_OK) {
        goto out;
    }
    json_t *list = json_object_get(v, "evidence");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new_nocheck(v, "evidence", list);
    }
    json_array_append_new(list, json_string(id));
    e = verification_save(op, v);
    if (e == PAY_OK) {
        e = emit(op, "verification.updated", v, NULL);
    }
out:
    free(vid);
    json_decref(v);
    pay_intent_row_release(&row);
    if (e == PAY_OK) {
        *out = ev;
    } else {
        json_decref(ev);
    }
    return e;
}

enum pay_err pay_evidence_get(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    if (id == NULL || !pay_id_valid(id, "evd")) {
        return evidence_not_found(op, id);
    }
    enum pay_err e = load_data(op, "SELECT data FROM evidence WHERE id = $1", id, out);
    if (e == PAY_OK && *out != NULL && op->customer_scope != NULL) {
        /* Routes give evidence to staff only; a scoped op sees its own. */
        struct pay_intent_row row;
        e = pay_intent_row_load(op, pay_json_str(*out, "payment_intent"), false, "id", &row);
        pay_intent_row_release(&row);
        if (e == PAY_ERR_NOT_FOUND) {
            json_decref(*out);
            *out = NULL;
            pay_error_clear(op->err);
            e = PAY_OK;
        }
    }
    if (e == PAY_OK && *out == NULL) {
        return evidence_not_found(op, id);
    }
    if (e != PAY_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

enum pay_err pay_evidence_content(struct pay_op *op, const char *id, json_t **meta_out,
                                  struct pay_buf *bytes)
{
    enum pay_err e = pay_evidence_get(op, id, meta_out);
    if (e != PAY_OK) {
        return e;
    }
    char *enc = NULL;
    struct pay_param p[1] = {PAY_PTEXT(id)};
    e = pay_op_fail(
        op, pay_tx_query_text(op->tx, "SELECT content FROM evidence WHERE id = $1", p, 1, &enc));
    if (e == PAY_OK && (enc == NULL || pay_base64url_decode(enc, strlen(enc), bytes) != 0)) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Stored evidence %s is corrupt.", id);
    }
    free(enc);
    if (e == PAY_OK) {
        char sha[65];
        pay_sha256_hex(bytes->data != NULL ? bytes->data : "", bytes->len, sha);
        if (!pay_str_eq(sha, pay_json_str(*meta_out, "sha256"))) {
            e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL,
                              "Stored evidence %s no longer matches its SHA-256.", id);
        }
    }
    if (e != PAY_OK) {
        json_decref(*meta_out);
        *meta_out = NULL;
    }
    return e;
}

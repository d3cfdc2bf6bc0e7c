/*
 * provider_events.c - inbound Stripe events applied to payd's intents
 * (contract in provider_events.h).
 *
 * Invariants:
 * - exactly once: the provider_events row (UNIQUE (provider, event_id)) is
 *   inserted with ON CONFLICT DO NOTHING before anything else, in the same
 *   transaction as every change the event makes; a delivery that inserts
 *   nothing is a duplicate and changes nothing;
 * - whichever comes second is a no-op: the intent row is locked
 *   (pay_intent_row_load FOR UPDATE) and each transition reads the state
 *   under that lock, so a webhook and payd's own synchronous path for the
 *   same payment (capture, cancel, refund) serialise and the later one finds
 *   the work done;
 * - money: amount_received only grows here together with its capture entry
 *   (as in payment_intents.c), and a refund row, its ledger entry and the
 *   intent's amount_refunded are written together (as in refunds.c), so
 *   pay_payments_verify holds after any sequence of events;
 * - an event whose amount or currency disagrees with payd's record is never
 *   applied: it is stored as "mismatch" with event payd.provider_mismatch.
 *
 * Disputes: charge.dispute.created marks the intent (disputed: true) and
 * appends payd.dispute_created, but moves no money: Stripe withdraws the
 * disputed amount in a separate balance transaction, which payd will book
 * when it imports settlements (reconciliation), not on the notice.
 *
 * Threading: no state of its own; runs inside the caller's transaction.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "payments_int.h"
#include "provider_events.h"

#define PROVIDER "stripe"
#define ACCOUNT_LEN_MAX 96
/* Longest string copied from a provider's last_payment_error field. */
#define LPE_FIELD_LEN_MAX 500

/* A provider id we are willing to store and look up: [A-Za-z0-9_-], bounded. */
static bool id_ok(const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > max) {
        return false;
    }
    for (const char *c = s; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
            return false;
        }
    }
    return true;
}

/* An id field that may be a string or, when expanded, an object with "id". */
static const char *id_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_object(v)) {
        return pay_json_str(v, "id");
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The integer at @key when it is a JSON integer (no default hides absence). */
static bool int_of(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* ---- The provider_events row ----------------------------------------------- */

static enum pay_err row_insert(struct pay_op *op, const char *event_id, const char *type,
                               const json_t *event, bool *inserted)
{
    char *data = pay_json_dump(event);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[5] = {PAY_PTEXT(PROVIDER), PAY_PTEXT(event_id), PAY_PTEXT(type),
                             PAY_PINT(pay_now()), PAY_PTEXT(data)};
    int64_t changes = 0;
    enum pay_err e =
        pay_tx_exec(op->tx,
                    "INSERT INTO provider_events (provider, event_id, type, received, status, "
                    "data) VALUES ($1, $2, $3, $4, 'ignored', $5) "
                    "ON CONFLICT (provider, event_id) DO NOTHING",
                    p, PAY_NPARAMS(p), &changes);
    free(data);
    *inserted = changes == 1;
    return pay_op_fail(op, e);
}

static enum pay_err row_finish(struct pay_op *op, const char *event_id,
                               const struct pay_provider_event_outcome *out)
{
    struct pay_param p[5] = {PAY_PTEXT(PROVIDER), PAY_PTEXT(event_id), PAY_PTEXT(out->status),
                             PAY_PTEXT(out->payment_intent[0] ? out->payment_intent : NULL),
                             PAY_PTEXT(out->note[0] ? out->note : NULL)};
    int64_t changes = 0;
    enum pay_err e = pay_tx_exec(op->tx,
                                 "UPDATE provider_events SET status = $3, payment_intent = $4, "
                                 "note = $5 WHERE provider = $1 AND event_id = $2",
                                 p, PAY_NPARAMS(p), &changes);
    if (e == PAY_OK && changes != 1) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Provider event %s vanished.", event_id);
    }
    return pay_op_fail(op, e);
}

/* A duplicate: report what the first delivery stored. */
static enum pay_err row_read(struct pay_op *op, const char *event_id,
                             struct pay_provider_event_outcome *out)
{
    struct pay_param p[2] = {PAY_PTEXT(PROVIDER), PAY_PTEXT(event_id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT status, payment_intent, note FROM provider_events "
                                  "WHERE provider = $1 AND event_id = $2",
                                  p, PAY_NPARAMS(p), &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (pay_rows_next(r)) {
        pay_copy_str(out->status, sizeof(out->status), pay_rows_text(r, 0));
        pay_copy_str(out->payment_intent, sizeof(out->payment_intent), pay_rows_text(r, 1));
        pay_copy_str(out->note, sizeof(out->note), pay_rows_text(r, 2));
    }
    return pay_op_fail(op, pay_rows_close(r));
}

/* ---- Finding the intent ---------------------------------------------------- */

/* payd's intent whose provider_ref is @ref, into @id ("" when none). */
static enum pay_err intent_by_ref(struct pay_op *op, const char *ref, char *id, size_t n)
{
    id[0] = '\0';
    if (!id_ok(ref, 63)) {
        return PAY_OK;
    }
    char *found = NULL;
    struct pay_param p[1] = {PAY_PTEXT(ref)};
    enum pay_err e = pay_tx_query_text(
        op->tx, "SELECT id FROM payment_intents WHERE provider_ref = $1 ORDER BY seq LIMIT 1", p, 1,
        &found);
    if (e == PAY_OK && found != NULL) {
        pay_copy_str(id, n, found);
    }
    free(found);
    return pay_op_fail(op, e);
}

static enum pay_err intent_exists(struct pay_op *op, const char *pi, bool *exists)
{
    *exists = false;
    if (!pay_id_valid(pi, "pi")) {
        return PAY_OK;
    }
    int64_t one = 0;
    struct pay_param p[1] = {PAY_PTEXT(pi)};
    return pay_op_fail(op, pay_tx_query_int(op->tx, "SELECT 1 FROM payment_intents WHERE id = $1",
                                            p, 1, &one, exists));
}

/*
 * The payd intent @obj concerns: by provider_ref = @provider_pi, else by
 * metadata.payd_intent (what the Stripe connector sends, and all there is
 * while payd's first call to Stripe has not come back yet).
 */
static enum pay_err match_intent(struct pay_op *op, const json_t *obj, const char *provider_pi,
                                 char *id, size_t n)
{
    enum pay_err e = intent_by_ref(op, provider_pi, id, n);
    if (e != PAY_OK || id[0] != '\0') {
        return e;
    }
    const char *md = pay_json_str(json_object_get(obj, "metadata"), "payd_intent");
    bool exists = false;
    if (md != NULL) {
        e = intent_exists(op, md, &exists);
    }
    if (e == PAY_OK && exists) {
        pay_copy_str(id, n, md);
    }
    return e;
}

/* ---- Outcomes ---------------------------------------------------------------- */

static void set_outcome(struct pay_provider_event_outcome *out, const char *status, const char *fmt,
                        ...) PAY_PRINTF(3, 4);

static void set_outcome(struct pay_provider_event_outcome *out, const char *status, const char *fmt,
                        ...)
{
    pay_copy_str(out->status, sizeof(out->status), status);
    out->note[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->note, sizeof(out->note), fmt, ap);
        va_end(ap);
    }
}

/* Flag the event: stored as mismatch, event payd.provider_mismatch. */
static enum pay_err mismatch(struct pay_op *op, const struct pay_intent_row *row,
                             const char *event_id, const char *type, const json_t *obj,
                             struct pay_provider_event_outcome *out)
{
    json_t *m = json_object();
    pay_json_set_str(m, "object", "provider_event");
    pay_json_set_str(m, "provider", PROVIDER);
    pay_json_set_str(m, "event_id", event_id);
    pay_json_set_str(m, "type", type);
    pay_json_set_str(m, "payment_intent", pay_json_str(row->obj, "id"));
    pay_json_set_str(m, "reason", out->note);
    pay_json_set_int(m, "amount", pay_json_int(row->obj, "amount", 0));
    pay_json_set_str(m, "currency", pay_json_str(row->obj, "currency"));
    pay_json_set_str(m, "status", pay_json_str(row->obj, "status"));
    int64_t v = 0;
    if (int_of(obj, "amount", &v)) {
        pay_json_set_int(m, "provider_amount", v);
    } else {
        json_object_set_new_nocheck(m, "provider_amount", json_null());
    }
    const char *cur = pay_json_str(obj, "currency");
    pay_json_set_str(m, "provider_currency", cur != NULL && strlen(cur) <= 8 ? cur : NULL);
    /* An operator's event: no customer, so a patient's token never lists it. */
    enum pay_err e =
        pay_event_append(op->tx, "payd.provider_mismatch", m, NULL, op->request_id, NULL, op->err);
    json_decref(m);
    pay_copy_str(out->status, sizeof(out->status), "mismatch");
    return pay_op_fail(op, e);
}

static bool currency_agrees(const struct pay_intent_row *row, const json_t *obj,
                            struct pay_provider_event_outcome *out);

/* Amount and currency of @obj against payd's record; the reason in @out
 * when they disagree. */
static bool amounts_agree(const struct pay_intent_row *row, const json_t *obj,
                          struct pay_provider_event_outcome *out)
{
    if (!currency_agrees(row, obj, out)) {
        return false;
    }
    int64_t amount = 0;
    int64_t my_amount = pay_json_int(row->obj, "amount", 0);
    if (!int_of(obj, "amount", &amount) || amount != my_amount) {
        set_outcome(out, "mismatch", "amount %lld differs from payd's %lld", (long long)amount,
                    (long long)my_amount);
        return false;
    }
    return true;
}

/* Charges and disputes carry the currency; their amounts are checked by
 * the transition (a refund or dispute is a part of what was received). */
static bool currency_agrees(const struct pay_intent_row *row, const json_t *obj,
                            struct pay_provider_event_outcome *out)
{
    const char *cur = pay_json_str(obj, "currency");
    const char *mine = pay_json_str(row->obj, "currency");
    if (cur == NULL || mine == NULL || strcasecmp(cur, mine) != 0) {
        set_outcome(out, "mismatch", "currency %.8s differs from payd's %s", cur ? cur : "(none)",
                    mine ? mine : "(none)");
        return false;
    }
    return true;
}

/* A Stripe PaymentIntent id that is not the one payd recorded for a
 * Stripe-routed intent: another PaymentIntent claims to be ours. */
static bool ref_conflicts(const struct pay_intent_row *row, const char *provider_pi,
                          struct pay_provider_event_outcome *out)
{
    if (pay_str_eq(row->connector, PROVIDER) && row->provider_ref[0] != '\0' &&
        provider_pi != NULL && !pay_str_eq(row->provider_ref, provider_pi)) {
        set_outcome(out, "mismatch", "Stripe PaymentIntent %.64s is not payd's %s", provider_pi,
                    row->provider_ref);
        return true;
    }
    return false;
}

static enum pay_err emit(struct pay_op *op, const char *type, const json_t *obj)
{
    return pay_op_fail(op, pay_event_append(op->tx, type, obj, pay_json_str(obj, "customer"),
                                            op->request_id, NULL, op->err));
}

static const char *processor_of(const struct pay_intent_row *row)
{
    return row->connector[0] ? row->connector : PROVIDER;
}

/* ---- The transitions ----------------------------------------------------------- */

static enum pay_err on_succeeded(struct pay_op *op, struct pay_intent_row *row, const json_t *obj,
                                 struct pay_provider_event_outcome *out)
{
    const char *st = pay_json_str(row->obj, "status");
    int64_t received = 0;
    int64_t amount = pay_json_int(row->obj, "amount", 0);
    if (!int_of(obj, "amount_received", &received) || received < 1 || received > amount) {
        set_outcome(out, "mismatch", "amount_received %lld is not within 1..%lld",
                    (long long)received, (long long)amount);
        return PAY_OK;
    }
    if (pay_str_eq(st, "succeeded")) {
        int64_t mine = pay_json_int(row->obj, "amount_received", 0);
        if (mine != received) {
            set_outcome(out, "mismatch", "amount_received %lld differs from payd's %lld",
                        (long long)received, (long long)mine);
        } else {
            set_outcome(out, "ignored", "already succeeded");
        }
        return PAY_OK;
    }
    if (pay_str_eq(st, "canceled")) {
        set_outcome(out, "mismatch", "the provider reports success for an intent payd canceled");
        return PAY_OK;
    }
    char account[ACCOUNT_LEN_MAX];
    snprintf(account, sizeof(account), "assets:processor:%s", processor_of(row));
    const char *id = pay_json_str(row->obj, "id");
    /* The routed provider's fee, booked as post_capture books it (issue 6). */
    int64_t fee = 0;
    enum pay_err e = pay_route_fee(row, received, &fee);
    if (e != PAY_OK) {
        return pay_error_set(op->err, e, NULL, "The fee on %lld overflows.", (long long)received);
    }
    const struct pay_ledger_line lines[4] = {
        {.account = account, .amount_minor = received},
        {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = -received},
        {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = fee},
        {.account = account, .amount_minor = -fee},
    };
    const struct pay_ledger_entry entry = {
        .kind = "capture",
        .currency = pay_json_str(row->obj, "currency"),
        .source_id = id,
        .description = "Payment intent captured (provider webhook)",
        .lines = lines,
        .n_lines = fee > 0 ? 4 : 2,
        .bt = {.type = "charge", .amount_minor = received, .fee_minor = fee},
    };
    e = pay_op_fail(op, pay_ledger_post(op->tx, &entry, NULL, op->err));
    if (e != PAY_OK) {
        return e;
    }
    pay_json_set_int(row->obj, "fee_amount", fee);
    pay_json_set_int(row->obj, "amount_received", received);
    pay_json_set_int(row->obj, "amount_capturable", 0);
    pay_json_set_str(row->obj, "status", "succeeded");
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    const char *charge = id_of(obj, "latest_charge");
    if (id_ok(charge, 255)) {
        pay_json_set_str(row->obj, "latest_charge", charge);
    }
    e = pay_intent_row_save(op, row);
    if (e == PAY_OK) {
        e = emit(op, "payment_intent.succeeded", row->obj);
    }
    set_outcome(out, "applied", NULL);
    return e;
}

/* The provider's last_payment_error, reduced to its bounded string fields. */
static json_t *lpe_from(const json_t *given)
{
    static const char *const keys[] = {"type",  "code", "decline_code", "doc_url", "message",
                                       "param", NULL};
    json_t *lpe = json_object();
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *v = pay_json_str(given, keys[i]);
        if (v != NULL && strlen(v) <= LPE_FIELD_LEN_MAX) {
            pay_json_set_str(lpe, keys[i], v);
        }
    }
    if (pay_json_str(lpe, "type") == NULL) {
        pay_json_set_str(lpe, "type", "card_error");
    }
    if (pay_json_str(lpe, "message") == NULL) {
        pay_json_set_str(lpe, "message", "The payment failed at the provider.");
    }
    json_object_set_new_nocheck(lpe, "payment_method", json_null());
    return lpe;
}

static enum pay_err on_failed(struct pay_op *op, struct pay_intent_row *row, const json_t *obj,
                              struct pay_provider_event_outcome *out)
{
    const char *st = pay_json_str(row->obj, "status");
    if (pay_str_eq(st, "succeeded") || pay_str_eq(st, "canceled")) {
        set_outcome(out, "ignored", "intent already %s", st);
        return PAY_OK;
    }
    if (pay_str_eq(st, "requires_payment_method")) {
        set_outcome(out, "ignored", "failure already recorded");
        return PAY_OK;
    }
    json_object_set_new_nocheck(row->obj, "last_payment_error",
                                lpe_from(json_object_get(obj, "last_payment_error")));
    json_object_set_new_nocheck(row->obj, "payment_method", json_null());
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    pay_json_set_int(row->obj, "amount_capturable", 0);
    pay_json_set_str(row->obj, "status", "requires_payment_method");
    enum pay_err e = pay_intent_row_save(op, row);
    if (e == PAY_OK) {
        e = emit(op, "payment_intent.payment_failed", row->obj);
    }
    set_outcome(out, "applied", NULL);
    return e;
}

static enum pay_err on_canceled(struct pay_op *op, struct pay_intent_row *row, const json_t *obj,
                                struct pay_provider_event_outcome *out)
{
    static const char *const reasons[] = {"abandoned",      "automatic",  "duplicate",
                                          "failed_invoice", "fraudulent", "requested_by_customer",
                                          "void_invoice",   NULL};
    const char *st = pay_json_str(row->obj, "status");
    if (pay_str_eq(st, "canceled")) {
        set_outcome(out, "ignored", "already canceled");
        return PAY_OK;
    }
    if (pay_str_eq(st, "succeeded")) {
        set_outcome(out, "mismatch",
                    "the provider reports a cancel of an intent payd has "
                    "recorded as succeeded");
        return PAY_OK;
    }
    const char *given = pay_json_str(obj, "cancellation_reason");
    const char *reason = NULL;
    for (size_t i = 0; given != NULL && reasons[i] != NULL; i++) {
        if (strcmp(given, reasons[i]) == 0) {
            reason = reasons[i];
        }
    }
    int64_t at = 0;
    if (!int_of(obj, "canceled_at", &at) || at <= 0) {
        at = pay_now();
    }
    pay_json_set_str(row->obj, "status", "canceled");
    pay_json_set_int(row->obj, "canceled_at", at);
    pay_json_set_str(row->obj, "cancellation_reason", reason);
    pay_json_set_int(row->obj, "amount_capturable", 0);
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    enum pay_err e = pay_intent_row_save(op, row);
    if (e == PAY_OK) {
        e = emit(op, "payment_intent.canceled", row->obj);
    }
    set_outcome(out, "applied", NULL);
    return e;
}

/* Refund @amount that the provider made (and payd did not record): the
 * refund row, its ledger entry, amount_refunded, event refund.created. */
static enum pay_err record_refund(struct pay_op *op, struct pay_intent_row *row,
                                  const char *charge_id, int64_t amount)
{
    const char *pi = pay_json_str(row->obj, "id");
    const char *currency = pay_json_str(row->obj, "currency");
    const char *customer = pay_json_str(row->obj, "customer");
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("re", id);
    int64_t now = pay_now();

    char account[ACCOUNT_LEN_MAX];
    snprintf(account, sizeof(account), "assets:processor:%s", processor_of(row));
    const struct pay_ledger_line lines[2] = {
        {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = amount},
        {.account = account, .amount_minor = -amount},
    };
    const struct pay_ledger_entry entry = {
        .kind = "refund",
        .currency = currency,
        .source_id = id,
        .description = "Refund (provider webhook)",
        .lines = lines,
        .n_lines = 2,
        .bt = {.type = "refund", .amount_minor = -amount, .fee_minor = 0},
    };
    enum pay_err e = pay_op_fail(op, pay_ledger_post(op->tx, &entry, NULL, op->err));
    if (e != PAY_OK) {
        return e;
    }
    /* The balance transaction the ledger just wrote, as refunds.c shows it. */
    struct pay_list_args args;
    pay_list_args_init(&args);
    args.limit = 1;
    json_t *bts = NULL;
    bool more = false;
    e = pay_ledger_bt_list(op->tx, "refund", id, &args, &bts, &more, op->err);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    const char *bt = pay_json_str(json_array_get(bts, 0), "id");

    json_t *refund = json_object();
    pay_json_set_str(refund, "id", id);
    pay_json_set_str(refund, "object", "refund");
    pay_json_set_int(refund, "amount", amount);
    pay_json_set_str(refund, "balance_transaction", bt);
    pay_json_set_str(refund, "charge", id_ok(charge_id, 255) ? charge_id : NULL);
    pay_json_set_int(refund, "created", now);
    pay_json_set_str(refund, "currency", currency);
    json_object_set_new_nocheck(refund, "metadata", json_object());
    pay_json_set_str(refund, "payment_intent", pi);
    json_object_set_new_nocheck(refund, "reason", json_null());
    json_object_set_new_nocheck(refund, "receipt_number", json_null());
    json_object_set_new_nocheck(refund, "source_transfer_reversal", json_null());
    pay_json_set_str(refund, "status", "succeeded");
    json_object_set_new_nocheck(refund, "transfer_reversal", json_null());
    json_decref(bts);

    char *data = pay_json_dump(refund);
    if (data == NULL) {
        json_decref(refund);
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param ins[8] = {
        PAY_PTEXT(id),          PAY_PINT(now),    PAY_PTEXT(pi),       PAY_PTEXT(customer),
        PAY_PTEXT("succeeded"), PAY_PINT(amount), PAY_PTEXT(currency), PAY_PJSON(data),
    };
    e = pay_op_fail(
        op, pay_tx_exec(op->tx,
                        "INSERT INTO refunds (id, created, payment_intent, customer, status, "
                        "amount, currency, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        ins, PAY_NPARAMS(ins), NULL));
    free(data);
    int64_t refunded = 0;
    if (e == PAY_OK &&
        !pay_money_add(pay_json_int(row->obj, "amount_refunded", 0), amount, &refunded)) {
        e = pay_op_fail(op, PAY_ERR_OVERFLOW);
    }
    if (e == PAY_OK) {
        pay_json_set_int(row->obj, "amount_refunded", refunded);
        e = pay_intent_row_save(op, row);
    }
    if (e == PAY_OK) {
        e = pay_op_fail(op, pay_event_append(op->tx, "refund.created", refund, customer,
                                             op->request_id, NULL, op->err));
    }
    json_decref(refund);
    return e;
}

static enum pay_err on_refunded(struct pay_op *op, struct pay_intent_row *row, const json_t *obj,
                                struct pay_provider_event_outcome *out)
{
    const char *st = pay_json_str(row->obj, "status");
    if (pay_str_eq(st, "canceled")) {
        set_outcome(out, "mismatch", "the provider reports a refund of an intent payd canceled");
        return PAY_OK;
    }
    if (!pay_str_eq(st, "succeeded")) {
        /* Out of order: the success is still on its way. Nothing is stored,
         * so the provider's retry applies this once it has arrived. */
        return pay_error_set(op->err, PAY_ERR_CONFLICT, NULL,
                             "Payment intent %s has not succeeded in payd yet; retry later.",
                             pay_json_str(row->obj, "id"));
    }
    int64_t charged = 0;
    int64_t amount = pay_json_int(row->obj, "amount", 0);
    if (!int_of(obj, "amount", &charged) || charged != amount) {
        set_outcome(out, "mismatch", "charge amount %lld differs from payd's %lld",
                    (long long)charged, (long long)amount);
        return PAY_OK;
    }
    int64_t theirs = 0;
    int64_t received = pay_json_int(row->obj, "amount_received", 0);
    int64_t mine = pay_json_int(row->obj, "amount_refunded", 0);
    if (!int_of(obj, "amount_refunded", &theirs) || theirs < 0 || theirs > received) {
        set_outcome(out, "mismatch", "amount_refunded %lld is not within 0..%lld received",
                    (long long)theirs, (long long)received);
        return PAY_OK;
    }
    if (theirs <= mine) {
        /* payd's own refunds (or an earlier event) already account for it. */
        set_outcome(out, "ignored", "refunds already recorded (%lld of %lld)", (long long)mine,
                    (long long)theirs);
        return PAY_OK;
    }
    enum pay_err e = record_refund(op, row, pay_json_str(obj, "id"), theirs - mine);
    set_outcome(out, "applied", NULL);
    return e;
}

static enum pay_err on_dispute(struct pay_op *op, struct pay_intent_row *row, const json_t *obj,
                               struct pay_provider_event_outcome *out)
{
    int64_t amount = 0;
    int64_t received = pay_json_int(row->obj, "amount_received", 0);
    if (!int_of(obj, "amount", &amount) || amount < 1 || amount > received) {
        set_outcome(out, "mismatch", "dispute amount %lld is not within 1..%lld received",
                    (long long)amount, (long long)received);
        return PAY_OK;
    }
    if (json_is_true(json_object_get(row->obj, "disputed"))) {
        set_outcome(out, "ignored", "already disputed");
        return PAY_OK;
    }
    pay_json_set_bool(row->obj, "disputed", true);
    enum pay_err e = pay_intent_row_save(op, row);
    if (e != PAY_OK) {
        return e;
    }
    json_t *d = json_object();
    const char *id = pay_json_str(obj, "id");
    pay_json_set_str(d, "id", id_ok(id, 255) ? id : NULL);
    pay_json_set_str(d, "object", "dispute");
    pay_json_set_int(d, "amount", amount);
    pay_json_set_str(d, "currency", pay_json_str(row->obj, "currency"));
    const char *charge = id_of(obj, "charge");
    pay_json_set_str(d, "charge", id_ok(charge, 255) ? charge : NULL);
    pay_json_set_str(d, "payment_intent", pay_json_str(row->obj, "id"));
    pay_json_set_str(d, "provider", PROVIDER);
    const char *reason = pay_json_str(obj, "reason");
    pay_json_set_str(d, "reason", id_ok(reason, 64) ? reason : NULL);
    const char *status = pay_json_str(obj, "status");
    pay_json_set_str(d, "status", id_ok(status, 64) ? status : NULL);
    int64_t created = 0;
    pay_json_set_int(d, "created", int_of(obj, "created", &created) ? created : pay_now());
    /* The merchant's matter, not the patient's: no customer on the event. */
    e = pay_op_fail(op, pay_event_append(op->tx, "payd.dispute_created", d, NULL, op->request_id,
                                         NULL, op->err));
    json_decref(d);
    set_outcome(out, "applied", NULL);
    return e;
}

/* ---- Entry point ------------------------------------------------------------------ */

enum kind { K_OTHER, K_SUCCEEDED, K_FAILED, K_CANCELED, K_REFUNDED, K_DISPUTE };

static enum kind kind_of(const char *type)
{
    static const struct {
        const char *type;
        enum kind k;
    } map[] = {
        {"payment_intent.succeeded", K_SUCCEEDED}, {"payment_intent.payment_failed", K_FAILED},
        {"payment_intent.canceled", K_CANCELED},   {"charge.refunded", K_REFUNDED},
        {"charge.dispute.created", K_DISPUTE},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(type, map[i].type) == 0) {
            return map[i].k;
        }
    }
    return K_OTHER;
}

static enum pay_err invalid(struct pay_op *op, const char *what)
{
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "body",
                         "The webhook body is not a Stripe event: %s.", what);
}

enum pay_err pay_provider_event_stripe(struct pay_op *op, const json_t *event,
                                       struct pay_provider_event_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(event)) {
        return invalid(op, "not a JSON object");
    }
    const char *event_id = pay_json_str(event, "id");
    const char *type = pay_json_str(event, "type");
    const json_t *obj = json_object_get(json_object_get(event, "data"), "object");
    if (!id_ok(event_id, PAY_PROVIDER_EVENT_ID_LEN_MAX)) {
        return invalid(op, "id missing or not an id");
    }
    if (type == NULL || type[0] == '\0' || strlen(type) > PAY_EVENT_TYPE_LEN_MAX) {
        return invalid(op, "type missing or too long");
    }
    if (!json_is_object(obj)) {
        return invalid(op, "data.object missing");
    }

    bool inserted = false;
    enum pay_err e = row_insert(op, event_id, type, event, &inserted);
    if (e != PAY_OK) {
        return e;
    }
    if (!inserted) {
        out->duplicate = true;
        return row_read(op, event_id, out);
    }

    enum kind k = kind_of(type);
    if (k == K_OTHER) {
        set_outcome(out, "ignored", "event type not handled");
        return row_finish(op, event_id, out);
    }
    const char *provider_pi = k == K_SUCCEEDED || k == K_FAILED || k == K_CANCELED
                                  ? pay_json_str(obj, "id")
                                  : id_of(obj, "payment_intent");
    e = match_intent(op, obj, provider_pi, out->payment_intent, sizeof(out->payment_intent));
    if (e != PAY_OK) {
        return e;
    }
    if (out->payment_intent[0] == '\0') {
        set_outcome(out, "unmatched", NULL);
        return row_finish(op, event_id, out);
    }

    struct pay_intent_row row;
    e = pay_intent_row_load(op, out->payment_intent, true, "payment_intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    bool comparable = k != K_REFUNDED && k != K_DISPUTE;
    if (ref_conflicts(&row, provider_pi, out)) {
        e = mismatch(op, &row, event_id, type, obj, out);
    } else if (comparable && !amounts_agree(&row, obj, out)) {
        e = mismatch(op, &row, event_id, type, obj, out);
    } else if (!comparable && !currency_agrees(&row, obj, out)) {
        e = mismatch(op, &row, event_id, type, obj, out);
    } else {
        switch (k) {
        case K_SUCCEEDED:
            e = on_succeeded(op, &row, obj, out);
            break;
        case K_FAILED:
            e = on_failed(op, &row, obj, out);
            break;
        case K_CANCELED:
            e = on_canceled(op, &row, obj, out);
            break;
        case K_REFUNDED:
            e = on_refunded(op, &row, obj, out);
            break;
        case K_DISPUTE:
            e = on_dispute(op, &row, obj, out);
            break;
        case K_OTHER:
            break;
        }
        /* A transition that found the numbers wrong flags, never applies. */
        if (e == PAY_OK && pay_str_eq(out->status, "mismatch")) {
            e = mismatch(op, &row, event_id, type, obj, out);
        }
    }
    pay_intent_row_release(&row);
    if (e != PAY_OK) {
        return e;
    }
    return row_finish(op, event_id, out);
}

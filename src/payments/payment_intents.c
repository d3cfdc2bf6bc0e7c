/*
 * payment_intents.c - payment intents: Stripe's PaymentIntent object and its
 * status machine (PROTOCOLS.md), on top of the connector interface, the
 * ledger and the event log.
 *
 * Invariants:
 * - every change loads the row with SELECT ... FOR UPDATE first, so two
 *   requests on one intent (a capture and a cancel, two confirms) serialise
 *   on PostgreSQL as they do on SQLite's single writer;
 * - amount_received only ever grows through post_capture(), which posts the
 *   ledger entry in the same transaction, so amount_received less the
 *   provider's fee (fee_amount, booked in the same entry) always equals
 *   minus the intent's capture entries on the merchant balance
 *   (pay_payments_verify checks it);
 * - the stored `data` column is the object as the API shows it; the other
 *   columns are derived from it by pay_intent_row_save, never set alone;
 * - a declined attempt is recorded (last_payment_error, event) although the
 *   request answers 402: pay_tx_commit_anyway.
 *
 * Threading: no state of its own; runs inside the caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "mobile_money.h"
#include "payments_int.h"

/* "assets:processor:" + a connector name. */
#define ACCOUNT_LEN_MAX 96

static const char *const ST_RPM = "requires_payment_method";
static const char *const ST_RC = "requires_confirmation";
static const char *const ST_RA = "requires_action";
static const char *const ST_PROCESSING = "processing";
static const char *const ST_RCAP = "requires_capture";
static const char *const ST_SUCCEEDED = "succeeded";
static const char *const ST_CANCELED = "canceled";

static const char *status_of(const json_t *obj)
{
    const char *s = pay_json_str(obj, "status");
    return s ? s : "";
}

/*
 * An attempt that waited (for a review, a wallet, Stripe) has ended with @e:
 * its risk log row learns the outcome (risk.c), so recent declines and the
 * daily limits count it. Returns @e, or the error of that update.
 */
static enum pay_err risk_settled(struct pay_op *op, const struct pay_intent_row *row,
                                 enum pay_err e)
{
    if (e != PAY_OK && e != PAY_ERR_CARD_DECLINED) {
        return e;
    }
    enum pay_err oe = pay_risk_challenge_outcome(op, pay_json_str(row->obj, "id"),
                                                 e == PAY_OK ? status_of(row->obj) : "declined");
    return oe != PAY_OK ? oe : e;
}

void pay_metadata_merge(json_t *obj, const json_t *update)
{
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new_nocheck(obj, "metadata", md);
    }
    if (!json_is_object(update)) {
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)update, key, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            json_object_del(md, key);
        } else {
            json_object_set_new(md, key, json_string(json_string_value(v)));
        }
    }
}

/* ---- Rows ------------------------------------------------------------- */

void pay_intent_row_release(struct pay_intent_row *row)
{
    json_decref(row->obj);
    free(row->return_url);
    memset(row, 0, sizeof(*row));
}

static enum pay_err not_found(struct pay_op *op, const char *param, const char *id)
{
    return pay_error_set(op->err, PAY_ERR_NOT_FOUND, param, "No such payment_intent: '%s'",
                         id ? id : "");
}

enum pay_err pay_intent_row_load(struct pay_op *op, const char *id, bool for_update,
                                 const char *param, struct pay_intent_row *row)
{
    memset(row, 0, sizeof(*row));
    if (id == NULL || !pay_id_valid(id, "pi")) {
        return not_found(op, param, id);
    }
#define ROW_COLUMNS                                                                                \
    "SELECT data, provider_ref, connector, return_url, provider_pin, tender, fee_bps, fee_fixed "  \
    "FROM payment_intents "
    static const char *const sqls[2][2] = {
        {ROW_COLUMNS "WHERE id = $1", ROW_COLUMNS "WHERE id = $1 FOR UPDATE"},
        {ROW_COLUMNS "WHERE id = $1 AND customer = $2",
         ROW_COLUMNS "WHERE id = $1 AND customer = $2 FOR UPDATE"},
    };
#undef ROW_COLUMNS
    bool scoped = op->customer_scope != NULL;
    struct pay_param p[2] = {PAY_PTEXT(id), PAY_PTEXT(op->customer_scope)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sqls[scoped][for_update], p, scoped ? 2 : 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = false;
    bool corrupt = false;
    if (pay_rows_next(r)) {
        found = true;
        const char *data = pay_rows_text(r, 0);
        json_error_t jerr;
        row->obj = data ? json_loadb(data, pay_rows_len(r, 0), 0, &jerr) : NULL;
        corrupt = !json_is_object(row->obj);
        pay_copy_str(row->provider_ref, sizeof(row->provider_ref), pay_rows_text(r, 1));
        pay_copy_str(row->connector, sizeof(row->connector), pay_rows_text(r, 2));
        pay_copy_str(row->provider_pin, sizeof(row->provider_pin), pay_rows_text(r, 4));
        pay_copy_str(row->tender, sizeof(row->tender), pay_rows_text(r, 5));
        row->fee_bps = pay_rows_int(r, 6);
        row->fee_fixed_minor = pay_rows_int(r, 7);
        const char *ru = pay_rows_text(r, 3);
        row->return_url = ru ? strdup(ru) : NULL;
        if (ru != NULL && row->return_url == NULL) {
            e = PAY_ERR_NOMEM;
        }
    }
    enum pay_err ce = pay_rows_close(r);
    if (e == PAY_OK) {
        e = ce;
    }
    if (e == PAY_OK && found && corrupt) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Stored payment intent %s is corrupt.",
                          id);
    }
    if (e != PAY_OK) {
        pay_intent_row_release(row);
        return pay_op_fail(op, e);
    }
    if (!found) {
        pay_intent_row_release(row);
        return not_found(op, param, id);
    }
    return PAY_OK;
}

/* The columns of a row, derived from its object. */
struct row_cols {
    struct pay_param p[22];
    char *data;
};

static enum pay_err row_cols_fill(const struct pay_intent_row *row, struct row_cols *c)
{
    const json_t *o = row->obj;
    c->data = pay_json_dump(o);
    if (c->data == NULL) {
        return PAY_ERR_NOMEM;
    }
    const char *pr = row->provider_ref[0] ? row->provider_ref : NULL;
    const char *cn = row->connector[0] ? row->connector : NULL;
    struct pay_param p[22] = {
        PAY_PTEXT(pay_json_str(o, "id")),
        PAY_PINT(pay_json_int(o, "created", 0)),
        PAY_PTEXT(pay_json_str(o, "customer")),
        PAY_PTEXT(pay_json_str(o, "status")),
        PAY_PTEXT(pay_json_str(o, "currency")),
        PAY_PINT(pay_json_int(o, "amount", 0)),
        PAY_PINT(pay_json_int(o, "amount_capturable", 0)),
        PAY_PINT(pay_json_int(o, "amount_received", 0)),
        PAY_PINT(pay_json_int(o, "amount_refunded", 0)),
        PAY_PTEXT(pay_json_str(o, "payment_method")),
        PAY_PTEXT(pr),
        PAY_PTEXT(cn),
        PAY_PTEXT(row->return_url),
        PAY_PTEXT(pay_json_str(o, "facility")),
        PAY_PJSON(c->data),
        PAY_PTEXT(pay_json_str(o, "provider")),
        PAY_PTEXT(row->provider_pin[0] ? row->provider_pin : NULL),
        PAY_PTEXT(row->tender[0] ? row->tender : NULL),
        PAY_PINT(pay_json_int(o, "fee_amount", 0)),
        PAY_PINT(row->fee_bps),
        PAY_PINT(row->fee_fixed_minor),
        /* The fraud rules count disputed payments by this column: SQL cannot
         * look into data, which SQLite keeps compressed (0018). */
        PAY_PINT(json_is_true(json_object_get(o, "disputed")) ? 1 : 0),
    };
    memcpy(c->p, p, sizeof(p));
    return PAY_OK;
}

/* The object's text, bound as its data, goes to *text (caller frees) when
 * @text is set; it is freed otherwise. */
static void row_cols_done(struct row_cols *c, char **text)
{
    if (text != NULL) {
        *text = c->data;
    } else {
        free(c->data);
    }
}

static enum pay_err row_insert(struct pay_op *op, const struct pay_intent_row *row, char **text)
{
    struct row_cols c;
    enum pay_err e = row_cols_fill(row, &c);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    e = pay_tx_exec_later(
        op->tx,
        "INSERT INTO payment_intents (id, created, customer, status, currency, amount, "
        "amount_capturable, amount_received, amount_refunded, payment_method, "
        "provider_ref, connector, return_url, facility, data, provider, provider_pin, "
        "tender, fee, fee_bps, fee_fixed, disputed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        c.p, PAY_NPARAMS(c.p));
    row_cols_done(&c, e == PAY_OK ? text : NULL);
    return pay_op_fail(op, e);
}

/* pay_intent_row_save; with @text set, *text gets the object's text as
 * stored (caller frees) when it succeeds. */
static enum pay_err row_save(struct pay_op *op, struct pay_intent_row *row, char **text)
{
    if (row->unsaved) {
        enum pay_err ie = row_insert(op, row, text);
        row->unsaved = ie != PAY_OK;
        return ie;
    }
    struct row_cols c;
    enum pay_err e = row_cols_fill(row, &c);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    int64_t changes = 0;
    /* created never changes; $2 is bound but unused so both statements share
     * one parameter list. */
    e = pay_tx_exec(op->tx,
                    "UPDATE payment_intents SET customer = $3, status = $4, currency = $5, "
                    "amount = $6, amount_capturable = $7, amount_received = $8, "
                    "amount_refunded = $9, payment_method = $10, provider_ref = $11, "
                    "connector = $12, return_url = $13, facility = $14, data = $15, "
                    "provider = $16, provider_pin = $17, tender = $18, fee = $19, fee_bps = $20, "
                    "fee_fixed = $21, disputed = $22 WHERE id = $1 AND created = $2",
                    c.p, PAY_NPARAMS(c.p), &changes);
    if (e == PAY_OK && changes != 1) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Payment intent %s vanished.",
                          pay_json_str(row->obj, "id"));
    }
    row_cols_done(&c, e == PAY_OK ? text : NULL);
    return pay_op_fail(op, e);
}

enum pay_err pay_intent_row_save(struct pay_op *op, struct pay_intent_row *row)
{
    return row_save(op, row, NULL);
}

/* ---- Pieces of the status machine -------------------------------------- */

static enum pay_err emit(struct pay_op *op, const char *type, const json_t *obj)
{
    return pay_op_fail(op, pay_event_append(op->tx, type, obj, pay_json_str(obj, "customer"),
                                            op->request_id, NULL, op->err));
}

/* Save the row and emit @type with its object: the text just stored is the
 * event's object, written once. */
static enum pay_err save_and_emit(struct pay_op *op, struct pay_intent_row *row, const char *type)
{
    char *text = NULL;
    enum pay_err e = row_save(op, row, &text);
    if (e == PAY_OK) {
        e = pay_op_fail(op, pay_event_append_dumped(op->tx, type, row->obj, text,
                                                    pay_json_str(row->obj, "customer"),
                                                    op->request_id, op->err));
    }
    free(text);
    return e;
}

static enum pay_err unexpected(struct pay_op *op, const json_t *obj, const char *action,
                               const char *allowed)
{
    return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                         "You cannot %s this PaymentIntent because it has a status of %s. "
                         "Only a PaymentIntent with one of the following statuses may be %s: %s.",
                         action, status_of(obj),
                         pay_str_eq(action, "confirm")   ? "confirmed"
                         : pay_str_eq(action, "capture") ? "captured"
                         : pay_str_eq(action, "cancel")  ? "canceled"
                                                         : "updated",
                         allowed);
}

static bool status_in(const json_t *obj, const char *const *states)
{
    const char *s = status_of(obj);
    for (size_t i = 0; states[i] != NULL; i++) {
        if (strcmp(s, states[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool http_url(const char *u)
{
    return u != NULL && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0) &&
           strpbrk(u, " \t\r\n\"<>") == NULL;
}

/* Resolve payment method @pm for charging, with the param named in errors. */
static enum pay_err resolve_pm(struct pay_op *op, const char *pm, struct pay_pm_charge *out)
{
    memset(out, 0, sizeof(*out));
    enum pay_err e = pay_payment_method_for_charge(op, pm, "payment_method", out);
    if (e == PAY_ERR_NOT_FOUND && op->err != NULL && op->err->param[0] == '\0') {
        pay_error_set(op->err, e, "payment_method", "No such PaymentMethod: '%s'", pm);
    }
    return pay_op_fail(op, e);
}

/* A payment method attached to a customer may only pay that customer's intents. */
static enum pay_err check_pm_customer(struct pay_op *op, const struct pay_pm_charge *pm,
                                      const char *customer)
{
    if (pm->customer[0] == '\0' || pay_str_eq(pm->customer, customer)) {
        return PAY_OK;
    }
    if (customer == NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method",
                             "The provided PaymentMethod belongs to a Customer. Pass that "
                             "Customer in the `customer` parameter of the PaymentIntent.");
    }
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method",
                         "The provided PaymentMethod belongs to another Customer.");
}

/*
 * Book @amount of the intent as received: ledger entry, amounts, status.
 * The provider's fee on @amount (pay_route_fee: its rates when it was
 * routed) is part of the same entry, as its own two lines: the processor
 * keeps it out of the funds it holds for us, and it comes off the
 * merchant balance (Dr liabilities:merchant:balance / Cr
 * assets:processor:<connector>). The balance transaction is Stripe's
 * charge with that fee: net = amount - fee = what the merchant balance
 * gained. The intent shows the fee as fee_amount; refunds do not return it.
 */
static enum pay_err post_capture(struct pay_op *op, struct pay_intent_row *row, int64_t amount)
{
    const char *id = pay_json_str(row->obj, "id");
    char account[ACCOUNT_LEN_MAX];
    snprintf(account, sizeof(account), "assets:processor:%s", row->connector);
    int64_t fee = 0;
    enum pay_err e = pay_route_fee(row, amount, &fee);
    if (e != PAY_OK) {
        return pay_error_set(op->err, e, "amount", "The fee on %lld overflows.", (long long)amount);
    }
    const struct pay_ledger_line lines[4] = {
        {.account = account, .amount_minor = amount},
        {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = -amount},
        {.account = PAY_ACCOUNT_MERCHANT_BALANCE, .amount_minor = fee},
        {.account = account, .amount_minor = -fee},
    };
    const struct pay_ledger_entry entry = {
        .kind = "capture",
        .currency = pay_json_str(row->obj, "currency"),
        .source_id = id,
        .description = "Payment intent captured",
        .lines = lines,
        .n_lines = fee > 0 ? 4 : 2,
        .bt = {.type = "charge", .amount_minor = amount, .fee_minor = fee},
    };
    e = pay_ledger_post(op->tx, &entry, NULL, op->err);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    pay_json_set_int(row->obj, "fee_amount", fee);
    pay_json_set_int(row->obj, "amount_received", amount);
    pay_json_set_int(row->obj, "amount_capturable", 0);
    pay_json_set_str(row->obj, "status", ST_SUCCEEDED);
    return PAY_OK;
}

/* setup_future_usage: keep the card on the customer once it has paid. */
static enum pay_err maybe_attach(struct pay_op *op, const struct pay_intent_row *row)
{
    const char *sfu = pay_json_str(row->obj, "setup_future_usage");
    const char *customer = pay_json_str(row->obj, "customer");
    const char *pm = pay_json_str(row->obj, "payment_method");
    if (sfu == NULL || customer == NULL || pm == NULL) {
        return PAY_OK;
    }
    return pay_op_fail(op, pay_payment_method_attach(op, pm, customer));
}

/*
 * A failed attempt: back to requires_payment_method with last_payment_error,
 * recorded although the request fails. Returns PAY_ERR_CARD_DECLINED, or
 * the error that prevented recording it.
 */
static enum pay_err record_failure(struct pay_op *op, struct pay_intent_row *row, const char *type,
                                   const char *code, const char *decline_code, const char *message)
{
    json_t *lpe = json_object();
    json_object_set_new_nocheck(lpe, "type", json_string(type));
    json_object_set_new_nocheck(lpe, "code", json_string(code));
    if (decline_code != NULL && decline_code[0] != '\0') {
        json_object_set_new_nocheck(lpe, "decline_code", json_string(decline_code));
    }
    char doc_url[128];
    snprintf(doc_url, sizeof(doc_url), "https://stripe.com/docs/error-codes/%s", code);
    for (char *c = doc_url; *c; c++) {
        if (*c == '_') {
            *c = '-';
        }
    }
    json_object_set_new_nocheck(lpe, "doc_url", json_string(doc_url));
    json_t *msg = json_string(message);
    json_object_set_new_nocheck(lpe, "message", msg ? msg : json_string("Your card was declined."));
    const char *pm_id = pay_json_str(row->obj, "payment_method");
    json_t *pm_obj = NULL;
    if (pm_id != NULL && pay_payment_method_get(op, pm_id, &pm_obj) != PAY_OK) {
        /* The attempt is what matters; a payment method that cannot be shown
         * again is left out rather than failing the record. */
        pm_obj = NULL;
        pay_error_clear(op->err);
    }
    json_object_set_new_nocheck(lpe, "payment_method", pm_obj ? pm_obj : json_null());
    json_object_set_new_nocheck(row->obj, "last_payment_error", lpe);
    json_object_set_new_nocheck(row->obj, "payment_method", json_null());
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    pay_json_set_int(row->obj, "amount_capturable", 0);
    pay_json_set_str(row->obj, "status", ST_RPM);
    row->provider_ref[0] = '\0';

    enum pay_err e = save_and_emit(op, row, "payment_intent.payment_failed");
    if (e != PAY_OK) {
        return e;
    }
    pay_tx_commit_anyway(op->tx);
    enum pay_err result =
        pay_str_eq(type, "card_error") ? PAY_ERR_CARD_DECLINED : PAY_ERR_UNEXPECTED_STATE;
    pay_error_set(op->err, result, "payment_method", "%s",
                  message && message[0] ? message : "Your card was declined.");
    if (decline_code != NULL && op->err != NULL) {
        pay_copy_str(op->err->decline_code, sizeof(op->err->decline_code), decline_code);
    }
    return result;
}

static enum pay_err record_decline(struct pay_op *op, struct pay_intent_row *row,
                                   const struct pay_conn_result *res)
{
    const char *code = res->code[0] ? res->code : "card_declined";
    const char *decline_code = res->decline_code[0] ? res->decline_code : NULL;
    const char *message = res->message[0] ? res->message : "Your card was declined.";
    if (res->status == PAY_CONN_FAILED && !res->code[0]) {
        code = "processing_error";
        message = "An error occurred while processing your card. Try again in a little bit.";
    }
    return record_failure(op, row, "card_error", code, decline_code, message);
}

/* next_action for the sandbox's 3-D Secure page. */
static json_t *redirect_action(struct pay_op *op, const json_t *obj, const char *return_url)
{
    const char *base = op->public_url ? op->public_url : "";
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    struct pay_buf url;
    pay_buf_init(&url, 4096);
    if (pay_buf_addf(&url, "%.*s/sandbox/3ds/%s?client_secret=%s", (int)blen, base,
                     pay_json_str(obj, "id"), pay_json_str(obj, "client_secret")) != PAY_OK) {
        pay_buf_release(&url);
        return NULL;
    }
    json_t *rtu = json_object();
    json_object_set_new_nocheck(rtu, "url", json_string(url.data));
    json_object_set_new_nocheck(rtu, "return_url",
                                return_url ? json_string(return_url) : json_null());
    pay_buf_release(&url);
    json_t *na = json_object();
    json_object_set_new_nocheck(na, "type", json_string("redirect_to_url"));
    json_object_set_new_nocheck(na, "redirect_to_url", rtu);
    return na;
}

/* ---- Intents routed to Stripe (payments.h, "Provider calls") ---------- */

static bool is_stripe(const struct pay_intent_row *row)
{
    return pay_str_eq(row->connector, PAY_CONNECTOR_STRIPE);
}

/* A Stripe PaymentMethod id as the client got it from Stripe: pm_[A-Za-z0-9_]+. */
static bool stripe_pm_valid(const char *pm)
{
    if (pm == NULL || strncmp(pm, "pm_", 3) != 0 || pm[3] == '\0' || strlen(pm) > 64) {
        return false;
    }
    for (const char *c = pm + 3; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_')) {
            return false;
        }
    }
    return true;
}

/* Step 1 with the intent locked: record the attempt, show `processing`. */
static enum pay_err stripe_begin(struct pay_op *op, struct pay_intent_row *row,
                                 const struct pay_attempt_spec *spec)
{
    enum pay_err e = pay_attempt_begin(op, spec);
    if (e != PAY_OK) {
        return e;
    }
    pay_json_set_str(row->obj, "status", ST_PROCESSING);
    return pay_intent_row_save(op, row);
}

/* Confirm on Stripe: create+confirm a Stripe PaymentIntent, or (the customer
 * was sent to Stripe's authentication page) ask Stripe how it ended. */
static enum pay_err stripe_confirm(struct pay_op *op, struct pay_intent_row *row, bool off_session)
{
    char prior[32];
    pay_copy_str(prior, sizeof(prior), status_of(row->obj));
    json_object_set_new_nocheck(row->obj, "last_payment_error", json_null());
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    const struct pay_stripe_intent_params cp = {
        .amount_minor = pay_json_int(row->obj, "amount", 0),
        .currency = pay_json_str(row->obj, "currency"),
        .payment_method = pay_json_str(row->obj, "payment_method"),
        .capture_manual = pay_str_eq(pay_json_str(row->obj, "capture_method"), "manual"),
        .reference = pay_json_str(row->obj, "id"),
        .return_url = row->return_url,
        .off_session = off_session,
    };
    bool retrieve = row->provider_ref[0] != '\0' && pay_str_eq(prior, ST_RA);
    const struct pay_attempt_spec spec = {
        .intent = pay_json_str(row->obj, "id"),
        .operation = retrieve ? "retrieve" : "confirm",
        .amount_minor = cp.amount_minor,
        .prior_status = prior,
        .create = &cp,
        .stripe_pi = row->provider_ref,
    };
    return stripe_begin(op, row, &spec);
}

static json_t *stripe_next_action(const char *url, const char *return_url)
{
    json_t *rtu = json_object();
    json_object_set_new_nocheck(rtu, "url", json_string(url ? url : ""));
    json_object_set_new_nocheck(rtu, "return_url",
                                return_url ? json_string(return_url) : json_null());
    json_t *na = json_object();
    json_object_set_new_nocheck(na, "type", json_string("redirect_to_url"));
    json_object_set_new_nocheck(na, "redirect_to_url", rtu);
    return na;
}

static void mark_canceled(json_t *obj, const char *reason)
{
    pay_json_set_str(obj, "status", ST_CANCELED);
    pay_json_set_int(obj, "canceled_at", pay_now());
    if (reason != NULL) {
        pay_json_set_str(obj, "cancellation_reason", reason);
    }
    pay_json_set_int(obj, "amount_capturable", 0);
    json_object_set_new_nocheck(obj, "next_action", json_null());
}

/* A capture or cancel Stripe refused: back to the status before the call. */
static enum pay_err stripe_refused(struct pay_op *op, struct pay_intent_row *row,
                                   const struct pay_attempt *a, const struct pay_conn_result *res)
{
    pay_json_set_str(row->obj, "status", a->prior_status[0] ? a->prior_status : ST_RCAP);
    enum pay_err e = pay_intent_row_save(op, row);
    if (e != PAY_OK) {
        return e;
    }
    pay_tx_commit_anyway(op->tx);
    return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                         "The payment provider refused to %s this PaymentIntent%s%s.", a->operation,
                         res->message[0] ? ": " : "", res->message);
}

static enum pay_err finish(struct pay_intent_row *row, enum pay_err e, json_t **out);

enum pay_err pay_intent_provider_apply(struct pay_op *op, const struct pay_attempt *a,
                                       const struct pay_conn_result *res, json_t **out)
{
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, a->intent, true, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    /* Re-read under the intent's lock: another settler may have won. */
    struct pay_attempt cur;
    e = pay_attempt_load(op, a->id, &cur);
    if (e != PAY_OK || !cur.pending || res->status == PAY_CONN_UNKNOWN) {
        return finish(&row, e, out);
    }
    if (!pay_str_eq(status_of(row.obj), ST_PROCESSING)) {
        /* Settled meanwhile by another path (an inbound webhook applied
         * Stripe's event): the money is booked; only close the attempt. */
        e = pay_attempt_finish(op, a->id, res);
        return finish(&row, e, out);
    }
    if (res->provider_ref[0] != '\0' && strncmp(res->provider_ref, "pi_", 3) == 0) {
        pay_copy_str(row.provider_ref, sizeof(row.provider_ref), res->provider_ref);
    }
    if (res->status == PAY_CONN_PROCESSING && !pay_str_eq(cur.operation, "capture") &&
        !pay_str_eq(cur.operation, "cancel")) {
        /* Stripe works on it asynchronously: the attempt stays pending and
         * the settler asks Stripe again by the intent's id. */
        e = pay_intent_row_save(op, &row);
        return finish(&row, e, out);
    }
    e = pay_attempt_finish(op, a->id, res);
    if (e != PAY_OK) {
        return finish(&row, e, out);
    }
    int64_t amount = pay_json_int(row.obj, "amount", 0);
    const char *opn = cur.operation;
    if (pay_str_eq(opn, "confirm") || pay_str_eq(opn, "retrieve")) {
        switch (res->status) {
        case PAY_CONN_SUCCEEDED:
            e = post_capture(op, &row, amount);
            if (e == PAY_OK) {
                e = pay_intent_row_save(op, &row);
            }
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.succeeded", row.obj);
            }
            break;
        case PAY_CONN_REQUIRES_CAPTURE:
            pay_json_set_int(row.obj, "amount_capturable", amount);
            pay_json_set_str(row.obj, "status", ST_RCAP);
            e = pay_intent_row_save(op, &row);
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.amount_capturable_updated", row.obj);
            }
            break;
        case PAY_CONN_REQUIRES_ACTION:
            json_object_set_new_nocheck(row.obj, "next_action",
                                        stripe_next_action(res->redirect_url, row.return_url));
            pay_json_set_str(row.obj, "status", ST_RA);
            e = pay_intent_row_save(op, &row);
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.requires_action", row.obj);
            }
            break;
        case PAY_CONN_CANCELED:
            mark_canceled(row.obj, NULL);
            e = pay_intent_row_save(op, &row);
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.canceled", row.obj);
            }
            break;
        case PAY_CONN_FAILED:
            if (res->http_status >= 400) {
                /* Stripe refused the request (a key, a parameter, a payment
                 * method it does not know): not a decline of the card. */
                row.provider_ref[0] = '\0';
                e = stripe_refused(op, &row, &cur, res);
                if (op->err != NULL && pay_str_eq(res->code, "resource_missing")) {
                    pay_copy_str(op->err->param, sizeof(op->err->param), "payment_method");
                }
                break;
            }
            e = record_decline(op, &row, res);
            break;
        case PAY_CONN_DECLINED:
        case PAY_CONN_PROCESSING:
        case PAY_CONN_UNKNOWN:
            e = record_decline(op, &row, res);
            break;
        }
        e = risk_settled(op, &row, e);
        if (e != PAY_OK && e != PAY_ERR_CARD_DECLINED) {
            pay_intent_row_release(&row);
            return e;
        }
        return finish(&row, e, out);
    }
    if (pay_str_eq(opn, "capture")) {
        if (res->status == PAY_CONN_SUCCEEDED) {
            e = post_capture(op, &row, a->amount_minor);
            if (e == PAY_OK) {
                e = pay_intent_row_save(op, &row);
            }
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.succeeded", row.obj);
            }
        } else if (res->status == PAY_CONN_CANCELED) {
            mark_canceled(row.obj, NULL);
            e = pay_intent_row_save(op, &row);
        } else {
            e = stripe_refused(op, &row, &cur, res);
        }
    } else if (pay_str_eq(opn, "cancel")) {
        if (res->status == PAY_CONN_CANCELED || res->status == PAY_CONN_SUCCEEDED) {
            mark_canceled(row.obj, NULL);
            e = pay_intent_row_save(op, &row);
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.canceled", row.obj);
            }
        } else {
            e = stripe_refused(op, &row, &cur, res);
        }
    } else {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Unknown provider operation %s.", opn);
    }
    if (e != PAY_OK) {
        pay_intent_row_release(&row);
        return e;
    }
    return finish(&row, e, out);
}

/*
 * Authorize the intent's payment method with its connector and move the
 * intent on from the answer. Ends with the row saved and the event
 * appended; a decline returns PAY_ERR_CARD_DECLINED with the attempt
 * committed anyway.
 */
static enum pay_err card_authorize(struct pay_op *op, struct pay_intent_row *row,
                                   const struct pay_pm_charge *pm, bool off_session,
                                   bool three_ds_completed)
{
    enum pay_err e;
    const struct pay_connector *conn = pay_connector_find(pm->connector);
    if (conn == NULL) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, "payment_method",
                             "No connector '%s' for this payment method.", pm->connector);
    }
    pay_copy_str(row->connector, sizeof(row->connector), conn->name);
    json_object_set_new_nocheck(row->obj, "last_payment_error", json_null());
    json_object_set_new_nocheck(row->obj, "next_action", json_null());

    int64_t amount = pay_json_int(row->obj, "amount", 0);
    const struct pay_conn_request creq = {
        .token = pm->token,
        .amount_minor = amount,
        .currency = pay_json_str(row->obj, "currency"),
        .reference = pay_json_str(row->obj, "id"),
        .three_ds_completed = three_ds_completed,
        .off_session = off_session,
    };
    struct pay_conn_result res;
    memset(&res, 0, sizeof(res));
    e = conn->authorize(&creq, &res);
    if (e != PAY_OK) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                             "The payment provider failed to answer: %s.", pay_err_str(e));
    }

    switch (res.status) {
    case PAY_CONN_SUCCEEDED:
        pay_copy_str(row->provider_ref, sizeof(row->provider_ref), res.provider_ref);
        if (pay_str_eq(pay_json_str(row->obj, "capture_method"), "manual")) {
            pay_json_set_int(row->obj, "amount_capturable", amount);
            pay_json_set_str(row->obj, "status", ST_RCAP);
            e = maybe_attach(op, row);
            return e == PAY_OK ? save_and_emit(op, row, "payment_intent.amount_capturable_updated")
                               : e;
        } else {
            struct pay_conn_result cres;
            memset(&cres, 0, sizeof(cres));
            e = conn->capture(row->provider_ref, amount, &cres);
            if (e != PAY_OK || cres.status != PAY_CONN_SUCCEEDED) {
                if (e == PAY_OK && cres.status == PAY_CONN_DECLINED) {
                    return record_decline(op, row, &cres);
                }
                return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                                     "The payment provider failed to capture the payment.");
            }
            e = post_capture(op, row, amount);
            if (e == PAY_OK) {
                e = maybe_attach(op, row);
            }
            return e == PAY_OK ? save_and_emit(op, row, "payment_intent.succeeded") : e;
        }
    case PAY_CONN_REQUIRES_ACTION:
        if (off_session) {
            /* Stripe: an off-session payment cannot ask the customer for
             * authentication, so it fails with authentication_required. */
            struct pay_conn_result ar = {.status = PAY_CONN_DECLINED};
            pay_copy_str(ar.code, sizeof(ar.code), "authentication_required");
            pay_copy_str(ar.decline_code, sizeof(ar.decline_code), "authentication_required");
            pay_copy_str(ar.message, sizeof(ar.message),
                         "Your card was declined. This transaction requires authentication.");
            return record_decline(op, row, &ar);
        } else {
            json_t *na = redirect_action(op, row->obj, row->return_url);
            if (na == NULL) {
                return pay_op_fail(op, PAY_ERR_NOMEM);
            }
            json_object_set_new_nocheck(row->obj, "next_action", na);
            pay_json_set_str(row->obj, "status", ST_RA);
            return save_and_emit(op, row, "payment_intent.requires_action");
        }
    case PAY_CONN_PROCESSING:
        pay_copy_str(row->provider_ref, sizeof(row->provider_ref), res.provider_ref);
        pay_json_set_str(row->obj, "status", ST_PROCESSING);
        return save_and_emit(op, row, "payment_intent.processing");
    case PAY_CONN_DECLINED:
    case PAY_CONN_FAILED:
    case PAY_CONN_UNKNOWN:
    case PAY_CONN_REQUIRES_CAPTURE:
    case PAY_CONN_CANCELED:
        /* Not answers an in-process connector gives. */
        return record_decline(op, row, &res);
    }
    return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                         "The payment provider answered with an unknown status.");
}

/* The tender of an intent without a payment method: its one
 * payment_method_types entry when that is not "card", else NULL. */
static const char *sole_tender(const json_t *obj)
{
    const json_t *types = json_object_get(obj, "payment_method_types");
    if (!json_is_array(types) || json_array_size(types) != 1) {
        return NULL;
    }
    const char *t = json_string_value(json_array_get(types, 0));
    return t != NULL && pay_tender_valid(t) && !pay_str_eq(t, PAY_TENDER_CARD) ? t : NULL;
}

/* @row written, for connectors whose own rows refer to it (momo_requests,
 * provider_attempts). */
static enum pay_err persisted(struct pay_op *op, struct pay_intent_row *row)
{
    return row->unsaved ? pay_intent_row_save(op, row) : PAY_OK;
}

/*
 * Hand an attempt of @row, routed to *@route (applied to the row), to the
 * route's connector. A provider with requires_manual_verification holds an
 * attempt not yet @approved by a person in requires_verification (a
 * verification of kind "provider_review"; nothing is sent), as the manual
 * connector holds every payment ("payment"). Fallback: a connector that
 * could not be reached (nothing was charged: PAY_ERR_UNAVAILABLE) hands the
 * attempt to the next provider routing offers, which holds it in turn when
 * it requires verification; *@route ends as the last one tried.
 */
static enum pay_err send_to_route(struct pay_op *op, struct pay_intent_row *row,
                                  const struct pay_pm_charge *pm, const char *tender,
                                  bool off_session, bool approved, struct pay_route_choice *route)
{
    enum pay_err e;
    for (int hop = 1;; hop++) {
        if (pay_str_eq(route->connector, PAY_CONNECTOR_MANUAL)) {
            e = pay_verification_open(op, row, "payment", route, off_session);
        } else if (route->manual_verification && !approved) {
            e = pay_verification_open(op, row, "provider_review", route, off_session);
        } else if (pay_str_eq(route->connector, PAY_CONNECTOR_MOBILE_MONEY)) {
            e = persisted(op, row);
            e = e == PAY_OK ? pay_momo_begin(op, row, route) : e;
        } else if (is_stripe(row)) {
            e = persisted(op, row);
            e = e == PAY_OK ? stripe_confirm(op, row, off_session) : e;
        } else if (pm == NULL) {
            e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "payment_method",
                              "You cannot confirm this PaymentIntent because it's missing "
                              "a payment method.");
        } else if (pay_route_unreachable(route)) {
            e = pay_error_set(op->err, PAY_ERR_UNAVAILABLE, NULL,
                              "The payment provider '%s' could not be reached; nothing "
                              "was charged.",
                              route->provider);
        } else {
            e = card_authorize(op, row, pm, off_session, false);
        }
        if (e != PAY_ERR_UNAVAILABLE || hop >= PAY_ROUTE_FALLBACK_MAX) {
            return e;
        }
        struct pay_route_choice next;
        enum pay_err ne = pay_route_pick(op, row, tender, route->provider, &next);
        if (ne != PAY_OK) {
            return ne == PAY_ERR_NOT_FOUND ? e : ne; /* no next: the outage stands */
        }
        pay_error_clear(op->err);
        pay_route_choice_release(route);
        *route = next;
        e = pay_route_apply(op, row, route);
        if (e != PAY_OK) {
            return e;
        }
    }
}

/*
 * One payment attempt (issue 6, payments_int.h): route it to a provider,
 * assess its risk, then hand it to the route's connector. A 3-D Secure
 * continuation (@three_ds_completed) finishes the attempt already routed
 * and assessed.
 */
static enum pay_err attempt(struct pay_op *op, struct pay_intent_row *row,
                            const struct pay_pm_charge *pm_given, bool off_session,
                            bool three_ds_completed)
{
    const char *pm_id = pay_json_str(row->obj, "payment_method");
    const char *tender = PAY_TENDER_CARD;
    struct pay_pm_charge pm_buf;
    const struct pay_pm_charge *pm = NULL;
    enum pay_err e = PAY_OK;
    if (pm_id == NULL) {
        tender = sole_tender(row->obj);
        if (tender == NULL) {
            return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "payment_method",
                                 "You cannot confirm this PaymentIntent because it's missing a "
                                 "payment method. Update it with a payment_method, or confirm it "
                                 "with one.");
        }
    } else if (!is_stripe(row)) {
        pm = pm_given;
        if (pm == NULL || !pay_str_eq(pm->id, pm_id)) {
            e = resolve_pm(op, pm_id, &pm_buf);
            if (e != PAY_OK) {
                return e;
            }
            pm = &pm_buf;
        }
        e = check_pm_customer(op, pm, pay_json_str(row->obj, "customer"));
        if (e != PAY_OK) {
            return e;
        }
        tender = pm->type[0] ? pm->type : PAY_TENDER_CARD;
    }
    if (three_ds_completed) {
        if (pm == NULL) {
            return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "payment_method",
                                 "This PaymentIntent has no card to authenticate.");
        }
        return card_authorize(op, row, pm, off_session, true);
    }

    struct pay_route_choice route;
    struct pay_risk_verdict verdict;
    memset(&verdict, 0, sizeof(verdict));
    e = pay_route_pick(op, row, tender, NULL, &route);
    if (e == PAY_OK) {
        e = pay_route_apply(op, row, &route);
    }
    if (e == PAY_OK) {
        e = pay_risk_assess(op, row, pay_str_eq(tender, PAY_TENDER_CARD) ? pm : NULL, &route,
                            &verdict);
    }
    if (e == PAY_OK) {
        switch (verdict.decision) {
        case PAY_RISK_DECLINE:
            /* The attempt first: record_failure keeps the job's writes
             * even though it answers an error. */
            e = pay_risk_outcome(op, &verdict, "declined");
            e = e != PAY_OK
                    ? e
                    : record_failure(
                          op, row, "card_error", verdict.code[0] ? verdict.code : "card_declined",
                          verdict.decline_code[0] ? verdict.decline_code : "fraudulent",
                          verdict.message[0] ? verdict.message : "Your card was declined.");
            break;
        case PAY_RISK_REVIEW:
            e = pay_verification_open(op, row, "fraud_review", &route, off_session);
            break;
        case PAY_RISK_APPROVE:
            e = send_to_route(op, row, pm, tender, off_session, false, &route);
            break;
        }
    }
    pay_route_choice_release(&route);
    if (e == PAY_OK || e == PAY_ERR_CARD_DECLINED) {
        enum pay_err oe =
            pay_risk_outcome(op, &verdict, e == PAY_OK ? status_of(row->obj) : "declined");
        if (oe != PAY_OK) {
            return oe;
        }
    }
    pay_risk_verdict_release(&verdict);
    return e;
}

/*
 * A payment its provider held for a person's approval (provider_review) was
 * approved: route it again and send it as attempt() would have, without a
 * second hold (a person approved it; a fallback provider that requires
 * verification too takes it as well): a wallet request is sent, a card is
 * authorized (and captured per capture_method) or declined on the intent,
 * a Stripe card is sent to Stripe after the commit. A route that fails, or
 * every provider unreachable, is the approval's error: nothing is written
 * and the verification stays pending.
 */
static enum pay_err provider_review_approved(struct pay_op *op, struct pay_intent_row *row,
                                             bool off_session)
{
    const char *tender = row->tender[0] != '\0' ? row->tender : PAY_TENDER_CARD;
    const char *pm_id = pay_json_str(row->obj, "payment_method");
    struct pay_pm_charge pm;
    bool has_pm = pm_id != NULL && !is_stripe(row);
    enum pay_err e = has_pm ? resolve_pm(op, pm_id, &pm) : PAY_OK;
    if (e != PAY_OK) {
        return e;
    }
    struct pay_route_choice route;
    e = pay_route_pick(op, row, tender, NULL, &route);
    if (e == PAY_OK) {
        e = pay_route_apply(op, row, &route);
    }
    if (e == PAY_OK) {
        e = send_to_route(op, row, has_pm ? &pm : NULL, tender, off_session, true, &route);
    }
    bool card = !pay_str_eq(route.connector, PAY_CONNECTOR_MOBILE_MONEY) && !is_stripe(row);
    pay_route_choice_release(&route);
    if (!card) {
        return e; /* the wallet's answer or Stripe's settles the risk log */
    }
    e = risk_settled(op, row, e);
    if (e == PAY_ERR_CARD_DECLINED) {
        /* Recorded on the intent (last_payment_error): the review itself
         * was decided. */
        pay_error_clear(op->err);
        e = PAY_OK;
    }
    return e;
}

enum pay_err pay_intent_verified(struct pay_op *op, struct pay_intent_row *row, const char *kind,
                                 bool off_session)
{
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    const char *pm_id = pay_json_str(row->obj, "payment_method");
    if (pay_str_eq(kind, "fraud_review") &&
        pay_str_eq(row->connector, PAY_CONNECTOR_MOBILE_MONEY)) {
        /* A wallet payment held before its request was sent: route it again
         * and send it now (the poller sends it: no call follows a decision). */
        struct pay_route_choice route;
        enum pay_err e = pay_route_pick(op, row, PAY_TENDER_MOBILE_WALLET, NULL, &route);
        if (e == PAY_OK) {
            e = pay_route_apply(op, row, &route);
        }
        if (e == PAY_OK) {
            e = pay_momo_begin(op, row, &route);
        }
        pay_route_choice_release(&route);
        return e;
    }
    if (pay_str_eq(kind, "fraud_review") && pm_id != NULL && !is_stripe(row) &&
        !pay_str_eq(row->connector, PAY_CONNECTOR_MANUAL)) {
        /* A card held before any connector was called: authorize it now. */
        struct pay_pm_charge pm;
        enum pay_err e = resolve_pm(op, pm_id, &pm);
        if (e == PAY_OK) {
            e = risk_settled(op, row, card_authorize(op, row, &pm, off_session, false));
        }
        if (e == PAY_ERR_CARD_DECLINED) {
            /* Recorded on the intent (last_payment_error): the review
             * itself was decided. */
            pay_error_clear(op->err);
            e = PAY_OK;
        }
        return e;
    }
    if (pay_str_eq(kind, "fraud_review") && is_stripe(row)) {
        /* Stripe is asked after the commit (op->call): the intent shows
         * `processing` until its answer is applied. */
        return stripe_confirm(op, row, off_session);
    }
    if (pay_str_eq(kind, "provider_review")) {
        return provider_review_approved(op, row, off_session);
    }
    /* A manual tender: the money was received by hand. */
    enum pay_err e = post_capture(op, row, pay_json_int(row->obj, "amount", 0));
    return risk_settled(op, row,
                        e == PAY_OK ? save_and_emit(op, row, "payment_intent.succeeded") : e);
}

enum pay_err pay_intent_money_received(struct pay_op *op, struct pay_intent_row *row)
{
    json_object_set_new_nocheck(row->obj, "next_action", json_null());
    json_object_set_new_nocheck(row->obj, "last_payment_error", json_null());
    enum pay_err e = post_capture(op, row, pay_json_int(row->obj, "amount", 0));
    return risk_settled(op, row,
                        e == PAY_OK ? save_and_emit(op, row, "payment_intent.succeeded") : e);
}

enum pay_err pay_intent_attempt_failed(struct pay_op *op, struct pay_intent_row *row,
                                       const char *code, const char *decline_code,
                                       const char *message)
{
    return risk_settled(op, row,
                        record_failure(op, row, "card_error", code, decline_code, message));
}

/*
 * Apply the fields of @p to @row's object (create and update). @pm_out gets
 * the resolved payment method when @p names one (pm_out->id[0] otherwise
 * '\0').
 */
static enum pay_err apply_params(struct pay_op *op, struct pay_intent_row *row,
                                 const struct pay_intent_params *p, struct pay_pm_charge *pm_out)
{
    json_t *o = row->obj;
    memset(pm_out, 0, sizeof(*pm_out));
    if (p->has_amount) {
        if (p->amount_minor < 1 || !pay_amount_valid(p->amount_minor)) {
            return pay_error_set(op->err, PAY_ERR_AMOUNT_INVALID, "amount",
                                 "Invalid amount: must be between 1 and %lld.",
                                 (long long)PAY_AMOUNT_MAX_MINOR);
        }
        pay_json_set_int(o, "amount", p->amount_minor);
    }
    if (p->currency != NULL) {
        pay_json_set_str(o, "currency", p->currency->code);
    }
    bool customer_changed = false;
    if (p->customer != NULL) {
        enum pay_err e =
            pay_customer_facts(op, p->customer, false, "customer", row->customer_read.email,
                               sizeof(row->customer_read.email), row->customer_read.facility,
                               sizeof(row->customer_read.facility));
        if (e == PAY_ERR_NOT_FOUND) {
            return pay_error_set(op->err, e, "customer", "No such customer: '%s'", p->customer);
        }
        if (e != PAY_OK) {
            return pay_op_fail(op, e);
        }
        if (strlen(p->customer) < sizeof(row->customer_read.id)) {
            pay_copy_str(row->customer_read.id, sizeof(row->customer_read.id), p->customer);
        }
        customer_changed = !pay_str_eq(pay_json_str(o, "customer"), p->customer);
        pay_json_set_str(o, "customer", p->customer);
    }
    if (p->payment_method != NULL && is_stripe(row)) {
        /* The client's Stripe PaymentMethod: payd keeps only its id. */
        if (!stripe_pm_valid(p->payment_method)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method",
                                 "Invalid payment_method: an intent with provider=stripe takes "
                                 "a Stripe PaymentMethod id (pm_...).");
        }
        pay_json_set_str(o, "payment_method", p->payment_method);
    } else if (p->payment_method != NULL) {
        enum pay_err e = resolve_pm(op, p->payment_method, pm_out);
        if (e != PAY_OK) {
            return e;
        }
        pay_json_set_str(o, "payment_method", pm_out->id);
        e = check_pm_customer(op, pm_out, pay_json_str(o, "customer"));
        if (e != PAY_OK) {
            return e;
        }
    } else if (customer_changed && pay_json_str(o, "payment_method") != NULL && !is_stripe(row)) {
        struct pay_pm_charge cur;
        enum pay_err e = resolve_pm(op, pay_json_str(o, "payment_method"), &cur);
        if (e == PAY_OK) {
            e = check_pm_customer(op, &cur, pay_json_str(o, "customer"));
        }
        if (e != PAY_OK) {
            return e;
        }
    }
    if (p->capture_method != NULL) {
        pay_json_set_str(o, "capture_method", p->capture_method);
    }
    if (p->payment_method_types != NULL) {
        json_t *types = json_deep_copy(p->payment_method_types);
        if (types == NULL) {
            return pay_op_fail(op, PAY_ERR_NOMEM);
        }
        json_object_set_new_nocheck(o, "payment_method_types", types);
    }
    if (p->has_description) {
        pay_json_set_str(o, "description", p->description);
    }
    if (p->metadata_clear) {
        json_object_set_new_nocheck(o, "metadata", json_object());
    }
    if (p->metadata != NULL) {
        pay_metadata_merge(o, p->metadata);
        if (json_object_size(json_object_get(o, "metadata")) > PAY_METADATA_KEYS_MAX) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "metadata",
                                 "Invalid metadata: at most %d keys are allowed.",
                                 PAY_METADATA_KEYS_MAX);
        }
    }
    if (p->has_receipt_email) {
        pay_json_set_str(o, "receipt_email", p->receipt_email);
    }
    if (p->setup_future_usage != NULL) {
        pay_json_set_str(o, "setup_future_usage",
                         p->setup_future_usage[0] ? p->setup_future_usage : NULL);
    }
    if (p->facility != NULL) {
        pay_json_set_str(o, "facility", p->facility[0] ? p->facility : NULL);
    }
    return PAY_OK;
}

static enum pay_err set_return_url(struct pay_op *op, struct pay_intent_row *row,
                                   const char *return_url)
{
    if (return_url == NULL) {
        return PAY_OK;
    }
    if (!http_url(return_url)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "return_url",
                             "return_url must be an absolute http:// or https:// URL.");
    }
    char *copy = strdup(return_url);
    if (copy == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    free(row->return_url);
    row->return_url = copy;
    return PAY_OK;
}

static json_t *new_intent_object(const char *id, const char *secret, int64_t now)
{
    json_t *o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "payment_intent");
    pay_json_set_int(o, "amount", 0);
    pay_json_set_int(o, "amount_capturable", 0);
    json_t *details = json_object();
    json_object_set_new_nocheck(details, "tip", json_object());
    json_object_set_new_nocheck(o, "amount_details", details);
    pay_json_set_int(o, "amount_received", 0);
    pay_json_set_int(o, "amount_refunded", 0);
    json_object_set_new_nocheck(o, "application", json_null());
    json_object_set_new_nocheck(o, "application_fee_amount", json_null());
    json_object_set_new_nocheck(o, "automatic_payment_methods", json_null());
    json_object_set_new_nocheck(o, "canceled_at", json_null());
    json_object_set_new_nocheck(o, "cancellation_reason", json_null());
    pay_json_set_str(o, "capture_method", "automatic");
    pay_json_set_str(o, "client_secret", secret);
    pay_json_set_str(o, "confirmation_method", "automatic");
    pay_json_set_int(o, "created", now);
    pay_json_set_str(o, "currency", NULL);
    pay_json_set_str(o, "customer", NULL);
    pay_json_set_str(o, "description", NULL);
    pay_json_set_str(o, "facility", NULL);
    pay_json_set_int(o, "fee_amount", 0);
    json_object_set_new_nocheck(o, "invoice", json_null());
    json_object_set_new_nocheck(o, "last_payment_error", json_null());
    json_object_set_new_nocheck(o, "latest_charge", json_null());
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "metadata", json_object());
    json_object_set_new_nocheck(o, "next_action", json_null());
    json_object_set_new_nocheck(o, "on_behalf_of", json_null());
    pay_json_set_str(o, "payment_method", NULL);
    json_object_set_new_nocheck(o, "payment_method_configuration_details", json_null());
    json_object_set_new_nocheck(o, "payment_method_options", json_object());
    json_t *types = json_array();
    json_array_append_new(types, json_string("card"));
    json_object_set_new_nocheck(o, "payment_method_types", types);
    json_object_set_new_nocheck(o, "processing", json_null());
    pay_json_set_str(o, "provider", NULL);
    pay_json_set_str(o, "receipt_email", NULL);
    json_object_set_new_nocheck(o, "review", json_null());
    pay_json_set_str(o, "setup_future_usage", NULL);
    json_object_set_new_nocheck(o, "shipping", json_null());
    json_object_set_new_nocheck(o, "source", json_null());
    json_object_set_new_nocheck(o, "statement_descriptor", json_null());
    json_object_set_new_nocheck(o, "statement_descriptor_suffix", json_null());
    pay_json_set_str(o, "status", ST_RPM);
    json_object_set_new_nocheck(o, "transfer_data", json_null());
    json_object_set_new_nocheck(o, "transfer_group", json_null());
    return o;
}

/* Hand the row's object to *out, for success and for a recorded decline. */
static enum pay_err finish(struct pay_intent_row *row, enum pay_err e, json_t **out)
{
    if (e == PAY_OK || e == PAY_ERR_CARD_DECLINED) {
        *out = json_incref(row->obj);
    }
    pay_intent_row_release(row);
    return e;
}

/* ---- Public operations --------------------------------------------------- */

enum pay_err pay_intent_create(struct pay_op *op, const struct pay_intent_params *p, json_t **out)
{
    *out = NULL;
    if (!p->has_amount) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "amount",
                             "Missing required param: amount.");
    }
    if (p->currency == NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "currency",
                             "Missing required param: currency.");
    }
    if (p->return_url != NULL && !p->confirm) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "return_url",
                             "return_url can only be passed when confirm=true.");
    }
    if (p->off_session && !p->confirm) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "off_session",
                             "off_session can only be passed when confirm=true.");
    }
    struct pay_intent_params q = *p;
    if (op->customer_scope != NULL && q.customer == NULL) {
        /* A patient pays as itself. */
        q.customer = op->customer_scope;
    }

    char id[PAY_ID_LEN_MAX + 1];
    char rnd[PAY_ID_LEN_MAX + 1];
    char secret[2 * PAY_ID_LEN_MAX + 16];
    pay_id_new("pi", id);
    pay_secret_new("s", rnd);
    snprintf(secret, sizeof(secret), "%s_secret_%s", id, rnd + 2);

    struct pay_intent_row row;
    memset(&row, 0, sizeof(row));
    row.obj = new_intent_object(id, secret, pay_now());
    if (row.obj == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    enum pay_err e = PAY_OK;
    if (q.provider != NULL && pay_str_eq(q.provider, PAY_CONNECTOR_STRIPE)) {
        if (op->stripe == NULL || op->stripe->secret_key == NULL) {
            e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "provider",
                              "Invalid provider: 'stripe' is not configured on this payd "
                              "(payd serve --stripe-secret-key).");
        }
        pay_copy_str(row.connector, sizeof(row.connector), PAY_CONNECTOR_STRIPE);
        pay_copy_str(row.provider_pin, sizeof(row.provider_pin), PAY_CONNECTOR_STRIPE);
    } else if (q.provider != NULL && !pay_str_eq(q.provider, "sandbox")) {
        /* A configured provider by name (issue 6): routing takes only it. */
        e = pay_route_pin(op, &row, q.provider);
    }
    struct pay_pm_charge pm;
    memset(&pm, 0, sizeof(pm));
    if (e == PAY_OK) {
        e = apply_params(op, &row, &q, &pm);
    }
    if (e == PAY_OK) {
        e = set_return_url(op, &row, q.return_url);
    }
    if (e != PAY_OK) {
        pay_intent_row_release(&row);
        return e;
    }
    if (pay_json_str(row.obj, "payment_method") != NULL) {
        pay_json_set_str(row.obj, "status", ST_RC);
    }
    /* Confirmed at once: written by the attempt's first save (or below). */
    row.unsaved = true;
    e = q.confirm ? emit(op, "payment_intent.created", row.obj)
                  : save_and_emit(op, &row, "payment_intent.created");
    if (e == PAY_OK && q.confirm) {
        e = attempt(op, &row, pm.id[0] ? &pm : NULL, q.off_session, false);
    }
    if (row.unsaved && (e == PAY_OK || e == PAY_ERR_CARD_DECLINED)) {
        enum pay_err se = pay_intent_row_save(op, &row);
        e = se != PAY_OK ? se : e;
    }
    return finish(&row, e, out);
}

enum pay_err pay_intent_get(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, id, false, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    *out = json_incref(row.obj);
    pay_intent_row_release(&row);
    return PAY_OK;
}

enum pay_err pay_intent_update(struct pay_op *op, const char *id, const struct pay_intent_params *p,
                               json_t **out)
{
    static const char *const open_states[] = {"requires_payment_method", "requires_confirmation",
                                              "requires_action", NULL};
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, id, true, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    bool changes_payment = p->has_amount || p->currency != NULL || p->customer != NULL ||
                           p->payment_method != NULL || p->capture_method != NULL ||
                           p->setup_future_usage != NULL || p->facility != NULL ||
                           p->payment_method_types != NULL;
    if (changes_payment && !status_in(row.obj, open_states)) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "This PaymentIntent's amount, currency, customer, payment_method, "
                          "capture_method, setup_future_usage and facility could not be updated "
                          "because it has a status of %s. Only description, metadata and "
                          "receipt_email can change once a payment has been authorized.",
                          status_of(row.obj));
        pay_intent_row_release(&row);
        return e;
    }
    int64_t amount_before = pay_json_int(row.obj, "amount", 0);
    char *currency_before =
        strdup(pay_json_str(row.obj, "currency") ? pay_json_str(row.obj, "currency") : "");
    if (currency_before == NULL) {
        pay_intent_row_release(&row);
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_pm_charge pm;
    e = apply_params(op, &row, p, &pm);
    if (e == PAY_OK) {
        bool auth_relevant = pay_json_int(row.obj, "amount", 0) != amount_before ||
                             !pay_str_eq(pay_json_str(row.obj, "currency"), currency_before) ||
                             p->payment_method != NULL;
        const char *st = status_of(row.obj);
        bool has_pm = pay_json_str(row.obj, "payment_method") != NULL;
        if (pay_str_eq(st, ST_RPM) && has_pm) {
            pay_json_set_str(row.obj, "status", ST_RC);
        } else if (pay_str_eq(st, ST_RA) && auth_relevant) {
            /* The pending challenge was for the old amount or card. */
            json_object_set_new_nocheck(row.obj, "next_action", json_null());
            pay_json_set_str(row.obj, "status", has_pm ? ST_RC : ST_RPM);
        }
        st = status_of(row.obj);
        if ((auth_relevant || p->facility != NULL || p->payment_method_types != NULL) &&
            (pay_str_eq(st, ST_RPM) || pay_str_eq(st, ST_RC))) {
            /* The route and its fee were for the old payment: the next
             * attempt routes again. */
            pay_route_forget(&row);
        }
        e = pay_intent_row_save(op, &row);
    }
    free(currency_before);
    return finish(&row, e, out);
}

enum pay_err pay_intent_confirm(struct pay_op *op, const char *id,
                                const struct pay_intent_params *p, json_t **out)
{
    static const char *const confirmable[] = {"requires_payment_method", "requires_confirmation",
                                              "requires_action", NULL};
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, id, true, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    if (!status_in(row.obj, confirmable)) {
        e = unexpected(op, row.obj, "confirm",
                       "requires_payment_method, requires_confirmation, requires_action");
        pay_intent_row_release(&row);
        return e;
    }
    /* Confirm accepts only these of the create fields. */
    struct pay_intent_params q = {
        .payment_method = p->payment_method,
        .has_receipt_email = p->has_receipt_email,
        .receipt_email = p->receipt_email,
        .setup_future_usage = p->setup_future_usage,
        .payment_method_types = p->payment_method_types,
    };
    struct pay_pm_charge pm;
    e = apply_params(op, &row, &q, &pm);
    if (e == PAY_OK) {
        e = set_return_url(op, &row, p->return_url);
    }
    if (e == PAY_OK) {
        e = attempt(op, &row, pm.id[0] ? &pm : NULL, p->off_session, false);
    }
    return finish(&row, e, out);
}

enum pay_err pay_intent_capture(struct pay_op *op, const char *id, bool has_amount,
                                int64_t amount_minor, json_t **out)
{
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, id, true, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    int64_t capturable = pay_json_int(row.obj, "amount_capturable", 0);
    int64_t amount = has_amount ? amount_minor : capturable;
    if (!pay_str_eq(status_of(row.obj), ST_RCAP)) {
        e = unexpected(op, row.obj, "capture", "requires_capture");
    } else if (amount < 1 || !pay_amount_valid(amount)) {
        e = pay_error_set(op->err, PAY_ERR_AMOUNT_INVALID, "amount_to_capture",
                          "Invalid amount_to_capture: must be at least 1.");
    } else if (amount > capturable) {
        e = pay_error_set(op->err, PAY_ERR_AMOUNT_TOO_LARGE, "amount_to_capture",
                          "The amount to capture (%lld) is greater than the amount capturable "
                          "(%lld).",
                          (long long)amount, (long long)capturable);
    } else if (is_stripe(&row)) {
        const struct pay_attempt_spec spec = {
            .intent = id,
            .operation = "capture",
            .amount_minor = amount,
            .prior_status = ST_RCAP,
            .stripe_pi = row.provider_ref,
        };
        e = stripe_begin(op, &row, &spec);
    } else {
        const struct pay_connector *conn = pay_connector_find(row.connector);
        struct pay_conn_result res;
        memset(&res, 0, sizeof(res));
        if (conn == NULL) {
            e = pay_error_set(op->err, PAY_ERR_PROVIDER, NULL, "No connector '%s'.", row.connector);
        } else if (conn->capture(row.provider_ref, amount, &res) != PAY_OK ||
                   res.status != PAY_CONN_SUCCEEDED) {
            e = pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                              "The payment provider refused the capture%s%s.",
                              res.message[0] ? ": " : "", res.message);
        } else {
            e = post_capture(op, &row, amount);
            if (e == PAY_OK) {
                e = pay_intent_row_save(op, &row);
            }
            if (e == PAY_OK) {
                e = emit(op, "payment_intent.succeeded", row.obj);
            }
        }
    }
    if (e != PAY_OK) {
        pay_intent_row_release(&row);
        return e;
    }
    return finish(&row, e, out);
}

enum pay_err pay_intent_cancel(struct pay_op *op, const char *id, const char *reason, json_t **out)
{
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, id, true, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    const char *st = status_of(row.obj);
    if (pay_str_eq(st, ST_SUCCEEDED) || pay_str_eq(st, ST_CANCELED)) {
        e = unexpected(op, row.obj, "cancel",
                       "requires_payment_method, requires_capture, requires_confirmation, "
                       "requires_action, processing");
        pay_intent_row_release(&row);
        return e;
    }
    if (is_stripe(&row)) {
        bool pending = false;
        e = pay_attempt_any_pending(op, id, &pending);
        if (e == PAY_OK && pending) {
            e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                              "A request to the payment provider for PaymentIntent %s is still "
                              "in progress; retry once it has settled.",
                              id);
        }
        if (e == PAY_OK && row.provider_ref[0] != '\0' &&
            (pay_str_eq(st, ST_RCAP) || pay_str_eq(st, ST_RA) || pay_str_eq(st, ST_PROCESSING))) {
            /* Stripe holds an authorization (or waits for the customer): release it there. */
            char prior[32];
            pay_copy_str(prior, sizeof(prior), st);
            if (reason != NULL) {
                pay_json_set_str(row.obj, "cancellation_reason", reason);
            }
            const struct pay_attempt_spec spec = {
                .intent = id,
                .operation = "cancel",
                .prior_status = prior,
                .stripe_pi = row.provider_ref,
            };
            e = stripe_begin(op, &row, &spec);
            if (e != PAY_OK) {
                pay_intent_row_release(&row);
                return e;
            }
            return finish(&row, e, out);
        }
        if (e != PAY_OK) {
            pay_intent_row_release(&row);
            return e;
        }
    } else if (row.provider_ref[0] != '\0' &&
               (pay_str_eq(st, ST_RCAP) || pay_str_eq(st, ST_PROCESSING))) {
        /* Release the hold on the customer's funds. */
        const struct pay_connector *conn = pay_connector_find(row.connector);
        struct pay_conn_result res;
        memset(&res, 0, sizeof(res));
        if (conn == NULL || conn->cancel(row.provider_ref, &res) != PAY_OK ||
            res.status == PAY_CONN_FAILED || res.status == PAY_CONN_DECLINED) {
            e = pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                              "The payment provider refused to release the authorization.");
            pay_intent_row_release(&row);
            return e;
        }
    }
    if (pay_str_eq(st, "requires_verification")) {
        e = pay_verification_cancel_for_intent(op, id);
        if (e != PAY_OK) {
            pay_intent_row_release(&row);
            return e;
        }
    }
    if (pay_str_eq(row.connector, PAY_CONNECTOR_MOBILE_MONEY)) {
        /* A late answer of the wallet must not book a canceled intent. */
        e = pay_momo_cancel_for_intent(op, id);
        if (e != PAY_OK) {
            pay_intent_row_release(&row);
            return e;
        }
    }
    pay_json_set_str(row.obj, "status", ST_CANCELED);
    pay_json_set_int(row.obj, "canceled_at", pay_now());
    pay_json_set_str(row.obj, "cancellation_reason", reason);
    pay_json_set_int(row.obj, "amount_capturable", 0);
    json_object_set_new_nocheck(row.obj, "next_action", json_null());
    e = pay_intent_row_save(op, &row);
    if (e == PAY_OK) {
        e = emit(op, "payment_intent.canceled", row.obj);
    }
    if (e != PAY_OK) {
        pay_intent_row_release(&row);
        return e;
    }
    return finish(&row, e, out);
}

/* pay_intent_list and pay_intent_list_text: the page as objects (@data_out)
 * or as the stored texts appended to @text_out. */
static enum pay_err intent_list_page(struct pay_op *op, const char *customer, const char *status,
                                     const struct pay_list_args *args, json_t **data_out,
                                     struct pay_buf *text_out, bool *has_more)
{
    if (data_out != NULL) {
        *data_out = NULL;
    }
    *has_more = false;
    if (op->customer_scope != NULL) {
        if (customer != NULL && strcmp(customer, op->customer_scope) != 0) {
            /* Another customer's intents do not exist for a patient. */
            if (data_out == NULL) {
                return PAY_OK;
            }
            *data_out = json_array();
            return *data_out ? PAY_OK : pay_op_fail(op, PAY_ERR_NOMEM);
        }
        customer = op->customer_scope;
    }
    struct pay_param p[2];
    size_t n = 0;
    const char *where = NULL;
    if (customer != NULL && status != NULL) {
        where = "customer = $1 AND status = $2";
        p[n++] = PAY_PTEXT(customer);
        p[n++] = PAY_PTEXT(status);
    } else if (customer != NULL) {
        where = "customer = $1";
        p[n++] = PAY_PTEXT(customer);
    } else if (status != NULL) {
        where = "status = $1";
        p[n++] = PAY_PTEXT(status);
    }
    if (data_out == NULL) {
        return pay_op_fail(op, pay_tx_list_text(op->tx, "payment_intents", where, n ? p : NULL, n,
                                                args, text_out, has_more, op->err));
    }
    return pay_op_fail(op, pay_tx_list(op->tx, "payment_intents", where, n ? p : NULL, n, args,
                                       data_out, has_more, op->err));
}

enum pay_err pay_intent_list(struct pay_op *op, const char *customer, const char *status,
                             const struct pay_list_args *args, json_t **data_out, bool *has_more)
{
    return intent_list_page(op, customer, status, args, data_out, NULL, has_more);
}

enum pay_err pay_intent_list_text(struct pay_op *op, const char *customer, const char *status,
                                  const struct pay_list_args *args, struct pay_buf *out,
                                  bool *has_more)
{
    return intent_list_page(op, customer, status, args, NULL, out, has_more);
}

/* Load @id for the 3-D Secure page: no customer scope, the secret decides. */
static enum pay_err load_by_secret(struct pay_op *op, const char *id, const char *client_secret,
                                   bool for_update, struct pay_intent_row *row)
{
    struct pay_op unscoped = *op;
    unscoped.customer_scope = NULL;
    enum pay_err e = pay_intent_row_load(&unscoped, id, for_update, "intent", row);
    if (e != PAY_OK) {
        return e;
    }
    const char *secret = pay_json_str(row->obj, "client_secret");
    if (secret == NULL || client_secret == NULL ||
        !pay_secure_equal(secret, strlen(secret), client_secret, strlen(client_secret))) {
        pay_intent_row_release(row);
        return not_found(op, "intent", id);
    }
    return PAY_OK;
}

enum pay_err pay_intent_by_secret(struct pay_op *op, const char *id, const char *client_secret,
                                  json_t **out)
{
    *out = NULL;
    struct pay_intent_row row;
    enum pay_err e = load_by_secret(op, id, client_secret, false, &row);
    if (e != PAY_OK) {
        return e;
    }
    *out = json_incref(row.obj);
    pay_intent_row_release(&row);
    return PAY_OK;
}

enum pay_err pay_intent_3ds_finish(struct pay_op *op, const char *id, const char *client_secret,
                                   bool passed, json_t **out, char **return_url_out)
{
    *out = NULL;
    *return_url_out = NULL;
    struct pay_intent_row row;
    enum pay_err e = load_by_secret(op, id, client_secret, true, &row);
    if (e != PAY_OK) {
        return e;
    }
    if (!pay_str_eq(status_of(row.obj), ST_RA)) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "This PaymentIntent has a status of %s and no longer waits for "
                          "3-D Secure authentication.",
                          status_of(row.obj));
        pay_intent_row_release(&row);
        return e;
    }
    struct pay_op unscoped = *op;
    unscoped.customer_scope = NULL;
    if (passed) {
        e = attempt(&unscoped, &row, NULL, false, true);
    } else {
        e = record_failure(&unscoped, &row, "invalid_request_error",
                           "payment_intent_authentication_failure", NULL,
                           "The provided PaymentMethod has failed authentication. You can "
                           "provide a new PaymentMethod to attempt to fulfill this "
                           "PaymentIntent again.");
    }
    if (e == PAY_OK || e == PAY_ERR_CARD_DECLINED || (!passed && e == PAY_ERR_UNEXPECTED_STATE)) {
        /* The attempt the risk check logged before the challenge learns how
         * it ended (recent declines and daily limits count it). */
        enum pay_err oe = pay_risk_challenge_outcome(&unscoped, id,
                                                     e == PAY_OK ? status_of(row.obj) : "declined");
        if (oe != PAY_OK) {
            pay_intent_row_release(&row);
            return oe;
        }
    }
    if (e == PAY_ERR_CARD_DECLINED || (!passed && e == PAY_ERR_UNEXPECTED_STATE)) {
        /* The outcome is shown on the page or in the redirect, not as an
         * error of this request; the attempt is committed either way. */
        pay_error_clear(op->err);
        e = PAY_OK;
    }
    if (e == PAY_OK && row.return_url != NULL) {
        *return_url_out = strdup(row.return_url);
        if (*return_url_out == NULL) {
            e = pay_op_fail(op, PAY_ERR_NOMEM);
        }
    }
    if (e != PAY_OK) {
        pay_intent_row_release(&row);
        return e;
    }
    return finish(&row, e, out);
}

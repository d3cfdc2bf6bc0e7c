/*
 * payment_methods.c - payment methods (type card): Stripe's PaymentMethod
 * object, created from raw card data or a Stripe test name, attached to and
 * detached from customers, and resolved for charging.
 *
 * Invariants:
 * - a card number or CVC never reaches this file's rows, objects or
 *   errors: pay_card_tokenize takes them and gives back brand, last4,
 *   expiry, fingerprint and the connector's token;
 * - the stored `data` column is the object as the API shows it; the
 *   `customer` column always equals data.customer (pm_save writes both);
 * - the token and connector columns are private: never shown to clients;
 * - detaching a customer's default payment method sets the customer's
 *   invoice_settings.default_payment_method to null (no other payment method
 *   is promoted) and appends customer.updated;
 * - every attach, detach and update appends its event in the same
 *   transaction.
 *
 * Threading: no state of its own; runs inside the caller's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payments_int.h"

static enum pay_err not_found(struct pay_op *op, const char *param, const char *id)
{
    return pay_error_set(op->err, PAY_ERR_NOT_FOUND, param, "No such PaymentMethod: '%s'",
                         id ? id : "");
}

/* ---- Rows ------------------------------------------------------------- */

struct pm_row {
    json_t *obj;                       /* owned */
    char customer[PAY_ID_LEN_MAX + 1]; /* "" when not attached */
    char type[16];
    char connector[16];
    char token[PAY_TOKEN_LEN_MAX];
};

static void pm_row_release(struct pm_row *row)
{
    json_decref(row->obj);
    row->obj = NULL;
}

/* How far a patient's op reaches (payments.h): ROUTE = only its customer's
 * payment methods; CHARGE = those and unattached ones. */
enum reach { REACH_ROUTE, REACH_CHARGE };

static enum pay_err pm_load(struct pay_op *op, const char *id, bool for_update, enum reach reach,
                            const char *param, struct pm_row *row)
{
    memset(row, 0, sizeof(*row));
    if (id == NULL || !pay_id_valid(id, "pm")) {
        return not_found(op, param, id);
    }
    const char *sql = for_update ? "SELECT data, customer, type, connector, token "
                                   "FROM payment_methods WHERE id = $1 FOR UPDATE"
                                 : "SELECT data, customer, type, connector, token "
                                   "FROM payment_methods WHERE id = $1";
    struct pay_param p[] = {PAY_PTEXT(id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sql, p, PAY_NPARAMS(p), &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = false;
    if (pay_rows_next(r)) {
        found = true;
        const char *data = pay_rows_text(r, 0);
        json_error_t jerr;
        row->obj = data ? json_loadb(data, pay_rows_len(r, 0), 0, &jerr) : NULL;
        pay_copy_str(row->customer, sizeof(row->customer), pay_rows_text(r, 1));
        pay_copy_str(row->type, sizeof(row->type), pay_rows_text(r, 2));
        pay_copy_str(row->connector, sizeof(row->connector), pay_rows_text(r, 3));
        pay_copy_str(row->token, sizeof(row->token), pay_rows_text(r, 4));
    }
    e = pay_rows_close(r);
    if (e != PAY_OK) {
        pm_row_release(row);
        return pay_op_fail(op, e);
    }
    if (!found) {
        return not_found(op, param, id);
    }
    if (!json_is_object(row->obj)) {
        pm_row_release(row);
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL,
                             "Stored payment method %s is corrupt.", id);
    }
    if (op->customer_scope != NULL) {
        bool own = pay_str_eq(row->customer, op->customer_scope);
        bool loose = row->customer[0] == '\0' && reach == REACH_CHARGE;
        if (!own && !loose) {
            pm_row_release(row);
            return not_found(op, param, id);
        }
    }
    return PAY_OK;
}

/* Write the customer and data columns from row->obj. */
static enum pay_err pm_save(struct pay_op *op, const struct pm_row *row)
{
    char *data = pay_json_dump(row->obj);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[] = {
        PAY_PTEXT(pay_json_str(row->obj, "id")),
        PAY_PTEXT(pay_json_str(row->obj, "customer")),
        PAY_PJSON(data),
    };
    int64_t changes = 0;
    enum pay_err e = pay_tx_exec(op->tx,
                                 "UPDATE payment_methods SET customer = $2, data = $3 "
                                 "WHERE id = $1",
                                 p, PAY_NPARAMS(p), &changes);
    free(data);
    if (e == PAY_OK && changes != 1) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Payment method %s vanished.",
                          pay_json_str(row->obj, "id"));
    }
    return pay_op_fail(op, e);
}

static enum pay_err pm_insert(struct pay_op *op, const struct pm_row *row)
{
    char *data = pay_json_dump(row->obj);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[] = {
        PAY_PTEXT(pay_json_str(row->obj, "id")),
        PAY_PINT(pay_json_int(row->obj, "created", 0)),
        PAY_PTEXT(pay_json_str(row->obj, "customer")),
        PAY_PTEXT(row->type),
        PAY_PTEXT(row->connector),
        PAY_PTEXT(row->token),
        PAY_PJSON(data),
    };
    enum pay_err e =
        pay_tx_exec_later(op->tx,
                          "INSERT INTO payment_methods (id, created, customer, type, "
                          "connector, token, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                          p, PAY_NPARAMS(p));
    free(data);
    return pay_op_fail(op, e);
}

static enum pay_err emit(struct pay_op *op, const char *type, const json_t *obj,
                         const char *customer)
{
    return pay_op_fail(
        op, pay_event_append(op->tx, type, obj, customer, op->request_id, NULL, op->err));
}

/* ---- Objects ------------------------------------------------------------ */

/* Stripe's display_brand spelling of a brand. */
static const char *display_brand(const char *brand)
{
    static const struct {
        const char *brand, *display;
    } map[] = {
        {"amex", "american_express"},
        {"diners", "diners_club"},
        {"unionpay", "union_pay"},
        {"unknown", "other"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].brand, brand) == 0) {
            return map[i].display;
        }
    }
    return brand;
}

static json_t *billing_details_empty(void)
{
    json_t *bd = json_object();
    json_t *addr = pay_address_object(NULL, NULL);
    if (bd == NULL || addr == NULL) {
        json_decref(bd);
        json_decref(addr);
        return NULL;
    }
    json_object_set_new_nocheck(bd, "address", addr);
    json_object_set_new_nocheck(bd, "email", json_null());
    json_object_set_new_nocheck(bd, "name", json_null());
    json_object_set_new_nocheck(bd, "phone", json_null());
    return bd;
}

/* A new, unattached card payment method (Stripe's shape) from @ci. */
static json_t *pm_object_new(const struct pay_card_info *ci)
{
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("pm", id);
    json_t *o = json_object();
    json_t *card = json_object();
    json_t *checks = json_object();
    json_t *networks = json_object();
    json_t *available = json_array();
    json_t *tds = json_object();
    json_t *bd = billing_details_empty();
    if (!o || !card || !checks || !networks || !available || !tds || !bd) {
        json_decref(o);
        json_decref(card);
        json_decref(checks);
        json_decref(networks);
        json_decref(available);
        json_decref(tds);
        json_decref(bd);
        return NULL;
    }
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "payment_method");
    pay_json_set_str(o, "allow_redisplay", "unspecified");
    json_object_set_new_nocheck(o, "billing_details", bd);

    pay_json_set_str(card, "brand", ci->brand);
    json_object_set_new_nocheck(checks, "address_line1_check", json_null());
    json_object_set_new_nocheck(checks, "address_postal_code_check", json_null());
    pay_json_set_str(checks, "cvc_check", ci->cvc_check[0] ? ci->cvc_check : NULL);
    json_object_set_new_nocheck(card, "checks", checks);
    pay_json_set_str(card, "country", ci->country[0] ? ci->country : NULL);
    pay_json_set_str(card, "display_brand", display_brand(ci->brand));
    pay_json_set_int(card, "exp_month", ci->exp_month);
    pay_json_set_int(card, "exp_year", ci->exp_year);
    pay_json_set_str(card, "fingerprint", ci->fingerprint);
    pay_json_set_str(card, "funding", ci->funding);
    json_object_set_new_nocheck(card, "generated_from", json_null());
    pay_json_set_str(card, "last4", ci->last4);
    json_array_append_new(available, json_string(ci->brand));
    json_object_set_new_nocheck(networks, "available", available);
    json_object_set_new_nocheck(networks, "preferred", json_null());
    json_object_set_new_nocheck(card, "networks", networks);
    pay_json_set_str(card, "regulated_status", "unregulated");
    pay_json_set_bool(tds, "supported", true);
    json_object_set_new_nocheck(card, "three_d_secure_usage", tds);
    json_object_set_new_nocheck(card, "wallet", json_null());
    json_object_set_new_nocheck(o, "card", card);

    pay_json_set_int(o, "created", pay_now());
    json_object_set_new_nocheck(o, "customer", json_null());
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "metadata", json_object());
    pay_json_set_str(o, "type", "card");
    return o;
}

/* Fill @row with a new sandbox card payment method from @ci / @token and
 * insert it. */
static enum pay_err pm_create_row(struct pay_op *op, const struct pay_card_info *ci,
                                  const char *token, struct pm_row *row)
{
    memset(row, 0, sizeof(*row));
    row->obj = pm_object_new(ci);
    if (row->obj == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    pay_copy_str(row->type, sizeof(row->type), "card");
    pay_copy_str(row->connector, sizeof(row->connector), "sandbox");
    pay_copy_str(row->token, sizeof(row->token), token);
    enum pay_err e = pm_insert(op, row);
    if (e != PAY_OK) {
        pm_row_release(row);
    }
    return e;
}

/* A Stripe test name (pm_card_visa, tok_visa): a new payment method, as
 * Stripe makes one each time such a name is used. PAY_ERR_NOT_FOUND (no
 * detail) when @name is not one. */
static enum pay_err pm_from_test_name(struct pay_op *op, const char *name, struct pm_row *row)
{
    struct pay_card_info ci;
    char token[PAY_TOKEN_LEN_MAX];
    memset(row, 0, sizeof(*row));
    if (pay_card_test_token(name, op->fingerprint_key, pay_now(), &ci, token) != PAY_OK) {
        return PAY_ERR_NOT_FOUND;
    }
    return pm_create_row(op, &ci, token, row);
}

/* A pm_... id (for update when @for_update) or a test name. */
static enum pay_err pm_resolve(struct pay_op *op, const char *pm, bool for_update,
                               const char *param, struct pm_row *row)
{
    if (pm != NULL && !pay_id_valid(pm, "pm")) {
        enum pay_err e = pm_from_test_name(op, pm, row);
        if (e != PAY_ERR_NOT_FOUND) {
            return e;
        }
    }
    return pm_load(op, pm, for_update, REACH_CHARGE, param, row);
}

static void set_str_or_null(json_t *o, const char *key, const json_t *v)
{
    bool set = json_is_string(v) && json_string_length(v) > 0;
    json_object_set_new(o, key, set ? json_string(json_string_value(v)) : json_null());
}

/* Merge the given billing details into @o's (payments.h). */
static enum pay_err apply_billing(struct pay_op *op, json_t *o, const json_t *given)
{
    if (given == NULL) {
        return PAY_OK;
    }
    json_t *bd = json_object_get(o, "billing_details");
    if (!json_is_object(bd)) {
        bd = billing_details_empty();
        if (bd == NULL) {
            return pay_op_fail(op, PAY_ERR_NOMEM);
        }
        json_object_set_new_nocheck(o, "billing_details", bd);
    }
    if (json_is_string(given) && json_string_length(given) == 0) {
        /* billing_details="": unset everything. */
        json_t *empty = billing_details_empty();
        if (empty == NULL) {
            return pay_op_fail(op, PAY_ERR_NOMEM);
        }
        json_object_set_new_nocheck(o, "billing_details", empty);
        return PAY_OK;
    }
    if (!json_is_object(given)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "billing_details",
                             "Invalid billing_details: must be an object.");
    }
    static const char *const keys[] = {"email", "name", "phone"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = json_object_get(given, keys[i]);
        if (v != NULL) {
            set_str_or_null(bd, keys[i], v);
        }
    }
    const json_t *addr = json_object_get(given, "address");
    if (addr != NULL) {
        bool unset = json_is_null(addr) || (json_is_string(addr) && json_string_length(addr) == 0);
        if (!unset && !json_is_object(addr)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "billing_details[address]",
                                 "Invalid billing_details[address]: must be an object.");
        }
        json_t *a =
            pay_address_object(unset ? NULL : json_object_get(bd, "address"), unset ? NULL : addr);
        if (a == NULL) {
            return pay_op_fail(op, PAY_ERR_NOMEM);
        }
        json_object_set_new_nocheck(bd, "address", a);
    }
    return PAY_OK;
}

static enum pay_err apply_metadata(struct pay_op *op, json_t *o, const struct pay_pm_params *p)
{
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
    return PAY_OK;
}

static void fill_charge(const struct pm_row *row, struct pay_pm_charge *out)
{
    memset(out, 0, sizeof(*out));
    pay_copy_str(out->id, sizeof(out->id), pay_json_str(row->obj, "id"));
    pay_copy_str(out->customer, sizeof(out->customer), row->customer);
    pay_copy_str(out->type, sizeof(out->type), row->type);
    pay_copy_str(out->connector, sizeof(out->connector), row->connector);
    pay_copy_str(out->token, sizeof(out->token), row->token);
    pay_copy_str(out->fingerprint, sizeof(out->fingerprint),
                 pay_json_str(json_object_get(row->obj, "card"), "fingerprint"));
    out->loaded = true;
}

/* ---- For payment intents ---------------------------------------------------- */

enum pay_err pay_payment_method_for_charge(struct pay_op *op, const char *pm,
                                           const char *param_name, struct pay_pm_charge *out)
{
    memset(out, 0, sizeof(*out));
    struct pm_row row;
    enum pay_err e = pm_resolve(op, pm, false, param_name, &row);
    if (e != PAY_OK) {
        return e;
    }
    fill_charge(&row, out);
    pm_row_release(&row);
    return PAY_OK;
}

enum pay_err pay_payment_method_get(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    struct pm_row row;
    enum pay_err e = pm_load(op, id, false, REACH_CHARGE, "payment_method", &row);
    if (e != PAY_OK) {
        return e;
    }
    *out = row.obj;
    return PAY_OK;
}

enum pay_err pay_pm_attached_to(struct pay_op *op, const char *pm_id, const char *customer_id,
                                bool *out)
{
    *out = false;
    struct pay_param p[] = {PAY_PTEXT(pm_id), PAY_PTEXT(customer_id)};
    int64_t one = 0;
    bool found = false;
    enum pay_err e = pay_tx_query_int(op->tx,
                                      "SELECT 1 FROM payment_methods WHERE id = $1 AND "
                                      "customer = $2",
                                      p, PAY_NPARAMS(p), &one, &found);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    *out = found;
    return PAY_OK;
}

/* The connector's check before saving a card (Stripe's attach). */
static enum pay_err verify_card(struct pay_op *op, const struct pm_row *row)
{
    const struct pay_connector *c = pay_connector_find(row->connector);
    if (c == NULL) {
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Unknown connector %s.",
                             row->connector);
    }
    if (c->verify == NULL) {
        return PAY_OK;
    }
    struct pay_conn_result res;
    enum pay_err e = c->verify(row->token, &res);
    if (e != PAY_OK) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL, "%s",
                             res.message[0] ? res.message : pay_err_message(PAY_ERR_PROVIDER));
    }
    if (res.status == PAY_CONN_DECLINED) {
        pay_error_set(op->err, PAY_ERR_CARD_DECLINED, NULL, "%s", res.message);
        if (op->err != NULL) {
            pay_copy_str(op->err->decline_code, sizeof(op->err->decline_code), res.decline_code);
            pay_copy_str(op->err->code_str, sizeof(op->err->code_str), res.code);
        }
        return PAY_ERR_CARD_DECLINED;
    }
    if (res.status != PAY_CONN_SUCCEEDED) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL, "The card could not be checked.");
    }
    return PAY_OK;
}

enum pay_err pay_pm_attach(struct pay_op *op, const char *pm_id, const char *pm_param,
                           const char *customer_id, bool verify, json_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    json_t *cus = NULL;
    enum pay_err e = pay_customer_row_load(op, customer_id, true, "customer", &cus);
    if (e != PAY_OK) {
        return e;
    }
    json_decref(cus);
    struct pm_row row;
    e = pm_resolve(op, pm_id, true, pm_param, &row);
    if (e != PAY_OK) {
        return e;
    }
    if (pay_str_eq(row.customer, customer_id)) {
        goto out; /* already there: nothing changes, no event */
    }
    if (row.customer[0] != '\0') {
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, pm_param,
                          "The payment method you provided has already been attached to a "
                          "customer.");
        goto out;
    }
    if (verify) {
        e = verify_card(op, &row);
        if (e != PAY_OK) {
            goto out;
        }
    }
    pay_copy_str(row.customer, sizeof(row.customer), customer_id);
    pay_json_set_str(row.obj, "customer", customer_id);
    e = pm_save(op, &row);
    if (e == PAY_OK) {
        e = emit(op, "payment_method.attached", row.obj, customer_id);
    }
out:
    if (e == PAY_OK && out != NULL) {
        *out = row.obj;
        row.obj = NULL;
    }
    pm_row_release(&row);
    return e;
}

enum pay_err pay_payment_method_attach(struct pay_op *op, const char *pm_id,
                                       const char *customer_id)
{
    return pay_pm_attach(op, pm_id, "payment_method", customer_id, false, NULL);
}

enum pay_err pay_payment_method_save(struct pay_op *op, const char *pm_id, const char *customer_id,
                                     json_t **out)
{
    if (customer_id == NULL || customer_id[0] == '\0') {
        *out = NULL;
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "customer",
                             "Missing required param: customer.");
    }
    return pay_pm_attach(op, pm_id, "id", customer_id, true, out);
}

/* Take @row off its customer; clear that customer's default when it was
 * this payment method (the documented rule: no other card is promoted). */
static enum pay_err detach_row(struct pay_op *op, struct pm_row *row)
{
    char former[PAY_ID_LEN_MAX + 1];
    pay_copy_str(former, sizeof(former), row->customer);
    row->customer[0] = '\0';
    json_object_set_new_nocheck(row->obj, "customer", json_null());
    enum pay_err e = pm_save(op, row);
    if (e == PAY_OK) {
        e = emit(op, "payment_method.detached", row->obj, former);
    }
    if (e != PAY_OK) {
        return e;
    }
    json_t *cus = NULL;
    e = pay_customer_row_load(op, former, true, "customer", &cus);
    if (e == PAY_ERR_NOT_FOUND) {
        /* The customer is being deleted (or already is): nothing to clear. */
        if (op->err != NULL) {
            pay_error_clear(op->err);
        }
        return PAY_OK;
    }
    if (e != PAY_OK) {
        return e;
    }
    json_t *inv = json_object_get(cus, "invoice_settings");
    if (pay_str_eq(pay_json_str(inv, "default_payment_method"), pay_json_str(row->obj, "id"))) {
        json_object_set_new_nocheck(inv, "default_payment_method", json_null());
        e = pay_customer_row_save(op, cus);
        if (e == PAY_OK) {
            e = emit(op, "customer.updated", cus, former);
        }
    }
    json_decref(cus);
    return e;
}

enum pay_err pay_payment_method_detach(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    struct pm_row row;
    enum pay_err e = pm_load(op, id, false, REACH_ROUTE, "id", &row);
    if (e != PAY_OK) {
        return e;
    }
    /* Lock the customer before the payment method, the order attach and
     * customer deletion use, so that they cannot deadlock with this. */
    if (row.customer[0] != '\0') {
        json_t *cus = NULL;
        e = pay_customer_row_load(op, row.customer, true, "customer", &cus);
        json_decref(cus);
        if (e == PAY_ERR_NOT_FOUND) {
            pay_error_clear(op->err);
        } else if (e != PAY_OK) {
            pm_row_release(&row);
            return e;
        }
    }
    pm_row_release(&row);
    e = pm_load(op, id, true, REACH_ROUTE, "id", &row);
    if (e != PAY_OK) {
        return e;
    }
    if (row.customer[0] == '\0') {
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, NULL,
                          "The payment method you provided is not attached to a customer so "
                          "detachment is impossible.");
    } else {
        e = detach_row(op, &row);
    }
    if (e == PAY_OK) {
        *out = row.obj;
        row.obj = NULL;
    }
    pm_row_release(&row);
    return e;
}

enum pay_err pay_pm_detach_all(struct pay_op *op, const char *customer_id)
{
    /* Collect the ids first: one open result set per transaction. */
    struct pay_param p[] = {PAY_PTEXT(customer_id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT id FROM payment_methods WHERE customer = $1 "
                                  "ORDER BY seq",
                                  p, PAY_NPARAMS(p), &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    json_t *ids = json_array();
    while (ids != NULL && pay_rows_next(r)) {
        const char *id = pay_rows_text(r, 0);
        if (id != NULL) {
            json_array_append_new(ids, json_string(id));
        }
    }
    e = pay_rows_close(r);
    if (ids == NULL) {
        e = PAY_ERR_NOMEM;
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (e != PAY_OK) {
            break;
        }
        struct pm_row row;
        e = pm_load(op, json_string_value(v), true, REACH_ROUTE, "id", &row);
        if (e == PAY_OK) {
            e = detach_row(op, &row);
            pm_row_release(&row);
        }
    }
    json_decref(ids);
    return pay_op_fail(op, e);
}

/* ---- The API's operations ------------------------------------------------------ */

enum pay_err pay_payment_method_create(struct pay_op *op, const struct pay_pm_params *p,
                                       json_t **out)
{
    *out = NULL;
    if (p->type == NULL || p->type[0] == '\0') {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "type",
                             "Missing required param: type.");
    }
    if (strcmp(p->type, "card") != 0) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "type",
                             "Invalid type: must be one of card.");
    }
    struct pay_card_info ci;
    char token[PAY_TOKEN_LEN_MAX];
    enum pay_err e;
    if (p->card_token != NULL) {
        if (p->card_number != NULL) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "card[token]",
                                 "card[token] cannot be combined with card[number].");
        }
        if (pay_card_test_token(p->card_token, op->fingerprint_key, pay_now(), &ci, token) !=
            PAY_OK) {
            return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "card[token]", "No such token: '%s'",
                                 p->card_token);
        }
    } else if (p->card_number != NULL) {
        if (!p->has_exp_month) {
            return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "card[exp_month]",
                                 "Missing required param: card[exp_month].");
        }
        if (!p->has_exp_year) {
            return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "card[exp_year]",
                                 "Missing required param: card[exp_year].");
        }
        /* Out-of-range values become invalid ones the tokenizer names. */
        int month = p->exp_month >= 0 && p->exp_month <= 99 ? (int)p->exp_month : -1;
        int year = p->exp_year >= 0 && p->exp_year <= 9999 ? (int)p->exp_year : -1;
        e = pay_card_tokenize(p->card_number, month, year, p->card_cvc, op->fingerprint_key,
                              pay_now(), &ci, token, op->err);
        if (e != PAY_OK) {
            return e;
        }
    } else {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "card",
                             "Missing required param: card.");
    }
    struct pm_row row;
    memset(&row, 0, sizeof(row));
    row.obj = pm_object_new(&ci);
    if (row.obj == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    pay_copy_str(row.type, sizeof(row.type), "card");
    pay_copy_str(row.connector, sizeof(row.connector), "sandbox");
    pay_copy_str(row.token, sizeof(row.token), token);
    e = apply_billing(op, row.obj, p->billing_details);
    if (e == PAY_OK) {
        e = apply_metadata(op, row.obj, p);
    }
    if (e == PAY_OK) {
        e = pm_insert(op, &row);
    }
    if (e != PAY_OK) {
        pm_row_release(&row);
        return e;
    }
    *out = row.obj;
    return PAY_OK;
}

enum pay_err pay_payment_method_retrieve(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    struct pm_row row;
    enum pay_err e = pm_load(op, id, false, REACH_ROUTE, "id", &row);
    if (e != PAY_OK) {
        return e;
    }
    *out = row.obj;
    return PAY_OK;
}

enum pay_err pay_payment_method_update(struct pay_op *op, const char *id,
                                       const struct pay_pm_params *p, json_t **out)
{
    *out = NULL;
    if (p->type != NULL || p->card_number != NULL || p->card_cvc != NULL || p->card_token != NULL) {
        const char *param = p->type          ? "type"
                            : p->card_number ? "card[number]"
                            : p->card_cvc    ? "card[cvc]"
                                             : "card[token]";
        return pay_error_set(op->err, PAY_ERR_PARAM_UNKNOWN, param,
                             "Received unknown parameter: %s", param);
    }
    struct pm_row row;
    enum pay_err e = pm_load(op, id, true, REACH_ROUTE, "id", &row);
    if (e != PAY_OK) {
        return e;
    }
    json_t *before = NULL;
    if (row.customer[0] == '\0') {
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, NULL,
                          "You must save this PaymentMethod to a customer before you can "
                          "update it.");
        goto out;
    }
    before = json_deep_copy(row.obj);
    if (before == NULL) {
        e = pay_op_fail(op, PAY_ERR_NOMEM);
        goto out;
    }
    if (p->has_exp_month || p->has_exp_year) {
        json_t *card = json_object_get(row.obj, "card");
        int64_t m = p->has_exp_month ? p->exp_month : pay_json_int(card, "exp_month", 0);
        int64_t y = p->has_exp_year ? p->exp_year : pay_json_int(card, "exp_year", 0);
        int month = m >= 0 && m <= 99 ? (int)m : -1;
        int year = y >= 0 && y <= 9999 ? (int)y : -1;
        e = pay_card_expiry_check(month, &year, pay_now(), op->err);
        if (e != PAY_OK) {
            goto out;
        }
        pay_json_set_int(card, "exp_month", month);
        pay_json_set_int(card, "exp_year", year);
    }
    e = apply_billing(op, row.obj, p->billing_details);
    if (e == PAY_OK) {
        e = apply_metadata(op, row.obj, p);
    }
    if (e == PAY_OK && !json_equal(before, row.obj)) {
        e = pm_save(op, &row);
        if (e == PAY_OK) {
            e = emit(op, "payment_method.updated", row.obj, row.customer);
        }
    }
out:
    json_decref(before);
    if (e == PAY_OK) {
        *out = row.obj;
        row.obj = NULL;
    }
    pm_row_release(&row);
    return e;
}

enum pay_err pay_payment_method_list(struct pay_op *op, const char *customer, const char *type,
                                     const struct pay_list_args *args, json_t **data_out,
                                     bool *has_more)
{
    *data_out = NULL;
    *has_more = false;
    if (customer == NULL || customer[0] == '\0') {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "customer",
                             "Missing required param: customer.");
    }
    json_t *cus = NULL;
    enum pay_err e = pay_customer_row_load(op, customer, false, "customer", &cus);
    if (e != PAY_OK) {
        return e;
    }
    json_decref(cus);
    struct pay_param p[] = {PAY_PTEXT(customer), PAY_PTEXT(type)};
    const char *where = type != NULL ? "customer = $1 AND type = $2" : "customer = $1";
    return pay_op_fail(op, pay_tx_list(op->tx, "payment_methods", where, p, type != NULL ? 2 : 1,
                                       args, data_out, has_more, op->err));
}

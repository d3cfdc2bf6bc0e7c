/*
 * customers.c - customers: Stripe's Customer object plus payd's
 * external_id (the platform's id for the person, e.g. a patient) and
 * facility.
 *
 * Invariants:
 * - the stored `data` column is the object as the API shows it; email,
 *   external_id and facility columns are derived from it by
 *   pay_customer_row_save, never set alone;
 * - a deleted customer keeps its row with deleted = 1 and is never found,
 *   updated or listed again (PAY_ERR_NOT_FOUND, as if it never existed);
 * - invoice_settings.default_payment_method is null or a payment method
 *   attached to this customer: set only after checking, cleared by
 *   payment_methods.c when that payment method is detached;
 * - every change appends its event (customer.created / updated / deleted) in
 *   the same transaction;
 * - a patient's op (customer_scope) reaches only its own customer.
 *
 * Threading: no state of its own; runs inside the caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "payments_int.h"

static enum pay_err not_found(struct pay_op *op, const char *param, const char *id)
{
    return pay_error_set(op->err, PAY_ERR_NOT_FOUND, param, "No such customer: '%s'", id ? id : "");
}

/* ---- Rows ------------------------------------------------------------- */

/* @id is a customer id @op may see (a patient's op: only its own). */
static bool reachable(const struct pay_op *op, const char *id)
{
    return id != NULL && pay_id_valid(id, "cus") &&
           (op->customer_scope == NULL || pay_str_eq(op->customer_scope, id));
}

enum pay_err pay_customer_row_load(struct pay_op *op, const char *id, bool for_update,
                                   const char *param, json_t **out)
{
    *out = NULL;
    if (!reachable(op, id)) {
        return not_found(op, param, id);
    }
    const char *sql = for_update
                          ? "SELECT data FROM customers WHERE id = $1 AND deleted = 0 FOR UPDATE"
                          : "SELECT data FROM customers WHERE id = $1 AND deleted = 0";
    struct pay_param p[] = {PAY_PTEXT(id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sql, p, PAY_NPARAMS(p), &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = false;
    json_t *obj = NULL;
    if (pay_rows_next(r)) {
        found = true;
        const char *data = pay_rows_text(r, 0);
        json_error_t jerr;
        obj = data ? json_loadb(data, pay_rows_len(r, 0), 0, &jerr) : NULL;
    }
    e = pay_rows_close(r);
    if (e != PAY_OK) {
        json_decref(obj);
        return pay_op_fail(op, e);
    }
    if (!found) {
        return not_found(op, param, id);
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Stored customer %s is corrupt.", id);
    }
    *out = obj;
    return PAY_OK;
}

enum pay_err pay_customer_facts(struct pay_op *op, const char *id, bool for_update,
                                const char *param, char *email, size_t email_n, char *facility,
                                size_t facility_n)
{
    if (email != NULL && email_n > 0) {
        email[0] = '\0';
    }
    if (facility != NULL && facility_n > 0) {
        facility[0] = '\0';
    }
    if (!reachable(op, id)) {
        return not_found(op, param, id);
    }
    const char *sql =
        for_update
            ? "SELECT email, facility FROM customers WHERE id = $1 AND deleted = 0 FOR UPDATE"
            : "SELECT email, facility FROM customers WHERE id = $1 AND deleted = 0";
    struct pay_param p[] = {PAY_PTEXT(id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sql, p, PAY_NPARAMS(p), &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = pay_rows_next(r);
    if (found && email != NULL && email_n > 0) {
        pay_copy_str(email, email_n, pay_rows_text(r, 0));
    }
    if (found && facility != NULL && facility_n > 0) {
        pay_copy_str(facility, facility_n, pay_rows_text(r, 1));
    }
    e = pay_rows_close(r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    return found ? PAY_OK : not_found(op, param, id);
}

enum pay_err pay_customer_row_save(struct pay_op *op, const json_t *obj)
{
    char *data = pay_json_dump(obj);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[] = {
        PAY_PTEXT(pay_json_str(obj, "id")),
        PAY_PTEXT(pay_json_str(obj, "email")),
        PAY_PTEXT(pay_json_str(obj, "external_id")),
        PAY_PTEXT(pay_json_str(obj, "facility")),
        PAY_PJSON(data),
    };
    int64_t changes = 0;
    enum pay_err e = pay_tx_exec(op->tx,
                                 "UPDATE customers SET email = $2, external_id = $3, "
                                 "facility = $4, data = $5 WHERE id = $1 AND deleted = 0",
                                 p, PAY_NPARAMS(p), &changes);
    free(data);
    if (e == PAY_OK && changes != 1) {
        e = pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Customer %s vanished.",
                          pay_json_str(obj, "id"));
    }
    return pay_op_fail(op, e);
}

static enum pay_err row_insert(struct pay_op *op, const json_t *obj)
{
    char *data = pay_json_dump(obj);
    if (data == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[] = {
        PAY_PTEXT(pay_json_str(obj, "id")),       PAY_PINT(pay_json_int(obj, "created", 0)),
        PAY_PTEXT(pay_json_str(obj, "email")),    PAY_PTEXT(pay_json_str(obj, "external_id")),
        PAY_PTEXT(pay_json_str(obj, "facility")), PAY_PJSON(data),
    };
    enum pay_err e = pay_tx_exec(op->tx,
                                 "INSERT INTO customers (id, created, email, external_id, "
                                 "facility, deleted, data) VALUES ($1, $2, $3, $4, $5, 0, $6)",
                                 p, PAY_NPARAMS(p), NULL);
    free(data);
    return pay_op_fail(op, e);
}

static enum pay_err emit(struct pay_op *op, const char *type, const json_t *obj)
{
    return pay_op_fail(op, pay_event_append(op->tx, type, obj, pay_json_str(obj, "id"),
                                            op->request_id, NULL, op->err));
}

/* ---- Objects ------------------------------------------------------------ */

json_t *pay_address_object(const json_t *base, const json_t *given)
{
    static const char *const keys[] = {"city", "country", "line1", "line2", "postal_code", "state"};
    json_t *a = json_object();
    if (a == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = json_object_get(given, keys[i]);
        if (v == NULL && json_is_object(base)) {
            v = json_object_get(base, keys[i]);
        }
        bool set = json_is_string(v) && json_string_length(v) > 0;
        json_object_set_new(a, keys[i], set ? json_string(json_string_value(v)) : json_null());
    }
    return a;
}

/* A new customer with Stripe's defaults. */
static json_t *customer_new(void)
{
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("cus", id);
    /* Stripe's invoice_prefix: 8 upper-case characters, unique enough to
     * tell invoice numbers of different customers apart. */
    unsigned char rnd[4];
    char prefix[9];
    if (pay_random_bytes(rnd, sizeof(rnd)) != PAY_OK) {
        return NULL;
    }
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < sizeof(rnd); i++) {
        prefix[2 * i] = hex[rnd[i] >> 4];
        prefix[2 * i + 1] = hex[rnd[i] & 15];
    }
    prefix[8] = '\0';

    json_t *o = json_object();
    json_t *inv = json_object();
    if (o == NULL || inv == NULL) {
        json_decref(o);
        json_decref(inv);
        return NULL;
    }
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "customer");
    json_object_set_new_nocheck(o, "address", json_null());
    pay_json_set_int(o, "balance", 0);
    pay_json_set_int(o, "created", pay_now());
    json_object_set_new_nocheck(o, "currency", json_null());
    json_object_set_new_nocheck(o, "default_source", json_null());
    pay_json_set_bool(o, "delinquent", false);
    json_object_set_new_nocheck(o, "description", json_null());
    json_object_set_new_nocheck(o, "discount", json_null());
    json_object_set_new_nocheck(o, "email", json_null());
    pay_json_set_str(o, "invoice_prefix", prefix);
    json_object_set_new_nocheck(inv, "custom_fields", json_null());
    json_object_set_new_nocheck(inv, "default_payment_method", json_null());
    json_object_set_new_nocheck(inv, "footer", json_null());
    json_object_set_new_nocheck(inv, "rendering_options", json_null());
    json_object_set_new_nocheck(o, "invoice_settings", inv);
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "metadata", json_object());
    json_object_set_new_nocheck(o, "name", json_null());
    pay_json_set_int(o, "next_invoice_sequence", 1);
    json_object_set_new_nocheck(o, "phone", json_null());
    json_object_set_new_nocheck(o, "preferred_locales", json_array());
    json_object_set_new_nocheck(o, "shipping", json_null());
    pay_json_set_str(o, "tax_exempt", "none");
    json_object_set_new_nocheck(o, "test_clock", json_null());
    json_object_set_new_nocheck(o, "external_id", json_null());
    json_object_set_new_nocheck(o, "facility", json_null());
    return o;
}

/* Loosely "something@something": one '@' with text on both sides, no
 * spaces or control characters. Deliverability is the mail server's
 * business; this catches typing slips and injected headers. */
static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL) {
        return false;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= ' ' || *c == 0x7f) {
            return false;
        }
    }
    return true;
}

static void set_opt_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL) {
        pay_json_set_str(o, key, v[0] ? v : NULL);
    }
}

/* Apply @p's fields (all but the default payment method and
 * payment_method) to @o. */
static enum pay_err apply_fields(struct pay_op *op, json_t *o, const struct pay_customer_params *p)
{
    if (p->email != NULL && p->email[0] != '\0' && !email_ok(p->email)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "email",
                             "Invalid email address: '%s'.", p->email);
    }
    set_opt_str(o, "email", p->email);
    set_opt_str(o, "name", p->name);
    set_opt_str(o, "phone", p->phone);
    set_opt_str(o, "description", p->description);
    set_opt_str(o, "external_id", p->external_id);
    set_opt_str(o, "facility", p->facility);
    if (p->address != NULL) {
        bool unset = json_is_null(p->address) ||
                     (json_is_string(p->address) && json_string_length(p->address) == 0);
        if (!unset && !json_is_object(p->address)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "address",
                                 "Invalid address: must be an object.");
        }
        json_t *a = unset ? json_null() : pay_address_object(NULL, p->address);
        if (a == NULL) {
            return pay_op_fail(op, PAY_ERR_NOMEM);
        }
        json_object_set_new_nocheck(o, "address", a);
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
    return PAY_OK;
}

/* Set invoice_settings.default_payment_method after checking that it is
 * attached to this customer. */
static enum pay_err apply_default_pm(struct pay_op *op, json_t *o, const char *pm)
{
    static const char *const param = "invoice_settings[default_payment_method]";
    json_t *inv = json_object_get(o, "invoice_settings");
    if (!json_is_object(inv)) {
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Customer without invoice_settings.");
    }
    if (pm[0] == '\0') {
        json_object_set_new_nocheck(inv, "default_payment_method", json_null());
        return PAY_OK;
    }
    bool attached = false;
    enum pay_err e = pay_pm_attached_to(op, pm, pay_json_str(o, "id"), &attached);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (!attached) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, param,
                             "No such PaymentMethod: '%s' attached to this customer; attach it "
                             "first (POST /v1/payment_methods/%s/attach).",
                             pm, pm);
    }
    pay_json_set_str(inv, "default_payment_method", pm);
    return PAY_OK;
}

/* ---- Operations ----------------------------------------------------------- */

enum pay_err pay_customer_get(struct pay_op *op, const char *id, json_t **out)
{
    return pay_customer_row_load(op, id, false, "customer", out);
}

enum pay_err pay_customer_retrieve(struct pay_op *op, const char *id, json_t **out)
{
    return pay_customer_row_load(op, id, false, "id", out);
}

enum pay_err pay_customer_create(struct pay_op *op, const struct pay_customer_params *p,
                                 json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL,
                             "A patient's token may not create customers.");
    }
    json_t *o = customer_new();
    if (o == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    enum pay_err e = apply_fields(op, o, p);
    if (e == PAY_OK) {
        e = row_insert(op, o);
    }
    if (e == PAY_OK) {
        e = emit(op, "customer.created", o);
    }
    /* Events tell the steps in order: created, the card attached, then the
     * default set (customer.updated). */
    const char *dflt = p->default_payment_method;
    json_t *pm = NULL;
    if (e == PAY_OK && p->payment_method != NULL && p->payment_method[0] != '\0') {
        e = pay_pm_attach(op, p->payment_method, "payment_method", pay_json_str(o, "id"), true,
                          &pm);
        /* A test name (pm_card_visa) became a new payment method: the
         * default may name it as the client did. */
        if (e == PAY_OK && pay_str_eq(dflt, p->payment_method)) {
            dflt = pay_json_str(pm, "id");
        }
    }
    if (e == PAY_OK && dflt != NULL && dflt[0] != '\0') {
        e = apply_default_pm(op, o, dflt);
        if (e == PAY_OK) {
            e = pay_customer_row_save(op, o);
        }
        if (e == PAY_OK) {
            e = emit(op, "customer.updated", o);
        }
    }
    json_decref(pm);
    if (e != PAY_OK) {
        json_decref(o);
        return pay_op_fail(op, e);
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_customer_update(struct pay_op *op, const char *id,
                                 const struct pay_customer_params *p, json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL && (p->external_id != NULL || p->facility != NULL)) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN,
                             p->external_id != NULL ? "external_id" : "facility",
                             "A patient's token may not change %s.",
                             p->external_id != NULL ? "external_id" : "facility");
    }
    if (p->payment_method != NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_UNKNOWN, "payment_method",
                             "Received unknown parameter: payment_method");
    }
    json_t *o = NULL;
    enum pay_err e = pay_customer_row_load(op, id, true, "id", &o);
    if (e != PAY_OK) {
        return e;
    }
    json_t *before = json_deep_copy(o);
    if (before == NULL) {
        e = PAY_ERR_NOMEM;
        goto out;
    }
    e = apply_fields(op, o, p);
    if (e == PAY_OK && p->default_payment_method != NULL) {
        e = apply_default_pm(op, o, p->default_payment_method);
    }
    if (e == PAY_OK && !json_equal(before, o)) {
        e = pay_customer_row_save(op, o);
        if (e == PAY_OK) {
            e = emit(op, "customer.updated", o);
        }
    }
out:
    json_decref(before);
    if (e != PAY_OK) {
        json_decref(o);
        return pay_op_fail(op, e);
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_customer_delete(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_FORBIDDEN, NULL,
                             "A patient's token may not delete customers.");
    }
    json_t *o = NULL;
    enum pay_err e = pay_customer_row_load(op, id, true, "id", &o);
    if (e != PAY_OK) {
        return e;
    }
    struct pay_param p[] = {PAY_PTEXT(id)};
    int64_t changes = 0;
    e = pay_tx_exec(op->tx, "UPDATE customers SET deleted = 1 WHERE id = $1 AND deleted = 0", p,
                    PAY_NPARAMS(p), &changes);
    if (e == PAY_OK && changes != 1) {
        e = not_found(op, "id", id);
    }
    /* Marked deleted first, so detaching its default does not report a
     * customer.updated of a customer that is going away. */
    if (e == PAY_OK) {
        e = pay_pm_detach_all(op, id);
    }
    if (e == PAY_OK) {
        e = emit(op, "customer.deleted", o);
    }
    json_decref(o);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    json_t *d = json_object();
    if (d == NULL) {
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    pay_json_set_str(d, "id", id);
    pay_json_set_str(d, "object", "customer");
    pay_json_set_bool(d, "deleted", true);
    *out = d;
    return PAY_OK;
}

enum pay_err pay_customer_list(struct pay_op *op, const char *email, const char *external_id,
                               const struct pay_list_args *args, json_t **data_out, bool *has_more)
{
    char where[160] = "deleted = 0";
    struct pay_param p[3];
    size_t n = 0;
    const struct {
        const char *column;
        const char *value;
    } filters[] = {
        {"email", email},
        {"external_id", external_id},
        {"id", op->customer_scope},
    };
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (filters[i].value == NULL) {
            continue;
        }
        p[n++] = PAY_PTEXT(filters[i].value);
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, " AND %s = $%zu", filters[i].column, n);
    }
    return pay_op_fail(
        op, pay_tx_list(op->tx, "customers", where, p, n, args, data_out, has_more, op->err));
}

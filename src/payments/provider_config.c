/*
 * provider_config.c - the provider and facility objects (providers.h):
 * validation, storage, sealed credentials.
 *
 * Invariants: the `data` column is the object as the API shows it and
 * never holds a credential; the credentials column holds the connector's
 * secrets as one JSON object sealed with pay_seal (provider id as
 * additional data); name, type, connector, active and priority columns
 * mirror the object (routing filters and orders on them); a live name is
 * unique (partial unique index), a deleted row keeps its name for the
 * intents that named it.
 *
 * Threading: no state; runs in the op's transaction.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "payments_int.h"
#include "providers.h"

static const char *const types[] = {"card",          "mobile_wallet", "cash", "cheque",
                                    "bank_transfer", "bank_draft",    NULL};
static const char *const connectors[] = {"sandbox", "stripe", "mobile_money", "manual", NULL};
static const char *const brands[] = {"visa", "mastercard", "amex",     "discover",
                                     "jcb",  "diners",     "unionpay", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++) {
        if (strcmp(s, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

static enum pay_err fail(struct pay_op *op, enum pay_err e)
{
    if (e != PAY_OK && op->err != NULL && op->err->code == PAY_OK) {
        pay_error_set(op->err, e, NULL, NULL);
    }
    return e;
}

bool pay_provider_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > PAY_PROVIDER_NAME_LEN_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.'))) {
            return false;
        }
    }
    return true;
}

/* The connector a tender type may use (DESIGN.md section 7). */
static bool connector_fits(const char *type, const char *connector)
{
    if (strcmp(type, "card") == 0) {
        return strcmp(connector, "sandbox") == 0 || strcmp(connector, "stripe") == 0;
    }
    if (strcmp(type, "mobile_wallet") == 0) {
        return strcmp(connector, "mobile_money") == 0;
    }
    return strcmp(connector, "manual") == 0;
}

/* ---- Rows -------------------------------------------------------------- */

static enum pay_err load_obj(struct pay_op *op, const char *table, const char *prefix,
                             const char *what, const char *id, bool lock, json_t **out)
{
    *out = NULL;
    if (id == NULL || !pay_id_valid(id, prefix)) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such %s: '%.64s'", what,
                             id != NULL ? id : "");
    }
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT data FROM %s WHERE id = $1 AND deleted = 0%s", table,
             lock ? " FOR UPDATE" : "");
    struct pay_param p[] = {PAY_PTEXT(id)};
    char *data = NULL;
    enum pay_err e = pay_tx_query_text(op->tx, sql, p, 1, &data);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    if (data == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "id", "No such %s: '%.64s'", what, id);
    }
    *out = json_loads(data, 0, NULL);
    free(data);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Stored %s %s is corrupt.", what, id);
    }
    return PAY_OK;
}

/* Whether a live row of @table other than @except_id is named @name. */
static enum pay_err name_taken(struct pay_op *op, const char *table, const char *name,
                               const char *except_id, bool *out)
{
    char sql[128];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE name = $1 AND deleted = 0 AND id <> $2", table);
    struct pay_param p[] = {PAY_PTEXT(name), PAY_PTEXT(except_id != NULL ? except_id : "")};
    int64_t n = 0;
    enum pay_err e = pay_tx_query_int(op->tx, sql, p, 2, &n, NULL);
    *out = n > 0;
    return fail(op, e);
}

static enum pay_err merge_metadata(struct pay_op *op, json_t *o, const json_t *md, bool clear)
{
    if (clear) {
        json_object_set_new_nocheck(o, "metadata", json_object());
    }
    if (md != NULL) {
        pay_metadata_merge(o, md);
        if (json_object_size(json_object_get(o, "metadata")) > PAY_METADATA_KEYS_MAX) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "metadata",
                                 "Invalid metadata: at most %d keys are allowed.",
                                 PAY_METADATA_KEYS_MAX);
        }
    }
    return PAY_OK;
}

/* ---- Provider fields ---------------------------------------------------- */

/* currencies: a non-empty array of distinct ISO 4217 codes, or one code. */
static enum pay_err parse_currencies(struct pay_op *op, const json_t *v, json_t **out)
{
    *out = json_array();
    const json_t *one = json_is_string(v) ? v : NULL;
    size_t n = one != NULL ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0 || n > PAY_PROVIDER_CURRENCIES_MAX) {
        goto out_invalid;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = one != NULL ? one : json_array_get(v, i);
        const struct pay_currency *c =
            json_is_string(t) ? pay_currency_find(json_string_value(t)) : NULL;
        if (c == NULL) {
            json_decref(*out);
            *out = NULL;
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "currencies",
                                 "Invalid currencies: '%.16s' is not an ISO 4217 currency code.",
                                 json_is_string(t) ? json_string_value(t) : "?");
        }
        bool dup = false;
        for (size_t k = 0; k < json_array_size(*out); k++) {
            dup = dup || strcmp(json_string_value(json_array_get(*out, k)), c->code) == 0;
        }
        if (!dup) {
            json_array_append_new(*out, json_string(c->code));
        }
    }
    return PAY_OK;
out_invalid:
    json_decref(*out);
    *out = NULL;
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "currencies",
                         "Invalid currencies: a list of 1 to %d currency codes (e.g. [\"sdg\"]).",
                         PAY_PROVIDER_CURRENCIES_MAX);
}

/* card_brands: an array (or one string) of known brands; [] / "" = any. */
static enum pay_err parse_brands(struct pay_op *op, const json_t *v, json_t **out)
{
    *out = json_array();
    if (json_is_string(v) && json_string_length(v) == 0) {
        return PAY_OK;
    }
    const json_t *one = json_is_string(v) ? v : NULL;
    if (one == NULL && !json_is_array(v)) {
        goto out_invalid;
    }
    size_t n = one != NULL ? 1 : json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = one != NULL ? one : json_array_get(v, i);
        if (!json_is_string(t) || !in_list(json_string_value(t), brands)) {
            goto out_invalid;
        }
        bool dup = false;
        for (size_t k = 0; k < json_array_size(*out); k++) {
            dup = dup || json_equal(json_array_get(*out, k), t);
        }
        if (!dup) {
            json_array_append_new(*out, json_string(json_string_value(t)));
        }
    }
    return PAY_OK;
out_invalid:
    json_decref(*out);
    *out = NULL;
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "card_brands",
                         "Invalid card_brands: a list among visa, mastercard, amex, discover, "
                         "jcb, diners, unionpay (empty: any brand).");
}

/* facilities: an array (or one id) of live facility ids; [] / "" = every facility. */
static enum pay_err parse_facilities(struct pay_op *op, const json_t *v, json_t **out)
{
    *out = json_array();
    if (json_is_string(v) && json_string_length(v) == 0) {
        return PAY_OK;
    }
    const json_t *one = json_is_string(v) ? v : NULL;
    if ((one == NULL && !json_is_array(v)) ||
        (one == NULL && json_array_size(v) > PAY_PROVIDER_FACILITIES_MAX)) {
        json_decref(*out);
        *out = NULL;
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "facilities",
                             "Invalid facilities: a list of at most %d facility ids (fac_...).",
                             PAY_PROVIDER_FACILITIES_MAX);
    }
    size_t n = one != NULL ? 1 : json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = one != NULL ? one : json_array_get(v, i);
        const char *id = json_string_value(t);
        json_t *fac = NULL;
        enum pay_err e = json_is_string(t) ? pay_facility_get(op, id, &fac) : PAY_ERR_NOT_FOUND;
        json_decref(fac);
        if (e != PAY_OK) {
            json_decref(*out);
            *out = NULL;
            if (e != PAY_ERR_NOT_FOUND) {
                return e;
            }
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "facilities",
                                 "Invalid facilities: no such facility '%.64s'.",
                                 id != NULL ? id : "?");
        }
        bool dup = false;
        for (size_t k = 0; k < json_array_size(*out); k++) {
            dup = dup || json_equal(json_array_get(*out, k), t);
        }
        if (!dup) {
            json_array_append_new(*out, json_string(id));
        }
    }
    return PAY_OK;
}

static bool config_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 40) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

/*
 * connector_config (@strings_only false: strings, integers, booleans) or
 * credentials (strings only): a flat object within the limits. A form's
 * `credentials=` arrives as "": an empty object (clear).
 */
static enum pay_err parse_flat(struct pay_op *op, const char *param, const json_t *v,
                               bool strings_only, json_t **out)
{
    *out = NULL;
    if (json_is_string(v) && json_string_length(v) == 0) {
        *out = json_object();
        return PAY_OK;
    }
    if (!json_is_object(v) || json_object_size(v) > PAY_PROVIDER_CONFIG_KEYS_MAX) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, param,
                             "Invalid %s: an object of at most %d keys.", param,
                             PAY_PROVIDER_CONFIG_KEYS_MAX);
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        bool scalar_ok =
            json_is_string(x) || (!strings_only && (json_is_integer(x) || json_is_boolean(x)));
        if (!config_key_valid(k) || !scalar_ok ||
            (json_is_string(x) && json_string_length(x) > PAY_PROVIDER_CONFIG_VALUE_LEN_MAX)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, param,
                                 "Invalid %s[%.40s]: keys are [a-z0-9_] (up to 40), values %s of "
                                 "at most %d characters.",
                                 param, k,
                                 strings_only ? "strings"
                                              : "strings, integers or "
                                                "booleans",
                                 PAY_PROVIDER_CONFIG_VALUE_LEN_MAX);
        }
    }
    if (!strings_only) {
        const char *url = pay_json_str(v, "base_url");
        if (json_object_get(v, "base_url") != NULL &&
            (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
             strpbrk(url, " \t\r\n\"<>") != NULL)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "connector_config[base_url]",
                                 "Invalid connector_config[base_url]: an absolute http(s) URL.");
        }
    }
    *out = json_deep_copy(v);
    return *out != NULL ? PAY_OK : fail(op, PAY_ERR_NOMEM);
}

/* Apply @p to provider object @o (create: @o holds the defaults). */
static enum pay_err apply_provider(struct pay_op *op, json_t *o,
                                   const struct pay_provider_params *p, bool creating)
{
    const char *id = pay_json_str(o, "id");
    if (p->name != NULL) {
        if (!pay_provider_name_valid(p->name)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "name",
                                 "Invalid name: lower-case letters, digits, '_', '-', '.' (up to "
                                 "%d), starting with a letter or digit.",
                                 PAY_PROVIDER_NAME_LEN_MAX);
        }
        if (strcmp(p->name, "sandbox") == 0 || strcmp(p->name, "stripe") == 0) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "name",
                                 "Invalid name: '%s' is reserved for the built-in connector.",
                                 p->name);
        }
        bool taken = false;
        enum pay_err e = name_taken(op, "providers", p->name, id, &taken);
        if (e != PAY_OK) {
            return e;
        }
        if (taken) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "name",
                                 "A provider named '%s' already exists.", p->name);
        }
        pay_json_set_str(o, "name", p->name);
    }
    if (p->display_name != NULL) {
        pay_json_set_str(o, "display_name", p->display_name[0] ? p->display_name : NULL);
    }
    if (p->type != NULL) {
        if (!in_list(p->type, types)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "type",
                                 "Invalid type: one of card, mobile_wallet, cash, cheque, "
                                 "bank_transfer, bank_draft.");
        }
        pay_json_set_str(o, "type", p->type);
    }
    if (p->connector != NULL) {
        if (!in_list(p->connector, connectors)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "connector",
                                 "Invalid connector: one of sandbox, stripe, mobile_money, "
                                 "manual.");
        }
        pay_json_set_str(o, "connector", p->connector);
    }
    const char *type = pay_json_str(o, "type");
    const char *connector = pay_json_str(o, "connector");
    if (type != NULL && connector != NULL && !connector_fits(type, connector)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "connector",
                             "Invalid connector: a provider of type %s uses connector %s.", type,
                             strcmp(type, "card") == 0            ? "sandbox or stripe"
                             : strcmp(type, "mobile_wallet") == 0 ? "mobile_money"
                                                                  : "manual");
    }
    if (p->currencies != NULL) {
        json_t *c = NULL;
        enum pay_err e = parse_currencies(op, p->currencies, &c);
        if (e != PAY_OK) {
            return e;
        }
        json_object_set_new_nocheck(o, "currencies", c);
    }
    if (p->card_brands != NULL) {
        json_t *b = NULL;
        enum pay_err e = parse_brands(op, p->card_brands, &b);
        if (e != PAY_OK) {
            return e;
        }
        json_object_set_new_nocheck(o, "card_brands", b);
    }
    if (json_array_size(json_object_get(o, "card_brands")) > 0 && type != NULL &&
        strcmp(type, "card") != 0) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "card_brands",
                             "card_brands applies to providers of type card only.");
    }
    if (p->has_fee_bps) {
        if (p->fee_bps < 0 || p->fee_bps > PAY_FEE_BPS_MAX) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "fee_bps",
                                 "Invalid fee_bps: basis points from 0 to %d (250 = 2.5 %%).",
                                 PAY_FEE_BPS_MAX);
        }
        pay_json_set_int(o, "fee_bps", p->fee_bps);
    }
    if (p->has_fee_fixed) {
        if (!pay_amount_valid(p->fee_fixed)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "fee_fixed",
                                 "Invalid fee_fixed: minor units from 0 to %lld.",
                                 (long long)PAY_AMOUNT_MAX_MINOR);
        }
        pay_json_set_int(o, "fee_fixed", p->fee_fixed);
    }
    struct {
        bool has;
        int64_t v;
        const char *key;
    } lim[2] = {{p->has_min_amount, p->min_amount, "min_amount"},
                {p->has_max_amount, p->max_amount, "max_amount"}};
    for (int i = 0; i < 2; i++) {
        if (!lim[i].has) {
            continue;
        }
        if (lim[i].v == -1) {
            json_object_set_new(o, lim[i].key, json_null());
        } else if (lim[i].v < 1 || !pay_amount_valid(lim[i].v)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, lim[i].key,
                                 "Invalid %s: minor units from 1 to %lld (or empty: no limit).",
                                 lim[i].key, (long long)PAY_AMOUNT_MAX_MINOR);
        } else {
            pay_json_set_int(o, lim[i].key, lim[i].v);
        }
    }
    const json_t *mn = json_object_get(o, "min_amount");
    const json_t *mx = json_object_get(o, "max_amount");
    if (json_is_integer(mn) && json_is_integer(mx) &&
        json_integer_value(mn) > json_integer_value(mx)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID,
                             p->has_max_amount ? "max_amount" : "min_amount",
                             "Invalid limits: min_amount (%lld) is above max_amount (%lld).",
                             (long long)json_integer_value(mn), (long long)json_integer_value(mx));
    }
    if (p->supports_refunds >= 0) {
        pay_json_set_bool(o, "supports_refunds", p->supports_refunds != 0);
    }
    if (p->requires_manual_verification >= 0) {
        pay_json_set_bool(o, "requires_manual_verification", p->requires_manual_verification != 0);
    } else if (creating) {
        pay_json_set_bool(o, "requires_manual_verification",
                          connector != NULL && strcmp(connector, "manual") == 0);
    }
    if (p->active >= 0) {
        pay_json_set_bool(o, "active", p->active != 0);
    }
    if (p->has_priority) {
        if (p->priority < -PAY_PRIORITY_MAX || p->priority > PAY_PRIORITY_MAX) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "priority",
                                 "Invalid priority: an integer from %d to %d (lower is tried "
                                 "first).",
                                 -PAY_PRIORITY_MAX, PAY_PRIORITY_MAX);
        }
        pay_json_set_int(o, "priority", p->priority);
    }
    if (p->facilities != NULL) {
        json_t *f = NULL;
        enum pay_err e = parse_facilities(op, p->facilities, &f);
        if (e != PAY_OK) {
            return e;
        }
        json_object_set_new_nocheck(o, "facilities", f);
    }
    if (p->connector_config != NULL) {
        json_t *c = NULL;
        enum pay_err e = parse_flat(op, "connector_config", p->connector_config, false, &c);
        if (e != PAY_OK) {
            return e;
        }
        json_object_set_new_nocheck(o, "connector_config", c);
    }
    return merge_metadata(op, o, p->metadata, p->metadata_clear);
}

/* Seal @creds (an object; empty = none) for provider @id into *out (malloc'd or NULL). */
static enum pay_err seal_credentials(struct pay_op *op, const char *id, const json_t *creds,
                                     char **out)
{
    *out = NULL;
    if (json_object_size(creds) == 0) {
        return PAY_OK;
    }
    char *plain = pay_json_dump(creds);
    if (plain == NULL) {
        return fail(op, PAY_ERR_NOMEM);
    }
    struct pay_buf b;
    pay_buf_init(&b, 256 * 1024);
    enum pay_err e =
        pay_seal(op->fingerprint_key, PAY_PROVIDER_SEAL_LABEL, id, plain, strlen(plain), &b);
    explicit_bzero(plain, strlen(plain));
    free(plain);
    if (e != PAY_OK) {
        pay_buf_release(&b);
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Cannot seal the credentials.");
    }
    *out = pay_buf_detach(&b, NULL);
    return PAY_OK;
}

static enum pay_err provider_save(struct pay_op *op, const json_t *o, bool insert,
                                  const char *sealed, bool set_credentials)
{
    char *data = pay_json_dump(o);
    if (data == NULL) {
        return fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[] = {
        PAY_PTEXT(pay_json_str(o, "id")),
        PAY_PINT(pay_json_int(o, "created", 0)),
        PAY_PTEXT(pay_json_str(o, "name")),
        PAY_PTEXT(pay_json_str(o, "type")),
        PAY_PTEXT(pay_json_str(o, "connector")),
        PAY_PINT(json_is_true(json_object_get(o, "active")) ? 1 : 0),
        PAY_PINT(pay_json_int(o, "priority", 0)),
        PAY_PTEXT(sealed),
        PAY_PTEXT(data),
        PAY_PINT(set_credentials ? 1 : 0),
    };
    enum pay_err e;
    if (insert) {
        e = pay_tx_exec(op->tx,
                        "INSERT INTO providers (id, created, name, type, connector, active, "
                        "priority, credentials, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        p, 9, NULL);
    } else {
        /* $10: whether this update replaces the credentials. */
        e = pay_tx_exec(op->tx,
                        "UPDATE providers SET name = $3, type = $4, connector = $5, active = $6, "
                        "priority = $7, credentials = CASE WHEN $10 = 1 THEN $8 ELSE credentials "
                        "END, data = $9 WHERE id = $1 AND created = $2",
                        p, 10, NULL);
    }
    free(data);
    return fail(op, e);
}

enum pay_err pay_provider_create(struct pay_op *op, const struct pay_provider_params *p,
                                 json_t **out)
{
    *out = NULL;
    static const struct {
        const char *name;
        size_t off;
    } required[] = {
        {"name", offsetof(struct pay_provider_params, name)},
        {"type", offsetof(struct pay_provider_params, type)},
        {"connector", offsetof(struct pay_provider_params, connector)},
        {"currencies", offsetof(struct pay_provider_params, currencies)},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        const void *v = *(const void *const *)((const char *)p + required[i].off);
        if (v == NULL) {
            return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, required[i].name,
                                 "Missing required param: %s.", required[i].name);
        }
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("prov", id);
    json_t *o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "provider");
    pay_json_set_bool(o, "active", true);
    json_object_set_new_nocheck(o, "card_brands", json_array());
    pay_json_set_str(o, "connector", NULL);
    json_object_set_new_nocheck(o, "connector_config", json_object());
    pay_json_set_int(o, "created", pay_now());
    pay_json_set_bool(o, "credentials_set", false);
    json_object_set_new_nocheck(o, "currencies", json_array());
    pay_json_set_str(o, "display_name", NULL);
    json_object_set_new_nocheck(o, "facilities", json_array());
    pay_json_set_int(o, "fee_bps", 0);
    pay_json_set_int(o, "fee_fixed", 0);
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "max_amount", json_null());
    json_object_set_new_nocheck(o, "metadata", json_object());
    json_object_set_new_nocheck(o, "min_amount", json_null());
    pay_json_set_str(o, "name", NULL);
    pay_json_set_int(o, "priority", 0);
    pay_json_set_bool(o, "requires_manual_verification", false);
    pay_json_set_bool(o, "supports_refunds", true);
    pay_json_set_str(o, "type", NULL);
    enum pay_err e = apply_provider(op, o, p, true);
    json_t *creds = NULL;
    char *sealed = NULL;
    if (e == PAY_OK && p->credentials != NULL) {
        e = parse_flat(op, "credentials", p->credentials, true, &creds);
    }
    if (e == PAY_OK) {
        e = seal_credentials(op, id, creds, &sealed);
    }
    if (e == PAY_OK) {
        pay_json_set_bool(o, "credentials_set", sealed != NULL);
        if (pay_json_str(o, "display_name") == NULL) {
            pay_json_set_str(o, "display_name", pay_json_str(o, "name"));
        }
        e = provider_save(op, o, true, sealed, true);
    }
    json_decref(creds);
    free(sealed);
    if (e != PAY_OK) {
        json_decref(o);
        return e;
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_provider_get(struct pay_op *op, const char *id, json_t **out)
{
    return load_obj(op, "providers", "prov", "provider", id, false, out);
}

enum pay_err pay_provider_by_name(struct pay_op *op, const char *name, const char *param,
                                  json_t **out)
{
    *out = NULL;
    struct pay_param p[] = {PAY_PTEXT(name)};
    char *data = NULL;
    enum pay_err e = pay_tx_query_text(
        op->tx, "SELECT data FROM providers WHERE name = $1 AND deleted = 0", p, 1, &data);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    *out = data != NULL ? json_loads(data, 0, NULL) : NULL;
    free(data);
    if (*out == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, param, "No such provider: '%.64s'",
                             name != NULL ? name : "");
    }
    return PAY_OK;
}

enum pay_err pay_provider_update(struct pay_op *op, const char *id,
                                 const struct pay_provider_params *p, json_t **out)
{
    *out = NULL;
    json_t *o = NULL;
    enum pay_err e = load_obj(op, "providers", "prov", "provider", id, true, &o);
    if (e != PAY_OK) {
        return e;
    }
    e = apply_provider(op, o, p, false);
    json_t *creds = NULL;
    char *sealed = NULL;
    if (e == PAY_OK && p->credentials != NULL) {
        e = parse_flat(op, "credentials", p->credentials, true, &creds);
        if (e == PAY_OK) {
            e = seal_credentials(op, id, creds, &sealed);
        }
        if (e == PAY_OK) {
            pay_json_set_bool(o, "credentials_set", sealed != NULL);
        }
    }
    if (e == PAY_OK) {
        e = provider_save(op, o, false, sealed, p->credentials != NULL);
    }
    json_decref(creds);
    free(sealed);
    if (e != PAY_OK) {
        json_decref(o);
        return e;
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_provider_delete(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    json_t *o = NULL;
    enum pay_err e = load_obj(op, "providers", "prov", "provider", id, true, &o);
    if (e != PAY_OK) {
        return e;
    }
    json_decref(o);
    /* The sealed credentials go with it: a deleted provider is never used again. */
    struct pay_param p[] = {PAY_PTEXT(id)};
    e = pay_tx_exec(
        op->tx, "UPDATE providers SET deleted = 1, active = 0, credentials = NULL WHERE id = $1", p,
        1, NULL);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "provider");
    pay_json_set_bool(o, "deleted", true);
    *out = o;
    return PAY_OK;
}

enum pay_err pay_provider_list(struct pay_op *op, const char *type, int active,
                               const struct pay_list_args *args, json_t **data_out, bool *has_more)
{
    struct pay_param p[2];
    size_t n = 0;
    const char *where = "deleted = 0";
    if (type != NULL && active >= 0) {
        where = "deleted = 0 AND type = $1 AND active = $2";
        p[n++] = PAY_PTEXT(type);
        p[n++] = PAY_PINT(active);
    } else if (type != NULL) {
        where = "deleted = 0 AND type = $1";
        p[n++] = PAY_PTEXT(type);
    } else if (active >= 0) {
        where = "deleted = 0 AND active = $1";
        p[n++] = PAY_PINT(active);
    }
    return fail(op, pay_tx_list(op->tx, "providers", where, n ? p : NULL, n, args, data_out,
                                has_more, op->err));
}

/* ---- Facilities ---------------------------------------------------------- */

/* An IANA zone name with its TZif file under $TZDIR or /usr/share/zoneinfo
 * (Debian's tzdata); "UTC" always. */
static bool timezone_known(const char *tz)
{
    size_t n = strlen(tz);
    if (strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0) {
        return true;
    }
    if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, "..") != NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = tz[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+')) {
            return false;
        }
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir != NULL && dir[0] ? dir : "/usr/share/zoneinfo", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static enum pay_err apply_facility(struct pay_op *op, json_t *o,
                                   const struct pay_facility_params *p)
{
    if (p->name != NULL) {
        if (!pay_provider_name_valid(p->name)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "name",
                                 "Invalid name: lower-case letters, digits, '_', '-', '.' (up to "
                                 "%d), starting with a letter or digit.",
                                 PAY_PROVIDER_NAME_LEN_MAX);
        }
        bool taken = false;
        enum pay_err e = name_taken(op, "facilities", p->name, pay_json_str(o, "id"), &taken);
        if (e != PAY_OK) {
            return e;
        }
        if (taken) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "name",
                                 "A facility named '%s' already exists.", p->name);
        }
        pay_json_set_str(o, "name", p->name);
    }
    if (p->display_name != NULL) {
        pay_json_set_str(o, "display_name", p->display_name[0] ? p->display_name : NULL);
    }
    if (p->timezone != NULL) {
        if (!timezone_known(p->timezone)) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "timezone",
                                 "Invalid timezone: '%.64s' is not an IANA time zone name (e.g. "
                                 "Africa/Khartoum).",
                                 p->timezone);
        }
        pay_json_set_str(o, "timezone", p->timezone);
    }
    return merge_metadata(op, o, p->metadata, p->metadata_clear);
}

static enum pay_err facility_save(struct pay_op *op, const json_t *o, bool insert)
{
    char *data = pay_json_dump(o);
    if (data == NULL) {
        return fail(op, PAY_ERR_NOMEM);
    }
    struct pay_param p[] = {
        PAY_PTEXT(pay_json_str(o, "id")),
        PAY_PINT(pay_json_int(o, "created", 0)),
        PAY_PTEXT(pay_json_str(o, "name")),
        PAY_PTEXT(pay_json_str(o, "timezone")),
        PAY_PTEXT(data),
    };
    enum pay_err e =
        insert ? pay_tx_exec(op->tx,
                             "INSERT INTO facilities (id, created, name, timezone, data) VALUES "
                             "($1, $2, $3, $4, $5)",
                             p, PAY_NPARAMS(p), NULL)
               : pay_tx_exec(op->tx,
                             "UPDATE facilities SET name = $3, timezone = $4, data = $5 WHERE id = "
                             "$1 AND created = $2",
                             p, PAY_NPARAMS(p), NULL);
    free(data);
    return fail(op, e);
}

enum pay_err pay_facility_create(struct pay_op *op, const struct pay_facility_params *p,
                                 json_t **out)
{
    *out = NULL;
    if (p->name == NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "name",
                             "Missing required param: name.");
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("fac", id);
    json_t *o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "facility");
    pay_json_set_int(o, "created", pay_now());
    pay_json_set_str(o, "display_name", NULL);
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "metadata", json_object());
    pay_json_set_str(o, "name", NULL);
    pay_json_set_str(o, "timezone", "UTC");
    enum pay_err e = apply_facility(op, o, p);
    if (e == PAY_OK) {
        if (pay_json_str(o, "display_name") == NULL) {
            pay_json_set_str(o, "display_name", pay_json_str(o, "name"));
        }
        e = facility_save(op, o, true);
    }
    if (e != PAY_OK) {
        json_decref(o);
        return e;
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_facility_get(struct pay_op *op, const char *id, json_t **out)
{
    return load_obj(op, "facilities", "fac", "facility", id, false, out);
}

enum pay_err pay_facility_by_name(struct pay_op *op, const char *name, json_t **out)
{
    *out = NULL;
    struct pay_param p[] = {PAY_PTEXT(name)};
    char *data = NULL;
    enum pay_err e = pay_tx_query_text(
        op->tx, "SELECT data FROM facilities WHERE name = $1 AND deleted = 0", p, 1, &data);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    *out = data != NULL ? json_loads(data, 0, NULL) : NULL;
    free(data);
    if (*out == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "name", "No such facility: '%.64s'",
                             name != NULL ? name : "");
    }
    return PAY_OK;
}

enum pay_err pay_facility_update(struct pay_op *op, const char *id,
                                 const struct pay_facility_params *p, json_t **out)
{
    *out = NULL;
    json_t *o = NULL;
    enum pay_err e = load_obj(op, "facilities", "fac", "facility", id, true, &o);
    if (e == PAY_OK) {
        e = apply_facility(op, o, p);
    }
    if (e == PAY_OK) {
        e = facility_save(op, o, false);
    }
    if (e != PAY_OK) {
        json_decref(o);
        return e;
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_facility_delete(struct pay_op *op, const char *id, json_t **out)
{
    *out = NULL;
    json_t *o = NULL;
    enum pay_err e = load_obj(op, "facilities", "fac", "facility", id, true, &o);
    if (e != PAY_OK) {
        return e;
    }
    json_decref(o);
    /* A provider limited to this facility would silently serve nobody. */
    struct pay_rows *r = NULL;
    e = pay_tx_query(op->tx, "SELECT data FROM providers WHERE deleted = 0", NULL, 0, &r);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    char user[PAY_PROVIDER_NAME_LEN_MAX + 1] = "";
    while (user[0] == '\0' && pay_rows_next(r)) {
        json_t *prov = json_loads(pay_rows_text(r, 0) ? pay_rows_text(r, 0) : "", 0, NULL);
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(prov, "facilities"), i, f)
        {
            if (json_is_string(f) && strcmp(json_string_value(f), id) == 0) {
                snprintf(user, sizeof(user), "%s", pay_json_str(prov, "name"));
            }
        }
        json_decref(prov);
    }
    e = pay_rows_close(r);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    if (user[0] != '\0') {
        return pay_error_set(op->err, PAY_ERR_CONFLICT, "id",
                             "Facility %s is listed by provider '%s'; remove it there first.", id,
                             user);
    }
    struct pay_param p[] = {PAY_PTEXT(id)};
    e = pay_tx_exec(op->tx, "UPDATE facilities SET deleted = 1 WHERE id = $1", p, 1, NULL);
    if (e != PAY_OK) {
        return fail(op, e);
    }
    o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "facility");
    pay_json_set_bool(o, "deleted", true);
    *out = o;
    return PAY_OK;
}

enum pay_err pay_facility_list(struct pay_op *op, const struct pay_list_args *args,
                               json_t **data_out, bool *has_more)
{
    return fail(op, pay_tx_list(op->tx, "facilities", "deleted = 0", NULL, 0, args, data_out,
                                has_more, op->err));
}

/*
 * providers.c - routing of payment attempts to providers, and their fees
 * (issue 6; the provider objects themselves are provider_config.c).
 *
 * Routing (pay_route_pick), for an attempt with tender T on an intent of
 * amount A in currency C at facility F:
 *   - candidates: the live providers of type T, by priority (lower first),
 *     then age; with a pinned provider (create with provider=NAME) only it;
 *   - a card attempt takes providers on its payment method's connector
 *     (sandbox), or stripe ones for an intent created with provider=stripe,
 *     and skips providers whose card_brands exclude the card's brand;
 *   - a candidate must be active, list C, serve F (facilities empty = all)
 *     and have min_amount <= A <= max_amount; when only the amount stands
 *     in the way the answer is 400 amount_too_small / amount_too_large
 *     naming `amount` and the limit;
 *   - no provider of type T at all: the built-in defaults (cards on the
 *     payment method's connector or stripe, manual tenders on the manual
 *     connector, no fee; wallets need a provider);
 *   - fallback: with after_provider, the next candidate after it.
 * Fee (pay_fee_compute, core/money.c): round_half_even(A * fee_bps /
 * 10000) + fee_fixed, never above A.
 *
 * Threading: no state; runs in the op's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "payments_int.h"
#include "providers.h"

static const char *const tenders[] = {"card",          "mobile_wallet", "cash", "cheque",
                                      "bank_transfer", "bank_draft",    NULL};

bool pay_tender_valid(const char *s)
{
    for (size_t i = 0; s != NULL && tenders[i] != NULL; i++) {
        if (strcmp(s, tenders[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool pay_tender_manual(const char *s)
{
    return pay_tender_valid(s) && strcmp(s, PAY_TENDER_CARD) != 0 &&
           strcmp(s, PAY_TENDER_MOBILE_WALLET) != 0;
}

void pay_route_choice_release(struct pay_route_choice *c)
{
    json_decref(c->config);
    c->config = NULL;
}

bool pay_route_unreachable(const struct pay_route_choice *c)
{
    /* A form sends the flag as the string "true". */
    const json_t *v = json_object_get(c->config, "outage");
    return pay_str_eq(c->connector, "sandbox") &&
           (json_is_true(v) || pay_str_eq(json_string_value(v), "true"));
}

enum pay_err pay_route_fee(const struct pay_intent_row *row, int64_t amount_minor, int64_t *fee_out)
{
    *fee_out = 0;
    return pay_fee_compute(amount_minor, row->fee_bps, row->fee_fixed_minor, fee_out);
}

/* Whether @arr (JSON array of strings) holds @s. */
static bool has_str(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && pay_str_eq(json_string_value(v), s)) {
            return true;
        }
    }
    return false;
}

/* An intent created with provider=stripe pays its card on Stripe. */
static bool stripe_intent(const struct pay_intent_row *row)
{
    return pay_str_eq(row->provider_pin, PAY_CONNECTOR_STRIPE) ||
           (row->provider_pin[0] == '\0' && pay_str_eq(row->connector, PAY_CONNECTOR_STRIPE));
}

/* The brand of the intent's card ("" when unknown). */
static void card_brand(struct pay_op *op, const json_t *obj, char *out, size_t n)
{
    out[0] = '\0';
    const char *pm = pay_json_str(obj, "payment_method");
    json_t *o = NULL;
    if (pm == NULL || strncmp(pm, "pm_", 3) != 0 || pay_payment_method_get(op, pm, &o) != PAY_OK) {
        pay_error_clear(op->err);
        return;
    }
    const char *b = pay_json_str(json_object_get(o, "card"), "brand");
    snprintf(out, n, "%s", b != NULL ? b : "");
    json_decref(o);
}

/* One provider row as routing reads it. */
struct cand {
    json_t *obj;
    char *sealed; /* malloc'd or NULL */
    char id[PAY_ID_LEN_MAX + 1];
};

static void cands_free(struct cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(c[i].obj);
        free(c[i].sealed);
    }
    free(c);
}

/* The live providers of @type, in routing order. */
static enum pay_err load_cands(struct pay_op *op, const char *type, struct cand **out,
                               size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    /* Made with the first row: most payments meet no provider of their
     * type, and zeroing room for the most (5.6 KB) was 0.7 % of a
     * payment's work on the writer. */
    struct cand *c = NULL;
    struct pay_param p[] = {PAY_PTEXT(type), PAY_PINT(PAY_PROVIDERS_PER_TYPE_MAX)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT id, data, credentials FROM providers WHERE type = $1 AND "
                                  "deleted = 0 ORDER BY priority, seq LIMIT $2",
                                  p, 2, &r);
    size_t n = 0;
    while (e == PAY_OK && pay_rows_next(r)) {
        const char *data = pay_rows_text(r, 1);
        json_t *o = data != NULL ? json_loads(data, 0, NULL) : NULL;
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        if (c == NULL && (c = calloc(PAY_PROVIDERS_PER_TYPE_MAX, sizeof(*c))) == NULL) {
            json_decref(o);
            e = PAY_ERR_NOMEM;
            break;
        }
        c[n].obj = o;
        snprintf(c[n].id, sizeof(c[n].id), "%s", pay_rows_text(r, 0) ? pay_rows_text(r, 0) : "");
        const char *sealed = pay_rows_text(r, 2);
        c[n].sealed = sealed != NULL ? strdup(sealed) : NULL;
        n++;
    }
    enum pay_err ce = r != NULL ? pay_rows_close(r) : PAY_OK;
    if (e == PAY_OK) {
        e = ce;
    }
    if (e != PAY_OK) {
        cands_free(c, n);
        return pay_error_set(op->err, e, NULL, NULL);
    }
    *out = c;
    *n_out = n;
    return PAY_OK;
}

/* Why a candidate does not fit (most specific last). */
enum misfit { FIT, MIS_INACTIVE, MIS_CONNECTOR, MIS_BRAND, MIS_CURRENCY, MIS_FACILITY, MIS_AMOUNT };

static enum misfit fit(const json_t *p, const char *connector, const char *brand,
                       const char *currency, const char *facility, int64_t amount)
{
    if (!json_is_true(json_object_get(p, "active"))) {
        return MIS_INACTIVE;
    }
    if (connector != NULL && !pay_str_eq(pay_json_str(p, "connector"), connector)) {
        return MIS_CONNECTOR;
    }
    const json_t *brands = json_object_get(p, "card_brands");
    if (json_array_size(brands) > 0 && brand[0] != '\0' && !has_str(brands, brand)) {
        return MIS_BRAND;
    }
    if (!has_str(json_object_get(p, "currencies"), currency)) {
        return MIS_CURRENCY;
    }
    const json_t *facs = json_object_get(p, "facilities");
    if (json_array_size(facs) > 0 && (facility == NULL || !has_str(facs, facility))) {
        return MIS_FACILITY;
    }
    const json_t *mn = json_object_get(p, "min_amount");
    const json_t *mx = json_object_get(p, "max_amount");
    if ((json_is_integer(mn) && amount < json_integer_value(mn)) ||
        (json_is_integer(mx) && amount > json_integer_value(mx))) {
        return MIS_AMOUNT;
    }
    return FIT;
}

/* "12.50 SDG" for messages. */
static void fmt_amount(int64_t v, const char *currency, char *out, size_t n)
{
    const struct pay_currency *c = pay_currency_find(currency);
    char num[40];
    if (c == NULL || pay_amount_format(v, c, num, sizeof(num)) == 0) {
        snprintf(num, sizeof(num), "%lld", (long long)v);
    }
    char up[4] = "";
    for (size_t i = 0; currency != NULL && i < 3 && currency[i]; i++) {
        up[i] = (char)(currency[i] >= 'a' && currency[i] <= 'z' ? currency[i] - 32 : currency[i]);
        up[i + 1] = '\0';
    }
    snprintf(out, n, "%s %s", num, up);
}

/* The 400 for an amount outside every otherwise fitting provider's limits. */
static enum pay_err amount_error(struct pay_op *op, const struct cand *c, size_t n,
                                 const enum misfit *why, int64_t amount, const char *currency,
                                 const char *tender)
{
    /* The closest limit: the lowest minimum above the amount, else the
     * highest maximum below it. */
    bool small = false;
    int64_t best = 0;
    const char *who = "";
    for (size_t i = 0; i < n; i++) {
        if (why[i] != MIS_AMOUNT) {
            continue;
        }
        const json_t *mn = json_object_get(c[i].obj, "min_amount");
        const json_t *mx = json_object_get(c[i].obj, "max_amount");
        if (json_is_integer(mn) && amount < json_integer_value(mn)) {
            if (!small || json_integer_value(mn) < best) {
                small = true;
                best = json_integer_value(mn);
                who = pay_json_str(c[i].obj, "name");
            }
        } else if (!small && json_is_integer(mx) && json_integer_value(mx) > best) {
            best = json_integer_value(mx);
            who = pay_json_str(c[i].obj, "name");
        }
    }
    char have[48], lim[48];
    fmt_amount(amount, currency, have, sizeof(have));
    fmt_amount(best, currency, lim, sizeof(lim));
    return pay_error_set(
        op->err, small ? PAY_ERR_AMOUNT_TOO_SMALL : PAY_ERR_AMOUNT_TOO_LARGE, "amount",
        "Amount %s is %s the %s of %s payments through provider '%s' (%s).", have,
        small ? "below" : "above", small ? "minimum" : "maximum", tender, who ? who : "", lim);
}

/* Fill @out from candidate @c (config: connector_config + unsealed credentials). */
static enum pay_err choose(struct pay_op *op, const struct cand *c, const char *tender,
                           int64_t amount, struct pay_route_choice *out)
{
    const json_t *p = c->obj;
    snprintf(out->provider, sizeof(out->provider), "%s", pay_json_str(p, "name"));
    snprintf(out->connector, sizeof(out->connector), "%s", pay_json_str(p, "connector"));
    snprintf(out->tender, sizeof(out->tender), "%s", tender);
    out->fee_bps = pay_json_int(p, "fee_bps", 0);
    out->fee_fixed_minor = pay_json_int(p, "fee_fixed", 0);
    out->manual_verification = json_is_true(json_object_get(p, "requires_manual_verification"));
    enum pay_err e = pay_fee_compute(amount, out->fee_bps, out->fee_fixed_minor, &out->fee_minor);
    if (e != PAY_OK) {
        return pay_error_set(op->err, e, "amount", "The fee of provider '%s' overflows.",
                             out->provider);
    }
    const json_t *cc = json_object_get(p, "connector_config");
    out->config = json_is_object(cc) ? json_deep_copy(cc) : json_object();
    if (out->config == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOMEM, NULL, NULL);
    }
    if (c->sealed != NULL) {
        struct pay_buf b;
        pay_buf_init(&b, 256 * 1024);
        e = pay_unseal(op->fingerprint_key, PAY_PROVIDER_SEAL_LABEL, c->id, c->sealed, &b);
        json_t *creds = e == PAY_OK && b.data != NULL ? json_loads(b.data, 0, NULL) : NULL;
        if (b.data != NULL) {
            explicit_bzero(b.data, b.len);
        }
        pay_buf_release(&b);
        if (!json_is_object(creds)) {
            json_decref(creds);
            return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                                 "The credentials of provider '%s' cannot be read (was the "
                                 "server key changed?). Set them again.",
                                 out->provider);
        }
        json_object_set_new_nocheck(out->config, "credentials", creds);
    }
    return PAY_OK;
}

/* The built-in route when no provider of @tender exists. */
static enum pay_err builtin(struct pay_op *op, const struct pay_intent_row *row, const char *tender,
                            struct pay_route_choice *out)
{
    snprintf(out->tender, sizeof(out->tender), "%s", tender);
    if (pay_str_eq(tender, PAY_TENDER_CARD)) {
        snprintf(out->connector, sizeof(out->connector), "%s",
                 stripe_intent(row) ? PAY_CONNECTOR_STRIPE : "sandbox");
        return PAY_OK;
    }
    if (pay_tender_manual(tender)) {
        snprintf(out->connector, sizeof(out->connector), "%s", PAY_CONNECTOR_MANUAL);
        out->manual_verification = true;
        return PAY_OK;
    }
    return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method_types",
                         "No %s provider is configured (POST /v1/providers with type=%s).", tender,
                         tender);
}

enum pay_err pay_route_pick(struct pay_op *op, struct pay_intent_row *row, const char *tender,
                            const char *after_provider, struct pay_route_choice *out)
{
    memset(out, 0, sizeof(*out));
    const char *pin = row->provider_pin[0] && !pay_str_eq(row->provider_pin, PAY_CONNECTOR_STRIPE)
                          ? row->provider_pin
                          : NULL;
    const char *currency = pay_json_str(row->obj, "currency");
    const char *facility = pay_json_str(row->obj, "facility");
    int64_t amount = pay_json_int(row->obj, "amount", 0);
    struct cand *c = NULL;
    size_t n = 0;
    enum pay_err e = load_cands(op, tender, &c, &n);
    if (e != PAY_OK) {
        return e;
    }
    if (pin != NULL) {
        /* Only the pinned provider; it must still exist with this type. */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (pay_str_eq(pay_json_str(c[i].obj, "name"), pin)) {
                struct cand t = c[k];
                c[k] = c[i];
                c[i] = t;
                k = 1;
                break;
            }
        }
        if (k == 0) {
            cands_free(c, n);
            if (after_provider != NULL) {
                return PAY_ERR_NOT_FOUND;
            }
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "provider",
                                 "Provider '%s' does not take %s payments (or no longer "
                                 "exists).",
                                 pin, tender);
        }
        for (size_t i = 1; i < n; i++) {
            json_decref(c[i].obj);
            free(c[i].sealed);
        }
        n = 1;
    }
    if (n == 0) {
        free(c);
        return after_provider != NULL ? PAY_ERR_NOT_FOUND : builtin(op, row, tender, out);
    }
    char brand[32] = "";
    const char *connector = NULL;
    if (pay_str_eq(tender, PAY_TENDER_CARD)) {
        connector = stripe_intent(row) ? PAY_CONNECTOR_STRIPE : "sandbox";
        card_brand(op, row->obj, brand, sizeof(brand));
        /* Card providers of the other connector do not stand in the way:
         * with none on this one, the built-in default takes the card. */
        bool any = pin != NULL;
        for (size_t i = 0; i < n && !any; i++) {
            any = pay_str_eq(pay_json_str(c[i].obj, "connector"), connector);
        }
        if (!any) {
            cands_free(c, n);
            return after_provider != NULL ? PAY_ERR_NOT_FOUND : builtin(op, row, tender, out);
        }
    }
    enum misfit why[PAY_PROVIDERS_PER_TYPE_MAX];
    enum misfit worst = FIT;
    size_t pick = n;
    bool after_seen = after_provider == NULL;
    for (size_t i = 0; i < n; i++) {
        why[i] = fit(c[i].obj, connector, brand, currency, facility, amount);
        if (why[i] != FIT) {
            worst = why[i] > worst ? why[i] : worst;
            continue;
        }
        if (!after_seen) {
            after_seen = pay_str_eq(pay_json_str(c[i].obj, "name"), after_provider);
            continue;
        }
        pick = i;
        break;
    }
    if (pick < n) {
        e = choose(op, &c[pick], tender, amount, out);
        if (e != PAY_OK) {
            pay_route_choice_release(out);
        }
        cands_free(c, n);
        return e;
    }
    if (after_provider != NULL) {
        cands_free(c, n);
        return PAY_ERR_NOT_FOUND;
    }
    const char *param = pin != NULL ? "provider" : "payment_method_types";
    switch (worst) {
    case MIS_AMOUNT:
        e = amount_error(op, c, n, why, amount, currency, tender);
        break;
    case MIS_FACILITY:
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, pin != NULL ? "provider" : "facility",
                          "No active %s provider serves facility '%.64s'.", tender,
                          facility != NULL ? facility : "(none)");
        break;
    case MIS_CURRENCY:
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, pin != NULL ? "provider" : "currency",
                          "No active %s provider accepts %s.", tender, currency ? currency : "?");
        break;
    case MIS_BRAND:
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID,
                          pin != NULL ? "provider" : "payment_method",
                          "No active card provider takes %s cards.", brand);
        break;
    case MIS_CONNECTOR:
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, param,
                          "No active card provider uses the %s connector this payment needs.",
                          connector);
        break;
    case MIS_INACTIVE:
    case FIT:
        e = pay_error_set(op->err, PAY_ERR_PARAM_INVALID, param,
                          pin != NULL ? "Provider '%s' is not active." : "No active %s provider.",
                          pin != NULL ? pin : tender);
        break;
    }
    cands_free(c, n);
    return e;
}

enum pay_err pay_route_apply(struct pay_op *op, struct pay_intent_row *row,
                             const struct pay_route_choice *c)
{
    (void)op;
    snprintf(row->connector, sizeof(row->connector), "%s", c->connector);
    snprintf(row->tender, sizeof(row->tender), "%s", c->tender);
    row->fee_bps = c->fee_bps;
    row->fee_fixed_minor = c->fee_fixed_minor;
    pay_json_set_str(row->obj, "provider", c->provider[0] ? c->provider : NULL);
    pay_json_set_int(row->obj, "fee_amount", c->fee_minor);
    return PAY_OK;
}

enum pay_err pay_route_pin(struct pay_op *op, struct pay_intent_row *row, const char *name)
{
    json_t *p = NULL;
    enum pay_err e = pay_provider_by_name(op, name, "provider", &p);
    if (e == PAY_ERR_NOT_FOUND) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "provider",
                             "Invalid provider: '%.64s' is neither sandbox, stripe nor a "
                             "configured provider.",
                             name);
    }
    if (e != PAY_OK) {
        return e;
    }
    if (!json_is_true(json_object_get(p, "active"))) {
        json_decref(p);
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "provider",
                             "Invalid provider: '%.64s' is not active.", name);
    }
    snprintf(row->provider_pin, sizeof(row->provider_pin), "%s", name);
    pay_json_set_str(row->obj, "provider", name);
    const char *type = pay_json_str(p, "type");
    if (type != NULL && !pay_str_eq(type, PAY_TENDER_CARD)) {
        json_t *types = json_array();
        json_array_append_new(types, json_string(type));
        json_object_set_new_nocheck(row->obj, "payment_method_types", types);
    }
    json_decref(p);
    return PAY_OK;
}

enum pay_err pay_route_refund_check(struct pay_op *op, const struct pay_intent_row *row)
{
    const char *name = pay_json_str(row->obj, "provider");
    if (name == NULL) {
        return PAY_OK;
    }
    json_t *p = NULL;
    enum pay_err e = pay_provider_by_name(op, name, "payment_intent", &p);
    if (e == PAY_ERR_NOT_FOUND) {
        /* Deleted since: nothing left to ask. */
        pay_error_clear(op->err);
        return PAY_OK;
    }
    if (e != PAY_OK) {
        return e;
    }
    bool refunds = !json_is_false(json_object_get(p, "supports_refunds"));
    json_decref(p);
    if (!refunds) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_intent",
                             "Provider '%s' does not support refunds; refund this payment "
                             "outside payd.",
                             name);
    }
    return PAY_OK;
}

void pay_route_forget(struct pay_intent_row *row)
{
    const char *pin = row->provider_pin[0] && !pay_str_eq(row->provider_pin, PAY_CONNECTOR_STRIPE)
                          ? row->provider_pin
                          : NULL;
    pay_json_set_str(row->obj, "provider", pin);
    pay_json_set_int(row->obj, "fee_amount", 0);
    row->tender[0] = '\0';
    row->fee_bps = 0;
    row->fee_fixed_minor = 0;
}

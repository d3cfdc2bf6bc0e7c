/*
 * risk_rules.c - the risk configuration and the pure rules: facts in,
 * score, reasons and decision out (risk_int.h). No I/O.
 *
 * Scoring: each rule that fires adds its points and one reason
 * {rule, points, detail}; the sum is clamped to 0..100. The decision is
 * decline at or above decline_score, review at or above review_score,
 * approve below. Card testing declines whatever the score (a burst of
 * cards is blocked, not reviewed), as does a blocklist match whose points
 * reach decline_score.
 *
 * Threading: the installed configuration is written once before threads
 * start (pay_risk_configure), then only read.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "risk_int.h"

/* Longest key path in an error ("rules.card_testing.max_cards_per_address"). */
#define PATH_LEN_MAX 96

static struct pay_risk_config g_cfg;
static bool g_cfg_set;

void pay_risk_config_init(struct pay_risk_config *c)
{
    memset(c, 0, sizeof(*c));
    c->enabled = true;
    /* Radar's "elevated" risk begins at 65 and "highest" at 75; payd holds
     * for review at 75 and declines at 90, so no two soft signals decline. */
    c->review_score = 75;
    c->decline_score = 90;
    snprintf(c->timezone, sizeof(c->timezone), "UTC");
    c->amount.points = 20; /* no currency listed: fires only when configured */
    c->velocity_customer = (struct pay_risk_velocity){.points = 15, .window_s = 3600, .max = 100};
    c->velocity_card = (struct pay_risk_velocity){.points = 15, .window_s = 3600, .max = 100};
    c->velocity_address = (struct pay_risk_velocity){.points = 10, .window_s = 3600, .max = 1000};
    c->time_of_day.points = 10;
    c->time_of_day.from_hour = 0;
    c->time_of_day.to_hour = 5;
    c->recent_declines = (struct pay_risk_velocity){.points = 20, .window_s = 86400, .max = 5};
    c->disputes.points = 30;
    c->disputes.window_s = 180 * 86400;
    c->blocklist.points = 100;
    c->card_testing.points = 100;
    c->card_testing.window_s = 3600;
    c->card_testing.max_cards_per_customer = 10;
    c->card_testing.max_cards_per_address = 100;
}

int64_t pay_risk_amount_for(const struct pay_risk_amounts *a, const char *currency)
{
    if (currency == NULL) {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->v[i].currency, currency) == 0) {
            return a->v[i].amount_minor;
        }
    }
    return 0;
}

void pay_risk_configure(const struct pay_risk_config *c)
{
    g_cfg = *c;
    g_cfg_set = true;
}

const struct pay_risk_config *pay_risk_config(void)
{
    if (!g_cfg_set) {
        /* Single-threaded callers (the CLI, tests) that never configured. */
        static struct pay_risk_config defaults;
        static bool init;
        if (!init) {
            pay_risk_config_init(&defaults);
            init = true;
        }
        return &defaults;
    }
    return &g_cfg;
}

/* ---- Parsing the JSON configuration -------------------------------------- */

static enum pay_err bad(struct pay_error *err, const char *path, const char *why)
{
    return pay_error_set(err, PAY_ERR_CONFIG, path, "risk configuration: %s %s", path, why);
}

static void join(char *out, const char *prefix, const char *key)
{
    /* A cut path still names the setting well enough. */
    size_t n = 0;
    for (const char *s = prefix; *s && n < PATH_LEN_MAX - 1; s++) {
        out[n++] = *s;
    }
    if (prefix[0] != '\0' && n < PATH_LEN_MAX - 1) {
        out[n++] = '.';
    }
    for (const char *s = key; *s && n < PATH_LEN_MAX - 1; s++) {
        out[n++] = *s;
    }
    out[n] = '\0';
}

/* Every key of @o must be in @allowed. */
static enum pay_err only_keys(const json_t *o, const char *prefix, const char *const *allowed,
                              struct pay_error *err)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            ok = ok || strcmp(allowed[i], key) == 0;
        }
        if (!ok) {
            char path[PATH_LEN_MAX];
            join(path, prefix, key);
            return bad(err, path, "is not a known setting");
        }
    }
    return PAY_OK;
}

static enum pay_err get_int(const json_t *o, const char *prefix, const char *key, int64_t min,
                            int64_t max, int64_t *out, struct pay_error *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL) {
        return PAY_OK;
    }
    char path[PATH_LEN_MAX];
    join(path, prefix, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        char why[96];
        snprintf(why, sizeof(why), "must be an integer %lld..%lld", (long long)min, (long long)max);
        return bad(err, path, why);
    }
    *out = json_integer_value(v);
    return PAY_OK;
}

static enum pay_err get_points(const json_t *o, const char *prefix, int *out, struct pay_error *err)
{
    int64_t v = *out;
    enum pay_err e = get_int(o, prefix, "points", 0, 100, &v, err);
    *out = (int)v;
    return e;
}

static enum pay_err get_object(const json_t *o, const char *prefix, const char *key,
                               const json_t **out, char *path, struct pay_error *err)
{
    *out = json_object_get(o, key);
    join(path, prefix, key);
    if (*out != NULL && !json_is_object(*out)) {
        return bad(err, path, "must be an object");
    }
    return PAY_OK;
}

/* {"usd": 500000, "sdg": 0} over @a: 0 removes a currency. */
static enum pay_err get_amounts(const json_t *o, const char *prefix, const char *key,
                                struct pay_risk_amounts *a, struct pay_error *err)
{
    char path[PATH_LEN_MAX];
    const json_t *m = NULL;
    enum pay_err e = get_object(o, prefix, key, &m, path, err);
    if (e != PAY_OK || m == NULL) {
        return e;
    }
    const char *cur;
    const json_t *v;
    json_object_foreach((json_t *)m, cur, v)
    {
        char cpath[PATH_LEN_MAX];
        join(cpath, path, cur);
        char lower[4] = {0};
        size_t len = strlen(cur);
        for (size_t i = 0; i < len && i < 3; i++) {
            lower[i] = (char)tolower((unsigned char)cur[i]);
        }
        if (len != 3 || pay_currency_find(lower) == NULL) {
            return bad(err, cpath, "is not a known ISO 4217 currency");
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            !pay_amount_valid(json_integer_value(v))) {
            return bad(err, cpath, "must be an amount in minor units (0 = no limit)");
        }
        int64_t amount = json_integer_value(v);
        size_t i = 0;
        while (i < a->n && strcmp(a->v[i].currency, lower) != 0) {
            i++;
        }
        if (amount == 0) {
            if (i < a->n) {
                a->v[i] = a->v[a->n - 1];
                a->n--;
            }
            continue;
        }
        if (i == a->n) {
            if (a->n == PAY_RISK_CURRENCIES_MAX) {
                return bad(err, cpath, "is one currency too many");
            }
            memcpy(a->v[i].currency, lower, 4);
            a->n++;
        }
        a->v[i].amount_minor = amount;
    }
    return PAY_OK;
}

static enum pay_err get_velocity(const json_t *rules, const char *key, struct pay_risk_velocity *v,
                                 struct pay_error *err)
{
    static const char *const allowed[] = {"points", "window_s", "max", NULL};
    char path[PATH_LEN_MAX];
    const json_t *o = NULL;
    enum pay_err e = get_object(rules, "rules", key, &o, path, err);
    if (e != PAY_OK || o == NULL) {
        return e;
    }
    if ((e = only_keys(o, path, allowed, err)) != PAY_OK ||
        (e = get_points(o, path, &v->points, err)) != PAY_OK ||
        (e = get_int(o, path, "window_s", 1, PAY_RISK_WINDOW_S_MAX, &v->window_s, err)) != PAY_OK ||
        (e = get_int(o, path, "max", 0, 1000000000, &v->max, err)) != PAY_OK) {
        return e;
    }
    return PAY_OK;
}

static enum pay_err apply_rules(struct pay_risk_config *c, const json_t *r, struct pay_error *err)
{
    static const char *const allowed[] = {
        "amount",          "velocity_customer", "velocity_card", "velocity_address", "time_of_day",
        "recent_declines", "disputes",          "blocklist",     "card_testing",     NULL};
    static const char *const amount_keys[] = {"points", "from", NULL};
    static const char *const tod_keys[] = {"points", "from_hour", "to_hour", NULL};
    static const char *const disputes_keys[] = {"points", "window_s", NULL};
    static const char *const blocklist_keys[] = {"points", NULL};
    static const char *const ct_keys[] = {"points", "window_s", "max_cards_per_customer",
                                          "max_cards_per_address", NULL};
    enum pay_err e = only_keys(r, "rules", allowed, err);
    char path[PATH_LEN_MAX];
    const json_t *o = NULL;
    if (e == PAY_OK) {
        e = get_object(r, "rules", "amount", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        if ((e = only_keys(o, path, amount_keys, err)) == PAY_OK &&
            (e = get_points(o, path, &c->amount.points, err)) == PAY_OK) {
            e = get_amounts(o, path, "from", &c->amount.from, err);
        }
    }
    if (e == PAY_OK) {
        e = get_velocity(r, "velocity_customer", &c->velocity_customer, err);
    }
    if (e == PAY_OK) {
        e = get_velocity(r, "velocity_card", &c->velocity_card, err);
    }
    if (e == PAY_OK) {
        e = get_velocity(r, "velocity_address", &c->velocity_address, err);
    }
    if (e == PAY_OK) {
        e = get_velocity(r, "recent_declines", &c->recent_declines, err);
    }
    if (e == PAY_OK) {
        e = get_object(r, "rules", "time_of_day", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        int64_t from = c->time_of_day.from_hour, to = c->time_of_day.to_hour;
        if ((e = only_keys(o, path, tod_keys, err)) == PAY_OK &&
            (e = get_points(o, path, &c->time_of_day.points, err)) == PAY_OK &&
            (e = get_int(o, path, "from_hour", 0, 24, &from, err)) == PAY_OK &&
            (e = get_int(o, path, "to_hour", 0, 24, &to, err)) == PAY_OK) {
            c->time_of_day.from_hour = (int)from;
            c->time_of_day.to_hour = (int)to;
        }
    }
    if (e == PAY_OK) {
        e = get_object(r, "rules", "disputes", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        if ((e = only_keys(o, path, disputes_keys, err)) == PAY_OK &&
            (e = get_points(o, path, &c->disputes.points, err)) == PAY_OK) {
            e = get_int(o, path, "window_s", 1, PAY_RISK_WINDOW_S_MAX * 10, &c->disputes.window_s,
                        err);
        }
    }
    if (e == PAY_OK) {
        e = get_object(r, "rules", "blocklist", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        if ((e = only_keys(o, path, blocklist_keys, err)) == PAY_OK) {
            e = get_points(o, path, &c->blocklist.points, err);
        }
    }
    if (e == PAY_OK) {
        e = get_object(r, "rules", "card_testing", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        if ((e = only_keys(o, path, ct_keys, err)) == PAY_OK &&
            (e = get_points(o, path, &c->card_testing.points, err)) == PAY_OK &&
            (e = get_int(o, path, "window_s", 1, PAY_RISK_WINDOW_S_MAX, &c->card_testing.window_s,
                         err)) == PAY_OK &&
            /* Below PAY_RISK_CARDS_COUNTED, where the count stops: a larger
             * max could never be passed and would turn the rule off. */
            (e = get_int(o, path, "max_cards_per_customer", 0, PAY_RISK_CARDS_COUNTED - 1,
                         &c->card_testing.max_cards_per_customer, err)) == PAY_OK) {
            e = get_int(o, path, "max_cards_per_address", 0, PAY_RISK_CARDS_COUNTED - 1,
                        &c->card_testing.max_cards_per_address, err);
        }
    }
    return e;
}

enum pay_err pay_risk_config_apply(struct pay_risk_config *c, const json_t *j,
                                   struct pay_error *err)
{
    static const char *const allowed[] = {
        "enabled", "review_score", "decline_score", "timezone", "rules", "limits", NULL};
    static const char *const limit_keys[] = {"daily_count", "daily_amount", "max_amount", NULL};
    if (!json_is_object(j)) {
        return pay_error_set(err, PAY_ERR_CONFIG, NULL,
                             "risk configuration: the file must hold a JSON object");
    }
    struct pay_risk_config n = *c;
    enum pay_err e = only_keys(j, "", allowed, err);
    const json_t *v = json_object_get(j, "enabled");
    if (e == PAY_OK && v != NULL) {
        if (!json_is_boolean(v)) {
            e = bad(err, "enabled", "must be true or false");
        }
        n.enabled = json_is_true(v);
    }
    int64_t review = n.review_score, decline = n.decline_score;
    if (e == PAY_OK) {
        e = get_int(j, "", "review_score", 1, 100, &review, err);
    }
    if (e == PAY_OK) {
        e = get_int(j, "", "decline_score", 1, 100, &decline, err);
    }
    if (e == PAY_OK && review > decline) {
        e = bad(err, "review_score", "must not be above decline_score");
    }
    n.review_score = (int)review;
    n.decline_score = (int)decline;
    v = json_object_get(j, "timezone");
    if (e == PAY_OK && v != NULL) {
        if (!json_is_string(v) || !pay_tz_name_valid(json_string_value(v))) {
            e = bad(err, "timezone", "must be an IANA time zone name (\"Africa/Khartoum\")");
        } else {
            int32_t off;
            if (pay_tz_offset(n.zoneinfo_dir, json_string_value(v), 0, &off) != PAY_OK) {
                e = bad(err, "timezone", "is not a time zone in the zoneinfo database");
            } else {
                snprintf(n.timezone, sizeof(n.timezone), "%s", json_string_value(v));
            }
        }
    }
    char path[PATH_LEN_MAX];
    const json_t *o = NULL;
    if (e == PAY_OK) {
        e = get_object(j, "", "rules", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        e = apply_rules(&n, o, err);
    }
    if (e == PAY_OK) {
        e = get_object(j, "", "limits", &o, path, err);
    }
    if (e == PAY_OK && o != NULL) {
        if ((e = only_keys(o, "limits", limit_keys, err)) == PAY_OK &&
            (e = get_int(o, "limits", "daily_count", 0, 1000000000, &n.limits.daily_count, err)) ==
                PAY_OK &&
            (e = get_amounts(o, "limits", "daily_amount", &n.limits.daily_amount, err)) == PAY_OK) {
            e = get_amounts(o, "limits", "max_amount", &n.limits.max_amount, err);
        }
    }
    if (e == PAY_OK) {
        *c = n;
    }
    return e;
}

static json_t *amounts_json(const struct pay_risk_amounts *a)
{
    json_t *o = json_object();
    for (size_t i = 0; i < a->n; i++) {
        json_object_set_new(o, a->v[i].currency, json_integer(a->v[i].amount_minor));
    }
    return o;
}

static json_t *velocity_json(const struct pay_risk_velocity *v)
{
    return json_pack("{s:i, s:I, s:I}", "points", v->points, "window_s", (json_int_t)v->window_s,
                     "max", (json_int_t)v->max);
}

json_t *pay_risk_config_json(const struct pay_risk_config *c)
{
    json_t *rules = json_object();
    json_object_set_new_nocheck(
        rules, "amount",
        json_pack("{s:i, s:o}", "points", c->amount.points, "from", amounts_json(&c->amount.from)));
    json_object_set_new_nocheck(rules, "velocity_customer", velocity_json(&c->velocity_customer));
    json_object_set_new_nocheck(rules, "velocity_card", velocity_json(&c->velocity_card));
    json_object_set_new_nocheck(rules, "velocity_address", velocity_json(&c->velocity_address));
    json_object_set_new_nocheck(rules, "time_of_day",
                                json_pack("{s:i, s:i, s:i}", "points", c->time_of_day.points,
                                          "from_hour", c->time_of_day.from_hour, "to_hour",
                                          c->time_of_day.to_hour));
    json_object_set_new_nocheck(rules, "recent_declines", velocity_json(&c->recent_declines));
    json_object_set_new_nocheck(rules, "disputes",
                                json_pack("{s:i, s:I}", "points", c->disputes.points, "window_s",
                                          (json_int_t)c->disputes.window_s));
    json_object_set_new_nocheck(rules, "blocklist",
                                json_pack("{s:i}", "points", c->blocklist.points));
    json_object_set_new_nocheck(
        rules, "card_testing",
        json_pack("{s:i, s:I, s:I, s:I}", "points", c->card_testing.points, "window_s",
                  (json_int_t)c->card_testing.window_s, "max_cards_per_customer",
                  (json_int_t)c->card_testing.max_cards_per_customer, "max_cards_per_address",
                  (json_int_t)c->card_testing.max_cards_per_address));
    json_t *limits = json_pack("{s:I, s:o, s:o}", "daily_count", (json_int_t)c->limits.daily_count,
                               "daily_amount", amounts_json(&c->limits.daily_amount), "max_amount",
                               amounts_json(&c->limits.max_amount));
    return json_pack("{s:b, s:i, s:i, s:s, s:o, s:o}", "enabled", c->enabled, "review_score",
                     c->review_score, "decline_score", c->decline_score, "timezone", c->timezone,
                     "rules", rules, "limits", limits);
}

/* ---- Scoring ------------------------------------------------------------------ */

const char *pay_risk_decision_name(enum pay_risk_decision d)
{
    switch (d) {
    case PAY_RISK_APPROVE:
        return "approve";
    case PAY_RISK_REVIEW:
        return "review";
    case PAY_RISK_DECLINE:
        return "decline";
    }
    return "approve";
}

static enum pay_err add_reason(struct pay_risk_result *r, const char *rule, int points,
                               const char *fmt, ...) PAY_PRINTF(4, 5);

static enum pay_err add_reason(struct pay_risk_result *r, const char *rule, int points,
                               const char *fmt, ...)
{
    if (points <= 0) {
        return PAY_OK;
    }
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:i, s:s}", "rule", rule, "points", points, "detail", detail);
    if (o == NULL || json_array_append_new(r->reasons, o) != 0) {
        return PAY_ERR_NOMEM;
    }
    r->score += points;
    return PAY_OK;
}

static bool hour_in(int hour, int from, int to)
{
    if (from == to) {
        return false;
    }
    return from < to ? (hour >= from && hour < to) : (hour >= from || hour < to);
}

static bool velocity_fires(const struct pay_risk_velocity *v, int64_t count)
{
    return v->points > 0 && v->max > 0 && count >= v->max;
}

enum pay_err pay_risk_score(const struct pay_risk_config *c, const struct pay_risk_facts *f,
                            struct pay_risk_result *out)
{
    memset(out, 0, sizeof(*out));
    out->reasons = json_array();
    if (out->reasons == NULL) {
        return PAY_ERR_NOMEM;
    }
    out->decision = PAY_RISK_APPROVE;
    if (!c->enabled) {
        return PAY_OK;
    }
    enum pay_err e = PAY_OK;
    bool card_testing = false;
    bool blocked = false;
    int64_t from = pay_risk_amount_for(&c->amount.from, f->currency);
    if (from > 0 && f->amount_minor >= from) {
        e = add_reason(out, "amount", c->amount.points, "amount %lld %s is at or above %lld",
                       (long long)f->amount_minor, f->currency, (long long)from);
    }
    if (e == PAY_OK && f->has_customer &&
        velocity_fires(&c->velocity_customer, f->customer_attempts)) {
        e = add_reason(out, "velocity_customer", c->velocity_customer.points,
                       "at least %lld earlier attempts by this customer within %lld s (max %lld)",
                       (long long)f->customer_attempts, (long long)c->velocity_customer.window_s,
                       (long long)c->velocity_customer.max);
    }
    if (e == PAY_OK && f->has_card && velocity_fires(&c->velocity_card, f->card_attempts)) {
        e = add_reason(out, "velocity_card", c->velocity_card.points,
                       "at least %lld earlier attempts with this card within %lld s (max %lld)",
                       (long long)f->card_attempts, (long long)c->velocity_card.window_s,
                       (long long)c->velocity_card.max);
    }
    if (e == PAY_OK && f->has_address &&
        velocity_fires(&c->velocity_address, f->address_attempts)) {
        e = add_reason(
            out, "velocity_address", c->velocity_address.points,
            "at least %lld earlier attempts from this client address within %lld s (max %lld)",
            (long long)f->address_attempts, (long long)c->velocity_address.window_s,
            (long long)c->velocity_address.max);
    }
    if (e == PAY_OK && hour_in(f->local_hour, c->time_of_day.from_hour, c->time_of_day.to_hour)) {
        e = add_reason(out, "time_of_day", c->time_of_day.points,
                       "local time %02d:%02d in %s is within %02d:00-%02d:00", f->local_hour,
                       f->local_minute, f->timezone ? f->timezone : "UTC", c->time_of_day.from_hour,
                       c->time_of_day.to_hour);
    }
    if (e == PAY_OK && f->has_customer &&
        velocity_fires(&c->recent_declines, f->customer_declines)) {
        e = add_reason(out, "recent_declines", c->recent_declines.points,
                       "%lld declined attempts by this customer within %lld s (max %lld)",
                       (long long)f->customer_declines, (long long)c->recent_declines.window_s,
                       (long long)c->recent_declines.max);
    }
    if (e == PAY_OK && f->has_customer && f->customer_disputes > 0) {
        e = add_reason(out, "disputes", c->disputes.points,
                       "%lld disputed payments of this customer within %lld s",
                       (long long)f->customer_disputes, (long long)c->disputes.window_s);
    }
    if (e == PAY_OK && f->blocked_card) {
        blocked = c->blocklist.points > 0;
        e = add_reason(out, "blocklist", c->blocklist.points,
                       "the card fingerprint is on the blocklist");
    }
    if (e == PAY_OK && f->blocked_email) {
        blocked = c->blocklist.points > 0;
        e = add_reason(out, "blocklist", c->blocklist.points, "the e-mail is on the blocklist");
    }
    if (e == PAY_OK && f->blocked_address) {
        blocked = c->blocklist.points > 0;
        e = add_reason(out, "blocklist", c->blocklist.points,
                       "the client address is on the blocklist");
    }
    int64_t maxc = c->card_testing.max_cards_per_customer;
    if (e == PAY_OK && f->has_card && f->has_customer && maxc > 0 && f->cards_of_customer > maxc) {
        card_testing = true;
        e = add_reason(out, "card_testing", c->card_testing.points,
                       "%s%lld different cards from this customer within %lld s (max %lld)",
                       f->cards_of_customer >= PAY_RISK_CARDS_COUNTED ? "at least " : "",
                       (long long)f->cards_of_customer, (long long)c->card_testing.window_s,
                       (long long)maxc);
    }
    int64_t maxa = c->card_testing.max_cards_per_address;
    if (e == PAY_OK && f->has_card && f->has_address && maxa > 0 && f->cards_of_address > maxa) {
        card_testing = true;
        e = add_reason(out, "card_testing", c->card_testing.points,
                       "%s%lld different cards from this client address within %lld s (max %lld)",
                       f->cards_of_address >= PAY_RISK_CARDS_COUNTED ? "at least " : "",
                       (long long)f->cards_of_address, (long long)c->card_testing.window_s,
                       (long long)maxa);
    }
    if (e != PAY_OK) {
        json_decref(out->reasons);
        out->reasons = NULL;
        return e;
    }
    if (out->score > 100) {
        out->score = 100;
    }
    if (card_testing || out->score >= c->decline_score) {
        out->decision = PAY_RISK_DECLINE;
        bool blacklist = blocked && !card_testing;
        snprintf(out->decline_code, sizeof(out->decline_code), "%s",
                 blacklist ? "merchant_blacklist" : "fraudulent");
        snprintf(out->message, sizeof(out->message), "%s",
                 "Your card was declined. This payment was blocked as likely fraudulent.");
    } else if (out->score >= c->review_score) {
        out->decision = PAY_RISK_REVIEW;
    }
    return PAY_OK;
}

/* ---- Limits ------------------------------------------------------------------- */

enum pay_err pay_risk_limits_check(const struct pay_risk_config *c, int64_t amount_minor,
                                   const char *currency, bool has_customer, int64_t day_count,
                                   int64_t day_amount_minor, struct pay_error *err)
{
    int64_t max = pay_risk_amount_for(&c->limits.max_amount, currency);
    if (max > 0 && amount_minor > max) {
        return pay_error_set(err, PAY_ERR_AMOUNT_TOO_LARGE, "amount",
                             "Amount must be no more than %lld %s: the maximum for a single "
                             "payment.",
                             (long long)max, currency);
    }
    if (!has_customer) {
        return PAY_OK;
    }
    if (c->limits.daily_count > 0 && day_count >= c->limits.daily_count) {
        enum pay_err e =
            pay_error_set(err, PAY_ERR_PARAM_INVALID, "customer",
                          "This customer has reached the daily limit of %lld payments; "
                          "try again tomorrow.",
                          (long long)c->limits.daily_count);
        if (err != NULL) {
            snprintf(err->code_str, sizeof(err->code_str), "daily_limit_exceeded");
        }
        return e;
    }
    int64_t daily = pay_risk_amount_for(&c->limits.daily_amount, currency);
    int64_t total = 0;
    if (daily > 0 && (!pay_money_add(day_amount_minor, amount_minor, &total) || total > daily)) {
        enum pay_err e =
            pay_error_set(err, PAY_ERR_PARAM_INVALID, "amount",
                          "This payment would take the customer past the daily limit of %lld %s "
                          "(%lld %s paid today).",
                          (long long)daily, currency, (long long)day_amount_minor, currency);
        if (err != NULL) {
            snprintf(err->code_str, sizeof(err->code_str), "daily_limit_exceeded");
        }
        return e;
    }
    return PAY_OK;
}

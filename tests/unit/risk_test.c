/*
 * risk_test.c - the pure risk engine (src/payments/risk_rules.c): the
 * configuration file's parsing, every rule firing and not firing at its
 * threshold, score clamping, decisions, and the limits.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "payments/risk_int.h"

static struct pay_risk_config cfg_from(const char *text)
{
    struct pay_risk_config c;
    pay_risk_config_init(&c);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    cr_assert_not_null(j, "%s", jerr.text);
    struct pay_error err;
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_config_apply(&c, j, &err), PAY_OK, "%s", err.message);
    json_decref(j);
    return c;
}

static const char *config_error(const char *text)
{
    static struct pay_error err;
    struct pay_risk_config c;
    pay_risk_config_init(&c);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j);
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_config_apply(&c, j, &err), PAY_ERR_CONFIG, "accepted %s", text);
    json_decref(j);
    return err.param;
}

/* A quiet attempt: a customer, a card, an address, daytime, nothing seen before. */
static struct pay_risk_facts quiet(void)
{
    return (struct pay_risk_facts){
        .amount_minor = 1000,
        .currency = "usd",
        .has_customer = true,
        .has_card = true,
        .has_address = true,
        .timezone = "UTC",
        .local_hour = 12,
        .cards_of_customer = 1,
        .cards_of_address = 1,
    };
}

static struct pay_risk_result score(const struct pay_risk_config *c, const struct pay_risk_facts *f)
{
    struct pay_risk_result r;
    cr_assert_eq(pay_risk_score(c, f, &r), PAY_OK);
    cr_assert(json_is_array(r.reasons));
    int sum = 0;
    size_t i;
    json_t *v;
    json_array_foreach(r.reasons, i, v)
    {
        cr_assert_not_null(json_string_value(json_object_get(v, "rule")));
        cr_assert_not_null(json_string_value(json_object_get(v, "detail")));
        sum += (int)json_integer_value(json_object_get(v, "points"));
    }
    cr_assert_eq(r.score, sum > 100 ? 100 : sum, "score is the clamped sum of the reasons");
    return r;
}

static const char *first_rule(const struct pay_risk_result *r)
{
    return json_string_value(json_object_get(json_array_get(r->reasons, 0), "rule"));
}

Test(risk_config, defaults_and_round_trip)
{
    struct pay_risk_config c;
    pay_risk_config_init(&c);
    cr_assert(c.enabled);
    cr_assert_lt(c.review_score, c.decline_score);
    json_t *j = pay_risk_config_json(&c);
    cr_assert_not_null(j);
    struct pay_risk_config d;
    pay_risk_config_init(&d);
    d.review_score = 1;
    d.velocity_card.max = 7;
    struct pay_error err;
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_config_apply(&d, j, &err), PAY_OK, "%s", err.message);
    cr_assert_eq(d.review_score, c.review_score);
    cr_assert_eq(d.velocity_card.max, c.velocity_card.max);
    json_decref(j);
}

Test(risk_config, partial_files_override_only_their_keys)
{
    struct pay_risk_config c =
        cfg_from("{\"review_score\": 40, \"rules\": {\"velocity_card\": {\"max\": 3}, \"amount\": "
                 "{\"from\": {\"USD\": 50000, \"sdg\": 100}}}, \"limits\": {\"daily_count\": 5, "
                 "\"max_amount\": {\"jpy\": 10000}}}");
    struct pay_risk_config d;
    pay_risk_config_init(&d);
    cr_assert_eq(c.review_score, 40);
    cr_assert_eq(c.decline_score, d.decline_score);
    cr_assert_eq(c.velocity_card.max, 3);
    cr_assert_eq(c.velocity_card.window_s, d.velocity_card.window_s);
    cr_assert_eq(pay_risk_amount_for(&c.amount.from, "usd"), 50000);
    cr_assert_eq(pay_risk_amount_for(&c.amount.from, "sdg"), 100);
    cr_assert_eq(pay_risk_amount_for(&c.amount.from, "eur"), 0);
    cr_assert_eq(c.limits.daily_count, 5);
    cr_assert_eq(pay_risk_amount_for(&c.limits.max_amount, "jpy"), 10000);
}

Test(risk_config, errors_name_the_key)
{
    cr_assert_str_eq(config_error("{\"reviewscore\": 1}"), "reviewscore");
    cr_assert_str_eq(config_error("{\"review_score\": 101}"), "review_score");
    cr_assert_str_eq(config_error("{\"review_score\": 95, \"decline_score\": 90}"), "review_score");
    cr_assert_str_eq(config_error("{\"rules\": {\"velocity_card\": {\"window_s\": 0}}}"),
                     "rules.velocity_card.window_s");
    cr_assert_str_eq(config_error("{\"rules\": {\"velocity_card\": {\"points\": \"5\"}}}"),
                     "rules.velocity_card.points");
    cr_assert_str_eq(config_error("{\"rules\": {\"nope\": {}}}"), "rules.nope");
    cr_assert_str_eq(config_error("{\"rules\": {\"card_testing\": {\"max_cards\": 3}}}"),
                     "rules.card_testing.max_cards");
    cr_assert_str_eq(config_error("{\"limits\": {\"daily_amount\": {\"xyz\": 5}}}"),
                     "limits.daily_amount.xyz");
    cr_assert_str_eq(config_error("{\"limits\": {\"max_amount\": {\"usd\": -5}}}"),
                     "limits.max_amount.usd");
    cr_assert_str_eq(config_error("{\"timezone\": \"Mars/Base\"}"), "timezone");
    cr_assert_str_eq(config_error("{\"timezone\": \"../../etc/passwd\"}"), "timezone");
    cr_assert_str_eq(config_error("{\"enabled\": 1}"), "enabled");
    cr_assert_str_eq(config_error("{\"rules\": {\"time_of_day\": {\"from_hour\": 25}}}"),
                     "rules.time_of_day.from_hour");
}

Test(risk_rules, quiet_attempt_approves_with_no_reasons)
{
    struct pay_risk_config c;
    pay_risk_config_init(&c);
    struct pay_risk_facts f = quiet();
    struct pay_risk_result r = score(&c, &f);
    cr_assert_eq(r.score, 0);
    cr_assert_eq(r.decision, PAY_RISK_APPROVE);
    cr_assert_eq(json_array_size(r.reasons), 0);
    json_decref(r.reasons);
}

/* Each rule alone: below its threshold nothing, at it exactly its points. */
Test(risk_rules, each_rule_fires_at_its_threshold)
{
    struct pay_risk_config c =
        cfg_from("{\"rules\": {\"amount\": {\"points\": 11, \"from\": {\"usd\": 5000}},"
                 " \"velocity_customer\": {\"points\": 12, \"max\": 3},"
                 " \"velocity_card\": {\"points\": 13, \"max\": 4},"
                 " \"velocity_address\": {\"points\": 14, \"max\": 5},"
                 " \"time_of_day\": {\"points\": 15, \"from_hour\": 22, \"to_hour\": 6},"
                 " \"recent_declines\": {\"points\": 16, \"max\": 2},"
                 " \"disputes\": {\"points\": 17},"
                 " \"blocklist\": {\"points\": 18}}}");
    struct {
        const char *rule;
        int points;
        void (*below)(struct pay_risk_facts *);
        void (*at)(struct pay_risk_facts *);
    } cases[] = {
        {"amount", 11, NULL, NULL},        {"velocity_customer", 12, NULL, NULL},
        {"velocity_card", 13, NULL, NULL}, {"velocity_address", 14, NULL, NULL},
        {"time_of_day", 15, NULL, NULL},   {"recent_declines", 16, NULL, NULL},
        {"disputes", 17, NULL, NULL},      {"blocklist", 18, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pay_risk_facts below = quiet(), at = quiet();
        switch (i) {
        case 0:
            below.amount_minor = 4999;
            at.amount_minor = 5000;
            break;
        case 1:
            below.customer_attempts = 2;
            at.customer_attempts = 3;
            break;
        case 2:
            below.card_attempts = 3;
            at.card_attempts = 4;
            break;
        case 3:
            below.address_attempts = 4;
            at.address_attempts = 5;
            break;
        case 4:
            below.local_hour = 6;
            at.local_hour = 23;
            break;
        case 5:
            below.customer_declines = 1;
            at.customer_declines = 2;
            break;
        case 6:
            below.customer_disputes = 0;
            at.customer_disputes = 1;
            break;
        case 7:
            below.blocked_card = false;
            at.blocked_email = true;
            break;
        }
        struct pay_risk_result rb = score(&c, &below);
        cr_assert_eq(rb.score, 0, "%s below its threshold", cases[i].rule);
        json_decref(rb.reasons);
        struct pay_risk_result ra = score(&c, &at);
        cr_assert_eq(ra.score, cases[i].points, "%s at its threshold", cases[i].rule);
        cr_assert_str_eq(first_rule(&ra), cases[i].rule);
        cr_assert_eq(ra.decision, PAY_RISK_APPROVE);
        json_decref(ra.reasons);
    }
}

Test(risk_rules, time_of_day_wraps_midnight)
{
    struct pay_risk_config c =
        cfg_from("{\"rules\": {\"time_of_day\": {\"points\": 10, \"from_hour\": 22, "
                 "\"to_hour\": 3}}}");
    int fires[24] = {0};
    for (int h = 0; h < 24; h++) {
        struct pay_risk_facts f = quiet();
        f.local_hour = h;
        struct pay_risk_result r = score(&c, &f);
        fires[h] = r.score > 0;
        json_decref(r.reasons);
    }
    for (int h = 0; h < 24; h++) {
        cr_assert_eq(fires[h], h >= 22 || h < 3, "hour %d", h);
    }
}

Test(risk_rules, thresholds_decide_and_the_score_is_clamped)
{
    struct pay_risk_config c = cfg_from("{\"review_score\": 30, \"decline_score\": 60, \"rules\": {"
                                        "\"velocity_customer\": {\"points\": 30, \"max\": 1},"
                                        "\"velocity_card\": {\"points\": 30, \"max\": 1},"
                                        "\"velocity_address\": {\"points\": 60, \"max\": 1}}}");
    struct pay_risk_facts f = quiet();
    f.customer_attempts = 1;
    struct pay_risk_result r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_REVIEW);
    cr_assert_eq(r.score, 30);
    json_decref(r.reasons);
    f.card_attempts = 1;
    r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_DECLINE);
    cr_assert_str_eq(r.decline_code, "fraudulent");
    cr_assert_eq(r.score, 60);
    json_decref(r.reasons);
    f.address_attempts = 1;
    r = score(&c, &f);
    cr_assert_eq(r.score, 100, "120 points clamp to 100");
    cr_assert_eq(json_array_size(r.reasons), 3);
    json_decref(r.reasons);
}

Test(risk_rules, blocklist_declines_as_merchant_blacklist)
{
    struct pay_risk_config c;
    pay_risk_config_init(&c);
    struct pay_risk_facts f = quiet();
    f.blocked_card = true;
    struct pay_risk_result r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_DECLINE);
    cr_assert_str_eq(r.decline_code, "merchant_blacklist");
    json_decref(r.reasons);
    f = quiet();
    f.blocked_address = true;
    r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_DECLINE);
    json_decref(r.reasons);
}

Test(risk_rules, card_testing_declines_past_the_threshold_whatever_the_score)
{
    struct pay_risk_config c =
        cfg_from("{\"rules\": {\"card_testing\": {\"points\": 0, \"max_cards_per_customer\": 3, "
                 "\"max_cards_per_address\": 5}}}");
    struct pay_risk_facts f = quiet();
    f.cards_of_customer = 3;
    f.cards_of_address = 5;
    struct pay_risk_result r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_APPROVE, "at the threshold: allowed");
    json_decref(r.reasons);
    f.cards_of_customer = 4;
    r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_DECLINE);
    cr_assert_str_eq(r.decline_code, "fraudulent");
    json_decref(r.reasons);
    f.cards_of_customer = 1;
    f.cards_of_address = 6;
    r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_DECLINE, "many cards from one address");
    json_decref(r.reasons);
    f.has_address = false;
    r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_APPROVE, "no address known: that rule cannot fire");
    json_decref(r.reasons);
}

Test(risk_rules, disabled_scores_nothing)
{
    struct pay_risk_config c = cfg_from("{\"enabled\": false}");
    struct pay_risk_facts f = quiet();
    f.blocked_card = true;
    f.cards_of_customer = 1000;
    struct pay_risk_result r = score(&c, &f);
    cr_assert_eq(r.decision, PAY_RISK_APPROVE);
    cr_assert_eq(r.score, 0);
    json_decref(r.reasons);
}

Test(risk_limits, max_amount_daily_count_daily_amount)
{
    struct pay_risk_config c =
        cfg_from("{\"limits\": {\"daily_count\": 3, \"daily_amount\": {\"usd\": 10000}, "
                 "\"max_amount\": {\"usd\": 6000}}}");
    struct pay_error err;
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_limits_check(&c, 6000, "usd", true, 0, 0, &err), PAY_OK);
    cr_assert_eq(pay_risk_limits_check(&c, 6001, "usd", false, 0, 0, &err),
                 PAY_ERR_AMOUNT_TOO_LARGE);
    cr_assert_str_eq(err.param, "amount");
    cr_assert_eq(pay_risk_limits_check(&c, 6001, "eur", true, 0, 0, &err), PAY_OK,
                 "no limit in a currency not configured");
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_limits_check(&c, 100, "usd", true, 3, 0, &err), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "customer");
    cr_assert_str_eq(err.code_str, "daily_limit_exceeded");
    cr_assert_eq(pay_risk_limits_check(&c, 100, "usd", false, 3, 0, &err), PAY_OK,
                 "no customer: no per-customer limits");
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_limits_check(&c, 4000, "usd", true, 2, 6000, &err), PAY_OK,
                 "exactly the daily amount is allowed");
    cr_assert_eq(pay_risk_limits_check(&c, 4001, "usd", true, 2, 6000, &err),
                 PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "amount");
    cr_assert_str_eq(err.code_str, "daily_limit_exceeded");
    pay_error_clear(&err);
    cr_assert_eq(pay_risk_limits_check(&c, 4001, "usd", true, 2, INT64_MAX, &err),
                 PAY_ERR_PARAM_INVALID, "an overflowing sum is over the limit");
}

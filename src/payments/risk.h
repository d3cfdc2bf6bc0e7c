/*
 * risk.h - limits and fraud scoring of payment attempts (issue 6, items 4
 * and 5): the configuration (payd serve --risk-config FILE), the blocklist
 * (/v1/blocklist_entries) and the attempt log (/v1/payment_attempts).
 *
 * Every payment attempt (attempt() in payment_intents.c, before any
 * connector) goes through pay_risk_assess (payments_int.h): the limits
 * first (an error naming the parameter), then the rules, each adding its
 * points when it fires; the score (clamped to 0..100) against the review
 * and decline thresholds gives the decision approve | review | decline.
 * Each attempt is one payment_attempts row with its score, its reasons
 * ([{rule, points, detail}]) and its decision; its outcome (succeeded,
 * declined, ...) is written when the payment flow knows it. Staff, admins
 * and auditors read them; patients never see risk data.
 *
 * Threading: the configuration is set once (pay_risk_configure) before the
 * server starts and read-only afterwards; the rest runs in the caller's
 * transaction.
 */
#ifndef PAY_RISK_H
#define PAY_RISK_H

#include "../core/tz.h"
#include "payments.h"

/* Currencies a per-currency amount table may name. */
#define PAY_RISK_CURRENCIES_MAX 32
/* Longest blocklist value (an e-mail address is the longest kind). */
#define PAY_RISK_VALUE_LEN_MAX 512
#define PAY_RISK_DESCRIPTION_LEN_MAX 500
/* A risk configuration file larger than this is a mistake. */
#define PAY_RISK_CONFIG_BYTES_MAX (64 * 1024)
/* Longest window any rule may look back over (a year). */
#define PAY_RISK_WINDOW_S_MAX (366 * 24 * 3600)

/* An amount per currency ("usd" -> 500000); a currency absent = no limit. */
struct pay_risk_amounts {
    size_t n;
    struct {
        char currency[4];
        int64_t amount_minor;
    } v[PAY_RISK_CURRENCIES_MAX];
};

/* The amount for @currency in @a, or 0 (none). */
int64_t pay_risk_amount_for(const struct pay_risk_amounts *a, const char *currency);

/* "more than @max attempts within @window_s": @points when it fires; max 0 = off. */
struct pay_risk_velocity {
    int points;
    int64_t window_s;
    int64_t max;
};

/*
 * Every weight, threshold and window. Points are 0..100; a rule with 0
 * points never changes a score (its reason is not listed). Defaults
 * (pay_risk_config_init) are documented in README "Fraud scoring and
 * limits".
 */
struct pay_risk_config {
    bool enabled; /* false: no rules (attempts are still logged; limits still apply) */
    int review_score;
    int decline_score;
    char timezone[PAY_TZ_NAME_LEN_MAX + 1]; /* for intents without a facility time zone */
    const char *zoneinfo_dir;               /* NULL = $TZDIR or /usr/share/zoneinfo */
    struct {
        int points;
        struct pay_risk_amounts from; /* fires when amount >= from[currency] */
    } amount;
    struct pay_risk_velocity velocity_customer, velocity_card, velocity_address;
    struct {
        int points;
        int from_hour, to_hour; /* local [from, to), wrapping past midnight; equal = off */
    } time_of_day;
    struct pay_risk_velocity recent_declines; /* fires at >= max declines in the window */
    struct {
        int points;
        int64_t window_s; /* fires when the customer has a disputed payment this recent */
    } disputes;
    struct {
        int points;
    } blocklist;
    struct {
        int points;
        int64_t window_s;
        int64_t max_cards_per_customer; /* distinct cards, this one included; 0 = off */
        int64_t max_cards_per_address;
    } card_testing;
    struct {
        int64_t daily_count;                  /* attempts per customer per local day; 0 = off */
        struct pay_risk_amounts daily_amount; /* per customer per local day, per currency */
        struct pay_risk_amounts max_amount;   /* one payment, any customer */
    } limits;
};

/* The defaults. */
void pay_risk_config_init(struct pay_risk_config *c);
/*
 * Apply the JSON configuration @j (README "Fraud scoring and limits") over
 * @c: keys absent keep their value; unknown keys, wrong types and values
 * out of range are PAY_ERR_CONFIG with err->param the key path
 * ("rules.velocity_card.window_s").
 */
enum pay_err pay_risk_config_apply(struct pay_risk_config *c, const json_t *j,
                                   struct pay_error *err) PAY_WUR;
/* The configuration as JSON (caller owns), as the README documents it. */
json_t *pay_risk_config_json(const struct pay_risk_config *c);
/* Install @c (copied) for pay_risk_assess; before any thread reads it. */
void pay_risk_configure(const struct pay_risk_config *c);
/* The installed configuration (the defaults until pay_risk_configure). */
const struct pay_risk_config *pay_risk_config(void);

/* ---- Blocklist (/v1/blocklist_entries) ------------------------------------ */

/*
 * Entries of type card_fingerprint (a payment method's card.fingerprint),
 * email (matched case-insensitively against the customer's e-mail and the
 * intent's receipt_email) and client_address (an IPv4 or IPv6 address, as
 * payd sees the client). Values are normalised (lower case, canonical
 * address text); the same type and value twice is PAY_ERR_PARAM_INVALID
 * naming "value".
 */
enum pay_err pay_blocklist_create(struct pay_op *op, const char *type, const char *value,
                                  const char *description, json_t **out) PAY_WUR;
enum pay_err pay_blocklist_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
enum pay_err pay_blocklist_delete(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* A page of entries, newest first, of @type when not NULL. */
enum pay_err pay_blocklist_list(struct pay_op *op, const char *type,
                                const struct pay_list_args *args, json_t **data_out,
                                bool *has_more) PAY_WUR;

/* ---- The attempt log (/v1/payment_attempts) ------------------------------- */

/* A page of attempts, newest first, filtered by @payment_intent and @customer
 * (NULL = any). Refused for a patient's op (PAY_ERR_FORBIDDEN). */
enum pay_err pay_risk_attempt_list(struct pay_op *op, const char *payment_intent,
                                   const char *customer, const struct pay_list_args *args,
                                   json_t **data_out, bool *has_more) PAY_WUR;
enum pay_err pay_risk_attempt_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;

#endif

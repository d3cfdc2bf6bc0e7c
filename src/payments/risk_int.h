/*
 * risk_int.h - the pure part of the risk engine (risk_rules.c): what the
 * database told about one attempt (facts) in, score, reasons and decision
 * out. No I/O, no clock: risk.c gathers the facts; tests/unit/risk_test.c
 * drives the rules directly.
 */
#ifndef PAY_RISK_INT_H
#define PAY_RISK_INT_H

#include "payments_int.h"
#include "risk.h"

/* The card-testing counts stop here: enough to show a burst, and a card
 * tester's thousands of cards cost no more than this to count. */
#define PAY_RISK_CARDS_COUNTED 1000

/* What is known about one attempt when it is scored. */
struct pay_risk_facts {
    int64_t amount_minor;
    const char *currency;
    bool has_customer, has_card, has_address;
    /* Earlier attempts within each velocity rule's window (this one excluded). */
    int64_t customer_attempts, card_attempts, address_attempts;
    /* The facility's (or the default) zone and the local time of the attempt. */
    const char *timezone;
    int local_hour, local_minute;
    /* The customer's declined attempts within recent_declines.window_s, and
     * disputed payments within disputes.window_s. */
    int64_t customer_declines, customer_disputes;
    /* Blocklist matches. */
    bool blocked_card, blocked_email, blocked_address;
    /* Distinct card fingerprints within card_testing.window_s, this card
     * included, counted up to PAY_RISK_CARDS_COUNTED ("at least" there). */
    int64_t cards_of_customer, cards_of_address;
};

struct pay_risk_result {
    int score; /* 0..100 */
    enum pay_risk_decision decision;
    json_t *reasons;       /* owned: [{rule, points, detail}] of the rules that fired */
    char decline_code[48]; /* DECLINE: "fraudulent", "merchant_blacklist" */
    char message[PAY_ERROR_MESSAGE_MAX];
};

/* Score @f under @c into @out (release out->reasons with json_decref). */
enum pay_err pay_risk_score(const struct pay_risk_config *c, const struct pay_risk_facts *f,
                            struct pay_risk_result *out) PAY_WUR;

/*
 * The limits for one attempt of @amount_minor @currency: the maximum single
 * amount (any intent), and with a customer (@has_customer) the daily count
 * and amount given what the customer's day already holds (@day_count
 * attempts, @day_amount_minor in this currency). PAY_OK, or the error
 * (PAY_ERR_AMOUNT_TOO_LARGE naming "amount"; PAY_ERR_PARAM_INVALID with
 * code "daily_limit_exceeded" naming "customer" or "amount") in @err.
 */
enum pay_err pay_risk_limits_check(const struct pay_risk_config *c, int64_t amount_minor,
                                   const char *currency, bool has_customer, int64_t day_count,
                                   int64_t day_amount_minor, struct pay_error *err) PAY_WUR;

/* "approve" | "review" | "decline". */
const char *pay_risk_decision_name(enum pay_risk_decision d);

#endif

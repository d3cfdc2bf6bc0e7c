/*
 * payments_int.h - declarations shared by the files of src/payments/ only.
 * The public contract is payments.h.
 */
#ifndef PAY_PAYMENTS_INT_H
#define PAY_PAYMENTS_INT_H

#include <string.h>

#include "payments.h"

/* ---- Small helpers of every file here ---------------------------------- */

/* Record @e on op->err unless a more precise detail for it is already
 * there; returns @e. */
static inline enum pay_err pay_op_fail(struct pay_op *op, enum pay_err e)
{
    if (e != PAY_OK && op->err != NULL && op->err->code != e) {
        pay_error_set(op->err, e, NULL, NULL);
    }
    return e;
}

/* Both strings given and equal. */
static inline bool pay_str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Copy @src (NULL: "") into @dst of @n bytes, cut to fit, always terminated. */
static inline void pay_copy_str(char *dst, size_t n, const char *src)
{
    size_t len = src != NULL ? strlen(src) : 0;
    if (len >= n) {
        len = n - 1;
    }
    if (len > 0) {
        memcpy(dst, src, len);
    }
    dst[len] = '\0';
}

/* ---- Payment intent rows (payment_intents.c), used by refunds.c ------- */

/* Wallet money that reached the clinic's wallet after its intent stopped
 * waiting for it (momo_intents.c), until staff pay it back. */
#define PAY_ACCOUNT_UNAPPLIED_MOMO "liabilities:unapplied_receipts:mobile_money"

/*
 * One payment_intents row: the API object and the private columns. The
 * object is the source of truth; pay_intent_row_save derives the filter
 * columns from it.
 */
struct pay_intent_row {
    json_t *obj; /* owned */
    char provider_ref[64];
    char connector[16];
    char *return_url; /* owned, may be NULL */
    /* Issue 6 routing (providers.c): the provider the client asked for at
     * create ("" = routing decides; "stripe" = a Stripe-routed intent), the
     * tender of the last routed attempt, and the chosen provider's rates,
     * which price the capture (the fee itself is the object's fee_amount). */
    char provider_pin[64];
    char tender[16];
    int64_t fee_bps;
    int64_t fee_fixed_minor;
    /* Created by this job and not yet written: the first save INSERTs it (a
     * create that confirms at once with a card or manual tender writes its
     * intent once; wallets and Stripe get it written first, then updated). */
    bool unsaved;
    /* The customer's e-mail and facility as apply_params read them in this
     * job, for the fraud rules to use instead of reading them again where
     * nothing can come between (pay_tx_writes_serial; PostgreSQL reads
     * them again FOR UPDATE, which locks the customer). */
    struct {
        char id[PAY_ID_LEN_MAX + 1]; /* "" = not read */
        char email[PAY_CUSTOMER_EMAIL_LEN_MAX + 1];
        char facility[PAY_FACILITY_LEN_MAX + 1];
    } customer_read;
};

/*
 * Load intent @id into @row (release it with pay_intent_row_release, also
 * after an error). @for_update locks the row (SELECT ... FOR UPDATE) for
 * the rest of the write transaction. Out of @op's customer scope or absent:
 * PAY_ERR_NOT_FOUND naming @param.
 */
enum pay_err pay_intent_row_load(struct pay_op *op, const char *id, bool for_update,
                                 const char *param, struct pay_intent_row *row) PAY_WUR;
/* Write @row back (every column from row->obj). */
enum pay_err pay_intent_row_save(struct pay_op *op, struct pay_intent_row *row) PAY_WUR;
void pay_intent_row_release(struct pay_intent_row *row);

/* Merge Stripe metadata @update into @obj's "metadata": "" values unset. */
void pay_metadata_merge(json_t *obj, const json_t *update);

/* Write refund object @obj back to its row (status and data; refunds.c). */
enum pay_err pay_refund_row_save(struct pay_op *op, const json_t *obj) PAY_WUR;

/* ---- Issue 6: routing, risk, mobile money, manual tenders -------------- */
/*
 * attempt() in payment_intents.c runs every payment attempt through these,
 * in this order (see each file's header for the rules):
 *   1. pay_route_pick (providers.c): which provider takes the attempt;
 *      pay_route_apply records it (provider, fee) on the intent;
 *   2. pay_risk_assess (risk.c): limits and fraud score, before any connector;
 *   3. by the route's connector: manual -> pay_verification_open
 *      (verifications.c), mobile_money -> pay_momo_begin (momo_intents.c),
 *      sandbox / stripe -> the card flow of payment_intents.c; but first a
 *      provider with requires_manual_verification holds the attempt
 *      (pay_verification_open, kind provider_review) until a person
 *      approves it.
 */

/* Tender types (= provider types = payment method types). */
#define PAY_TENDER_CARD "card"
#define PAY_TENDER_MOBILE_WALLET "mobile_wallet"
#define PAY_CONNECTOR_MANUAL "manual"
#define PAY_CONNECTOR_MOBILE_MONEY "mobile_money"

/* Whether tender @s is settled by hand (cash, cheque, bank_transfer, bank_draft). */
bool pay_tender_manual(const char *s);

/* The provider routing chose for one attempt. */
struct pay_route_choice {
    char provider[64];        /* provider name; "" = the built-in default */
    char connector[16];       /* sandbox | stripe | mobile_money | manual */
    char tender[16];          /* card | mobile_wallet | cash | ... */
    int64_t fee_minor;        /* the fee for the intent's amount */
    int64_t fee_bps;          /* the provider's rates (0 for the built-in defaults) */
    int64_t fee_fixed_minor;  /* (minor units of the intent's currency) */
    bool manual_verification; /* requires_manual_verification */
    json_t *config; /* connector config incl. decrypted credentials (owned; may be NULL) */
};
void pay_route_choice_release(struct pay_route_choice *c);

/*
 * Pick the provider for @row's attempt with tender @tender: the active one
 * by tender type, currency, amount limits, facility and priority; with
 * @after_provider (a provider name) the next candidate after it (fallback),
 * PAY_ERR_NOT_FOUND when there is none. Errors name their param (amount
 * outside limits: PAY_ERR_PARAM_INVALID "amount"; no provider for the
 * tender: "payment_method_types").
 */
enum pay_err pay_route_pick(struct pay_op *op, struct pay_intent_row *row, const char *tender,
                            const char *after_provider, struct pay_route_choice *out) PAY_WUR;
/* Record @c on the intent (provider, tender, fee; row->connector). */
enum pay_err pay_route_apply(struct pay_op *op, struct pay_intent_row *row,
                             const struct pay_route_choice *c) PAY_WUR;
/* Whether @c's sandbox provider plays an unreachable processor
 * (connector_config outage=true): the attempt fails with
 * PAY_ERR_UNAVAILABLE before anything is charged, so the next provider is
 * tried (fallback). */
bool pay_route_unreachable(const struct pay_route_choice *c);
/*
 * Create with provider=@name (not sandbox or stripe): the live provider of
 * that name (else PAY_ERR_PARAM_INVALID naming "provider") becomes the
 * intent's only route; an intent for a manual tender or a wallet gets its
 * type as payment_method_types unless the request lists them.
 */
enum pay_err pay_route_pin(struct pay_op *op, struct pay_intent_row *row, const char *name) PAY_WUR;
/* Refunds of @row: PAY_ERR_PARAM_INVALID naming "payment_intent" when its
 * provider is configured with supports_refunds=false. */
enum pay_err pay_route_refund_check(struct pay_op *op, const struct pay_intent_row *row) PAY_WUR;
/* The payment changed before an attempt (amount, currency, facility,
 * method): drop the last route's provider, rates and fee_amount (a provider
 * named at create stays). */
void pay_route_forget(struct pay_intent_row *row);
/* Most providers one attempt falls back through. */
#define PAY_ROUTE_FALLBACK_MAX 8
/*
 * The fee of capturing @amount_minor of @row at the rates of its route
 * (pay_fee_compute). PAY_ERR_OVERFLOW cannot happen for valid amounts.
 */
enum pay_err pay_route_fee(const struct pay_intent_row *row, int64_t amount_minor,
                           int64_t *fee_out) PAY_WUR;

enum pay_risk_decision { PAY_RISK_APPROVE, PAY_RISK_REVIEW, PAY_RISK_DECLINE };

/* What pay_risk_assess decided. */
struct pay_risk_verdict {
    enum pay_risk_decision decision;
    int score;                           /* 0..100 */
    char attempt_id[PAY_ID_LEN_MAX + 1]; /* the payment_attempts row ("" when none) */
    char code[48];                       /* DECLINE: Stripe error code ("card_declined") */
    char decline_code[48];               /* DECLINE: "fraudulent", ... */
    char message[PAY_ERROR_MESSAGE_MAX]; /* DECLINE: for last_payment_error */
    struct pay_risk_pending *pending;    /* the attempt's row until pay_risk_outcome */
};

/*
 * Limits and fraud scoring of one attempt, before any connector is called
 * (@pm: the card, NULL for other tenders). A limit exceeded is an error
 * return naming its param; otherwise PAY_OK with @out's decision.
 */
enum pay_err pay_risk_assess(struct pay_op *op, struct pay_intent_row *row,
                             const struct pay_pm_charge *pm, const struct pay_route_choice *route,
                             struct pay_risk_verdict *out) PAY_WUR;
/* Write @v's attempt with its outcome ("succeeded", "declined", ...) and
 * release it; nothing when @v has no attempt. */
enum pay_err pay_risk_outcome(struct pay_op *op, struct pay_risk_verdict *v,
                              const char *outcome) PAY_WUR;
/* Release @v's attempt unwritten (the attempt failed: its job rolls back). */
void pay_risk_verdict_release(struct pay_risk_verdict *v);
/* After an attempt waited (3-D Secure, a review, a wallet, Stripe): @outcome
 * on intent @intent_id's latest attempt, when that one still waits for it
 * (pending, requires_action, processing, requires_verification). */
enum pay_err pay_risk_challenge_outcome(struct pay_op *op, const char *intent_id,
                                        const char *outcome) PAY_WUR;

/*
 * Mobile money (momo_intents.c): start a request to pay for @row through
 * @route; the intent goes to requires_action (or a decline).
 */
enum pay_err pay_momo_begin(struct pay_op *op, struct pay_intent_row *row,
                            const struct pay_route_choice *route) PAY_WUR;

/*
 * Manual tenders, fraud reviews and providers that require manual
 * verification (verifications.c): put @row in requires_verification and
 * open a queue item of @kind ("payment" | "fraud_review" |
 * "provider_review") recorded by op->actor. @off_session: the payment was
 * confirmed with off_session (the customer is not there to authenticate);
 * its approval charges it the same way.
 */
enum pay_err pay_verification_open(struct pay_op *op, struct pay_intent_row *row, const char *kind,
                                   const struct pay_route_choice *route, bool off_session) PAY_WUR;
/*
 * A refund of manual-tender intent @row (locked; @amount checked against
 * what is left): a `pending` refund whose amount is reserved on the intent
 * (amount_refunded) and a verification of kind "refund"; the ledger entry
 * is posted when it is approved. *out gets the refund.
 */
enum pay_err pay_verification_refund_request(struct pay_op *op, struct pay_intent_row *row,
                                             const struct pay_refund_params *p, int64_t amount,
                                             json_t **out) PAY_WUR;
/* Intent @intent is canceled: its pending payment / fraud_review /
 * provider_review verifications become canceled (event
 * verification.canceled). */
enum pay_err pay_verification_cancel_for_intent(struct pay_op *op, const char *intent) PAY_WUR;
/*
 * (payment_intents.c) A verification of @row (requires_verification,
 * locked) of @kind was approved: a manual tender is booked as received
 * (capture entry, succeeded); a card held for fraud review is authorized
 * now (succeeded, requires_capture, or a decline recorded on the intent,
 * which is not an error here); a payment held by its provider
 * (provider_review) is routed again and sent without a second hold.
 */
enum pay_err pay_intent_verified(struct pay_op *op, struct pay_intent_row *row, const char *kind,
                                 bool off_session) PAY_WUR;

/*
 * (payment_intents.c, for momo_intents.c) The money of @row (locked,
 * waiting in requires_action) arrived: capture entry with the provider's
 * fee, succeeded, payment_intent.succeeded.
 */
enum pay_err pay_intent_money_received(struct pay_op *op, struct pay_intent_row *row) PAY_WUR;
/*
 * (payment_intents.c) An attempt of @row failed at its provider: back to
 * requires_payment_method with last_payment_error {type card_error, @code,
 * @decline_code, @message}, payment_intent.payment_failed, committed
 * anyway; returns PAY_ERR_CARD_DECLINED.
 */
enum pay_err pay_intent_attempt_failed(struct pay_op *op, struct pay_intent_row *row,
                                       const char *code, const char *decline_code,
                                       const char *message) PAY_WUR;

/* ---- Provider attempts (provider.c), used by payment_intents.c, refunds.c */

#define PAY_CONNECTOR_STRIPE "stripe"

/* What step 1 of a provider call records (borrowed). */
struct pay_attempt_spec {
    const char *intent;
    const char *refund;                            /* operation refund: the pending refund's id */
    const char *operation;                         /* confirm, retrieve, capture, cancel, refund */
    int64_t amount_minor;                          /* capture, refund: the amount asked for */
    const char *prior_status;                      /* the intent's status before `processing` */
    const struct pay_stripe_intent_params *create; /* confirm */
    const char *stripe_pi;                         /* the others */
};

/* One provider_attempts row, as step 3 reads it. */
struct pay_attempt {
    char id[PAY_ID_LEN_MAX + 1];
    char intent[PAY_ID_LEN_MAX + 1];
    char refund[PAY_ID_LEN_MAX + 1];
    char operation[16];
    char prior_status[32];
    int64_t amount_minor;
    bool pending;
};

/*
 * Step 1: refuse when the intent has a pending attempt
 * (PAY_ERR_UNEXPECTED_STATE), when Stripe is not configured or no call can
 * follow (PAY_ERR_PROVIDER); else insert the attempt and fill op->call.
 */
enum pay_err pay_attempt_begin(struct pay_op *op, const struct pay_attempt_spec *s) PAY_WUR;
/* Whether intent @intent has a pending attempt. */
enum pay_err pay_attempt_any_pending(struct pay_op *op, const char *intent, bool *out) PAY_WUR;
/* Load attempt @id (current status, in the caller's transaction). */
enum pay_err pay_attempt_load(struct pay_op *op, const char *id, struct pay_attempt *out) PAY_WUR;
/* Mark attempt @id done with @res's outcome. */
enum pay_err pay_attempt_finish(struct pay_op *op, const char *id,
                                const struct pay_conn_result *res) PAY_WUR;
/* Step 3 for intent operations (payment_intents.c) and refunds (refunds.c). */
enum pay_err pay_intent_provider_apply(struct pay_op *op, const struct pay_attempt *a,
                                       const struct pay_conn_result *res, json_t **out) PAY_WUR;
enum pay_err pay_refund_provider_apply(struct pay_op *op, const struct pay_attempt *a,
                                       const struct pay_conn_result *res, json_t **out) PAY_WUR;
/* A short name of @s ("succeeded", "unknown", ...) for the attempt's outcome. */
const char *pay_conn_status_name(enum pay_conn_status s);

/* ---- Customers (customers.c), used by payment_methods.c ------------- */

/*
 * Load live customer @id (in @op's scope; @for_update locks the row) into
 * *out (caller owns). Absent, deleted or out of scope: PAY_ERR_NOT_FOUND
 * naming @param.
 */
enum pay_err pay_customer_row_load(struct pay_op *op, const char *id, bool for_update,
                                   const char *param, json_t **out) PAY_WUR;
/*
 * What a payment needs of live customer @id, read from the row's columns
 * without parsing its object: its e-mail and facility ("" when none; either
 * buffer may be NULL). Same scope, locking and errors as
 * pay_customer_row_load.
 */
enum pay_err pay_customer_facts(struct pay_op *op, const char *id, bool for_update,
                                const char *param, char *email, size_t email_n, char *facility,
                                size_t facility_n) PAY_WUR;
/* Write customer object @obj back (its filter columns derived from it). */
enum pay_err pay_customer_row_save(struct pay_op *op, const json_t *obj) PAY_WUR;

/*
 * A Stripe address object {city, country, line1, line2, postal_code, state}
 * from @given (NULL or an object of strings; "" or absent keys are null),
 * over @base when not NULL (keys @given lacks keep @base's values). New
 * reference.
 */
json_t *pay_address_object(const json_t *base, const json_t *given);

/* ---- Payment methods (payment_methods.c), used by customers.c --------- */

/*
 * Attach @pm_id to @customer_id (locked and in scope): @verify runs the
 * connector's card check first (POST .../attach); @pm_param names the
 * payment method in errors. *out (may be NULL) gets the payment method.
 */
enum pay_err pay_pm_attach(struct pay_op *op, const char *pm_id, const char *pm_param,
                           const char *customer_id, bool verify, json_t **out) PAY_WUR;
/* Whether payment method @pm_id is attached to @customer_id. */
enum pay_err pay_pm_attached_to(struct pay_op *op, const char *pm_id, const char *customer_id,
                                bool *out) PAY_WUR;
/* Detach every payment method of @customer_id (a deletion): an event each. */
enum pay_err pay_pm_detach_all(struct pay_op *op, const char *customer_id) PAY_WUR;

#endif

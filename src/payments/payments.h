/*
 * payments.h - customers, payment methods, payment intents and refunds:
 * the domain rules (status machine, amounts, ownership), written against
 * the caller's transaction. Every state change appends its event
 * (events.h) and every money movement posts its ledger entry (ledger.h)
 * in the same transaction. Objects are Stripe-shaped JSON.
 *
 * Ownership: a pay_op with customer_scope set (a patient's token) sees only
 * that customer's objects; any other id is PAY_ERR_NOT_FOUND, never
 * FORBIDDEN, so existence does not leak.
 *
 * Threading: no state of its own; runs inside the store's callbacks.
 */
#ifndef PAY_PAYMENTS_H
#define PAY_PAYMENTS_H

#include "../connectors/connectors.h"
#include "../events/events.h"
#include "../ledger/ledger.h"
#include "../store/store.h"

/* The context of one domain operation. */
struct pay_op {
    struct pay_tx *tx;
    const char *customer_scope;  /* NULL = every customer */
    const char *request_id;      /* recorded on events */
    const char *fingerprint_key; /* keys card fingerprints */
    const char *public_url;      /* base URL for links payd serves (3-D Secure page) */
    struct pay_error *err;
};

/* ---- Customers (customers.c) ------------------------------------------ */

/* The customer object; PAY_ERR_NOT_FOUND when absent, deleted, or out of scope. */
enum pay_err pay_customer_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;

/* ---- Payment methods (payment_methods.c) ------------------------------ */

/* What a payment intent needs to charge a payment method. */
struct pay_pm_charge {
    char id[PAY_ID_LEN_MAX + 1];
    char customer[PAY_ID_LEN_MAX + 1]; /* "" when not attached */
    char type[16];                     /* "card" */
    char connector[16];                /* "sandbox" */
    char token[PAY_TOKEN_LEN_MAX];
};

/*
 * Resolve @pm for charging: a pm_... id (in scope), or a Stripe test name
 * (pm_card_visa, tok_visa, ...), for which a new payment method object is
 * created in @op->tx as Stripe does. PAY_ERR_NOT_FOUND (param
 * @param_name) when unknown.
 */
enum pay_err pay_payment_method_for_charge(struct pay_op *op, const char *pm,
                                           const char *param_name,
                                           struct pay_pm_charge *out) PAY_WUR;
/* Attach @pm_id to @customer_id (no-op when already attached to it). */
enum pay_err pay_payment_method_attach(struct pay_op *op, const char *pm_id,
                                       const char *customer_id) PAY_WUR;
/* The payment method object (for expand[]=payment_method). */
enum pay_err pay_payment_method_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;

/* ---- Payment intents (payment_intents.c) and refunds (refunds.c) ------ */

/*
 * Check that every intent's amount_received and amount_refunded equal the
 * ledger (pay_ledger_source_sum); report lines as pay_ledger_verify.
 */
enum pay_err pay_payments_verify(struct pay_tx *tx, struct pay_buf *report,
                                 int64_t *violations_out) PAY_WUR;

#endif

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

/*
 * Customers are Stripe's customer objects plus payd's external_id (the
 * platform's own id for the person, e.g. a patient id) and facility. A
 * deleted customer keeps its row but is never found or listed again.
 * Limits on the fields (Stripe's where Stripe has one):
 */
#define PAY_CUSTOMER_EMAIL_LEN_MAX 512
#define PAY_CUSTOMER_NAME_LEN_MAX 256
#define PAY_CUSTOMER_PHONE_LEN_MAX 32
#define PAY_CUSTOMER_DESCRIPTION_LEN_MAX 1000
#define PAY_EXTERNAL_ID_LEN_MAX 255
#define PAY_FACILITY_LEN_MAX 255
/* Each line of an address (city, line1, postal_code, ...). */
#define PAY_ADDRESS_FIELD_LEN_MAX 200

/*
 * What a create or update request asked for, as the API parsed it
 * (types and lengths checked). Strings: NULL = not sent, "" = unset.
 * Everything is borrowed for the call.
 */
struct pay_customer_params {
    const char *email; /* "something@something", no spaces */
    const char *name;
    const char *phone;
    const char *description;
    const char *external_id; /* a patient's token may not change it */
    const char *facility;    /* a patient's token may not change it */
    /* NULL = not sent; JSON null or "" = unset; else an object whose keys are
     * among city, country, line1, line2, postal_code, state (string values).
     * An update replaces the whole address. */
    const json_t *address;
    const json_t *metadata; /* merged into the object's; "" values unset keys */
    bool metadata_clear;    /* metadata="": unset every key first */
    /* invoice_settings[default_payment_method]: a payment method attached
     * to this customer (else PAY_ERR_PARAM_INVALID naming it); "" unsets. */
    const char *default_payment_method;
    /* Create only: attach this payment method (pm_... or a test name) as
     * pay_payment_method_save does. */
    const char *payment_method;
};

/*
 * Create a customer (event customer.created; payment_method.attached when
 * @p->payment_method). *out gets the object (caller owns). Errors:
 * PAY_ERR_PARAM_INVALID naming the field (email shape, default payment
 * method), PAY_ERR_FORBIDDEN for a patient's op, the errors of
 * pay_payment_method_save.
 */
enum pay_err pay_customer_create(struct pay_op *op, const struct pay_customer_params *p,
                                 json_t **out) PAY_WUR;
/* As pay_customer_get, for GET /v1/customers/:id (the error names param "id"). */
enum pay_err pay_customer_retrieve(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/*
 * Update @id (event customer.updated when anything changed). metadata is
 * merged; every other field given replaces the old value. A patient's op
 * may update only its own customer and not external_id or facility
 * (PAY_ERR_FORBIDDEN naming the field). PAY_ERR_NOT_FOUND (param "id").
 */
enum pay_err pay_customer_update(struct pay_op *op, const char *id,
                                 const struct pay_customer_params *p, json_t **out) PAY_WUR;
/*
 * Delete @id: it is marked deleted (event customer.deleted with the last
 * object) and its payment methods are detached (payment_method.detached
 * each). *out gets {"id","object":"customer","deleted":true}. Deleting again,
 * like any later read, is PAY_ERR_NOT_FOUND.
 */
enum pay_err pay_customer_delete(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* A page of live customers, newest first, filtered by exact @email and
 * @external_id (NULL = any); a patient's op sees only its own. */
enum pay_err pay_customer_list(struct pay_op *op, const char *email, const char *external_id,
                               const struct pay_list_args *args, json_t **data_out,
                               bool *has_more) PAY_WUR;


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

/*
 * Scope of a patient's op: payment methods attached to its customer, and
 * (so that a card it just entered can pay or be saved) unattached ones:
 * pay_payment_method_for_charge, _attach, _save and _get accept those. The
 * routes that show or change a payment method (_retrieve, _update,
 * _detach, _list) accept only its customer's. Anything else is
 * PAY_ERR_NOT_FOUND.
 *
 * Payment methods keep brand, last4, expiry, fingerprint and the
 * connector's token; never the number or the CVC.
 */

/* What a create or update request asked for (borrowed; NULL/false = not sent). */
struct pay_pm_params {
    const char *type;        /* create: "card" (the only type so far) */
    const char *card_number; /* create: raw card data, tokenized and forgotten */
    const char *card_cvc;
    const char *card_token;  /* create: card[token], a Stripe test token (tok_visa, ...) */
    bool has_exp_month;      /* create with card_number, or update */
    int64_t exp_month;
    bool has_exp_year;
    int64_t exp_year;
    /* Keys among address (object of city, country, line1, line2,
     * postal_code, state), email, name, phone; strings, "" unsets. Merged
     * into the object's billing_details (address key by key). */
    const json_t *billing_details;
    const json_t *metadata; /* merged; "" values unset keys */
    bool metadata_clear;    /* metadata="": unset every key first */
};

/*
 * Create an unattached payment method from raw card data (pay_card_tokenize:
 * card errors are PAY_ERR_CARD_ERROR with err->decline_code
 * "incorrect_number", "invalid_expiry_year", ... and err->param
 * "card[number]", ...) or from card[token]. Missing parameters are
 * PAY_ERR_PARAM_MISSING naming them; an unknown card[token]
 * PAY_ERR_NOT_FOUND. *out gets the object (caller owns).
 */
enum pay_err pay_payment_method_create(struct pay_op *op, const struct pay_pm_params *p,
                                       json_t **out) PAY_WUR;
/* GET /v1/payment_methods/:id (route scope; the error names param "id"). */
enum pay_err pay_payment_method_retrieve(struct pay_op *op, const char *id,
                                         json_t **out) PAY_WUR;
/*
 * Update metadata, billing_details and card expiry of an attached payment
 * method (Stripe updates only saved cards: an unattached one is
 * PAY_ERR_PARAM_INVALID). Event payment_method.updated when anything changed.
 */
enum pay_err pay_payment_method_update(struct pay_op *op, const char *id,
                                       const struct pay_pm_params *p, json_t **out) PAY_WUR;
/*
 * POST /v1/payment_methods/:id/attach: as pay_payment_method_attach, after
 * the connector's check of the card (Stripe's attach): cards that decline
 * every charge are refused with PAY_ERR_CARD_DECLINED and its
 * err->decline_code. Already attached to another customer:
 * PAY_ERR_PARAM_INVALID. Event payment_method.attached. *out gets the
 * payment method (caller owns).
 */
enum pay_err pay_payment_method_save(struct pay_op *op, const char *pm_id,
                                     const char *customer_id, json_t **out) PAY_WUR;
/*
 * Detach @id from its customer (event payment_method.detached). The rule
 * for the default: when @id was the customer's
 * invoice_settings.default_payment_method, that becomes null (no other
 * payment method is promoted) and customer.updated is appended. Not
 * attached: PAY_ERR_PARAM_INVALID.
 */
enum pay_err pay_payment_method_detach(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/*
 * A page of @customer's payment methods (required; PAY_ERR_NOT_FOUND naming
 * "customer" when it is not a live customer in scope), of @type when not
 * NULL, newest first.
 */
enum pay_err pay_payment_method_list(struct pay_op *op, const char *customer, const char *type,
                                     const struct pay_list_args *args, json_t **data_out,
                                     bool *has_more) PAY_WUR;


/* ---- Payment intents (payment_intents.c) and refunds (refunds.c) ------ */

/*
 * Check that every intent's amount_received and amount_refunded equal the
 * ledger (pay_ledger_source_sum); report lines as pay_ledger_verify.
 */
enum pay_err pay_payments_verify(struct pay_tx *tx, struct pay_buf *report,
                                 int64_t *violations_out) PAY_WUR;

#endif

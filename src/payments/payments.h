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

struct pay_provider_call;

/* The context of one domain operation. */
struct pay_op {
    struct pay_tx *tx;
    const char *customer_scope;  /* NULL = every customer */
    const char *request_id;      /* recorded on events */
    const char *fingerprint_key; /* keys card fingerprints */
    const char *public_url;      /* base URL for links payd serves (3-D Secure page) */
    struct pay_error *err;
    /* The Stripe account (NULL: provider "stripe" is not configured). */
    const struct pay_stripe_config *stripe;
    /* Where an operation on a provider-routed intent hands back the call to
     * make after the transaction commits (see "Provider calls" below); NULL
     * where no call can follow (such operations answer PAY_ERR_PROVIDER). */
    struct pay_provider_call *call;
    /* Who acts (issue 6: maker-checker, fraud velocity): the principal's
     * subject (API key id or JWT sub; "" for the system), role name
     * ("admin", "staff", "auditor", "patient", "" for the system) and
     * the client's address ("" when none). Borrowed. */
    const char *actor;
    const char *actor_role;
    const char *client_addr;
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
    char fingerprint[65]; /* the card's, "" when it has none */
    bool loaded;          /* filled from the stored method (fingerprint is known) */
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
    const char *card_token; /* create: card[token], a Stripe test token (tok_visa, ...) */
    bool has_exp_month;     /* create with card_number, or update */
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
enum pay_err pay_payment_method_retrieve(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
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
enum pay_err pay_payment_method_save(struct pay_op *op, const char *pm_id, const char *customer_id,
                                     json_t **out) PAY_WUR;
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
 * The status machine is PROTOCOLS.md's (Stripe's):
 *   requires_payment_method -> requires_confirmation -> [requires_action] ->
 *   succeeded (capture_method automatic) | requires_capture -> succeeded;
 *   a failed attempt goes back to requires_payment_method with
 *   last_payment_error; canceled from every non-terminal state; succeeded
 *   and canceled are terminal. A state a request does not allow is
 *   PAY_ERR_UNEXPECTED_STATE naming the state.
 *
 * Money: a capture posts ledger entry kind "capture" (Dr
 * assets:processor:<connector> / Cr merchant balance, balance transaction
 * "charge"), with the routed provider's fee as two more lines (Dr merchant
 * balance / Cr assets:processor:<connector>) and as the charge's fee
 * (issue 6, providers.c); a refund posts kind "refund" (the reverse of the
 * amount, no fee returned, balance transaction "refund"), in the same
 * transaction as the state change.
 *
 * The sandbox connector answers in-process, so authorizations run inside
 * the request's transaction (a real provider will need the call outside it,
 * with the attempt recorded first).
 */

/* Whether @s is a tender type: card, mobile_wallet, cash, cheque,
 * bank_transfer, bank_draft (providers.c). */
bool pay_tender_valid(const char *s);

/*
 * What a create, update or confirm request asked for, as the API parsed
 * and range-checked it. A NULL pointer / false has_* flag means the client
 * did not send the field. Everything is borrowed for the call.
 */
struct pay_intent_params {
    bool has_amount;
    int64_t amount_minor; /* 1..PAY_AMOUNT_MAX_MINOR */
    const struct pay_currency *currency;
    const char *customer;       /* "cus_..." */
    const char *payment_method; /* "pm_..." or a Stripe test name */
    const char *capture_method; /* "automatic" | "manual" */
    bool has_description;
    const char *description; /* NULL with has_description: unset */
    const json_t *metadata;  /* merged; "" as a value unsets the key */
    bool metadata_clear;     /* metadata="": unset every key first */
    bool has_receipt_email;
    const char *receipt_email;      /* NULL with has_receipt_email: unset */
    const char *setup_future_usage; /* "on_session" | "off_session" | "" (unset) */
    const char *facility;
    const char *return_url; /* 3-D Secure: where the page sends the customer back */
    bool confirm;           /* create: confirm at once */
    bool off_session;       /* the customer is not present */
    /* create: "sandbox" (default) or "stripe" (needs op->stripe). With
     * "stripe", payment_method is the client's Stripe pm_... id, kept as the
     * provider's token and never resolved as a payd payment method. */
    const char *provider;
    /* An array of distinct tender types (card, mobile_wallet, cash, cheque,
     * bank_transfer, bank_draft), checked by the API. An intent without a
     * payment method pays with the one type it lists. */
    const json_t *payment_method_types;
};

/*
 * Create an intent (event payment_intent.created) and, with @p->confirm,
 * confirm it as pay_intent_confirm. A patient's op creates only for its own
 * customer (the default when @p->customer is NULL). *out gets the intent
 * (caller owns), also with PAY_ERR_CARD_DECLINED.
 * Errors: PAY_ERR_PARAM_MISSING (amount, currency), PAY_ERR_NOT_FOUND
 * (customer, payment_method), PAY_ERR_PARAM_INVALID, PAY_ERR_UNEXPECTED_STATE
 * (confirm without a payment method), the declines of pay_intent_confirm.
 */
enum pay_err pay_intent_create(struct pay_op *op, const struct pay_intent_params *p,
                               json_t **out) PAY_WUR;
/* The intent @id (in scope) or PAY_ERR_NOT_FOUND (param "intent"). */
enum pay_err pay_intent_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/*
 * Update @id. amount, currency, customer, payment_method, capture_method and
 * setup_future_usage only before an authorization (requires_payment_method,
 * requires_confirmation, requires_action: changing the amount or method
 * then drops a pending 3-D Secure step); description, metadata and
 * receipt_email always. Other changes: PAY_ERR_UNEXPECTED_STATE.
 */
enum pay_err pay_intent_update(struct pay_op *op, const char *id, const struct pay_intent_params *p,
                               json_t **out) PAY_WUR;
/*
 * Confirm @id (from requires_payment_method with a payment method given
 * now, requires_confirmation or requires_action): authorize with the
 * payment method's connector. Outcomes: succeeded (automatic capture,
 * ledger entry, payment_intent.succeeded), requires_capture
 * (payment_intent.amount_capturable_updated), requires_action with
 * next_action.redirect_to_url (payment_intent.requires_action), or a
 * decline: the intent goes back to requires_payment_method with
 * last_payment_error (payment_intent.payment_failed), those writes are
 * committed (pay_tx_commit_anyway), *out gets the intent and the return is
 * PAY_ERR_CARD_DECLINED with err->decline_code set and err->param
 * "payment_method"; last_payment_error.code holds Stripe's code
 * ("card_declined", "expired_card", "processing_error", ...).
 */
enum pay_err pay_intent_confirm(struct pay_op *op, const char *id,
                                const struct pay_intent_params *p, json_t **out) PAY_WUR;
/*
 * Capture @amount_minor (all of amount_capturable when !@has_amount) of a
 * requires_capture intent; the rest of the authorization is released.
 * PAY_ERR_AMOUNT_TOO_LARGE (param amount_to_capture) above
 * amount_capturable.
 */
enum pay_err pay_intent_capture(struct pay_op *op, const char *id, bool has_amount,
                                int64_t amount_minor, json_t **out) PAY_WUR;
/* Cancel @id (any non-terminal state; @reason may be NULL). */
enum pay_err pay_intent_cancel(struct pay_op *op, const char *id, const char *reason,
                               json_t **out) PAY_WUR;
/* A page of intents, newest first, filtered by @customer and @status (NULL = any). */
enum pay_err pay_intent_list(struct pay_op *op, const char *customer, const char *status,
                             const struct pay_list_args *args, json_t **data_out,
                             bool *has_more) PAY_WUR;
/* The same page as the stored JSON texts, comma-separated, appended to @out
 * (pay_tx_list_text): for a list answered without expanding anything. */
enum pay_err pay_intent_list_text(struct pay_op *op, const char *customer, const char *status,
                                  const struct pay_list_args *args, struct pay_buf *out,
                                  bool *has_more) PAY_WUR;
/*
 * The sandbox's 3-D Secure page: the intent @id when @client_secret is its
 * secret (compared in constant time), else PAY_ERR_NOT_FOUND. Ignores the
 * op's customer scope (the secret is the credential).
 */
enum pay_err pay_intent_by_secret(struct pay_op *op, const char *id, const char *client_secret,
                                  json_t **out) PAY_WUR;
/*
 * Finish the 3-D Secure challenge of a requires_action intent: @passed
 * authorizes again with the challenge completed (succeeded,
 * requires_capture, or a decline back to requires_payment_method);
 * !@passed returns it to requires_payment_method with last_payment_error
 * code "payment_intent_authentication_failure". Declines are not errors
 * here: the call returns PAY_OK and *out shows the outcome.
 * *return_url_out gets the return_url given at confirmation (malloc'd) or
 * NULL. PAY_ERR_NOT_FOUND as pay_intent_by_secret; PAY_ERR_UNEXPECTED_STATE
 * when the intent no longer waits for the challenge.
 */
enum pay_err pay_intent_3ds_finish(struct pay_op *op, const char *id, const char *client_secret,
                                   bool passed, json_t **out, char **return_url_out) PAY_WUR;

/* What a refund create request asked for (borrowed). */
struct pay_refund_params {
    const char *payment_intent;
    bool has_amount;
    int64_t amount_minor; /* default: all that is not yet refunded */
    const char *reason;   /* duplicate | fraudulent | requested_by_customer */
    const json_t *metadata;
};

/*
 * Refund part or all of a succeeded intent. The intent row is locked, so
 * concurrent refunds never sum above amount_received: a larger amount is
 * PAY_ERR_AMOUNT_TOO_LARGE (param amount). Writes the refund (succeeded at
 * once on the sandbox), the intent's amount_refunded, the ledger entry and
 * event refund.created. *out gets the refund (caller owns).
 */
enum pay_err pay_refund_create(struct pay_op *op, const struct pay_refund_params *p,
                               json_t **out) PAY_WUR;
/* The refund @id (in scope: a patient's own) or PAY_ERR_NOT_FOUND (param "id"). */
enum pay_err pay_refund_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* Merge @metadata into refund @id, after unsetting every key when @clear
 * (event refund.updated). */
enum pay_err pay_refund_update(struct pay_op *op, const char *id, const json_t *metadata,
                               bool clear, json_t **out) PAY_WUR;
/* Cancel a pending refund; any other status is PAY_ERR_UNEXPECTED_STATE. */
enum pay_err pay_refund_cancel(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* A page of refunds, newest first, optionally of one @payment_intent. */
enum pay_err pay_refund_list(struct pay_op *op, const char *payment_intent,
                             const struct pay_list_args *args, json_t **data_out,
                             bool *has_more) PAY_WUR;

/* ---- Provider calls (provider.c): intents routed to Stripe ------------- */

/*
 * Nothing calls a provider inside a database transaction (DESIGN.md). On an
 * intent whose connector is "stripe", confirm (and create with confirm),
 * capture, cancel and refund run in three steps:
 *   1. inside the request's transaction: lock the intent, record a
 *      provider_attempts row (its request bytes and Idempotency-Key
 *      "payd_<attempt id>"), move the intent to `processing` (a refund is
 *      created `pending`), and fill op->call; the operation returns PAY_OK
 *      with that state, which is committed;
 *   2. pay_provider_call_send, outside any transaction;
 *   3. pay_provider_apply in a new transaction: the outcome, exactly once.
 * An ambiguous outcome (PAY_CONN_UNKNOWN: a timeout) leaves the attempt
 * pending and the intent `processing`; pay_provider_settle later sends the
 * same request with the same key (or retrieves the Stripe intent once its id
 * is known), so Stripe answers with what it did: never a second charge.
 * While an attempt is pending, other operations on its intent are
 * PAY_ERR_UNEXPECTED_STATE.
 */
struct pay_provider_call {
    char attempt_id[PAY_ID_LEN_MAX + 1]; /* "" = no call to make */
    char operation[16];                  /* confirm, retrieve, capture, cancel, refund */
    struct pay_stripe_req req;           /* owned */
    /* Mobile money (mobile_money.h): the request-to-pay to send after the
     * commit ("" = none). */
    char momo_reference[40];
};
void pay_provider_call_release(struct pay_provider_call *c);
/* Send @c (blocking, no database). @res as pay_stripe_send. */
enum pay_err pay_provider_call_send(const struct pay_stripe_config *cfg,
                                    const struct pay_provider_call *c,
                                    struct pay_conn_result *res) PAY_WUR;
/*
 * Step 3, inside a write transaction (op->customer_scope is ignored: the
 * attempt was authorised in step 1). Applies @res to attempt @attempt_id's
 * intent or refund unless the attempt was settled already (then *out is
 * the current object, PAY_OK). *out gets the intent (confirm, capture,
 * cancel) or the refund. A decline: as pay_intent_confirm
 * (PAY_ERR_CARD_DECLINED, committed anyway); a refused capture or cancel:
 * PAY_ERR_PROVIDER, the intent back in its previous status (committed
 * anyway).
 */
enum pay_err pay_provider_apply(struct pay_op *op, const char *attempt_id,
                                const struct pay_conn_result *res, json_t **out) PAY_WUR;
/*
 * Settle up to @batch_max pending attempts created at or before
 * @created_before (unix seconds): send each again (same bytes, same key; a
 * GET of the Stripe intent once its id is known) and apply a definite
 * answer. *settled_out gets how many were applied. Runs its own
 * transactions; never hold one while calling it.
 */
enum pay_err pay_provider_settle(struct pay_store *s, const struct pay_stripe_config *cfg,
                                 int64_t created_before, int batch_max, int *settled_out) PAY_WUR;

/*
 * Check that every intent's amount_received equals minus its capture
 * entries on the merchant balance, its amount_refunded equals the sum of
 * its succeeded refunds, and each refund's amount equals its refund entry
 * on the merchant balance; report lines as pay_ledger_verify ("ok   ..." /
 * "FAIL ..."), *violations_out the number of offending objects. Returns an
 * error only when the store fails.
 */
enum pay_err pay_payments_verify(struct pay_tx *tx, struct pay_buf *report,
                                 int64_t *violations_out) PAY_WUR;

/* ---- Manual tenders: the verification queue and evidence (verifications.c) */

/*
 * Cash, cheque, bank transfer and bank draft payments, card payments the
 * risk rules hold for review, and payments through a card or wallet
 * provider configured with requires_manual_verification wait in the
 * verification queue until a second person decides (maker-checker). A
 * verification is kind "payment" (a manual tender in
 * requires_verification), "fraud_review" (an attempt held by the risk
 * rules), "provider_review" (an attempt held, before anything was sent,
 * because its provider requires manual verification) or "refund" (a
 * refund request of a manual tender, the refund `pending`); status
 * pending -> approved | rejected, or canceled when its intent is canceled
 * first. recorded_by is the principal
 * (op->actor) who recorded the payment or asked for the refund; the one who
 * decides must be another principal (else PAY_ERR_FORBIDDEN with error code
 * "maker_checker_violation"). Decisions:
 *   payment approved  -> intent succeeded, capture ledger entry
 *                        (assets:processor:manual), payment_intent.succeeded;
 *   payment rejected  -> intent requires_payment_method with
 *                        last_payment_error (code
 *                        "payment_method_provider_decline", decline_code
 *                        "verification_rejected"), payment_intent.payment_failed;
 *   provider_review approved -> the payment is routed again and sent (card
 *                        authorized/captured or declined on the intent,
 *                        wallet request, Stripe), never held a second time;
 *   provider_review rejected -> as payment rejected, nothing was charged;
 *   refund approved   -> refund succeeded, refund ledger entry, refund.updated;
 *   refund rejected   -> refund failed, the amount released from the
 *                        intent's amount_refunded, refund.updated.
 *   unapplied_refund approved -> the wallet request refunded, its reverse
 *                        ledger entry, mobile_money_request.refunded;
 *   unapplied_refund rejected -> nothing moves; the request stays unapplied.
 * Each decision appends verification.approved / verification.rejected
 * (opening: verification.created), without a customer (staff only).
 */
#define PAY_VERIFICATION_REASON_LEN_MAX 500
#define PAY_EVIDENCE_FILENAME_LEN_MAX 255

/* The verification @id or PAY_ERR_NOT_FOUND (param "id"). */
enum pay_err pay_verification_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* A page of verifications, newest first, filtered by each non-NULL value. */
struct pay_verification_filter {
    const char *status, *kind, *tender, *facility, *payment_intent;
};
enum pay_err pay_verification_list(struct pay_op *op, const struct pay_verification_filter *f,
                                   const struct pay_list_args *args, json_t **data_out,
                                   bool *has_more) PAY_WUR;
/*
 * Staff record paying back the unapplied money of mobile money request
 * @reference (succeeded_unapplied, mobile_money.h): a pending verification
 * of kind "unapplied_refund" (recorded by op->actor; tender mobile_wallet,
 * the request's amount and currency, its intent, mobile_money_request the
 * reference). Its approval by someone else marks the request refunded with
 * the reverse ledger entry; a rejection leaves it unapplied. Errors name
 * "reference": PAY_ERR_NOT_FOUND, PAY_ERR_UNEXPECTED_STATE (not unapplied,
 * or already waiting for approval). *out gets the verification.
 */
enum pay_err pay_verification_unapplied_refund(struct pay_op *op, const char *reference,
                                               json_t **out) PAY_WUR;
/*
 * Decide verification @id (pending, else PAY_ERR_UNEXPECTED_STATE) as
 * op->actor: approve (@reason optional) or reject (@reason required:
 * PAY_ERR_PARAM_MISSING "reason"). *out gets the verification.
 */
enum pay_err pay_verification_approve(struct pay_op *op, const char *id, const char *reason,
                                      json_t **out) PAY_WUR;
enum pay_err pay_verification_reject(struct pay_op *op, const char *id, const char *reason,
                                     json_t **out) PAY_WUR;

/* What an evidence upload carries (borrowed). */
struct pay_evidence_params {
    const char *payment_intent;
    const char *kind;         /* receipt_photo | cash_count | cheque_image | bank_slip */
    const char *filename;     /* as the client named it (may be NULL) */
    const char *content_type; /* as the client declared it (may be NULL) */
    const void *data;
    size_t len;
};
/*
 * Store evidence for intent @p->payment_intent (in scope) while a
 * verification of it is pending (else PAY_ERR_UNEXPECTED_STATE): the type
 * is read from the bytes (JPEG, PNG or PDF magic; anything else, an empty
 * file, or a declared Content-Type other than the one found is
 * PAY_ERR_PARAM_INVALID naming "file"), kept with its SHA-256 and linked
 * to the pending verification. *out gets the evidence object (metadata).
 */
enum pay_err pay_evidence_create(struct pay_op *op, const struct pay_evidence_params *p,
                                 json_t **out) PAY_WUR;
/* The evidence object @id or PAY_ERR_NOT_FOUND (param "id"). */
enum pay_err pay_evidence_get(struct pay_op *op, const char *id, json_t **out) PAY_WUR;
/* The bytes of evidence @id into @bytes (a pay_buf the caller initialised
 * and releases) and its object into *meta_out; PAY_ERR_INTERNAL when they
 * no longer match the stored SHA-256. */
enum pay_err pay_evidence_content(struct pay_op *op, const char *id, json_t **meta_out,
                                  struct pay_buf *bytes) PAY_WUR;

#endif

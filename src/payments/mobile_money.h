/*
 * mobile_money.h - payment intents paid by mobile money (momo_intents.c,
 * issue 6): the payer's wallet as a payment method, the request-to-pay
 * recorded before it is sent, and its outcome applied exactly once however
 * payd learns it (the request's own answer, the provider's callback, the
 * poller, the OTP step).
 *
 * Life of one attempt (an intent whose payment method is a mobile_wallet,
 * routed by pay_route_pick to a provider on the mobile_money connector):
 *   1. in the request's transaction (pay_momo_begin): a momo_requests row
 *      under a fresh UUIDv4 reference, status `sending`, with the provider's
 *      config and the payer's number sealed; the intent goes to
 *      requires_action with next_action.mobile_money_request (reference,
 *      provider, instructions, QR code, expiry); op->call->momo_reference
 *      names the request to send;
 *   2. after the commit (the API's continuation, or the poller for a
 *      request whose sending was interrupted): pay_momo_job_load (a read),
 *      pay_momo_job_send (network only), pay_momo_apply (a write);
 *   3. the outcome, from whichever source comes first, through
 *      pay_momo_apply: successful -> intent succeeded (capture entry with
 *      the provider's fee), failed -> requires_payment_method with
 *      last_payment_error (decline code from the reason, momo.h), provider
 *      down before accepting -> the next provider (fallback) or a decline.
 * The row's conditional UPDATE (WHERE status IN ('sending','pending')),
 * made under the intent's row lock, is what makes the outcome apply once.
 *
 * Threading: the pay_op functions run in the caller's transaction;
 * pay_momo_job_send/_status/_otp block on the network and must run outside
 * any; pay_momo_poll runs its own transactions.
 */
#ifndef PAY_MOBILE_MONEY_H
#define PAY_MOBILE_MONEY_H

#include "../connectors/momo.h"
#include "payments.h"

#define PAY_MOMO_SEAL_LABEL "payd momo request v1"
/* The payer's number in a mobile_wallet payment method's token. */
#define PAY_MOMO_WALLET_SEAL_LABEL "payd wallet number v1"
/* A request not settled this long after it was made is failed as EXPIRED
 * by payd itself (connector_config[expires_in_s] overrides, 60..86400). */
#define PAY_MOMO_EXPIRES_IN_S_DEFAULT 600
/*
 * A request payd itself gave up on at its expiry (the intent's attempt failed
 * as EXPIRED, or a canceling one canceled as EXPIRED) may still be approved
 * at the wallet, which has its own clock: payd keeps its sealed config and
 * keeps asking about it (never sending it again), and takes its callbacks,
 * until the wallet gives a final answer or for this long past expires_at.
 * Paid in that time, it becomes succeeded_unapplied (never the intent's).
 */
#define PAY_MOMO_LATE_WATCH_S 86400
/* Asked about every tenth of the time since its expiry, between
 * PAY_MOMO_POLL_EVERY_S and this (about 300 looks over the whole watch). */
#define PAY_MOMO_LATE_POLL_MAX_S 300
/* How long after its last look the poller asks about a request again. */
#define PAY_MOMO_POLL_EVERY_S 2
/* A request still `sending` this long after it was recorded (payd stopped
 * between the commit and the send, the send timed out, or the request was
 * made where no call could follow) is sent again under the same reference:
 * a wallet that has it answers 409, and it is then asked about. */
#define PAY_MOMO_RESEND_AFTER_S 3
/* Fallback: at most this many providers tried for one attempt. */
#define PAY_MOMO_FALLBACKS_MAX 8
/* GET /v1/mobile_money_requests answers at most this many, newest first. */
#define PAY_MOMO_LIST_MAX 100

/*
 * Create an unattached payment method of type mobile_wallet for @phone
 * (spaces, dashes, dots and parentheses and one leading '+' are dropped;
 * then PAY_MOMO_MSISDN_LEN_MIN..MAX digits, else PAY_ERR_PARAM_INVALID
 * naming @param). The object shows mobile_wallet.phone_last4 only; the
 * number is the method's token, sealed with op->fingerprint_key (label
 * PAY_MOMO_WALLET_SEAL_LABEL, the method's id as additional data), never
 * shown or logged. Event payment_method.created is not sent (Stripe sends
 * none for payment_method_data either). *pm_id_out gets the id.
 */
enum pay_err pay_momo_pm_create(struct pay_op *op, const char *phone, const char *param,
                                char pm_id_out[PAY_ID_LEN_MAX + 1]) PAY_WUR;

/*
 * Seal, under @server_key, the wallet numbers that an older payd stored in
 * clear in mobile_wallet payment methods' tokens (read as they are until
 * then), in transactions of its own; *resealed_out gets how many. Nothing
 * without a server key. `payd serve` runs it at start.
 */
enum pay_err pay_momo_wallets_reseal(struct pay_store *s, const char *server_key,
                                     int64_t *resealed_out) PAY_WUR;

/* One request, as the network steps need it (owned; release it). */
struct pay_momo_job {
    char reference[PAY_MOMO_REF_LEN];
    char intent[PAY_ID_LEN_MAX + 1];
    char provider[64];
    char status[24]; /* sending | pending | canceling | succeeded | succeeded_unapplied |
                        refunded | failed | canceled */
    bool otp;
    bool
        late; /* failed or canceled as EXPIRED by payd, still asked about (PAY_MOMO_LATE_WATCH_S) */
    int64_t amount_minor;
    char currency[4];
    int64_t created, expires_at;
    json_t *config; /* connector config + credentials + payer (unsealed; wiped on release) */
    char callback_url[1024];
};
void pay_momo_job_release(struct pay_momo_job *j);

/*
 * Load request @reference (no customer scope) and unseal its config with
 * op->fingerprint_key; the callback URL is built from op->public_url.
 * PAY_ERR_NOT_FOUND (param "reference") when absent.
 */
enum pay_err pay_momo_job_load(struct pay_op *op, const char *reference,
                               struct pay_momo_job *out) PAY_WUR;
/* Send the request-to-pay (again), ask its status, or submit an OTP:
 * network only, @res as momo.h. PAY_ERR_PROVIDER when the stored config is
 * unusable (res->state REFUSED then). */
enum pay_err pay_momo_job_send(const struct pay_momo_job *j, struct pay_momo_result *res) PAY_WUR;
enum pay_err pay_momo_job_status(const struct pay_momo_job *j, struct pay_momo_result *res) PAY_WUR;
enum pay_err pay_momo_job_otp(const struct pay_momo_job *j, const char *otp,
                              struct pay_momo_result *res) PAY_WUR;

/*
 * Apply what @source ("request", "callback", "poll", "otp") learnt about
 * request @reference (op's customer scope ignored). Exactly once: a request
 * already settled changes nothing. One whose intent no longer waits for it
 * (canceling) never changes the intent: paid, it becomes
 * succeeded_unapplied with one ledger entry (Dr assets:processor:
 * mobile_money / Cr liabilities:unapplied_receipts:mobile_money, source the
 * reference, no balance transaction) and the event
 * mobile_money_request.unapplied; failed, canceled; else it is asked about
 * again. Past its expiry with no final answer, payd fails it itself (reason
 * EXPIRED: the intent's attempt fails, or a canceling request is canceled)
 * but keeps asking for PAY_MOMO_LATE_WATCH_S more: paid in that time, it
 * becomes succeeded_unapplied as above (never booked to the intent); failed
 * by the wallet or past that bound, it stays as it is and is no longer
 * asked about.
 * *intent_out (may be NULL) gets the intent; @next_reference (may be NULL)
 * gets the reference of a new request to send when the provider was down
 * and the next one took over (else ""). A decline recorded on the intent
 * returns PAY_ERR_CARD_DECLINED (committed anyway).
 */
enum pay_err pay_momo_apply(struct pay_op *op, const char *reference, const char *source,
                            const struct pay_momo_result *res,
                            char next_reference[PAY_MOMO_REF_LEN], json_t **intent_out) PAY_WUR;

/*
 * An inbound callback for @reference with signature @sig (the hex
 * HMAC-SHA256 payd put in the callback URL, under the provider's
 * credentials[callback_secret] or else the server key) and the provider's
 * @body: verified, parsed with the request's profile, checked against the
 * request (external id, amount, currency when present), then applied as
 * source "callback". A bad signature or unknown reference is
 * PAY_ERR_NOT_FOUND; a body that contradicts the request
 * PAY_ERR_PARAM_INVALID.
 */
enum pay_err pay_momo_callback(struct pay_op *op, const char *reference, const char *sig,
                               const char *body, size_t len) PAY_WUR;

/*
 * The open request of intent @intent_id (in op's scope) that waits for an
 * OTP: PAY_ERR_NOT_FOUND (param "intent"), PAY_ERR_UNEXPECTED_STATE when
 * the intent is not in requires_action with a mobile money request, or its
 * wallet confirms on the handset (param "otp").
 */
enum pay_err pay_momo_otp_request(struct pay_op *op, const char *intent_id,
                                  char reference_out[PAY_MOMO_REF_LEN]) PAY_WUR;

/*
 * The requests of intent @intent_id (in op's scope, else PAY_ERR_NOT_FOUND
 * naming "payment_intent"; NULL = every intent's, refused with
 * PAY_ERR_PARAM_MISSING for a customer-scoped op) with status @status (NULL
 * = any), the newest PAY_MOMO_LIST_MAX first (older than request
 * @starting_after when given: a reference, else 400 naming it; *has_more
 * tells whether older ones remain), as mobile_money_request
 * objects (reference as id, payment_intent, provider, wallet, amount,
 * status, failure_reason, financial_transaction_id, settled_by, ...; never
 * the payer's number). *data_out gets the array (caller owns).
 */
enum pay_err pay_momo_request_list(struct pay_op *op, const char *intent_id, const char *status,
                                   const char *starting_after, json_t **data_out,
                                   bool *has_more) PAY_WUR;

/*
 * Paying back unapplied money (a maker-checker refund, verification kind
 * unapplied_refund, verifications.c): request @reference (op's customer
 * scope ignored) as a mobile_money_request object in *out (caller owns),
 * when it is succeeded_unapplied; else PAY_ERR_NOT_FOUND or
 * PAY_ERR_UNEXPECTED_STATE, both naming "reference".
 */
enum pay_err pay_momo_unapplied_get(struct pay_op *op, const char *reference, json_t **out) PAY_WUR;
/*
 * A second person approved paying back request @reference: it becomes
 * `refunded` (conditional UPDATE, so once: else PAY_ERR_UNEXPECTED_STATE
 * "reference"), with the reverse of its unapplied_receipt entry (kind
 * unapplied_refund, source the reference: Dr liabilities:unapplied_receipts:
 * mobile_money / Cr assets:processor:mobile_money) and the event
 * mobile_money_request.refunded for @customer (may be NULL), in the
 * caller's transaction. *out gets the request object (caller owns).
 */
enum pay_err pay_momo_unapplied_refunded(struct pay_op *op, const char *reference,
                                         const char *customer, json_t **out) PAY_WUR;

/* Intent @intent is canceled: its open requests become canceling (still
 * asked about, never sent; see pay_momo_apply). */
enum pay_err pay_momo_cancel_for_intent(struct pay_op *op, const char *intent) PAY_WUR;

/*
 * The poller: up to @batch_max open requests whose next look is due: ask
 * the provider (a `sending` one not known to it is sent again), fail those
 * past their expiry, apply what is learnt. @server_key and @public_url as
 * the server's. *settled_out gets how many were settled. Runs its own
 * transactions.
 */
enum pay_err pay_momo_poll(struct pay_store *s, const char *server_key, const char *public_url,
                           int batch_max, int *settled_out) PAY_WUR;

#endif

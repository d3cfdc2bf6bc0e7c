/*
 * connectors.h - one interface to every provider that moves money
 * (DESIGN.md section 7): authorize, capture, cancel, refund, status. One
 * implementation per provider; this issue has the built-in `sandbox`,
 * which behaves like Stripe's test mode (PROTOCOLS.md's test-card table).
 *
 * Card numbers and CVCs enter only pay_card_tokenize and never leave it:
 * what comes out is brand, last4, expiry, a keyed fingerprint and the
 * provider's token.
 *
 * Connectors do no database work. Threading: stateless, any thread.
 */
#ifndef PAY_CONNECTORS_H
#define PAY_CONNECTORS_H

#include "../core/core.h"

/* What payd may keep about a card. */
struct pay_card_info {
    char brand[16]; /* "visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay",
                       "unknown" */
    char last4[5];
    int exp_month;        /* 1..12 */
    int exp_year;         /* four digits */
    char fingerprint[24]; /* keyed hash of the number: equal numbers, equal fingerprints */
    char funding[8];      /* "credit", "debit", "prepaid", "unknown" */
    char country[3];      /* "US"; "" when unknown */
    char cvc_check[12];   /* "pass" (a well-formed CVC was given), "unchecked" (a test
                           * name), "" (none given: JSON null) */
};

/* The provider's token for a card, e.g. the sandbox's "tok_sandbox_<scenario>". */
#define PAY_TOKEN_LEN_MAX 64

/*
 * Validate raw card data and tokenize it with the sandbox: Luhn check
 * (failure: PAY_ERR_CARD_ERROR with decline_code "incorrect_number", param
 * "card[number]"; characters other than digits, spaces and dashes, or a
 * length the brand does not have: "invalid_number"), expiry (month 1..12,
 * not in the past at @now: code "invalid_expiry_month"/"invalid_expiry_year",
 * param "card[exp_month]"/"card[exp_year]"; a two-digit year means 20YY),
 * CVC 3-4 digits ("invalid_cvc", param "card[cvc]"; NULL or "" = none
 * given). The brand comes from the IIN (4 visa; 51-55, 2221-2720
 * mastercard; 34, 37 amex; 6011, 644-649, 65 discover; 3528-3589 jcb; 36,
 * 300-305, 38-39 diners; 62 unionpay; else "unknown"). The fingerprint is
 * the first 16 base62 digits of HMAC-SHA256(@fingerprint_key, digits)
 * (NULL key = empty key). The token is "tok_sandbox_<scenario>" with the
 * number's scenario from PROTOCOLS.md's test-card table ("success" for any
 * other valid number). @number and @cvc are borrowed and never copied
 * anywhere outside this call's stack, which is wiped before returning.
 */
enum pay_err pay_card_tokenize(const char *number, int exp_month, int exp_year, const char *cvc,
                               const char *fingerprint_key, int64_t now,
                               struct pay_card_info *info_out, char token_out[PAY_TOKEN_LEN_MAX],
                               struct pay_error *err) PAY_WUR;
/*
 * Check a card expiry at @now: month 1..12, year four digits or two (20YY,
 * written back to *@exp_year), not before the current month, at most 50
 * years ahead. Failures are PAY_ERR_CARD_ERROR with decline_code
 * "invalid_expiry_month" / "invalid_expiry_year" and param
 * "card[exp_month]" / "card[exp_year]", as pay_card_tokenize reports them.
 */
enum pay_err pay_card_expiry_check(int exp_month, int *exp_year, int64_t now,
                                   struct pay_error *err) PAY_WUR;

/*
 * The test payment methods and tokens of Stripe's docs (pm_card_visa,
 * pm_card_visa_debit, pm_card_mastercard, pm_card_amex, pm_card_discover,
 * pm_card_chargeDeclined, pm_card_chargeDeclined{InsufficientFunds,
 * LostCard,StolenCard,ExpiredCard,IncorrectCvc,ProcessingError,Fraudulent},
 * pm_card_threeDSecure2Required, pm_card_threeDSecureRequired,
 * pm_card_authenticationRequired, and tok_<x> for each pm_card_<x>: tok_visa,
 * tok_mastercard, tok_chargeDeclined, ...), tokenized as their card numbers
 * with expiry December of next year. PAY_ERR_NOT_FOUND when @name is not one.
 */
enum pay_err pay_card_test_token(const char *name, const char *fingerprint_key, int64_t now,
                                 struct pay_card_info *info_out,
                                 char token_out[PAY_TOKEN_LEN_MAX]) PAY_WUR;

enum pay_conn_status {
    PAY_CONN_SUCCEEDED,       /* authorized (and captured when asked) */
    PAY_CONN_REQUIRES_ACTION, /* customer must complete 3-D Secure first */
    PAY_CONN_PROCESSING,      /* asynchronous: the outcome comes later */
    PAY_CONN_DECLINED,        /* card_error: code + decline_code */
    PAY_CONN_FAILED,          /* provider error; safe to retry later */
    /* Appended for the stripe connector (values are never renumbered): */
    PAY_CONN_UNKNOWN,          /* ambiguous: timeout or retries exhausted; the provider
                                * may or may not have acted. Settle by asking again with
                                * the same idempotency key, never by a new charge. */
    PAY_CONN_REQUIRES_CAPTURE, /* authorized, waits for a capture (capture_method manual) */
    PAY_CONN_CANCELED,         /* the provider's object is canceled */
};

struct pay_conn_request {
    const char *token; /* the payment method's provider token */
    int64_t amount_minor;
    const char *currency;
    const char *reference;   /* payd's intent id, sent as metadata/reference */
    bool three_ds_completed; /* the 3-D Secure challenge was passed */
    bool off_session;        /* setup_future_usage=off_session or a saved-card charge */
};

struct pay_conn_result {
    enum pay_conn_status status;
    char provider_ref[64]; /* the provider's id of the authorization */
    char code[48]; /* Stripe error code: "card_declined", "expired_card", "processing_error" */
    char decline_code[48]; /* "generic_decline", "insufficient_funds", ... */
    char message[PAY_ERROR_MESSAGE_MAX];
    /* Filled by the stripe connector (zero/"" from the sandbox): */
    char redirect_url[1024]; /* requires_action: next_action.redirect_to_url.url */
    int http_status;         /* last HTTP status seen (0: no answer) */
    int attempts;            /* HTTP requests made for this operation */
};

/*
 * Every operation returns PAY_OK when the provider answered, whatever it
 * answered (a decline is PAY_OK with res->status PAY_CONN_DECLINED and
 * res->code / decline_code / message as Stripe's); an error code only when
 * the call could not be made or its input was invalid (a token or
 * provider_ref the connector never issued: PAY_ERR_PARAM_INVALID; an amount
 * outside 0..PAY_AMOUNT_MAX_MINOR: PAY_ERR_AMOUNT_INVALID). @res is always
 * fully written.
 */
struct pay_connector {
    const char *name; /* "sandbox" */
    /* Authorize @req->amount_minor (hold funds). */
    enum pay_err (*authorize)(const struct pay_conn_request *req, struct pay_conn_result *res);
    /* Capture @amount_minor (<= authorized) of a prior authorization. */
    enum pay_err (*capture)(const char *provider_ref, int64_t amount_minor,
                            struct pay_conn_result *res);
    /* Release an authorization. */
    enum pay_err (*cancel)(const char *provider_ref, struct pay_conn_result *res);
    /* Refund @amount_minor of a captured payment. */
    enum pay_err (*refund)(const char *provider_ref, int64_t amount_minor,
                           struct pay_conn_result *res);
    /*
     * Check a card before it is saved to a customer (Stripe's attach runs
     * one): PAY_CONN_SUCCEEDED, or PAY_CONN_DECLINED for cards that decline
     * every charge. NULL when the provider has no such check. The sandbox
     * does no I/O here, so it may be called inside a transaction.
     */
    enum pay_err (*verify)(const char *token, struct pay_conn_result *res);
};

/* ---- Stripe (stripe.c): payd as a client of Stripe's HTTP API --------- */

/*
 * One Stripe account, from payd serve's options. Borrowed strings; the
 * secret key is never logged. NULL secret_key = Stripe not configured.
 */
struct pay_stripe_config {
    const char *secret_key;  /* sk_test_... / sk_live_... */
    const char *base_url;    /* "https://api.stripe.com" (no trailing slash needed) */
    const char *api_version; /* sent as Stripe-Version, e.g. "2024-06-20" */
    long connect_timeout_ms; /* per HTTP request */
    long timeout_ms;         /* per HTTP request, total */
    int retries;             /* extra attempts after the first (0..PAY_STRIPE_RETRIES_MAX) */
    long backoff_ms;         /* first backoff; doubles each retry, capped at 2 s */
};
#define PAY_STRIPE_RETRIES_MAX 5
#define PAY_STRIPE_IDEM_KEY_LEN_MAX 80

/*
 * A Stripe request payd may have to send again (settling an ambiguous
 * outcome): method, path and form body exactly as first sent, and the
 * Idempotency-Key, so that Stripe answers a repeat with its stored result
 * rather than acting twice. Built by pay_stripe_build_*; owned strings,
 * released with pay_stripe_req_release.
 */
struct pay_stripe_req {
    char method[8]; /* "POST" | "GET" */
    char *path;     /* "/v1/payment_intents" */
    char *body;     /* form-encoded, "" for GET */
    char idempotency_key[PAY_STRIPE_IDEM_KEY_LEN_MAX];
};
void pay_stripe_req_release(struct pay_stripe_req *r);

/* What a create+confirm sends (borrowed). */
struct pay_stripe_intent_params {
    int64_t amount_minor;
    const char *currency;       /* ISO code, any case: sent lowercase */
    const char *payment_method; /* the client's pm_... id: no card data passes through payd */
    bool capture_manual;        /* capture_method=manual */
    const char *reference;      /* payd's intent id: metadata[payd_intent] */
    const char *return_url;     /* NULL: not sent */
    bool off_session;
};

/*
 * Build a request (no I/O). @idem_key is payd's own ("payd_<attempt id>").
 * Errors: PAY_ERR_NOMEM; PAY_ERR_PARAM_INVALID for an id that is not
 * URL-safe.
 */
enum pay_err pay_stripe_build_create(const struct pay_stripe_intent_params *p, const char *idem_key,
                                     struct pay_stripe_req *out) PAY_WUR;
enum pay_err pay_stripe_build_capture(const char *stripe_pi, int64_t amount_minor,
                                      const char *idem_key, struct pay_stripe_req *out) PAY_WUR;
enum pay_err pay_stripe_build_cancel(const char *stripe_pi, const char *idem_key,
                                     struct pay_stripe_req *out) PAY_WUR;
enum pay_err pay_stripe_build_refund(const char *stripe_pi, int64_t amount_minor,
                                     const char *idem_key, struct pay_stripe_req *out) PAY_WUR;
enum pay_err pay_stripe_build_retrieve(const char *stripe_pi, struct pay_stripe_req *out) PAY_WUR;

/*
 * Send @r to Stripe per @cfg (Authorization: Bearer, Stripe-Version,
 * Idempotency-Key), retrying with exponential backoff on network errors,
 * 409, 429 and 5xx with the same key, and map the answer into @res:
 *   payment_intent: succeeded / requires_capture / requires_action (+
 *   redirect_url) / processing / requires_payment_method (DECLINED with
 *   last_payment_error's code, decline_code, message) / canceled;
 *   refund: succeeded / pending (PROCESSING) / failed (DECLINED);
 *   an error body of type card_error: DECLINED with code, decline_code,
 *   message; other 4xx: FAILED with Stripe's message;
 *   a timeout or retries exhausted: UNKNOWN.
 * res->provider_ref gets the object's id (pi_... or re_...). Returns PAY_OK
 * whenever @res says what happened; PAY_ERR_PARAM_INVALID when @cfg is not
 * configured. Blocking; call it outside any database transaction.
 */
enum pay_err pay_stripe_send(const struct pay_stripe_config *cfg, const struct pay_stripe_req *r,
                             struct pay_conn_result *res) PAY_WUR;

/*
 * The mapping pay_stripe_send applies to one complete HTTP answer: @http
 * and the @len bytes of @body (any bytes, not NUL-terminated; NULL = none)
 * into @res as described above (sets http_status; writes status,
 * provider_ref, code, decline_code, message, redirect_url as the answer
 * says). Returns false, having set only http_status, for an answer to
 * retry (409, 429, 5xx). Pure: no I/O, no logging (fuzz/stripe_answer.c).
 */
bool pay_stripe_parse_answer(long http, const char *body, size_t len, struct pay_conn_result *res);

/* The connector named @name, or NULL. */
const struct pay_connector *pay_connector_find(const char *name);

/*
 * The sandbox's scenarios (PROTOCOLS.md's test-card table), by the name a
 * "tok_sandbox_<name>" token carries:
 *   success                  4242 4242 4242 4242, 5555 5555 5555 4444, 3782 822463 10005, others
 *   generic_decline          4000 0000 0000 0002  card_declined / generic_decline
 *   insufficient_funds       4000 0000 0000 9995  card_declined / insufficient_funds
 *   lost_card                4000 0000 0000 9987  card_declined / lost_card
 *   stolen_card              4000 0000 0000 9979  card_declined / stolen_card
 *   expired_card             4000 0000 0000 0069  expired_card
 *   incorrect_cvc            4000 0000 0000 0127  incorrect_cvc
 *   processing_error         4000 0000 0000 0119  processing_error
 *   fraudulent               4100 0000 0000 0019  card_declined / fraudulent
 *   dispute                  4000 0000 0000 0259  succeeds; disputed later
 *   charge_fails             4000 0000 0000 0341  saving to a customer works, charges decline
 *   3ds_required             4000 0027 6000 3184 (also ...3220, ...3063)
 *   3ds_unless_off_session   4000 0025 0000 3155
 *   3ds_then_insufficient    4000 0082 6000 3178
 *   3ds_then_decline         4000 0084 0000 1629
 */
#define PAY_SANDBOX_TOKEN_PREFIX "tok_sandbox_"

/* The scenario name a sandbox token carries (a static string), or NULL when
 * @token is not a sandbox token of a known scenario. */
const char *pay_sandbox_scenario(const char *token);

#endif

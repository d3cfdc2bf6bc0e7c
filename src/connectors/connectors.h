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
    char brand[16];       /* "visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "unknown" */
    char last4[5];
    int exp_month;        /* 1..12 */
    int exp_year;         /* four digits */
    char fingerprint[24]; /* keyed hash of the number: equal numbers, equal fingerprints */
    char funding[8];      /* "credit", "debit", "prepaid", "unknown" */
    char country[3];      /* "US" */
};

/* The provider's token for a card, e.g. the sandbox's "tok_sandbox_<scenario>". */
#define PAY_TOKEN_LEN_MAX 64

/*
 * Validate raw card data and tokenize it with the sandbox: Luhn check
 * (failure: PAY_ERR_CARD_ERROR with decline_code "incorrect_number", param
 * "card[number]"), expiry (month 1..12, not in the past at @now: code
 * "invalid_expiry_month"/"invalid_expiry_year"), CVC 3-4 digits
 * ("invalid_cvc"). @fingerprint_key keys the fingerprint HMAC. @number and
 * @cvc are borrowed and never copied anywhere.
 */
enum pay_err pay_card_tokenize(const char *number, int exp_month, int exp_year, const char *cvc,
                               const char *fingerprint_key, int64_t now,
                               struct pay_card_info *info_out, char token_out[PAY_TOKEN_LEN_MAX],
                               struct pay_error *err) PAY_WUR;
/*
 * The test payment methods and tokens of Stripe's docs (pm_card_visa,
 * pm_card_mastercard, pm_card_amex, pm_card_chargeDeclined,
 * pm_card_chargeDeclinedInsufficientFunds, pm_card_threeDSecure2Required,
 * tok_visa, tok_mastercard, ...). PAY_ERR_NOT_FOUND when @name is not one.
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
};

struct pay_conn_request {
    const char *token;        /* the payment method's provider token */
    int64_t amount_minor;
    const char *currency;
    const char *reference;    /* payd's intent id, sent as metadata/reference */
    bool three_ds_completed;  /* the 3-D Secure challenge was passed */
    bool off_session;         /* setup_future_usage=off_session or a saved-card charge */
};

struct pay_conn_result {
    enum pay_conn_status status;
    char provider_ref[64]; /* the provider's id of the authorization */
    char code[48];         /* Stripe error code: "card_declined", "expired_card", "processing_error" */
    char decline_code[48]; /* "generic_decline", "insufficient_funds", ... */
    char message[PAY_ERROR_MESSAGE_MAX];
};

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
};

/* The connector named @name, or NULL. */
const struct pay_connector *pay_connector_find(const char *name);

#endif

/*
 * momo.h - the `mobile_money` connector: payd as a client of the MTN MoMo
 * collection API (PROTOCOLS.md, "MTN MoMo collection"): an access token by
 * Basic auth + subscription key (cached until it expires), request-to-pay
 * under a fresh UUIDv4 X-Reference-Id, the status of a request, the callback
 * body, and an OTP step for wallets where the payer confirms with a code.
 *
 * Zain Cash, Sudani Cash and Bankak are *profiles* of the same connector:
 * the protocol's shape is MTN's, only the endpoints, the header names and
 * the JSON field names differ (struct pay_momo_profile). The simulator
 * (src/sim/, `payd sim momo`) speaks every profile.
 *
 * Money: amounts travel as decimal strings made from int64 minor units and
 * the currency's ISO 4217 exponent (pay_amount_format), never from a float.
 *
 * Secrets (api key, subscription key, tokens, OTPs) go only into request
 * headers or bodies, never into logs or error messages. Payer numbers are
 * logged as their last four digits only.
 *
 * Threading: any thread. The token cache is process-wide, guarded by a
 * mutex. Every call blocks on the network: never call one inside a
 * database transaction.
 */
#ifndef PAY_MOMO_H
#define PAY_MOMO_H

#include "connectors.h"

/* A UUID in its 36-character text form, plus the NUL. */
#define PAY_MOMO_REF_LEN 37
/* Wallet numbers (MSISDN, digits only, E.164 without '+'): 6..15 digits. */
#define PAY_MOMO_MSISDN_LEN_MIN 6
#define PAY_MOMO_MSISDN_LEN_MAX 15
/* OTPs: 4..8 digits. */
#define PAY_MOMO_OTP_LEN_MIN 4
#define PAY_MOMO_OTP_LEN_MAX 8
/* Provider answers are small; anything bigger is refused unread. */
#define PAY_MOMO_RESPONSE_BYTES_MAX (64 * 1024)
/* Tokens are refreshed this long before the provider says they expire. */
#define PAY_MOMO_TOKEN_MARGIN_S 60

/*
 * What differs between the wallets: endpoints, header and field names, and
 * the words of the status field. Every string is constant.
 */
struct pay_momo_profile {
    const char *name;         /* "mtn_momo", "zain_cash", "sudani_cash", "bankak" */
    const char *display_name; /* "MTN Mobile Money" */
    /* Endpoints, below the configured base URL. The status and OTP paths
     * get "/<reference>" appended. */
    const char *token_path;
    const char *request_path;
    const char *status_path;
    const char *otp_path; /* NULL: the payer approves on the handset */
    /* Headers. */
    const char *subscription_header; /* "Ocp-Apim-Subscription-Key" */
    const char *reference_header;    /* "X-Reference-Id" */
    const char *environment_header;  /* "X-Target-Environment" */
    const char *callback_header;     /* "X-Callback-Url" */
    /* Request body fields. payer_object NULL: the party id is a top-level
     * field; party_id_type NULL: no type field is sent. */
    const char *f_amount;
    const char *f_currency;
    const char *f_external_id;
    const char *f_payer_object;
    const char *f_party_id_type;
    const char *f_party_id;
    const char *f_payer_message;
    const char *f_payee_note;
    /* Answer fields. */
    const char *f_access_token;
    const char *f_expires_in;
    const char *f_status;
    const char *f_reason;
    const char *f_financial_id;
    const char *f_otp; /* the OTP request's body field */
    /* The words of f_status. */
    const char *st_successful;
    const char *st_pending;
    const char *st_failed;
    /* The instructions shown to the payer (next_action). */
    const char *instructions;
};

/* The profile named @name, or NULL. */
const struct pay_momo_profile *pay_momo_profile_find(const char *name);
/* Every profile; *n_out gets how many. */
const struct pay_momo_profile *pay_momo_profiles(size_t *n_out);

/* One provider account (borrowed strings). */
struct pay_momo_config {
    const struct pay_momo_profile *profile;
    const char *base_url;           /* "https://sandbox.momodeveloper.mtn.com" */
    const char *api_user;           /* Basic auth user (MTN: a UUID) */
    const char *api_key;            /* Basic auth password: secret */
    const char *subscription_key;   /* secret */
    const char *target_environment; /* "sandbox", "mtnuganda", ... */
    long connect_timeout_ms;        /* per HTTP request; 0 = 5000 */
    long timeout_ms;                /* per HTTP request, total; 0 = 15000 */
};

/* What a request-to-pay asks for (borrowed). */
struct pay_momo_rtp {
    int64_t amount_minor;
    const struct pay_currency *currency;
    const char *external_id;   /* payd's intent id */
    const char *payer_msisdn;  /* digits only */
    const char *payer_message; /* shown to the payer; may be NULL */
    const char *payee_note;    /* may be NULL */
    const char *callback_url;  /* X-Callback-Url; NULL: not sent */
};

enum pay_momo_state {
    PAY_MOMO_PENDING,     /* accepted, waiting for the payer (request-to-pay: 202) */
    PAY_MOMO_SUCCESSFUL,  /* the money moved */
    PAY_MOMO_FAILED,      /* a definite failure: reason says why */
    PAY_MOMO_UNAVAILABLE, /* not accepted, and nothing happened: connection refused,
                           * 5xx before acceptance. Safe to try another provider. */
    PAY_MOMO_REFUSED,     /* the provider refused the request (4xx): reason / http_status */
    PAY_MOMO_UNKNOWN,     /* ambiguous (a timeout, an unreadable answer): ask again
                           * by the same reference, never send a new one */
    PAY_MOMO_NOT_FOUND,   /* status: the provider knows no such reference (404) */
};

struct pay_momo_result {
    enum pay_momo_state state;
    char reason[40];       /* PAYER_NOT_FOUND, ..., RESOURCE_ALREADY_EXIST, OTP_INVALID */
    char financial_id[64]; /* the provider's transaction id once successful */
    char external_id[64];  /* as the provider echoes it */
    char amount[32];       /* as the provider echoes it ("" when absent) */
    char currency[8];
    int http_status; /* last HTTP status (0: no answer) */
    char message[PAY_ERROR_MESSAGE_MAX];
};

/* Short name of @s: "pending", "successful", ... */
const char *pay_momo_state_name(enum pay_momo_state s);

/* A fresh random UUID version 4 (RFC 9562), lower case. */
void pay_momo_uuid4(char out[PAY_MOMO_REF_LEN]);
/* True when @s is a UUID of version 4 and the RFC variant, either case. */
bool pay_momo_uuid4_valid(const char *s);
/* True when @s is an MSISDN payd sends: PAY_MOMO_MSISDN_LEN_MIN..MAX digits. */
bool pay_momo_msisdn_valid(const char *s);

/*
 * Build the JSON body of a request-to-pay for @profile (no I/O): amount as a
 * decimal string of the currency's major unit. *out_body is malloc'd.
 * PAY_ERR_PARAM_INVALID naming the field (amount, currency, payer) when the
 * input cannot be sent.
 */
enum pay_err pay_momo_build_rtp(const struct pay_momo_profile *profile,
                                const struct pay_momo_rtp *rtp, char **out_body,
                                struct pay_error *err) PAY_WUR;

/*
 * Parse a status answer or a callback body of @profile (@body need not be
 * NUL-terminated) into @res: state (PENDING / SUCCESSFUL / FAILED; UNKNOWN
 * for anything else or malformed JSON), reason, financial id, external id,
 * amount, currency; strings are truncated to their fields. Never fails;
 * res->message says what was wrong with a malformed body. This is the
 * parser the fuzz target fuzz/momo_status.c drives.
 */
void pay_momo_parse_status(const struct pay_momo_profile *profile, const char *body, size_t len,
                           struct pay_momo_result *res);

/*
 * Send a request-to-pay under @reference (a UUIDv4 the caller generated and
 * recorded first). 202: PENDING. 409: REFUSED with reason
 * RESOURCE_ALREADY_EXIST (the reference was used: ask its status). Other
 * 4xx: REFUSED. 5xx, connection refused, DNS failure: UNAVAILABLE. A
 * timeout or a broken connection after sending: UNKNOWN. A 401 gets one new
 * token and one retry. Returns PAY_OK whenever @res says what happened;
 * PAY_ERR_PARAM_INVALID (with @err) when the config or input is unusable.
 */
enum pay_err pay_momo_request_to_pay(const struct pay_momo_config *cfg,
                                     const struct pay_momo_rtp *rtp, const char *reference,
                                     struct pay_momo_result *res, struct pay_error *err) PAY_WUR;

/* GET the status of @reference: PENDING / SUCCESSFUL / FAILED, NOT_FOUND
 * (404), UNAVAILABLE / UNKNOWN when the provider could not answer. */
enum pay_err pay_momo_status(const struct pay_momo_config *cfg, const char *reference,
                             struct pay_momo_result *res, struct pay_error *err) PAY_WUR;

/*
 * Submit the payer's @otp for @reference (profiles with otp_path): the
 * answer is the request's status (SUCCESSFUL, or FAILED when the provider
 * gave up on it); a wrong code is REFUSED with reason OTP_INVALID.
 * PAY_ERR_PARAM_INVALID when the profile has no OTP step.
 */
enum pay_err pay_momo_submit_otp(const struct pay_momo_config *cfg, const char *reference,
                                 const char *otp, struct pay_momo_result *res,
                                 struct pay_error *err) PAY_WUR;

/* Forget every cached token (tests; a provider's credentials changed). */
void pay_momo_token_cache_clear(void);

/*
 * The provider's side of the protocol, for the simulator: send @body (JSON)
 * to @url with @method ("PUT" or "POST"), waiting at most @timeout_ms.
 * *http_out gets the status (0: no answer). PAY_ERR_IO when no answer came.
 */
enum pay_err pay_momo_callback_send(const char *url, const char *method, const char *body,
                                    long timeout_ms, int *http_out) PAY_WUR;

/*
 * The decline code payd shows for failure @reason (PAYER_NOT_FOUND ->
 * "invalid_account", ...; README "Mobile money" has the table), and the
 * message for the payer. Unknown reasons: "generic_decline".
 */
const char *pay_momo_decline_code(const char *reason);
const char *pay_momo_decline_message(const char *reason);

#endif

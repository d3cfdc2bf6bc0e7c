/*
 * momo.c - the `mobile_money` connector (momo.h): MTN MoMo's collection
 * protocol over libcurl, and the wallet profiles that reuse it.
 *
 * Invariants:
 * - a request-to-pay is sent only under a reference the caller recorded
 *   before sending, so every request payd may have made can be asked about
 *   again; a repeat under the same reference is answered 409 by the
 *   provider, never paid twice;
 * - amounts are decimal strings made by pay_amount_format from int64 minor
 *   units: no floating point anywhere;
 * - secrets (api key, subscription key, access tokens, OTPs) appear only in
 *   the headers and bodies sent, never in a log line or a message; a payer
 *   number appears in logs as its last four digits.
 *
 * Threading: the token cache is shared and guarded by token_lock; each call
 * uses its own curl easy handle. Calls block: never inside a transaction.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "momo.h"

#define URL_LEN_MAX 2048
#define TOKEN_LEN_MAX 2048
#define TOKEN_CACHE_SLOTS 16
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 15000
#define BODY_BYTES_MAX 4096

/* ---- Profiles -------------------------------------------------------------- */

static const struct pay_momo_profile profiles[] = {
    {
        .name = "mtn_momo",
        .display_name = "MTN Mobile Money",
        .token_path = "/collection/token/",
        .request_path = "/collection/v1_0/requesttopay",
        .status_path = "/collection/v1_0/requesttopay",
        .otp_path = NULL,
        .subscription_header = "Ocp-Apim-Subscription-Key",
        .reference_header = "X-Reference-Id",
        .environment_header = "X-Target-Environment",
        .callback_header = "X-Callback-Url",
        .f_amount = "amount",
        .f_currency = "currency",
        .f_external_id = "externalId",
        .f_payer_object = "payer",
        .f_party_id_type = "partyIdType",
        .f_party_id = "partyId",
        .f_payer_message = "payerMessage",
        .f_payee_note = "payeeNote",
        .f_access_token = "access_token",
        .f_expires_in = "expires_in",
        .f_status = "status",
        .f_reason = "reason",
        .f_financial_id = "financialTransactionId",
        .f_otp = "otp",
        .st_successful = "SUCCESSFUL",
        .st_pending = "PENDING",
        .st_failed = "FAILED",
        .instructions = "A payment request was sent to your phone. Approve it with your "
                        "MTN Mobile Money PIN (or dial *170# and open My Approvals).",
    },
    {
        .name = "zain_cash",
        .display_name = "Zain Cash",
        .token_path = "/zaincash/v1/oauth/token",
        .request_path = "/zaincash/v1/payments",
        .status_path = "/zaincash/v1/payments",
        .otp_path = "/zaincash/v1/otp",
        .subscription_header = "X-Api-Key",
        .reference_header = "X-Request-Id",
        .environment_header = "X-Environment",
        .callback_header = "X-Notify-Url",
        .f_amount = "amount",
        .f_currency = "currency",
        .f_external_id = "orderId",
        .f_payer_object = NULL,
        .f_party_id_type = NULL,
        .f_party_id = "msisdn",
        .f_payer_message = "description",
        .f_payee_note = "merchantNote",
        .f_access_token = "access_token",
        .f_expires_in = "expires_in",
        .f_status = "status",
        .f_reason = "failureReason",
        .f_financial_id = "transactionId",
        .f_otp = "otp",
        .st_successful = "success",
        .st_pending = "pending",
        .st_failed = "failed",
        .instructions = "Zain Cash sent a one-time code by SMS to your phone. Give the code "
                        "to the cashier (or enter it in the app) to confirm the payment.",
    },
    {
        .name = "sudani_cash",
        .display_name = "Sudani Cash",
        .token_path = "/sudanicash/oauth/token",
        .request_path = "/sudanicash/api/v1/requests",
        .status_path = "/sudanicash/api/v1/requests",
        .otp_path = NULL,
        .subscription_header = "X-Subscription-Key",
        .reference_header = "X-Reference",
        .environment_header = "X-Environment",
        .callback_header = "X-Callback",
        .f_amount = "amount",
        .f_currency = "currency",
        .f_external_id = "merchantReference",
        .f_payer_object = "customer",
        .f_party_id_type = "idType",
        .f_party_id = "mobileNumber",
        .f_payer_message = "message",
        .f_payee_note = "note",
        .f_access_token = "accessToken",
        .f_expires_in = "expiresIn",
        .f_status = "state",
        .f_reason = "failureCode",
        .f_financial_id = "transactionRef",
        .f_otp = "otp",
        .st_successful = "COMPLETED",
        .st_pending = "PENDING",
        .st_failed = "FAILED",
        .instructions = "A payment request was sent to your Sudani Cash wallet. Approve it "
                        "with your PIN on your phone.",
    },
    {
        .name = "bankak",
        .display_name = "Bankak",
        .token_path = "/bankak/v2/auth/token",
        .request_path = "/bankak/v2/payment-requests",
        .status_path = "/bankak/v2/payment-requests",
        .otp_path = "/bankak/v2/otp",
        .subscription_header = "X-Client-Key",
        .reference_header = "X-Idempotency-Key",
        .environment_header = "X-Env",
        .callback_header = "X-Callback-Url",
        .f_amount = "amount",
        .f_currency = "currency",
        .f_external_id = "merchantOrderId",
        .f_payer_object = "debtor",
        .f_party_id_type = NULL,
        .f_party_id = "phone",
        .f_payer_message = "narration",
        .f_payee_note = "remark",
        .f_access_token = "token",
        .f_expires_in = "ttl",
        .f_status = "paymentStatus",
        .f_reason = "declineReason",
        .f_financial_id = "bankakRef",
        .f_otp = "code",
        .st_successful = "PAID",
        .st_pending = "PENDING",
        .st_failed = "DECLINED",
        .instructions = "Bankak sent a one-time code to your phone. Give the code to the "
                        "cashier (or enter it in the app) to confirm the payment.",
    },
};
#define N_PROFILES (sizeof(profiles) / sizeof(profiles[0]))

const struct pay_momo_profile *pay_momo_profile_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < N_PROFILES; i++) {
        if (strcmp(profiles[i].name, name) == 0) {
            return &profiles[i];
        }
    }
    return NULL;
}

const struct pay_momo_profile *pay_momo_profiles(size_t *n_out)
{
    *n_out = N_PROFILES;
    return profiles;
}

const char *pay_momo_state_name(enum pay_momo_state s)
{
    switch (s) {
    case PAY_MOMO_PENDING:
        return "pending";
    case PAY_MOMO_SUCCESSFUL:
        return "successful";
    case PAY_MOMO_FAILED:
        return "failed";
    case PAY_MOMO_UNAVAILABLE:
        return "unavailable";
    case PAY_MOMO_REFUSED:
        return "refused";
    case PAY_MOMO_UNKNOWN:
        return "unknown";
    case PAY_MOMO_NOT_FOUND:
        return "not_found";
    }
    return "unknown";
}

/* ---- Failure reasons -> decline codes -------------------------------------- */

static const struct {
    const char *reason;
    const char *decline_code;
    const char *message;
} declines[] = {
    {"PAYER_NOT_FOUND", "invalid_account",
     "The wallet number is not registered with the provider."},
    {"NOT_ENOUGH_FUNDS", "insufficient_funds", "The wallet has insufficient funds."},
    {"PAYER_LIMIT_REACHED", "card_velocity_exceeded",
     "The wallet has reached its transaction limit."},
    {"APPROVAL_REJECTED", "do_not_honor", "The payer rejected the payment request."},
    {"EXPIRED", "expired_request", "The payer did not approve the request in time."},
    {"INTERNAL_PROCESSING_ERROR", "processing_error",
     "The mobile money provider failed to process the payment."},
    {"SERVICE_UNAVAILABLE", "issuer_not_available",
     "The mobile money provider is unavailable. Try again in a little while."},
    {"OTP_INVALID", "incorrect_otp", "The one-time code was wrong too many times."},
};

const char *pay_momo_decline_code(const char *reason)
{
    for (size_t i = 0; reason != NULL && i < sizeof(declines) / sizeof(declines[0]); i++) {
        if (strcmp(declines[i].reason, reason) == 0) {
            return declines[i].decline_code;
        }
    }
    return "generic_decline";
}

const char *pay_momo_decline_message(const char *reason)
{
    for (size_t i = 0; reason != NULL && i < sizeof(declines) / sizeof(declines[0]); i++) {
        if (strcmp(declines[i].reason, reason) == 0) {
            return declines[i].message;
        }
    }
    return "The mobile money payment failed.";
}

/* ---- UUIDs and numbers ------------------------------------------------------- */

void pay_momo_uuid4(char out[PAY_MOMO_REF_LEN])
{
    unsigned char b[16];
    if (pay_random_bytes(b, sizeof(b)) != PAY_OK) {
        pay_assert_fail("random bytes for a UUID", __FILE__, __LINE__);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool pay_momo_uuid4_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36) {
        return false;
    }
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return false;
            }
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    char variant = s[19];
    return s[14] == '4' && (variant == '8' || variant == '9' || variant == 'a' || variant == 'b' ||
                            variant == 'A' || variant == 'B');
}

bool pay_momo_msisdn_valid(const char *s)
{
    if (s == NULL) {
        return false;
    }
    size_t n = strlen(s);
    if (n < PAY_MOMO_MSISDN_LEN_MIN || n > PAY_MOMO_MSISDN_LEN_MAX) {
        return false;
    }
    return strspn(s, "0123456789") == n;
}

/* ---- Bodies ------------------------------------------------------------------- */

enum pay_err pay_momo_build_rtp(const struct pay_momo_profile *profile,
                                const struct pay_momo_rtp *rtp, char **out_body,
                                struct pay_error *err)
{
    *out_body = NULL;
    if (profile == NULL) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "profile", "Unknown wallet profile.");
    }
    if (rtp->currency == NULL) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "currency", "A currency is required.");
    }
    if (rtp->amount_minor < 1 || !pay_amount_valid(rtp->amount_minor)) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "amount",
                             "The amount must be between 1 and %lld minor units.",
                             (long long)PAY_AMOUNT_MAX_MINOR);
    }
    if (!pay_momo_msisdn_valid(rtp->payer_msisdn)) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "payer",
                             "The payer's wallet number must be %d to %d digits.",
                             PAY_MOMO_MSISDN_LEN_MIN, PAY_MOMO_MSISDN_LEN_MAX);
    }
    char amount[32];
    if (pay_amount_format(rtp->amount_minor, rtp->currency, amount, sizeof(amount)) == 0) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "amount", "The amount cannot be sent.");
    }
    char currency[4];
    for (size_t i = 0; i < 4; i++) {
        char c = rtp->currency->code[i];
        currency[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    json_t *o = json_object();
    json_t *payer = profile->f_payer_object ? json_object() : o;
    if (o == NULL || payer == NULL) {
        json_decref(o);
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    pay_json_set_str(o, profile->f_amount, amount);
    pay_json_set_str(o, profile->f_currency, currency);
    pay_json_set_str(o, profile->f_external_id, rtp->external_id ? rtp->external_id : "");
    if (profile->f_party_id_type != NULL) {
        pay_json_set_str(payer, profile->f_party_id_type, "MSISDN");
    }
    pay_json_set_str(payer, profile->f_party_id, rtp->payer_msisdn);
    if (profile->f_payer_object != NULL) {
        json_object_set_new(o, profile->f_payer_object, payer);
    }
    pay_json_set_str(o, profile->f_payer_message, rtp->payer_message ? rtp->payer_message : "");
    pay_json_set_str(o, profile->f_payee_note, rtp->payee_note ? rtp->payee_note : "");
    *out_body = pay_json_dump(o);
    json_decref(o);
    if (*out_body == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    return PAY_OK;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* A string, or an integer given as a number, at @key into @dst. */
static void copy_scalar(char *dst, size_t n, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        copy_str(dst, n, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(dst, n, "%lld", (long long)json_integer_value(v));
    } else {
        dst[0] = '\0';
    }
}

/* Reasons are upper-case words; anything else is replaced so it can be shown. */
static void copy_reason(char *dst, size_t n, const char *src)
{
    copy_str(dst, n, src);
    for (char *c = dst; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')) {
            *c = '_';
        }
    }
}

void pay_momo_parse_status(const struct pay_momo_profile *profile, const char *body, size_t len,
                           struct pay_momo_result *res)
{
    int http = res->http_status;
    memset(res, 0, sizeof(*res));
    res->http_status = http;
    res->state = PAY_MOMO_UNKNOWN;
    if (profile == NULL) {
        copy_str(res->message, sizeof(res->message), "Unknown wallet profile.");
        return;
    }
    if (body == NULL || len > PAY_MOMO_RESPONSE_BYTES_MAX) {
        copy_str(res->message, sizeof(res->message),
                 "The provider's answer is missing or too big.");
        return;
    }
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        copy_str(res->message, sizeof(res->message), "The provider's answer is not a JSON object.");
        return;
    }
    const char *st = pay_json_str(o, profile->f_status);
    if (st != NULL && strcasecmp(st, profile->st_successful) == 0) {
        res->state = PAY_MOMO_SUCCESSFUL;
    } else if (st != NULL && strcasecmp(st, profile->st_pending) == 0) {
        res->state = PAY_MOMO_PENDING;
    } else if (st != NULL && strcasecmp(st, profile->st_failed) == 0) {
        res->state = PAY_MOMO_FAILED;
    } else {
        snprintf(res->message, sizeof(res->message), "The provider's answer has no known %s.",
                 profile->f_status);
    }
    /* MTN sends the reason as a string, older versions as {code, message}. */
    const json_t *reason = json_object_get(o, profile->f_reason);
    if (json_is_string(reason)) {
        copy_reason(res->reason, sizeof(res->reason), json_string_value(reason));
    } else if (json_is_object(reason)) {
        copy_reason(res->reason, sizeof(res->reason), pay_json_str(reason, "code"));
    }
    if (res->state == PAY_MOMO_FAILED && res->reason[0] == '\0') {
        copy_str(res->reason, sizeof(res->reason), "INTERNAL_PROCESSING_ERROR");
    }
    copy_scalar(res->financial_id, sizeof(res->financial_id), o, profile->f_financial_id);
    copy_scalar(res->external_id, sizeof(res->external_id), o, profile->f_external_id);
    copy_scalar(res->amount, sizeof(res->amount), o, profile->f_amount);
    copy_scalar(res->currency, sizeof(res->currency), o, profile->f_currency);
    json_decref(o);
}

/* ---- HTTP ----------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct pay_buf *b = userdata;
    size_t n = size * nmemb;
    return pay_buf_add(b, ptr, n) == PAY_OK ? n : 0;
}

/* One exchange's input: everything borrowed. */
struct exchange {
    const char *method; /* "GET", "POST", "PUT" */
    const char *url;
    struct curl_slist *headers;
    const char *body; /* NULL: none */
    const char *basic_user, *basic_password;
    long connect_timeout_ms, timeout_ms;
};

static CURLcode perform(const struct exchange *x, struct pay_buf *resp, long *http_out)
{
    pthread_once(&curl_once, curl_init_once);
    *http_out = 0;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return CURLE_FAILED_INIT;
    }
    curl_easy_setopt(c, CURLOPT_URL, x->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, x->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (x->basic_user != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, x->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, x->basic_password ? x->basic_password : "");
    }
    if (strcmp(x->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        const char *body = x->body ? x->body : "";
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        if (strcmp(x->method, "POST") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->method);
        }
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_out);
    }
    curl_easy_cleanup(c);
    return cc;
}

/* Nothing reached the provider: another provider may be tried safely. */
static bool never_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_UNSUPPORTED_PROTOCOL ||
           cc == CURLE_URL_MALFORMAT;
}

static enum pay_err make_url(const struct pay_momo_config *cfg, const char *path,
                             const char *reference, const char *suffix, char *url, size_t n,
                             struct pay_error *err)
{
    const char *base = cfg->base_url;
    if (base == NULL || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "base_url",
                             "The mobile money base_url must be an http:// or https:// URL.");
    }
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    int w = snprintf(url, n, "%.*s%s%s%s%s", (int)blen, base, path, reference ? "/" : "",
                     reference ? reference : "", suffix ? suffix : "");
    if (w < 0 || (size_t)w >= n) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "base_url", "The base_url is too long.");
    }
    return PAY_OK;
}

static long ms_or(long v, long dflt)
{
    return v > 0 ? v : dflt;
}

static enum pay_err check_config(const struct pay_momo_config *cfg, struct pay_error *err)
{
    if (cfg == NULL || cfg->profile == NULL) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "profile", "Unknown wallet profile.");
    }
    if (cfg->api_user == NULL || cfg->api_user[0] == '\0' || cfg->api_key == NULL ||
        cfg->api_key[0] == '\0') {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "credentials",
                             "The mobile money provider needs api_user and api_key.");
    }
    return PAY_OK;
}

/* ---- Tokens --------------------------------------------------------------------- */

struct token_slot {
    char key[65]; /* SHA-256 of profile, base URL, user and api key */
    char token[TOKEN_LEN_MAX];
    int64_t expires_at; /* unix seconds */
    uint64_t used;      /* for eviction: least recently used goes */
};
static struct token_slot token_cache[TOKEN_CACHE_SLOTS];
static uint64_t token_clock;
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;

static void cache_key(const struct pay_momo_config *cfg, char key[65])
{
    struct pay_buf b;
    pay_buf_init(&b, 8192);
    if (pay_buf_addf(&b, "%s\n%s\n%s\n%s\n%s", cfg->profile->name, cfg->base_url, cfg->api_user,
                     cfg->api_key, cfg->subscription_key ? cfg->subscription_key : "") != PAY_OK) {
        key[0] = '\0';
    } else {
        pay_sha256_hex(b.data, b.len, key);
        explicit_bzero(b.data, b.len);
    }
    pay_buf_release(&b);
}

static bool token_cached(const char *key, char token[TOKEN_LEN_MAX])
{
    bool found = false;
    pthread_mutex_lock(&token_lock);
    for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++) {
        struct token_slot *s = &token_cache[i];
        if (s->key[0] != '\0' && strcmp(s->key, key) == 0) {
            if (s->expires_at - PAY_MOMO_TOKEN_MARGIN_S > pay_now()) {
                memcpy(token, s->token, TOKEN_LEN_MAX);
                s->used = ++token_clock;
                found = true;
            } else {
                explicit_bzero(s, sizeof(*s));
            }
            break;
        }
    }
    pthread_mutex_unlock(&token_lock);
    return found;
}

static void token_store(const char *key, const char *token, int64_t expires_at)
{
    pthread_mutex_lock(&token_lock);
    struct token_slot *victim = &token_cache[0];
    for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++) {
        struct token_slot *s = &token_cache[i];
        if (strcmp(s->key, key) == 0 || s->key[0] == '\0') {
            victim = s;
            break;
        }
        if (s->used < victim->used) {
            victim = s;
        }
    }
    explicit_bzero(victim, sizeof(*victim));
    copy_str(victim->key, sizeof(victim->key), key);
    copy_str(victim->token, sizeof(victim->token), token);
    victim->expires_at = expires_at;
    victim->used = ++token_clock;
    pthread_mutex_unlock(&token_lock);
}

static void token_forget(const char *key)
{
    pthread_mutex_lock(&token_lock);
    for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++) {
        if (strcmp(token_cache[i].key, key) == 0) {
            explicit_bzero(&token_cache[i], sizeof(token_cache[i]));
        }
    }
    pthread_mutex_unlock(&token_lock);
}

void pay_momo_token_cache_clear(void)
{
    pthread_mutex_lock(&token_lock);
    explicit_bzero(token_cache, sizeof(token_cache));
    pthread_mutex_unlock(&token_lock);
}

/* Append "Name: value" to @h (value may be a secret: the line is wiped). */
static struct curl_slist *header_add(struct curl_slist *h, const char *name, const char *value,
                                     bool *ok)
{
    if (!*ok || name == NULL || value == NULL) {
        return h;
    }
    struct pay_buf line;
    pay_buf_init(&line, TOKEN_LEN_MAX + 256);
    if (pay_buf_addf(&line, "%s: %s", name, value) != PAY_OK) {
        *ok = false;
        pay_buf_release(&line);
        return h;
    }
    struct curl_slist *n = curl_slist_append(h, line.data);
    explicit_bzero(line.data, line.len);
    pay_buf_release(&line);
    if (n == NULL) {
        *ok = false;
        return h;
    }
    return n;
}

/*
 * A token for @cfg, from the cache or the token endpoint. On failure @res
 * says why (UNAVAILABLE, REFUSED with reason UNAUTHORIZED, UNKNOWN) and
 * false is returned.
 */
static bool get_token(const struct pay_momo_config *cfg, const char *key, bool fresh,
                      char token[TOKEN_LEN_MAX], struct pay_momo_result *res)
{
    if (!fresh && key[0] != '\0' && token_cached(key, token)) {
        return true;
    }
    char url[URL_LEN_MAX];
    if (make_url(cfg, cfg->profile->token_path, NULL, NULL, url, sizeof(url), NULL) != PAY_OK) {
        res->state = PAY_MOMO_REFUSED;
        copy_str(res->message, sizeof(res->message), "The base_url is not usable.");
        return false;
    }
    bool ok = true;
    struct curl_slist *h = NULL;
    h = header_add(h, cfg->profile->subscription_header, cfg->subscription_key, &ok);
    h = header_add(h, "Accept", "application/json", &ok);
    h = header_add(h, "Expect", "", &ok);
    struct pay_buf resp;
    pay_buf_init(&resp, PAY_MOMO_RESPONSE_BYTES_MAX);
    const struct exchange x = {
        .method = "POST",
        .url = url,
        .headers = h,
        .body = "",
        .basic_user = cfg->api_user,
        .basic_password = cfg->api_key,
        .connect_timeout_ms = ms_or(cfg->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS),
        .timeout_ms = ms_or(cfg->timeout_ms, DEFAULT_TIMEOUT_MS),
    };
    long http = 0;
    CURLcode cc = ok ? perform(&x, &resp, &http) : CURLE_OUT_OF_MEMORY;
    curl_slist_free_all(h);
    res->http_status = (int)http;
    bool got = false;
    if (cc != CURLE_OK) {
        /* A token request moves no money: any failure is safe to retry elsewhere. */
        res->state = PAY_MOMO_UNAVAILABLE;
        snprintf(res->message, sizeof(res->message),
                 "The mobile money provider is unreachable: %s.", curl_easy_strerror(cc));
    } else if (http == 401 || http == 403) {
        res->state = PAY_MOMO_REFUSED;
        copy_str(res->reason, sizeof(res->reason), "UNAUTHORIZED");
        copy_str(res->message, sizeof(res->message),
                 "The mobile money provider refused payd's credentials.");
    } else if (http >= 500 || http < 200 || http >= 300) {
        res->state = http >= 500 ? PAY_MOMO_UNAVAILABLE : PAY_MOMO_REFUSED;
        snprintf(res->message, sizeof(res->message),
                 "The mobile money provider answered HTTP %ld to the token request.", http);
    } else {
        json_error_t jerr;
        json_t *o = json_loadb(resp.data ? resp.data : "", resp.len, 0, &jerr);
        const char *t = pay_json_str(o, cfg->profile->f_access_token);
        int64_t ttl = pay_json_int(o, cfg->profile->f_expires_in, 3600);
        if (t == NULL || t[0] == '\0' || strlen(t) >= TOKEN_LEN_MAX || strpbrk(t, "\r\n") != NULL) {
            res->state = PAY_MOMO_UNAVAILABLE;
            copy_str(res->message, sizeof(res->message),
                     "The mobile money provider's token answer has no usable token.");
        } else {
            copy_str(token, TOKEN_LEN_MAX, t);
            if (key[0] != '\0') {
                token_store(key, t, pay_now() + (ttl > 0 ? ttl : 0));
            }
            got = true;
        }
        json_decref(o);
    }
    if (resp.data != NULL) {
        explicit_bzero(resp.data, resp.len);
    }
    pay_buf_release(&resp);
    return got;
}

/* A call with the bearer token; one new token and one retry on 401. */
struct call {
    const char *method;
    const char *url;
    const char *reference; /* sent in the reference header when not NULL */
    const char *callback_url;
    const char *body;
    bool json_body;
};

static CURLcode call_with_token(const struct pay_momo_config *cfg, const struct call *c,
                                struct pay_buf *resp, long *http, struct pay_momo_result *res,
                                bool *no_token)
{
    char key[65];
    cache_key(cfg, key);
    char token[TOKEN_LEN_MAX];
    *no_token = false;
    CURLcode cc = CURLE_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!get_token(cfg, key, attempt > 0, token, res)) {
            *no_token = true;
            return CURLE_OK;
        }
        bool ok = true;
        struct curl_slist *h = NULL;
        struct pay_buf auth;
        pay_buf_init(&auth, TOKEN_LEN_MAX + 16);
        ok = pay_buf_addf(&auth, "Bearer %s", token) == PAY_OK;
        h = header_add(h, "Authorization", auth.data, &ok);
        explicit_bzero(auth.data, auth.len);
        pay_buf_release(&auth);
        h = header_add(h, cfg->profile->subscription_header, cfg->subscription_key, &ok);
        h = header_add(h, cfg->profile->environment_header,
                       cfg->target_environment ? cfg->target_environment : "sandbox", &ok);
        h = header_add(h, cfg->profile->reference_header, c->reference, &ok);
        h = header_add(h, cfg->profile->callback_header, c->callback_url, &ok);
        if (c->json_body) {
            h = header_add(h, "Content-Type", "application/json", &ok);
        }
        h = header_add(h, "Accept", "application/json", &ok);
        h = header_add(h, "Expect", "", &ok);
        const struct exchange x = {
            .method = c->method,
            .url = c->url,
            .headers = h,
            .body = c->body,
            .connect_timeout_ms = ms_or(cfg->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS),
            .timeout_ms = ms_or(cfg->timeout_ms, DEFAULT_TIMEOUT_MS),
        };
        pay_buf_reset(resp);
        cc = ok ? perform(&x, resp, http) : CURLE_OUT_OF_MEMORY;
        curl_slist_free_all(h);
        explicit_bzero(token, sizeof(token));
        if (cc != CURLE_OK || *http != 401) {
            break;
        }
        /* The provider revoked or expired the token early: get a new one once. */
        token_forget(key);
    }
    return cc;
}

/* The error code a 4xx body names ({"code": "..."} as MTN's), as a reason. */
static void reason_from_body(const struct pay_buf *resp, const char *dflt,
                             struct pay_momo_result *res)
{
    json_error_t jerr;
    json_t *o = resp->len > 0 ? json_loadb(resp->data, resp->len, 0, &jerr) : NULL;
    const char *code = pay_json_str(o, "code");
    copy_reason(res->reason, sizeof(res->reason), code ? code : dflt);
    const char *msg = pay_json_str(o, "message");
    if (msg != NULL) {
        copy_str(res->message, sizeof(res->message), msg);
    }
    json_decref(o);
}

enum pay_err pay_momo_request_to_pay(const struct pay_momo_config *cfg,
                                     const struct pay_momo_rtp *rtp, const char *reference,
                                     struct pay_momo_result *res, struct pay_error *err)
{
    memset(res, 0, sizeof(*res));
    res->state = PAY_MOMO_UNKNOWN;
    enum pay_err e = check_config(cfg, err);
    if (e != PAY_OK) {
        return e;
    }
    if (!pay_momo_uuid4_valid(reference)) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "reference",
                             "The reference must be a UUID version 4.");
    }
    char *body = NULL;
    e = pay_momo_build_rtp(cfg->profile, rtp, &body, err);
    if (e != PAY_OK) {
        return e;
    }
    char url[URL_LEN_MAX];
    e = make_url(cfg, cfg->profile->request_path, NULL, NULL, url, sizeof(url), err);
    if (e != PAY_OK) {
        free(body);
        return e;
    }
    const struct call c = {
        .method = "POST",
        .url = url,
        .reference = reference,
        .callback_url = rtp->callback_url,
        .body = body,
        .json_body = true,
    };
    struct pay_buf resp;
    pay_buf_init(&resp, PAY_MOMO_RESPONSE_BYTES_MAX);
    long http = 0;
    bool no_token = false;
    CURLcode cc = call_with_token(cfg, &c, &resp, &http, res, &no_token);
    free(body);
    if (no_token) {
        /* Nothing was asked of the payer yet. */
        if (res->state == PAY_MOMO_UNKNOWN) {
            res->state = PAY_MOMO_UNAVAILABLE;
        }
    } else if (cc != CURLE_OK) {
        res->state = never_sent(cc) ? PAY_MOMO_UNAVAILABLE : PAY_MOMO_UNKNOWN;
        snprintf(res->message, sizeof(res->message), "The mobile money provider %s: %s.",
                 res->state == PAY_MOMO_UNAVAILABLE ? "is unreachable" : "did not answer in time",
                 curl_easy_strerror(cc));
    } else {
        res->http_status = (int)http;
        if (http == 202 || http == 200 || http == 201) {
            res->state = PAY_MOMO_PENDING;
        } else if (http == 409) {
            res->state = PAY_MOMO_REFUSED;
            copy_str(res->reason, sizeof(res->reason), "RESOURCE_ALREADY_EXIST");
            copy_str(res->message, sizeof(res->message),
                     "The provider already has a request under this reference.");
        } else if (http >= 500) {
            res->state = PAY_MOMO_UNAVAILABLE;
            reason_from_body(&resp, "SERVICE_UNAVAILABLE", res);
            if (res->message[0] == '\0') {
                snprintf(res->message, sizeof(res->message),
                         "The mobile money provider answered HTTP %ld.", http);
            }
        } else {
            res->state = PAY_MOMO_REFUSED;
            reason_from_body(&resp, http == 401 ? "UNAUTHORIZED" : "BAD_REQUEST", res);
            if (res->message[0] == '\0') {
                snprintf(res->message, sizeof(res->message),
                         "The mobile money provider refused the request (HTTP %ld).", http);
            }
        }
    }
    pay_buf_release(&resp);
    const char *msisdn = rtp->payer_msisdn ? rtp->payer_msisdn : "";
    size_t ml = strlen(msisdn);
    pay_logf(PAY_LOG_INFO, NULL, "momo %s requesttopay %s payer ****%s: %s (HTTP %d)",
             cfg->profile->name, reference, ml >= 4 ? msisdn + ml - 4 : "",
             pay_momo_state_name(res->state), res->http_status);
    return PAY_OK;
}

/* GET or POST on @reference's resource, the answer parsed as a status. */
static enum pay_err status_like(const struct pay_momo_config *cfg, const char *path,
                                const char *reference, const char *method, const char *body,
                                struct pay_momo_result *res, struct pay_error *err)
{
    memset(res, 0, sizeof(*res));
    res->state = PAY_MOMO_UNKNOWN;
    enum pay_err e = check_config(cfg, err);
    if (e != PAY_OK) {
        return e;
    }
    if (!pay_momo_uuid4_valid(reference)) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "reference",
                             "The reference must be a UUID version 4.");
    }
    char url[URL_LEN_MAX];
    e = make_url(cfg, path, reference, NULL, url, sizeof(url), err);
    if (e != PAY_OK) {
        return e;
    }
    const struct call c = {
        .method = method,
        .url = url,
        .body = body,
        .json_body = body != NULL,
    };
    struct pay_buf resp;
    pay_buf_init(&resp, PAY_MOMO_RESPONSE_BYTES_MAX);
    long http = 0;
    bool no_token = false;
    CURLcode cc = call_with_token(cfg, &c, &resp, &http, res, &no_token);
    if (no_token) {
        if (res->state == PAY_MOMO_UNKNOWN) {
            res->state = PAY_MOMO_UNAVAILABLE;
        }
    } else if (cc != CURLE_OK) {
        res->state = never_sent(cc) ? PAY_MOMO_UNAVAILABLE : PAY_MOMO_UNKNOWN;
        snprintf(res->message, sizeof(res->message), "The mobile money provider %s: %s.",
                 res->state == PAY_MOMO_UNAVAILABLE ? "is unreachable" : "did not answer in time",
                 curl_easy_strerror(cc));
    } else if (http == 200) {
        res->http_status = 200;
        pay_momo_parse_status(cfg->profile, resp.data ? resp.data : "", resp.len, res);
    } else {
        res->http_status = (int)http;
        if (http == 404) {
            res->state = PAY_MOMO_NOT_FOUND;
            reason_from_body(&resp, "RESOURCE_NOT_FOUND", res);
        } else if (http >= 500) {
            res->state = PAY_MOMO_UNAVAILABLE;
            reason_from_body(&resp, "SERVICE_UNAVAILABLE", res);
        } else {
            res->state = PAY_MOMO_REFUSED;
            reason_from_body(&resp, http == 401 ? "UNAUTHORIZED" : "BAD_REQUEST", res);
        }
        if (res->message[0] == '\0') {
            snprintf(res->message, sizeof(res->message),
                     "The mobile money provider answered HTTP %ld.", http);
        }
    }
    if (resp.data != NULL) {
        explicit_bzero(resp.data, resp.len);
    }
    pay_buf_release(&resp);
    return PAY_OK;
}

enum pay_err pay_momo_status(const struct pay_momo_config *cfg, const char *reference,
                             struct pay_momo_result *res, struct pay_error *err)
{
    const char *path = cfg && cfg->profile ? cfg->profile->status_path : NULL;
    if (path == NULL) {
        memset(res, 0, sizeof(*res));
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "profile", "Unknown wallet profile.");
    }
    return status_like(cfg, path, reference, "GET", NULL, res, err);
}

enum pay_err pay_momo_submit_otp(const struct pay_momo_config *cfg, const char *reference,
                                 const char *otp, struct pay_momo_result *res,
                                 struct pay_error *err)
{
    memset(res, 0, sizeof(*res));
    if (cfg == NULL || cfg->profile == NULL || cfg->profile->otp_path == NULL) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "otp",
                             "This wallet confirms payments on the handset, not with a code.");
    }
    size_t n = otp ? strlen(otp) : 0;
    if (n < PAY_MOMO_OTP_LEN_MIN || n > PAY_MOMO_OTP_LEN_MAX || strspn(otp, "0123456789") != n) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "otp", "The code must be %d to %d digits.",
                             PAY_MOMO_OTP_LEN_MIN, PAY_MOMO_OTP_LEN_MAX);
    }
    json_t *o = json_object();
    pay_json_set_str(o, cfg->profile->f_otp, otp);
    char *body = pay_json_dump(o);
    json_decref(o);
    if (body == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    enum pay_err e = status_like(cfg, cfg->profile->otp_path, reference, "POST", body, res, err);
    explicit_bzero(body, strlen(body));
    free(body);
    if (e == PAY_OK && res->state == PAY_MOMO_REFUSED && res->http_status == 400 &&
        res->reason[0] == '\0') {
        copy_str(res->reason, sizeof(res->reason), "OTP_INVALID");
    }
    return e;
}

enum pay_err pay_momo_callback_send(const char *url, const char *method, const char *body,
                                    long timeout_ms, int *http_out)
{
    *http_out = 0;
    bool ok = true;
    struct curl_slist *h = NULL;
    h = header_add(h, "Content-Type", "application/json", &ok);
    h = header_add(h, "Expect", "", &ok);
    struct pay_buf resp;
    pay_buf_init(&resp, PAY_MOMO_RESPONSE_BYTES_MAX);
    const struct exchange x = {
        .method = method,
        .url = url,
        .headers = h,
        .body = body,
        .connect_timeout_ms = ms_or(timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS),
        .timeout_ms = ms_or(timeout_ms, DEFAULT_TIMEOUT_MS),
    };
    long http = 0;
    CURLcode cc = ok ? perform(&x, &resp, &http) : CURLE_OUT_OF_MEMORY;
    curl_slist_free_all(h);
    pay_buf_release(&resp);
    *http_out = (int)http;
    return cc == CURLE_OK ? PAY_OK : PAY_ERR_IO;
}

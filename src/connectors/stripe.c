/*
 * stripe.c - the `stripe` connector: payd as a client of Stripe's HTTP API
 * (https://docs.stripe.com/api) over libcurl. Builds form-encoded requests
 * for PaymentIntents (create+confirm, capture, cancel, retrieve) and
 * Refunds, sends them with Authorization: Bearer, Stripe-Version and an
 * Idempotency-Key, and maps Stripe's answers into struct pay_conn_result.
 *
 * Invariants:
 * - every POST carries the Idempotency-Key payd derived from its own
 *   attempt id, and every retry of it sends the same bytes with the same
 *   key: Stripe answers a repeat with the stored result of the first, so a
 *   retry never charges twice (Stripe's idempotent requests);
 * - card data never passes through here: a payment is a pm_... id the
 *   client created with Stripe directly;
 * - the secret key goes only into the Authorization header, never into a
 *   log line or an error message;
 * - a timeout, or retries exhausted on network errors, 409, 429 and 5xx, is
 *   PAY_CONN_UNKNOWN: the caller keeps the payment `processing` and settles
 *   it later by sending the same request again.
 *
 * Threading: no shared state besides libcurl's global init (pthread_once);
 * one easy handle per call, any thread. Blocking: never call it inside a
 * database transaction.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors_int.h"

/* Stripe's answers are small; anything bigger is not Stripe. */
#define RESPONSE_BYTES_MAX (1024 * 1024)
#define URL_LEN_MAX 2048
#define BACKOFF_CAP_MS 2000
#define FORM_BYTES_MAX 8192

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        enum pay_err try_e_ = (expr);                                                              \
        if (try_e_ != PAY_OK) {                                                                    \
            return try_e_;                                                                         \
        }                                                                                          \
    } while (0)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void pay_stripe_req_release(struct pay_stripe_req *r)
{
    free(r->path);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ---- Building requests ---------------------------------------------------- */

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Append "&name=value" (form encoding: RFC 3986 unreserved kept, the rest %XX). */
static enum pay_err form_add(struct pay_buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->len > 0) {
        TRY(pay_buf_adds(b, "&"));
    }
    for (int part = 0; part < 2; part++) {
        const unsigned char *s = (const unsigned char *)(part == 0 ? name : value);
        for (; *s; s++) {
            /* Brackets of Stripe's nesting are sent encoded, as the SDKs do. */
            if (unreserved(*s)) {
                TRY(pay_buf_add(b, s, 1));
            } else {
                char enc[3] = {'%', hex[*s >> 4], hex[*s & 15]};
                TRY(pay_buf_add(b, enc, 3));
            }
        }
        if (part == 0) {
            TRY(pay_buf_adds(b, "="));
        }
    }
    return PAY_OK;
}

static enum pay_err form_add_int(struct pay_buf *b, const char *name, int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    return form_add(b, name, s);
}

/* A Stripe object id that is safe in a path: [A-Za-z0-9_]. */
static bool id_safe(const char *id)
{
    if (id == NULL || id[0] == '\0' || strlen(id) > 255) {
        return false;
    }
    for (const char *c = id; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_')) {
            return false;
        }
    }
    return true;
}

static enum pay_err req_fill(struct pay_stripe_req *out, const char *method, const char *path,
                             struct pay_buf *body, const char *idem_key)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->method, sizeof(out->method), "%s", method);
    if (idem_key != NULL) {
        if (strlen(idem_key) >= sizeof(out->idempotency_key)) {
            return PAY_ERR_PARAM_INVALID;
        }
        snprintf(out->idempotency_key, sizeof(out->idempotency_key), "%s", idem_key);
    }
    out->path = strdup(path);
    out->body = body != NULL && body->len > 0 ? pay_buf_detach(body, NULL) : strdup("");
    if (out->path == NULL || out->body == NULL) {
        pay_stripe_req_release(out);
        return PAY_ERR_NOMEM;
    }
    return PAY_OK;
}

enum pay_err pay_stripe_build_create(const struct pay_stripe_intent_params *p, const char *idem_key,
                                     struct pay_stripe_req *out)
{
    memset(out, 0, sizeof(*out));
    if (p->currency == NULL || strlen(p->currency) != 3 || !id_safe(p->payment_method) ||
        p->amount_minor < 1 || !pay_amount_valid(p->amount_minor)) {
        return PAY_ERR_PARAM_INVALID;
    }
    char currency[8];
    snprintf(currency, sizeof(currency), "%s", p->currency);
    for (char *c = currency; *c; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            *c = (char)(*c - 'A' + 'a');
        }
    }
    struct pay_buf b;
    pay_buf_init(&b, FORM_BYTES_MAX);
    enum pay_err e = form_add_int(&b, "amount", p->amount_minor);
    if (e == PAY_OK) {
        e = form_add(&b, "currency", currency);
    }
    if (e == PAY_OK) {
        e = form_add(&b, "payment_method", p->payment_method);
    }
    if (e == PAY_OK) {
        e = form_add(&b, "confirm", "true");
    }
    if (e == PAY_OK) {
        e = form_add(&b, "capture_method", p->capture_manual ? "manual" : "automatic");
    }
    if (e == PAY_OK) {
        e = form_add(&b, "payment_method_types[0]", "card");
    }
    if (e == PAY_OK && p->reference != NULL) {
        e = form_add(&b, "metadata[payd_intent]", p->reference);
    }
    if (e == PAY_OK && p->return_url != NULL) {
        e = form_add(&b, "return_url", p->return_url);
    }
    if (e == PAY_OK && p->off_session) {
        e = form_add(&b, "off_session", "true");
    }
    if (e == PAY_OK) {
        e = req_fill(out, "POST", "/v1/payment_intents", &b, idem_key);
    }
    pay_buf_release(&b);
    return e;
}

static enum pay_err build_pi_action(const char *stripe_pi, const char *action, bool has_amount,
                                    const char *amount_name, int64_t amount_minor,
                                    const char *idem_key, struct pay_stripe_req *out)
{
    memset(out, 0, sizeof(*out));
    if (!id_safe(stripe_pi) || (has_amount && !pay_amount_valid(amount_minor))) {
        return PAY_ERR_PARAM_INVALID;
    }
    char path[320];
    snprintf(path, sizeof(path), "/v1/payment_intents/%s%s%s", stripe_pi, action ? "/" : "",
             action ? action : "");
    struct pay_buf b;
    pay_buf_init(&b, FORM_BYTES_MAX);
    enum pay_err e = has_amount ? form_add_int(&b, amount_name, amount_minor) : PAY_OK;
    if (e == PAY_OK) {
        e = req_fill(out, action ? "POST" : "GET", path, &b, idem_key);
    }
    pay_buf_release(&b);
    return e;
}

enum pay_err pay_stripe_build_capture(const char *stripe_pi, int64_t amount_minor,
                                      const char *idem_key, struct pay_stripe_req *out)
{
    return build_pi_action(stripe_pi, "capture", true, "amount_to_capture", amount_minor, idem_key,
                           out);
}

enum pay_err pay_stripe_build_cancel(const char *stripe_pi, const char *idem_key,
                                     struct pay_stripe_req *out)
{
    return build_pi_action(stripe_pi, "cancel", false, NULL, 0, idem_key, out);
}

enum pay_err pay_stripe_build_retrieve(const char *stripe_pi, struct pay_stripe_req *out)
{
    return build_pi_action(stripe_pi, NULL, false, NULL, 0, NULL, out);
}

enum pay_err pay_stripe_build_refund(const char *stripe_pi, int64_t amount_minor,
                                     const char *idem_key, struct pay_stripe_req *out)
{
    memset(out, 0, sizeof(*out));
    if (!id_safe(stripe_pi) || !pay_amount_valid(amount_minor)) {
        return PAY_ERR_PARAM_INVALID;
    }
    struct pay_buf b;
    pay_buf_init(&b, FORM_BYTES_MAX);
    enum pay_err e = form_add(&b, "payment_intent", stripe_pi);
    if (e == PAY_OK) {
        e = form_add_int(&b, "amount", amount_minor);
    }
    if (e == PAY_OK) {
        e = req_fill(out, "POST", "/v1/refunds", &b, idem_key);
    }
    pay_buf_release(&b);
    return e;
}

/* ---- Mapping answers ------------------------------------------------------ */

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void map_error(const json_t *error, struct pay_conn_result *res)
{
    const char *type = pay_json_str(error, "type");
    copy_str(res->code, sizeof(res->code), pay_json_str(error, "code"));
    copy_str(res->decline_code, sizeof(res->decline_code), pay_json_str(error, "decline_code"));
    copy_str(res->message, sizeof(res->message), pay_json_str(error, "message"));
    res->status =
        type != NULL && strcmp(type, "card_error") == 0 ? PAY_CONN_DECLINED : PAY_CONN_FAILED;
    const json_t *pi = json_object_get(error, "payment_intent");
    if (pay_json_str(pi, "id") != NULL) {
        copy_str(res->provider_ref, sizeof(res->provider_ref), pay_json_str(pi, "id"));
    }
}

static void map_intent(const json_t *o, struct pay_conn_result *res)
{
    const char *st = pay_json_str(o, "status");
    st = st ? st : "";
    copy_str(res->provider_ref, sizeof(res->provider_ref), pay_json_str(o, "id"));
    if (strcmp(st, "succeeded") == 0) {
        res->status = PAY_CONN_SUCCEEDED;
    } else if (strcmp(st, "requires_capture") == 0) {
        res->status = PAY_CONN_REQUIRES_CAPTURE;
    } else if (strcmp(st, "requires_action") == 0 || strcmp(st, "requires_confirmation") == 0) {
        res->status = PAY_CONN_REQUIRES_ACTION;
        const json_t *na = json_object_get(o, "next_action");
        const char *url = pay_json_str(json_object_get(na, "redirect_to_url"), "url");
        copy_str(res->redirect_url, sizeof(res->redirect_url), url);
    } else if (strcmp(st, "processing") == 0) {
        res->status = PAY_CONN_PROCESSING;
    } else if (strcmp(st, "canceled") == 0) {
        res->status = PAY_CONN_CANCELED;
    } else if (strcmp(st, "requires_payment_method") == 0) {
        const json_t *lpe = json_object_get(o, "last_payment_error");
        res->status = PAY_CONN_DECLINED;
        copy_str(res->code, sizeof(res->code),
                 pay_json_str(lpe, "code") ? pay_json_str(lpe, "code") : "card_declined");
        copy_str(res->decline_code, sizeof(res->decline_code), pay_json_str(lpe, "decline_code"));
        copy_str(res->message, sizeof(res->message),
                 pay_json_str(lpe, "message") ? pay_json_str(lpe, "message")
                                              : "Your card was declined.");
    } else {
        res->status = PAY_CONN_FAILED;
        snprintf(res->message, sizeof(res->message), "Stripe answered an unknown status.");
    }
}

static void map_refund(const json_t *o, struct pay_conn_result *res)
{
    const char *st = pay_json_str(o, "status");
    st = st ? st : "";
    copy_str(res->provider_ref, sizeof(res->provider_ref), pay_json_str(o, "id"));
    if (strcmp(st, "succeeded") == 0) {
        res->status = PAY_CONN_SUCCEEDED;
    } else if (strcmp(st, "pending") == 0 || strcmp(st, "requires_action") == 0) {
        res->status = PAY_CONN_PROCESSING;
    } else if (strcmp(st, "canceled") == 0) {
        res->status = PAY_CONN_CANCELED;
    } else {
        res->status = PAY_CONN_DECLINED;
        copy_str(res->code, sizeof(res->code), "refund_failed");
        copy_str(res->decline_code, sizeof(res->decline_code), pay_json_str(o, "failure_reason"));
        copy_str(res->message, sizeof(res->message), "The refund failed.");
    }
}

/* Map one complete HTTP answer; false when it is one to retry. */
bool pay_stripe_parse_answer(long http, const char *body, size_t len, struct pay_conn_result *res)
{
    res->http_status = (int)http;
    if (http == 409 || http == 429 || http >= 500) {
        return false;
    }
    json_error_t jerr;
    json_t *o = json_loadb(body ? body : "", len, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        if (http >= 200 && http < 300) {
            /* Stripe acted but its answer is unreadable: ambiguous. */
            res->status = PAY_CONN_UNKNOWN;
        } else {
            res->status = PAY_CONN_FAILED;
        }
        snprintf(res->message, sizeof(res->message), "Stripe answered HTTP %ld with no JSON.",
                 http);
        return true;
    }
    const json_t *error = json_object_get(o, "error");
    if (http >= 400 || json_is_object(error)) {
        map_error(error, res);
    } else {
        const char *object = pay_json_str(o, "object");
        if (object != NULL && strcmp(object, "refund") == 0) {
            map_refund(o, res);
        } else {
            map_intent(o, res);
        }
    }
    json_decref(o);
    return true;
}

/* ---- Sending ---------------------------------------------------------------- */

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct pay_buf *b = userdata;
    size_t n = size * nmemb;
    return pay_buf_add(b, ptr, n) == PAY_OK ? n : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One HTTP exchange. *http_out 0 when no answer came; *timed_out on a timeout. */
static CURLcode exchange(const struct pay_stripe_config *cfg, const struct pay_stripe_req *r,
                         struct pay_buf *resp, long *http_out)
{
    *http_out = 0;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return CURLE_FAILED_INIT;
    }
    char url[URL_LEN_MAX];
    const char *base = cfg->base_url ? cfg->base_url : "https://api.stripe.com";
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, r->path);

    struct curl_slist *h = NULL;
    struct pay_buf line;
    pay_buf_init(&line, 1024);
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (pay_buf_addf(&line, "Authorization: Bearer %s", cfg->secret_key) != PAY_OK) {
        goto out;
    }
    h = curl_slist_append(h, line.data);
    explicit_bzero(line.data, line.len);
    pay_buf_reset(&line);
    if (cfg->api_version != NULL && cfg->api_version[0] != '\0' &&
        pay_buf_addf(&line, "Stripe-Version: %s", cfg->api_version) == PAY_OK) {
        h = curl_slist_append(h, line.data);
    }
    pay_buf_reset(&line);
    if (r->idempotency_key[0] != '\0' &&
        pay_buf_addf(&line, "Idempotency-Key: %s", r->idempotency_key) == PAY_OK) {
        h = curl_slist_append(h, line.data);
    }
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "User-Agent: payd");
    /* No "Expect: 100-continue" round trip. */
    h = curl_slist_append(h, "Expect:");

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body ? r->body : ""));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_out);
    }
out:
    curl_slist_free_all(h);
    pay_buf_release(&line);
    curl_easy_cleanup(c);
    return cc;
}

enum pay_err pay_stripe_send(const struct pay_stripe_config *cfg, const struct pay_stripe_req *r,
                             struct pay_conn_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = PAY_CONN_UNKNOWN;
    if (cfg == NULL || cfg->secret_key == NULL || cfg->secret_key[0] == '\0' || r->path == NULL) {
        res->status = PAY_CONN_FAILED;
        snprintf(res->message, sizeof(res->message), "Stripe is not configured.");
        return PAY_ERR_PARAM_INVALID;
    }
    pthread_once(&curl_once, curl_init_once);
    int retries = cfg->retries < 0                        ? 0
                  : cfg->retries > PAY_STRIPE_RETRIES_MAX ? PAY_STRIPE_RETRIES_MAX
                                                          : cfg->retries;
    long backoff = cfg->backoff_ms > 0 ? cfg->backoff_ms : 100;
    for (int i = 0; i <= retries; i++) {
        if (i > 0) {
            sleep_ms(backoff);
            backoff = backoff * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : backoff * 2;
        }
        struct pay_buf resp;
        pay_buf_init(&resp, RESPONSE_BYTES_MAX);
        long http = 0;
        CURLcode cc = exchange(cfg, r, &resp, &http);
        res->attempts = i + 1;
        if (cc == CURLE_OK) {
            bool final = pay_stripe_parse_answer(http, resp.data, resp.len, res);
            pay_buf_release(&resp);
            if (final) {
                return PAY_OK;
            }
            snprintf(res->message, sizeof(res->message), "Stripe answered HTTP %ld.", http);
        } else {
            pay_buf_release(&resp);
            res->http_status = 0;
            snprintf(res->message, sizeof(res->message), "Stripe unreachable: %s.",
                     curl_easy_strerror(cc));
        }
        pay_logf(PAY_LOG_WARN, NULL, "stripe %s %s: attempt %d of %d: %s", r->method, r->path,
                 i + 1, retries + 1, res->message);
    }
    /* Retries exhausted: Stripe may have acted on one of them. */
    res->status = PAY_CONN_UNKNOWN;
    return PAY_OK;
}

/*
 * momo_intents.c - payment intents paid by mobile money (mobile_money.h):
 * the mobile_wallet payment method, momo_requests rows (migration 0011),
 * next_action.mobile_money_request with its QR code, exactly-once
 * application of outcomes, callbacks, OTP, fallback and the poller.
 *
 * Invariants:
 * - a request row (with its reference) is committed before the
 *   request-to-pay is sent; the network is never used inside a transaction;
 * - an outcome is applied only by the caller whose conditional UPDATE moved
 *   the row out of sending/pending/canceling, under the intent's row lock:
 *   one ledger entry per paid request, whatever races (callback, poller, the
 *   request's own answer, an OTP);
 * - a request the intent stopped waiting for (canceled, superseded) is
 *   `canceling`, not settled: a wallet cannot withdraw a prompt already on
 *   the payer's phone, so it is still asked about (never sent again) until
 *   it settles; paid anyway, it becomes `succeeded_unapplied`, booked as
 *   money held for the payer (never to the intent) and announced;
 * - a request payd itself fails at its expiry (EXPIRED) is `late`: failed
 *   or canceled, but with its sealed config kept, and still asked about
 *   (and its callbacks taken) until the wallet answers or
 *   PAY_MOMO_LATE_WATCH_S has passed; paid meanwhile, it is unapplied money
 *   like the above. A late row is exactly one with status failed or
 *   canceled and a config;
 * - the payer's number lives only sealed: in the payment method's token
 *   (PAY_MOMO_WALLET_SEAL_LABEL, the method's id as additional data; a
 *   clear one written by an older payd is read as is and resealed at
 *   start, pay_momo_wallets_reseal) and in the request's config; logs and
 *   objects show its last four digits;
 * - the sealed config is wiped once the request is settled (for a late one,
 *   once it is no longer asked about).
 *
 * Threading: pay_op functions run in the caller's transaction; the job
 * functions only use the network; pay_momo_poll runs its own transactions.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../qr/qr.h"
#include "mobile_money.h"
#include "payments_int.h"

#define CALLBACK_PATH "/v1/mobile_money/callbacks/"
#define CALLBACK_SIG_LABEL "payd momo callback v1:"
#define CONFIG_BYTES_MAX (256 * 1024)
/* A sealed wallet number: "enc1:" + hex of nonce, up to 15 digits and tag. */
#define WALLET_SEALED_LEN_MAX 128
/* Clear wallet numbers resealed per transaction at start. */
#define RESEAL_BATCH_MAX 100
#define QR_BYTES_MAX (512 * 1024)

static const char *const ST_SENDING = "sending";
static const char *const ST_PENDING = "pending";
static const char *const ST_CANCELING = "canceling";
static const char *const ST_UNAPPLIED = "succeeded_unapplied";

/* A wallet payment no intent waits for: the wallet holds it for us, and we
 * owe it to the payer until it is refunded or applied (ledger.h's chart). */
#define ACCOUNT_PROCESSOR "assets:processor:" PAY_CONNECTOR_MOBILE_MONEY

/* ---- The payer's wallet as a payment method ---------------------------------- */

enum pay_err pay_momo_pm_create(struct pay_op *op, const char *phone, const char *param,
                                char pm_id_out[PAY_ID_LEN_MAX + 1])
{
    pm_id_out[0] = '\0';
    char digits[PAY_MOMO_MSISDN_LEN_MAX + 1];
    size_t n = 0;
    bool ok = phone != NULL;
    for (const char *c = phone ? phone : ""; ok && *c; c++) {
        if (*c >= '0' && *c <= '9') {
            ok = n < PAY_MOMO_MSISDN_LEN_MAX;
            if (ok) {
                digits[n++] = *c;
            }
        } else if (*c == '+' && c == phone) {
            continue;
        } else {
            ok = *c == ' ' || *c == '-' || *c == '.' || *c == '(' || *c == ')';
        }
    }
    digits[n] = '\0';
    if (!ok || !pay_momo_msisdn_valid(digits)) {
        explicit_bzero(digits, sizeof(digits));
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, param,
                             "Invalid %s: a wallet number of %d to %d digits (a leading + and "
                             "spaces allowed).",
                             param, PAY_MOMO_MSISDN_LEN_MIN, PAY_MOMO_MSISDN_LEN_MAX);
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("pm", id);
    int64_t now = pay_now();
    json_t *o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "payment_method");
    json_t *bd = json_object();
    json_t *addr = json_object();
    static const char *const addr_keys[] = {"city",        "country", "line1", "line2",
                                            "postal_code", "state",   NULL};
    for (size_t i = 0; addr_keys[i] != NULL; i++) {
        json_object_set_new(addr, addr_keys[i], json_null());
    }
    json_object_set_new_nocheck(bd, "address", addr);
    json_object_set_new_nocheck(bd, "email", json_null());
    json_object_set_new_nocheck(bd, "name", json_null());
    json_object_set_new_nocheck(bd, "phone", json_null());
    json_object_set_new_nocheck(o, "billing_details", bd);
    pay_json_set_int(o, "created", now);
    json_object_set_new_nocheck(o, "customer", json_null());
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "metadata", json_object());
    json_t *mw = json_object();
    pay_json_set_str(mw, "phone_last4", digits + n - 4);
    json_object_set_new_nocheck(o, "mobile_wallet", mw);
    pay_json_set_str(o, "type", PAY_TENDER_MOBILE_WALLET);
    char *data = pay_json_dump(o);
    json_decref(o);
    struct pay_buf sealed;
    pay_buf_init(&sealed, WALLET_SEALED_LEN_MAX);
    enum pay_err e = data != NULL ? pay_seal(op->fingerprint_key, PAY_MOMO_WALLET_SEAL_LABEL, id,
                                             digits, n, &sealed)
                                  : PAY_ERR_NOMEM;
    explicit_bzero(digits, sizeof(digits));
    if (e != PAY_OK || sealed.data == NULL) {
        free(data);
        pay_buf_release(&sealed);
        return pay_error_set(op->err, e != PAY_OK ? e : PAY_ERR_NOMEM, NULL,
                             "Cannot seal the wallet number.");
    }
    struct pay_param p[] = {
        PAY_PTEXT(id),
        PAY_PINT(now),
        PAY_PNULL,
        PAY_PTEXT(PAY_TENDER_MOBILE_WALLET),
        PAY_PTEXT(PAY_CONNECTOR_MOBILE_MONEY),
        PAY_PTEXT(sealed.data),
        PAY_PJSON(data),
    };
    e = pay_tx_exec(op->tx,
                    "INSERT INTO payment_methods (id, created, customer, type, "
                    "connector, token, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    p, PAY_NPARAMS(p), NULL);
    free(data);
    pay_buf_release(&sealed);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    pay_copy_str(pm_id_out, PAY_ID_LEN_MAX + 1, id);
    return PAY_OK;
}

/*
 * The wallet number of payment method @pm_id (a mobile_wallet) into @out:
 * unsealed, or as stored when an older payd wrote it in clear.
 * PAY_ERR_PARAM_INVALID naming "payment_method" when it is not a valid
 * wallet number (or cannot be unsealed). Wipe @out after use.
 */
static enum pay_err wallet_number(struct pay_op *op, const char *pm_id,
                                  char out[PAY_MOMO_MSISDN_LEN_MAX + 1])
{
    out[0] = '\0';
    struct pay_param p[1] = {PAY_PTEXT(pm_id)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT token FROM payment_methods WHERE id = $1 AND type = "
                                  "'" PAY_TENDER_MOBILE_WALLET "'",
                                  p, 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    struct pay_buf b;
    pay_buf_init(&b, PAY_MOMO_MSISDN_LEN_MAX + 1);
    const char *token = pay_rows_next(r) ? pay_rows_text(r, 0) : NULL;
    if (token != NULL &&
        pay_unseal(op->fingerprint_key, PAY_MOMO_WALLET_SEAL_LABEL, pm_id, token, &b) == PAY_OK &&
        b.data != NULL && pay_momo_msisdn_valid(b.data)) {
        pay_copy_str(out, PAY_MOMO_MSISDN_LEN_MAX + 1, b.data);
    }
    if (b.data != NULL) {
        explicit_bzero(b.data, b.len);
    }
    pay_buf_release(&b);
    e = pay_rows_close(r);
    if (e != PAY_OK) {
        explicit_bzero(out, PAY_MOMO_MSISDN_LEN_MAX + 1);
        return pay_op_fail(op, e);
    }
    if (out[0] == '\0') {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method",
                             "The payment method is not a mobile wallet (or its number cannot be "
                             "read: was the server key changed?).");
    }
    return PAY_OK;
}

struct reseal_batch {
    const char *server_key;
    char after[PAY_ID_LEN_MAX + 1]; /* the last id read: the next batch starts past it */
    int64_t read, resealed;
};

static enum pay_err reseal_batch(struct pay_tx *tx, void *arg)
{
    struct reseal_batch *a = arg;
    a->read = 0;
    a->resealed = 0;
    struct pay_param lp[2] = {PAY_PTEXT(a->after), PAY_PINT(RESEAL_BATCH_MAX)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(tx,
                                  "SELECT id, token FROM payment_methods WHERE type = "
                                  "'" PAY_TENDER_MOBILE_WALLET "' AND token NOT LIKE 'enc1:%' "
                                  "AND id > $1 ORDER BY id LIMIT $2",
                                  lp, 2, &r);
    if (e != PAY_OK) {
        return e;
    }
    char ids[RESEAL_BATCH_MAX][PAY_ID_LEN_MAX + 1];
    char clear[RESEAL_BATCH_MAX][PAY_MOMO_MSISDN_LEN_MAX + 1];
    int n = 0;
    while (a->read < RESEAL_BATCH_MAX && pay_rows_next(r)) {
        /* Rows that are not a number (never sealable) are passed over, not
         * read again by every batch. */
        a->read++;
        pay_copy_str(a->after, sizeof(a->after), pay_rows_text(r, 0));
        const char *token = pay_rows_text(r, 1);
        if (token != NULL && pay_momo_msisdn_valid(token)) {
            pay_copy_str(ids[n], sizeof(ids[n]), pay_rows_text(r, 0));
            pay_copy_str(clear[n], sizeof(clear[n]), token);
            n++;
        }
    }
    e = pay_rows_close(r);
    for (int i = 0; e == PAY_OK && i < n; i++) {
        struct pay_buf sealed;
        pay_buf_init(&sealed, WALLET_SEALED_LEN_MAX);
        e = pay_seal(a->server_key, PAY_MOMO_WALLET_SEAL_LABEL, ids[i], clear[i], strlen(clear[i]),
                     &sealed);
        if (e == PAY_OK && sealed.data != NULL) {
            int64_t changes = 0;
            struct pay_param p[] = {PAY_PTEXT(ids[i]), PAY_PTEXT(clear[i]), PAY_PTEXT(sealed.data)};
            e = pay_tx_exec(tx,
                            "UPDATE payment_methods SET token = $3 WHERE id = $1 AND token = $2", p,
                            PAY_NPARAMS(p), &changes);
            a->resealed += changes;
        }
        pay_buf_release(&sealed);
    }
    explicit_bzero(clear, sizeof(clear));
    return e;
}

enum pay_err pay_momo_wallets_reseal(struct pay_store *s, const char *server_key,
                                     int64_t *resealed_out)
{
    *resealed_out = 0;
    if (server_key == NULL || server_key[0] == '\0') {
        return PAY_OK; /* nothing to seal with: pay_seal would store them as they are */
    }
    struct reseal_batch a = {.server_key = server_key};
    enum pay_err e;
    do {
        e = pay_store_write(s, reseal_batch, &a);
        *resealed_out += e == PAY_OK ? a.resealed : 0;
    } while (e == PAY_OK && a.read == RESEAL_BATCH_MAX);
    return e;
}

/* ---- Provider config ---------------------------------------------------------- */

/* A string of the config: connector_config first, then its credentials. */
static const char *cfg_str(const json_t *cfg, const char *key)
{
    const char *v = pay_json_str(cfg, key);
    if (v == NULL) {
        v = pay_json_str(json_object_get(cfg, "credentials"), key);
    }
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* An integer of the config (a JSON integer or a decimal string), or @dflt. */
static int64_t cfg_int(const json_t *cfg, const char *key, int64_t dflt, int64_t min, int64_t max)
{
    const json_t *v = json_object_get(cfg, key);
    int64_t x = dflt;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_string(v)) {
        char *end = NULL;
        long long y = strtoll(json_string_value(v), &end, 10);
        if (end != NULL && *end == '\0' && end != json_string_value(v)) {
            x = y;
        }
    }
    return x < min || x > max ? dflt : x;
}

static const struct pay_momo_profile *cfg_profile(const json_t *cfg)
{
    const char *w = cfg_str(cfg, "wallet");
    if (w == NULL) {
        w = cfg_str(cfg, "profile");
    }
    return pay_momo_profile_find(w != NULL ? w : "mtn_momo");
}

/* The connector config of @cfg (strings borrowed from it). */
static void momo_config(const json_t *cfg, struct pay_momo_config *out)
{
    memset(out, 0, sizeof(*out));
    out->profile = cfg_profile(cfg);
    out->base_url = cfg_str(cfg, "base_url");
    out->api_user = cfg_str(cfg, "api_user");
    out->api_key = cfg_str(cfg, "api_key");
    out->subscription_key = cfg_str(cfg, "subscription_key");
    out->target_environment = cfg_str(cfg, "target_environment");
    out->timeout_ms = (long)cfg_int(cfg, "timeout_ms", 15000, 100, 120000);
    out->connect_timeout_ms = (long)cfg_int(cfg, "connect_timeout_ms", 5000, 100, 60000);
}

/* hex HMAC-SHA256 of the reference, under the provider's callback secret or the server key. */
static void callback_sig(const json_t *cfg, const char *server_key, const char *reference,
                         char hex[65])
{
    const char *key = cfg_str(cfg, "callback_secret");
    if (key == NULL) {
        key = server_key != NULL ? server_key : "";
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "%s%s", CALLBACK_SIG_LABEL, reference);
    unsigned char mac[32];
    pay_hmac_sha256(key, strlen(key), msg, strlen(msg), mac);
    pay_hex_encode(mac, sizeof(mac), hex);
}

/* ---- Rows ----------------------------------------------------------------------- */

struct req_row {
    char intent[PAY_ID_LEN_MAX + 1];
    char provider[64];
    char profile[32];
    char status[24];
    char currency[4];
    int64_t amount_minor;
    int64_t created, expires_at;
    bool otp;
    bool late;     /* failed or canceled by payd at its expiry, still asked about */
    bool approved; /* a person approved its attempt (migration 0016) */
    char *config;  /* sealed (owned) */
};

static enum pay_err request_get(struct pay_op *op, const char *reference, json_t **out);

static void req_row_release(struct req_row *r)
{
    free(r->config);
    memset(r, 0, sizeof(*r));
}

static enum pay_err req_load(struct pay_op *op, const char *reference, struct req_row *out)
{
    memset(out, 0, sizeof(*out));
    if (!pay_momo_uuid4_valid(reference)) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "reference",
                             "No such mobile money request.");
    }
    struct pay_param p[1] = {PAY_PTEXT(reference)};
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx,
                                  "SELECT intent, provider, profile, status, currency, amount, "
                                  "created, expires_at, otp, config, approved FROM momo_requests "
                                  "WHERE reference = $1",
                                  p, 1, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    bool found = false;
    if (pay_rows_next(r)) {
        found = true;
        pay_copy_str(out->intent, sizeof(out->intent), pay_rows_text(r, 0));
        pay_copy_str(out->provider, sizeof(out->provider), pay_rows_text(r, 1));
        pay_copy_str(out->profile, sizeof(out->profile), pay_rows_text(r, 2));
        pay_copy_str(out->status, sizeof(out->status), pay_rows_text(r, 3));
        pay_copy_str(out->currency, sizeof(out->currency), pay_rows_text(r, 4));
        out->amount_minor = pay_rows_int(r, 5);
        out->created = pay_rows_int(r, 6);
        out->expires_at = pay_rows_int(r, 7);
        out->otp = pay_rows_int(r, 8) != 0;
        const char *c = pay_rows_text(r, 9);
        out->config = c != NULL ? strdup(c) : NULL;
        if (c != NULL && out->config == NULL) {
            e = PAY_ERR_NOMEM;
        }
        out->approved = pay_rows_int(r, 10) != 0;
        out->late =
            (pay_str_eq(out->status, "failed") || pay_str_eq(out->status, "canceled")) && c != NULL;
    }
    enum pay_err ce = pay_rows_close(r);
    e = e != PAY_OK ? e : ce;
    if (e != PAY_OK) {
        req_row_release(out);
        return pay_op_fail(op, e);
    }
    if (!found) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "reference",
                             "No such mobile money request.");
    }
    return PAY_OK;
}

/* The intent may still wait for it: sending or pending. */
static bool open_status(const char *s)
{
    return pay_str_eq(s, ST_SENDING) || pay_str_eq(s, ST_PENDING);
}

/* Not settled: open, or canceling (the wallet may still take the payment). */
static bool watched_status(const char *s)
{
    return open_status(s) || pay_str_eq(s, ST_CANCELING);
}

/* Unseal @sealed (the request's config) into a new object, or NULL. */
static json_t *unseal_config(const char *server_key, const char *reference, const char *sealed)
{
    if (sealed == NULL) {
        return NULL;
    }
    struct pay_buf b;
    pay_buf_init(&b, CONFIG_BYTES_MAX);
    json_t *o = NULL;
    if (pay_unseal(server_key, PAY_MOMO_SEAL_LABEL, reference, sealed, &b) == PAY_OK &&
        b.data != NULL) {
        json_error_t jerr;
        o = json_loadb(b.data, b.len, 0, &jerr);
        explicit_bzero(b.data, b.len);
    }
    pay_buf_release(&b);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The rows pay_momo_apply may still change: watched, or late. */
#define LATE_WHERE "(status IN ('failed', 'canceled') AND config IS NOT NULL)"

/* Move request @reference out of sending/pending/canceling (@late: out of its late watch) to
 * @status; *changed tells whether it did. */
static enum pay_err settle_row(struct pay_op *op, const char *reference, const char *status,
                               const char *reason, const char *financial_id, int http_status,
                               const char *source, bool late, bool *changed)
{
    int64_t changes = 0;
    struct pay_param p[] = {
        PAY_PTEXT(reference),
        PAY_PTEXT(status),
        reason != NULL && reason[0] ? PAY_PTEXT(reason) : PAY_PNULL,
        financial_id != NULL && financial_id[0] ? PAY_PTEXT(financial_id) : PAY_PNULL,
        PAY_PINT(http_status),
        PAY_PINT(pay_now()),
        PAY_PTEXT(source),
    };
    enum pay_err e = pay_tx_exec(op->tx,
                                 late ? "UPDATE momo_requests SET status = $2, reason = $3, "
                                        "financial_id = $4, http_status = $5, settled_at = $6, "
                                        "settled_by = $7, config = NULL, next_poll_at = 0, "
                                        "polls = polls + 1 "
                                        "WHERE reference = $1 AND " LATE_WHERE
                                      : "UPDATE momo_requests SET status = $2, reason = $3, "
                                        "financial_id = $4, http_status = $5, settled_at = $6, "
                                        "settled_by = $7, config = NULL, next_poll_at = 0 "
                                        "WHERE reference = $1 AND status IN ('sending', "
                                        "'pending', 'canceling')",
                                 p, PAY_NPARAMS(p), &changes);
    *changed = e == PAY_OK && changes == 1;
    return pay_op_fail(op, e);
}

/*
 * Payd gives up on request @reference at its expiry: @status (failed, or canceled for one the
 * intent no longer waited for) with reason EXPIRED, settled by @source, but its sealed config
 * kept so that it is still asked about (a late row, apply_late). *changed as settle_row's.
 */
static enum pay_err expire_row(struct pay_op *op, const char *reference, const char *status,
                               int http_status, const char *source, bool *changed)
{
    int64_t changes = 0;
    int64_t now = pay_now();
    struct pay_param p[] = {
        PAY_PTEXT(reference), PAY_PTEXT(status), PAY_PINT(http_status),
        PAY_PINT(now),        PAY_PTEXT(source), PAY_PINT(now + PAY_MOMO_POLL_EVERY_S),
    };
    enum pay_err e = pay_tx_exec(op->tx,
                                 "UPDATE momo_requests SET status = $2, reason = 'EXPIRED', "
                                 "http_status = $3, settled_at = $4, settled_by = $5, "
                                 "next_poll_at = $6, polls = polls + 1 "
                                 "WHERE reference = $1 AND status IN ('sending', 'pending', "
                                 "'canceling') AND config IS NOT NULL",
                                 p, PAY_NPARAMS(p), &changes);
    *changed = e == PAY_OK && changes == 1;
    return pay_op_fail(op, e);
}

/* A late request is no longer asked about (@stop: the wallet failed it, or the watch is
 * over; its config is wiped), or is asked about again, less often as time passes. */
static enum pay_err late_reschedule(struct pay_op *op, const char *reference, int64_t expires_at,
                                    int http_status, bool stop)
{
    int64_t now = pay_now();
    int64_t every = (now - expires_at) / 10;
    every = every < PAY_MOMO_POLL_EVERY_S      ? PAY_MOMO_POLL_EVERY_S
            : every > PAY_MOMO_LATE_POLL_MAX_S ? PAY_MOMO_LATE_POLL_MAX_S
                                               : every;
    struct pay_param p[] = {PAY_PTEXT(reference), PAY_PINT(http_status),
                            PAY_PINT(stop ? 0 : now + every)};
    return pay_op_fail(
        op, pay_tx_exec(op->tx,
                        stop ? "UPDATE momo_requests SET config = NULL, http_status = $2, "
                               "next_poll_at = $3, polls = polls + 1 "
                               "WHERE reference = $1 AND " LATE_WHERE
                             : "UPDATE momo_requests SET http_status = $2, next_poll_at = $3, "
                               "polls = polls + 1 WHERE reference = $1 AND " LATE_WHERE,
                        p, PAY_NPARAMS(p), NULL));
}

/* Not settled yet: note the look and when to look again; @canceling: the intent no longer
 * waits for it (it is only asked about from now on). */
static enum pay_err reschedule(struct pay_op *op, const char *reference, bool accepted,
                               bool was_send, int http_status, bool canceling)
{
    struct pay_param p[] = {
        PAY_PTEXT(reference),
        PAY_PINT(accepted ? 1 : 0),
        PAY_PINT(was_send ? 1 : 0),
        PAY_PINT(http_status),
        PAY_PINT(pay_now() + (was_send && !accepted && !canceling ? PAY_MOMO_RESEND_AFTER_S
                                                                  : PAY_MOMO_POLL_EVERY_S)),
        PAY_PINT(canceling ? 1 : 0),
    };
    return pay_op_fail(
        op, pay_tx_exec(op->tx,
                        "UPDATE momo_requests SET "
                        "status = CASE WHEN $6 = 1 THEN 'canceling' "
                        "WHEN $2 = 1 AND status = 'sending' THEN 'pending' ELSE status END, "
                        "sends = sends + $3, polls = polls + 1 - $3, http_status = $4, "
                        "next_poll_at = $5 "
                        "WHERE reference = $1 AND status IN ('sending', 'pending', 'canceling')",
                        p, PAY_NPARAMS(p), NULL));
}

/* ---- Beginning a request -------------------------------------------------------- */

static json_t *next_action(struct pay_op *op, const struct pay_momo_profile *profile,
                           const char *provider, const char *reference, const char *last4,
                           const char *amount, const char *currency, int64_t expires_at)
{
    struct pay_buf payload, png, svg;
    pay_buf_init(&payload, 1024);
    pay_buf_init(&png, QR_BYTES_MAX);
    pay_buf_init(&svg, QR_BYTES_MAX);
    json_t *na = NULL;
    /* What the QR code carries: payd's wallet payment URI with the reference. */
    enum pay_err e = pay_buf_addf(&payload,
                                  "momo:pay?reference=%s&provider=%s&wallet=%s&amount=%s&"
                                  "currency=%s",
                                  reference, provider, profile->name, amount, currency);
    if (e == PAY_OK) {
        e = pay_qr_png_data_url(payload.data, PAY_QR_SCALE_DEFAULT, PAY_QR_MARGIN_DEFAULT, &png);
    }
    if (e == PAY_OK) {
        e = pay_qr_svg(payload.data, PAY_QR_SCALE_DEFAULT, PAY_QR_MARGIN_DEFAULT, &svg);
    }
    if (e == PAY_OK) {
        json_t *qr = json_object();
        pay_json_set_str(qr, "payload", payload.data);
        pay_json_set_str(qr, "png", png.data);
        pay_json_set_str(qr, "svg", svg.data);
        json_t *m = json_object();
        pay_json_set_str(m, "reference", reference);
        pay_json_set_str(m, "provider", provider);
        pay_json_set_str(m, "wallet", profile->name);
        pay_json_set_str(m, "wallet_name", profile->display_name);
        pay_json_set_str(m, "payer_phone_last4", last4);
        pay_json_set_str(m, "amount", amount);
        pay_json_set_str(m, "currency", currency);
        pay_json_set_bool(m, "otp_required", profile->otp_path != NULL);
        pay_json_set_str(m, "instructions", profile->instructions);
        json_object_set_new_nocheck(m, "qr_code", qr);
        pay_json_set_int(m, "expires_at", expires_at);
        na = json_object();
        pay_json_set_str(na, "type", "mobile_money_request");
        json_object_set_new_nocheck(na, "mobile_money_request", m);
    }
    pay_buf_release(&payload);
    pay_buf_release(&png);
    pay_buf_release(&svg);
    (void)op;
    return na;
}

/*
 * Intent @intent stops waiting for its open request (canceled, or a new
 * attempt supersedes it): `canceling`. The prompt may already be on the
 * payer's phone and no wallet can take it back, so the row keeps its sealed
 * config and the poller keeps asking (never sending) until the wallet
 * settles it: canceled, or succeeded_unapplied (pay_momo_apply).
 */
static enum pay_err close_open(struct pay_op *op, const char *intent)
{
    struct pay_param p[] = {PAY_PTEXT(intent), PAY_PINT(pay_now())};
    return pay_op_fail(op, pay_tx_exec(op->tx,
                                       "UPDATE momo_requests SET status = 'canceling', "
                                       "next_poll_at = $2 "
                                       "WHERE intent = $1 AND status IN ('sending', 'pending')",
                                       p, PAY_NPARAMS(p), NULL));
}

/*
 * A new request to pay for @row through @route, committed before it is sent.
 * @approved: a person approved this attempt (provider_review or
 * fraud_review), kept on the request so that a fallback does not hold the
 * payment again.
 */
static enum pay_err begin(struct pay_op *op, struct pay_intent_row *row,
                          const struct pay_route_choice *route, bool approved,
                          char ref_out[PAY_MOMO_REF_LEN])
{
    ref_out[0] = '\0';
    const char *intent = pay_json_str(row->obj, "id");
    const char *pm_id = pay_json_str(row->obj, "payment_method");
    if (pm_id == NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING,
                             "payment_method_data[mobile_wallet][phone]",
                             "A mobile wallet payment needs the payer's wallet number: "
                             "payment_method_data[type]=mobile_wallet and "
                             "payment_method_data[mobile_wallet][phone].");
    }
    struct pay_pm_charge pm;
    enum pay_err e = pay_payment_method_for_charge(op, pm_id, "payment_method", &pm);
    if (e != PAY_OK) {
        return e;
    }
    explicit_bzero(pm.token, sizeof(pm.token));
    if (!pay_str_eq(pm.type, PAY_TENDER_MOBILE_WALLET)) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "payment_method",
                             "The payment method is not a mobile wallet.");
    }
    const json_t *cfg = route->config;
    const struct pay_momo_profile *profile = cfg_profile(cfg);
    if (profile == NULL) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, "provider",
                             "Provider '%s': connector_config[wallet] is not one of mtn_momo, "
                             "zain_cash, sudani_cash, bankak.",
                             route->provider);
    }
    if (cfg_str(cfg, "base_url") == NULL || cfg_str(cfg, "api_user") == NULL ||
        cfg_str(cfg, "api_key") == NULL) {
        return pay_error_set(op->err, PAY_ERR_PROVIDER, "provider",
                             "Provider '%s' needs connector_config[base_url] and "
                             "credentials[api_user] and credentials[api_key].",
                             route->provider);
    }
    const char *cur_code = pay_json_str(row->obj, "currency");
    const struct pay_currency *cur = pay_currency_find(cur_code);
    int64_t amount = pay_json_int(row->obj, "amount", 0);
    char amount_s[32];
    if (cur == NULL || pay_amount_format(amount, cur, amount_s, sizeof(amount_s)) == 0) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "currency",
                             "The intent's currency cannot be sent to a wallet.");
    }
    char currency_up[4];
    for (size_t i = 0; i < 4; i++) {
        char c = cur->code[i];
        currency_up[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    char payer[PAY_MOMO_MSISDN_LEN_MAX + 1];
    e = wallet_number(op, pm.id, payer);
    if (e == PAY_OK) {
        e = close_open(op, intent);
    }
    if (e != PAY_OK) {
        explicit_bzero(payer, sizeof(payer));
        return e;
    }

    char reference[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(reference);
    int64_t now = pay_now();
    int64_t expires_at =
        now + cfg_int(cfg, "expires_in_s", PAY_MOMO_EXPIRES_IN_S_DEFAULT, 60, 86400);
    /* The provider as chosen now, and the payer, sealed for the later steps. */
    json_t *sealed_cfg = json_deep_copy(cfg != NULL ? cfg : json_object());
    if (sealed_cfg == NULL) {
        explicit_bzero(payer, sizeof(payer));
        return pay_op_fail(op, PAY_ERR_NOMEM);
    }
    pay_json_set_str(sealed_cfg, "payer", payer);
    pay_json_set_str(sealed_cfg, "provider_name", route->provider);
    char *plain = pay_json_dump(sealed_cfg);
    json_decref(sealed_cfg);
    struct pay_buf sealed;
    pay_buf_init(&sealed, CONFIG_BYTES_MAX * 2);
    e = plain != NULL ? pay_seal(op->fingerprint_key, PAY_MOMO_SEAL_LABEL, reference, plain,
                                 strlen(plain), &sealed)
                      : PAY_ERR_NOMEM;
    if (plain != NULL) {
        explicit_bzero(plain, strlen(plain));
        free(plain);
    }
    char last4[5];
    pay_copy_str(last4, sizeof(last4), payer + strlen(payer) - 4);
    explicit_bzero(payer, sizeof(payer));
    if (e != PAY_OK) {
        pay_buf_release(&sealed);
        return pay_error_set(op->err, e, NULL, "Cannot seal the mobile money request.");
    }
    struct pay_param p[] = {
        PAY_PTEXT(reference),
        PAY_PINT(now),
        PAY_PTEXT(intent),
        PAY_PTEXT(route->provider),
        PAY_PTEXT(profile->name),
        PAY_PINT(amount),
        PAY_PTEXT(cur->code),
        PAY_PTEXT(last4),
        PAY_PINT(profile->otp_path != NULL ? 1 : 0),
        PAY_PTEXT(sealed.data),
        PAY_PINT(now + PAY_MOMO_RESEND_AFTER_S),
        PAY_PINT(expires_at),
        PAY_PINT(approved ? 1 : 0),
    };
    e = pay_tx_exec(op->tx,
                    "INSERT INTO momo_requests (reference, created, intent, provider, profile, "
                    "amount, currency, payer_last4, otp, status, config, next_poll_at, "
                    "expires_at, approved) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sending', "
                    "$10, $11, $12, $13)",
                    p, PAY_NPARAMS(p), NULL);
    pay_buf_release(&sealed);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    json_t *na = next_action(op, profile, route->provider, reference, last4, amount_s, currency_up,
                             expires_at);
    if (na == NULL) {
        return pay_error_set(op->err, PAY_ERR_INTERNAL, NULL, "Cannot draw the QR code.");
    }
    json_object_set_new_nocheck(row->obj, "next_action", na);
    json_object_set_new_nocheck(row->obj, "last_payment_error", json_null());
    pay_json_set_str(row->obj, "status", "requires_action");
    row->provider_ref[0] = '\0';
    e = pay_intent_row_save(op, row);
    if (e == PAY_OK) {
        e = pay_op_fail(op, pay_event_append(op->tx, "payment_intent.requires_action", row->obj,
                                             pay_json_str(row->obj, "customer"), op->request_id,
                                             NULL, op->err));
    }
    if (e != PAY_OK) {
        return e;
    }
    pay_copy_str(ref_out, PAY_MOMO_REF_LEN, reference);
    pay_logf(PAY_LOG_INFO, op->request_id, "momo request %s for %s via %s (%s), payer ****%s",
             reference, intent, route->provider, profile->name, last4);
    return PAY_OK;
}

enum pay_err pay_momo_begin(struct pay_op *op, struct pay_intent_row *row,
                            const struct pay_route_choice *route)
{
    /* An intent leaves requires_verification only by a person's approval
     * (it cannot be confirmed there): the request is sent as approved. */
    bool approved = pay_str_eq(pay_json_str(row->obj, "status"), "requires_verification");
    char ref[PAY_MOMO_REF_LEN];
    enum pay_err e = begin(op, row, route, approved, ref);
    if (e == PAY_OK && op->call != NULL) {
        /* Sent after the commit; without a continuation the poller sends it. */
        pay_copy_str(op->call->momo_reference, sizeof(op->call->momo_reference), ref);
    }
    return e;
}

/* ---- Jobs: what the network steps need ----------------------------------------- */

void pay_momo_job_release(struct pay_momo_job *j)
{
    if (j->config != NULL) {
        /* Wipe the secrets it holds before freeing. */
        const char *key;
        json_t *v;
        json_t *creds = json_object_get(j->config, "credentials");
        json_object_foreach(creds, key, v)
        {
            if (json_is_string(v)) {
                explicit_bzero((char *)json_string_value(v), json_string_length(v));
            }
        }
        json_t *payer = json_object_get(j->config, "payer");
        if (json_is_string(payer)) {
            explicit_bzero((char *)json_string_value(payer), json_string_length(payer));
        }
        json_decref(j->config);
    }
    memset(j, 0, sizeof(*j));
}

enum pay_err pay_momo_job_load(struct pay_op *op, const char *reference, struct pay_momo_job *out)
{
    memset(out, 0, sizeof(*out));
    struct req_row r;
    enum pay_err e = req_load(op, reference, &r);
    if (e != PAY_OK) {
        return e;
    }
    pay_copy_str(out->reference, sizeof(out->reference), reference);
    pay_copy_str(out->intent, sizeof(out->intent), r.intent);
    pay_copy_str(out->provider, sizeof(out->provider), r.provider);
    pay_copy_str(out->status, sizeof(out->status), r.status);
    pay_copy_str(out->currency, sizeof(out->currency), r.currency);
    out->otp = r.otp;
    out->late = r.late;
    out->amount_minor = r.amount_minor;
    out->created = r.created;
    out->expires_at = r.expires_at;
    if (watched_status(r.status) || r.late) {
        out->config = unseal_config(op->fingerprint_key, reference, r.config);
        if (out->config == NULL) {
            req_row_release(&r);
            return pay_error_set(op->err, PAY_ERR_PROVIDER, NULL,
                                 "The mobile money request %s cannot be read (was the server "
                                 "key changed?).",
                                 reference);
        }
        /* connector_config[callbacks]=false: no callback URL, the poller only. */
        const json_t *cb = json_object_get(out->config, "callbacks");
        bool callbacks = !json_is_false(cb) &&
                         !(json_is_string(cb) && (pay_str_eq(json_string_value(cb), "false") ||
                                                  pay_str_eq(json_string_value(cb), "0")));
        const char *base = op->public_url;
        if (callbacks && base != NULL && base[0] != '\0') {
            size_t blen = strlen(base);
            while (blen > 0 && base[blen - 1] == '/') {
                blen--;
            }
            char sig[65];
            callback_sig(out->config, op->fingerprint_key, reference, sig);
            snprintf(out->callback_url, sizeof(out->callback_url), "%.*s%s%s?sig=%s", (int)blen,
                     base, CALLBACK_PATH, reference, sig);
        }
    }
    req_row_release(&r);
    return PAY_OK;
}

static enum pay_err job_config(const struct pay_momo_job *j, struct pay_momo_config *c,
                               struct pay_momo_result *res)
{
    memset(res, 0, sizeof(*res));
    res->state = PAY_MOMO_REFUSED;
    if (j->config == NULL) {
        pay_copy_str(res->message, sizeof(res->message), "The request is settled.");
        return PAY_ERR_PROVIDER;
    }
    momo_config(j->config, c);
    if (c->profile == NULL) {
        pay_copy_str(res->message, sizeof(res->message), "Unknown wallet profile.");
        return PAY_ERR_PROVIDER;
    }
    return PAY_OK;
}

/* A request the intent no longer waits for is only asked about: never sent, no OTP. */
static enum pay_err job_waited(const struct pay_momo_job *j, struct pay_momo_result *res)
{
    if (open_status(j->status)) {
        return PAY_OK;
    }
    memset(res, 0, sizeof(*res));
    res->state = PAY_MOMO_REFUSED;
    pay_copy_str(res->message, sizeof(res->message),
                 "The payment intent no longer waits for this request.");
    return PAY_ERR_PROVIDER;
}

enum pay_err pay_momo_job_send(const struct pay_momo_job *j, struct pay_momo_result *res)
{
    struct pay_momo_config c;
    enum pay_err e = job_config(j, &c, res);
    if (e == PAY_OK) {
        e = job_waited(j, res);
    }
    if (e != PAY_OK) {
        return e;
    }
    const struct pay_momo_rtp rtp = {
        .amount_minor = j->amount_minor,
        .currency = pay_currency_find(j->currency),
        .external_id = j->intent,
        .payer_msisdn = pay_json_str(j->config, "payer"),
        .payer_message = cfg_str(j->config, "payer_message") ? cfg_str(j->config, "payer_message")
                                                             : "Payment request",
        .payee_note = j->intent,
        .callback_url = j->callback_url[0] ? j->callback_url : NULL,
    };
    struct pay_error err = {0};
    e = pay_momo_request_to_pay(&c, &rtp, j->reference, res, &err);
    if (e != PAY_OK) {
        res->state = PAY_MOMO_REFUSED;
        pay_copy_str(res->reason, sizeof(res->reason), "BAD_REQUEST");
        pay_copy_str(res->message, sizeof(res->message), err.message);
        return PAY_OK;
    }
    return PAY_OK;
}

enum pay_err pay_momo_job_status(const struct pay_momo_job *j, struct pay_momo_result *res)
{
    struct pay_momo_config c;
    enum pay_err e = job_config(j, &c, res);
    if (e != PAY_OK) {
        return e;
    }
    struct pay_error err = {0};
    e = pay_momo_status(&c, j->reference, res, &err);
    if (e != PAY_OK) {
        res->state = PAY_MOMO_UNKNOWN;
        pay_copy_str(res->message, sizeof(res->message), err.message);
    }
    return PAY_OK;
}

enum pay_err pay_momo_job_otp(const struct pay_momo_job *j, const char *otp,
                              struct pay_momo_result *res)
{
    struct pay_momo_config c;
    enum pay_err e = job_config(j, &c, res);
    if (e == PAY_OK) {
        e = job_waited(j, res);
    }
    if (e != PAY_OK) {
        return e;
    }
    struct pay_error err = {0};
    e = pay_momo_submit_otp(&c, j->reference, otp, res, &err);
    if (e != PAY_OK) {
        res->state = PAY_MOMO_REFUSED;
        pay_copy_str(res->reason, sizeof(res->reason), "OTP_INVALID");
        pay_copy_str(res->message, sizeof(res->message), err.message);
    }
    return PAY_OK;
}

/* ---- Applying outcomes ------------------------------------------------------------- */

static enum pay_err finish(struct pay_intent_row *row, enum pay_err e, json_t **out)
{
    if (out != NULL && (e == PAY_OK || e == PAY_ERR_CARD_DECLINED)) {
        *out = json_incref(row->obj);
    }
    pay_intent_row_release(row);
    return e;
}

/* The request the intent waits for, from its next_action. */
static const char *waited_reference(const json_t *obj)
{
    const json_t *na = json_object_get(obj, "next_action");
    if (!pay_str_eq(pay_json_str(na, "type"), "mobile_money_request") ||
        !pay_str_eq(pay_json_str(obj, "status"), "requires_action")) {
        return NULL;
    }
    return pay_json_str(json_object_get(na, "mobile_money_request"), "reference");
}

static enum pay_err decline(struct pay_op *op, struct pay_intent_row *row, const char *reason,
                            const char *message)
{
    const char *dc = pay_momo_decline_code(reason);
    const char *msg = pay_momo_decline_message(reason);
    if (pay_str_eq(dc, "generic_decline") && message != NULL && message[0] != '\0') {
        msg = message;
    }
    return pay_intent_attempt_failed(op, row, "payment_method_provider_decline", dc, msg);
}

/*
 * The provider was down before accepting: the next provider, or a decline.
 * A next provider with requires_manual_verification holds the payment
 * (verification kind provider_review; nothing is sent) as attempt()'s
 * fallback does, unless a person already @approved this attempt.
 */
static enum pay_err fall_back(struct pay_op *op, struct pay_intent_row *row, const char *provider,
                              bool approved, char next_reference[PAY_MOMO_REF_LEN])
{
    struct pay_route_choice route;
    enum pay_err e = pay_route_pick(op, row, PAY_TENDER_MOBILE_WALLET, provider, &route);
    if (e == PAY_ERR_NOT_FOUND) {
        pay_error_clear(op->err);
        return decline(op, row, "SERVICE_UNAVAILABLE", NULL);
    }
    if (e == PAY_OK) {
        e = pay_route_apply(op, row, &route);
    }
    char ref[PAY_MOMO_REF_LEN] = "";
    if (e == PAY_OK) {
        pay_logf(PAY_LOG_WARN, op->request_id,
                 "momo: provider %s unavailable; falling back to %s%s", provider, route.provider,
                 route.manual_verification && !approved ? ", held for its review" : "");
        e = route.manual_verification && !approved
                ? pay_verification_open(op, row, "provider_review", &route, false)
                : begin(op, row, &route, approved, ref);
    }
    pay_route_choice_release(&route);
    if (e == PAY_OK && next_reference != NULL) {
        pay_copy_str(next_reference, PAY_MOMO_REF_LEN, ref);
    }
    return e;
}

/*
 * The ledger entry and event of unapplied wallet money, request @obj:
 * @receipt books what the wallet took (Dr assets:processor:mobile_money /
 * Cr liabilities:unapplied_receipts:mobile_money, kind unapplied_receipt,
 * event mobile_money_request.unapplied); otherwise its paying back, the
 * reverse entry (kind unapplied_refund, event mobile_money_request.refunded).
 */
static enum pay_err unapplied_move(struct pay_op *op, const char *reference, const json_t *obj,
                                   bool receipt, const char *customer)
{
    int64_t amount = pay_json_int(obj, "amount", 0);
    int64_t held = receipt ? amount : -amount; /* onto the liability (credit-normal) */
    const struct pay_ledger_line lines[2] = {
        {.account = ACCOUNT_PROCESSOR, .amount_minor = held},
        {.account = PAY_ACCOUNT_UNAPPLIED_MOMO, .amount_minor = -held},
    };
    const struct pay_ledger_entry entry = {
        .kind = receipt ? "unapplied_receipt" : "unapplied_refund",
        .currency = pay_json_str(obj, "currency"),
        .source_id = reference,
        .description = receipt ? "Mobile money paid after its payment intent stopped waiting"
                               : "Unapplied mobile money paid back to the payer",
        .lines = lines,
        .n_lines = 2,
    };
    enum pay_err e = pay_op_fail(op, pay_ledger_post(op->tx, &entry, NULL, op->err));
    if (e == PAY_OK) {
        e = pay_op_fail(op, pay_event_append(op->tx,
                                             receipt ? "mobile_money_request.unapplied"
                                                     : "mobile_money_request.refunded",
                                             obj, customer, op->request_id, NULL, op->err));
    }
    return e;
}

/*
 * Request @reference was paid but no intent waits for it: book it as money
 * the wallet holds for us and we owe the payer (Dr assets:processor:
 * mobile_money / Cr liabilities:unapplied_receipts:mobile_money, no balance
 * transaction: it is not the merchant's), never to the intent; then
 * mobile_money_request.unapplied for staff to pay it back. The caller's
 * conditional UPDATE made this caller the only one.
 */
static enum pay_err book_unapplied(struct pay_op *op, const char *reference,
                                   const struct pay_intent_row *row)
{
    json_t *obj = NULL;
    enum pay_err e = request_get(op, reference, &obj);
    if (e != PAY_OK) {
        return e;
    }
    int64_t amount = pay_json_int(obj, "amount", 0);
    e = unapplied_move(op, reference, obj, true, pay_json_str(row->obj, "customer"));
    if (e == PAY_OK) {
        pay_logf(PAY_LOG_WARN, op->request_id,
                 "momo request %s was paid (%lld %s) after intent %s stopped waiting for it: "
                 "held as unapplied, to refund to the payer",
                 reference, (long long)amount, pay_json_str(obj, "currency"),
                 pay_json_str(row->obj, "id"));
    }
    json_decref(obj);
    return e;
}

/*
 * What @source learnt about request @reference, which intent @row no longer
 * waits for: paid -> succeeded_unapplied (book_unapplied); failed, refused
 * or not accepted by the wallet -> canceled; past its expiry -> canceled as
 * EXPIRED but still asked about (late, apply_late); otherwise canceling,
 * asked about again later. The intent itself is left alone.
 */
static enum pay_err apply_unwaited(struct pay_op *op, const char *reference,
                                   const struct pay_intent_row *row, const char *source,
                                   const struct pay_momo_result *res, int64_t expires_at)
{
    bool from_request = pay_str_eq(source, "request");
    bool changed = false;
    enum pay_err e = PAY_OK;
    switch (res->state) {
    case PAY_MOMO_SUCCESSFUL:
        e = settle_row(op, reference, ST_UNAPPLIED, NULL, res->financial_id, res->http_status,
                       source, false, &changed);
        if (e == PAY_OK && changed) {
            e = book_unapplied(op, reference, row);
        }
        return e;
    case PAY_MOMO_FAILED:
        return settle_row(op, reference, "canceled", res->reason, NULL, res->http_status, source,
                          false, &changed);
    case PAY_MOMO_REFUSED:
        if (pay_str_eq(res->reason, "RESOURCE_ALREADY_EXIST")) {
            break; /* it was received before: ask its status */
        }
        /* fallthrough */
    case PAY_MOMO_UNAVAILABLE:
        if (from_request) {
            /* The wallet did not take it: nobody can pay it. */
            return settle_row(op, reference, "canceled", res->reason, NULL, res->http_status,
                              source, false, &changed);
        }
        break;
    case PAY_MOMO_PENDING:
    case PAY_MOMO_UNKNOWN:
    case PAY_MOMO_NOT_FOUND:
        break;
    }
    if (!from_request && pay_now() >= expires_at) {
        /* Canceled as EXPIRED, but still asked about for a while (apply_late). */
        return expire_row(op, reference, "canceled", res->http_status, source, &changed);
    }
    return reschedule(op, reference, res->state == PAY_MOMO_PENDING, from_request, res->http_status,
                      true);
}

/*
 * What @source learnt about late request @reference (failed or canceled as
 * EXPIRED by payd, the intent's attempt already failed): paid ->
 * succeeded_unapplied (book_unapplied), never the intent's; failed by the
 * wallet, or PAY_MOMO_LATE_WATCH_S past its expiry -> left as it is and no
 * longer asked about; otherwise asked about again.
 */
static enum pay_err apply_late(struct pay_op *op, const char *reference,
                               const struct pay_intent_row *row, const char *source,
                               const struct pay_momo_result *res, int64_t expires_at)
{
    bool changed = false;
    enum pay_err e = PAY_OK;
    if (res->state == PAY_MOMO_SUCCESSFUL) {
        e = settle_row(op, reference, ST_UNAPPLIED, NULL, res->financial_id, res->http_status,
                       source, true, &changed);
        if (e == PAY_OK && changed) {
            e = book_unapplied(op, reference, row);
        }
        return e;
    }
    bool over = pay_now() >= expires_at + PAY_MOMO_LATE_WATCH_S;
    if (res->state == PAY_MOMO_FAILED || over) {
        pay_logf(PAY_LOG_INFO, op->request_id,
                 "momo request %s, expired by payd: %s; no longer asked about", reference,
                 res->state == PAY_MOMO_FAILED ? "failed by the wallet too"
                                               : "no final answer from the wallet in time");
    }
    return late_reschedule(op, reference, expires_at, res->http_status,
                           res->state == PAY_MOMO_FAILED || over);
}

enum pay_err pay_momo_apply(struct pay_op *op_in, const char *reference, const char *source,
                            const struct pay_momo_result *res,
                            char next_reference[PAY_MOMO_REF_LEN], json_t **intent_out)
{
    if (intent_out != NULL) {
        *intent_out = NULL;
    }
    if (next_reference != NULL) {
        next_reference[0] = '\0';
    }
    struct pay_op unscoped = *op_in;
    unscoped.customer_scope = NULL;
    struct pay_op *op = &unscoped;
    struct req_row rq;
    enum pay_err e = req_load(op, reference, &rq);
    if (e != PAY_OK) {
        return e;
    }
    char intent[PAY_ID_LEN_MAX + 1];
    pay_copy_str(intent, sizeof(intent), rq.intent);
    req_row_release(&rq);
    /* The intent's lock first, then the request's state under it. */
    struct pay_intent_row row;
    e = pay_intent_row_load(op, intent, true, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    e = req_load(op, reference, &rq);
    if (e != PAY_OK) {
        pay_intent_row_release(&row);
        return e;
    }
    bool was_open = watched_status(rq.status);
    bool late = rq.late;
    bool approved = rq.approved;
    int64_t expires_at = rq.expires_at;
    char provider[64];
    pay_copy_str(provider, sizeof(provider), rq.provider);
    req_row_release(&rq);
    if (late) {
        /* Payd gave up on it at its expiry; the wallet may not have. */
        e = apply_late(op, reference, &row, source, res, expires_at);
        return finish(&row, e, intent_out);
    }
    if (!was_open) {
        return finish(&row, PAY_OK, intent_out);
    }
    bool changed = false;
    bool from_request = pay_str_eq(source, "request");
    if (!pay_str_eq(waited_reference(row.obj), reference)) {
        /* The intent moved on (canceled, a new attempt, paid another way). */
        e = apply_unwaited(op, reference, &row, source, res, expires_at);
        return finish(&row, e, intent_out);
    }
    bool expired = pay_now() >= expires_at;
    struct pay_momo_result r = *res;
    bool expired_by_payd = false;
    if (expired && !from_request &&
        (r.state == PAY_MOMO_PENDING || r.state == PAY_MOMO_UNKNOWN ||
         r.state == PAY_MOMO_NOT_FOUND || r.state == PAY_MOMO_UNAVAILABLE)) {
        /* Nobody approved in time: payd gives up on it as the provider would,
         * but keeps asking the wallet for a while (apply_late). */
        r.state = PAY_MOMO_FAILED;
        pay_copy_str(r.reason, sizeof(r.reason), "EXPIRED");
        expired_by_payd = true;
    }
    if (r.state == PAY_MOMO_REFUSED && pay_str_eq(r.reason, "RESOURCE_ALREADY_EXIST")) {
        r.state = PAY_MOMO_PENDING; /* it was received before: ask its status */
    }
    switch (r.state) {
    case PAY_MOMO_SUCCESSFUL:
        e = settle_row(op, reference, "succeeded", NULL, r.financial_id, r.http_status, source,
                       false, &changed);
        if (e == PAY_OK && changed) {
            e = pay_intent_money_received(op, &row);
        }
        break;
    case PAY_MOMO_FAILED:
        e = expired_by_payd ? expire_row(op, reference, "failed", r.http_status, source, &changed)
                            : settle_row(op, reference, "failed", r.reason, NULL, r.http_status,
                                         source, false, &changed);
        if (e == PAY_OK && changed) {
            e = decline(op, &row, r.reason, r.message);
        }
        break;
    case PAY_MOMO_PENDING:
        e = reschedule(op, reference, true, from_request, r.http_status, false);
        break;
    case PAY_MOMO_UNAVAILABLE:
        if (!from_request) {
            e = reschedule(op, reference, false, false, r.http_status, false);
            break;
        }
        e = settle_row(op, reference, "failed", "SERVICE_UNAVAILABLE", NULL, r.http_status, source,
                       false, &changed);
        if (e == PAY_OK && changed) {
            e = fall_back(op, &row, provider, approved, next_reference);
        }
        break;
    case PAY_MOMO_REFUSED:
        if (!from_request) {
            e = reschedule(op, reference, false, false, r.http_status, false);
            break;
        }
        e = settle_row(op, reference, "failed", r.reason, NULL, r.http_status, source, false,
                       &changed);
        if (e == PAY_OK && changed) {
            e = decline(op, &row, r.reason, r.message);
        }
        break;
    case PAY_MOMO_UNKNOWN:
    case PAY_MOMO_NOT_FOUND:
        e = reschedule(op, reference, false, from_request, r.http_status, false);
        break;
    }
    if (e != PAY_OK && e != PAY_ERR_CARD_DECLINED) {
        pay_intent_row_release(&row);
        return e;
    }
    if (changed) {
        pay_logf(PAY_LOG_INFO, op->request_id, "momo request %s %s by %s", reference,
                 pay_momo_state_name(r.state), source);
    }
    return finish(&row, e, intent_out);
}

/* ---- Callbacks, OTP, cancel --------------------------------------------------------- */

enum pay_err pay_momo_callback(struct pay_op *op_in, const char *reference, const char *sig,
                               const char *body, size_t len)
{
    struct pay_op unscoped = *op_in;
    unscoped.customer_scope = NULL;
    struct pay_op *op = &unscoped;
    struct req_row rq;
    enum pay_err e = req_load(op, reference, &rq);
    if (e != PAY_OK) {
        return e;
    }
    /* A settled request's callback changes nothing (its config, with any
     * callback secret, is wiped): answered as taken. */
    bool settled = !watched_status(rq.status) && !rq.late;
    json_t *cfg = settled ? NULL : unseal_config(op->fingerprint_key, reference, rq.config);
    char want[65] = "";
    if (cfg != NULL) {
        callback_sig(cfg, op->fingerprint_key, reference, want);
    }
    bool ok = cfg != NULL && sig != NULL && pay_secure_equal(want, strlen(want), sig, strlen(sig));
    json_decref(cfg);
    free(rq.config);
    rq.config = NULL;
    if (settled) {
        return PAY_OK;
    }
    if (!ok) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "reference",
                             "No such mobile money request.");
    }
    struct pay_momo_result res;
    memset(&res, 0, sizeof(res));
    res.http_status = 0;
    pay_momo_parse_status(pay_momo_profile_find(rq.profile), body, len, &res);
    if (res.state == PAY_MOMO_UNKNOWN) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "body",
                             "The callback body is not a status of this wallet: %s", res.message);
    }
    const struct pay_currency *cur = pay_currency_find(rq.currency);
    char amount[32] = "";
    if (cur != NULL) {
        pay_amount_format(rq.amount_minor, cur, amount, sizeof(amount));
    }
    if ((res.external_id[0] && !pay_str_eq(res.external_id, rq.intent)) ||
        (res.currency[0] && strcasecmp(res.currency, rq.currency) != 0) ||
        (res.amount[0] && !pay_str_eq(res.amount, amount))) {
        return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "body",
                             "The callback does not match the request (externalId, amount or "
                             "currency).");
    }
    if (res.state == PAY_MOMO_PENDING) {
        return PAY_OK;
    }
    e = pay_momo_apply(op, reference, "callback", &res, NULL, NULL);
    if (e == PAY_ERR_CARD_DECLINED) {
        /* The decline is the intent's; the callback itself was taken. */
        pay_error_clear(op->err);
        e = PAY_OK;
    }
    return e;
}

enum pay_err pay_momo_otp_request(struct pay_op *op, const char *intent_id,
                                  char reference_out[PAY_MOMO_REF_LEN])
{
    reference_out[0] = '\0';
    struct pay_intent_row row;
    enum pay_err e = pay_intent_row_load(op, intent_id, false, "intent", &row);
    if (e != PAY_OK) {
        return e;
    }
    const char *ref = waited_reference(row.obj);
    const json_t *m =
        json_object_get(json_object_get(row.obj, "next_action"), "mobile_money_request");
    if (ref == NULL) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, NULL,
                          "This PaymentIntent has a status of %s and does not wait for a mobile "
                          "money confirmation.",
                          pay_json_str(row.obj, "status"));
    } else if (!json_is_true(json_object_get(m, "otp_required"))) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "otp",
                          "This wallet confirms payments on the payer's phone, not with a code.");
    } else {
        pay_copy_str(reference_out, PAY_MOMO_REF_LEN, ref);
    }
    pay_intent_row_release(&row);
    return e;
}

/* The columns req_object reads, in its order. */
#define REQ_COLUMNS                                                                                \
    "reference, intent, created, provider, profile, amount, currency, payer_last4, status, "       \
    "reason, financial_id, settled_by, settled_at, expires_at, sends, polls, refunded_at"

/* The mobile_money_request object of the current row of a query of REQ_COLUMNS. */
static json_t *req_object(struct pay_rows *r)
{
    json_t *o = json_object();
    pay_json_set_str(o, "id", pay_rows_text(r, 0));
    pay_json_set_str(o, "object", "mobile_money_request");
    pay_json_set_str(o, "payment_intent", pay_rows_text(r, 1));
    pay_json_set_int(o, "created", pay_rows_int(r, 2));
    pay_json_set_str(o, "provider", pay_rows_text(r, 3));
    pay_json_set_str(o, "wallet", pay_rows_text(r, 4));
    pay_json_set_int(o, "amount", pay_rows_int(r, 5));
    pay_json_set_str(o, "currency", pay_rows_text(r, 6));
    pay_json_set_str(o, "payer_phone_last4", pay_rows_text(r, 7));
    pay_json_set_str(o, "status", pay_rows_text(r, 8));
    pay_json_set_str(o, "failure_reason", pay_rows_text(r, 9));
    pay_json_set_str(o, "financial_transaction_id", pay_rows_text(r, 10));
    pay_json_set_str(o, "settled_by", pay_rows_text(r, 11));
    if (pay_rows_null(r, 12)) {
        json_object_set_new_nocheck(o, "settled_at", json_null());
    } else {
        pay_json_set_int(o, "settled_at", pay_rows_int(r, 12));
    }
    pay_json_set_int(o, "expires_at", pay_rows_int(r, 13));
    pay_json_set_int(o, "sends", pay_rows_int(r, 14));
    pay_json_set_int(o, "polls", pay_rows_int(r, 15));
    if (pay_rows_null(r, 16)) {
        json_object_set_new_nocheck(o, "refunded_at", json_null());
    } else {
        pay_json_set_int(o, "refunded_at", pay_rows_int(r, 16));
    }
    return o;
}

/* The objects of @sql (selecting REQ_COLUMNS) into a new array. */
static enum pay_err req_query(struct pay_op *op, const char *sql, const struct pay_param *p,
                              size_t n, json_t **data_out)
{
    *data_out = NULL;
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(op->tx, sql, p, n, &r);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    json_t *list = json_array();
    while (list != NULL && pay_rows_next(r)) {
        json_t *o = req_object(r);
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    e = pay_rows_close(r);
    if (e != PAY_OK || list == NULL) {
        json_decref(list);
        return pay_op_fail(op, e != PAY_OK ? e : PAY_ERR_NOMEM);
    }
    *data_out = list;
    return PAY_OK;
}

static enum pay_err request_get(struct pay_op *op, const char *reference, json_t **out)
{
    *out = NULL;
    struct pay_param p[1] = {PAY_PTEXT(reference)};
    json_t *list = NULL;
    enum pay_err e = req_query(op, "SELECT " REQ_COLUMNS " FROM momo_requests WHERE reference = $1",
                               p, 1, &list);
    if (e != PAY_OK) {
        return e;
    }
    *out = json_incref(json_array_get(list, 0));
    json_decref(list);
    if (*out == NULL) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "reference",
                             "No such mobile money request.");
    }
    return PAY_OK;
}

enum pay_err pay_momo_request_list(struct pay_op *op, const char *intent_id, const char *status,
                                   const char *starting_after, json_t **data_out, bool *has_more)
{
    *data_out = NULL;
    *has_more = false;
    if (intent_id != NULL) {
        struct pay_intent_row row;
        enum pay_err e = pay_intent_row_load(op, intent_id, false, "payment_intent", &row);
        pay_intent_row_release(&row);
        if (e != PAY_OK) {
            return e;
        }
    } else if (op->customer_scope != NULL) {
        return pay_error_set(op->err, PAY_ERR_PARAM_MISSING, "payment_intent",
                             "Missing required param: payment_intent.");
    }
    if (starting_after != NULL) {
        int64_t seq = 0;
        bool found = false;
        struct pay_param sp[1] = {PAY_PTEXT(starting_after)};
        enum pay_err e = pay_tx_query_int(
            op->tx, "SELECT seq FROM momo_requests WHERE reference = $1", sp, 1, &seq, &found);
        if (e != PAY_OK) {
            return pay_op_fail(op, e);
        }
        if (!found) {
            return pay_error_set(op->err, PAY_ERR_PARAM_INVALID, "starting_after",
                                 "No such mobile money request: '%s'.", starting_after);
        }
        (void)seq;
    }
    struct pay_param p[4];
    size_t n = 0;
    char where[256] = "WHERE 1 = 1";
    size_t w = strlen(where);
    if (intent_id != NULL) {
        p[n++] = PAY_PTEXT(intent_id);
        w += (size_t)snprintf(where + w, sizeof(where) - w, " AND intent = $%zu", n);
    }
    if (status != NULL) {
        p[n++] = PAY_PTEXT(status);
        w += (size_t)snprintf(where + w, sizeof(where) - w, " AND status = $%zu", n);
    }
    if (starting_after != NULL) {
        p[n++] = PAY_PTEXT(starting_after);
        snprintf(where + w, sizeof(where) - w,
                 " AND seq < (SELECT seq FROM momo_requests WHERE reference = $%zu)", n);
    }
    /* One more than a page: whether there is a next one. */
    p[n++] = PAY_PINT(PAY_MOMO_LIST_MAX + 1);
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT " REQ_COLUMNS " FROM momo_requests %s ORDER BY seq DESC LIMIT $%zu", where, n);
    enum pay_err e = req_query(op, sql, p, n, data_out);
    if (e == PAY_OK && json_array_size(*data_out) > PAY_MOMO_LIST_MAX) {
        json_array_remove(*data_out, PAY_MOMO_LIST_MAX);
        *has_more = true;
    }
    return e;
}

enum pay_err pay_momo_unapplied_get(struct pay_op *op, const char *reference, json_t **out)
{
    *out = NULL;
    if (reference == NULL || !pay_momo_uuid4_valid(reference)) {
        return pay_error_set(op->err, PAY_ERR_NOT_FOUND, "reference",
                             "No such mobile money request: '%s'.", reference ? reference : "");
    }
    json_t *obj = NULL;
    enum pay_err e = request_get(op, reference, &obj);
    if (e != PAY_OK) {
        return e;
    }
    const char *status = pay_json_str(obj, "status");
    if (!pay_str_eq(status, ST_UNAPPLIED)) {
        e = pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "reference",
                          "Mobile money request %s has a status of %s; only a request in "
                          "succeeded_unapplied holds money to pay back.",
                          reference, status ? status : "unknown");
        json_decref(obj);
        return e;
    }
    *out = obj;
    return PAY_OK;
}

enum pay_err pay_momo_unapplied_refunded(struct pay_op *op, const char *reference,
                                         const char *customer, json_t **out)
{
    *out = NULL;
    int64_t changes = 0;
    struct pay_param p[] = {PAY_PTEXT(reference), PAY_PINT(pay_now())};
    enum pay_err e = pay_tx_exec(op->tx,
                                 "UPDATE momo_requests SET status = 'refunded', refunded_at = $2 "
                                 "WHERE reference = $1 AND status = 'succeeded_unapplied'",
                                 p, PAY_NPARAMS(p), &changes);
    if (e != PAY_OK) {
        return pay_op_fail(op, e);
    }
    if (changes != 1) {
        return pay_error_set(op->err, PAY_ERR_UNEXPECTED_STATE, "reference",
                             "Mobile money request %s no longer holds unapplied money.", reference);
    }
    json_t *obj = NULL;
    e = request_get(op, reference, &obj);
    if (e != PAY_OK) {
        return e;
    }
    int64_t amount = pay_json_int(obj, "amount", 0);
    e = unapplied_move(op, reference, obj, false, customer);
    if (e != PAY_OK) {
        json_decref(obj);
        return e;
    }
    pay_logf(PAY_LOG_INFO, op->request_id, "momo request %s: %lld %s paid back to the payer",
             reference, (long long)amount, pay_json_str(obj, "currency"));
    *out = obj;
    return PAY_OK;
}

enum pay_err pay_momo_cancel_for_intent(struct pay_op *op, const char *intent)
{
    return close_open(op, intent);
}

/* ---- The poller ------------------------------------------------------------------------ */

struct due_list {
    int64_t now;
    int limit;
    int n;
    char (*refs)[PAY_MOMO_REF_LEN];
};

static enum pay_err due_read(struct pay_tx *tx, void *arg)
{
    struct due_list *l = arg;
    /* A late row's next look is never further back than its watch (settled rows have 0, or
     * their last look when an older payd settled them): the range keeps the scan of the
     * (status, next_poll_at) index to the recent ones. */
    struct pay_param p[3] = {
        PAY_PINT(l->now), PAY_PINT(l->limit),
        PAY_PINT(l->now - PAY_MOMO_LATE_WATCH_S - 2 * PAY_MOMO_LATE_POLL_MAX_S)};
    struct pay_rows *r = NULL;
    l->n = 0;
    enum pay_err e = pay_tx_query(tx,
                                  "SELECT reference FROM momo_requests "
                                  "WHERE (status IN ('sending', 'pending', 'canceling') "
                                  "AND next_poll_at <= $1) OR (status IN ('failed', 'canceled') "
                                  "AND next_poll_at > $3 AND next_poll_at <= $1 "
                                  "AND config IS NOT NULL) "
                                  "ORDER BY next_poll_at, seq LIMIT $2",
                                  p, 3, &r);
    if (e != PAY_OK) {
        return e;
    }
    while (l->n < l->limit && pay_rows_next(r)) {
        pay_copy_str(l->refs[l->n], PAY_MOMO_REF_LEN, pay_rows_text(r, 0));
        l->n++;
    }
    return pay_rows_close(r);
}

struct job_arg {
    const char *server_key;
    const char *public_url;
    const char *reference;
    struct pay_momo_job *job;
    const struct pay_momo_result *res;
    const char *source;
    char next[PAY_MOMO_REF_LEN];
    struct pay_error err;
};

static enum pay_err job_read(struct pay_tx *tx, void *arg)
{
    struct job_arg *a = arg;
    struct pay_op op = {
        .tx = tx, .err = &a->err, .fingerprint_key = a->server_key, .public_url = a->public_url};
    return pay_momo_job_load(&op, a->reference, a->job);
}

static enum pay_err job_apply(struct pay_tx *tx, void *arg)
{
    struct job_arg *a = arg;
    pay_error_clear(&a->err);
    struct pay_op op = {.tx = tx,
                        .err = &a->err,
                        .fingerprint_key = a->server_key,
                        .public_url = a->public_url,
                        .actor = "",
                        .actor_role = "",
                        .client_addr = ""};
    json_t *obj = NULL;
    enum pay_err e = pay_momo_apply(&op, a->reference, a->source, a->res, a->next, &obj);
    json_decref(obj);
    return e;
}

/* Look at one due request (and at the requests a fallback starts); true when settled. */
static bool poll_one(struct pay_store *s, const char *server_key, const char *public_url,
                     const char *reference)
{
    char ref[PAY_MOMO_REF_LEN];
    pay_copy_str(ref, sizeof(ref), reference);
    bool settled = false;
    for (int hop = 0; hop < PAY_MOMO_FALLBACKS_MAX && ref[0] != '\0'; hop++) {
        struct pay_momo_job job;
        memset(&job, 0, sizeof(job));
        struct job_arg a = {.server_key = server_key, .public_url = public_url, .reference = ref};
        a.job = &job;
        if (pay_store_read(s, job_read, &a) != PAY_OK ||
            (!watched_status(job.status) && !job.late)) {
            pay_momo_job_release(&job);
            break;
        }
        struct pay_momo_result res;
        memset(&res, 0, sizeof(res));
        const char *source = "poll";
        enum pay_err je;
        if (pay_str_eq(job.status, ST_SENDING) && pay_now() < job.expires_at) {
            /* Not known to be received: send it (again) under its reference.
             * A wallet that has it answers 409 (then it is asked about); one
             * that is down is what fallback is for. */
            je = pay_momo_job_send(&job, &res);
            source = "request";
        } else {
            je = pay_momo_job_status(&job, &res);
        }
        pay_momo_job_release(&job);
        if (je != PAY_OK) {
            pay_logf(PAY_LOG_WARN, NULL, "momo poll %s: %s", ref, res.message);
            break;
        }
        a.res = &res;
        a.source = source;
        enum pay_err e = pay_store_write(s, job_apply, &a);
        if (e != PAY_OK && e != PAY_ERR_CARD_DECLINED) {
            pay_logf(PAY_LOG_WARN, NULL, "momo poll %s: cannot apply: %s", ref, pay_err_str(e));
            break;
        }
        settled = settled || res.state == PAY_MOMO_SUCCESSFUL || res.state == PAY_MOMO_FAILED ||
                  e == PAY_ERR_CARD_DECLINED;
        /* A fallback began another request: send it now. */
        pay_copy_str(ref, sizeof(ref), a.next);
    }
    return settled;
}

enum pay_err pay_momo_poll(struct pay_store *s, const char *server_key, const char *public_url,
                           int batch_max, int *settled_out)
{
    *settled_out = 0;
    if (batch_max < 1) {
        return PAY_OK;
    }
    struct due_list l = {.now = pay_now(), .limit = batch_max};
    l.refs = calloc((size_t)batch_max, sizeof(*l.refs));
    if (l.refs == NULL) {
        return PAY_ERR_NOMEM;
    }
    enum pay_err e = pay_store_read(s, due_read, &l);
    for (int i = 0; e == PAY_OK && i < l.n; i++) {
        if (poll_one(s, server_key, public_url, l.refs[i])) {
            (*settled_out)++;
        }
    }
    free(l.refs);
    return e;
}

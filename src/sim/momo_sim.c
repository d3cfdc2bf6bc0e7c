/*
 * momo_sim.c - the mobile money simulator of sim.h: MTN MoMo's collection
 * protocol and the other wallet profiles, on the raw HTTP server.
 *
 * Invariants: a reference is recorded at most once (a reuse is 409 and
 * changes nothing); a request's outcome, once final, never changes; its
 * callback is sent once on its own (more only when a test asks through
 * /sim/requests/{reference}/callback).
 *
 * Threading: see sim.h. `lock` guards reqs, n_reqs and tokens.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../connectors/momo.h"
#include "../http/raw_server.h"
#include "sim.h"

#define TOKENS_MAX 1024
#define OTP_TRIES_MAX 3
#define TICK_MS 20
#define CALLBACK_TIMEOUT_MS 5000

enum outcome {
    OUT_SUCCESS,
    OUT_FAIL,     /* at once, with reason */
    OUT_LATER_OK, /* pending_ms, then successful */
    OUT_EXPIRE,   /* expire_ms, then EXPIRED */
    OUT_PENDING,  /* for ever */
    OUT_HTTP_500, /* not recorded */
    OUT_SLOW_OK,  /* recorded, 202 after slow_ms, successful */
};

struct rule {
    const char *msisdn;
    enum outcome outcome;
    const char *reason;
};

static const struct rule rules[] = {
    {"46733123450", OUT_FAIL, "INTERNAL_PROCESSING_ERROR"},
    {"46733123451", OUT_FAIL, "APPROVAL_REJECTED"},
    {"46733123452", OUT_EXPIRE, "EXPIRED"},
    {"46733123453", OUT_LATER_OK, NULL},
    {"46733123454", OUT_PENDING, NULL},
    {"46733123455", OUT_FAIL, "PAYER_NOT_FOUND"},
    {"46733123456", OUT_FAIL, "NOT_ENOUGH_FUNDS"},
    {"46733123457", OUT_FAIL, "PAYER_LIMIT_REACHED"},
    {"46733123458", OUT_FAIL, "SERVICE_UNAVAILABLE"},
    {"46733123459", OUT_HTTP_500, NULL},
    {"46733123460", OUT_SLOW_OK, NULL},
};

static const struct rule *rule_for(const char *msisdn)
{
    static const struct rule success = {"", OUT_SUCCESS, NULL};
    for (size_t i = 0; msisdn != NULL && i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(rules[i].msisdn, msisdn) == 0) {
            return &rules[i];
        }
    }
    return &success;
}

struct sim_req {
    char reference[PAY_MOMO_REF_LEN];
    const struct pay_momo_profile *profile;
    const struct rule *rule;
    json_t *body; /* the request body as received */
    char *callback_url;
    char environment[64];
    int64_t created_ms;
    int64_t final_ms; /* when the outcome became known; 0 = not yet */
    enum pay_momo_state state;
    char reason[40];
    char financial_id[24];
    char otp[8];
    int otp_tries;
    bool otp_ok;
    bool callback_due;
    long callbacks;
};

struct token {
    char value[65];
    int64_t expires_s;
};

struct pay_momo_sim {
    struct pay_momo_sim_config cfg;
    struct pay_raw_server *http;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    pthread_t ticker;
    bool ticker_running;
    struct sim_req **reqs;
    size_t n_reqs, cap_reqs;
    struct token tokens[TOKENS_MAX];
    size_t next_token;
    long callbacks_sent;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dumps(json_t *o)
{
    char *s = pay_json_dump(o);
    json_decref(o);
    return s;
}

static void reply(struct pay_raw_response *resp, int status, const char *code, const char *message)
{
    resp->status = status;
    if (code != NULL) {
        json_t *o = json_object();
        pay_json_set_str(o, "code", code);
        pay_json_set_str(o, "message", message);
        resp->body = dumps(o);
    }
}

/* ---- Outcomes -------------------------------------------------------------- */

/* @r's outcome is now final (lock held): its transaction id and callback. */
static void finalize(struct sim_req *r, int64_t now)
{
    if (r->state == PAY_MOMO_SUCCESSFUL) {
        unsigned char b[6];
        uint64_t v = 0;
        if (pay_random_bytes(b, sizeof(b)) == PAY_OK) {
            for (size_t i = 0; i < sizeof(b); i++) {
                v = v << 8 | b[i];
            }
        }
        snprintf(r->financial_id, sizeof(r->financial_id), "%llu",
                 (unsigned long long)(v % 10000000000ULL));
    }
    r->final_ms = now;
    r->callback_due = r->callback_url != NULL;
}

/* Move @r on to its outcome when its time has come (lock held). */
static void settle(struct pay_momo_sim *sim, struct sim_req *r, int64_t now)
{
    if (r->state != PAY_MOMO_PENDING) {
        return;
    }
    if (r->profile->otp_path != NULL && !r->otp_ok) {
        return;
    }
    /* With an OTP, the clock of the outcome starts at the right code. */
    int64_t t0 = r->profile->otp_path != NULL ? r->final_ms : r->created_ms;
    switch (r->rule->outcome) {
    case OUT_SUCCESS:
    case OUT_SLOW_OK:
    case OUT_HTTP_500:
        r->state = PAY_MOMO_SUCCESSFUL;
        break;
    case OUT_FAIL:
        r->state = PAY_MOMO_FAILED;
        snprintf(r->reason, sizeof(r->reason), "%s", r->rule->reason);
        break;
    case OUT_LATER_OK:
        if (r->profile->otp_path == NULL && now < t0 + sim->cfg.pending_ms) {
            return;
        }
        r->state = PAY_MOMO_SUCCESSFUL;
        break;
    case OUT_EXPIRE:
        if (now < t0 + sim->cfg.expire_ms) {
            return;
        }
        r->state = PAY_MOMO_FAILED;
        snprintf(r->reason, sizeof(r->reason), "EXPIRED");
        break;
    case OUT_PENDING:
        if (r->profile->otp_path != NULL) {
            r->state = PAY_MOMO_SUCCESSFUL;
            break;
        }
        return;
    }
    finalize(r, now);
}

/* The payer approves @r, pending whatever its rule (lock held): the test-only
 * POST /sim/requests/{reference}/approve. False when it is already final. */
static bool approve(struct sim_req *r, int64_t now)
{
    if (r->state != PAY_MOMO_PENDING) {
        return false;
    }
    r->state = PAY_MOMO_SUCCESSFUL;
    finalize(r, now);
    return true;
}

/* The status document of @r in its profile's field names (lock held). */
static json_t *status_doc(const struct sim_req *r)
{
    const struct pay_momo_profile *p = r->profile;
    json_t *o = json_object();
    if (r->state == PAY_MOMO_SUCCESSFUL) {
        pay_json_set_str(o, p->f_financial_id, r->financial_id);
    }
    const char *copy[] = {p->f_external_id, p->f_amount, p->f_currency, p->f_payer_message,
                          p->f_payee_note};
    for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
        json_t *v = json_object_get(r->body, copy[i]);
        if (v != NULL) {
            json_object_set(o, copy[i], v);
        }
    }
    const char *payer_key = p->f_payer_object ? p->f_payer_object : p->f_party_id;
    json_t *payer = json_object_get(r->body, payer_key);
    if (payer != NULL) {
        json_object_set(o, payer_key, payer);
    }
    const char *st = r->state == PAY_MOMO_SUCCESSFUL ? p->st_successful
                     : r->state == PAY_MOMO_FAILED   ? p->st_failed
                                                     : p->st_pending;
    pay_json_set_str(o, p->f_status, st);
    if (r->state == PAY_MOMO_FAILED) {
        pay_json_set_str(o, p->f_reason, r->reason);
    }
    return o;
}

static struct sim_req *find_req(struct pay_momo_sim *sim, const char *reference)
{
    for (size_t i = 0; i < sim->n_reqs; i++) {
        if (strcasecmp(sim->reqs[i]->reference, reference) == 0) {
            return sim->reqs[i];
        }
    }
    return NULL;
}

static void req_free(struct sim_req *r)
{
    if (r != NULL) {
        json_decref(r->body);
        free(r->callback_url);
        free(r);
    }
}

/* ---- Authentication ---------------------------------------------------------- */

static bool subscription_ok(struct pay_momo_sim *sim, const struct pay_raw_request *req,
                            const struct pay_momo_profile *p)
{
    const char *k = pay_raw_header(req, p->subscription_header);
    return k != NULL && pay_secure_equal(k, strlen(k), sim->cfg.subscription_key,
                                         strlen(sim->cfg.subscription_key));
}

/* "Basic base64(user:key)" matches the configured credentials. */
static bool basic_ok(struct pay_momo_sim *sim, const char *auth)
{
    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0) {
        return false;
    }
    const char *b64 = auth + 6;
    size_t n = strlen(b64);
    if (n == 0 || n > 1024) {
        return false;
    }
    /* Standard base64 into the base64url that core decodes. */
    char url[1025];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = b64[i];
        if (c == '=') {
            break;
        }
        url[m++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    struct pay_buf dec;
    pay_buf_init(&dec, 1024);
    bool ok = false;
    if (pay_base64url_decode(url, m, &dec) == 0 && dec.data != NULL) {
        struct pay_buf want;
        pay_buf_init(&want, 2048);
        if (pay_buf_addf(&want, "%s:%s", sim->cfg.api_user, sim->cfg.api_key) == PAY_OK) {
            ok = pay_secure_equal(dec.data, dec.len, want.data, want.len);
        }
        pay_buf_release(&want);
    }
    pay_buf_release(&dec);
    return ok;
}

static bool bearer_ok(struct pay_momo_sim *sim, const struct pay_raw_request *req)
{
    const char *auth = pay_raw_header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        return false;
    }
    const char *t = auth + 7;
    int64_t now = pay_now();
    bool ok = false;
    pthread_mutex_lock(&sim->lock);
    for (size_t i = 0; i < TOKENS_MAX && !ok; i++) {
        const struct token *k = &sim->tokens[i];
        ok = k->value[0] != '\0' && k->expires_s > now &&
             pay_secure_equal(k->value, strlen(k->value), t, strlen(t));
    }
    pthread_mutex_unlock(&sim->lock);
    return ok;
}

/* ---- Endpoints ---------------------------------------------------------------- */

static void on_token(struct pay_momo_sim *sim, const struct pay_momo_profile *p,
                     const struct pay_raw_request *req, struct pay_raw_response *resp)
{
    if (!subscription_ok(sim, req, p) || !basic_ok(sim, pay_raw_header(req, "Authorization"))) {
        reply(resp, 401, "UNAUTHORIZED", "Invalid credentials or subscription key.");
        return;
    }
    unsigned char raw[32];
    if (pay_random_bytes(raw, sizeof(raw)) != PAY_OK) {
        reply(resp, 500, "INTERNAL_PROCESSING_ERROR", "No randomness.");
        return;
    }
    char value[65];
    pay_hex_encode(raw, sizeof(raw), value);
    pthread_mutex_lock(&sim->lock);
    struct token *k = &sim->tokens[sim->next_token++ % TOKENS_MAX];
    snprintf(k->value, sizeof(k->value), "%s", value);
    k->expires_s = pay_now() + sim->cfg.token_ttl_s;
    pthread_mutex_unlock(&sim->lock);
    json_t *o = json_object();
    pay_json_set_str(o, p->f_access_token, value);
    pay_json_set_str(o, "token_type", "access_token");
    pay_json_set_int(o, p->f_expires_in, sim->cfg.token_ttl_s);
    resp->body = dumps(o);
}

/* A decimal amount string: digits, at most one '.', not empty, positive. */
static bool amount_string_ok(const json_t *v)
{
    if (!json_is_string(v)) {
        return false;
    }
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0 || n > 24 || s[0] == '.' || s[n - 1] == '.') {
        return false;
    }
    int dots = 0;
    bool nonzero = false;
    for (const char *c = s; *c; c++) {
        if (*c == '.') {
            dots++;
        } else if (*c < '0' || *c > '9') {
            return false;
        } else if (*c != '0') {
            nonzero = true;
        }
    }
    return dots <= 1 && nonzero;
}

static void on_request_to_pay(struct pay_momo_sim *sim, const struct pay_momo_profile *p,
                              const struct pay_raw_request *req, struct pay_raw_response *resp)
{
    if (!subscription_ok(sim, req, p) || !bearer_ok(sim, req)) {
        reply(resp, 401, "UNAUTHORIZED", "A valid access token is required.");
        return;
    }
    const char *ref = pay_raw_header(req, p->reference_header);
    if (!pay_momo_uuid4_valid(ref)) {
        reply(resp, 400, "INVALID_REFERENCE_ID", "The reference id must be a UUID version 4.");
        return;
    }
    const char *env = pay_raw_header(req, p->environment_header);
    if (env == NULL || env[0] == '\0') {
        reply(resp, 400, "INVALID_TARGET_ENVIRONMENT", "The target environment is missing.");
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const json_t *payer = p->f_payer_object ? json_object_get(body, p->f_payer_object) : body;
    const char *msisdn = pay_json_str(payer, p->f_party_id);
    const char *cur = pay_json_str(body, p->f_currency);
    if (!json_is_object(body) || !amount_string_ok(json_object_get(body, p->f_amount)) ||
        cur == NULL || strlen(cur) != 3 || !pay_momo_msisdn_valid(msisdn)) {
        json_decref(body);
        reply(resp, 400, "INVALID_PARAMETERS",
              "The body needs a decimal amount string, a currency and the payer's number.");
        return;
    }
    const struct rule *rule = rule_for(msisdn);
    if (rule->outcome == OUT_HTTP_500) {
        json_decref(body);
        reply(resp, 500, "INTERNAL_PROCESSING_ERROR", "The simulated provider failed.");
        return;
    }
    struct sim_req *r = calloc(1, sizeof(*r));
    const char *cb = pay_raw_header(req, p->callback_header);
    if (r == NULL) {
        json_decref(body);
        reply(resp, 500, "INTERNAL_PROCESSING_ERROR", "Out of memory.");
        return;
    }
    snprintf(r->reference, sizeof(r->reference), "%s", ref);
    r->profile = p;
    r->rule = rule;
    r->body = body;
    r->callback_url =
        cb != NULL && (strncmp(cb, "http://", 7) == 0 || strncmp(cb, "https://", 8) == 0)
            ? strdup(cb)
            : NULL;
    snprintf(r->environment, sizeof(r->environment), "%s", env);
    r->created_ms = now_ms();
    r->state = PAY_MOMO_PENDING;
    if (p->otp_path != NULL) {
        unsigned char b[4];
        uint32_t v = 0;
        if (pay_random_bytes(b, sizeof(b)) == PAY_OK) {
            v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        }
        snprintf(r->otp, sizeof(r->otp), "%06u", (unsigned)(v % 1000000u));
    }
    pthread_mutex_lock(&sim->lock);
    int status = 202;
    if (find_req(sim, ref) != NULL) {
        status = 409;
    } else if (sim->n_reqs >= PAY_MOMO_SIM_REQUESTS_MAX) {
        status = 503;
    } else {
        if (sim->n_reqs == sim->cap_reqs) {
            size_t cap = sim->cap_reqs ? sim->cap_reqs * 2 : 64;
            struct sim_req **grown = realloc(sim->reqs, cap * sizeof(*grown));
            if (grown == NULL) {
                status = 503;
            } else {
                sim->reqs = grown;
                sim->cap_reqs = cap;
            }
        }
        if (status == 202) {
            sim->reqs[sim->n_reqs++] = r;
            settle(sim, r, now_ms());
        }
    }
    pthread_mutex_unlock(&sim->lock);
    if (status == 409) {
        req_free(r);
        reply(resp, 409, "RESOURCE_ALREADY_EXIST",
              "Duplicated reference id. Creation of resource failed.");
        return;
    }
    if (status == 503) {
        req_free(r);
        reply(resp, 503, "SERVICE_UNAVAILABLE", "The simulator holds too many requests.");
        return;
    }
    if (!sim->cfg.quiet) {
        size_t ml = strlen(msisdn);
        printf("sim momo: %s requesttopay %s payer ****%s\n", p->name, ref, msisdn + ml - 4);
        if (p->otp_path != NULL) {
            /* The "SMS" the payer would get. */
            printf("sim momo: SMS to ****%s: your %s code is %s\n", msisdn + ml - 4,
                   p->display_name, r->otp);
        }
        fflush(stdout);
    }
    if (rule->outcome == OUT_SLOW_OK) {
        struct timespec ts = {.tv_sec = sim->cfg.slow_ms / 1000,
                              .tv_nsec = (sim->cfg.slow_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    resp->status = 202;
    /* r belongs to sim->reqs now (freed by pay_momo_sim_stop). */
    // cppcheck-suppress memleak
}

static void on_status(struct pay_momo_sim *sim, const struct pay_momo_profile *p, const char *ref,
                      const struct pay_raw_request *req, struct pay_raw_response *resp)
{
    if (!subscription_ok(sim, req, p) || !bearer_ok(sim, req)) {
        reply(resp, 401, "UNAUTHORIZED", "A valid access token is required.");
        return;
    }
    pthread_mutex_lock(&sim->lock);
    struct sim_req *r = find_req(sim, ref);
    if (r != NULL && r->profile == p) {
        settle(sim, r, now_ms());
        resp->body = dumps(status_doc(r));
    }
    pthread_mutex_unlock(&sim->lock);
    if (resp->body == NULL) {
        reply(resp, 404, "RESOURCE_NOT_FOUND", "Requested resource was not found.");
    }
}

static void on_otp(struct pay_momo_sim *sim, const struct pay_momo_profile *p, const char *ref,
                   const struct pay_raw_request *req, struct pay_raw_response *resp)
{
    if (!subscription_ok(sim, req, p) || !bearer_ok(sim, req)) {
        reply(resp, 401, "UNAUTHORIZED", "A valid access token is required.");
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *otp = pay_json_str(body, p->f_otp);
    bool wrong = false;
    pthread_mutex_lock(&sim->lock);
    struct sim_req *r = find_req(sim, ref);
    if (r != NULL && r->profile == p) {
        if (r->state == PAY_MOMO_PENDING && !r->otp_ok) {
            if (otp != NULL && pay_secure_equal(otp, strlen(otp), r->otp, strlen(r->otp))) {
                r->otp_ok = true;
                r->final_ms = now_ms();
                settle(sim, r, r->final_ms);
            } else if (++r->otp_tries >= OTP_TRIES_MAX) {
                r->state = PAY_MOMO_FAILED;
                snprintf(r->reason, sizeof(r->reason), "APPROVAL_REJECTED");
                r->final_ms = now_ms();
                r->callback_due = r->callback_url != NULL;
            } else {
                wrong = true;
            }
        }
        if (!wrong) {
            resp->body = dumps(status_doc(r));
        }
    }
    pthread_mutex_unlock(&sim->lock);
    json_decref(body);
    if (wrong) {
        reply(resp, 400, "OTP_INVALID", "The code is wrong.");
    } else if (resp->body == NULL) {
        reply(resp, 404, "RESOURCE_NOT_FOUND", "Requested resource was not found.");
    }
}

/* Send @r's callback now (lock not held; @r's fields copied under it). */
static int send_callback(struct pay_momo_sim *sim, const char *reference)
{
    char *url = NULL;
    char *body = NULL;
    pthread_mutex_lock(&sim->lock);
    struct sim_req *r = find_req(sim, reference);
    if (r != NULL && r->callback_url != NULL) {
        url = strdup(r->callback_url);
        body = dumps(status_doc(r));
    }
    pthread_mutex_unlock(&sim->lock);
    int http = 0;
    if (url != NULL && body != NULL) {
        if (pay_momo_callback_send(url, "PUT", body, CALLBACK_TIMEOUT_MS, &http) != PAY_OK) {
            http = 0;
        }
        pthread_mutex_lock(&sim->lock);
        r = find_req(sim, reference);
        if (r != NULL) {
            r->callbacks++;
        }
        sim->callbacks_sent++;
        pthread_mutex_unlock(&sim->lock);
        if (!sim->cfg.quiet) {
            printf("sim momo: callback %s: HTTP %d\n", reference, http);
            fflush(stdout);
        }
    }
    free(url);
    free(body);
    return http;
}

static json_t *inspect_doc(const struct sim_req *r)
{
    json_t *o = json_object();
    pay_json_set_str(o, "reference", r->reference);
    pay_json_set_str(o, "profile", r->profile->name);
    pay_json_set_str(o, "state", pay_momo_state_name(r->state));
    pay_json_set_str(o, "reason", r->reason[0] ? r->reason : NULL);
    pay_json_set_str(o, "otp", r->otp[0] ? r->otp : NULL);
    pay_json_set_int(o, "otp_tries", r->otp_tries);
    pay_json_set_str(o, "callback_url", r->callback_url);
    pay_json_set_int(o, "callbacks", r->callbacks);
    pay_json_set_str(o, "environment", r->environment);
    json_object_set_nocheck(o, "request", r->body);
    json_object_set_new_nocheck(o, "status", status_doc(r));
    return o;
}

static void on_sim(struct pay_momo_sim *sim, const struct pay_raw_request *req,
                   struct pay_raw_response *resp)
{
    const char *rest = req->path + strlen("/sim/");
    if (strcmp(rest, "health") == 0) {
        resp->body = strdup("{\"ok\":true}");
        return;
    }
    if (strncmp(rest, "requests/", 9) != 0) {
        reply(resp, 404, "RESOURCE_NOT_FOUND", "No such simulator endpoint.");
        return;
    }
    char ref[PAY_MOMO_REF_LEN];
    const char *id = rest + 9;
    const char *slash = strchr(id, '/');
    size_t n = slash ? (size_t)(slash - id) : strlen(id);
    if (n >= sizeof(ref)) {
        reply(resp, 404, "RESOURCE_NOT_FOUND", "No such request.");
        return;
    }
    snprintf(ref, sizeof(ref), "%.*s", (int)n, id);
    if (slash != NULL && strcmp(slash, "/callback") == 0 && strcmp(req->method, "POST") == 0) {
        int http = send_callback(sim, ref);
        json_t *o = json_object();
        pay_json_set_int(o, "http_status", http);
        resp->body = dumps(o);
        return;
    }
    bool approving =
        slash != NULL && strcmp(slash, "/approve") == 0 && strcmp(req->method, "POST") == 0;
    pthread_mutex_lock(&sim->lock);
    struct sim_req *r = find_req(sim, ref);
    if (r != NULL && (slash == NULL || approving)) {
        settle(sim, r, now_ms());
        if (approving && !approve(r, now_ms())) {
            reply(resp, 409, "NOT_PENDING", "The request's outcome is already final.");
        } else {
            resp->body = dumps(inspect_doc(r));
        }
    }
    pthread_mutex_unlock(&sim->lock);
    if (resp->body == NULL) {
        reply(resp, 404, "RESOURCE_NOT_FOUND", "No such request.");
    }
}

/* "<prefix>/<reference>" -> reference, or NULL. */
static const char *below(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || path[n] != '/' || path[n + 1] == '\0' ||
        strchr(path + n + 1, '/') != NULL) {
        return NULL;
    }
    return path + n + 1;
}

static void handle(void *ctx, const struct pay_raw_request *req, struct pay_raw_response *resp)
{
    struct pay_momo_sim *sim = ctx;
    if (strncmp(req->path, "/sim/", 5) == 0) {
        on_sim(sim, req, resp);
        return;
    }
    size_t n = 0;
    const struct pay_momo_profile *ps = pay_momo_profiles(&n);
    bool post = strcmp(req->method, "POST") == 0;
    bool get = strcmp(req->method, "GET") == 0;
    for (size_t i = 0; i < n; i++) {
        const struct pay_momo_profile *p = &ps[i];
        const char *ref = NULL;
        if (post && strcmp(req->path, p->token_path) == 0) {
            on_token(sim, p, req, resp);
            return;
        }
        if (post && strcmp(req->path, p->request_path) == 0) {
            on_request_to_pay(sim, p, req, resp);
            return;
        }
        if (get && (ref = below(req->path, p->status_path)) != NULL) {
            on_status(sim, p, ref, req, resp);
            return;
        }
        if (post && p->otp_path != NULL && (ref = below(req->path, p->otp_path)) != NULL) {
            on_otp(sim, p, ref, req, resp);
            return;
        }
    }
    reply(resp, 404, "RESOURCE_NOT_FOUND", "No such endpoint.");
}

/* ---- Callbacks ------------------------------------------------------------------- */

static void *ticker(void *arg)
{
    struct pay_momo_sim *sim = arg;
    pthread_mutex_lock(&sim->lock);
    while (!sim->stopping) {
        int64_t now = now_ms();
        char due[PAY_MOMO_REF_LEN] = "";
        for (size_t i = 0; i < sim->n_reqs; i++) {
            struct sim_req *r = sim->reqs[i];
            settle(sim, r, now);
            if (r->callback_due && now >= r->final_ms + sim->cfg.callback_delay_ms) {
                r->callback_due = false;
                snprintf(due, sizeof(due), "%s", r->reference);
                break;
            }
        }
        if (due[0] != '\0') {
            pthread_mutex_unlock(&sim->lock);
            send_callback(sim, due);
            pthread_mutex_lock(&sim->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sim->cond, &sim->lock, &until);
    }
    pthread_mutex_unlock(&sim->lock);
    return NULL;
}

/* ---- Life ------------------------------------------------------------------------- */

enum pay_err pay_momo_sim_start(const struct pay_momo_sim_config *cfg, struct pay_momo_sim **out,
                                struct pay_error *err)
{
    *out = NULL;
    struct pay_momo_sim *sim = calloc(1, sizeof(*sim));
    if (sim == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    sim->cfg = *cfg;
    if (sim->cfg.api_user == NULL) {
        sim->cfg.api_user = PAY_MOMO_SIM_API_USER;
    }
    if (sim->cfg.api_key == NULL) {
        sim->cfg.api_key = PAY_MOMO_SIM_API_KEY;
    }
    if (sim->cfg.subscription_key == NULL) {
        sim->cfg.subscription_key = PAY_MOMO_SIM_SUBSCRIPTION_KEY;
    }
    if (sim->cfg.token_ttl_s <= 0) {
        sim->cfg.token_ttl_s = 3600;
    }
    pthread_mutex_init(&sim->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sim->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&sim->ticker, NULL, ticker, sim) != 0) {
        pay_momo_sim_stop(sim);
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "Cannot start the callback thread.");
    }
    sim->ticker_running = true;
    enum pay_err e = pay_raw_server_start(cfg->listen, handle, sim, &sim->http, err);
    if (e != PAY_OK) {
        pay_momo_sim_stop(sim);
        return e;
    }
    *out = sim;
    return PAY_OK;
}

unsigned pay_momo_sim_port(const struct pay_momo_sim *sim)
{
    return sim ? pay_raw_server_port(sim->http) : 0;
}

long pay_momo_sim_tokens_issued(struct pay_momo_sim *sim)
{
    pthread_mutex_lock(&sim->lock);
    long n = (long)sim->next_token;
    pthread_mutex_unlock(&sim->lock);
    return n;
}

bool pay_momo_sim_otp(struct pay_momo_sim *sim, const char *reference, char out[8])
{
    pthread_mutex_lock(&sim->lock);
    struct sim_req *r = find_req(sim, reference);
    bool found = r != NULL && r->otp[0] != '\0';
    if (found) {
        memcpy(out, r->otp, 8);
    }
    pthread_mutex_unlock(&sim->lock);
    return found;
}

long pay_momo_sim_callbacks_sent(struct pay_momo_sim *sim)
{
    pthread_mutex_lock(&sim->lock);
    long n = sim->callbacks_sent;
    pthread_mutex_unlock(&sim->lock);
    return n;
}

void pay_momo_sim_stop(struct pay_momo_sim *sim)
{
    if (sim == NULL) {
        return;
    }
    pay_raw_server_stop(sim->http);
    pthread_mutex_lock(&sim->lock);
    sim->stopping = true;
    pthread_cond_broadcast(&sim->cond);
    pthread_mutex_unlock(&sim->lock);
    if (sim->ticker_running) {
        pthread_join(sim->ticker, NULL);
    }
    for (size_t i = 0; i < sim->n_reqs; i++) {
        req_free(sim->reqs[i]);
    }
    free(sim->reqs);
    pthread_cond_destroy(&sim->cond);
    pthread_mutex_destroy(&sim->lock);
    explicit_bzero(sim->tokens, sizeof(sim->tokens));
    free(sim);
}

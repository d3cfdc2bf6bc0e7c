/*
 * worker.c - the webhook delivery worker: threads that claim due outbox
 * rows, POST the event to the endpoint with Stripe's signature, and record
 * every attempt; plus the process-wide webhook configuration.
 *
 * One attempt (see webhooks.h for why this is at-least-once):
 *   1. claim (write tx): the oldest due pending delivery of an enabled
 *      endpoint, FOR UPDATE SKIP LOCKED (PostgreSQL: concurrent workers in
 *      any process skip each other's rows), stamped with a random claim
 *      token and a lease (next_attempt_ms = now + lease); the event body and
 *      the endpoint's URL and secrets are read in the same tx.
 *   2. the POST, with no transaction open: the URL is checked again by the
 *      SSRF guard (DNS may have changed) and the connection pinned to the
 *      address checked; no redirects, no proxies; connect and total
 *      timeouts.
 *   3. record (write tx): the attempt row always; the delivery's new state
 *      only while it still carries our claim token (a lease that expired
 *      and was claimed again belongs to the other worker now); the
 *      endpoint's failure clock, and when it has failed continuously for
 *      disable_after_ms, the endpoint is disabled with an event
 *      webhook_endpoint.disabled.
 *
 * Threading: cfg->workers threads; they share only the stop flag (under
 * the mutex) and the store. curl easy handles are per attempt.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "webhooks_int.h"

/* More delivery threads than this per process is a configuration mistake. */
#define WORKERS_MAX 64
/* How long a claim outlives the call's total timeout (the record tx). */
#define LEASE_MARGIN_MS 5000

/* ---- Configuration -------------------------------------------------------- */

static struct pay_webhook_config g_cfg;
static pthread_once_t g_cfg_once = PTHREAD_ONCE_INIT;

void pay_webhook_config_init(struct pay_webhook_config *c)
{
    memset(c, 0, sizeof(*c));
    c->allow_http = false;
    c->allow_hosts = NULL;
    c->connect_timeout_ms = 5000;
    c->timeout_ms = 15000;
    c->retry_base_ms = 30000;
    c->retry_max_delay_ms = 6 * 3600 * 1000LL;
    c->retry_max_age_ms = 3 * 24 * 3600 * 1000LL;
    c->disable_after_ms = 5 * 24 * 3600 * 1000LL;
    c->poll_ms = 500;
    c->workers = 2;
    c->user_agent = "payd";
}

static void cfg_default(void)
{
    pay_webhook_config_init(&g_cfg);
}

void pay_webhook_configure(const struct pay_webhook_config *c)
{
    pthread_once(&g_cfg_once, cfg_default);
    g_cfg = *c;
}

const struct pay_webhook_config *pay_webhook_config(void)
{
    pthread_once(&g_cfg_once, cfg_default);
    return &g_cfg;
}

/* ---- The worker ------------------------------------------------------------ */

struct pay_webhook_worker {
    struct pay_store *store;
    struct pay_webhook_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu; read unlocked by curl's progress callback (benign) */
    pthread_t threads[WORKERS_MAX];
    unsigned n_threads;
};

/* One claimed delivery. */
struct claim {
    bool found;
    char delivery[PAY_ID_LEN_MAX + 1];
    char event[PAY_ID_LEN_MAX + 1];
    char endpoint[PAY_ID_LEN_MAX + 1];
    char token[PAY_ID_LEN_MAX + 1];
    int64_t attempt_count;
    int64_t retry_from_ms;
    char *body;
    char *url;
    char *secret;
    char *old_secret; /* NULL unless still signing */
    bool secret_unreadable;
    int64_t lease_ms;
    const char *server_key;
};

struct outcome {
    bool ok;
    long status_code; /* 0 when no response */
    int64_t latency_ms;
    char error[256];
    char excerpt[PAY_WEBHOOK_RESPONSE_EXCERPT_MAX + 1];
    size_t excerpt_len;
    bool aborted; /* payd is stopping */
};

static void wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void claim_release(struct claim *c)
{
    free(c->body);
    free(c->url);
    wipe_free(c->secret);
    wipe_free(c->old_secret);
    c->body = c->url = c->secret = c->old_secret = NULL;
    c->found = false;
    c->secret_unreadable = false;
}

static void copy_id(char *dst, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n > PAY_ID_LEN_MAX) {
        n = PAY_ID_LEN_MAX;
    }
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

static enum pay_err claim_tx(struct pay_tx *tx, void *arg)
{
    struct claim *c = arg;
    claim_release(c); /* the callback may run again after a conflict */
    int64_t now_ms = pay_now() * 1000;
    struct pay_param p[] = {PAY_PINT(now_ms)};
    struct pay_rows *r = NULL;
    enum pay_err rc = pay_tx_query(
        tx,
        "SELECT id, event, endpoint, attempt_count, retry_from_ms FROM webhook_deliveries "
        "WHERE status = 'pending' AND next_attempt_ms <= $1 "
        "AND endpoint IN (SELECT id FROM webhook_endpoints WHERE status = 'enabled') "
        "ORDER BY next_attempt_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
        p, 1, &r);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pay_rows_next(r)) {
        c->found = true;
        copy_id(c->delivery, pay_rows_text(r, 0));
        copy_id(c->event, pay_rows_text(r, 1));
        copy_id(c->endpoint, pay_rows_text(r, 2));
        c->attempt_count = pay_rows_int(r, 3);
        c->retry_from_ms = pay_rows_int(r, 4);
    }
    rc = pay_rows_close(r);
    if (rc != PAY_OK || !c->found) {
        c->found = false;
        return rc;
    }
    pay_secret_new("whc", c->token);
    struct pay_param up[] = {PAY_PTEXT(c->delivery), PAY_PTEXT(c->token),
                             PAY_PINT(now_ms + c->lease_ms)};
    rc = pay_tx_exec(tx,
                     "UPDATE webhook_deliveries SET claim = $2, next_attempt_ms = $3 WHERE id = $1",
                     up, PAY_NPARAMS(up), NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_param pe[] = {PAY_PTEXT(c->event)};
    rc = pay_tx_query_text(tx, "SELECT data FROM events WHERE id = $1", pe, 1, &c->body);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_param pw[] = {PAY_PTEXT(c->endpoint), PAY_PINT(pay_now())};
    rc = pay_tx_query(tx,
                      "SELECT url, secret, CASE WHEN old_secret_expires > $2 THEN old_secret "
                      "ELSE NULL END FROM webhook_endpoints WHERE id = $1",
                      pw, PAY_NPARAMS(pw), &r);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pay_rows_next(r)) {
        const char *u = pay_rows_text(r, 0), *s = pay_rows_text(r, 1), *o = pay_rows_text(r, 2);
        c->url = u != NULL ? strdup(u) : NULL;
        char plain[PAY_WEBHOOK_SECRET_LEN_MAX + 1];
        if (s != NULL) {
            if (pay_webhook_secret_open(c->server_key, c->endpoint, s, plain, sizeof(plain)) ==
                PAY_OK) {
                c->secret = strdup(plain);
            } else {
                c->secret_unreadable = true;
            }
        }
        /* An old secret that no longer opens simply stops signing. */
        if (o != NULL && pay_webhook_secret_open(c->server_key, c->endpoint, o, plain,
                                                 sizeof(plain)) == PAY_OK) {
            c->old_secret = strdup(plain);
        }
        explicit_bzero(plain, sizeof(plain));
    }
    return pay_rows_close(r);
}

/* ---- The HTTP call ---------------------------------------------------------- */

struct call {
    struct pay_webhook_worker *w;
    struct outcome *out;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct outcome *o = ud;
    size_t n = size * nmemb;
    size_t room = PAY_WEBHOOK_RESPONSE_EXCERPT_MAX - o->excerpt_len;
    size_t take = n < room ? n : room;
    memcpy(o->excerpt + o->excerpt_len, data, take);
    o->excerpt_len += take;
    o->excerpt[o->excerpt_len] = '\0';
    return n; /* the rest is read and dropped: the total timeout bounds it */
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct call *c = ud;
    return __atomic_load_n(&c->w->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

/* Make @s valid UTF-8 without NULs in place (the excerpt is stored as text):
 * every byte that is not part of a well-formed sequence becomes '?'. */
static void sanitize_utf8(char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = (unsigned char)s[i];
        size_t need;
        if (b > 0 && b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if ((b & 0xf0) == 0xe0) {
            need = 2;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
        } else {
            s[i++] = '?';
            continue;
        }
        bool ok = i + need < len;
        for (size_t k = 1; ok && k <= need; k++) {
            ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
        }
        if (ok) {
            unsigned char b1 = (unsigned char)s[i + 1];
            /* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
            ok = !((b == 0xe0 && b1 < 0xa0) || (b == 0xed && b1 >= 0xa0) ||
                   (b == 0xf0 && b1 < 0x90) || (b == 0xf4 && b1 >= 0x90));
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += need + 1;
    }
}

static void post(struct pay_webhook_worker *w, const struct claim *c, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    int64_t t0 = pay_monotonic_us();
    struct pay_webhook_target target;
    struct pay_error err;
    pay_error_clear(&err);
    CURL *h = NULL;
    struct curl_slist *headers = NULL, *resolve = NULL;
    if (c->secret_unreadable) {
        snprintf(o->error, sizeof(o->error),
                 "cannot decrypt the signing secret (was the server key changed? rotate it)");
        goto out;
    }
    if (c->body == NULL || c->url == NULL || c->secret == NULL) {
        snprintf(o->error, sizeof(o->error), "the event or the endpoint is gone");
        goto out;
    }
    if (pay_webhook_url_check(c->url, &w->cfg, &target, &err) != PAY_OK) {
        snprintf(o->error, sizeof(o->error), "refused: %.240s", err.message);
        goto out;
    }
    const char *secrets[2] = {c->secret, c->old_secret};
    char sig[512], line[600];
    if (pay_webhook_signature(secrets, c->old_secret != NULL ? 2 : 1, pay_now(), c->body,
                              strlen(c->body), sig, sizeof(sig)) != PAY_OK) {
        snprintf(o->error, sizeof(o->error), "cannot sign");
        goto out;
    }
    h = curl_easy_init();
    if (h == NULL) {
        snprintf(o->error, sizeof(o->error), "cannot create an HTTP client");
        goto out;
    }
    snprintf(line, sizeof(line), "Stripe-Signature: %s", sig);
    headers = curl_slist_append(headers, line);
    snprintf(line, sizeof(line), "Payd-Event-Id: %s", c->event);
    headers = curl_slist_append(headers, line);
    headers = curl_slist_append(headers, "Content-Type: application/json; charset=utf-8");
    headers = curl_slist_append(headers, "Expect:");
    /* Pin the host to the address the guard checked (no second lookup). */
    snprintf(line, sizeof(line), "%s:%u:%s%s%s", target.host, target.port, target.ipv6 ? "[" : "",
             target.addr, target.ipv6 ? "]" : "");
    resolve = curl_slist_append(resolve, line);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct call cl = {.w = w, .out = o};
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)w->cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, w->cfg.user_agent);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, o);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->status_code);
        o->ok = o->status_code >= 200 && o->status_code < 300;
        if (!o->ok) {
            snprintf(o->error, sizeof(o->error), "HTTP status %ld", o->status_code);
        }
    } else {
        o->aborted = cc == CURLE_ABORTED_BY_CALLBACK;
        snprintf(o->error, sizeof(o->error), "%s%s%s",
                 cc == CURLE_OPERATION_TIMEDOUT ? "timeout: " : "", curl_easy_strerror(cc),
                 errbuf[0] != '\0' ? ": " : "");
        size_t used = strlen(o->error);
        snprintf(o->error + used, sizeof(o->error) - used, "%s", errbuf);
    }
out:
    sanitize_utf8(o->excerpt, o->excerpt_len);
    sanitize_utf8(o->error, strlen(o->error));
    o->latency_ms = (pay_monotonic_us() - t0) / 1000;
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
}

/* ---- Recording --------------------------------------------------------------- */

struct record {
    const struct pay_webhook_config *cfg;
    const struct claim *c;
    const struct outcome *o;
    uint32_t jitter;
    bool disabled_endpoint; /* out: this attempt disabled the endpoint */
};

static enum pay_err disable_endpoint(struct pay_tx *tx, const char *endpoint, int64_t now_ms,
                                     const struct pay_webhook_config *cfg, bool *disabled)
{
    struct pay_param p[] = {PAY_PTEXT(endpoint), PAY_PINT(now_ms - cfg->disable_after_ms)};
    int64_t changes = 0;
    enum pay_err rc = pay_tx_exec(tx,
                                  "UPDATE webhook_endpoints SET status = 'disabled' "
                                  "WHERE id = $1 AND status = 'enabled' "
                                  "AND failing_since_ms IS NOT NULL AND failing_since_ms <= $2",
                                  p, PAY_NPARAMS(p), &changes);
    if (rc != PAY_OK || changes == 0) {
        return rc;
    }
    char *data = NULL;
    rc = pay_tx_query_text(tx, "SELECT data FROM webhook_endpoints WHERE id = $1", p, 1, &data);
    if (rc != PAY_OK || data == NULL) {
        return rc;
    }
    json_t *o = json_loads(data, 0, NULL);
    free(data);
    if (!json_is_object(o)) {
        json_decref(o);
        return PAY_ERR_INTERNAL;
    }
    pay_json_set_str(o, "status", "disabled");
    char *text = pay_json_dump(o);
    if (text == NULL) {
        json_decref(o);
        return PAY_ERR_NOMEM;
    }
    struct pay_param pu[] = {PAY_PTEXT(endpoint), PAY_PTEXT(text)};
    rc = pay_tx_exec(tx, "UPDATE webhook_endpoints SET data = $2 WHERE id = $1", pu, 2, NULL);
    free(text);
    if (rc == PAY_OK) {
        struct pay_error err;
        pay_error_clear(&err);
        rc = pay_event_append(tx, "webhook_endpoint.disabled", o, NULL, NULL, NULL, &err);
    }
    json_decref(o);
    if (rc == PAY_OK) {
        *disabled = true;
    }
    return rc;
}

static enum pay_err record_tx(struct pay_tx *tx, void *arg)
{
    struct record *rec = arg;
    const struct claim *c = rec->c;
    const struct outcome *o = rec->o;
    rec->disabled_endpoint = false;
    int64_t now = pay_now();
    int64_t now_ms = now * 1000;
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("wha", id);
    struct pay_param ap[] = {
        PAY_PTEXT(id),
        PAY_PINT(now),
        PAY_PTEXT(c->delivery),
        PAY_PTEXT(c->event),
        PAY_PTEXT(c->endpoint),
        PAY_PTEXT(c->url != NULL ? c->url : ""),
        o->status_code > 0 ? PAY_PINT(o->status_code) : PAY_PNULL,
        PAY_PINT(o->latency_ms),
        PAY_PTEXT(o->error[0] != '\0' ? o->error : NULL),
        PAY_PTEXT(o->excerpt_len > 0 ? o->excerpt : NULL),
        PAY_PINT(o->ok ? 1 : 0),
    };
    enum pay_err rc = pay_tx_exec(tx,
                                  "INSERT INTO webhook_attempts (id, created, delivery, event, "
                                  "endpoint, url, status_code, latency_ms, error, response, "
                                  "succeeded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                                  "$11)",
                                  ap, PAY_NPARAMS(ap), NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    int64_t changes = 0;
    if (o->ok) {
        struct pay_param p[] = {PAY_PTEXT(c->delivery), PAY_PTEXT(c->token),
                                PAY_PINT(o->status_code), PAY_PINT(now)};
        rc = pay_tx_exec(tx,
                         "UPDATE webhook_deliveries SET status = 'succeeded', "
                         "attempt_count = attempt_count + 1, claim = NULL, "
                         "last_status_code = $3, last_error = NULL, last_attempt_at = $4, "
                         "delivered_at = $4 WHERE id = $1 AND claim = $2",
                         p, PAY_NPARAMS(p), &changes);
        if (rc == PAY_OK) {
            struct pay_param pe[] = {PAY_PTEXT(c->endpoint)};
            rc = pay_tx_exec(tx,
                             "UPDATE webhook_endpoints SET failing_since_ms = NULL "
                             "WHERE id = $1 AND failing_since_ms IS NOT NULL",
                             pe, 1, NULL);
        }
        return rc;
    }
    int64_t next_ms = now_ms + pay_webhook_backoff_ms(rec->cfg, c->attempt_count + 1, rec->jitter);
    bool give_up = next_ms - c->retry_from_ms > rec->cfg->retry_max_age_ms;
    struct pay_param p[] = {PAY_PTEXT(c->delivery),
                            PAY_PTEXT(c->token),
                            PAY_PTEXT(give_up ? "failed" : "pending"),
                            PAY_PINT(next_ms),
                            o->status_code > 0 ? PAY_PINT(o->status_code) : PAY_PNULL,
                            PAY_PTEXT(o->error),
                            PAY_PINT(now)};
    rc = pay_tx_exec(tx,
                     "UPDATE webhook_deliveries SET status = $3, "
                     "attempt_count = attempt_count + 1, claim = NULL, next_attempt_ms = $4, "
                     "last_status_code = $5, last_error = $6, last_attempt_at = $7 "
                     "WHERE id = $1 AND claim = $2",
                     p, PAY_NPARAMS(p), &changes);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_param pf[] = {PAY_PTEXT(c->endpoint), PAY_PINT(now_ms)};
    rc = pay_tx_exec(tx,
                     "UPDATE webhook_endpoints SET failing_since_ms = "
                     "COALESCE(failing_since_ms, $2) WHERE id = $1",
                     pf, PAY_NPARAMS(pf), NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    return disable_endpoint(tx, c->endpoint, now_ms, rec->cfg, &rec->disabled_endpoint);
}

/* Give a claim back without an attempt (payd is stopping). */
static enum pay_err release_tx(struct pay_tx *tx, void *arg)
{
    const struct claim *c = arg;
    struct pay_param p[] = {PAY_PTEXT(c->delivery), PAY_PTEXT(c->token),
                            PAY_PINT(pay_now() * 1000)};
    return pay_tx_exec(tx,
                       "UPDATE webhook_deliveries SET claim = NULL, next_attempt_ms = $3 "
                       "WHERE id = $1 AND claim = $2",
                       p, PAY_NPARAMS(p), NULL);
}

static bool stopping(struct pay_webhook_worker *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* Sleep @ms or until stopped. */
static void nap(struct pay_webhook_worker *w, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
}

static void *run(void *arg)
{
    struct pay_webhook_worker *w = arg;
    struct claim c;
    memset(&c, 0, sizeof(c));
    c.lease_ms = w->cfg.timeout_ms + LEASE_MARGIN_MS;
    c.server_key = w->cfg.secret_key;
    while (!stopping(w)) {
        enum pay_err rc = pay_store_write(w->store, claim_tx, &c);
        if (rc != PAY_OK) {
            pay_logf(PAY_LOG_WARN, NULL, "webhooks: cannot claim a delivery: %s", pay_err_str(rc));
            claim_release(&c);
            nap(w, w->cfg.poll_ms > 1000 ? w->cfg.poll_ms : 1000);
            continue;
        }
        if (!c.found) {
            claim_release(&c);
            nap(w, w->cfg.poll_ms);
            continue;
        }
        struct outcome o;
        post(w, &c, &o);
        if (o.aborted) {
            if (pay_store_write(w->store, release_tx, &c) != PAY_OK) {
                pay_logf(PAY_LOG_WARN, NULL, "webhooks: cannot release delivery %s", c.delivery);
            }
            claim_release(&c);
            break;
        }
        uint32_t jitter = 0;
        if (pay_random_bytes(&jitter, sizeof(jitter)) != PAY_OK) {
            jitter = UINT32_MAX / 2;
        }
        struct record rec = {.cfg = &w->cfg, .c = &c, .o = &o, .jitter = jitter};
        rc = pay_store_write(w->store, record_tx, &rec);
        json_t *f = json_object();
        pay_json_set_str(f, "delivery", c.delivery);
        pay_json_set_str(f, "event", c.event);
        pay_json_set_str(f, "endpoint", c.endpoint);
        pay_json_set_int(f, "status_code", o.status_code);
        pay_json_set_int(f, "latency_ms", o.latency_ms);
        if (!o.ok) {
            pay_json_set_str(f, "error", o.error);
        }
        if (rc != PAY_OK) {
            /* The lease expires and the delivery is attempted again. */
            pay_json_set_str(f, "record_error", pay_err_str(rc));
            pay_log(PAY_LOG_ERROR, NULL, "webhooks: cannot record an attempt", f);
        } else {
            pay_log(o.ok ? PAY_LOG_DEBUG : PAY_LOG_INFO, NULL,
                    o.ok ? "webhook delivered" : "webhook attempt failed", f);
            if (rec.disabled_endpoint) {
                pay_log(PAY_LOG_WARN, NULL, "webhooks: endpoint disabled after failing", f);
            }
        }
        json_decref(f);
        claim_release(&c);
    }
    claim_release(&c);
    return NULL;
}

enum pay_err pay_webhook_worker_start(struct pay_store *store, const struct pay_webhook_config *cfg,
                                      struct pay_webhook_worker **out, struct pay_error *err)
{
    *out = NULL;
    if (cfg->workers == 0 || cfg->workers > WORKERS_MAX) {
        return pay_error_set(err, PAY_ERR_CONFIG, "webhook-workers",
                             "webhook workers must be 1..%d", WORKERS_MAX);
    }
    struct pay_webhook_worker *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    w->store = store;
    w->cfg = *cfg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (unsigned i = 0; i < cfg->workers; i++) {
        if (pthread_create(&w->threads[i], NULL, run, w) != 0) {
            pay_webhook_worker_stop(w);
            return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "cannot start the webhook worker");
        }
        w->n_threads++;
    }
    *out = w;
    return PAY_OK;
}

void pay_webhook_worker_stop(struct pay_webhook_worker *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    /* Atomic only: libcurl's progress callback reads it without the mutex. */
    __atomic_store_n(&w->stop, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n_threads; i++) {
        pthread_join(w->threads[i], NULL);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/*
 * serve.c - `payd serve`: open and migrate the database, start the HTTP
 * server, log one "listening" line (tests and scripts wait for it), then
 * block until SIGTERM or SIGINT and shut down gracefully: the server stops
 * accepting and finishes the requests in flight, then the database closes.
 *
 * Unless --no-worker, the webhook delivery worker (src/events/worker.c)
 * runs beside the server and stops after it.
 *
 * Threading: SIGTERM and SIGINT are blocked before any thread starts, so
 * every thread inherits the mask and only the main thread's sigwait sees
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/api.h"
#include "../events/stripe_signature.h"
#include "../events/webhooks.h"
#include "../payments/risk.h"
#include "cli.h"

/* Heap kept by glibc before trimming, and the size above which a block is
 * mmapped: see the mallopt calls in pay_cli_serve. */
#define SERVE_MALLOC_TRIM_BYTES (32 * 1024 * 1024)
#define SERVE_MALLOC_MMAP_BYTES (1024 * 1024)

static const struct pay_option serve_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    {"listen", "PAYD_LISTEN", "127.0.0.1:8080",
     "address to listen on, HOST:PORT (port 0 picks a free port)", false},
    {"threads", "PAYD_THREADS", "0",
     "HTTP worker threads (0 = one per CPU; unused while the server runs a thread per connection)",
     false},
    PAY_CLI_OPT_LOG_LEVEL("info"),
    PAY_CLI_STRIPE_OPTS,
    {"public-url", "PAYD_PUBLIC_URL", NULL,
     "base URL clients reach payd at, for links (default http://LISTEN)", false},
    {"jwt-secret", "PAYD_JWT_SECRET", NULL, "HS256 secret for JWTs (unset: JWTs are refused)",
     false},
    {"jwt-alg", "PAYD_JWT_ALG", "HS256", "the one JWT algorithm accepted: HS256 or RS256", false},
    {"jwt-public-key", "PAYD_JWT_PUBLIC_KEY", NULL, "RS256: path to the PEM public key file",
     false},
    {"jwt-issuer", "PAYD_JWT_ISSUER", NULL, "when set, a JWT's iss must equal it", false},
    {"jwt-audience", "PAYD_JWT_AUDIENCE", NULL, "when set, a JWT's aud must contain it", false},
    {"fingerprint-key", "PAYD_FINGERPRINT_KEY", NULL,
     "secret that keys card fingerprints (default: created once in fingerprint.key beside "
     "the SQLite file, or ./var/fingerprint.key with PostgreSQL)",
     false},
    {"quiet-access-log", "PAYD_QUIET_ACCESS_LOG", NULL, "do not log one line per request", true},
    {"rate-limit-per-key", "PAYD_RATE_LIMIT_PER_KEY", "100:200",
     "requests per second per API key, RATE[:BURST] (0 = no limit); excess is a 429", false},
    {"rate-limit-per-subject", "PAYD_RATE_LIMIT_PER_SUBJECT", "50:100",
     "requests per second per JWT subject, RATE[:BURST] (0 = no limit)", false},
    {"rate-limit-per-address", "PAYD_RATE_LIMIT_PER_ADDRESS", "200:400",
     "requests per second per client address, RATE[:BURST] (0 = no limit)", false},
    {"no-worker", "PAYD_NO_WORKER", NULL, "do not run the webhook delivery worker in this process",
     true},
    {"webhook-allow-http", "PAYD_WEBHOOK_ALLOW_HTTP", NULL,
     "allow plain http webhook URLs (development and tests only)", true},
    {"webhook-allow-hosts", "PAYD_WEBHOOK_ALLOW_HOSTS", NULL,
     "comma-separated addresses or host names webhook URLs may reach although not public "
     "(e.g. 127.0.0.1)",
     false},
    {"webhook-connect-timeout-ms", "PAYD_WEBHOOK_CONNECT_TIMEOUT_MS", "5000",
     "webhook connect timeout", false},
    {"webhook-timeout-ms", "PAYD_WEBHOOK_TIMEOUT_MS", "15000", "webhook attempt total timeout",
     false},
    {"webhook-retry-base-ms", "PAYD_WEBHOOK_RETRY_BASE_MS", "30000",
     "delay after a failed attempt; doubles each time, with jitter", false},
    {"webhook-retry-max-delay-ms", "PAYD_WEBHOOK_RETRY_MAX_DELAY_MS", "21600000",
     "longest delay between two attempts", false},
    {"webhook-retry-max-age-s", "PAYD_WEBHOOK_RETRY_MAX_AGE_S", "259200",
     "give up on a delivery this long after it was queued (3 days)", false},
    {"webhook-disable-after-s", "PAYD_WEBHOOK_DISABLE_AFTER_S", "432000",
     "disable an endpoint whose attempts failed continuously this long (5 days)", false},
    {"webhook-poll-ms", "PAYD_WEBHOOK_POLL_MS", "500", "how often an idle worker looks for work",
     false},
    {"webhook-workers", "PAYD_WEBHOOK_WORKERS", "2", "webhook delivery threads (1..64)", false},
    {"stripe-webhook-secret", "PAYD_STRIPE_WEBHOOK_SECRET", NULL,
     "signing secret(s) of the Stripe webhook endpoint (whsec_...), comma-separated while "
     "rotating (unset: POST /v1/webhooks/stripe refuses every delivery)",
     false},
    {"stripe-webhook-tolerance", "PAYD_STRIPE_WEBHOOK_TOLERANCE", "300",
     "seconds a Stripe-Signature timestamp may differ from now (1..86400)", false},
    {"risk-config", "PAYD_RISK_CONFIG", NULL,
     "JSON file of fraud-scoring weights, thresholds, windows and per-customer limits (README "
     "\"Fraud scoring and limits\"; unset: the documented defaults)",
     false},
    {"momo-poll-interval-ms", "PAYD_MOMO_POLL_INTERVAL_MS", "1000",
     "how often the mobile money poller asks wallets about open requests to pay (0 = never)",
     false},
    {"evidence-max-bytes", "PAYD_EVIDENCE_MAX_BYTES", "5242880",
     "largest evidence file (receipt photo, cheque image, bank slip) accepted, in bytes "
     "(1..67108864)",
     false},
};
#define N_SERVE_OPTS (sizeof(serve_opts) / sizeof(serve_opts[0]))

/* Trim trailing whitespace of @s in place. */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
}

/* --risk-config FILE over the risk engine's defaults, installed for every
 * payment attempt; false (message printed) when unreadable or invalid. */
static bool load_risk_config(const struct pay_config *cfg)
{
    struct pay_risk_config risk;
    pay_risk_config_init(&risk);
    const char *path = pay_config_get(cfg, "risk-config");
    if (path != NULL && path[0] != '\0') {
        char *text = NULL;
        if (pay_cli_read_file(path, &text) != PAY_OK) {
            fprintf(stderr, "payd serve: cannot read --risk-config %s: %s\n", path,
                    strerror(errno));
            return false;
        }
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);
        free(text);
        if (j == NULL) {
            fprintf(stderr, "payd serve: --risk-config %s: line %d: %s\n", path, jerr.line,
                    jerr.text);
            return false;
        }
        struct pay_error err;
        pay_error_clear(&err);
        enum pay_err e = pay_risk_config_apply(&risk, j, &err);
        json_decref(j);
        if (e != PAY_OK) {
            fprintf(stderr, "payd serve: --risk-config %s: %s\n", path, err.message);
            return false;
        }
    }
    pay_risk_configure(&risk);
    return true;
}

/* Fill the JWT part of @auth from the options; false (message printed) when invalid. */
static bool load_auth_config(const struct pay_config *cfg, struct pay_auth_config *auth)
{
    const char *alg = pay_config_get(cfg, "jwt-alg");
    if (alg == NULL || (strcmp(alg, "HS256") != 0 && strcmp(alg, "RS256") != 0)) {
        fprintf(stderr, "payd serve: --jwt-alg must be HS256 or RS256\n");
        return false;
    }
    auth->jwt_alg = strdup(alg);
    auth->leeway_s = 30;
    const char *v = pay_config_get(cfg, "jwt-secret");
    if (v != NULL && v[0] != '\0') {
        auth->jwt_secret = strdup(v);
    }
    v = pay_config_get(cfg, "jwt-issuer");
    if (v != NULL && v[0] != '\0') {
        auth->jwt_issuer = strdup(v);
    }
    v = pay_config_get(cfg, "jwt-audience");
    if (v != NULL && v[0] != '\0') {
        auth->jwt_audience = strdup(v);
    }
    v = pay_config_get(cfg, "jwt-public-key");
    if (v != NULL && v[0] != '\0') {
        if (pay_cli_read_file(v, &auth->jwt_public_key) != PAY_OK) {
            fprintf(stderr, "payd serve: cannot read --jwt-public-key %s: %s\n", v,
                    strerror(errno));
            return false;
        }
    }
    if (strcmp(alg, "RS256") == 0 && auth->jwt_public_key == NULL) {
        fprintf(stderr, "payd serve: --jwt-alg RS256 needs --jwt-public-key PEM_FILE\n");
        return false;
    }
    return true;
}

static void auth_config_release(struct pay_auth_config *auth)
{
    if (auth->jwt_secret != NULL) {
        explicit_bzero(auth->jwt_secret, strlen(auth->jwt_secret));
    }
    free(auth->jwt_alg);
    free(auth->jwt_secret);
    free(auth->jwt_public_key);
    free(auth->jwt_issuer);
    free(auth->jwt_audience);
    memset(auth, 0, sizeof(*auth));
}

/* Inbound Stripe webhook settings: the secrets point into @buf. */
struct webhook_config {
    char *buf;
    const char *secrets[PAY_STRIPE_SIG_SECRETS_MAX];
    size_t n_secrets;
    int64_t tolerance_s;
};

/* Split --stripe-webhook-secret on commas (blanks around each trimmed) and
 * check --stripe-webhook-tolerance. */
static bool load_webhook_config(struct pay_config *cfg, struct webhook_config *w)
{
    const char *tol = pay_config_get(cfg, "stripe-webhook-tolerance");
    char *end = NULL;
    errno = 0;
    long long t = strtoll(tol != NULL ? tol : "300", &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || t < 1 || t > 86400) {
        fprintf(stderr, "payd serve: --stripe-webhook-tolerance must be 1..86400 seconds\n");
        return false;
    }
    w->tolerance_s = t;
    const char *given = pay_config_get(cfg, "stripe-webhook-secret");
    if (given == NULL || given[0] == '\0') {
        return true;
    }
    w->buf = strdup(given);
    if (w->buf == NULL) {
        return false;
    }
    char *save = NULL;
    for (char *tok = strtok_r(w->buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') {
            tok++;
        }
        rtrim(tok);
        if (tok[0] == '\0') {
            continue;
        }
        if (w->n_secrets == PAY_STRIPE_SIG_SECRETS_MAX) {
            fprintf(stderr, "payd serve: at most %d --stripe-webhook-secret values\n",
                    PAY_STRIPE_SIG_SECRETS_MAX);
            return false;
        }
        w->secrets[w->n_secrets++] = tok;
    }
    return true;
}

static void webhook_config_release(struct webhook_config *w)
{
    if (w->buf != NULL) {
        explicit_bzero(w->buf, strlen(w->buf));
    }
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

/* @listen's host part ("127.0.0.1", "[::1]") with @port: "127.0.0.1:41234". */
/*
 * With --listen HOST:0 the links' base (the bound port) is known only once
 * the server runs, so it is stored after the server's threads started.
 * Clients learn the port from the "listening" log line, written after this
 * store; ThreadSanitizer cannot see that ordering (it goes through a pipe
 * and a socket), so tests/tsan.supp names this function. With an explicit
 * port the base set before the start is already right and nothing is stored.
 */
static __attribute__((noinline)) void publish_bound_url(struct pay_app *app, const char *url)
{
    app->public_url = url;
}

static void bound_addr(const char *listen, unsigned port, char *out, size_t n)
{
    const char *colon = strrchr(listen, ':');
    int host_len = colon != NULL ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(out, n, "%.*s:%u", host_len, listen, port);
}

/* One integer option of @cfg in [@min, @max], times @scale, into *out. */
static bool option_int(const struct pay_config *cfg, const char *name, int64_t min, int64_t max,
                       int64_t scale, int64_t *out)
{
    const char *v = pay_config_get(cfg, name);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v != NULL ? v : "", &end, 10);
    if (v == NULL || errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "payd serve: --%s must be an integer %lld..%lld\n", name, (long long)min,
                (long long)max);
        return false;
    }
    *out = (int64_t)n * scale;
    return true;
}

/* The outbound webhook options (src/events/webhooks.h) into @w. */
static bool load_outbound_webhooks(const struct pay_config *cfg, struct pay_webhook_config *w)
{
    static const int64_t day_ms = 24 * 3600 * 1000LL;
    int64_t workers = 0;
    pay_webhook_config_init(w);
    w->allow_http = pay_config_bool(cfg, "webhook-allow-http");
    w->allow_hosts = pay_config_get(cfg, "webhook-allow-hosts");
    w->user_agent = "payd/" PAY_VERSION;
    if (!option_int(cfg, "webhook-connect-timeout-ms", 1, 600000, 1, &w->connect_timeout_ms) ||
        !option_int(cfg, "webhook-timeout-ms", 1, 600000, 1, &w->timeout_ms) ||
        !option_int(cfg, "webhook-retry-base-ms", 1, day_ms, 1, &w->retry_base_ms) ||
        !option_int(cfg, "webhook-retry-max-delay-ms", 1, 7 * day_ms, 1, &w->retry_max_delay_ms) ||
        !option_int(cfg, "webhook-retry-max-age-s", 0, 30 * 24 * 3600, 1000,
                    &w->retry_max_age_ms) ||
        !option_int(cfg, "webhook-disable-after-s", 1, 365 * 24 * 3600, 1000,
                    &w->disable_after_ms) ||
        !option_int(cfg, "webhook-poll-ms", 1, 60000, 1, &w->poll_ms) ||
        !option_int(cfg, "webhook-workers", 1, 64, 1, &workers)) {
        return false;
    }
    w->workers = (unsigned)workers;
    return true;
}

int pay_cli_serve(int argc, char **argv)
{
    struct pay_config cfg;
    int start = pay_cli_start(&cfg, "serve", "serve [--db URL] [--listen HOST:PORT] [options]",
                              "Serve the HTTP API. The database is created and migrated at start.\n"
                              "Runs until SIGTERM or SIGINT, then finishes the requests in flight "
                              "and exits 0.",
                              serve_opts, N_SERVE_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = 1;
    struct pay_auth_config auth = {0};
    struct webhook_config whcfg = {0};
    struct pay_store *store = NULL;
    struct pay_server *srv = NULL;
    char *fingerprint_key = NULL;
    struct pay_cli_stripe *stripe = NULL;
    char *public_url = NULL;
    char *public_url_bound = NULL;
    /* Each request allocates and frees in its connection thread's arena;
     * with glibc's defaults the arenas are grown (mprotect) and trimmed
     * (munmap) over and over, about a tenth of a write's CPU under load
     * (bench/RESULTS.md). Keep freed memory for reuse instead. */
    mallopt(M_TRIM_THRESHOLD, SERVE_MALLOC_TRIM_BYTES);
    mallopt(M_MMAP_THRESHOLD, SERVE_MALLOC_MMAP_BYTES);
    /* One arena per core, not glibc's 8 per core: with a thread per
     * connection, each of up to 16 arenas otherwise keeps its own peak (and
     * up to the trim threshold above) of what its threads freed; a list of
     * 100 intents under 64 connections peaked at 70-90 MB that way, 50 MB
     * with 2 arenas, at the same CPU per request (bench/RESULTS.md). Only as
     * many threads as cores run at once, so they rarely wait for an arena. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, cores > 0 && cores < 64 ? (int)cores : 8);
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd serve: unexpected argument '%s'\nTry 'payd serve --help'.\n",
                cfg.positional[0]);
        rc = PAY_CLI_USAGE;
        goto out_config;
    }
    const char *listen = pay_config_get(&cfg, "listen");
    const char *threads_s = pay_config_get(&cfg, "threads");
    char *end = NULL;
    errno = 0;
    unsigned long threads = strtoul(threads_s != NULL ? threads_s : "0", &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || threads > 1024 || listen == NULL ||
        strchr(listen, ':') == NULL) {
        fprintf(stderr, "payd serve: --threads must be 0..1024 and --listen HOST:PORT\n");
        rc = PAY_CLI_USAGE;
        goto out_config;
    }
    const char *evidence_s = pay_config_get(&cfg, "evidence-max-bytes");
    errno = 0;
    unsigned long long evidence_max =
        strtoull(evidence_s != NULL ? evidence_s : "5242880", &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || evidence_max < 1 ||
        evidence_max > PAY_UPLOAD_BYTES_MAX) {
        fprintf(stderr, "payd serve: --evidence-max-bytes must be 1..%d\n", PAY_UPLOAD_BYTES_MAX);
        rc = PAY_CLI_USAGE;
        goto out_config;
    }
    struct pay_rate_limit rate_key, rate_subject, rate_addr;
    if (pay_rate_parse(pay_config_get(&cfg, "rate-limit-per-key"), &rate_key) != PAY_OK ||
        pay_rate_parse(pay_config_get(&cfg, "rate-limit-per-subject"), &rate_subject) != PAY_OK ||
        pay_rate_parse(pay_config_get(&cfg, "rate-limit-per-address"), &rate_addr) != PAY_OK) {
        fprintf(stderr, "payd serve: --rate-limit-* must be RATE or RATE:BURST (0 = off)\n");
        rc = PAY_CLI_USAGE;
        goto out_config;
    }
    if (!load_auth_config(&cfg, &auth)) {
        rc = PAY_CLI_USAGE;
        goto out_auth;
    }
    if (!load_webhook_config(&cfg, &whcfg)) {
        rc = PAY_CLI_USAGE;
        goto out_auth;
    }
    if (!pay_cli_stripe_load(&cfg, &stripe)) {
        rc = PAY_CLI_USAGE;
        goto out_auth;
    }
    struct pay_webhook_config outbound;
    struct pay_webhook_worker *worker = NULL;
    if (!load_outbound_webhooks(&cfg, &outbound)) {
        rc = PAY_CLI_USAGE;
        goto out_auth;
    }
    if (!load_risk_config(&cfg)) {
        rc = PAY_CLI_USAGE;
        goto out_auth;
    }

    /* Before any thread exists (the store's included), so all inherit it. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int level = 0;
    if (!pay_cli_open_store(&cfg, &store, &level)) {
        goto out_auth;
    }
    fingerprint_key = pay_cli_fingerprint_key(&cfg, store, "serve");
    if (fingerprint_key == NULL) {
        goto out_store;
    }
    /* Webhook signing secrets are sealed under a key derived from it. */
    outbound.secret_key = fingerprint_key;
    pay_webhook_configure(&outbound);

    struct pay_app app = {
        .store = store,
        .auth = auth,
        .version = PAY_VERSION,
        .quiet_access_log = pay_config_bool(&cfg, "quiet-access-log"),
        .rate_per_key = rate_key,
        .rate_per_subject = rate_subject,
        .rate_per_address = rate_addr,
        .fingerprint_key = fingerprint_key,
        .stripe = pay_cli_stripe_config(stripe),
        .stripe_webhook_secrets = whcfg.secrets,
        .n_stripe_webhook_secrets = whcfg.n_secrets,
        .stripe_webhook_tolerance_s = whcfg.tolerance_s,
        .upload_bytes_max = (size_t)evidence_max,
    };
    app.routes = pay_api_routes(&app.n_routes);
    /* Default http://LISTEN; with port 0 the real port is known only once
     * bound, so the address is replaced then (the first string stays
     * allocated until exit: a handler may still hold it). */
    const char *public_url_opt = pay_config_get(&cfg, "public-url");
    bool public_url_default = public_url_opt == NULL || public_url_opt[0] == '\0';
    if (!public_url_default) {
        public_url = strdup(public_url_opt);
    } else {
        size_t n = strlen(listen) + sizeof("http://");
        public_url = malloc(n);
        if (public_url != NULL) {
            snprintf(public_url, n, "http://%s", listen);
        }
    }
    if (public_url == NULL) {
        goto out_key;
    }
    app.public_url = public_url;

    struct pay_server_config scfg = {.listen = listen, .threads = (unsigned)threads};
    struct pay_error err;
    pay_error_clear(&err);
    enum pay_err e = pay_server_start(&app, &scfg, &srv, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot start the server", &err, e);
        goto out_key;
    }

    if (!pay_config_bool(&cfg, "no-worker")) {
        e = pay_webhook_worker_start(store, &outbound, &worker, &err);
        if (e != PAY_OK) {
            pay_cli_print_error("cannot start the webhook worker", &err, e);
            pay_server_stop(srv);
            goto out_key;
        }
    }

    if (!pay_cli_stripe_start(stripe, store)) {
        pay_server_stop(srv);
        goto out_key;
    }

    char addr[300];
    bound_addr(listen, pay_server_port(srv), addr, sizeof(addr));
    if (public_url_default) {
        size_t n = strlen(addr) + sizeof("http://");
        public_url_bound = malloc(n);
        if (public_url_bound != NULL) {
            snprintf(public_url_bound, n, "http://%s", addr);
            if (strcmp(public_url_bound, app.public_url) != 0) {
                publish_bound_url(&app, public_url_bound);
            }
        }
    }
    /* The mobile money poller needs the final public URL (callback URLs). */
    int64_t momo_poll_ms = 0;
    struct pay_cli_momo_poller *momo = NULL;
    if (!option_int(&cfg, "momo-poll-interval-ms", 0, 3600 * 1000, 1, &momo_poll_ms) ||
        !pay_cli_momo_poller_start(store, fingerprint_key, app.public_url, (long)momo_poll_ms,
                                   &momo)) {
        pay_server_stop(srv);
        pay_webhook_worker_stop(worker);
        pay_cli_stripe_stop(stripe);
        goto out_key;
    }
    json_t *fields = json_object();
    pay_json_set_str(fields, "addr", addr);
    pay_json_set_str(fields, "db", pay_store_kind(store));
    pay_json_set_int(fields, "migration_level", level);
    pay_json_set_str(fields, "version", PAY_VERSION);
    pay_log(PAY_LOG_INFO, NULL, "listening", fields);
    json_decref(fields);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    pay_logf(PAY_LOG_INFO, NULL, "stopping on %s: finishing requests in flight",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    pay_server_stop(srv);
    /* Calls in flight are aborted and their deliveries handed back. */
    pay_webhook_worker_stop(worker);
    pay_cli_stripe_stop(stripe);
    pay_cli_momo_poller_stop(momo);
    pay_log(PAY_LOG_INFO, NULL, "stopped", NULL);
    rc = 0;
out_key:
    if (fingerprint_key != NULL) {
        explicit_bzero(fingerprint_key, strlen(fingerprint_key));
    }
    free(fingerprint_key);
    free(public_url);
    free(public_url_bound);
out_store:
    pay_store_close(store);
out_auth:
    pay_cli_stripe_free(stripe);
    webhook_config_release(&whcfg);
    auth_config_release(&auth);
out_config:
    pay_config_release(&cfg);
    return rc;
}

/*
 * webhooks_test.c - the pure parts of outbound webhooks (src/events/ssrf.c,
 * signing.c): the SSRF classifier on literal addresses of every class, the
 * URL check (scheme, credentials, allow-list; literals only, so no DNS and
 * no traffic), Stripe's signature header against a known vector, pattern
 * matching and the retry schedule; and the outbox (endpoints.c) on a real
 * SQLite store: an appended event queues one delivery per matching
 * enabled endpoint, in the same transaction.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/events.h"
#include "events/webhooks_int.h"

/* ---- The classifier ------------------------------------------------------ */

/* Parameters are copied into each test's process, so no pointers: inline
 * strings only. */
struct addr_case {
    char addr[48];
    enum pay_addr_class want;
};

static const struct addr_case addr_cases[] = {
    {"8.8.8.8", PAY_ADDR_PUBLIC},
    {"93.184.216.34", PAY_ADDR_PUBLIC},
    {"2606:4700:4700::1111", PAY_ADDR_PUBLIC},
    {"127.0.0.1", PAY_ADDR_LOOPBACK},
    {"127.0.0.2", PAY_ADDR_LOOPBACK},
    {"127.255.255.254", PAY_ADDR_LOOPBACK},
    {"::1", PAY_ADDR_LOOPBACK},
    {"10.0.0.1", PAY_ADDR_PRIVATE},
    {"10.255.255.255", PAY_ADDR_PRIVATE},
    {"172.16.0.1", PAY_ADDR_PRIVATE},
    {"172.31.255.254", PAY_ADDR_PRIVATE},
    {"172.32.0.1", PAY_ADDR_PUBLIC},
    {"172.15.255.255", PAY_ADDR_PUBLIC},
    {"192.168.1.1", PAY_ADDR_PRIVATE},
    {"169.254.169.254", PAY_ADDR_LINK_LOCAL},
    {"fe80::1", PAY_ADDR_LINK_LOCAL},
    {"febf::1", PAY_ADDR_LINK_LOCAL},
    {"100.64.0.1", PAY_ADDR_CGNAT},
    {"100.127.255.254", PAY_ADDR_CGNAT},
    {"100.128.0.1", PAY_ADDR_PUBLIC},
    {"224.0.0.1", PAY_ADDR_MULTICAST},
    {"239.255.255.250", PAY_ADDR_MULTICAST},
    {"ff02::1", PAY_ADDR_MULTICAST},
    {"0.0.0.0", PAY_ADDR_UNSPECIFIED},
    {"0.1.2.3", PAY_ADDR_UNSPECIFIED},
    {"::", PAY_ADDR_UNSPECIFIED},
    {"255.255.255.255", PAY_ADDR_BROADCAST},
    {"fc00::1", PAY_ADDR_UNIQUE_LOCAL},
    {"fd12:3456::1", PAY_ADDR_UNIQUE_LOCAL},
    {"240.0.0.1", PAY_ADDR_RESERVED},
    {"192.0.2.1", PAY_ADDR_RESERVED},
    {"2001:db8::1", PAY_ADDR_RESERVED},
    /* IPv4 carried in IPv6: classified by the IPv4 address. */
    {"::ffff:127.0.0.1", PAY_ADDR_LOOPBACK},
    {"::ffff:10.0.0.1", PAY_ADDR_PRIVATE},
    {"::ffff:169.254.169.254", PAY_ADDR_LINK_LOCAL},
    {"::ffff:100.64.0.1", PAY_ADDR_CGNAT},
    {"::ffff:224.0.0.1", PAY_ADDR_MULTICAST},
    {"::ffff:0.0.0.0", PAY_ADDR_UNSPECIFIED},
    {"::ffff:255.255.255.255", PAY_ADDR_BROADCAST},
    {"::ffff:8.8.8.8", PAY_ADDR_PUBLIC},
    {"::ffff:7f00:1", PAY_ADDR_LOOPBACK},
    {"::127.0.0.1", PAY_ADDR_LOOPBACK},
    {"::ffff:0:10.1.2.3", PAY_ADDR_PRIVATE},
    {"64:ff9b::a9fe:a9fe", PAY_ADDR_LINK_LOCAL},
    {"64:ff9b::808:808", PAY_ADDR_PUBLIC},
    {"2002:c0a8:0101::1", PAY_ADDR_PRIVATE},
    {"2002:7f00:0001::1", PAY_ADDR_LOOPBACK},
};

ParameterizedTestParameters(webhooks, classify)
{
    return cr_make_param_array(struct addr_case, addr_cases,
                               sizeof(addr_cases) / sizeof(addr_cases[0]));
}

ParameterizedTest(const struct addr_case *c, webhooks, classify)
{
    enum pay_addr_class got = PAY_ADDR_PUBLIC;
    cr_assert(pay_addr_classify_str(c->addr, &got), "%s is a literal", c->addr);
    cr_assert_eq(got, c->want, "%s: got %s, want %s", c->addr, pay_addr_class_name(got),
                 pay_addr_class_name(c->want));
}

Test(webhooks, classify_refuses_non_literals)
{
    enum pay_addr_class got;
    cr_assert_not(pay_addr_classify_str("example.com", &got));
    cr_assert_not(pay_addr_classify_str("", &got));
    cr_assert_not(pay_addr_classify_str("1.2.3", &got) && got == PAY_ADDR_PUBLIC);
}

/* ---- The URL check (literal hosts only: no DNS, no traffic) --------------- */

static struct pay_webhook_config cfg_with(bool allow_http, const char *allow_hosts)
{
    struct pay_webhook_config c;
    pay_webhook_config_init(&c);
    c.allow_http = allow_http;
    c.allow_hosts = allow_hosts;
    return c;
}

static enum pay_err check(const char *url, bool allow_http, const char *allow_hosts,
                          struct pay_error *err)
{
    struct pay_webhook_config c = cfg_with(allow_http, allow_hosts);
    pay_error_clear(err);
    return pay_webhook_url_check(url, &c, NULL, err);
}

struct url_case {
    char url[80];
    bool allow_http;
    char allow_hosts[24];
    bool ok;
    char why[24]; /* substring of the message when refused ("" = any) */
};

static const struct url_case url_cases[] = {
    {"https://8.8.8.8/hook", false, "", true, ""},
    {"https://[2606:4700:4700::1111]:8443/x", false, "", true, ""},
    {"http://8.8.8.8/hook", false, "", false, "https"},
    {"http://8.8.8.8/hook", true, "", true, ""},
    {"ftp://8.8.8.8/hook", true, "", false, "https"},
    {"8.8.8.8/hook", true, "", false, "Invalid URL"},
    {"", true, "", false, "Invalid URL"},
    {"https://user:pw@8.8.8.8/hook", false, "", false, "credentials"},
    {"https://user@8.8.8.8/hook", false, "", false, "credentials"},
    {"https://127.0.0.1/hook", false, "", false, "loopback"},
    {"http://127.0.0.1:9/hook", true, "127.0.0.1", true, ""},
    {"http://127.0.0.2:9/hook", true, "127.0.0.1", false, "loopback"},
    {"https://10.0.0.1/hook", false, "127.0.0.1", false, "private"},
    {"https://169.254.169.254/latest/meta-data", false, "127.0.0.1", false, "link-local"},
    {"https://100.64.1.1/", false, "", false, "carrier-grade"},
    {"https://224.0.0.1/", false, "", false, "multicast"},
    {"https://0.0.0.0/", false, "", false, "unspecified"},
    {"https://255.255.255.255/", false, "", false, "broadcast"},
    {"https://[::1]/hook", false, "127.0.0.1", false, "loopback"},
    {"https://[::ffff:127.0.0.1]/hook", false, "127.0.0.1", false, "loopback"},
    {"https://[::ffff:a9fe:a9fe]/hook", false, "", false, "link-local"},
    {"https://[fe80::1]/hook", false, "", false, "link-local"},
    {"https://[fd00::1]/hook", false, "", false, "unique-local"},
    {"https://[::]/hook", false, "", false, "unspecified"},
    {"https://[::1]/hook", false, "::1", true, ""},
    {"https://[fe80::1%25eth0]/hook", false, "", false, ""},
};

ParameterizedTestParameters(webhooks, url_check)
{
    return cr_make_param_array(struct url_case, url_cases,
                               sizeof(url_cases) / sizeof(url_cases[0]));
}

ParameterizedTest(const struct url_case *c, webhooks, url_check)
{
    struct pay_error err;
    enum pay_err rc = check(c->url, c->allow_http, c->allow_hosts[0] ? c->allow_hosts : NULL, &err);
    if (c->ok) {
        cr_assert_eq(rc, PAY_OK, "%s: refused: %s", c->url, err.message);
        return;
    }
    cr_assert_eq(rc, PAY_ERR_PARAM_INVALID, "%s was accepted", c->url);
    cr_assert_str_eq(err.param, "url");
    if (c->why[0] != '\0') {
        cr_assert(strstr(err.message, c->why) != NULL, "%s: message '%s' lacks '%s'", c->url,
                  err.message, c->why);
    }
}

Test(webhooks, url_check_gives_the_pinned_target)
{
    struct pay_webhook_config c = cfg_with(true, "127.0.0.1");
    struct pay_webhook_target t;
    struct pay_error err = {0};
    cr_assert_eq(pay_webhook_url_check("http://127.0.0.1:8125/x?y=1", &c, &t, &err), PAY_OK);
    cr_assert_str_eq(t.host, "127.0.0.1");
    cr_assert_str_eq(t.addr, "127.0.0.1");
    cr_assert_eq(t.port, 8125);
    cr_assert_not(t.ipv6);
    cr_assert_eq(pay_webhook_url_check("https://8.8.4.4/x", &c, &t, &err), PAY_OK);
    cr_assert_eq(t.port, 443);
}

/* ---- Signatures ------------------------------------------------------------- */

Test(webhooks, signature_matches_stripe_scheme)
{
    /* HMAC-SHA256("whsec_test", "1700000000.{\"a\":1}") and the same under
     * "whsec_old", computed independently (Python's hmac module). */
    const char *body = "{\"a\":1}";
    const char *one[] = {"whsec_test"};
    char out[512];
    cr_assert_eq(pay_webhook_signature(one, 1, 1700000000, body, strlen(body), out, sizeof(out)),
                 PAY_OK);
    cr_assert_str_eq(out, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4"
                          "ca4d3789");
    const char *two[] = {"whsec_test", "whsec_old"};
    cr_assert_eq(pay_webhook_signature(two, 2, 1700000000, body, strlen(body), out, sizeof(out)),
                 PAY_OK);
    cr_assert_str_eq(out, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4"
                          "ca4d3789,v1=b9d801502bb535e960ee9aeee7a294b082bda5089d79c7db610b85116ce"
                          "6faa6");
    char tiny[40];
    cr_assert_neq(pay_webhook_signature(one, 1, 1700000000, body, strlen(body), tiny, sizeof(tiny)),
                  PAY_OK);
}

/* ---- Secrets at rest ------------------------------------------------------ */

Test(webhooks, secrets_are_sealed_and_open_only_with_key_and_endpoint)
{
    const char *secret = "whsec_Ab3dE5gH7jK9mN1pQ3sT5vW7";
    char sealed[PAY_WEBHOOK_SEALED_LEN_MAX], again[PAY_WEBHOOK_SEALED_LEN_MAX];
    char out[PAY_WEBHOOK_SECRET_LEN_MAX + 1];
    cr_assert_eq(pay_webhook_secret_seal("k1", "we_a", secret, sealed, sizeof(sealed)), PAY_OK);
    cr_assert(strncmp(sealed, "enc1:", 5) == 0, "%s", sealed);
    cr_assert_null(strstr(sealed, "whsec_"));
    cr_assert_eq(pay_webhook_secret_seal("k1", "we_a", secret, again, sizeof(again)), PAY_OK);
    cr_assert_str_neq(sealed, again, "a fresh nonce each time");
    cr_assert_eq(pay_webhook_secret_open("k1", "we_a", sealed, out, sizeof(out)), PAY_OK);
    cr_assert_str_eq(out, secret);
    cr_assert_neq(pay_webhook_secret_open("k2", "we_a", sealed, out, sizeof(out)), PAY_OK,
                  "another key");
    cr_assert_neq(pay_webhook_secret_open("k1", "we_b", sealed, out, sizeof(out)), PAY_OK,
                  "another endpoint's row");
    cr_assert_neq(pay_webhook_secret_open(NULL, "we_a", sealed, out, sizeof(out)), PAY_OK);
    sealed[20] = sealed[20] == '0' ? '1' : '0';
    cr_assert_neq(pay_webhook_secret_open("k1", "we_a", sealed, out, sizeof(out)), PAY_OK,
                  "altered");
    sealed[7] = 'z';
    cr_assert_neq(pay_webhook_secret_open("k1", "we_a", sealed, out, sizeof(out)), PAY_OK);
    /* Without a key: stored as given, and a plain stored value opens as itself. */
    cr_assert_eq(pay_webhook_secret_seal(NULL, "we_a", secret, sealed, sizeof(sealed)), PAY_OK);
    cr_assert_str_eq(sealed, secret);
    cr_assert_eq(pay_webhook_secret_open("k1", "we_a", secret, out, sizeof(out)), PAY_OK);
    cr_assert_str_eq(out, secret);
    char tiny[8];
    cr_assert_neq(pay_webhook_secret_seal("k1", "we_a", secret, tiny, sizeof(tiny)), PAY_OK);
}

/* ---- Patterns and backoff ------------------------------------------------- */

Test(webhooks, patterns)
{
    cr_assert(pay_webhook_pattern_matches("*", "payment_intent.succeeded"));
    cr_assert(pay_webhook_pattern_matches("payment_intent.*", "payment_intent.succeeded"));
    cr_assert(pay_webhook_pattern_matches("payment_intent.succeeded", "payment_intent.succeeded"));
    cr_assert_not(pay_webhook_pattern_matches("payment_intent.*", "payment_intents.x"));
    cr_assert_not(pay_webhook_pattern_matches("payment_intent.*", "payment_intent"));
    cr_assert_not(pay_webhook_pattern_matches("charge.refunded", "charge.refund"));
    cr_assert(pay_webhook_pattern_valid("*"));
    cr_assert(pay_webhook_pattern_valid("customer.subscription.*"));
    cr_assert_not(pay_webhook_pattern_valid(""));
    cr_assert_not(pay_webhook_pattern_valid(".*"));
    cr_assert_not(pay_webhook_pattern_valid("payment_intent."));
    cr_assert_not(pay_webhook_pattern_valid("payment_intent.*.x"));
    cr_assert_not(pay_webhook_pattern_valid("Payment_intent.succeeded"));
    cr_assert_not(pay_webhook_pattern_valid("a..b"));
    cr_assert_not(pay_webhook_pattern_valid("**"));
}

Test(webhooks, backoff_doubles_with_jitter_and_caps)
{
    struct pay_webhook_config c = cfg_with(false, NULL);
    c.retry_base_ms = 1000;
    c.retry_max_delay_ms = 60000;
    for (int64_t n = 1; n <= 10; n++) {
        int64_t full = 1000LL << (n - 1);
        if (full > 60000) {
            full = 60000;
        }
        int64_t lo = pay_webhook_backoff_ms(&c, n, 0);
        int64_t hi = pay_webhook_backoff_ms(&c, n, UINT32_MAX);
        cr_assert_eq(lo, full / 2, "attempt %lld: low %lld", (long long)n, (long long)lo);
        cr_assert(hi <= full && hi >= full - 1, "attempt %lld: high %lld", (long long)n,
                  (long long)hi);
    }
    /* Huge attempt counts do not overflow. */
    cr_assert_leq(pay_webhook_backoff_ms(&c, 1000000, UINT32_MAX), 60000);
    /* The default schedule spans about three days before giving up. */
    struct pay_webhook_config d = cfg_with(false, NULL);
    int64_t total = 0;
    int n = 0;
    while (total < d.retry_max_age_ms) {
        total += pay_webhook_backoff_ms(&d, ++n, UINT32_MAX / 2);
    }
    cr_assert(n > 10 && n < 40, "%d attempts in three days", n);
}

/* ---- The outbox on a real store ------------------------------------------- */

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_WARN);
    strcpy(dir, "/tmp/payd-webhooks-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    cr_assert_eq(pay_store_migrate(store, NULL, &err), PAY_OK, "migrate: %s", err.message);
}

static void teardown(void)
{
    pay_store_close(store);
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] != '.') {
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

struct mk {
    const char *const *events;
    size_t n;
    int disabled;
    char id[PAY_ID_LEN_MAX + 1];
    char secret[PAY_WEBHOOK_SECRET_LEN_MAX + 1];
};

static enum pay_err mk_tx(struct pay_tx *tx, void *arg)
{
    struct mk *m = arg;
    struct pay_webhook_config c = cfg_with(true, "127.0.0.1");
    struct pay_webhook_endpoint_params p = {.url = "http://127.0.0.1:9/hook",
                                            .events = m->events,
                                            .n_events = m->n,
                                            .disabled = m->disabled};
    json_t *o = NULL;
    struct pay_error err = {0};
    enum pay_err rc = pay_webhook_endpoint_create(tx, &c, &p, &o, &err);
    if (rc == PAY_OK) {
        snprintf(m->id, sizeof(m->id), "%s", pay_json_str(o, "id"));
        snprintf(m->secret, sizeof(m->secret), "%s", pay_json_str(o, "secret"));
        json_decref(o);
    }
    return rc;
}

struct ev {
    const char *type;
    bool fail_after; /* roll the transaction back after appending */
    char id[PAY_ID_LEN_MAX + 1];
};

static enum pay_err ev_tx(struct pay_tx *tx, void *arg)
{
    struct ev *e = arg;
    json_t *obj = json_pack("{s:s}", "id", "pi_x");
    struct pay_error err = {0};
    enum pay_err rc = pay_event_append(tx, e->type, obj, NULL, NULL, e->id, &err);
    json_decref(obj);
    if (rc == PAY_OK && e->fail_after) {
        return PAY_ERR_CONFLICT;
    }
    return rc;
}

struct count {
    const char *event;
    const char *endpoint;
    int64_t n;
};

static enum pay_err count_tx(struct pay_tx *tx, void *arg)
{
    struct count *c = arg;
    struct pay_param p[] = {PAY_PTEXT(c->event), PAY_PTEXT(c->endpoint)};
    return pay_tx_query_int(tx,
                            "SELECT count(*) FROM webhook_deliveries WHERE event = $1 "
                            "AND endpoint = $2 AND status = 'pending'",
                            p, 2, &c->n, NULL);
}

static int64_t deliveries(const char *event, const char *endpoint)
{
    struct count c = {.event = event, .endpoint = endpoint};
    cr_assert_eq(pay_store_read(store, count_tx, &c), PAY_OK);
    return c.n;
}

Test(webhooks, outbox_fans_out_in_the_event_transaction, .init = setup, .fini = teardown)
{
    static const char *const all[] = {"*"};
    static const char *const pi[] = {"payment_intent.*"};
    static const char *const exact[] = {"charge.refunded", "payment_intent.succeeded"};
    struct mk a = {.events = all, .n = 1, .disabled = -1};
    struct mk b = {.events = pi, .n = 1, .disabled = -1};
    struct mk c = {.events = exact, .n = 2, .disabled = -1};
    struct mk off = {.events = all, .n = 1, .disabled = 1};
    cr_assert_eq(pay_store_write(store, mk_tx, &a), PAY_OK);
    cr_assert_eq(pay_store_write(store, mk_tx, &b), PAY_OK);
    cr_assert_eq(pay_store_write(store, mk_tx, &c), PAY_OK);
    cr_assert_eq(pay_store_write(store, mk_tx, &off), PAY_OK);
    cr_assert(strncmp(a.secret, "whsec_", 6) == 0 && strlen(a.secret) > 20);

    struct ev s = {.type = "payment_intent.succeeded"};
    cr_assert_eq(pay_store_write(store, ev_tx, &s), PAY_OK);
    cr_assert_eq(deliveries(s.id, a.id), 1);
    cr_assert_eq(deliveries(s.id, b.id), 1);
    cr_assert_eq(deliveries(s.id, c.id), 1);
    cr_assert_eq(deliveries(s.id, off.id), 0, "a disabled endpoint gets nothing");

    struct ev cu = {.type = "customer.created"};
    cr_assert_eq(pay_store_write(store, ev_tx, &cu), PAY_OK);
    cr_assert_eq(deliveries(cu.id, a.id), 1);
    cr_assert_eq(deliveries(cu.id, b.id), 0);
    cr_assert_eq(deliveries(cu.id, c.id), 0);

    /* payment_intents.* is not payment_intent.* */
    struct ev near = {.type = "payment_intents.created"};
    cr_assert_eq(pay_store_write(store, ev_tx, &near), PAY_OK);
    cr_assert_eq(deliveries(near.id, b.id), 0);

    /* A rolled-back change leaves neither the event nor its deliveries. */
    struct ev rb = {.type = "payment_intent.succeeded", .fail_after = true};
    cr_assert_eq(pay_store_write(store, ev_tx, &rb), PAY_ERR_CONFLICT);
    cr_assert_eq(deliveries(rb.id, a.id), 0);
}

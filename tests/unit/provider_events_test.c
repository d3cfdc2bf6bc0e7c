/*
 * provider_events_test.c - inbound Stripe events through the domain
 * function on a real SQLite store in a temp directory: an event applies
 * once and its replay changes nothing, the stored row's status, matching
 * by provider_ref and by metadata.payd_intent, a mismatch that writes only
 * the flag, a refused event (not an event, or out of order) that writes
 * nothing at all, and pay_payments_verify after all of it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payments/provider_events.h"

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_ERROR);
    strcpy(dir, "/tmp/payd-provider-events-test-XXXXXX");
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

TestSuite(provider_events, .init = setup, .fini = teardown);

/* ---- helpers --------------------------------------------------------------- */

struct call {
    enum { CREATE, EVENT, GET } what;
    const char *capture_method;
    json_t *event;
    const char *id;
    json_t *out;
    struct pay_provider_event_outcome outcome;
    struct pay_error err;
};

static enum pay_err call_cb(struct pay_tx *tx, void *arg)
{
    struct call *c = arg;
    struct pay_op op = {.tx = tx,
                        .request_id = "req_test",
                        .fingerprint_key = "k",
                        .public_url = "http://127.0.0.1:1",
                        .err = &c->err};
    json_decref(c->out);
    c->out = NULL;
    pay_error_clear(&c->err);
    switch (c->what) {
    case CREATE: {
        struct pay_intent_params p = {.has_amount = true,
                                      .amount_minor = 1000,
                                      .currency = pay_currency_find("usd"),
                                      .payment_method = "pm_card_visa",
                                      .capture_method = c->capture_method,
                                      .confirm = true};
        return pay_intent_create(&op, &p, &c->out);
    }
    case EVENT:
        return pay_provider_event_stripe(&op, c->event, &c->outcome);
    case GET:
        return pay_intent_get(&op, c->id, &c->out);
    }
    return PAY_ERR_INTERNAL;
}

static enum pay_err run(struct call *c)
{
    return c->what == GET ? pay_store_read(store, call_cb, c) : pay_store_write(store, call_cb, c);
}

/* A usd 1000 intent (manual capture: requires_capture); id into @id. */
static void authorised(const char *capture_method, char *id)
{
    struct call c = {.what = CREATE, .capture_method = capture_method};
    cr_assert_eq(run(&c), PAY_OK, "create: %s", c.err.message);
    strcpy(id, pay_json_str(c.out, "id"));
    json_decref(c.out);
}

static json_t *intent(const char *id)
{
    struct call c = {.what = GET, .id = id};
    cr_assert_eq(run(&c), PAY_OK);
    return c.out;
}

static enum pay_err deliver(json_t *event, struct pay_provider_event_outcome *out,
                            struct pay_error *err)
{
    struct call c = {.what = EVENT, .event = event};
    enum pay_err e = run(&c);
    *out = c.outcome;
    if (err != NULL) {
        *err = c.err;
    }
    return e;
}

static json_t *pi_event(const char *evt, const char *type, const char *stripe_pi,
                        const char *payd_pi, int64_t amount, const char *currency)
{
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:{s:{s:s, s:s, s:I, s:I, s:s, s:{s:s}}}}", "id", evt, "object",
                  "event", "type", type, "data", "object", "id", stripe_pi, "object",
                  "payment_intent", "amount", (json_int_t)amount, "amount_received",
                  (json_int_t)amount, "currency", currency, "metadata", "payd_intent", payd_pi);
    cr_assert_not_null(ev);
    return ev;
}

/* Query one integer in a read transaction. */
struct q {
    const char *sql;
    const char *arg;
    int64_t v;
};

static enum pay_err q_cb(struct pay_tx *tx, void *arg)
{
    struct q *q = arg;
    struct pay_param p[1] = {PAY_PTEXT(q->arg)};
    bool found = false;
    return pay_tx_query_int(tx, q->sql, p, q->arg ? 1 : 0, &q->v, &found);
}

static int64_t qint(const char *sql, const char *arg)
{
    struct q q = {.sql = sql, .arg = arg, .v = -1};
    cr_assert_eq(pay_store_read(store, q_cb, &q), PAY_OK, "%s", sql);
    return q.v;
}

static int64_t balance_entries(const char *pi)
{
    return qint("SELECT count(*) FROM ledger_entries WHERE source_id = $1", pi);
}

struct verify {
    struct pay_buf report;
    int64_t ledger, payments;
};

static enum pay_err verify_cb(struct pay_tx *tx, void *arg)
{
    struct verify *v = arg;
    enum pay_err e = pay_ledger_verify(tx, &v->report, &v->ledger);
    if (e == PAY_OK) {
        e = pay_payments_verify(tx, &v->report, &v->payments);
    }
    return e;
}

static void verified(void)
{
    struct verify v;
    memset(&v, 0, sizeof(v));
    pay_buf_init(&v.report, 1 << 20);
    cr_assert_eq(pay_store_read(store, verify_cb, &v), PAY_OK);
    cr_assert_eq(v.ledger + v.payments, 0, "%s", v.report.data);
    pay_buf_release(&v.report);
}

/* ---- tests ------------------------------------------------------------------ */

Test(provider_events, succeeded_applies_once)
{
    char id[64];
    authorised("manual", id);
    json_t *ev = pi_event("evt_a1", "payment_intent.succeeded", "pi_stripe_a1", id, 1000, "usd");
    struct pay_provider_event_outcome out;
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "applied");
    cr_assert_not(out.duplicate);
    cr_assert_str_eq(out.payment_intent, id);
    json_t *pi = intent(id);
    cr_assert_str_eq(pay_json_str(pi, "status"), "succeeded");
    cr_assert_eq(pay_json_int(pi, "amount_received", 0), 1000);
    json_decref(pi);
    int64_t entries = balance_entries(id);
    cr_assert_eq(entries, 1);

    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert(out.duplicate);
    cr_assert_str_eq(out.status, "applied");
    cr_assert_eq(balance_entries(id), entries);
    cr_assert_eq(qint("SELECT count(*) FROM provider_events WHERE event_id = $1", "evt_a1"), 1);
    cr_assert_eq(qint("SELECT count(*) FROM events WHERE type = $1", "payment_intent.succeeded"),
                 1);
    json_decref(ev);
    verified();
}

struct qt {
    const char *sql;
    const char *arg;
    char *v;
};

static enum pay_err qt_cb(struct pay_tx *tx, void *arg)
{
    struct qt *q = arg;
    struct pay_param p[1] = {PAY_PTEXT(q->arg)};
    return pay_tx_query_text(tx, q->sql, p, 1, &q->v);
}

/* Query one text value (caller frees). */
static char *qtext(const char *sql, const char *arg)
{
    struct qt q = {.sql = sql, .arg = arg};
    cr_assert_eq(pay_store_read(store, qt_cb, &q), PAY_OK, "%s", sql);
    return q.v;
}

Test(provider_events, matched_by_provider_ref_without_metadata)
{
    char id[64];
    authorised("manual", id);
    char *ref = qtext("SELECT provider_ref FROM payment_intents WHERE id = $1", id);
    cr_assert_not_null(ref);
    json_t *ev = pi_event("evt_b1", "payment_intent.succeeded", ref, id, 1000, "usd");
    json_object_del(json_object_get(json_object_get(ev, "data"), "object"), "metadata");
    struct pay_provider_event_outcome out;
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "applied");
    cr_assert_str_eq(out.payment_intent, id);
    json_decref(ev);
    free(ref);

    /* neither a known reference nor metadata: unmatched, stored */
    ev = pi_event("evt_b2", "payment_intent.succeeded", "pi_unknown", "pi_nope", 1000, "usd");
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "unmatched");
    cr_assert_str_eq(out.payment_intent, "");
    char *st = qtext("SELECT status FROM provider_events WHERE event_id = $1", "evt_b2");
    cr_assert_str_eq(st, "unmatched");
    free(st);
    json_decref(ev);
}

Test(provider_events, mismatch_flags_and_applies_nothing)
{
    char id[64];
    authorised("manual", id);
    json_t *ev = pi_event("evt_c1", "payment_intent.succeeded", "pi_s_c1", id, 1000, "eur");
    struct pay_provider_event_outcome out;
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "mismatch");
    cr_assert_not_null(strstr(out.note, "currency"));
    json_t *pi = intent(id);
    cr_assert_str_eq(pay_json_str(pi, "status"), "requires_capture");
    json_decref(pi);
    cr_assert_eq(balance_entries(id), 0);
    cr_assert_eq(qint("SELECT count(*) FROM events WHERE type = $1", "payd.provider_mismatch"), 1);
    char *note = qtext("SELECT note FROM provider_events WHERE event_id = $1", "evt_c1");
    cr_assert_not_null(note);
    cr_assert_str_eq(note, out.note);
    free(note);
    json_decref(ev);

    ev = pi_event("evt_c2", "payment_intent.succeeded", "pi_s_c2", id, 999, "usd");
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "mismatch");
    pi = intent(id);
    cr_assert_eq(pay_json_int(pi, "amount_received", -1), 0);
    json_decref(pi);
    cr_assert_eq(qint("SELECT count(*) FROM events WHERE type = $1", "payd.provider_mismatch"), 2);
    json_decref(ev);
    verified();
}

Test(provider_events, refused_events_write_nothing)
{
    char id[64];
    authorised("manual", id);
    struct pay_provider_event_outcome out;
    struct pay_error err;
    /* not an event */
    json_t *bad = json_pack("{s:s, s:s}", "id", "evt_d1", "type", "payment_intent.succeeded");
    cr_assert_eq(deliver(bad, &out, &err), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "body");
    json_decref(bad);
    bad = json_pack("{s:s, s:s, s:{s:{}}}", "id", "evt with space", "type", "x", "data", "object");
    cr_assert_eq(deliver(bad, &out, &err), PAY_ERR_PARAM_INVALID);
    json_decref(bad);
    /* a refund before payd saw the success: conflict, and nothing stored */
    json_t *ev =
        json_pack("{s:s, s:s, s:{s:{s:s, s:s, s:I, s:I, s:s, s:s, s:{s:s}}}}", "id", "evt_d2",
                  "type", "charge.refunded", "data", "object", "id", "ch_1", "object", "charge",
                  "amount", (json_int_t)1000, "amount_refunded", (json_int_t)300, "currency", "usd",
                  "payment_intent", "pi_s_d2", "metadata", "payd_intent", id);
    cr_assert_eq(deliver(ev, &out, &err), PAY_ERR_CONFLICT);
    json_decref(ev);
    cr_assert_eq(qint("SELECT count(*) FROM provider_events", NULL), 0);
    cr_assert_eq(qint("SELECT count(*) FROM refunds", NULL), 0);
    verified();
}

Test(provider_events, refund_delta_after_success)
{
    char id[64];
    authorised("automatic", id);
    json_t *ev =
        json_pack("{s:s, s:s, s:{s:{s:s, s:s, s:I, s:I, s:s, s:s, s:{s:s}}}}", "id", "evt_e1",
                  "type", "charge.refunded", "data", "object", "id", "ch_e", "object", "charge",
                  "amount", (json_int_t)1000, "amount_refunded", (json_int_t)250, "currency", "usd",
                  "payment_intent", "pi_s_e", "metadata", "payd_intent", id);
    struct pay_provider_event_outcome out;
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "applied");
    json_t *pi = intent(id);
    cr_assert_eq(pay_json_int(pi, "amount_refunded", -1), 250);
    json_decref(pi);
    cr_assert_eq(qint("SELECT sum(amount) FROM refunds WHERE payment_intent = $1", id), 250);
    /* the same total under a new event id: nothing more */
    json_object_set_new(ev, "id", json_string("evt_e2"));
    cr_assert_eq(deliver(ev, &out, NULL), PAY_OK);
    cr_assert_str_eq(out.status, "ignored");
    cr_assert_eq(qint("SELECT sum(amount) FROM refunds WHERE payment_intent = $1", id), 250);
    json_decref(ev);
    verified();
}

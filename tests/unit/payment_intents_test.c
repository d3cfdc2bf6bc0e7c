/*
 * payment_intents_test.c - payment intents and refunds through the domain
 * functions on a real SQLite store in a temp directory: a decline is
 * committed although the call fails, a refused refund writes nothing, the
 * tables' CHECKs stop an over-refund that bypasses the domain code, and
 * pay_payments_verify passes on a sound database and names what is wrong
 * on deliberately corrupted ones.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payments/payments.h"
#include "tamper.h"

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_ERROR);
    strcpy(dir, "/tmp/payd-intents-test-XXXXXX");
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

TestSuite(intents, .init = setup, .fini = teardown);

/* ---- helpers --------------------------------------------------------------- */

/* One domain call in its own write transaction, as a request would make it. */
struct call {
    enum { CREATE, CAPTURE, REFUND, GET, SQL } what;
    struct pay_intent_params intent;
    struct pay_refund_params refund;
    const char *id;
    int64_t amount;
    const char *sql;
    json_t *out;
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
    case CREATE:
        return pay_intent_create(&op, &c->intent, &c->out);
    case CAPTURE:
        return pay_intent_capture(&op, c->id, c->amount > 0, c->amount, &c->out);
    case REFUND:
        return pay_refund_create(&op, &c->refund, &c->out);
    case GET:
        return pay_intent_get(&op, c->id, &c->out);
    case SQL:
        return pay_tx_exec(tx, c->sql, NULL, 0, NULL);
    }
    return PAY_ERR_INTERNAL;
}

static enum pay_err run(struct call *c)
{
    return c->what == GET ? pay_store_read(store, call_cb, c) : pay_store_write(store, call_cb, c);
}

/* A succeeded intent of @amount usd paid with pm_card_visa; its id into @id. */
static void paid(int64_t amount, const char *capture_method, char *id)
{
    struct call c = {.what = CREATE,
                     .intent = {.has_amount = true,
                                .amount_minor = amount,
                                .currency = pay_currency_find("usd"),
                                .payment_method = "pm_card_visa",
                                .capture_method = capture_method,
                                .confirm = true}};
    cr_assert_eq(run(&c), PAY_OK, "create: %s", c.err.message);
    strcpy(id, pay_json_str(c.out, "id"));
    json_decref(c.out);
}

static void sql(const char *text)
{
    struct call c = {.what = SQL, .sql = text};
    cr_assert_eq(run(&c), PAY_OK, "%s", text);
}

struct verify {
    struct pay_buf report;
    int64_t ledger_violations, payments_violations;
};

static enum pay_err verify_cb(struct pay_tx *tx, void *arg)
{
    struct verify *v = arg;
    enum pay_err e = pay_ledger_verify(tx, &v->report, &v->ledger_violations);
    if (e == PAY_OK) {
        e = pay_payments_verify(tx, &v->report, &v->payments_violations);
    }
    return e;
}

static void verify(struct verify *v)
{
    memset(v, 0, sizeof(*v));
    pay_buf_init(&v->report, 1 << 20);
    cr_assert_eq(pay_store_read(store, verify_cb, v), PAY_OK);
    cr_assert_not_null(v->report.data);
}

/* ---- tests ------------------------------------------------------------------- */

Test(intents, sound_database_verifies)
{
    char a[64], b[64];
    paid(5000, NULL, a);
    paid(7000, "manual", b);
    struct call cap = {.what = CAPTURE, .id = b, .amount = 4000};
    cr_assert_eq(run(&cap), PAY_OK, "capture: %s", cap.err.message);
    cr_assert_eq(pay_json_int(cap.out, "amount_received", 0), 4000);
    json_decref(cap.out);
    struct call re = {.what = REFUND,
                      .refund = {.payment_intent = a, .has_amount = true, .amount_minor = 1500}};
    cr_assert_eq(run(&re), PAY_OK, "refund: %s", re.err.message);
    json_decref(re.out);

    struct verify v;
    verify(&v);
    cr_assert_eq(v.ledger_violations, 0, "%s", v.report.data);
    cr_assert_eq(v.payments_violations, 0, "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "ok   payment intents: amount_received equals the "
                                             "ledger's captures (2 intents)"),
                       "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "ok   refunds: each equals its ledger entries (1 "
                                             "refunds)"),
                       "%s", v.report.data);
    cr_assert_null(strstr(v.report.data, "FAIL"), "%s", v.report.data);
    pay_buf_release(&v.report);
}

Test(intents, corrupted_amount_received_fails_verify)
{
    char a[64], b[64];
    paid(5000, NULL, a);
    paid(6000, NULL, b);
    char q[256];
    /* The columns and the stored object both claim less than the ledger booked. */
    snprintf(q, sizeof(q), "UPDATE payment_intents SET amount_received = 4999 WHERE id = '%s'", a);
    sql(q);
    cr_assert(tamper_doc(store, "payment_intents", "id", a, "\"amount_received\":5000",
                         "\"amount_received\":4999"));
    struct verify v;
    verify(&v);
    cr_assert_eq(v.ledger_violations, 0, "%s", v.report.data);
    cr_assert_eq(v.payments_violations, 1, "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "FAIL payment intents: amount_received"), "%s",
                       v.report.data);
    cr_assert_not_null(strstr(v.report.data, a), "%s", v.report.data);
    cr_assert_null(strstr(v.report.data, b), "%s", v.report.data);
    pay_buf_release(&v.report);
}

Test(intents, corrupted_refund_fails_verify)
{
    char a[64];
    paid(5000, NULL, a);
    struct call re = {.what = REFUND,
                      .refund = {.payment_intent = a, .has_amount = true, .amount_minor = 2000}};
    cr_assert_eq(run(&re), PAY_OK, "refund: %s", re.err.message);
    char rid[64];
    strcpy(rid, pay_json_str(re.out, "id"));
    json_decref(re.out);
    char q[256];
    snprintf(q, sizeof(q), "UPDATE refunds SET amount = 2500 WHERE id = '%s'", rid);
    sql(q);
    struct verify v;
    verify(&v);
    /* The refund no longer equals its ledger entry, nor the intent's amount_refunded. */
    cr_assert_eq(v.payments_violations, 2, "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "FAIL refunds"), "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "FAIL payment intents: amount_refunded"), "%s",
                       v.report.data);
    cr_assert_not_null(strstr(v.report.data, rid), "%s", v.report.data);
    pay_buf_release(&v.report);
}

Test(intents, object_and_columns_disagreeing_fails_verify)
{
    char a[64];
    paid(5000, NULL, a);
    cr_assert(tamper_doc(store, "payment_intents", "id", a, "\"amount_refunded\":0",
                         "\"amount_refunded\":7"));
    struct verify v;
    verify(&v);
    cr_assert_eq(v.payments_violations, 1, "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "FAIL payment intents: stored objects"), "%s",
                       v.report.data);
    pay_buf_release(&v.report);
}

/* The disputed column is the fraud rules' copy of the object's mark. */
Test(intents, disputed_column_disagreeing_fails_verify)
{
    char a[64], b[64];
    paid(5000, NULL, a);
    paid(6000, NULL, b);
    char q[256];
    snprintf(q, sizeof(q), "UPDATE payment_intents SET disputed = 1 WHERE id = '%s'", a);
    sql(q);
    struct verify v;
    verify(&v);
    cr_assert_eq(v.payments_violations, 1, "%s", v.report.data);
    cr_assert_not_null(strstr(v.report.data, "FAIL payment intents: stored objects"), "%s",
                       v.report.data);
    cr_assert_not_null(strstr(v.report.data, a), "%s", v.report.data);
    pay_buf_release(&v.report);
    /* Marked in both, they agree again. */
    cr_assert(tamper_doc(store, "payment_intents", "id", a,
                         "\"fee_amount\":", "\"disputed\":true,\"fee_amount\":"));
    verify(&v);
    cr_assert_eq(v.payments_violations, 0, "%s", v.report.data);
    pay_buf_release(&v.report);
}

Test(intents, the_table_refuses_an_over_refund)
{
    char a[64];
    paid(5000, NULL, a);
    char q[256];
    snprintf(q, sizeof(q), "UPDATE payment_intents SET amount_refunded = 5001 WHERE id = '%s'", a);
    struct call c = {.what = SQL, .sql = q};
    cr_assert_neq(run(&c), PAY_OK);
    snprintf(q, sizeof(q), "UPDATE payment_intents SET amount_received = 5001 WHERE id = '%s'", a);
    c.sql = q;
    cr_assert_neq(run(&c), PAY_OK);
}

Test(intents, a_decline_is_committed_although_the_call_fails)
{
    struct call c = {.what = CREATE,
                     .intent = {.has_amount = true,
                                .amount_minor = 900,
                                .currency = pay_currency_find("usd"),
                                .payment_method = "pm_card_chargeDeclinedInsufficientFunds",
                                .confirm = true}};
    cr_assert_eq(run(&c), PAY_ERR_CARD_DECLINED);
    cr_assert_str_eq(c.err.decline_code, "insufficient_funds");
    cr_assert_str_eq(c.err.param, "payment_method");
    cr_assert_not_null(c.out);
    char id[64];
    strcpy(id, pay_json_str(c.out, "id"));
    json_decref(c.out);

    struct call g = {.what = GET, .id = id};
    cr_assert_eq(run(&g), PAY_OK, "%s", g.err.message);
    cr_assert_str_eq(pay_json_str(g.out, "status"), "requires_payment_method");
    json_t *lpe = json_object_get(g.out, "last_payment_error");
    cr_assert_str_eq(pay_json_str(lpe, "decline_code"), "insufficient_funds");
    cr_assert_str_eq(pay_json_str(lpe, "code"), "card_declined");
    json_decref(g.out);
}

Test(intents, a_refused_refund_writes_nothing)
{
    char a[64];
    paid(3000, NULL, a);
    struct call re = {.what = REFUND,
                      .refund = {.payment_intent = a, .has_amount = true, .amount_minor = 3001}};
    cr_assert_eq(run(&re), PAY_ERR_AMOUNT_TOO_LARGE);
    cr_assert_str_eq(re.err.param, "amount");
    cr_assert_null(re.out);
    struct call g = {.what = GET, .id = a};
    cr_assert_eq(run(&g), PAY_OK);
    cr_assert_eq(pay_json_int(g.out, "amount_refunded", -1), 0);
    json_decref(g.out);
    struct verify v;
    verify(&v);
    cr_assert_not_null(strstr(v.report.data, "(0 refunds)"), "%s", v.report.data);
    cr_assert_eq(v.payments_violations, 0, "%s", v.report.data);
    pay_buf_release(&v.report);
}

Test(intents, a_failed_create_leaves_no_intent)
{
    struct call c = {.what = CREATE,
                     .intent = {.has_amount = true,
                                .amount_minor = 100,
                                .currency = pay_currency_find("usd"),
                                .customer = "cus_000000000000000000000000"}};
    cr_assert_eq(run(&c), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(c.err.param, "customer");
    struct verify v;
    verify(&v);
    cr_assert_not_null(strstr(v.report.data, "(0 intents)"), "%s", v.report.data);
    pay_buf_release(&v.report);
}

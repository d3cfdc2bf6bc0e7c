/*
 * ledger_test.c - the double-entry ledger on a real SQLite store in a temp
 * directory: balanced posts, refused entries that write nothing, the
 * Stripe balance and balance transactions, paging, the append-only
 * triggers, source sums and pay_ledger_verify on a sound and on a
 * deliberately corrupted ledger.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "tamper.h"

#define PROC "assets:processor:sandbox"
#define MERCHANT PAY_ACCOUNT_MERCHANT_BALANCE

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_WARN); /* no "applied migration" lines */
    strcpy(dir, "/tmp/payd-ledger-test-XXXXXX");
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

TestSuite(ledger, .init = setup, .fini = teardown);

/* ---- helpers --------------------------------------------------------------- */

struct post {
    const struct pay_ledger_entry *e;
    char id[PAY_ID_LEN_MAX + 1];
    struct pay_error err;
};

static enum pay_err post_cb(struct pay_tx *tx, void *arg)
{
    struct post *p = arg;
    return pay_ledger_post(tx, p->e, p->id, &p->err);
}

static enum pay_err post(const struct pay_ledger_entry *e, char *id_out)
{
    struct post p = {.e = e};
    enum pay_err rc = pay_store_write(store, post_cb, &p);
    if (id_out != NULL) {
        strcpy(id_out, p.id);
    }
    return rc;
}

/* A capture of @amount on @pi: Dr processor / Cr merchant, bt "charge". */
static void capture(const char *pi, const char *currency, int64_t amount)
{
    struct pay_ledger_line lines[] = {{PROC, amount}, {MERCHANT, -amount}};
    struct pay_ledger_entry e = {.kind = "capture",
                                 .currency = currency,
                                 .source_id = pi,
                                 .description = "Payment",
                                 .lines = lines,
                                 .n_lines = 2,
                                 .bt = {.type = "charge", .amount_minor = amount}};
    cr_assert_eq(post(&e, NULL), PAY_OK);
}

/* A refund of @amount of @pi (source @re): Dr merchant / Cr processor. */
static void refund(const char *re, const char *currency, int64_t amount)
{
    struct pay_ledger_line lines[] = {{MERCHANT, amount}, {PROC, -amount}};
    struct pay_ledger_entry e = {.kind = "refund",
                                 .currency = currency,
                                 .source_id = re,
                                 .lines = lines,
                                 .n_lines = 2,
                                 .bt = {.type = "refund", .amount_minor = -amount}};
    cr_assert_eq(post(&e, NULL), PAY_OK);
}

struct sql_int {
    const char *sql;
    int64_t v;
};

static enum pay_err int_cb(struct pay_tx *tx, void *arg)
{
    struct sql_int *q = arg;
    bool found = false;
    enum pay_err rc = pay_tx_query_int(tx, q->sql, NULL, 0, &q->v, &found);
    if (rc == PAY_OK && !found) {
        q->v = -1;
    }
    return rc;
}

static int64_t count(const char *table)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
    struct sql_int q = {.sql = sql};
    cr_assert_eq(pay_store_read(store, int_cb, &q), PAY_OK);
    return q.v;
}

static void assert_nothing_written(void)
{
    cr_assert_eq(count("ledger_entries"), 0);
    cr_assert_eq(count("ledger_lines"), 0);
    cr_assert_eq(count("ledger_accounts"), 0);
    cr_assert_eq(count("ledger_balances"), 0);
    cr_assert_eq(count("balance_transactions"), 0);
}

static enum pay_err exec_cb(struct pay_tx *tx, void *arg)
{
    return pay_tx_exec(tx, arg, NULL, 0, NULL);
}

static enum pay_err exec_sql(const char *sql)
{
    return pay_store_write(store, exec_cb, (void *)sql);
}

static enum pay_err balance_cb(struct pay_tx *tx, void *arg)
{
    return pay_ledger_balance(tx, arg, NULL);
}

static json_t *balance(void)
{
    json_t *b = NULL;
    cr_assert_eq(pay_store_read(store, balance_cb, &b), PAY_OK);
    return b;
}

struct list {
    const char *type, *source;
    struct pay_list_args args;
    json_t *data;
    bool has_more;
    struct pay_error err;
};

static enum pay_err list_cb(struct pay_tx *tx, void *arg)
{
    struct list *l = arg;
    return pay_ledger_bt_list(tx, l->type, l->source, &l->args, &l->data, &l->has_more, &l->err);
}

struct verify {
    struct pay_buf report;
    int64_t violations;
};

static enum pay_err verify_cb(struct pay_tx *tx, void *arg)
{
    struct verify *v = arg;
    return pay_ledger_verify(tx, &v->report, &v->violations);
}

static int64_t verify(struct pay_buf *report)
{
    struct verify v = {.violations = -1};
    pay_buf_init(&v.report, 1 << 20);
    cr_assert_eq(pay_store_read(store, verify_cb, &v), PAY_OK);
    if (report != NULL) {
        *report = v.report;
    } else {
        pay_buf_release(&v.report);
    }
    return v.violations;
}

/* ---- posting ------------------------------------------------------------- */

Test(ledger, capture_moves_the_balance_and_writes_a_balance_transaction)
{
    struct pay_ledger_line lines[] = {{PROC, 1000}, {MERCHANT, -1000}};
    struct pay_ledger_entry e = {.kind = "capture",
                                 .currency = "usd",
                                 .source_id = "pi_1",
                                 .description = "Visit",
                                 .lines = lines,
                                 .n_lines = 2,
                                 .bt = {.type = "charge", .amount_minor = 1000}};
    char id[PAY_ID_LEN_MAX + 1];
    cr_assert_eq(post(&e, id), PAY_OK);
    cr_assert(pay_id_valid(id, "je"), "%s", id);
    cr_assert_eq(count("ledger_entries"), 1);
    cr_assert_eq(count("ledger_lines"), 2);
    cr_assert_eq(count("ledger_accounts"), 2);
    cr_assert_eq(count("balance_transactions"), 1);

    json_t *b = balance();
    cr_assert_str_eq(pay_json_str(b, "object"), "balance");
    cr_assert(json_is_false(json_object_get(b, "livemode")));
    json_t *avail = json_object_get(b, "available");
    cr_assert_eq(json_array_size(avail), 1);
    json_t *a = json_array_get(avail, 0);
    cr_assert_eq(pay_json_int(a, "amount", -1), 1000);
    cr_assert_str_eq(pay_json_str(a, "currency"), "usd");
    cr_assert_eq(pay_json_int(json_object_get(a, "source_types"), "card", -1), 1000);
    json_t *pend = json_object_get(b, "pending");
    cr_assert_eq(json_array_size(pend), 1);
    cr_assert_eq(pay_json_int(json_array_get(pend, 0), "amount", -1), 0);
    json_decref(b);

    struct list l = {0};
    pay_list_args_init(&l.args);
    cr_assert_eq(pay_store_read(store, list_cb, &l), PAY_OK);
    cr_assert_eq(json_array_size(l.data), 1);
    json_t *bt = json_array_get(l.data, 0);
    cr_assert(pay_id_valid(pay_json_str(bt, "id"), "txn"));
    cr_assert_str_eq(pay_json_str(bt, "object"), "balance_transaction");
    cr_assert_eq(pay_json_int(bt, "amount", -1), 1000);
    cr_assert_eq(pay_json_int(bt, "fee", -1), 0);
    cr_assert_eq(pay_json_int(bt, "net", -1), 1000);
    cr_assert_eq(json_array_size(json_object_get(bt, "fee_details")), 0);
    cr_assert_str_eq(pay_json_str(bt, "currency"), "usd");
    cr_assert_str_eq(pay_json_str(bt, "type"), "charge");
    cr_assert_str_eq(pay_json_str(bt, "reporting_category"), "charge");
    cr_assert_str_eq(pay_json_str(bt, "source"), "pi_1");
    cr_assert_str_eq(pay_json_str(bt, "status"), "available");
    cr_assert_str_eq(pay_json_str(bt, "description"), "Visit");
    cr_assert_eq(pay_json_int(bt, "available_on", -1), pay_json_int(bt, "created", -2));
    cr_assert_not(l.has_more);
    json_decref(l.data);
    cr_assert_eq(verify(NULL), 0);
}

Test(ledger, fee_lines_give_net_and_fee_details)
{
    struct pay_ledger_line lines[] = {
        {PROC, 1000}, {MERCHANT, -941}, {"liabilities:processor:fees", -59}};
    struct pay_ledger_entry e = {.kind = "capture",
                                 .currency = "usd",
                                 .source_id = "pi_f",
                                 .lines = lines,
                                 .n_lines = 3,
                                 .bt = {.type = "charge", .amount_minor = 1000, .fee_minor = 59}};
    cr_assert_eq(post(&e, NULL), PAY_OK);
    struct list l = {0};
    pay_list_args_init(&l.args);
    cr_assert_eq(pay_store_read(store, list_cb, &l), PAY_OK);
    json_t *bt = json_array_get(l.data, 0);
    cr_assert_eq(pay_json_int(bt, "amount", -1), 1000);
    cr_assert_eq(pay_json_int(bt, "fee", -1), 59);
    cr_assert_eq(pay_json_int(bt, "net", -1), 941);
    json_t *fd = json_object_get(bt, "fee_details");
    cr_assert_eq(json_array_size(fd), 1);
    cr_assert_eq(pay_json_int(json_array_get(fd, 0), "amount", -1), 59);
    json_decref(l.data);
    json_t *b = balance();
    cr_assert_eq(pay_json_int(json_array_get(json_object_get(b, "available"), 0), "amount", -1),
                 941);
    json_decref(b);
    cr_assert_eq(verify(NULL), 0);
}

Test(ledger, same_account_twice_in_one_entry)
{
    /* Two lines on the processor account are summed into one balance row. */
    struct pay_ledger_line lines[] = {{PROC, 600}, {PROC, 400}, {MERCHANT, -1000}};
    struct pay_ledger_entry e = {.kind = "capture",
                                 .currency = "usd",
                                 .source_id = "pi_2",
                                 .lines = lines,
                                 .n_lines = 3,
                                 .bt = {.type = "charge", .amount_minor = 1000}};
    cr_assert_eq(post(&e, NULL), PAY_OK);
    cr_assert_eq(count("ledger_lines"), 3);
    cr_assert_eq(count("ledger_balances"), 2);
    cr_assert_eq(verify(NULL), 0);
}

/* Posts @arg's entry twice in one job, then fails it: its writes are undone. */
static enum pay_err post_twice_then_fail_cb(struct pay_tx *tx, void *arg)
{
    struct post *p = arg;
    enum pay_err rc = pay_ledger_post(tx, p->e, p->id, &p->err);
    if (rc == PAY_OK) {
        rc = pay_ledger_post(tx, p->e, p->id, &p->err);
    }
    return rc == PAY_OK ? PAY_ERR_PARAM_INVALID : PAY_ERR_INTERNAL;
}

Test(ledger, an_account_added_by_an_undone_job_is_added_again)
{
    /* The job's second post finds the new account (its own write), which
     * the ledger may remember; the job fails, so the account is gone again,
     * and a later post must add it again rather than trust that memory (it
     * would fail on the lines' reference to the account). */
    struct pay_ledger_line lines[] = {{"assets:processor:fresh", 500}, {MERCHANT, -500}};
    struct pay_ledger_entry e = {.kind = "capture",
                                 .currency = "usd",
                                 .source_id = "pi_9",
                                 .lines = lines,
                                 .n_lines = 2,
                                 .bt = {.type = "charge", .amount_minor = 500}};
    struct post p = {.e = &e};
    cr_assert_eq(pay_store_write(store, post_twice_then_fail_cb, &p), PAY_ERR_PARAM_INVALID);
    struct sql_int q = {
        "SELECT COUNT(*) FROM ledger_accounts WHERE code = 'assets:processor:fresh'", -1};
    cr_assert_eq(pay_store_read(store, int_cb, &q), PAY_OK);
    cr_assert_eq(q.v, 0, "the undone job's account is gone");
    cr_assert_eq(count("ledger_lines"), 0);
    cr_assert_eq(post(&e, NULL), PAY_OK);
    q.v = -1;
    cr_assert_eq(pay_store_read(store, int_cb, &q), PAY_OK);
    cr_assert_eq(q.v, 1);
    cr_assert_eq(count("ledger_lines"), 2);
    cr_assert_eq(verify(NULL), 0);
}

/* Each refused entry returns @want and writes nothing at all. */
static void refused(const struct pay_ledger_entry *e, enum pay_err want)
{
    struct post p = {.e = e};
    cr_assert_eq(pay_store_write(store, post_cb, &p), want, "%s", p.err.message);
    cr_assert_eq(p.err.code, want);
    cr_assert(p.err.message[0] != '\0');
    assert_nothing_written();
}

Test(ledger, refused_entries_write_nothing)
{
    struct pay_ledger_line unbalanced[] = {{PROC, 1000}, {MERCHANT, -999}};
    struct pay_ledger_entry e = {.kind = "capture",
                                 .currency = "usd",
                                 .source_id = "pi_x",
                                 .lines = unbalanced,
                                 .n_lines = 2,
                                 .bt = {.type = "charge", .amount_minor = 999}};
    refused(&e, PAY_ERR_INTERNAL);

    struct pay_ledger_line zero[] = {{PROC, 1000}, {MERCHANT, -1000}, {"assets:other", 0}};
    e.lines = zero;
    e.n_lines = 3;
    e.bt.amount_minor = 1000;
    refused(&e, PAY_ERR_INTERNAL);

    struct pay_ledger_line ok[] = {{PROC, 1000}, {MERCHANT, -1000}};
    e.lines = ok;
    e.n_lines = 1; /* one line */
    refused(&e, PAY_ERR_INTERNAL);
    e.n_lines = 0;
    refused(&e, PAY_ERR_INTERNAL);
    e.n_lines = PAY_LEDGER_LINES_MAX + 1;
    refused(&e, PAY_ERR_INTERNAL);
    e.n_lines = 2;

    e.currency = "xyz";
    refused(&e, PAY_ERR_INTERNAL);
    e.currency = NULL;
    refused(&e, PAY_ERR_INTERNAL);
    e.currency = "usd";

    e.bt.amount_minor = 900; /* net 900 but the merchant gets 1000 */
    refused(&e, PAY_ERR_INTERNAL);
    e.bt.amount_minor = 1000;
    e.bt.fee_minor = 1; /* net 999 */
    refused(&e, PAY_ERR_INTERNAL);
    e.bt.fee_minor = -1;
    e.bt.amount_minor = 999; /* net 1000, but a negative fee */
    refused(&e, PAY_ERR_INTERNAL);
    e.bt.fee_minor = 0;
    e.bt.amount_minor = 1000;

    e.bt.type = NULL; /* moves the merchant balance without a balance transaction */
    refused(&e, PAY_ERR_INTERNAL);
    e.bt.type = "charge";

    e.kind = "";
    refused(&e, PAY_ERR_INTERNAL);
    e.kind = "capture";

    struct pay_ledger_line bad_account[] = {{"cash:drawer", 1000}, {MERCHANT, -1000}};
    e.lines = bad_account;
    refused(&e, PAY_ERR_INTERNAL);
    struct pay_ledger_line bad_account2[] = {{"assets:", 1000}, {MERCHANT, -1000}};
    e.lines = bad_account2;
    refused(&e, PAY_ERR_INTERNAL);
    struct pay_ledger_line bad_account3[] = {{"assets:Proc", 1000}, {MERCHANT, -1000}};
    e.lines = bad_account3;
    refused(&e, PAY_ERR_INTERNAL);

    struct pay_ledger_line overflow[] = {{PROC, INT64_MAX}, {"assets:other", 1}, {MERCHANT, -1}};
    e.lines = overflow;
    e.n_lines = 3;
    e.bt.amount_minor = 1;
    refused(&e, PAY_ERR_OVERFLOW);
    struct pay_ledger_line min[] = {{PROC, INT64_MIN}, {MERCHANT, 1}};
    e.lines = min;
    e.n_lines = 2;
    refused(&e, PAY_ERR_INTERNAL);

    /* And the same entry, corrected, goes through. */
    e.lines = ok;
    e.bt.amount_minor = 1000;
    cr_assert_eq(post(&e, NULL), PAY_OK);
    cr_assert_eq(count("ledger_entries"), 1);
}

Test(ledger, entry_without_merchant_effect_needs_no_balance_transaction)
{
    /* A transfer between two asset accounts (a settlement, say). */
    struct pay_ledger_line lines[] = {{"assets:bank:main", 500}, {PROC, -500}};
    struct pay_ledger_entry e = {
        .kind = "settlement", .currency = "usd", .lines = lines, .n_lines = 2};
    cr_assert_eq(post(&e, NULL), PAY_OK);
    cr_assert_eq(count("balance_transactions"), 0);
    json_t *b = balance();
    cr_assert_eq(json_array_size(json_object_get(b, "available")), 0);
    cr_assert_eq(json_array_size(json_object_get(b, "pending")), 0);
    json_decref(b);
    cr_assert_eq(verify(NULL), 0);
}

Test(ledger, balance_per_currency_after_captures_and_refunds)
{
    json_t *b = balance();
    cr_assert_eq(json_array_size(json_object_get(b, "available")), 0, "starts empty");
    json_decref(b);

    capture("pi_a", "usd", 1000);
    refund("re_a1", "usd", 300);
    refund("re_a2", "usd", 200);
    capture("pi_b", "JPY", 500); /* any case in, lower case stored */
    capture("pi_c", "usd", 50);

    b = balance();
    json_t *avail = json_object_get(b, "available");
    cr_assert_eq(json_array_size(avail), 2);
    cr_assert_str_eq(pay_json_str(json_array_get(avail, 0), "currency"), "jpy");
    cr_assert_eq(pay_json_int(json_array_get(avail, 0), "amount", -1), 500);
    cr_assert_str_eq(pay_json_str(json_array_get(avail, 1), "currency"), "usd");
    cr_assert_eq(pay_json_int(json_array_get(avail, 1), "amount", -1), 1000 - 300 - 200 + 50);
    cr_assert_eq(json_array_size(json_object_get(b, "pending")), 2);
    json_decref(b);

    struct list l = {.type = "refund"};
    pay_list_args_init(&l.args);
    cr_assert_eq(pay_store_read(store, list_cb, &l), PAY_OK);
    cr_assert_eq(json_array_size(l.data), 2);
    json_t *r = json_array_get(l.data, 0); /* newest first */
    cr_assert_str_eq(pay_json_str(r, "source"), "re_a2");
    cr_assert_eq(pay_json_int(r, "amount", 0), -200);
    cr_assert_eq(pay_json_int(r, "net", 0), -200);
    cr_assert_str_eq(pay_json_str(r, "reporting_category"), "refund");
    json_decref(l.data);

    struct list s = {.source = "pi_b"};
    pay_list_args_init(&s.args);
    cr_assert_eq(pay_store_read(store, list_cb, &s), PAY_OK);
    cr_assert_eq(json_array_size(s.data), 1);
    cr_assert_str_eq(pay_json_str(json_array_get(s.data, 0), "currency"), "jpy");
    json_decref(s.data);

    struct list ts = {.type = "refund", .source = "pi_b"};
    pay_list_args_init(&ts.args);
    cr_assert_eq(pay_store_read(store, list_cb, &ts), PAY_OK);
    cr_assert_eq(json_array_size(ts.data), 0);
    json_decref(ts.data);
    cr_assert_eq(verify(NULL), 0);
}

struct sum {
    const char *source, *kind, *account;
    int64_t v;
};

static enum pay_err sum_cb(struct pay_tx *tx, void *arg)
{
    struct sum *s = arg;
    return pay_ledger_source_sum(tx, s->source, s->kind, s->account, &s->v);
}

static int64_t source_sum(const char *source, const char *kind, const char *account)
{
    struct sum s = {source, kind, account, 12345};
    cr_assert_eq(pay_store_read(store, sum_cb, &s), PAY_OK);
    return s.v;
}

Test(ledger, source_sum)
{
    capture("pi_a", "usd", 1000);
    capture("pi_b", "usd", 70);
    refund("pi_a", "usd", 300); /* refunds posted with the intent as source */
    refund("pi_a", "usd", 100);
    cr_assert_eq(source_sum("pi_a", "capture", MERCHANT), -1000);
    cr_assert_eq(source_sum("pi_a", "refund", MERCHANT), 400);
    cr_assert_eq(source_sum("pi_a", NULL, MERCHANT), -600);
    cr_assert_eq(source_sum("pi_a", NULL, PROC), 600);
    cr_assert_eq(source_sum("pi_b", "capture", PROC), 70);
    cr_assert_eq(source_sum("pi_none", NULL, MERCHANT), 0);
    cr_assert_eq(source_sum("pi_a", "capture", "assets:unknown"), 0);
}

struct get {
    const char *id;
    json_t *out;
    struct pay_error err;
};

static enum pay_err get_cb(struct pay_tx *tx, void *arg)
{
    struct get *g = arg;
    return pay_ledger_bt_get(tx, g->id, &g->out, &g->err);
}

Test(ledger, bt_get_and_not_found)
{
    capture("pi_a", "usd", 1000);
    struct list l = {0};
    pay_list_args_init(&l.args);
    cr_assert_eq(pay_store_read(store, list_cb, &l), PAY_OK);
    json_t *first = json_array_get(l.data, 0);
    struct get g = {.id = pay_json_str(first, "id")};
    cr_assert_eq(pay_store_read(store, get_cb, &g), PAY_OK);
    cr_assert(json_equal(g.out, first));
    json_decref(g.out);
    json_decref(l.data);

    struct get missing = {.id = "txn_000000000000000000000000"};
    cr_assert_eq(pay_store_read(store, get_cb, &missing), PAY_ERR_NOT_FOUND);
    cr_assert_str_eq(missing.err.param, "id");
    struct get bad = {.id = "pi_123"};
    cr_assert_eq(pay_store_read(store, get_cb, &bad), PAY_ERR_NOT_FOUND);
    struct get quote = {.id = "txn_'; DROP TABLE x; --"};
    cr_assert_eq(pay_store_read(store, get_cb, &quote), PAY_ERR_NOT_FOUND);
}

/* Page through the balance transactions @limit at a time in both
 * directions and check every one is seen exactly once, in order. */
Test(ledger, bt_list_pages_both_ways)
{
    enum { N = 25 };
    for (int i = 0; i < N; i++) {
        char pi[32];
        snprintf(pi, sizeof(pi), "pi_%d", i);
        capture(pi, "usd", 100 + i);
    }
    char seen[N][PAY_ID_LEN_MAX + 1];
    int64_t amounts[N];
    int n = 0;
    char cursor[PAY_ID_LEN_MAX + 1] = "";
    int pages = 0;
    for (;;) {
        struct list l = {0};
        pay_list_args_init(&l.args);
        l.args.limit = 10;
        l.args.starting_after = cursor[0] ? cursor : NULL;
        cr_assert_eq(pay_store_read(store, list_cb, &l), PAY_OK, "%s", l.err.message);
        pages++;
        size_t i;
        json_t *bt;
        json_array_foreach(l.data, i, bt)
        {
            cr_assert_lt(n, N);
            strcpy(seen[n], pay_json_str(bt, "id"));
            amounts[n++] = pay_json_int(bt, "amount", -1);
        }
        strcpy(cursor, seen[n - 1]);
        bool more = l.has_more;
        json_decref(l.data);
        if (!more) {
            break;
        }
    }
    cr_assert_eq(pages, 3);
    cr_assert_eq(n, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(amounts[i], 100 + (N - 1 - i), "newest first");
    }

    /* Back from the oldest with ending_before. */
    struct list b = {0};
    pay_list_args_init(&b.args);
    b.args.limit = 10;
    b.args.ending_before = seen[N - 1];
    cr_assert_eq(pay_store_read(store, list_cb, &b), PAY_OK);
    cr_assert_eq(json_array_size(b.data), 10);
    cr_assert(b.has_more);
    for (size_t i = 0; i < 10; i++) {
        cr_assert_str_eq(pay_json_str(json_array_get(b.data, i), "id"), seen[N - 11 + i]);
    }
    json_decref(b.data);

    struct list bad = {0};
    pay_list_args_init(&bad.args);
    bad.args.starting_after = "txn_nope";
    cr_assert_eq(pay_store_read(store, list_cb, &bad), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(bad.err.param, "starting_after");
}

/* Concurrent-friendly shards: every post picks one; the balance is their sum. */
Test(ledger, balance_is_the_sum_of_its_shards)
{
    int64_t total = 0;
    for (int i = 0; i < 40; i++) {
        char pi[32];
        snprintf(pi, sizeof(pi), "pi_s%d", i);
        capture(pi, "usd", 10 + i);
        total += 10 + i;
    }

    struct sql_int q = {.sql =
                            "SELECT COUNT(*) FROM ledger_balances WHERE shard < 0 OR shard >= 8"};
    cr_assert_eq(pay_store_read(store, int_cb, &q), PAY_OK);
    cr_assert_eq(q.v, 0);
    struct sql_int rows = {.sql = "SELECT COUNT(*) FROM ledger_balances WHERE account = '" MERCHANT
                                  "'"};
    cr_assert_eq(pay_store_read(store, int_cb, &rows), PAY_OK);
    cr_assert_gt(rows.v, 1, "40 objects all on one shard: the shards do not spread");
    json_t *b = balance();
    cr_assert_eq(pay_json_int(json_array_get(json_object_get(b, "available"), 0), "amount", -1),
                 total);
    json_decref(b);
    cr_assert_eq(verify(NULL), 0);
}

/* Posts about one object share one shard, so two transactions each posting
 * twice for their object never lock two shards in opposite orders. */
Test(ledger, posts_about_one_object_share_a_shard)
{
    capture("pi_one", "usd", 1000);
    refund("pi_one", "usd", 300);
    refund("pi_one", "usd", 200);
    struct sql_int q = {.sql = "SELECT COUNT(*) FROM ledger_balances"};
    cr_assert_eq(pay_store_read(store, int_cb, &q), PAY_OK);
    cr_assert_eq(q.v, 2, "one row per account, not per post");
}

/* ---- append-only and verify ---------------------------------------------------- */

Test(ledger, journal_rows_refuse_update_and_delete)
{
    capture("pi_a", "usd", 1000);
    cr_assert_neq(exec_sql("UPDATE ledger_lines SET amount_minor = 1"), PAY_OK);
    cr_assert_neq(exec_sql("DELETE FROM ledger_lines"), PAY_OK);
    cr_assert_neq(exec_sql("UPDATE ledger_entries SET kind = 'x'"), PAY_OK);
    cr_assert_neq(exec_sql("DELETE FROM ledger_entries"), PAY_OK);
    cr_assert_neq(exec_sql("UPDATE balance_transactions SET net_minor = 1"), PAY_OK);
    cr_assert_neq(exec_sql("DELETE FROM balance_transactions"), PAY_OK);
    cr_assert_eq(count("ledger_lines"), 2);
    cr_assert_eq(verify(NULL), 0);
}

Test(ledger, verify_reports_every_check)
{
    capture("pi_a", "usd", 1000);
    refund("re_a", "usd", 400);
    struct pay_buf r;
    cr_assert_eq(verify(&r), 0, "%s", r.data);
    cr_assert_not_null(strstr(r.data, "ok   entries balance"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "(2 entries)"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "ok   cached balances equal"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "ok   balance transactions agree"), "%s", r.data);
    cr_assert_null(strstr(r.data, "FAIL"), "%s", r.data);
    pay_buf_release(&r);
}

Test(ledger, verify_on_an_empty_ledger)
{
    struct pay_buf r;
    cr_assert_eq(verify(&r), 0);
    cr_assert_null(strstr(r.data, "FAIL"), "%s", r.data);
    pay_buf_release(&r);
}

Test(ledger, verify_fails_on_a_corrupted_line)
{
    capture("pi_a", "usd", 1000);
    capture("pi_b", "usd", 2000);
    cr_assert_eq(exec_sql("DROP TRIGGER ledger_lines_no_update"), PAY_OK);
    cr_assert_eq(exec_sql("UPDATE ledger_lines SET amount_minor = amount_minor + 1 "
                          "WHERE line_no = 1 AND amount_minor = 2000"),
                 PAY_OK);
    struct pay_buf r;
    int64_t v = verify(&r);
    cr_assert_gt(v, 0, "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL entries balance"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL cached balances equal"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "1 of 2 entries (je_"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "ok   balance transactions agree"), "%s", r.data);
    pay_buf_release(&r);
}

Test(ledger, verify_fails_on_a_drifted_balance_cache)
{
    capture("pi_a", "usd", 1000);
    cr_assert_eq(exec_sql("UPDATE ledger_balances SET balance_minor = balance_minor - 5 "
                          "WHERE account = '" MERCHANT "'"),
                 PAY_OK);
    struct pay_buf r;
    cr_assert_eq(verify(&r), 1, "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL cached balances equal the sum of their lines: 1 of 2 "
                                      "balances (" MERCHANT " usd)"),
                       "%s", r.data);
    cr_assert_not_null(strstr(r.data, "ok   entries balance"), "%s", r.data);
    pay_buf_release(&r);
}

Test(ledger, verify_fails_on_a_tampered_balance_transaction)
{
    capture("pi_a", "usd", 1000);
    capture("pi_b", "usd", 10);
    cr_assert_eq(exec_sql("DROP TRIGGER balance_transactions_no_update"), PAY_OK);
    cr_assert(
        tamper_doc(store, "balance_transactions", "source", "pi_a", "\"net\":1000", "\"net\":900"));
    struct pay_buf r;
    cr_assert_eq(verify(&r), 1, "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL balance transactions agree"), "%s", r.data);
    pay_buf_release(&r);

    cr_assert_eq(exec_sql("UPDATE balance_transactions SET net_minor = 11, amount_minor = 11 "
                          "WHERE source = 'pi_b'"),
                 PAY_OK);
    cr_assert_eq(verify(NULL), 2);
}

Test(ledger, verify_fails_on_raw_rows_that_break_the_rules)
{
    capture("pi_a", "usd", 1000);
    /* An entry with one line, in another currency than its line, and a
     * merchant movement with no balance transaction: all written by hand. */
    cr_assert_eq(exec_sql("INSERT INTO ledger_entries (id, kind, currency, created) "
                          "VALUES ('je_bad', 'manual', 'eur', 1)"),
                 PAY_OK);
    cr_assert_eq(exec_sql("INSERT INTO ledger_lines (entry_id, line_no, account, currency, "
                          "amount_minor) VALUES ('je_bad', 1, '" MERCHANT "', 'usd', 0)"),
                 PAY_OK);
    struct pay_buf r;
    int64_t v = verify(&r);
    cr_assert_geq(v, 3, "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL entries have at least 2 lines"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL lines are not zero"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL lines are in their entry's currency"), "%s", r.data);
    pay_buf_release(&r);
}

Test(ledger, verify_fails_when_the_merchant_lines_disagree_with_the_balance_transaction)
{
    capture("pi_a", "usd", 1000);
    capture("pi_b", "usd", 10);
    /* Both lines of pi_b moved by one: the entry still balances, but the
     * merchant got 11 while its balance transaction says 10. */
    cr_assert_eq(exec_sql("DROP TRIGGER ledger_lines_no_update"), PAY_OK);
    cr_assert_eq(exec_sql("UPDATE ledger_lines SET amount_minor = amount_minor + "
                          "(CASE WHEN amount_minor > 0 THEN 1 ELSE -1 END) WHERE entry_id = "
                          "(SELECT id FROM ledger_entries WHERE source_id = 'pi_b')"),
                 PAY_OK);
    struct pay_buf r;
    cr_assert_eq(verify(&r), 3, "%s", r.data);
    cr_assert_not_null(strstr(r.data, "ok   entries balance"), "%s", r.data);
    cr_assert_not_null(strstr(r.data, "FAIL balance transactions agree with their entries"), "%s",
                       r.data);
    cr_assert_not_null(strstr(r.data, "FAIL cached balances equal the sum of their lines: 2 of 2"),
                       "%s", r.data);
    pay_buf_release(&r);
}

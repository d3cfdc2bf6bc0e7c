/*
 * audit_test.c - src/audit/audit.c on a SQLite file: appends chain,
 * the summary holds names only, list filters, verify passes on a sound chain
 * and fails on an edited, a deleted and a cut-off row (triggers dropped
 * first: with them the table refuses UPDATE and DELETE), a rolled-back
 * append leaves the chain as it was, and the stored text and hash are
 * jansson's canonical dump whatever the strings hold.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"

static char dir[64];
static struct pay_store *store;

static void setup(void)
{
    pay_log_init(PAY_LOG_ERROR);
    strcpy(dir, "/tmp/payd-audit-test-XXXXXX");
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

TestSuite(audit, .init = setup, .fini = teardown);

struct append {
    const char *object;
    bool fail_after; /* return an error after appending: the append rolls back */
    char id[PAY_ID_LEN_MAX + 1];
};

static enum pay_err append_tx(struct pay_tx *tx, void *arg)
{
    struct append *a = arg;
    struct pay_audit_record rec = {
        .created = 1700000000,
        .actor = "key_test",
        .role = "admin",
        .action = "POST /v1/customers/:id",
        .object = a->object,
        .summary = "description, metadata",
        .client_addr = "127.0.0.1",
        .request_id = "req_1",
        .status = 200,
    };
    enum pay_err rc = pay_audit_append(tx, &rec, a->id);
    if (rc == PAY_OK && a->fail_after) {
        return PAY_ERR_PARAM_INVALID;
    }
    return rc;
}

static enum pay_err append_rec_tx(struct pay_tx *tx, void *arg)
{
    return pay_audit_append(tx, arg, NULL);
}

static void append(const char *object)
{
    struct append a = {.object = object};
    cr_assert_eq(pay_store_write(store, append_tx, &a), PAY_OK);
    cr_assert_eq(strncmp(a.id, "aud_", 4), 0);
}

struct verify {
    struct pay_buf report;
    int64_t bad;
};

static enum pay_err verify_tx(struct pay_tx *tx, void *arg)
{
    struct verify *v = arg;
    pay_buf_reset(&v->report);
    return pay_audit_verify(tx, &v->report, &v->bad);
}

/* Verify; returns the violations, the report in *report_out (free it). */
static int64_t verify(char **report_out)
{
    struct verify v = {0};
    pay_buf_init(&v.report, 1 << 20);
    cr_assert_eq(pay_store_read(store, verify_tx, &v), PAY_OK);
    cr_assert_eq(pay_buf_add(&v.report, "", 1), PAY_OK);
    *report_out = pay_buf_detach(&v.report, NULL);
    return v.bad;
}

struct sql {
    const char *text;
};

static enum pay_err sql_tx(struct pay_tx *tx, void *arg)
{
    const struct sql *q = arg;
    return pay_tx_exec(tx, q->text, NULL, 0, NULL);
}

static enum pay_err run_sql(const char *text)
{
    struct sql q = {text};
    return pay_store_write(store, sql_tx, &q);
}

static void fill(void)
{
    append("cus_1");
    append("cus_2");
    append("cus_3");
    append("cus_4");
}

Test(audit, sound_chain_verifies)
{
    char *report = NULL;
    cr_assert_eq(verify(&report), 0, "%s", report);
    cr_assert_not_null(strstr(report, "ok   audit chain head (0 events"), "%s", report);
    free(report);
    fill();
    cr_assert_eq(verify(&report), 0, "%s", report);
    cr_assert_not_null(strstr(report, "ok   audit chain head (4 events"), "%s", report);
    free(report);
}

Test(audit, rolled_back_append_leaves_no_trace)
{
    fill();
    struct append a = {.object = "cus_x", .fail_after = true};
    cr_assert_eq(pay_store_write(store, append_tx, &a), PAY_ERR_PARAM_INVALID);
    append("cus_5");
    char *report = NULL;
    cr_assert_eq(verify(&report), 0, "%s", report);
    cr_assert_not_null(strstr(report, "(5 events"), "%s", report);
    free(report);
}

Test(audit, triggers_refuse_changes)
{
    fill();
    cr_assert_neq(run_sql("UPDATE audit_events SET summary = 'x' WHERE seq = 2"), PAY_OK);
    cr_assert_neq(run_sql("DELETE FROM audit_events WHERE seq = 2"), PAY_OK);
    cr_assert_neq(run_sql("DELETE FROM audit_head"), PAY_OK);
    cr_assert_neq(run_sql("UPDATE audit_head SET n = n - 1"), PAY_OK,
                  "the head only moves forward");
}

static void tamper(const char *stmt, const char *want)
{
    fill();
    cr_assert_eq(run_sql("DROP TRIGGER audit_events_no_update"), PAY_OK);
    cr_assert_eq(run_sql("DROP TRIGGER audit_events_no_delete"), PAY_OK);
    cr_assert_eq(run_sql(stmt), PAY_OK);
    char *report = NULL;
    cr_assert_gt(verify(&report), 0, "%s passed:\n%s", stmt, report);
    cr_assert_not_null(strstr(report, want), "%s:\n%s", stmt, report);
    free(report);
}

Test(audit, edited_row_fails)
{
    tamper("UPDATE audit_events SET status = 201 WHERE seq = 2",
           "FAIL audit rows match their hashes");
}

Test(audit, deleted_row_fails)
{
    tamper("DELETE FROM audit_events WHERE seq = 2", "FAIL audit chain links");
}

Test(audit, inserted_row_fails)
{
    /* A copy of the first row slipped in before it: the links break. */
    tamper(
        "INSERT INTO audit_events (seq, id, created, actor, role, action, object, summary,"
        " client_addr, request_id, status, prev_hash, hash, data) SELECT 0,"
        " 'aud_forged000000000000000000', created, actor, role, action, object, summary,"
        " client_addr, request_id, status, prev_hash, hash, data FROM audit_events WHERE seq = 1",
        "FAIL audit chain links");
}

Test(audit, cut_off_tail_fails)
{
    tamper("DELETE FROM audit_events WHERE seq = 4", "FAIL audit chain head");
}

struct raw_row {
    int64_t seq;
    char *data; /* the stored data column */
    char hash[65];
};

static enum pay_err raw_row_tx(struct pay_tx *tx, void *arg)
{
    struct raw_row *rr = arg;
    struct pay_param p[] = {PAY_PINT(rr->seq)};
    struct pay_rows *rows = NULL;
    enum pay_err rc =
        pay_tx_query(tx, "SELECT data, hash FROM audit_events WHERE seq = $1", p, 1, &rows);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pay_rows_next(rows)) {
        rr->data = strdup(pay_rows_text(rows, 0));
        snprintf(rr->hash, sizeof(rr->hash), "%s", pay_rows_text(rows, 1));
    }
    return pay_rows_close(rows);
}

/* The stored text of a row is exactly what jansson dumps of the same object
 * (compact, in order, ASCII-escaped), and its hash is the SHA-256 of that
 * dump without "hash": the documented format a client recomputes, although
 * payd writes it without jansson. Strings with every kind of escape. */
Test(audit, canonical_text_is_janssons_dump)
{
    static const char *const tricky[] = {
        "plain",
        "quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f",
        "\x01\x02\x1f del \x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xef\xbf\xbf",    /* e-acute, euro, U+FFFF */
        "astral \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", /* U+1F600, U+10FFFF */
        "bad \xc3(",                                /* not UTF-8: stored as null */
        "overlong \xc0\xaf",
        "surrogate \xed\xa0\x80",
        "",
    };
    size_t n = sizeof(tricky) / sizeof(tricky[0]);
    for (size_t i = 0; i < n; i++) {
        struct pay_audit_record rec = {
            .created = 1700000000 + (int64_t)i,
            .actor = tricky[i],
            .role = i % 2 ? NULL : "admin",
            .action = "POST /v1/customers",
            .object = tricky[(i + 1) % n],
            .summary = tricky[(i + 2) % n],
            .client_addr = tricky[(i + 3) % n],
            .request_id = i % 3 ? tricky[(i + 4) % n] : NULL,
            .status = (int)(200 + i),
        };
        cr_assert_eq(pay_store_write(store, append_rec_tx, &rec), PAY_OK);
    }
    for (size_t i = 0; i < n; i++) {
        struct raw_row rr = {.seq = (int64_t)i + 1};
        cr_assert_eq(pay_store_read(store, raw_row_tx, &rr), PAY_OK);
        cr_assert_not_null(rr.data);
        json_error_t jerr;
        json_t *o = json_loads(rr.data, 0, &jerr);
        cr_assert_not_null(o, "row %zu: %s", i, jerr.text);
        cr_assert_eq(json_object_size(o), 13);
        char *dump = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        cr_assert_str_eq(rr.data, dump, "row %zu", i);
        free(dump);
        cr_assert_str_eq(pay_json_str(o, "hash"), rr.hash);
        cr_assert_eq(json_object_del(o, "hash"), 0);
        dump = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        char want[65];
        pay_sha256_hex(dump, strlen(dump), want);
        cr_assert_str_eq(rr.hash, want, "row %zu: %s", i, dump);
        /* What the columns held, as jansson stores it: null for non-UTF-8. */
        json_t *v = json_object_get(o, "actor");
        if (strstr(tricky[i], "bad") || strstr(tricky[i], "overlong") ||
            strstr(tricky[i], "surrogate")) {
            cr_assert(json_is_null(v), "row %zu", i);
        } else {
            cr_assert_str_eq(json_string_value(v), tricky[i], "row %zu", i);
        }
        free(dump);
        json_decref(o);
        free(rr.data);
    }
    char *report = NULL;
    cr_assert_eq(verify(&report), 0, "%s", report);
    free(report);
}

Test(audit, summary_names_only)
{
    json_t *body = json_pack("{s:s, s:{s:s}, s:s}", "name", "Amira Osman", "card", "number",
                             "4242424242424242", "email", "a@example.org");
    char out[PAY_AUDIT_SUMMARY_LEN_MAX + 1];
    pay_audit_summary(body, out, sizeof(out));
    cr_assert_str_eq(out, "name, card, email");
    char small[12];
    pay_audit_summary(body, small, sizeof(small));
    cr_assert_str_eq(small, "name, ...");
    pay_audit_summary(NULL, out, sizeof(out));
    cr_assert_str_eq(out, "");
    json_decref(body);
}

struct listing {
    struct pay_audit_filter f;
    json_t *data;
    struct pay_error err;
};

static enum pay_err list_tx(struct pay_tx *tx, void *arg)
{
    struct listing *l = arg;
    struct pay_list_args args;
    pay_list_args_init(&args);
    bool more = false;
    json_decref(l->data);
    l->data = NULL;
    return pay_audit_list(tx, &l->f, &args, &l->data, &more, &l->err);
}

Test(audit, list_filters_by_object)
{
    fill();
    struct listing l = {.f = {.object = "cus_3"}};
    cr_assert_eq(pay_store_read(store, list_tx, &l), PAY_OK);
    cr_assert_eq(json_array_size(l.data), 1);
    json_t *ev = json_array_get(l.data, 0);
    cr_assert_str_eq(pay_json_str(ev, "object"), "audit_event");
    cr_assert_str_eq(pay_json_str(ev, "object_id"), "cus_3");
    cr_assert_str_eq(pay_json_str(ev, "summary"), "description, metadata");
    cr_assert_eq(strlen(pay_json_str(ev, "hash")), 64);
    json_decref(l.data);
}

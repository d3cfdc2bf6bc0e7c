/*
 * store_test.c - the database interface on both back ends: every test in
 * the "sqlite" suite runs on a fresh SQLite file in a temp directory, and
 * its twin in the "postgres" suite on a fresh database created in the
 * cluster named by PAYD_TEST_PG_URL (an admin URL, as printed by
 * scripts/pg-cluster); without that variable the postgres twins are skipped.
 *
 * Covered: migrations (idempotent, levels), commit, rollback,
 * commit_anyway, unique violations and the failed-statement rule, $n
 * rewriting, row-lock clauses on SQLite, snapshots, pay_tx_list paging,
 * concurrent increments through group commit, a failing job inside a batch,
 * a job that aborts a whole SQLite transaction, the undo epoch,
 * PostgreSQL deadlock retry.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h"

static char tmp_dir[128];
static char pg_db[64];
static char pg_admin[1024];
static struct pay_store *store;

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* @url with its database name replaced by @db. */
static void pg_url_with_db(const char *url, const char *db, char *out, size_t n)
{
    const char *host = strstr(url, "://");
    cr_assert_not_null(host);
    const char *slash = strchr(host + 3, '/');
    const char *query = strchr(host + 3, '?');
    if (slash == NULL || (query != NULL && slash > query)) {
        size_t head = query != NULL ? (size_t)(query - url) : strlen(url);
        snprintf(out, n, "%.*s/%s%s", (int)head, url, db, query != NULL ? query : "");
    } else {
        snprintf(out, n, "%.*s/%s%s", (int)(slash - url), url, db, query != NULL ? query : "");
    }
}

static void pg_admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg_admin);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "admin connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static struct pay_store *open_sqlite(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/payd-store-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    char url[256];
    /* A missing directory is created. */
    snprintf(url, sizeof(url), "sqlite:%s/sub/dir/t.db", tmp_dir);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    return store;
}

static struct pay_store *open_pg(void)
{
    const char *admin = getenv("PAYD_TEST_PG_URL");
    if (admin == NULL || admin[0] == '\0') {
        cr_skip_test("PAYD_TEST_PG_URL is not set");
    }
    snprintf(pg_admin, sizeof(pg_admin), "%s", admin);
    unsigned char rnd[4];
    cr_assert_eq(pay_random_bytes(rnd, sizeof(rnd)), PAY_OK);
    snprintf(pg_db, sizeof(pg_db), "payd_store_%d_%02x%02x%02x%02x", (int)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3]);
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pg_db);
    pg_admin_exec(sql);
    char url[1100];
    pg_url_with_db(admin, pg_db, url, sizeof(url));
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    return store;
}

static void teardown(void)
{
    pay_store_close(store);
    store = NULL;
    if (tmp_dir[0] != '\0') {
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        tmp_dir[0] = '\0';
    }
    if (pg_db[0] != '\0') {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
        pg_admin_exec(sql);
        pg_db[0] = '\0';
    }
}

/* One body, two tests: sqlite/NAME and postgres/NAME. */
#define STORE_TEST(name)                                                                           \
    static void name##_body(struct pay_store *s);                                                  \
    Test(sqlite, name, .fini = teardown)                                                           \
    {                                                                                              \
        name##_body(open_sqlite());                                                                \
    }                                                                                              \
    Test(postgres, name, .fini = teardown)                                                         \
    {                                                                                              \
        name##_body(open_pg());                                                                    \
    }                                                                                              \
    static void name##_body(struct pay_store *s)

static bool is_pg(struct pay_store *s)
{
    return strcmp(pay_store_kind(s), "postgres") == 0;
}

static void migrate(struct pay_store *s)
{
    struct pay_error err = {0};
    int level = -1;
    cr_assert_eq(pay_store_migrate(s, &level, &err), PAY_OK, "migrate: %s", err.message);
    cr_assert_gt(level, 0);
}

/* A write running one statement, then returning @ret (commit_anyway if @anyway). */
struct sql_job {
    const char *sql;
    struct pay_param p[4];
    size_t n;
    enum pay_err ret;
    bool anyway;
    enum pay_err exec_rc;
};

static enum pay_err sql_job_cb(struct pay_tx *tx, void *arg)
{
    struct sql_job *j = arg;
    j->exec_rc = pay_tx_exec(tx, j->sql, j->p, j->n, NULL);
    if (j->exec_rc != PAY_OK) {
        return j->exec_rc;
    }
    if (j->anyway) {
        pay_tx_commit_anyway(tx);
    }
    return j->ret;
}

static enum pay_err exec_sql(struct pay_store *s, const char *sql)
{
    struct sql_job j = {.sql = sql};
    return pay_store_write(s, sql_job_cb, &j);
}

struct int_query {
    const char *sql;
    struct pay_param p[4];
    size_t n;
    int64_t v;
    bool found;
};

static enum pay_err int_query_cb(struct pay_tx *tx, void *arg)
{
    struct int_query *q = arg;
    return pay_tx_query_int(tx, q->sql, q->p, q->n, &q->v, &q->found);
}

/* The integer the first row's first column holds (-1 when no row). */
static int64_t read_int(struct pay_store *s, const char *sql)
{
    struct int_query q = {.sql = sql};
    cr_assert_eq(pay_store_read(s, int_query_cb, &q), PAY_OK, "read: %s", sql);
    return q.found ? q.v : -1;
}

static void make_kv(struct pay_store *s)
{
    cr_assert_eq(exec_sql(s, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL, t TEXT)"),
                 PAY_OK);
}

/* ------------------------------------------------------------------ */
/* URLs and migrations                                                  */
/* ------------------------------------------------------------------ */

Test(store, bad_urls)
{
    struct pay_store *s = (struct pay_store *)1;
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open("mysql://x", &s, &err), PAY_ERR_CONFIG);
    cr_assert_null(s);
    cr_assert_str_eq(err.param, "db");
    cr_assert_eq(pay_store_open("sqlite:", &s, &err), PAY_ERR_CONFIG);
    cr_assert_eq(pay_store_open("", &s, &err), PAY_ERR_CONFIG);
}

Test(store, postgres_down_is_unavailable)
{
    struct pay_store *s = NULL;
    struct pay_error err = {0};
    /* Port 1 on loopback: nothing listens there. */
    cr_assert_eq(pay_store_open("postgres://payd@127.0.0.1:1/postgres?connect_timeout=2", &s, &err),
                 PAY_ERR_UNAVAILABLE);
    cr_assert_null(s);
}

Test(store, sqlite_memory)
{
    struct pay_store *s = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open("sqlite::memory:", &s, &err), PAY_OK, "%s", err.message);
    cr_assert_str_eq(pay_store_kind(s), "sqlite");
    migrate(s);
    cr_assert_eq(exec_sql(s, "INSERT INTO api_keys VALUES ('k1', 'n', 'admin', 'h', 'p', 1, NULL)"),
                 PAY_OK);
    /* Reads go through other connections: they see the same data. */
    cr_assert_eq(read_int(s, "SELECT count(*) FROM api_keys"), 1);
    pay_store_close(s);
}

STORE_TEST(migrate_twice)
{
    int applied = -1, known = -1;
    cr_assert_eq(pay_store_level(s, &applied, &known), PAY_OK);
    cr_assert_eq(applied, 0, "a new database has applied nothing");
    cr_assert_geq(known, 1);

    struct pay_error err = {0};
    int level = 0;
    cr_assert_eq(pay_store_migrate(s, &level, &err), PAY_OK, "%s", err.message);
    cr_assert_eq(level, known);
    cr_assert_eq(pay_store_level(s, &applied, &known), PAY_OK);
    cr_assert_eq(applied, known);

    int64_t rows = read_int(s, "SELECT count(*) FROM schema_migrations");
    cr_assert_eq(pay_store_migrate(s, &level, &err), PAY_OK, "second run: %s", err.message);
    cr_assert_eq(level, known);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM schema_migrations"), rows,
                 "a second run applies nothing");
    cr_assert_eq(read_int(s, "SELECT MAX(version) FROM schema_migrations"), known);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM schema_migrations WHERE version = 1"
                             " AND name = 'foundation' AND applied_at > 0"),
                 1);

    /* The foundation tables exist with their constraints. */
    cr_assert_eq(exec_sql(s, "INSERT INTO api_keys (id, name, role, secret_hash, prefix, created)"
                             " VALUES ('key_1', 'ci', 'admin', 'h1', 'sk_test_ab', 10)"),
                 PAY_OK);
    cr_assert_eq(exec_sql(s, "INSERT INTO api_keys (id, name, role, secret_hash, prefix, created)"
                             " VALUES ('key_2', 'ci', 'admin', 'h1', 'sk_test_ab', 10)"),
                 PAY_ERR_DB_UNIQUE, "secret_hash is unique");
    cr_assert_eq(exec_sql(s, "INSERT INTO idempotency_keys"
                             " (scope, key, request_hash, method, path, created)"
                             " VALUES ('key:a', 'k', 'h', 'POST', '/v1/x', 5)"),
                 PAY_OK);
    cr_assert_eq(exec_sql(s, "INSERT INTO idempotency_keys"
                             " (scope, key, request_hash, method, path, created)"
                             " VALUES ('key:a', 'k', 'h2', 'POST', '/v1/x', 6)"),
                 PAY_ERR_DB_UNIQUE, "(scope, key) is the primary key");
    cr_assert_eq(read_int(s, "SELECT status FROM idempotency_keys WHERE key = 'k'"), 0);
}

Test(store, migration_files_pair_up)
{
    struct pay_migration a[64], b[64];
    int na = pay_migrations_list("sqlite", a, 64);
    int nb = pay_migrations_list("postgres", b, 64);
    cr_assert_geq(na, 1);
    cr_assert_eq(na, nb, "every migration has a twin for the other back end");
    for (int i = 0; i < na; i++) {
        cr_assert_eq(a[i].version, i + 1, "numbered from 1 without gaps");
        cr_assert_eq(b[i].version, a[i].version);
        cr_assert_str_eq(a[i].name, b[i].name);
    }
    cr_assert_str_eq(a[0].name, "foundation");
}

/* A payment attempt row as the fraud rules write it, with @decision. */
#define ATTEMPT_INSERT(id, decision)                                                               \
    "INSERT INTO payment_attempts (id, created, payment_intent, timezone, amount, currency,"       \
    " score, reasons, decision, outcome) VALUES ('" id "', 1, 'pi_1', 'UTC', 100, 'usd', 5,"       \
    " '[]', '" decision "', 'succeeded')"
#define PROVIDER_EVENT_INSERT(id, status)                                                          \
    "INSERT INTO provider_events (provider, event_id, type, received, status, data)"               \
    " VALUES ('stripe', '" id "', 'charge.succeeded', 1, '" status "', '{}')"

/* Migration 0022 wrote the SQLite checks without IN lists: the same values pass. */
STORE_TEST(attempt_decisions_and_provider_event_statuses_are_checked)
{
    migrate(s);
    cr_assert_eq(exec_sql(s, ATTEMPT_INSERT("pa_1", "approve")), PAY_OK);
    cr_assert_eq(exec_sql(s, ATTEMPT_INSERT("pa_2", "review")), PAY_OK);
    cr_assert_eq(exec_sql(s, ATTEMPT_INSERT("pa_3", "decline")), PAY_OK);
    cr_assert_eq(exec_sql(s, ATTEMPT_INSERT("pa_4", "maybe")), PAY_ERR_DB);
    cr_assert_eq(exec_sql(s, ATTEMPT_INSERT("pa_5", "Approve")), PAY_ERR_DB);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM payment_attempts"), 3);
    const char *ok[] = {
        PROVIDER_EVENT_INSERT("evt_1", "applied"), PROVIDER_EVENT_INSERT("evt_2", "ignored"),
        PROVIDER_EVENT_INSERT("evt_3", "mismatch"), PROVIDER_EVENT_INSERT("evt_4", "unmatched")};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(exec_sql(s, ok[i]), PAY_OK, "%s", ok[i]);
    }
    cr_assert_eq(exec_sql(s, PROVIDER_EVENT_INSERT("evt_5", "pending")), PAY_ERR_DB);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM provider_events"), 4);
}

/* A SQLite database left at @level by an older payd, with raw SQLite. */
static void sqlite_at_level(const char *path, int level)
{
    struct pay_migration m[64];
    int n = pay_migrations_list("sqlite", m, 64);
    cr_assert_geq(n, level);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
                              " CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY,"
                              " name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    for (int i = 0; i < level; i++) {
        char row[160];
        snprintf(row, sizeof(row), "INSERT INTO schema_migrations VALUES (%d, '%s', 1)",
                 m[i].version, m[i].name);
        cr_assert_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, m[i].sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", m[i].name,
                     sqlite3_errmsg(db));
        cr_assert_eq(sqlite3_exec(db, row, NULL, NULL, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    }
    /* Attempts 1 and 2, then 3 and 4 deleted: the next number is 5. Event 1. */
    cr_assert_eq(
        sqlite3_exec(
            db,
            ATTEMPT_INSERT("pa_a", "approve") "; " ATTEMPT_INSERT(
                "pa_b",
                "review") "; " ATTEMPT_INSERT("pa_c",
                                              "decline") "; " ATTEMPT_INSERT("pa_d",
                                                                             "approve") ";"
                                                                                        " DELETE "
                                                                                        "FROM "
                                                                                        "payment_"
                                                                                        "attempts "
                                                                                        "WHERE seq "
                                                                                        "> "
                                                                                        "2;"
                                                                                        " " PROVIDER_EVENT_INSERT(
                                                                                            "evt_a",
                                                                                            "applie"
                                                                                            "d"),
            NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

Test(sqlite, migration_22_keeps_attempts_events_and_their_numbers, .fini = teardown)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/payd-store-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    char path[256], url[300];
    snprintf(path, sizeof(path), "%s/old.db", tmp_dir);
    sqlite_at_level(path, 21);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    int level = 0;
    cr_assert_eq(pay_store_migrate(store, &level, &err), PAY_OK, "migrate: %s", err.message);
    cr_assert_geq(level, 22);

    cr_assert_eq(read_int(store, "SELECT count(*) FROM payment_attempts"), 2);
    cr_assert_eq(read_int(store, "SELECT seq FROM payment_attempts WHERE id = 'pa_b'"
                                 " AND decision = 'review' AND currency = 'usd'"),
                 2);
    cr_assert_eq(read_int(store, "SELECT count(*) FROM payment_attempt_objects"
                                 " WHERE data LIKE '%\"decision\":\"approve\"%'"),
                 1, "the view over the rebuilt table answers");
    cr_assert_eq(exec_sql(store, ATTEMPT_INSERT("pa_e", "approve")), PAY_OK);
    cr_assert_eq(read_int(store, "SELECT seq FROM payment_attempts WHERE id = 'pa_e'"), 5,
                 "no sequence number is handed out twice");
    cr_assert_eq(exec_sql(store, ATTEMPT_INSERT("pa_f", "maybe")), PAY_ERR_DB);
    cr_assert_eq(exec_sql(store, ATTEMPT_INSERT("pa_a", "approve")), PAY_ERR_DB_UNIQUE,
                 "ids are still unique");
    cr_assert_eq(read_int(store, "SELECT count(*) FROM sqlite_schema WHERE tbl_name ="
                                 " 'payment_attempts' AND type = 'index'"),
                 6, "the id's and the five indexes of migrations 0013-0021");

    cr_assert_eq(read_int(store, "SELECT seq FROM provider_events WHERE event_id = 'evt_a'"
                                 " AND status = 'applied'"),
                 1);
    cr_assert_eq(exec_sql(store, PROVIDER_EVENT_INSERT("evt_a", "ignored")), PAY_ERR_DB_UNIQUE,
                 "an event is still stored once");
    cr_assert_eq(exec_sql(store, PROVIDER_EVENT_INSERT("evt_b", "pending")), PAY_ERR_DB);
    cr_assert_eq(exec_sql(store, PROVIDER_EVENT_INSERT("evt_b", "ignored")), PAY_OK);
    cr_assert_eq(read_int(store, "SELECT seq FROM provider_events WHERE event_id = 'evt_b'"), 2);
    cr_assert_eq(read_int(store, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%0022%'"), 0,
                 "no table of the rebuild is left");
}

STORE_TEST(ping_and_kind)
{
    cr_assert(pay_store_ping(s));
    cr_assert_str_eq(pay_store_kind(s), is_pg(s) ? "postgres" : "sqlite");
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */
/* ------------------------------------------------------------------ */

STORE_TEST(write_commits_and_read_sees_it)
{
    make_kv(s);
    struct sql_job j = {.sql = "INSERT INTO kv (k, v, t) VALUES ($1, $2, $3)",
                        .p = {PAY_PTEXT("a"), PAY_PINT(42), PAY_PTEXT("hello")},
                        .n = 3};
    cr_assert_eq(pay_store_write(s, sql_job_cb, &j), PAY_OK);
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'a'"), 42);
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'missing'"), -1);
}

STORE_TEST(error_rolls_back)
{
    make_kv(s);
    struct sql_job j = {.sql = "INSERT INTO kv (k, v) VALUES ('a', 1)", .ret = PAY_ERR_CONFLICT};
    cr_assert_eq(pay_store_write(s, sql_job_cb, &j), PAY_ERR_CONFLICT);
    cr_assert_eq(j.exec_rc, PAY_OK);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kv"), 0);
}

STORE_TEST(commit_anyway_keeps_writes)
{
    make_kv(s);
    struct sql_job j = {.sql = "INSERT INTO kv (k, v) VALUES ('declined', 1)",
                        .ret = PAY_ERR_CARD_DECLINED,
                        .anyway = true};
    cr_assert_eq(pay_store_write(s, sql_job_cb, &j), PAY_ERR_CARD_DECLINED);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kv WHERE k = 'declined'"), 1);
}

struct poison {
    enum pay_err first, second;
};

static enum pay_err poison_cb(struct pay_tx *tx, void *arg)
{
    struct poison *p = arg;
    enum pay_err rc = pay_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ('b', 2)", NULL, 0, NULL);
    cr_assert_eq(rc, PAY_OK);
    p->first = pay_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ('a', 9)", NULL, 0, NULL);
    p->second = pay_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ('c', 3)", NULL, 0, NULL);
    pay_tx_commit_anyway(tx);
    return PAY_OK; /* ignores the errors: the store must not commit anyway */
}

STORE_TEST(unique_violation_and_failed_statement_rule)
{
    make_kv(s);
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('a', 1)"), PAY_OK);
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('a', 1)"), PAY_ERR_DB_UNIQUE);

    struct poison p = {0};
    cr_assert_eq(pay_store_write(s, poison_cb, &p), PAY_ERR_DB_UNIQUE);
    cr_assert_eq(p.first, PAY_ERR_DB_UNIQUE);
    cr_assert_eq(p.second, PAY_ERR_DB, "a statement after a failed one fails");
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kv"), 1, "nothing of the failed write stays");

    cr_assert_eq(exec_sql(s, "INSERT INTO nosuchtable VALUES (1)"), PAY_ERR_DB);
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('z', NULL)"), PAY_ERR_DB,
                 "NOT NULL violation is a plain database error");
}

/* --- Statements held back (pay_tx_exec_later) -------------------------- */

struct later {
    int mode; /* 0: read own write; 1: later-only; 2: a later one conflicts */
    enum pay_err later_rc, query_rc;
    int64_t seen;
    bool found;
};

static enum pay_err later_cb(struct pay_tx *tx, void *arg)
{
    struct later *l = arg;
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* More than one pipeline's worth, with parameters that must be copied. */
    for (int i = 0; i < 150; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%03d", i);
        struct pay_param p[] = {PAY_PTEXT(k), PAY_PINT(i), PAY_PTEXT(i % 2 ? big : NULL)};
        enum pay_err rc =
            pay_tx_exec_later(tx, "INSERT INTO kv (k, v, t) VALUES ($1, $2, $3)", p, 3);
        if (rc != PAY_OK) {
            l->later_rc = rc;
            return rc;
        }
    }
    if (l->mode == 2) {
        /* 'k007' exists: the failure shows here or at the next statement. */
        l->later_rc = pay_tx_exec_later(tx, "INSERT INTO kv (k, v) VALUES ('k007', 0)", NULL, 0);
    }
    if (l->mode == 1) {
        return PAY_OK;
    }
    l->query_rc = pay_tx_query_int(tx, "SELECT SUM(v) FROM kv WHERE t IS NOT NULL", NULL, 0,
                                   &l->seen, &l->found);
    pay_tx_commit_anyway(tx); /* a failed statement must still roll back */
    return l->query_rc;
}

STORE_TEST(later_statements_commit_in_order)
{
    make_kv(s);
    struct later l = {.mode = 0};
    cr_assert_eq(pay_store_write(s, later_cb, &l), PAY_OK);
    cr_assert_eq(l.query_rc, PAY_OK);
    /* The odd values 1..149: the transaction reads what it held back. */
    cr_assert_eq(l.seen, 75 * 75);
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 150);
    cr_assert_eq(read_int(s, "SELECT SUM(LENGTH(t)) FROM kv"), 75 * 2999);

    /* Only held-back statements: they go with the COMMIT. */
    cr_assert_eq(exec_sql(s, "DELETE FROM kv"), PAY_OK);
    l = (struct later){.mode = 1};
    cr_assert_eq(pay_store_write(s, later_cb, &l), PAY_OK);
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 150);
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'k149'"), 149);
}

STORE_TEST(later_statement_failure_fails_the_transaction)
{
    make_kv(s);
    struct later l = {.mode = 2};
    enum pay_err rc = pay_store_write(s, later_cb, &l);
    /* SQLite reports it at once, PostgreSQL with the next statement. */
    cr_assert_eq(rc, PAY_ERR_DB, "got %s", pay_err_str(rc));
    cr_assert(l.later_rc == PAY_ERR_DB || l.query_rc == PAY_ERR_DB,
              "the failure reached the callback");
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 0, "nothing of it was kept");

    /* Failing at the COMMIT (no statement after it) rolls back too. */
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('k007', 0)"), PAY_OK);
    l = (struct later){.mode = 1};
    cr_assert_eq(pay_store_write(s, later_cb, &l), PAY_ERR_DB);
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 1);
    /* The connection is fine afterwards. */
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('after', 1)"), PAY_OK);
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 2);
}

/* Fills the connection's statement cache (1,024 texts) with one-row
 * queries, then holds back an INSERT whose text no longer fits. The texts
 * share one buffer, so the cache must tell them apart by their text, not
 * by its address. */
static enum pay_err past_cache_cb(struct pay_tx *tx, void *arg)
{
    int64_t *sum = arg;
    *sum = 0;
    for (int i = 0; i < 1030; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT %d + $1", i);
        struct pay_param p[] = {PAY_PINT(1)};
        int64_t v = 0;
        bool found = false;
        enum pay_err rc = pay_tx_query_int(tx, sql, p, 1, &v, &found);
        if (rc != PAY_OK) {
            return rc;
        }
        *sum += v;
    }
    struct pay_param p[] = {PAY_PTEXT("late"), PAY_PINT(7)};
    enum pay_err rc = pay_tx_exec_later(tx, "INSERT INTO kv (k, v) VALUES ($1, $2 + 0)", p, 2);
    if (rc != PAY_OK) {
        return rc;
    }
    /* The connection goes on after the statement prepared for one use. */
    return pay_tx_exec_later(tx, "INSERT INTO kv (k, v) VALUES ($1 || '2', $2 + 1)", p, 2);
}

/* A held-back statement the cache cannot keep runs at once, once. */
STORE_TEST(later_statement_past_the_statement_cache)
{
    make_kv(s);
    int64_t sum = 0;
    cr_assert_eq(pay_store_write(s, past_cache_cb, &sum), PAY_OK);
    cr_assert_eq(sum, 1030 * 1029 / 2 + 1030);
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'late'"), 7);
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'late2'"), 8);
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 2);
}

/* ------------------------------------------------------------------ */
/* JSON documents (PAY_PJSON): packed on SQLite, text to every reader     */
/* ------------------------------------------------------------------ */

/* A payment intent as payd stores it (pay_json_dump), @n-th of a kind. */
static void intent_json(char *out, size_t cap, int n)
{
    snprintf(out, cap,
             "{\"id\":\"pi_0VcfTest%016d\",\"object\":\"payment_intent\",\"amount\":%d,"
             "\"amount_capturable\":0,\"amount_details\":{\"tip\":{}},\"amount_received\":%d,"
             "\"amount_refunded\":0,\"application\":null,\"application_fee_amount\":null,"
             "\"automatic_payment_methods\":null,\"canceled_at\":null,"
             "\"cancellation_reason\":null,\"capture_method\":\"automatic\","
             "\"client_secret\":\"pi_0VcfTest%016d_secret_x\",\"confirmation_method\":"
             "\"automatic\",\"created\":1796213355,\"currency\":\"usd\",\"customer\":null,"
             "\"description\":\"caf\xc3\xa9 \\\"quoted\\\" \xf0\x9f\x92\xb3\",\"facility\":null,"
             "\"fee_amount\":0,\"invoice\":null,\"last_payment_error\":null,\"latest_charge\":"
             "null,\"livemode\":false,\"metadata\":{\"n\":\"%d\"},\"next_action\":null,"
             "\"on_behalf_of\":null,\"payment_method\":null,\"payment_method_options\":{},"
             "\"payment_method_types\":[\"card\"],\"processing\":null,\"status\":\"succeeded\","
             "\"transfer_data\":null,\"transfer_group\":null}",
             n, 1000 + n, 1000 + n, n, n);
}

struct docs {
    const char *sql;
    struct pay_param p[3];
    size_t n;
    char *a, *b; /* read back: columns 0 and 1 of the first row */
    size_t a_len;
    enum pay_err close_rc;
};

static enum pay_err docs_write_cb(struct pay_tx *tx, void *arg)
{
    struct docs *d = arg;
    return pay_tx_exec(tx, d->sql, d->p, d->n, NULL);
}

static enum pay_err docs_read_cb(struct pay_tx *tx, void *arg)
{
    struct docs *d = arg;
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(tx, d->sql, d->p, d->n, &r);
    if (e != PAY_OK) {
        return e;
    }
    free(d->a);
    free(d->b);
    d->a = d->b = NULL;
    if (pay_rows_next(r)) {
        const char *a = pay_rows_text(r, 0);
        d->a_len = pay_rows_len(r, 0);
        d->a = a != NULL ? strndup(a, d->a_len) : NULL;
        const char *b = pay_rows_columns(r) > 1 ? pay_rows_text(r, 1) : NULL;
        d->b = b != NULL ? strdup(b) : NULL;
        /* Asked again, the same text. */
        const char *again = pay_rows_text(r, 0);
        if (a != NULL && (again == NULL || strcmp(again, d->a) != 0)) {
            pay_rows_close(r);
            return PAY_ERR_INTERNAL;
        }
    }
    d->close_rc = pay_rows_close(r);
    return d->close_rc;
}

/* Every reader gets the text back; SQLite keeps a document packed, smaller. */
STORE_TEST(json_documents_read_back_as_text)
{
    cr_assert_eq(exec_sql(s, "CREATE TABLE docs (id BIGINT PRIMARY KEY, data TEXT, other TEXT)"),
                 PAY_OK);
    char one[2048], two[2048];
    intent_json(one, sizeof(one), 1);
    intent_json(two, sizeof(two), 2);
    struct docs w = {.sql = "INSERT INTO docs (id, data, other) VALUES ($1, $2, $3)",
                     .p = {PAY_PINT(1), PAY_PJSON(one), PAY_PJSON(two)},
                     .n = 3};
    cr_assert_eq(pay_store_write(s, docs_write_cb, &w), PAY_OK);
    /* Short text and no text stay as they are. */
    w.p[0] = PAY_PINT(2);
    w.p[1] = PAY_PJSON("{\"a\":1}");
    w.p[2] = PAY_PJSON(NULL);
    cr_assert_eq(pay_store_write(s, docs_write_cb, &w), PAY_OK);

    struct docs r = {
        .sql = "SELECT data, other FROM docs WHERE id = $1", .p = {PAY_PINT(1)}, .n = 1};
    cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_OK);
    cr_assert_str_eq(r.a, one);
    cr_assert_eq(r.a_len, strlen(one));
    cr_assert_str_eq(r.b, two);
    r.p[0] = PAY_PINT(2);
    cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_OK);
    cr_assert_str_eq(r.a, "{\"a\":1}");
    cr_assert_null(r.b);
    free(r.a);
    free(r.b);

    if (is_pg(s)) {
        cr_assert_eq(read_int(s, "SELECT octet_length(data) FROM docs WHERE id = 1"),
                     (int64_t)strlen(one));
    } else {
        cr_assert_eq(read_int(s, "SELECT typeof(data) = 'blob' FROM docs WHERE id = 1"), 1);
        int64_t packed = read_int(s, "SELECT length(data) FROM docs WHERE id = 1");
        cr_assert_lt(packed * 3, (int64_t)strlen(one), "%lld of %zu bytes", (long long)packed,
                     strlen(one));
        cr_assert_eq(read_int(s, "SELECT typeof(data) = 'text' FROM docs WHERE id = 2"), 1);
    }
}

/* A text packed right after the same text is stored as the same blob (a
 * payment's intent and the answer kept for its key); a text of the same
 * length that differs in one byte, first or last, is its own. */
STORE_TEST(json_documents_repeated_read_back_as_their_own_text)
{
    cr_assert_eq(exec_sql(s, "CREATE TABLE docs (id BIGINT PRIMARY KEY, data TEXT)"), PAY_OK);
    char texts[5][2048];
    intent_json(texts[0], sizeof(texts[0]), 3);
    memcpy(texts[1], texts[0], sizeof(texts[0])); /* the same, in another buffer */
    memcpy(texts[2], texts[0], sizeof(texts[0]));
    texts[2][strlen(texts[2]) - 2] = 'X'; /* "transfer_group":nulX} */
    memcpy(texts[3], texts[0], sizeof(texts[0]));
    texts[3][1] = ' ';
    memcpy(texts[4], texts[3], sizeof(texts[0]));
    for (int i = 0; i < 5; i++) {
        struct docs w = {.sql = "INSERT INTO docs (id, data) VALUES ($1, $2)",
                         .p = {PAY_PINT(i), PAY_PJSON(texts[i])},
                         .n = 2};
        cr_assert_eq(pay_store_write(s, docs_write_cb, &w), PAY_OK);
    }
    for (int i = 0; i < 5; i++) {
        struct docs r = {.sql = "SELECT data FROM docs WHERE id = $1", .p = {PAY_PINT(i)}, .n = 1};
        cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_OK);
        cr_assert_str_eq(r.a, texts[i], "document %d", i);
        free(r.a);
    }
    if (!is_pg(s)) {
        cr_assert_eq(read_int(s, "SELECT count(*) FROM docs WHERE typeof(data) = 'blob'"), 5);
        cr_assert_eq(read_int(s, "SELECT (SELECT data FROM docs WHERE id = 0) = (SELECT data FROM "
                                 "docs WHERE id = 1)"),
                     1);
    }
}

/* Text that does not shrink is stored as text; text rows read as before. */
STORE_TEST(json_documents_that_do_not_shrink_stay_text)
{
    cr_assert_eq(exec_sql(s, "CREATE TABLE docs (id BIGINT PRIMARY KEY, data TEXT)"), PAY_OK);
    /* 600 characters of no pattern zstd could use. */
    char noise[603];
    noise[0] = '"';
    uint32_t x = 2463534242u;
    for (int i = 1; i <= 600; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[x % 62];
    }
    noise[601] = '"';
    noise[602] = '\0';
    struct docs w = {.sql = "INSERT INTO docs (id, data) VALUES ($1, $2)",
                     .p = {PAY_PINT(1), PAY_PJSON(noise)},
                     .n = 2};
    cr_assert_eq(pay_store_write(s, docs_write_cb, &w), PAY_OK);
    char one[2048];
    intent_json(one, sizeof(one), 7);
    w.p[0] = PAY_PINT(2);
    w.p[1] = PAY_PTEXT(one); /* as rows written before packing existed */
    cr_assert_eq(pay_store_write(s, docs_write_cb, &w), PAY_OK);
    struct docs r = {.sql = "SELECT data FROM docs WHERE id = $1", .p = {PAY_PINT(1)}, .n = 1};
    cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_OK);
    cr_assert_str_eq(r.a, noise);
    r.p[0] = PAY_PINT(2);
    cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_OK);
    cr_assert_str_eq(r.a, one);
    free(r.a);
    if (!is_pg(s)) {
        cr_assert_eq(read_int(s, "SELECT count(*) FROM docs WHERE typeof(data) = 'text'"), 2);
    }
}

/* A packed document whose bytes were damaged fails the read: never garbage. */
Test(sqlite, damaged_json_document_fails_the_read, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    cr_assert_eq(exec_sql(s, "CREATE TABLE docs (id BIGINT PRIMARY KEY, data TEXT)"), PAY_OK);
    char one[2048];
    intent_json(one, sizeof(one), 3);
    struct docs w = {.sql = "INSERT INTO docs (id, data) VALUES ($1, $2)",
                     .p = {PAY_PINT(1), PAY_PJSON(one)},
                     .n = 2};
    cr_assert_eq(pay_store_write(s, docs_write_cb, &w), PAY_OK);
    /* A byte in the middle of the frame flipped (its checksum catches it). */
    cr_assert_eq(exec_sql(s, "UPDATE docs SET data = CAST(substr(data, 1, 40) || x'5a' || "
                             "substr(data, 42) AS BLOB) WHERE id = 1"),
                 PAY_OK);
    cr_assert_eq(read_int(s, "SELECT typeof(data) = 'blob' FROM docs WHERE id = 1"), 1);
    struct docs r = {.sql = "SELECT data FROM docs WHERE id = $1", .p = {PAY_PINT(1)}, .n = 1};
    cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_ERR_DB);
    cr_assert(r.a == NULL || strcmp(r.a, one) != 0);
    free(r.a);
    /* Cut short: the same. */
    cr_assert_eq(exec_sql(s, "UPDATE docs SET data = substr(data, 1, 20) WHERE id = 1"), PAY_OK);
    r.a = NULL;
    cr_assert_eq(pay_store_read(s, docs_read_cb, &r), PAY_ERR_DB);
    free(r.a);
}

/* One statement a call on both databases: a second is refused, not dropped. */
STORE_TEST(a_second_statement_is_refused)
{
    make_kv(s);
    cr_assert_neq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('a', 1); DELETE FROM kv"), PAY_OK);
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 0, "nothing of it ran");
    /* Whitespace, a semicolon and a comment after the one are fine. */
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('b', 2);  -- the one\n"), PAY_OK);
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'b'"), 2);
}

struct changes {
    int64_t inserted, updated, deleted;
};

static enum pay_err changes_cb(struct pay_tx *tx, void *arg)
{
    struct changes *c = arg;
    enum pay_err rc = pay_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ('a', 1), ('b', 2), ('c', 3)",
                                  NULL, 0, &c->inserted);
    if (rc == PAY_OK) {
        rc = pay_tx_exec(tx, "UPDATE kv SET v = v + 1 WHERE v >= 2", NULL, 0, &c->updated);
    }
    if (rc == PAY_OK) {
        struct pay_param p[] = {PAY_PTEXT("nope")};
        rc = pay_tx_exec(tx, "DELETE FROM kv WHERE k = $1", p, 1, &c->deleted);
    }
    return rc;
}

STORE_TEST(changes_counted)
{
    make_kv(s);
    struct changes c = {-1, -1, -1};
    cr_assert_eq(pay_store_write(s, changes_cb, &c), PAY_OK);
    cr_assert_eq(c.inserted, 3);
    cr_assert_eq(c.updated, 2);
    cr_assert_eq(c.deleted, 0);
}

static enum pay_err nested_write_cb(struct pay_tx *tx, void *arg)
{
    (void)tx;
    enum pay_err *inner = arg;
    *inner = pay_store_write(pay_tx_store(tx), sql_job_cb, &(struct sql_job){.sql = "SELECT 1"});
    return PAY_OK;
}

STORE_TEST(write_inside_write_is_refused)
{
    enum pay_err inner = PAY_OK;
    cr_assert_eq(pay_store_write(s, nested_write_cb, &inner), PAY_OK);
    cr_assert_eq(inner, PAY_ERR_INTERNAL);
    /* The store still works. */
    cr_assert(pay_store_ping(s));
    cr_assert_eq(exec_sql(s, "CREATE TABLE after_nested (x BIGINT)"), PAY_OK);
}

/* ------------------------------------------------------------------ */
/* SQL dialect                                                          */
/* ------------------------------------------------------------------ */

Test(store, sql_rewrite)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"SELECT $1, $10 FROM t WHERE a = $2", "SELECT ?1, ?10 FROM t WHERE a = ?2"},
        {"SELECT '$1', \"$2\", $3 -- $4\n/* $5 */ x", "SELECT '$1', \"$2\", ?3 -- $4\n/* $5 */ x"},
        {"SELECT 'it''s $1' || $1", "SELECT 'it''s $1' || ?1"},
        {"SELECT n FROM c WHERE id = $1 FOR UPDATE", "SELECT n FROM c WHERE id = ?1  "},
        {"SELECT n FROM c for  update\n skip locked LIMIT 1", "SELECT n FROM c   LIMIT 1"},
        {"SELECT n FROM c FOR UPDATE NOWAIT", "SELECT n FROM c  "},
        {"SELECT n FROM c FOR NO KEY UPDATE", "SELECT n FROM c  "},
        {"SELECT format, 'for update' FROM forms", "SELECT format, 'for update' FROM forms"},
        {"SELECT a FROM t WHERE x = 'FOR UPDATE'", "SELECT a FROM t WHERE x = 'FOR UPDATE'"},
        {"CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW",
         "CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW"},
        {"SELECT a$1 FROM t", "SELECT a$1 FROM t"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = pay_sql_for_sqlite(cases[i].in);
        cr_assert_not_null(got);
        cr_assert_str_eq(got, cases[i].out, "case %zu", i);
        free(got);
    }
}

struct dollar {
    char *text;
    int64_t sum;
};

static enum pay_err dollar_cb(struct pay_tx *tx, void *arg)
{
    struct dollar *d = arg;
    struct pay_param p[10];
    static const char *const letters[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    for (int i = 0; i < 10; i++) {
        p[i] = PAY_PTEXT(letters[i]);
    }
    /* If $10 were read as $1 followed by "0", this would give "a0..." */
    enum pay_err rc = pay_tx_query_text(
        tx, "SELECT $10 || $9 || $8 || $7 || $6 || $5 || $4 || $3 || $2 || $1 || '$1'", p, 10,
        &d->text);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_param q[] = {PAY_PINT(40), PAY_PINT(2)};
    /* The same parameter used twice is bound once. */
    return pay_tx_query_int(tx, "SELECT $1 + $2 + $2 - $2", q, 2, &d->sum, NULL);
}

static enum pay_err too_few_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    struct pay_param p[] = {PAY_PINT(1)};
    int64_t v = 0;
    return pay_tx_query_int(tx, "SELECT $1 + $2", p, 1, &v, NULL);
}

STORE_TEST(dollar_parameters)
{
    enum pay_err rc = pay_store_read(s, too_few_cb, NULL);
    cr_assert(rc == PAY_ERR_INTERNAL || rc == PAY_ERR_DB, "too few parameters: %s",
              pay_err_str(rc));

    struct dollar d = {0};
    cr_assert_eq(pay_store_read(s, dollar_cb, &d), PAY_OK);
    cr_assert_str_eq(d.text, "jihgfedcba$1");
    cr_assert_eq(d.sum, 42);
    free(d.text);
}

static enum pay_err lock_cb(struct pay_tx *tx, void *arg)
{
    int64_t *out = arg;
    struct pay_param p[] = {PAY_PTEXT("a")};
    enum pay_err rc =
        pay_tx_query_int(tx, "SELECT v FROM kv WHERE k = $1 FOR UPDATE", p, 1, out, NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    int64_t skipped = 0;
    rc = pay_tx_query_int(tx,
                          "SELECT count(*) FROM (SELECT k FROM kv ORDER BY k LIMIT 5"
                          " FOR UPDATE SKIP LOCKED) x",
                          NULL, 0, &skipped, NULL);
    return rc == PAY_OK && skipped != 1 ? PAY_ERR_INTERNAL : rc;
}

STORE_TEST(row_locks_accepted)
{
    make_kv(s);
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('a', 7)"), PAY_OK);
    int64_t v = 0;
    cr_assert_eq(pay_store_write(s, lock_cb, &v), PAY_OK);
    cr_assert_eq(v, 7);
}

struct rows_check {
    int n;
    bool null_t, found_missing;
    size_t len;
    char *text, *null_text;
    int inner_rows;
};

static enum pay_err rows_cb(struct pay_tx *tx, void *arg)
{
    struct rows_check *c = arg;
    struct pay_rows *r = NULL;
    const char *sql = "SELECT k, v, t FROM kv ORDER BY k";
    enum pay_err rc = pay_tx_query(tx, sql, NULL, 0, &r);
    if (rc != PAY_OK) {
        return rc;
    }
    while (pay_rows_next(r)) {
        c->n++;
        if (strcmp(pay_rows_text(r, 0), "b") == 0) {
            c->null_t = pay_rows_null(r, 2) && pay_rows_text(r, 2) == NULL;
        } else {
            c->len = pay_rows_len(r, 2);
        }
        /* The same SQL while its statement is busy: needs its own statement. */
        struct pay_rows *inner = NULL;
        rc = pay_tx_query(tx, sql, NULL, 0, &inner);
        if (rc != PAY_OK) {
            pay_rows_close(r);
            return rc;
        }
        while (pay_rows_next(inner)) {
            c->inner_rows++;
        }
        rc = pay_rows_close(inner);
        if (rc != PAY_OK) {
            pay_rows_close(r);
            return rc;
        }
    }
    rc = pay_rows_close(r);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = pay_tx_query_text(tx, "SELECT t FROM kv WHERE k = 'a'", NULL, 0, &c->text);
    if (rc == PAY_OK) {
        rc = pay_tx_query_text(tx, "SELECT t FROM kv WHERE k = 'b'", NULL, 0, &c->null_text);
    }
    int64_t v = 0;
    if (rc == PAY_OK) {
        rc =
            pay_tx_query_int(tx, "SELECT v FROM kv WHERE k = 'zz'", NULL, 0, &v, &c->found_missing);
    }
    return rc;
}

STORE_TEST(rows_and_helpers)
{
    make_kv(s);
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v, t) VALUES ('a', 1, 'héllo'), ('b', 2, NULL)"),
                 PAY_OK);
    struct rows_check c = {0};
    cr_assert_eq(pay_store_read(s, rows_cb, &c), PAY_OK);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.inner_rows, 4);
    cr_assert(c.null_t);
    cr_assert_eq(c.len, strlen("héllo"));
    cr_assert_str_eq(c.text, "héllo");
    cr_assert_null(c.null_text);
    cr_assert_not(c.found_missing);
    free(c.text);
}

static enum pay_err nul_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    struct pay_param p[] = {PAY_PTEXTN("a\0b", 3)};
    return pay_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ($1, 1)", p, 1, NULL);
}

STORE_TEST(text_with_nul_refused)
{
    make_kv(s);
    cr_assert_eq(pay_store_write(s, nul_cb, NULL), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kv"), 0);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                            */
/* ------------------------------------------------------------------ */

struct snap {
    struct pay_store *s;
    int64_t before, after;
};

static enum pay_err snap_cb(struct pay_tx *tx, void *arg)
{
    struct snap *sn = arg;
    enum pay_err rc = pay_tx_query_int(tx, "SELECT count(*) FROM kv", NULL, 0, &sn->before, NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    /* A write commits while this read is open: the snapshot must not see it. */
    rc = exec_sql(sn->s, "INSERT INTO kv (k, v) VALUES ('new', 1)");
    if (rc != PAY_OK) {
        return rc;
    }
    return pay_tx_query_int(tx, "SELECT count(*) FROM kv", NULL, 0, &sn->after, NULL);
}

STORE_TEST(read_is_a_snapshot)
{
    make_kv(s);
    struct snap sn = {.s = s};
    cr_assert_eq(pay_store_read(s, snap_cb, &sn), PAY_OK);
    cr_assert_eq(sn.before, 0);
    cr_assert_eq(sn.after, 0);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kv"), 1, "a new read sees the commit");
}

/* ------------------------------------------------------------------ */
/* Lists                                                                */
/* ------------------------------------------------------------------ */

#define N_OBJS 25

struct fill {
    int n;
};

static enum pay_err fill_cb(struct pay_tx *tx, void *arg)
{
    struct fill *f = arg;
    for (int i = 0; i < f->n; i++) {
        char id[32], data[96];
        snprintf(id, sizeof(id), "obj_%d", i);
        snprintf(data, sizeof(data), "{\"id\":\"%s\",\"n\":%d}", id, i);
        struct pay_param p[] = {PAY_PTEXT(id), PAY_PINT(1000 + i),
                                PAY_PTEXT(i % 2 == 0 ? "even" : "odd"), PAY_PTEXT(data)};
        enum pay_err rc = pay_tx_exec(tx,
                                      "INSERT INTO objs (id, created, kind, data)"
                                      " VALUES ($1, $2, $3, $4)",
                                      p, 4, NULL);
        if (rc != PAY_OK) {
            return rc;
        }
    }
    return PAY_OK;
}

static void make_objs(struct pay_store *s)
{
    cr_assert_eq(exec_sql(s, is_pg(s) ? "CREATE TABLE objs (seq BIGSERIAL PRIMARY KEY,"
                                        " id TEXT NOT NULL UNIQUE, created BIGINT NOT NULL,"
                                        " kind TEXT NOT NULL, data TEXT NOT NULL)"
                                      : "CREATE TABLE objs (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                        " id TEXT NOT NULL UNIQUE, created BIGINT NOT NULL,"
                                        " kind TEXT NOT NULL, data TEXT NOT NULL)"),
                 PAY_OK);
    struct fill f = {N_OBJS};
    cr_assert_eq(pay_store_write(s, fill_cb, &f), PAY_OK);
}

struct list_call {
    const char *where;
    struct pay_param p[2];
    size_t n;
    struct pay_list_args args;
    json_t *data;
    bool has_more;
    struct pay_error err;
};

static enum pay_err list_cb(struct pay_tx *tx, void *arg)
{
    struct list_call *c = arg;
    return pay_tx_list(tx, "objs", c->where, c->p, c->n, &c->args, &c->data, &c->has_more, &c->err);
}

/* Run a list and compare the n values of the page with @want (terminated by -1). */
static void expect_page(struct pay_store *s, struct list_call *c, const int *want, bool more)
{
    c->data = NULL;
    cr_assert_eq(pay_store_read(s, list_cb, c), PAY_OK, "list: %s", c->err.message);
    size_t n_want = 0;
    while (want[n_want] >= 0) {
        n_want++;
    }
    cr_assert_eq(json_array_size(c->data), n_want, "page size %zu, want %zu",
                 json_array_size(c->data), n_want);
    for (size_t i = 0; i < n_want; i++) {
        json_t *o = json_array_get(c->data, i);
        cr_assert_eq(json_integer_value(json_object_get(o, "n")), want[i], "item %zu", i);
    }
    cr_assert_eq(c->has_more, more);
    json_decref(c->data);
    c->data = NULL;
}

STORE_TEST(list_pages)
{
    make_objs(s);
    struct list_call c = {0};
    pay_list_args_init(&c.args);
    cr_assert_eq(c.args.limit, PAY_LIST_LIMIT_DEFAULT);

    expect_page(s, &c, (int[]){24, 23, 22, 21, 20, 19, 18, 17, 16, 15, -1}, true);
    c.args.starting_after = "obj_15";
    expect_page(s, &c, (int[]){14, 13, 12, 11, 10, 9, 8, 7, 6, 5, -1}, true);
    c.args.starting_after = "obj_5";
    expect_page(s, &c, (int[]){4, 3, 2, 1, 0, -1}, false);
    c.args.starting_after = "obj_0";
    expect_page(s, &c, (int[]){-1}, false);

    /* Backwards: the page just before obj_14 is still newest first. */
    c.args.starting_after = NULL;
    c.args.ending_before = "obj_14";
    expect_page(s, &c, (int[]){24, 23, 22, 21, 20, 19, 18, 17, 16, 15, -1}, false);
    c.args.ending_before = "obj_4";
    c.args.limit = 3;
    expect_page(s, &c, (int[]){7, 6, 5, -1}, true);
    c.args.ending_before = "obj_24";
    expect_page(s, &c, (int[]){-1}, false);

    /* Created bounds. */
    pay_list_args_init(&c.args);
    c.args.created_gte = 1010;
    c.args.created_lt = 1013;
    expect_page(s, &c, (int[]){12, 11, 10, -1}, false);
    pay_list_args_init(&c.args);
    c.args.created_gt = 1010;
    c.args.created_lte = 1013;
    expect_page(s, &c, (int[]){13, 12, 11, -1}, false);

    /* The caller's filter with its own $1, combined with a cursor and bounds. */
    pay_list_args_init(&c.args);
    c.where = "kind = $1";
    c.p[0] = PAY_PTEXT("even");
    c.n = 1;
    c.args.limit = 3;
    c.args.starting_after = "obj_20";
    c.args.created_gte = 1002;
    expect_page(s, &c, (int[]){18, 16, 14, -1}, true);
    c.args.starting_after = "obj_6";
    expect_page(s, &c, (int[]){4, 2, -1}, false);
    c.where = "kind = $1 AND created <> $2";
    c.p[1] = PAY_PINT(1004);
    c.n = 2;
    expect_page(s, &c, (int[]){2, -1}, false);
}

STORE_TEST(list_bad_arguments)
{
    make_objs(s);
    struct list_call c = {0};
    pay_list_args_init(&c.args);
    c.args.starting_after = "obj_nope";
    cr_assert_eq(pay_store_read(s, list_cb, &c), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(c.err.param, "starting_after");
    cr_assert_null(c.data);

    pay_list_args_init(&c.args);
    c.args.ending_before = "obj_nope";
    memset(&c.err, 0, sizeof(c.err));
    cr_assert_eq(pay_store_read(s, list_cb, &c), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(c.err.param, "ending_before");

    pay_list_args_init(&c.args);
    c.args.limit = 0;
    cr_assert_eq(pay_store_read(s, list_cb, &c), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(c.err.param, "limit");
    c.args.limit = PAY_LIST_LIMIT_MAX + 1;
    cr_assert_eq(pay_store_read(s, list_cb, &c), PAY_ERR_PARAM_INVALID);
}

/* ------------------------------------------------------------------ */
/* Concurrency                                                          */
/* ------------------------------------------------------------------ */

#define THREADS 8
#define INCREMENTS 200

struct incr {
    atomic_int runs;
};

static enum pay_err incr_cb(struct pay_tx *tx, void *arg)
{
    struct incr *in = arg;
    if (in != NULL) {
        atomic_fetch_add(&in->runs, 1);
    }
    struct pay_param id[] = {PAY_PINT(1)};
    int64_t n = 0;
    bool found = false;
    /* Read-modify-write: lost updates would show unless writers serialise. */
    enum pay_err rc =
        pay_tx_query_int(tx, "SELECT n FROM counters WHERE id = $1 FOR UPDATE", id, 1, &n, &found);
    if (rc != PAY_OK) {
        return rc;
    }
    if (!found) {
        return PAY_ERR_NOT_FOUND;
    }
    struct pay_param p[] = {PAY_PINT(n + 1), PAY_PINT(1)};
    return pay_tx_exec(tx, "UPDATE counters SET n = $1 WHERE id = $2", p, 2, NULL);
}

static enum pay_err failing_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    enum pay_err rc = pay_tx_exec(tx, "INSERT INTO side (v) VALUES (1)", NULL, 0, NULL);
    return rc != PAY_OK ? rc : PAY_ERR_CONFLICT;
}

static enum pay_err dup_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    return pay_tx_exec(tx, "INSERT INTO uniq (id) VALUES ('only')", NULL, 0, NULL);
}

static enum pay_err declined_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    enum pay_err rc = pay_tx_exec(tx, "INSERT INTO kept (v) VALUES (1)", NULL, 0, NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    pay_tx_commit_anyway(tx);
    return PAY_ERR_CARD_DECLINED;
}

static void make_counter_tables(struct pay_store *s)
{
    cr_assert_eq(exec_sql(s, "CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"),
                 PAY_OK);
    cr_assert_eq(exec_sql(s, "INSERT INTO counters VALUES (1, 0)"), PAY_OK);
    cr_assert_eq(exec_sql(s, "CREATE TABLE side (v BIGINT)"), PAY_OK);
    cr_assert_eq(exec_sql(s, "CREATE TABLE kept (v BIGINT)"), PAY_OK);
    cr_assert_eq(exec_sql(s, "CREATE TABLE uniq (id TEXT PRIMARY KEY)"), PAY_OK);
    cr_assert_eq(exec_sql(s, "INSERT INTO uniq VALUES ('only')"), PAY_OK);
}

struct worker {
    struct pay_store *s;
    int idx;
    int bad_results; /* results other than expected */
};

static void *writer_thread(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < INCREMENTS; i++) {
        if (pay_store_write(w->s, incr_cb, NULL) != PAY_OK) {
            w->bad_results++;
        }
        /* Failing neighbours, spread through the batches. */
        if (i % 20 == w->idx) {
            w->bad_results += pay_store_write(w->s, failing_cb, NULL) != PAY_ERR_CONFLICT;
            w->bad_results += pay_store_write(w->s, dup_cb, NULL) != PAY_ERR_DB_UNIQUE;
            w->bad_results += pay_store_write(w->s, declined_cb, NULL) != PAY_ERR_CARD_DECLINED;
        }
    }
    return NULL;
}

static atomic_bool writers_done;

static void *reader_thread(void *arg)
{
    struct worker *w = arg;
    int64_t last = 0;
    while (!atomic_load(&writers_done)) {
        struct int_query q = {.sql = "SELECT n FROM counters WHERE id = 1"};
        if (pay_store_read(w->s, int_query_cb, &q) != PAY_OK || !q.found || q.v < last) {
            w->bad_results++;
        }
        last = q.v;
    }
    return NULL;
}

STORE_TEST(concurrent_increments_are_exact)
{
    make_counter_tables(s);
    struct worker w[THREADS + 2];
    pthread_t t[THREADS + 2];
    atomic_store(&writers_done, false);
    for (int i = 0; i < THREADS + 2; i++) {
        w[i] = (struct worker){.s = s, .idx = i};
        cr_assert_eq(
            pthread_create(&t[i], NULL, i < THREADS ? writer_thread : reader_thread, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    atomic_store(&writers_done, true);
    for (int i = THREADS; i < THREADS + 2; i++) {
        pthread_join(t[i], NULL);
    }
    for (int i = 0; i < THREADS + 2; i++) {
        cr_assert_eq(w[i].bad_results, 0, "thread %d had %d unexpected results", i,
                     w[i].bad_results);
    }
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), THREADS * INCREMENTS);
    /* Each thread ran 10 of each failing job (i % 20 == idx for 200 iterations). */
    cr_assert_eq(read_int(s, "SELECT count(*) FROM side"), 0, "failed jobs left nothing");
    cr_assert_eq(read_int(s, "SELECT count(*) FROM uniq"), 1);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kept"), THREADS * 10,
                 "commit_anyway jobs kept their rows");
    struct pay_store_stats st;
    pay_store_stats(s, &st);
    cr_assert_geq(st.writes, (uint64_t)(THREADS * INCREMENTS));
    cr_assert_leq(st.pool_in_use, 0);
}

/* --- deterministic batches on SQLite --------------------------------- */

struct hold {
    uint64_t until_queued;
    atomic_bool running;
};

/* Keeps the writer thread busy until @until_queued jobs wait behind it. */
static enum pay_err hold_cb(struct pay_tx *tx, void *arg)
{
    struct hold *h = arg;
    atomic_store(&h->running, true);
    for (int i = 0; i < 10000; i++) {
        struct pay_store_stats st;
        pay_store_stats(pay_tx_store(tx), &st);
        if (st.write_queue >= h->until_queued) {
            return PAY_OK;
        }
        usleep(1000);
    }
    return PAY_ERR_INTERNAL;
}

struct submit {
    struct pay_store *s;
    pay_tx_fn fn;
    void *arg;
    enum pay_err rc;
    pthread_t t;
};

static void *submit_thread(void *arg)
{
    struct submit *sb = arg;
    sb->rc = pay_store_write(sb->s, sb->fn, sb->arg);
    return NULL;
}

static void submit(struct submit *sb)
{
    cr_assert_eq(pthread_create(&sb->t, NULL, submit_thread, sb), 0);
}

/* Start a job in @hs that keeps the writer busy until @n jobs queue behind
 * it, and wait until it runs; join it with pthread_join(hs->t). */
static void hold_writer(struct pay_store *s, struct hold *h, struct submit *hs, uint64_t n)
{
    *h = (struct hold){.until_queued = n};
    *hs = (struct submit){.s = s, .fn = hold_cb, .arg = h};
    submit(hs);
    while (!atomic_load(&h->running)) {
        usleep(1000);
    }
}

static void wait_queued(struct pay_store *s, uint64_t n)
{
    for (int i = 0; i < 10000; i++) {
        struct pay_store_stats st;
        pay_store_stats(s, &st);
        if (st.write_queue >= n) {
            return;
        }
        usleep(1000);
    }
    cr_assert_fail("the queue never reached %llu", (unsigned long long)n);
}

Test(sqlite, group_commit_isolates_failures, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);

    struct hold h;
    struct submit hs;
    hold_writer(s, &h, &hs, 11);
    struct submit jobs[11];
    for (int i = 0; i < 11; i++) {
        pay_tx_fn fn = i == 3 ? failing_cb : i == 5 ? dup_cb : i == 7 ? declined_cb : incr_cb;
        jobs[i] = (struct submit){.s = s, .fn = fn};
        submit(&jobs[i]);
    }
    pthread_join(hs.t, NULL);
    cr_assert_eq(hs.rc, PAY_OK);
    for (int i = 0; i < 11; i++) {
        pthread_join(jobs[i].t, NULL);
        enum pay_err want = i == 3   ? PAY_ERR_CONFLICT
                            : i == 5 ? PAY_ERR_DB_UNIQUE
                            : i == 7 ? PAY_ERR_CARD_DECLINED
                                     : PAY_OK;
        cr_assert_eq(jobs[i].rc, want, "job %d: %s", i, pay_err_str(jobs[i].rc));
    }
    pay_store_stats(s, &after);
    cr_assert_eq(after.writes - before.writes, 12);
    cr_assert_eq(after.commits - before.commits, 2, "the 11 queued jobs committed together");
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 8);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM side"), 0);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM kept"), 1);
}

/* Reads, then refuses: a request turned down before it wrote anything. */
static enum pay_err refuse_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    int64_t n = 0;
    enum pay_err rc = pay_tx_query_int(tx, "SELECT count(*) FROM side", NULL, 0, &n, NULL);
    return rc != PAY_OK ? rc : PAY_ERR_PARAM_INVALID;
}

/* Submit @n jobs in this order behind a held writer and wait for them. */
static void run_in_one_batch(struct pay_store *s, struct submit *jobs, size_t n)
{
    struct hold h;
    struct submit hs;
    hold_writer(s, &h, &hs, n);
    for (size_t i = 0; i < n; i++) {
        jobs[i].s = s;
        submit(&jobs[i]);
        if (i + 1 < n) {
            wait_queued(s, (uint64_t)i + 1); /* in this order */
        }
    }
    pthread_join(hs.t, NULL);
    cr_assert_eq(hs.rc, PAY_OK);
    for (size_t i = 0; i < n; i++) {
        pthread_join(jobs[i].t, NULL);
    }
}

/* Jobs that fail before they write (a refused parameter, a duplicate key)
 * leave nothing to undo: the batch commits in one pass, each job run once. */
Test(sqlite, failures_before_a_write_need_no_second_pass, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);
    struct incr counter = {0};
    struct submit jobs[6] = {
        {.fn = incr_cb, .arg = &counter},
        {.fn = incr_cb, .arg = &counter},
        {.fn = dup_cb},
        {.fn = incr_cb, .arg = &counter},
        {.fn = refuse_cb},
        {.fn = incr_cb, .arg = &counter},
    };
    run_in_one_batch(s, jobs, 6);
    const enum pay_err want[6] = {PAY_OK, PAY_OK, PAY_ERR_DB_UNIQUE, PAY_OK, PAY_ERR_PARAM_INVALID,
                                  PAY_OK};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(jobs[i].rc, want[i], "job %d: %s", i, pay_err_str(jobs[i].rc));
    }
    pay_store_stats(s, &after);
    cr_assert_eq(atomic_load(&counter.runs), 4, "each job ran once");
    cr_assert_eq(after.commits - before.commits, 2, "one commit for the six");
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 4);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM uniq"), 1);
}

/* A job that fails after writing, with nothing written before it in the
 * batch, is undone by rolling back: no job runs twice. */
Test(sqlite, a_failure_after_a_write_first_in_its_batch_needs_no_second_pass, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);
    struct incr counter = {0};
    struct submit jobs[4] = {{.fn = refuse_cb},
                             {.fn = failing_cb},
                             {.fn = incr_cb, .arg = &counter},
                             {.fn = incr_cb, .arg = &counter}};
    run_in_one_batch(s, jobs, 4);
    const enum pay_err want[4] = {PAY_ERR_PARAM_INVALID, PAY_ERR_CONFLICT, PAY_OK, PAY_OK};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(jobs[i].rc, want[i], "job %d: %s", i, pay_err_str(jobs[i].rc));
    }
    pay_store_stats(s, &after);
    cr_assert_eq(atomic_load(&counter.runs), 2, "each job ran once");
    cr_assert_eq(after.commits - before.commits, 2);
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 2);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM side"), 0, "the failed job left nothing");
}

/* A job that fails after writing sends its batch back: every job runs
 * again, each in a savepoint, and the failed one is undone alone. */
Test(sqlite, a_failure_after_a_write_is_undone_alone_in_a_second_pass, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);
    struct incr early = {0}, late = {0};
    struct submit jobs[5] = {
        {.fn = incr_cb, .arg = &early}, {.fn = incr_cb, .arg = &early}, {.fn = failing_cb},
        {.fn = incr_cb, .arg = &late},  {.fn = incr_cb, .arg = &late},
    };
    run_in_one_batch(s, jobs, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(jobs[i].rc, i == 2 ? PAY_ERR_CONFLICT : PAY_OK, "job %d: %s", i,
                     pay_err_str(jobs[i].rc));
    }
    pay_store_stats(s, &after);
    cr_assert_eq(atomic_load(&early.runs), 4, "the jobs before it ran twice");
    cr_assert_eq(atomic_load(&late.runs), 2, "the jobs after it ran once");
    cr_assert_eq(after.commits - before.commits, 2, "still one commit for the five");
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 4);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM side"), 0, "the failed job left nothing");

    /* The batches right after run with savepoints from the start. */
    pay_store_stats(s, &before);
    struct incr again = {0};
    struct submit next[3] = {
        {.fn = incr_cb, .arg = &again}, {.fn = failing_cb}, {.fn = incr_cb, .arg = &again}};
    run_in_one_batch(s, next, 3);
    cr_assert_eq(next[1].rc, PAY_ERR_CONFLICT);
    cr_assert_eq(atomic_load(&again.runs), 2, "no second pass: each job ran once");
    pay_store_stats(s, &after);
    cr_assert_eq(after.commits - before.commits, 2);
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 6);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM side"), 0);
}

struct epoch_read {
    bool says;
    uint64_t epoch;
};

static enum pay_err epoch_cb(struct pay_tx *tx, void *arg)
{
    struct epoch_read *r = arg;
    r->says = pay_tx_undo_epoch(tx, &r->epoch);
    return PAY_OK;
}

static uint64_t undo_epoch(struct pay_store *s)
{
    struct epoch_read r = {0};
    cr_assert_eq(pay_store_write(s, epoch_cb, &r), PAY_OK);
    cr_assert(r.says, "SQLite keeps an undo epoch");
    return r.epoch;
}

/* A value kept with the undo epoch (a fraud rule's mark) is trusted only
 * while no write was undone: the epoch stays through commits and through
 * failures that wrote nothing, and moves whenever written rows are taken
 * back, alone or with their batch. */
Test(sqlite, undo_epoch_moves_only_when_writes_are_undone, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    uint64_t e = undo_epoch(s);
    struct incr counter = {0};
    cr_assert_eq(pay_store_write(s, incr_cb, &counter), PAY_OK);
    cr_assert_eq(pay_store_write(s, refuse_cb, NULL), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_store_write(s, dup_cb, NULL), PAY_ERR_DB_UNIQUE);
    cr_assert_eq(undo_epoch(s), e, "nothing was undone");

    cr_assert_eq(pay_store_write(s, failing_cb, NULL), PAY_ERR_CONFLICT);
    uint64_t after_rollback = undo_epoch(s);
    cr_assert_neq(after_rollback, e, "a job's written row was rolled back");

    /* Undone alone in a second pass, with a savepoint. */
    struct incr early = {0};
    struct submit jobs[3] = {
        {.fn = incr_cb, .arg = &early}, {.fn = failing_cb}, {.fn = incr_cb, .arg = &early}};
    run_in_one_batch(s, jobs, 3);
    cr_assert_eq(jobs[1].rc, PAY_ERR_CONFLICT);
    uint64_t after_pass = undo_epoch(s);
    cr_assert_neq(after_pass, after_rollback);
    /* The batches right after start with savepoints: ROLLBACK TO moves it too. */
    cr_assert_eq(pay_store_write(s, failing_cb, NULL), PAY_ERR_CONFLICT);
    cr_assert_neq(undo_epoch(s), after_pass);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM side"), 0);
}

/* A value kept under one store's epoch is never taken for another
 * database's: two stores open at once, or one opened after another closed,
 * never share an epoch, whatever each has undone. */
Test(sqlite, undo_epochs_are_never_shared_between_stores, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    uint64_t mine = undo_epoch(s);
    uint64_t seen[3];
    for (int i = 0; i < 3; i++) {
        struct pay_store *other = NULL;
        struct pay_error err = {0};
        cr_assert_eq(pay_store_open("sqlite::memory:", &other, &err), PAY_OK, "%s", err.message);
        seen[i] = undo_epoch(other);
        cr_assert_neq(seen[i], mine, "store %d", i);
        for (int k = 0; k < i; k++) {
            cr_assert_neq(seen[i], seen[k], "stores %d and %d", k, i);
        }
        pay_store_close(other);
    }
    cr_assert_eq(undo_epoch(s), mine, "nothing was undone here");
}

/* A memo put in one transaction and read in others. */
struct memo_io {
    const char *const *key;
    size_t n;
    int64_t put; /* kept when non-zero */
    bool found;
    int64_t value;
};

static enum pay_err memo_cb(struct pay_tx *tx, void *arg)
{
    struct memo_io *m = arg;
    if (m->put != 0) {
        pay_tx_memo_put(tx, m->key, m->n, m->put);
    }
    m->found = pay_tx_memo_get(tx, m->key, m->n, &m->value);
    return PAY_OK;
}

static bool memo_read(struct pay_store *s, const char *const *key, size_t n, int64_t *value)
{
    struct memo_io m = {.key = key, .n = n};
    cr_assert_eq(pay_store_write(s, memo_cb, &m), PAY_OK);
    *value = m.value;
    return m.found;
}

/* A memo is found from later transactions until a write is undone; keys
 * differ by their parts, not only by their joined text; a key too long
 * or with the separator byte is never kept. */
Test(sqlite, memos_last_until_a_write_is_undone, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    const char *key[] = {"test", "cus_1", "card"};
    int64_t v = 0;
    cr_assert_not(memo_read(s, key, 3, &v), "nothing kept yet");
    struct memo_io put = {.key = key, .n = 3, .put = 42};
    cr_assert_eq(pay_store_write(s, memo_cb, &put), PAY_OK);
    cr_assert(put.found);
    cr_assert(memo_read(s, key, 3, &v));
    cr_assert_eq(v, 42);
    const char *joined[] = {"test", "cus_1card"};
    cr_assert_not(memo_read(s, joined, 2, &v), "other parts, same letters");

    cr_assert_eq(pay_store_write(s, failing_cb, NULL), PAY_ERR_CONFLICT);
    cr_assert_not(memo_read(s, key, 3, &v), "a write was undone since");

    char longer[PAY_TX_MEMO_KEY_MAX + 2];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    const char *too_long[] = {"test", longer};
    const char *separator[] = {"test", "a\x1f"
                                       "b"};
    for (int i = 0; i < 2; i++) {
        const char *const *k = i == 0 ? too_long : separator;
        struct memo_io m = {.key = k, .n = 2, .put = 7};
        cr_assert_eq(pay_store_write(s, memo_cb, &m), PAY_OK);
        cr_assert_not(m.found, "key %d is not kept", i);
    }
}

/* Other processes write a PostgreSQL database too: nothing may be kept. */
Test(postgres, keeps_no_memo, .fini = teardown)
{
    struct pay_store *s = open_pg();
    const char *key[] = {"test", "k"};
    struct memo_io m = {.key = key, .n = 2, .put = 42};
    cr_assert_eq(pay_store_write(s, memo_cb, &m), PAY_OK);
    cr_assert_not(m.found);
}

/* Other processes write a PostgreSQL database too: nothing may be kept. */
Test(postgres, keeps_no_undo_epoch, .fini = teardown)
{
    struct pay_store *s = open_pg();
    struct epoch_read r = {.says = true};
    cr_assert_eq(pay_store_write(s, epoch_cb, &r), PAY_OK);
    cr_assert_not(r.says);
}

static enum pay_err boom_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    return pay_tx_exec(tx, "INSERT INTO boom (v) VALUES (1)", NULL, 0, NULL);
}

Test(sqlite, job_aborting_transaction_spares_neighbours, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    /* RAISE(ROLLBACK) ends the whole transaction, not just the job's savepoint. */
    cr_assert_eq(exec_sql(s, "CREATE TABLE boom (v BIGINT)"), PAY_OK);
    cr_assert_eq(exec_sql(s, "CREATE TRIGGER boom_trg BEFORE INSERT ON boom"
                             " BEGIN SELECT RAISE(ROLLBACK, 'boom'); END"),
                 PAY_OK);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);

    struct hold h;
    struct submit hs;
    hold_writer(s, &h, &hs, 5);
    struct incr counter = {0};
    struct submit jobs[5];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct submit){.s = s, .fn = incr_cb, .arg = &counter};
        submit(&jobs[i]);
    }
    /* The aborting job comes last, so the four before it must run again. */
    wait_queued(s, 4);
    jobs[4] = (struct submit){.s = s, .fn = boom_cb};
    submit(&jobs[4]);
    pthread_join(hs.t, NULL);
    cr_assert_eq(hs.rc, PAY_OK);
    for (int i = 0; i < 5; i++) {
        pthread_join(jobs[i].t, NULL);
        cr_assert_eq(jobs[i].rc, i == 4 ? PAY_ERR_DB : PAY_OK, "job %d: %s", i,
                     pay_err_str(jobs[i].rc));
    }
    pay_store_stats(s, &after);
    cr_assert_eq(atomic_load(&counter.runs), 8, "each neighbour ran twice");
    cr_assert_eq(after.commits - before.commits, 2);
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 4);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM boom"), 0);
}

/* Changes every row of "wide" (~2.5 MB), then fails. */
static enum pay_err wide_failing_cb(struct pay_tx *tx, void *arg)
{
    (void)arg;
    enum pay_err rc = pay_tx_exec(tx, "UPDATE wide SET v = v + 1, pad = upper(pad)", NULL, 0, NULL);
    return rc != PAY_OK ? rc : PAY_ERR_CONFLICT;
}

/* A job whose savepoint journal (~2.5 MB) holds more pieces than the free
 * list keeps (JOURNAL_PIECES_KEPT, sqlite.c) is still undone alone, and
 * its neighbours commit. */
Test(sqlite, big_job_is_undone_alone, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_counter_tables(s);
    cr_assert_eq(exec_sql(s, "CREATE TABLE wide (id INTEGER PRIMARY KEY, v BIGINT, pad TEXT)"),
                 PAY_OK);
    cr_assert_eq(exec_sql(s, "INSERT INTO wide (v, pad) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
                             " SELECT i + 1 FROM c WHERE i < 4000)"
                             " SELECT 0, printf('%0600d-x', i) FROM c"),
                 PAY_OK);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);

    struct submit jobs[3] = {{.fn = incr_cb}, {.fn = wide_failing_cb}, {.fn = incr_cb}};
    run_in_one_batch(s, jobs, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(jobs[i].rc, i == 1 ? PAY_ERR_CONFLICT : PAY_OK, "job %d: %s", i,
                     pay_err_str(jobs[i].rc));
    }
    pay_store_stats(s, &after);
    cr_assert_eq(after.commits - before.commits, 2, "the three jobs committed together");
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 2);
    cr_assert_eq(read_int(s, "SELECT sum(v) FROM wide"), 0, "the failed job's update is gone");
    cr_assert_eq(read_int(s, "SELECT count(*) FROM wide WHERE pad LIKE '%-x'"), 4000);
    cr_assert_eq(read_int(s, "SELECT count(*) FROM wide WHERE pad GLOB '*-X'"), 0);
}

/* --- PostgreSQL deadlock: detected, retried, both writes succeed ----- */

struct deadlock {
    pthread_barrier_t *barrier;
    int first, second;
    int attempts;
    struct pay_store *s;
    enum pay_err rc;
    pthread_t t;
};

static enum pay_err deadlock_cb(struct pay_tx *tx, void *arg)
{
    struct deadlock *d = arg;
    d->attempts++;
    struct pay_param a[] = {PAY_PINT(d->first)};
    struct pay_param b[] = {PAY_PINT(d->second)};
    enum pay_err rc = pay_tx_exec(tx, "UPDATE counters SET n = n + 1 WHERE id = $1", a, 1, NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    if (d->attempts == 1) {
        pthread_barrier_wait(d->barrier); /* both hold their first row now */
    }
    return pay_tx_exec(tx, "UPDATE counters SET n = n + 1 WHERE id = $1", b, 1, NULL);
}

static void *deadlock_thread(void *arg)
{
    struct deadlock *d = arg;
    d->rc = pay_store_write(d->s, deadlock_cb, d);
    return NULL;
}

Test(postgres, deadlock_is_retried, .fini = teardown)
{
    struct pay_store *s = open_pg();
    make_counter_tables(s);
    cr_assert_eq(exec_sql(s, "INSERT INTO counters VALUES (2, 0)"), PAY_OK);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct deadlock d[2] = {
        {.barrier = &barrier, .first = 1, .second = 2, .s = s},
        {.barrier = &barrier, .first = 2, .second = 1, .s = s},
    };
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_create(&d[i].t, NULL, deadlock_thread, &d[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(d[i].t, NULL);
        cr_assert_eq(d[i].rc, PAY_OK, "writer %d: %s", i, pay_err_str(d[i].rc));
    }
    pthread_barrier_destroy(&barrier);
    cr_assert_eq(d[0].attempts + d[1].attempts, 3, "exactly one of them was retried");
    struct pay_store_stats st;
    pay_store_stats(s, &st);
    cr_assert_eq(st.retries, 1);
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 1"), 2);
    cr_assert_eq(read_int(s, "SELECT n FROM counters WHERE id = 2"), 2);
}

/* --- PostgreSQL: a connection killed while idle is reset, not failed -- */

/* Terminate the store's server connections; returns how many there were. */
static int kill_store_backends(void)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'", pg_db);
    PGconn *c = PQconnectdb(pg_admin);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int n = PQntuples(r);
    PQclear(r);
    PQfinish(c);
    usleep(100 * 1000);
    return n;
}

Test(postgres, reconnects_after_backend_killed, .fini = teardown)
{
    struct pay_store *s = open_pg();
    make_kv(s);
    cr_assert(pay_store_ping(s));
    cr_assert_geq(kill_store_backends(), 1, "the store had a connection to kill");
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('after', 1)"), PAY_OK);
    cr_assert(pay_store_ping(s));
    cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'after'"), 1);
}

/* --- PostgreSQL: a connection lost mid-transaction retries the write --- */

struct lost {
    int attempts;
};

static enum pay_err lost_cb(struct pay_tx *tx, void *arg)
{
    struct lost *l = arg;
    l->attempts++;
    enum pay_err rc = pay_tx_exec(tx, "INSERT INTO kv (k, v) VALUES ('first', 1)", NULL, 0, NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = pay_tx_exec_later(tx, "INSERT INTO kv (k, v) VALUES ('held', 2)", NULL, 0);
    if (rc != PAY_OK) {
        return rc;
    }
    if (l->attempts == 1) {
        /* Between two statements of one transaction. */
        cr_assert_geq(kill_store_backends(), 1, "the store had a connection to kill");
    }
    int64_t n = 0;
    return pay_tx_query_int(tx, "SELECT COUNT(*) FROM kv", NULL, 0, &n, NULL);
}

Test(postgres, connection_lost_mid_transaction_is_retried, .fini = teardown)
{
    struct pay_store *s = open_pg();
    make_kv(s);
    struct lost l = {0};
    cr_assert_eq(pay_store_write(s, lost_cb, &l), PAY_OK);
    cr_assert_eq(l.attempts, 2, "the callback ran again on a new connection");
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 2, "each row once");
    struct pay_store_stats st;
    pay_store_stats(s, &st);
    cr_assert_eq(st.retries, 1);
}

/* --- PostgreSQL: reads end their snapshot without waiting for it -------- */

static int64_t idle_in_transaction(void)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '%s' AND state LIKE "
             "'idle in transaction%%'",
             pg_db);
    PGconn *c = PQconnectdb(pg_admin);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int64_t n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return n;
}

Test(postgres, reads_leave_no_transaction_open, .fini = teardown)
{
    struct pay_store *s = open_pg();
    make_kv(s);
    cr_assert_eq(exec_sql(s, "INSERT INTO kv (k, v) VALUES ('a', 1)"), PAY_OK);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(read_int(s, "SELECT v FROM kv WHERE k = 'a'"), 1);
        /* A write that rolls back ends the same way. */
        struct sql_job j = {.sql = "INSERT INTO kv (k, v) VALUES ('b', 2)",
                            .ret = PAY_ERR_CONFLICT};
        cr_assert_eq(pay_store_write(s, sql_job_cb, &j), PAY_ERR_CONFLICT);
    }
    /* The ROLLBACKs were sent, not waited for: give the server a moment. */
    int64_t open_tx = -1;
    for (int i = 0; i < 50 && open_tx != 0; i++) {
        open_tx = idle_in_transaction();
        usleep(20 * 1000);
    }
    cr_assert_eq(open_tx, 0, "a pooled connection sits in a transaction");
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM kv"), 1);
}

/* --- SQLite: every answered write waited for a sync of the WAL --------- */

Test(sqlite, each_write_is_answered_after_a_wal_sync, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_kv(s);
    struct pay_store_stats before, after;
    pay_store_stats(s, &before);
    for (int i = 0; i < 5; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "INSERT INTO kv (k, v) VALUES ('w%d', %d)", i, i);
        cr_assert_eq(exec_sql(s, sql), PAY_OK);
        /* A read after the answer sees the write. */
        snprintf(sql, sizeof(sql), "SELECT v FROM kv WHERE k = 'w%d'", i);
        cr_assert_eq(read_int(s, sql), i);
    }
    pay_store_stats(s, &after);
    /* One after the other, each commit needs a sync begun after it. */
    cr_assert_eq(after.wal_syncs - before.wal_syncs, 5, "%llu syncs",
                 (unsigned long long)(after.wal_syncs - before.wal_syncs));
    cr_assert_eq(after.writes - before.writes, 5);
}

/* --- SQLite: the writer's WAL writes gathered (walbuf.c) --------------- */

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * Through the VFS, as the writer uses it: transactions far larger than its
 * buffer, with a cache of a few pages so that SQLite writes frames before
 * the commit and writes some of them again. After each COMMIT another
 * connection (the default VFS, its own file handles, as a reader or another
 * process has) reads everything back: frames still in the buffer would be
 * missing from the file it reads.
 */
Test(sqlite, walbuf_commits_are_in_the_file_for_other_connections, .fini = teardown)
{
    const char *vfs = pay_walbuf_vfs();
    cr_assert_not_null(vfs);
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/payd-store-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/w.db", tmp_dir);
    sqlite3 *w = NULL, *r = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_exec(w,
                              "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                              " PRAGMA checkpoint_fullfsync=ON; PRAGMA cache_size=8;"
                              " CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(w));
    cr_assert_eq(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int64_t rows = 0, total = 0;
    for (int round = 1; round <= 6; round++) {
        /* 40 rows of 3 KB and an update of every earlier row: ~100 pages. */
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "BEGIN; UPDATE t SET v = printf('%%d-', k) || substr(v, 1, 2000);"
                 " INSERT INTO t (v) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                 " FROM c WHERE i < 40) SELECT printf('%%03000d', i * %d) FROM c; COMMIT",
                 round);
        cr_assert_eq(sqlite3_exec(w, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(w));
        rows += 40;
        total = raw_int(w, "SELECT sum(length(v)) FROM t");
        cr_assert_eq(raw_int(r, "SELECT count(*) FROM t"), rows);
        cr_assert_eq(raw_int(r, "SELECT sum(length(v)) FROM t"), total);
        cr_assert_eq(raw_int(r, "SELECT count(*) FROM t WHERE v LIKE printf('%d-%%', k)"),
                     rows - 40, "round %d: the updated rows read as updated", round);
    }
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(r, "PRAGMA integrity_check", NULL, NULL, &msg), SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(r);
    cr_assert_eq(sqlite3_close(w), SQLITE_OK);
    /* Closed last, the writer checkpointed the WAL into the file: a fresh
     * connection finds every row there. */
    cr_assert_eq(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(raw_int(r, "SELECT count(*) FROM t"), rows);
    cr_assert_eq(raw_int(r, "SELECT sum(length(v)) FROM t"), total);
    sqlite3_close(r);
}

/* The store's writer: what it answered is in the file for another process. */
Test(sqlite, answered_writes_are_in_the_file_for_other_processes, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    make_kv(s);
    char path[256];
    snprintf(path, sizeof(path), "%s/sub/dir/t.db", tmp_dir);
    sqlite3 *r = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (int i = 1; i <= 20; i++) {
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO kv (k, v, t) VALUES ('r%d', %d, printf('%%05000d', %d))", i, i, i);
        cr_assert_eq(exec_sql(s, sql), PAY_OK);
        cr_assert_eq(raw_int(r, "SELECT count(*) FROM kv"), i);
        cr_assert_eq(raw_int(r, "SELECT sum(v) FROM kv WHERE length(t) = 5000"), i * (i + 1) / 2);
    }
    sqlite3_close(r);
}

/* --- SQLite: checkpoints keep the WAL bounded under steady writes ------ */

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The checkpointer thread copies the WAL into the file while writes go on:
 * below the WAL size at which the writer checkpoints itself (8,000 frames),
 * it never has to. (Until round 7 the thread's connection had never read
 * the file, so its checkpoints did nothing and the writer did them all.) */
Test(sqlite, checkpointer_thread_copies_the_wal, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    cr_assert_eq(exec_sql(s, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)"),
                 PAY_OK);
    /* ~3,000 frames: past the 1,000 that wake the thread. */
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(exec_sql(s, "INSERT INTO blobs (b) VALUES (randomblob(40000))"), PAY_OK);
    }
    struct pay_store_stats st;
    for (int i = 0; i < 500; i++) {
        pay_store_stats(s, &st);
        if (st.checkpoints > 0) {
            break;
        }
        usleep(10000);
    }
    cr_assert_gt(st.checkpoints, 0, "the checkpointer thread copied frames");
    cr_assert_eq(st.writer_checkpoints, 0, "the writer never had to");
}

Test(sqlite, wal_stays_bounded_and_reaches_the_file, .fini = teardown)
{
    struct pay_store *s = open_sqlite();
    cr_assert_eq(exec_sql(s, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)"),
                 PAY_OK);
    char db[256], wal[256];
    snprintf(db, sizeof(db), "%s/sub/dir/t.db", tmp_dir);
    snprintf(wal, sizeof(wal), "%s/sub/dir/t.db-wal", tmp_dir);
    /* 80 MB in 400 commits: more than twice what the WAL may hold. */
    off_t wal_max = 0;
    for (int i = 0; i < 400; i++) {
        cr_assert_eq(exec_sql(s, "INSERT INTO blobs (b) VALUES (randomblob(200000))"), PAY_OK);
        off_t w = file_size(wal);
        wal_max = w > wal_max ? w : wal_max;
    }
    cr_assert_eq(read_int(s, "SELECT COUNT(*) FROM blobs"), 400);
    /* 8,000 frames of 4 KiB start the writer's own checkpoint; one more
     * commit of ~50 frames may land before it. */
    cr_assert_leq(wal_max, 34 * 1024 * 1024, "the WAL grew to %lld bytes", (long long)wal_max);
    cr_assert_geq(file_size(db), 40 * 1024 * 1024, "checkpoints copied the rows into the file");
    pay_store_close(s);
    store = NULL;
    /* Reopened: every row is there. */
    char url[300];
    snprintf(url, sizeof(url), "sqlite:%s", db);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "reopen: %s", err.message);
    cr_assert_eq(read_int(store, "SELECT COUNT(*) FROM blobs"), 400);
}

/*
 * postgres.c - the PostgreSQL back end over libpq: a small pool of
 * connections (PAYD_PG_POOL, default 4, at most PAY_DB_POOL_MAX) opened on
 * demand; writes run in BEGIN ... COMMIT at READ COMMITTED (concurrent
 * writers serialise on row locks and the server's own group commit makes
 * commits cheap), reads in REPEATABLE READ READ ONLY snapshots.
 *
 * Statements are prepared once per connection (PQprepare "s<n>") and cached
 * by SQL text; parameters travel in text format, integers declared int8 so
 * the server never guesses a 32-bit type for them. A connection found
 * broken is reset before use (its prepared statements are forgotten then);
 * a server that cannot be reached is PAY_ERR_UNAVAILABLE.
 *
 * Round trips: a transaction's BEGIN is not sent on its own but with its
 * first statement, and statements run with pay_tx_exec_later wait in a
 * queue on the connection until the next statement or the COMMIT; all of
 * them then go in one libpq pipeline ending in one sync, so a payment's
 * INSERTs cost no round trip of their own. A transaction that did nothing
 * sends nothing. A connection found lost before the COMMIT was sent is made
 * anew and the transaction retried (PAY_ERR_DB_RETRY): nothing of it can
 * have committed. Lost during the COMMIT, the outcome is unknown and the
 * caller gets PAY_ERR_UNAVAILABLE.
 *
 * SQLSTATE mapping: 23505 -> PAY_ERR_DB_UNIQUE; 40001, 40P01 ->
 * PAY_ERR_DB_RETRY (store.c re-runs the callback); connection failures ->
 * PAY_ERR_UNAVAILABLE; the rest PAY_ERR_DB, logged without bound values.
 *
 * Threading: a connection is lent to one thread at a time; the pool is
 * guarded by mu.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define POOL_DEFAULT 4
/* A caller waiting this long for a free connection gets PAY_ERR_UNAVAILABLE. */
#define POOL_WAIT_S 30
/* Statements cached per connection; SQL beyond this is prepared per use. */
#define STMT_CACHE_MAX 1024
/* PostgreSQL's type oid for bigint. */
#define INT8_OID 20
/* Parameter types declared on the stack; more are allocated. */
#define STACK_PARAMS 32
/* Statements held back before the queue is sent on its own. */
#define LATER_MAX 64

struct pg_stmt {
    char *sql;
    char name[24];
};

/* A statement's parameters in libpq's text format, in one allocation. */
struct pg_vals {
    const char **v; /* n values (NULL: SQL NULL), followed by their text */
    int n;
};

/* A statement held back until the next round trip (pay_tx_exec_later). */
struct pg_later {
    const struct pg_stmt *stmt;
    struct pg_vals vals;
};

struct pg_conn {
    PGconn *c;
    struct pg_stmt **slots; /* open addressing by SQL text, power-of-two capacity */
    size_t cap, count;
    unsigned next_id;
    /* The transaction's BEGIN, not sent yet (NULL once sent, or outside one). */
    const char *begin;
    struct pg_later *later;
    size_t n_later, cap_later;
};

struct pg_store {
    struct pay_store base;
    char *url;
    int pool_size;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pg_conn *conns[PAY_DB_POOL_MAX];
    int n_conns;
    int n_opening;
    struct pg_conn *idle[PAY_DB_POOL_MAX];
    int n_idle;
    int in_use;
    _Atomic uint64_t writes, commits;
};

struct pg_tx {
    struct pay_tx base;
    struct pg_conn *conn;
};

struct pg_rows {
    struct pay_rows base;
    PGresult *res;
    int row;
    int nrows;
};

static const struct pay_store_ops pg_ops;
static enum pay_err conn_revive(struct pg_conn *pc);

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

static bool conn_broken(struct pg_conn *pc)
{
    return PQstatus(pc->c) != CONNECTION_OK;
}

/* Map a failed result (NULL: no result at all) to an error code. */
static enum pay_err map_error(struct pg_conn *pc, const PGresult *res, const char *sql)
{
    if (res == NULL || conn_broken(pc)) {
        pay_logf(PAY_LOG_ERROR, NULL, "postgres: connection lost: %s", PQerrorMessage(pc->c));
        return PAY_ERR_UNAVAILABLE;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state == NULL) {
        state = "";
    }
    if (strcmp(state, "23505") == 0) {
        return PAY_ERR_DB_UNIQUE;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        pay_logf(PAY_LOG_INFO, NULL, "postgres: %s conflict, the write will be retried", state);
        return PAY_ERR_DB_RETRY;
    }
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    /* Data exceptions (class 22) quote the offending value: keep it out of the log. */
    if (msg == NULL || strncmp(state, "22", 2) == 0) {
        msg = "(message withheld: it may quote a value)";
    }
    pay_logf(PAY_LOG_ERROR, NULL, "postgres: %s %s in: %.200s", state, msg, sql != NULL ? sql : "");
    /* 08P01 (protocol violation) is our mistake, such as a parameter count mismatch. */
    if ((strncmp(state, "08", 2) == 0 && strcmp(state, "08P01") != 0) ||
        strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0) {
        return PAY_ERR_UNAVAILABLE;
    }
    return PAY_ERR_DB;
}

/* A parameterless command; PAY_OK when it succeeded. */
static enum pay_err simple(struct pg_conn *pc, const char *sql)
{
    PGresult *res = PQexec(pc->c, sql);
    ExecStatusType st = PQresultStatus(res);
    enum pay_err rc = PAY_OK;
    /* An empty script (a migration of comments only) is fine. */
    if (res == NULL ||
        (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)) {
        rc = map_error(pc, res, sql);
    }
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Prepared statement cache                                             */
/* ------------------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct pg_stmt *cache_find(struct pg_conn *pc, const char *sql)
{
    if (pc->cap == 0) {
        return NULL;
    }
    for (size_t i = hash_str(sql) & (pc->cap - 1);; i = (i + 1) & (pc->cap - 1)) {
        if (pc->slots[i] == NULL) {
            return NULL;
        }
        if (strcmp(pc->slots[i]->sql, sql) == 0) {
            return pc->slots[i];
        }
    }
}

static void cache_place(struct pg_stmt **slots, size_t cap, struct pg_stmt *e)
{
    size_t i = hash_str(e->sql) & (cap - 1);
    while (slots[i] != NULL) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = e;
}

static bool cache_grow(struct pg_conn *pc)
{
    size_t cap = pc->cap == 0 ? 64 : pc->cap * 2;
    struct pg_stmt **slots = calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return false;
    }
    for (size_t j = 0; j < pc->cap; j++) {
        if (pc->slots[j] != NULL) {
            cache_place(slots, cap, pc->slots[j]);
        }
    }
    free(pc->slots);
    pc->slots = slots;
    pc->cap = cap;
    return true;
}

/* Forget every prepared statement (after a reset the server has none). */
static void cache_clear(struct pg_conn *pc)
{
    for (size_t i = 0; i < pc->cap; i++) {
        if (pc->slots[i] != NULL) {
            free(pc->slots[i]->sql);
            free(pc->slots[i]);
        }
    }
    free(pc->slots);
    pc->slots = NULL;
    pc->cap = pc->count = 0;
}

/*
 * The name of a prepared statement for @sql, preparing it if needed; the
 * name is copied to @name_out. *uncached_out is set when the statement was
 * prepared for this use only (deallocate after).
 */
static enum pay_err stmt_get(struct pg_conn *pc, const char *sql, const struct pay_param *p,
                             size_t n, char name_out[24], bool *uncached_out,
                             const struct pg_stmt **entry_out)
{
    *uncached_out = false;
    struct pg_stmt *e = cache_find(pc, sql);
    if (e != NULL) {
        memcpy(name_out, e->name, sizeof(e->name));
        *entry_out = e;
        return PAY_OK;
    }
    Oid types_stack[STACK_PARAMS];
    Oid *types = n <= STACK_PARAMS ? types_stack : calloc(n, sizeof(Oid));
    if (types == NULL) {
        return PAY_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        types[i] = p[i].type == PAY_P_INT ? INT8_OID : 0;
    }
    snprintf(name_out, 24, "s%u", pc->next_id++);
    PGresult *res = PQprepare(pc->c, name_out, sql, (int)n, types);
    if (types != types_stack) {
        free(types);
    }
    enum pay_err rc = PAY_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = map_error(pc, res, sql);
    }
    PQclear(res);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pc->count >= STMT_CACHE_MAX) {
        *uncached_out = true;
        return PAY_OK;
    }
    e = calloc(1, sizeof(*e));
    char *key = strdup(sql);
    if (e == NULL || key == NULL || ((pc->count + 1) * 10 > pc->cap * 7 && !cache_grow(pc))) {
        free(e);
        free(key);
        *uncached_out = true;
        return PAY_OK;
    }
    e->sql = key;
    memcpy(e->name, name_out, sizeof(e->name));
    cache_place(pc->slots, pc->cap, e);
    pc->count++;
    *entry_out = e;
    return PAY_OK;
}

static void stmt_drop(struct pg_conn *pc, const char *name)
{
    char sql[48];
    snprintf(sql, sizeof(sql), "DEALLOCATE %s", name);
    PQclear(PQexec(pc->c, sql));
}

/* Format @p in libpq's text format; vals_free the result. */
static enum pay_err vals_make(const struct pay_param *p, size_t n, struct pg_vals *out)
{
    size_t size = n * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        if (p[i].type == PAY_P_INT) {
            size += 24;
        } else if (p[i].type == PAY_P_TEXT && p[i].s != NULL) {
            size += p[i].len + 1;
        }
    }
    char *block = malloc(size > 0 ? size : 1);
    if (block == NULL) {
        return PAY_ERR_NOMEM;
    }
    const char **v = (const char **)(void *)block;
    char *at = block + n * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        v[i] = NULL;
        if (p[i].type == PAY_P_INT) {
            int k = snprintf(at, 24, "%lld", (long long)p[i].i);
            v[i] = at;
            at += k + 1;
        } else if (p[i].type == PAY_P_TEXT && p[i].s != NULL) {
            /* Text format wants NUL-terminated values; the caller's may not be. */
            memcpy(at, p[i].s, p[i].len);
            at[p[i].len] = '\0';
            v[i] = at;
            at += p[i].len + 1;
        }
    }
    out->v = v;
    out->n = (int)n;
    return PAY_OK;
}

static void vals_free(struct pg_vals *v)
{
    free((void *)v->v);
    v->v = NULL;
}

/* Forget what was held back (never sent) and a BEGIN not sent yet. */
static void later_drop(struct pg_conn *pc)
{
    for (size_t i = 0; i < pc->n_later; i++) {
        vals_free(&pc->later[i].vals);
    }
    pc->n_later = 0;
    pc->begin = NULL;
}

static bool pending(const struct pg_conn *pc)
{
    return pc->begin != NULL || pc->n_later > 0;
}

/*
 * One round trip: the BEGIN not sent yet, the statements held back, then
 * the prepared statement @cur_name with @cur (may be NULL) and, when
 * @commit, COMMIT, in one pipeline ending in one sync. Every result is read;
 * the first failure is returned (a held-back statement's unique violation
 * as PAY_ERR_DB) and the rest of the pipeline was skipped by the server.
 * *res_out gets @cur's result when PAY_OK.
 */
static enum pay_err pipeline(struct pg_conn *pc, const char *cur_name, const char *cur_sql,
                             const struct pg_vals *cur, bool commit, PGresult **res_out)
{
    PGconn *c = pc->c;
    *res_out = NULL;
    enum pay_err rc = PAY_OK;
    /* What was sent, in order: BEGIN, held back ones, cur, COMMIT. */
    size_t n_items = (pc->begin != NULL) + pc->n_later + (cur != NULL) + commit;
    size_t sent = 0;
    bool ok = PQenterPipelineMode(c) == 1;
    if (ok && pc->begin != NULL) {
        ok = PQsendQueryParams(c, pc->begin, 0, NULL, NULL, NULL, NULL, 0) == 1;
        sent += ok;
    }
    for (size_t i = 0; ok && i < pc->n_later; i++) {
        const struct pg_later *l = &pc->later[i];
        ok = PQsendQueryPrepared(c, l->stmt->name, l->vals.n, l->vals.v, NULL, NULL, 0) == 1;
        sent += ok;
    }
    if (ok && cur != NULL) {
        ok = PQsendQueryPrepared(c, cur_name, cur->n, cur->v, NULL, NULL, 0) == 1;
        sent += ok;
    }
    if (ok && commit) {
        ok = PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
        sent += ok;
    }
    if (!ok) {
        rc = map_error(pc, NULL, "pipeline");
    }
    if (PQpipelineStatus(c) != PQ_PIPELINE_OFF && PQpipelineSync(c) != 1 && rc == PAY_OK) {
        rc = map_error(pc, NULL, "pipeline sync");
    }
    size_t first_later = pc->begin != NULL ? 1 : 0;
    for (size_t i = 0; i < sent && !conn_broken(pc); i++) {
        bool is_later = i >= first_later && i < first_later + pc->n_later;
        bool is_cur = cur != NULL && i == first_later + pc->n_later;
        bool is_commit = commit && i == n_items - 1;
        const char *sql = is_later    ? pc->later[i - first_later].stmt->sql
                          : is_cur    ? cur_sql
                          : is_commit ? "COMMIT"
                                      : pc->begin;
        PGresult *res;
        while ((res = PQgetResult(c)) != NULL) {
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (is_commit && strcmp(PQcmdStatus(res), "COMMIT") != 0 && rc == PAY_OK) {
                    rc = PAY_ERR_DB; /* the server rolled back instead */
                }
                if (is_cur && *res_out == NULL) {
                    *res_out = res;
                    continue;
                }
            } else if (st != PGRES_PIPELINE_ABORTED && rc == PAY_OK) {
                rc = map_error(pc, res, sql);
                if (is_later && rc == PAY_ERR_DB_UNIQUE) {
                    rc = PAY_ERR_DB;
                }
            }
            PQclear(res);
        }
    }
    if (!conn_broken(pc)) {
        PQclear(PQgetResult(c)); /* the sync */
    }
    if (PQexitPipelineMode(c) != 1 && rc == PAY_OK) {
        rc = map_error(pc, NULL, "pipeline end");
    }
    if (rc == PAY_OK && (conn_broken(pc) || (cur != NULL && *res_out == NULL))) {
        rc = map_error(pc, NULL, cur_sql);
    }
    if (rc != PAY_OK) {
        PQclear(*res_out);
        *res_out = NULL;
    }
    later_drop(pc);
    return rc;
}

/*
 * A statement found the connection lost: nothing of the transaction can
 * have committed (the COMMIT goes elsewhere), so make the connection anew
 * and have the whole transaction retried.
 */
static enum pay_err lost_before_commit(struct pg_conn *pc, enum pay_err rc)
{
    if (rc == PAY_ERR_UNAVAILABLE && conn_broken(pc) && conn_revive(pc) == PAY_OK) {
        return PAY_ERR_DB_RETRY;
    }
    return rc;
}

/*
 * The prepared statement for @sql (stmt_get), for a statement about to run
 * or be held back; a lost connection found here is lost_before_commit's.
 */
static enum pay_err stmt_ready(struct pg_conn *pc, const char *sql, const struct pay_param *p,
                               size_t n, char name_out[24], bool *uncached_out,
                               const struct pg_stmt **entry_out)
{
    if (n > 65535) {
        return PAY_ERR_INTERNAL;
    }
    enum pay_err rc = stmt_get(pc, sql, p, n, name_out, uncached_out, entry_out);
    return rc == PAY_OK ? PAY_OK : lost_before_commit(pc, rc);
}

/* Run @sql with @p as @name, which stmt_ready made ready (and which is
 * dropped afterwards when @uncached); *res_out gets the result (PQclear
 * it) when PAY_OK. */
static enum pay_err run_ready(struct pg_conn *pc, const char *name, bool uncached, const char *sql,
                              const struct pay_param *p, size_t n, PGresult **res_out)
{
    *res_out = NULL;
    struct pg_vals vals;
    enum pay_err rc = vals_make(p, n, &vals);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pending(pc)) {
        rc = pipeline(pc, name, sql, &vals, false, res_out);
    } else {
        PGresult *res = PQexecPrepared(pc->c, name, vals.n, vals.v, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);
        if (res == NULL || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
            rc = map_error(pc, res, sql);
            PQclear(res);
        } else {
            *res_out = res;
        }
    }
    vals_free(&vals);
    if (uncached && !conn_broken(pc)) {
        stmt_drop(pc, name);
    }
    return lost_before_commit(pc, rc);
}

/* Run @sql with @p; *res_out gets the result (PQclear it) when PAY_OK. */
static enum pay_err run(struct pg_conn *pc, const char *sql, const struct pay_param *p, size_t n,
                        PGresult **res_out)
{
    *res_out = NULL;
    char name[24];
    bool uncached = false;
    const struct pg_stmt *entry = NULL;
    enum pay_err rc = stmt_ready(pc, sql, p, n, name, &uncached, &entry);
    return rc == PAY_OK ? run_ready(pc, name, uncached, sql, p, n, res_out) : rc;
}

/* ------------------------------------------------------------------ */
/* Statements and rows                                                  */
/* ------------------------------------------------------------------ */

static enum pay_err pg_exec(struct pay_tx *tx_, const char *sql, const struct pay_param *p,
                            size_t n, int64_t *changes_out)
{
    struct pg_tx *tx = (struct pg_tx *)tx_;
    PGresult *res = NULL;
    enum pay_err rc = run(tx->conn, sql, p, n, &res);
    if (rc != PAY_OK) {
        return rc;
    }
    if (changes_out != NULL) {
        *changes_out = strtoll(PQcmdTuples(res), NULL, 10);
    }
    PQclear(res);
    return PAY_OK;
}

static enum pay_err pg_exec_later(struct pay_tx *tx_, const char *sql, const struct pay_param *p,
                                  size_t n)
{
    struct pg_tx *tx = (struct pg_tx *)tx_;
    struct pg_conn *pc = tx->conn;
    char name[24];
    bool uncached = false;
    const struct pg_stmt *entry = NULL;
    enum pay_err rc = stmt_ready(pc, sql, p, n, name, &uncached, &entry);
    if (rc != PAY_OK) {
        return rc;
    }
    if (uncached) {
        /* Not kept by the cache, so it cannot wait: run it now, as prepared. */
        PGresult *res = NULL;
        rc = run_ready(pc, name, true, sql, p, n, &res);
        PQclear(res);
        return rc;
    }
    if (pc->n_later == pc->cap_later) {
        size_t cap = pc->cap_later == 0 ? 16 : pc->cap_later * 2;
        struct pg_later *more = cap <= LATER_MAX ? realloc(pc->later, cap * sizeof(*more)) : NULL;
        if (more == NULL && pc->cap_later == 0) {
            return pg_exec(tx_, sql, p, n, NULL); /* out of memory: no queue, run it now */
        }
        if (more == NULL) {
            /* Full (or out of memory): send what waits, then queue this one. */
            PGresult *res = NULL;
            rc = pipeline(pc, NULL, NULL, NULL, false, &res);
            if (rc != PAY_OK) {
                return lost_before_commit(pc, rc);
            }
        } else {
            pc->later = more;
            pc->cap_later = cap;
        }
    }
    struct pg_later *l = &pc->later[pc->n_later];
    rc = vals_make(p, n, &l->vals);
    if (rc != PAY_OK) {
        return rc;
    }
    l->stmt = entry;
    pc->n_later++;
    return PAY_OK;
}

static enum pay_err pg_query(struct pay_tx *tx_, const char *sql, const struct pay_param *p,
                             size_t n, struct pay_rows **out)
{
    struct pg_tx *tx = (struct pg_tx *)tx_;
    struct pg_rows *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return PAY_ERR_NOMEM;
    }
    enum pay_err rc = run(tx->conn, sql, p, n, &r->res);
    if (rc != PAY_OK) {
        free(r);
        return rc;
    }
    r->row = -1;
    r->nrows = PQntuples(r->res);
    *out = &r->base;
    return PAY_OK;
}

static bool pg_rows_next(struct pay_rows *r_)
{
    struct pg_rows *r = (struct pg_rows *)r_;
    if (r->row < r->nrows) {
        r->row++;
    }
    return r->row < r->nrows;
}

static bool col_ok(struct pg_rows *r, int col)
{
    return r->row >= 0 && r->row < r->nrows && col >= 0 && col < PQnfields(r->res);
}

static bool pg_rows_null(struct pay_rows *r_, int col)
{
    struct pg_rows *r = (struct pg_rows *)r_;
    return !col_ok(r, col) || PQgetisnull(r->res, r->row, col);
}

static const char *pg_rows_text(struct pay_rows *r_, int col)
{
    struct pg_rows *r = (struct pg_rows *)r_;
    if (pg_rows_null(r_, col)) {
        return NULL;
    }
    return PQgetvalue(r->res, r->row, col);
}

static size_t pg_rows_len(struct pay_rows *r_, int col)
{
    struct pg_rows *r = (struct pg_rows *)r_;
    if (pg_rows_null(r_, col)) {
        return 0;
    }
    return (size_t)PQgetlength(r->res, r->row, col);
}

static int64_t pg_rows_int(struct pay_rows *r_, int col)
{
    const char *v = pg_rows_text(r_, col);
    if (v == NULL) {
        return 0;
    }
    /* Booleans come back as t/f; SQLite gives 1/0 for the same expression. */
    if (strcmp(v, "t") == 0) {
        return 1;
    }
    if (strcmp(v, "f") == 0) {
        return 0;
    }
    return strtoll(v, NULL, 10);
}

static int pg_rows_columns(struct pay_rows *r_)
{
    return PQnfields(((struct pg_rows *)r_)->res);
}

static const char *pg_rows_name(struct pay_rows *r_, int col)
{
    struct pg_rows *r = (struct pg_rows *)r_;
    return col >= 0 && col < PQnfields(r->res) ? PQfname(r->res, col) : NULL;
}

static void pg_rows_free(struct pay_rows *r_)
{
    struct pg_rows *r = (struct pg_rows *)r_;
    PQclear(r->res);
    free(r);
}

static enum pay_err pg_exec_script(struct pay_tx *tx_, const char *sql)
{
    struct pg_tx *tx = (struct pg_tx *)tx_;
    if (pending(tx->conn)) {
        PGresult *res = NULL;
        enum pay_err rc = pipeline(tx->conn, NULL, NULL, NULL, false, &res);
        if (rc != PAY_OK) {
            return lost_before_commit(tx->conn, rc);
        }
    }
    return simple(tx->conn, sql);
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */
/* ------------------------------------------------------------------ */

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    pay_logf(PAY_LOG_WARN, NULL, "postgres: %s", message);
}

/* Session settings, after every (re)connect. */
static enum pay_err conn_setup(struct pg_conn *pc)
{
    PQsetNoticeProcessor(pc->c, notice_to_log, NULL);
    return simple(pc, "SET client_min_messages = warning; SET statement_timeout = '30s'");
}

static enum pay_err conn_open(struct pg_store *s, struct pg_conn **out, struct pay_error *err)
{
    *out = NULL;
    struct pg_conn *pc = calloc(1, sizeof(*pc));
    if (pc == NULL) {
        return PAY_ERR_NOMEM;
    }
    pc->c = PQconnectdb(s->url);
    if (pc->c == NULL || PQstatus(pc->c) != CONNECTION_OK) {
        const char *why = pc->c != NULL ? PQerrorMessage(pc->c) : "out of memory";
        pay_logf(PAY_LOG_ERROR, NULL, "postgres: cannot connect: %s", why);
        pay_error_set(err, PAY_ERR_UNAVAILABLE, "db", "Cannot connect to PostgreSQL: %.200s", why);
        PQfinish(pc->c);
        free(pc);
        return PAY_ERR_UNAVAILABLE;
    }
    enum pay_err rc = conn_setup(pc);
    if (rc != PAY_OK) {
        pay_error_set(err, rc, "db", "Cannot set up the PostgreSQL session.");
        PQfinish(pc->c);
        free(pc);
        return rc;
    }
    *out = pc;
    return PAY_OK;
}

static void conn_free(struct pg_conn *pc)
{
    later_drop(pc);
    free(pc->later);
    cache_clear(pc);
    PQfinish(pc->c);
    free(pc);
}

/* Reset a broken connection; PAY_ERR_UNAVAILABLE when the server stays away. */
static enum pay_err conn_revive(struct pg_conn *pc)
{
    later_drop(pc);
    cache_clear(pc);
    PQreset(pc->c);
    if (conn_broken(pc)) {
        pay_logf(PAY_LOG_ERROR, NULL, "postgres: reconnect failed: %s", PQerrorMessage(pc->c));
        return PAY_ERR_UNAVAILABLE;
    }
    return conn_setup(pc);
}

static enum pay_err conn_get(struct pg_store *s, struct pg_conn **out)
{
    *out = NULL;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += POOL_WAIT_S;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->n_idle > 0) {
            *out = s->idle[--s->n_idle];
            break;
        }
        if (s->n_conns + s->n_opening < s->pool_size) {
            s->n_opening++;
            pthread_mutex_unlock(&s->mu);
            struct pg_conn *pc = NULL;
            enum pay_err rc = conn_open(s, &pc, NULL);
            pthread_mutex_lock(&s->mu);
            s->n_opening--;
            if (rc != PAY_OK) {
                pthread_cond_signal(&s->cv);
                pthread_mutex_unlock(&s->mu);
                return rc;
            }
            s->conns[s->n_conns++] = pc;
            *out = pc;
            break;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            pay_logf(PAY_LOG_ERROR, NULL, "postgres: no free connection in %d s", POOL_WAIT_S);
            return PAY_ERR_UNAVAILABLE;
        }
    }
    s->in_use++;
    pthread_mutex_unlock(&s->mu);
    return PAY_OK;
}

static void conn_put(struct pg_store *s, struct pg_conn *pc)
{
    /* A connection must go back outside any transaction. */
    later_drop(pc);
    if (!conn_broken(pc) && PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
        (void)simple(pc, "ROLLBACK");
    }
    pthread_mutex_lock(&s->mu);
    s->idle[s->n_idle++] = pc;
    s->in_use--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/*
 * Start a transaction with @begin_sql (a literal), sent with its first
 * statement. A connection known to be broken is reset first; one that went
 * stale while idle (server restart) shows it only at that first statement,
 * which then resets it and has the transaction retried.
 */
static enum pay_err tx_start(struct pg_conn *pc, const char *begin_sql)
{
    later_drop(pc);
    if (conn_broken(pc)) {
        enum pay_err rc = conn_revive(pc);
        if (rc != PAY_OK) {
            return rc;
        }
    }
    pc->begin = begin_sql;
    return PAY_OK;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */
/* ------------------------------------------------------------------ */

static enum pay_err pg_run_tx(struct pg_store *s, bool write, pay_tx_fn fn, void *arg)
{
    struct pg_conn *pc = NULL;
    enum pay_err rc = conn_get(s, &pc);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = tx_start(pc, write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc != PAY_OK) {
        conn_put(s, pc);
        return rc;
    }
    struct pg_tx tx;
    pay_tx_begin_cb(&tx.base, &s->base, write);
    tx.conn = pc;
    enum pay_err fn_rc = fn(&tx.base, arg);
    pay_tx_end_cb(&tx.base);
    bool keep;
    rc = pay_tx_outcome(&tx.base, fn_rc, &keep);
    if (write && keep) {
        enum pay_err crc = PAY_OK;
        PGresult *res = NULL;
        if (pc->begin != NULL && pc->n_later == 0) {
            later_drop(pc); /* nothing was done: nothing to send */
        } else if (pending(pc)) {
            crc = pipeline(pc, NULL, NULL, NULL, true, &res);
        } else {
            res = PQexec(pc->c, "COMMIT");
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                crc = map_error(pc, res, "COMMIT");
            } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
                /* The server rolled back instead: the transaction had failed. */
                crc = PAY_ERR_DB;
            }
            PQclear(res);
        }
        if (crc == PAY_OK) {
            atomic_fetch_add(&s->commits, 1);
        } else {
            /* Even a commit_anyway error: the caller must not think its writes are kept. */
            rc = crc;
        }
    } else {
        /* Held back statements are dropped unsent; a BEGIN never sent needs no end. */
        later_drop(pc);
        if (!conn_broken(pc) && PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
            /* Reads end with ROLLBACK too: as cheap as COMMIT for a read-only snapshot. */
            (void)simple(pc, "ROLLBACK");
        }
    }
    if (write) {
        atomic_fetch_add(&s->writes, 1);
    }
    conn_put(s, pc);
    return rc;
}

static enum pay_err pg_write(struct pay_store *s_, pay_tx_fn fn, void *arg)
{
    return pg_run_tx((struct pg_store *)s_, true, fn, arg);
}

static enum pay_err pg_read(struct pay_store *s_, pay_tx_fn fn, void *arg)
{
    return pg_run_tx((struct pg_store *)s_, false, fn, arg);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */
/* ------------------------------------------------------------------ */

static void pg_close(struct pay_store *s_)
{
    struct pg_store *s = (struct pg_store *)s_;
    pthread_mutex_lock(&s->mu);
    while (s->in_use > 0 || s->n_opening > 0) {
        pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_conns; i++) {
        conn_free(s->conns[i]);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    if (s->url != NULL) {
        explicit_bzero(s->url, strlen(s->url)); /* may hold a password */
    }
    free(s->url);
    free(s);
}

static void pg_stats(struct pay_store *s_, struct pay_store_stats *out)
{
    struct pg_store *s = (struct pg_store *)s_;
    out->writes = atomic_load(&s->writes);
    out->commits = atomic_load(&s->commits);
    pthread_mutex_lock(&s->mu);
    out->pool_open = s->n_conns;
    out->pool_in_use = s->in_use;
    pthread_mutex_unlock(&s->mu);
}

enum pay_err pay_pg_open(const char *url, struct pay_store **out, struct pay_error *err)
{
    *out = NULL;
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &why);
    if (opts == NULL) {
        enum pay_err e = pay_error_set(err, PAY_ERR_CONFIG, "db", "Bad PostgreSQL URL: %.200s",
                                       why != NULL ? why : "out of memory");
        PQfreemem(why);
        return e;
    }
    PQconninfoFree(opts);

    struct pg_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return PAY_ERR_NOMEM;
    }
    s->base.ops = &pg_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->pool_size = POOL_DEFAULT;
    const char *env = getenv("PAYD_PG_POOL");
    if (env != NULL && env[0] != '\0') {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (*end != '\0' || v < 1 || v > PAY_DB_POOL_MAX) {
            pg_close(&s->base);
            return pay_error_set(err, PAY_ERR_CONFIG, "PAYD_PG_POOL",
                                 "PAYD_PG_POOL must be between 1 and %d.", PAY_DB_POOL_MAX);
        }
        s->pool_size = (int)v;
    }
    s->url = strdup(url);
    if (s->url == NULL) {
        pg_close(&s->base);
        return PAY_ERR_NOMEM;
    }
    /* One connection now, so a wrong URL or a server that is down shows at start. */
    struct pg_conn *pc = NULL;
    enum pay_err rc = conn_open(s, &pc, err);
    if (rc != PAY_OK) {
        pg_close(&s->base);
        return rc;
    }
    s->conns[s->n_conns++] = pc;
    s->idle[s->n_idle++] = pc;
    *out = &s->base;
    return PAY_OK;
}

/* A transaction advisory lock (pay_tx_serialize_on), held back for the
 * next round trip; at READ COMMITTED each later statement's snapshot is
 * taken after the lock is granted, so it sees what the holder committed.
 * With @count_sql the statement takes it only while that count is below
 * @limit: "SELECT pg_advisory_xact_lock(...) WHERE (count) < $limit". */
static enum pay_err pg_serialize_on(struct pay_tx *tx, const char *key, const char *count_sql,
                                    const struct pay_param *p, size_t n, int64_t limit)
{
    if (count_sql == NULL) {
        const struct pay_param k[] = {PAY_PTEXT(key)};
        return pg_exec_later(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", k, 1);
    }
    enum { WHILE_PARAMS_MAX = 16 };
    if (n + 2 > WHILE_PARAMS_MAX) {
        return PAY_ERR_INTERNAL;
    }
    struct pay_param all[WHILE_PARAMS_MAX];
    memcpy(all, p, n * sizeof(*p));
    all[n] = (struct pay_param)PAY_PTEXT(key);
    all[n + 1] = (struct pay_param)PAY_PINT(limit);
    struct pay_buf sql;
    pay_buf_init(&sql, 4096);
    enum pay_err rc = pay_buf_addf(
        &sql, "SELECT pg_advisory_xact_lock(hashtextextended($%zu, 0)) WHERE (%s) < $%zu", n + 1,
        count_sql, n + 2);
    if (rc == PAY_OK) {
        rc = pg_exec_later(tx, sql.data, all, n + 2);
    }
    pay_buf_release(&sql);
    return rc;
}

static const struct pay_store_ops pg_ops = {
    .kind = "postgres",
    .close = pg_close,
    .write = pg_write,
    .read = pg_read,
    .exec = pg_exec,
    .exec_later = pg_exec_later,
    .serialize_on = pg_serialize_on,
    .query = pg_query,
    .rows_next = pg_rows_next,
    .rows_text = pg_rows_text,
    .rows_len = pg_rows_len,
    .rows_int = pg_rows_int,
    .rows_null = pg_rows_null,
    .rows_columns = pg_rows_columns,
    .rows_name = pg_rows_name,
    .rows_free = pg_rows_free,
    .exec_script = pg_exec_script,
    .stats = pg_stats,
};

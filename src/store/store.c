/*
 * store.c - the part of the database interface both back ends share: URL
 * dispatch, the retry loop of write transactions, the failed-statement rule
 * (see store_int.h), convenience queries and cursor-paginated lists.
 *
 * Invariants: every pay_rows a callback opens is closed before its
 * transaction ends (leftovers are closed here and logged); a transaction
 * with a failed statement never commits.
 *
 * Threading: no state of its own beyond the store's atomic counters and a
 * thread-local flag that catches a write nested inside a write callback.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

/* Set while a write callback runs on this thread (SQLite: the writer thread). */
static _Thread_local bool tl_in_write_cb;

struct pay_param pay_param_text(const char *s)
{
    if (s == NULL) {
        return PAY_PNULL;
    }
    return (struct pay_param){.type = PAY_P_TEXT, .s = s, .len = strlen(s)};
}

struct pay_param pay_param_json(const char *s)
{
    struct pay_param p = pay_param_text(s);
    p.json = s != NULL;
    return p;
}

enum pay_err pay_store_open(const char *url, struct pay_store **out, struct pay_error *err)
{
    *out = NULL;
    if (url == NULL || url[0] == '\0') {
        return pay_error_set(err, PAY_ERR_CONFIG, "db", "No database URL given.");
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        /* Accept sqlite://PATH too (sqlite:///abs/path is an absolute path). */
        if (strncmp(path, "//", 2) == 0) {
            path += 2;
        }
        if (path[0] == '\0') {
            return pay_error_set(err, PAY_ERR_CONFIG, "db", "sqlite: URL without a path.");
        }
        return pay_sqlite_open(path, out, err);
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        return pay_pg_open(url, out, err);
    }
    return pay_error_set(err, PAY_ERR_CONFIG, "db",
                         "Unknown database URL scheme: use sqlite:PATH or postgres://...");
}

void pay_store_close(struct pay_store *s)
{
    if (s != NULL) {
        s->ops->close(s);
    }
}

const char *pay_store_kind(const struct pay_store *s)
{
    return s->ops->kind;
}

/* Sleep 1-2 ms times 2^attempt (capped) so conflicting writers spread out. */
static void retry_backoff(int attempt)
{
    unsigned char r = 0;
    if (pay_random_bytes(&r, 1) != PAY_OK) {
        r = 128;
    }
    long us = (1000L << (attempt < 6 ? attempt : 6)) + (long)r * 8;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

enum pay_err pay_store_write(struct pay_store *s, pay_tx_fn fn, void *arg)
{
    if (tl_in_write_cb) {
        pay_logf(PAY_LOG_ERROR, NULL, "store: pay_store_write called inside a write callback");
        return PAY_ERR_INTERNAL;
    }
    enum pay_err rc = s->ops->write(s, fn, arg);
    for (int attempt = 0; rc == PAY_ERR_DB_RETRY && attempt < PAY_DB_RETRIES_MAX; attempt++) {
        atomic_fetch_add(&s->retries, 1);
        retry_backoff(attempt);
        rc = s->ops->write(s, fn, arg);
    }
    return rc;
}

enum pay_err pay_store_read(struct pay_store *s, pay_tx_fn fn, void *arg)
{
    /* A read is retried only when its connection was lost and made anew. */
    enum pay_err rc = s->ops->read(s, fn, arg);
    for (int attempt = 0; rc == PAY_ERR_DB_RETRY && attempt < PAY_DB_RETRIES_MAX; attempt++) {
        atomic_fetch_add(&s->retries, 1);
        rc = s->ops->read(s, fn, arg);
    }
    return rc;
}

void pay_store_stats(struct pay_store *s, struct pay_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    s->ops->stats(s, out);
    out->retries = atomic_load(&s->retries);
}

void pay_tx_commit_anyway(struct pay_tx *tx)
{
    tx->commit_anyway = true;
}

struct pay_store *pay_tx_store(struct pay_tx *tx)
{
    return tx->store;
}

void pay_tx_begin_cb(struct pay_tx *tx, struct pay_store *s, bool write)
{
    memset(tx, 0, sizeof(*tx));
    tx->store = s;
    tx->write = write;
    if (write) {
        tl_in_write_cb = true;
    }
}

void pay_tx_end_cb(struct pay_tx *tx)
{
    if (tx->open_rows != NULL) {
        pay_logf(PAY_LOG_WARN, NULL, "store: a callback returned with query rows still open");
    }
    while (tx->open_rows != NULL) {
        enum pay_err e = pay_rows_close(tx->open_rows);
        (void)e;
    }
    if (tx->write) {
        tl_in_write_cb = false;
    }
}

void pay_rows_link(struct pay_tx *tx, struct pay_rows *r)
{
    r->tx = tx;
    r->err = PAY_OK;
    r->prev_open = NULL;
    r->next_open = tx->open_rows;
    if (tx->open_rows != NULL) {
        tx->open_rows->prev_open = r;
    }
    tx->open_rows = r;
}

enum pay_err pay_tx_fail(struct pay_tx *tx, enum pay_err e)
{
    if (e != PAY_OK && !tx->failed) {
        tx->failed = true;
        tx->fail_code = e;
    }
    return e;
}

enum pay_err pay_tx_outcome(const struct pay_tx *tx, enum pay_err rc, bool *keep_out)
{
    if (tx->failed) {
        *keep_out = false;
        /* A conflict or a lost connection is retried, whatever the callback made of it. */
        return rc == PAY_OK || tx->fail_code == PAY_ERR_DB_RETRY ? tx->fail_code : rc;
    }
    *keep_out = rc == PAY_OK || tx->commit_anyway;
    return rc;
}

/* A statement after a failed one: refuse it as PostgreSQL would. */
static enum pay_err refuse_poisoned(const char *sql)
{
    pay_logf(PAY_LOG_ERROR, NULL, "store: statement in a transaction that already failed: %.120s",
             sql);
    return PAY_ERR_DB;
}

/*
 * PostgreSQL text cannot hold NUL and libpq would cut the value short, so
 * refuse it on both back ends rather than store something else silently.
 */
static enum pay_err check_params(const char *sql, const struct pay_param *p, size_t n)
{
    if (n > 0 && p == NULL) {
        pay_logf(PAY_LOG_ERROR, NULL, "store: %zu parameters but no array: %.120s", n, sql);
        return PAY_ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].type == PAY_P_TEXT && p[i].s != NULL && memchr(p[i].s, '\0', p[i].len) != NULL) {
            return PAY_ERR_PARAM_INVALID;
        }
    }
    return PAY_OK;
}

enum pay_err pay_tx_exec(struct pay_tx *tx, const char *sql, const struct pay_param *p, size_t n,
                         int64_t *changes_out)
{
    if (changes_out != NULL) {
        *changes_out = 0;
    }
    if (tx->failed) {
        return refuse_poisoned(sql);
    }
    enum pay_err rc = check_params(sql, p, n);
    if (rc != PAY_OK) {
        return rc;
    }
    return pay_tx_fail(tx, tx->store->ops->exec(tx, sql, p, n, changes_out));
}

enum pay_err pay_tx_exec_later(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                               size_t n)
{
    if (tx->failed) {
        return refuse_poisoned(sql);
    }
    enum pay_err rc = check_params(sql, p, n);
    if (rc != PAY_OK) {
        return rc;
    }
    if (tx->store->ops->exec_later != NULL) {
        rc = tx->store->ops->exec_later(tx, sql, p, n);
    } else {
        rc = tx->store->ops->exec(tx, sql, p, n, NULL);
    }
    /* Nobody is there to turn a conflict into an answer. */
    return pay_tx_fail(tx, rc == PAY_ERR_DB_UNIQUE ? PAY_ERR_DB : rc);
}

enum pay_err pay_tx_serialize_on(struct pay_tx *tx, const char *key)
{
    PAY_ASSERT(tx->write && key != NULL);
    if (tx->failed) {
        return refuse_poisoned("serialize_on");
    }
    if (tx->store->ops->serialize_on == NULL) {
        return PAY_OK;
    }
    return pay_tx_fail(tx, tx->store->ops->serialize_on(tx, key, NULL, NULL, 0, 0));
}

enum pay_err pay_tx_serialize_on_while(struct pay_tx *tx, const char *key, const char *count_sql,
                                       const struct pay_param *p, size_t n, int64_t limit)
{
    PAY_ASSERT(tx->write && key != NULL && count_sql != NULL);
    if (tx->failed) {
        return refuse_poisoned(count_sql);
    }
    enum pay_err rc = check_params(count_sql, p, n);
    if (rc != PAY_OK || tx->store->ops->serialize_on == NULL) {
        return rc;
    }
    return pay_tx_fail(tx, tx->store->ops->serialize_on(tx, key, count_sql, p, n, limit));
}

bool pay_tx_keeps(const struct pay_tx *tx, enum pay_err rc)
{
    bool keep = false;
    (void)pay_tx_outcome(tx, rc, &keep);
    return keep;
}

bool pay_tx_writes_serial(struct pay_tx *tx)
{
    /* A back end that needs no help to serialise has writes serial already. */
    return tx->store->ops->serialize_on == NULL;
}

bool pay_tx_defers_writes(struct pay_tx *tx)
{
    return tx->store->ops->exec_later != NULL;
}

bool pay_tx_undo_epoch(struct pay_tx *tx, uint64_t *epoch)
{
    *epoch = 0;
    if (tx->store->ops->undo_epoch == NULL) {
        return false;
    }
    *epoch = tx->store->ops->undo_epoch(tx->store);
    return true;
}

/* ---- Memos (store.h) ------------------------------------------------- */

#define MEMOS 2048 /* a power of two */
struct memo {
    uint64_t epoch; /* 0: empty (stores' epochs start at 1) */
    int64_t value;
    char key[PAY_TX_MEMO_KEY_MAX + 1];
};
static struct memo memos[MEMOS];
static pthread_mutex_t memos_mu = PTHREAD_MUTEX_INITIALIZER;

/* @key's parts joined by 0x1f into @out (PAY_TX_MEMO_KEY_MAX + 1 bytes),
 * with its slot; false when it cannot be kept. */
static bool memo_key(const char *const *key, size_t n, char *out, size_t *slot)
{
    if (n == 0 || n > PAY_TX_MEMO_PARTS) {
        return false;
    }
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *c = (const unsigned char *)(key[i] != NULL ? key[i] : "");
             *c != '\0'; c++) {
            if (*c == 0x1f || len == PAY_TX_MEMO_KEY_MAX) {
                return false;
            }
            out[len++] = (char)*c;
            h = (h ^ *c) * 1099511628211ULL;
        }
        if (i + 1 < n) {
            if (len == PAY_TX_MEMO_KEY_MAX) {
                return false;
            }
            out[len++] = 0x1f;
            h = (h ^ 0x1f) * 1099511628211ULL;
        }
    }
    out[len] = '\0';
    *slot = (size_t)(h & (MEMOS - 1));
    return true;
}

bool pay_tx_memo_get(struct pay_tx *tx, const char *const *key, size_t n, int64_t *value)
{
    uint64_t epoch = 0;
    char k[PAY_TX_MEMO_KEY_MAX + 1];
    size_t slot = 0;
    if (!pay_tx_undo_epoch(tx, &epoch) || epoch == 0 || !memo_key(key, n, k, &slot)) {
        return false;
    }
    pthread_mutex_lock(&memos_mu);
    const struct memo *m = &memos[slot];
    bool found = m->epoch == epoch && strcmp(m->key, k) == 0;
    if (found) {
        *value = m->value;
    }
    pthread_mutex_unlock(&memos_mu);
    return found;
}

void pay_tx_memo_put(struct pay_tx *tx, const char *const *key, size_t n, int64_t value)
{
    uint64_t epoch = 0;
    char k[PAY_TX_MEMO_KEY_MAX + 1];
    size_t slot = 0;
    if (!pay_tx_undo_epoch(tx, &epoch) || epoch == 0 || !memo_key(key, n, k, &slot)) {
        return;
    }
    pthread_mutex_lock(&memos_mu);
    struct memo *m = &memos[slot];
    m->epoch = epoch;
    m->value = value;
    memcpy(m->key, k, strlen(k) + 1);
    pthread_mutex_unlock(&memos_mu);
}

enum pay_err pay_tx_query(struct pay_tx *tx, const char *sql, const struct pay_param *p, size_t n,
                          struct pay_rows **out)
{
    *out = NULL;
    if (tx->failed) {
        return refuse_poisoned(sql);
    }
    enum pay_err rc = check_params(sql, p, n);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = tx->store->ops->query(tx, sql, p, n, out);
    if (rc != PAY_OK) {
        *out = NULL;
        return pay_tx_fail(tx, rc);
    }
    pay_rows_link(tx, *out);
    return PAY_OK;
}

bool pay_rows_next(struct pay_rows *r)
{
    if (r->err != PAY_OK) {
        return false;
    }
    bool more = r->tx->store->ops->rows_next(r);
    if (r->err != PAY_OK) {
        pay_tx_fail(r->tx, r->err);
        return false;
    }
    return more;
}

const char *pay_rows_text(struct pay_rows *r, int col)
{
    return r->tx->store->ops->rows_text(r, col);
}

size_t pay_rows_len(struct pay_rows *r, int col)
{
    return r->tx->store->ops->rows_len(r, col);
}

int pay_rows_columns(struct pay_rows *r)
{
    return r->tx->store->ops->rows_columns(r);
}

const char *pay_rows_name(struct pay_rows *r, int col)
{
    return r->tx->store->ops->rows_name(r, col);
}

int64_t pay_rows_int(struct pay_rows *r, int col)
{
    return r->tx->store->ops->rows_int(r, col);
}

bool pay_rows_null(struct pay_rows *r, int col)
{
    return r->tx->store->ops->rows_null(r, col);
}

enum pay_err pay_rows_close(struct pay_rows *r)
{
    if (r == NULL) {
        return PAY_OK;
    }
    struct pay_tx *tx = r->tx;
    enum pay_err e = r->err;
    if (r->prev_open != NULL) {
        r->prev_open->next_open = r->next_open;
    } else {
        tx->open_rows = r->next_open;
    }
    if (r->next_open != NULL) {
        r->next_open->prev_open = r->prev_open;
    }
    tx->store->ops->rows_free(r);
    return e;
}

enum pay_err pay_tx_query_int(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                              size_t n, int64_t *out, bool *found_out)
{
    *out = 0;
    if (found_out != NULL) {
        *found_out = false;
    }
    struct pay_rows *r = NULL;
    enum pay_err rc = pay_tx_query(tx, sql, p, n, &r);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pay_rows_next(r)) {
        *out = pay_rows_int(r, 0);
        if (found_out != NULL) {
            *found_out = true;
        }
    }
    return pay_rows_close(r);
}

enum pay_err pay_tx_query_text(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                               size_t n, char **out)
{
    *out = NULL;
    struct pay_rows *r = NULL;
    enum pay_err rc = pay_tx_query(tx, sql, p, n, &r);
    if (rc != PAY_OK) {
        return rc;
    }
    if (pay_rows_next(r)) {
        const char *t = pay_rows_text(r, 0);
        if (t != NULL) {
            size_t len = pay_rows_len(r, 0);
            *out = malloc(len + 1);
            if (*out == NULL) {
                pay_rows_close(r);
                return PAY_ERR_NOMEM;
            }
            memcpy(*out, t, len);
            (*out)[len] = '\0';
        }
    }
    rc = pay_rows_close(r);
    if (rc != PAY_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lists                                                                */
/* ------------------------------------------------------------------ */

/* Table names come from code, never from clients; still refuse anything odd. */
static bool identifier_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 63) {
        return false;
    }
    for (const char *c = s; *c; c++) {
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_')) {
            return false;
        }
    }
    return true;
}

/* The seq of object @id in @table; PAY_ERR_PARAM_INVALID naming @param if none. */
static enum pay_err cursor_seq(struct pay_tx *tx, const char *table, const char *id,
                               const char *param, int64_t *seq_out, struct pay_error *err)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT seq FROM %s WHERE id = $1", table);
    struct pay_param p[] = {PAY_PTEXT(id)};
    bool found = false;
    enum pay_err rc = pay_tx_query_int(tx, sql, p, PAY_NPARAMS(p), seq_out, &found);
    if (rc != PAY_OK) {
        return rc;
    }
    if (!found) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, param,
                             "No such object: '%.64s' (given as %s).", id, param);
    }
    return PAY_OK;
}

/* Extra bound values appended after the caller's: cursor + four created bounds + limit. */
#define LIST_EXTRA_PARAMS 6

/* A row's stored text, kept while an ascending page is read (it is sent reversed). */
struct list_text {
    char *text;
    size_t len;
};

/* pay_tx_list's body: with @data_out, parses each row into a new array;
 * with @text_out, appends the rows' texts, comma-separated, instead. */
static enum pay_err list_page(struct pay_tx *tx, const char *table, const char *where,
                              const struct pay_param *p, size_t n, const struct pay_list_args *args,
                              json_t **data_out, struct pay_buf *text_out, bool *has_more,
                              struct pay_error *err)
{
    if (data_out != NULL) {
        *data_out = NULL;
    }
    *has_more = false;
    if (!identifier_ok(table)) {
        pay_logf(PAY_LOG_ERROR, NULL, "store: pay_tx_list on a bad table name");
        return PAY_ERR_INTERNAL;
    }
    if (args->limit < 1 || args->limit > PAY_LIST_LIMIT_MAX) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "limit", "limit must be between 1 and %d.",
                             PAY_LIST_LIMIT_MAX);
    }
    if (args->starting_after != NULL && args->ending_before != NULL) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "ending_before",
                             "You may only specify one of these parameters: starting_after, "
                             "ending_before.");
    }

    /* Copy the caller's params and ours into one array: ours are $n+1... */
    struct pay_param *all = calloc(n + LIST_EXTRA_PARAMS, sizeof(*all));
    if (all == NULL) {
        return PAY_ERR_NOMEM;
    }
    if (n > 0) {
        memcpy(all, p, n * sizeof(*p));
    }
    size_t np = n;
    struct pay_buf sql;
    pay_buf_init(&sql, 64 * 1024);
    json_t *arr = NULL;
    struct list_text *held = NULL;
    struct pay_rows *r = NULL;
    enum pay_err rc = pay_buf_addf(&sql, "SELECT data FROM %s WHERE (%s)", table,
                                   where != NULL && where[0] != '\0' ? where : "1 = 1");
    bool ascending = false;
    if (rc == PAY_OK && args->starting_after != NULL) {
        int64_t seq = 0;
        rc = cursor_seq(tx, table, args->starting_after, "starting_after", &seq, err);
        if (rc == PAY_OK) {
            all[np++] = PAY_PINT(seq);
            rc = pay_buf_addf(&sql, " AND seq < $%zu", np);
        }
    } else if (rc == PAY_OK && args->ending_before != NULL) {
        int64_t seq = 0;
        rc = cursor_seq(tx, table, args->ending_before, "ending_before", &seq, err);
        if (rc == PAY_OK) {
            all[np++] = PAY_PINT(seq);
            rc = pay_buf_addf(&sql, " AND seq > $%zu", np);
            ascending = true;
        }
    }
    static const struct {
        const char *op;
        size_t off;
        int64_t unset;
    } bounds[] = {
        {">=", offsetof(struct pay_list_args, created_gte), INT64_MIN},
        {">", offsetof(struct pay_list_args, created_gt), INT64_MIN},
        {"<=", offsetof(struct pay_list_args, created_lte), INT64_MAX},
        {"<", offsetof(struct pay_list_args, created_lt), INT64_MAX},
    };
    for (size_t i = 0; rc == PAY_OK && i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        int64_t v;
        memcpy(&v, (const char *)args + bounds[i].off, sizeof(v));
        if (v != bounds[i].unset) {
            all[np++] = PAY_PINT(v);
            rc = pay_buf_addf(&sql, " AND created %s $%zu", bounds[i].op, np);
        }
    }
    if (rc == PAY_OK) {
        /* One row more than asked tells whether there are more. */
        all[np++] = PAY_PINT(args->limit + 1);
        rc = pay_buf_addf(&sql, " ORDER BY seq %s LIMIT $%zu", ascending ? "ASC" : "DESC", np);
    }
    if (rc != PAY_OK) {
        goto out;
    }

    if (data_out != NULL) {
        arr = json_array();
        if (arr == NULL) {
            rc = PAY_ERR_NOMEM;
            goto out;
        }
    } else if (ascending) {
        held = calloc((size_t)args->limit, sizeof(*held));
        if (held == NULL) {
            rc = PAY_ERR_NOMEM;
            goto out;
        }
    }
    rc = pay_tx_query(tx, sql.data, all, np, &r);
    if (rc != PAY_OK) {
        goto out;
    }
    int64_t count = 0;
    while (pay_rows_next(r)) {
        if (count == args->limit) {
            *has_more = true;
            break;
        }
        const char *text = pay_rows_text(r, 0);
        if (text_out != NULL) {
            /* The stored text as it is: no parse, no tree, no second dump. */
            size_t len = pay_rows_len(r, 0);
            if (text == NULL) {
                pay_logf(PAY_LOG_ERROR, NULL, "store: unreadable data column in table %s", table);
                rc = PAY_ERR_DB;
                goto out;
            }
            if (held != NULL) {
                held[count].text = malloc(len + 1);
                if (held[count].text == NULL) {
                    rc = PAY_ERR_NOMEM;
                    goto out;
                }
                memcpy(held[count].text, text, len);
                held[count].len = len;
            } else {
                rc = count > 0 ? pay_buf_add(text_out, ",", 1) : PAY_OK;
                if (rc == PAY_OK) {
                    rc = pay_buf_add(text_out, text, len);
                }
                if (rc != PAY_OK) {
                    goto out;
                }
            }
            count++;
            continue;
        }
        json_error_t jerr;
        json_t *obj = text != NULL ? json_loadb(text, pay_rows_len(r, 0), 0, &jerr) : NULL;
        if (obj == NULL) {
            pay_logf(PAY_LOG_ERROR, NULL, "store: unreadable data column in table %s", table);
            rc = PAY_ERR_DB;
            goto out;
        }
        if (ascending) {
            rc = json_array_insert_new(arr, 0, obj) == 0 ? PAY_OK : PAY_ERR_NOMEM;
        } else {
            rc = json_array_append_new(arr, obj) == 0 ? PAY_OK : PAY_ERR_NOMEM;
        }
        if (rc != PAY_OK) {
            goto out;
        }
        count++;
    }
    rc = pay_rows_close(r);
    r = NULL;
    /* An ascending page (ending_before) is answered newest first too. */
    for (int64_t i = count - 1; rc == PAY_OK && held != NULL && i >= 0; i--) {
        rc = i < count - 1 ? pay_buf_add(text_out, ",", 1) : PAY_OK;
        if (rc == PAY_OK) {
            rc = pay_buf_add(text_out, held[i].text, held[i].len);
        }
    }
    if (rc == PAY_OK && data_out != NULL) {
        *data_out = arr;
        arr = NULL;
    }
out:
    if (r != NULL) {
        enum pay_err e2 = pay_rows_close(r);
        (void)e2;
    }
    if (held != NULL) {
        for (int64_t i = 0; i < args->limit; i++) {
            free(held[i].text);
        }
        free(held);
    }
    json_decref(arr);
    pay_buf_release(&sql);
    free(all);
    if (rc != PAY_OK) {
        *has_more = false;
    }
    return rc;
}

enum pay_err pay_tx_list(struct pay_tx *tx, const char *table, const char *where,
                         const struct pay_param *p, size_t n, const struct pay_list_args *args,
                         json_t **data_out, bool *has_more, struct pay_error *err)
{
    return list_page(tx, table, where, p, n, args, data_out, NULL, has_more, err);
}

enum pay_err pay_tx_list_text(struct pay_tx *tx, const char *table, const char *where,
                              const struct pay_param *p, size_t n, const struct pay_list_args *args,
                              struct pay_buf *out, bool *has_more, struct pay_error *err)
{
    return list_page(tx, table, where, p, n, args, NULL, out, has_more, err);
}

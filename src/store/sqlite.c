/*
 * sqlite.c - the SQLite back end: one file in WAL mode, written by a single
 * writer thread that commits many callers' write transactions together
 * (group commit), read through a pool of read-only connections.
 *
 * Writes: pay_store_write queues a job and waits. The writer thread takes
 * every queued job (at most WRITE_BATCH_MAX), opens one BEGIN IMMEDIATE
 * transaction, runs the jobs, then COMMITs once. A job that fails leaves
 * nothing and does not sink its neighbours: a batch runs first without
 * savepoints, and a job that fails after writing is undone by a rollback
 * (nothing before it wrote) or by running the batch again with a SAVEPOINT
 * per job, rolled back to for that job alone (see run_job). If a job
 * aborts the whole transaction (SQLite rolls it
 * back on I/O errors, a full disk or RAISE(ROLLBACK)), that job gets its
 * error and the jobs already run in that transaction are run again in a new
 * one (callbacks may run more than once, see store.h).
 *
 * Durability: the writer's COMMIT writes the WAL frames but does not sync
 * them (synchronous=NORMAL; with the walbuf.c VFS, FULL, whose commit sync
 * writes the frames gathered for the commit out and syncs nothing) and hands
 * the batch to the syncer
 * thread, which fdatasync()s the WAL file and only then wakes the batch's
 * waiters, so a PAY_OK still means the write is durable; meanwhile the
 * writer runs the next batch instead of waiting for the disk. One sync
 * covers every commit that returned before it started. A read could see a
 * commit the syncer has not synced yet, so a read returns only once every
 * commit begun before its end is synced: nobody is shown a write that a
 * power cut could still take back (readers in another process, such as
 * `payd audit verify`, are not held back: on SQLite one payd serves a file).
 * A failed fdatasync stops the process (the kernel may have dropped the
 * pages; answering would be a guess).
 *
 * Reads: each read runs in BEGIN ... COMMIT on a pool connection (grown on
 * demand up to PAY_DB_POOL_MAX), which gives it one WAL snapshot.
 *
 * Checkpoints: copying the WAL back into the database file (and its fsync)
 * runs on a checkpointer thread with its own connection, woken by the
 * writer's WAL hook every CKPT_FRAMES frames, so the writer keeps writing
 * meanwhile. A PASSIVE checkpoint never blocks the writer, but a WAL that is
 * always being appended to is never wholly copied, and SQLite only starts
 * it again from the top when it is. So once the WAL holds CKPT_INLINE_FRAMES
 * the writer itself checkpoints between two transactions, which copies what
 * the thread has not yet and lets the next transaction reuse the file.
 * Durability does not depend on any of this: every COMMIT has synced the WAL.
 *
 * Statements are prepared once per connection and cached by their SQL text
 * (after pay_sql_for_sqlite), found first by the text's address (most SQL
 * is a literal) and then by its hash; a statement already in use (a nested
 * query of the same SQL) gets a fresh one-off statement instead.
 *
 * Threading: the write connection is used only by the writer thread; a read
 * connection by one thread at a time (SQLITE_OPEN_NOMUTEX). The queue is
 * guarded by qmu, the pool by pmu.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

/* Jobs committed together at most: bounds the latency one commit adds. */
#define WRITE_BATCH_MAX 512
/* How long a connection waits for another process's lock. */
#define BUSY_TIMEOUT_MS 5000
/* Statements cached per connection; SQL beyond this is prepared per use. */
#define STMT_CACHE_MAX 1024
#define STMT_RECENT 256 /* a power of two */
/* WAL frames (pages) after which the checkpointer thread is woken. */
#define CKPT_FRAMES 1000
/* WAL frames after which the writer checkpoints between transactions. */
#define CKPT_INLINE_FRAMES 8000
/*
 * SQLite's memory comes from core's pay_mem (mem.c): Debian builds it
 * without its lookaside allocator, so its small allocations are many,
 * and the writer thread keeps freed ones for its next (pay_mem_pool_start
 * in writer_main). Among them are the pieces of 1 KiB in which SQLite keeps
 * each job's SAVEPOINT journal in memory (temp_store=MEMORY: on a temporary
 * file every page a job first touches would cost two pwrite calls); a
 * payment's job writes and frees ~250 of them. SQLite's option to keep the
 * journal in larger pieces (SQLITE_CONFIG_STMTJRNL_SPILL) was faster, but
 * SQLite 3.40 fails a write with SQLITE_FULL once such a journal outgrows
 * ~128 KiB.
 */
static void *mem_malloc(int n)
{
    return n > 0 ? pay_mem_alloc((size_t)n) : NULL;
}

static void mem_free(void *p)
{
    pay_mem_free(p);
}

static void *mem_realloc(void *p, int n)
{
    return n > 0 ? realloc(p, (size_t)n) : NULL;
}

static int mem_size(void *p)
{
    return (int)pay_mem_size(p);
}

static int mem_roundup(int n)
{
    return n > 0 ? (int)pay_mem_roundup((size_t)n) : n;
}

static int mem_init(void *arg)
{
    (void)arg;
    return SQLITE_OK;
}

static void mem_shutdown(void *arg)
{
    (void)arg;
}

/* Process-wide settings: SQLite takes them only before its first use. */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void configure_sqlite(void)
{
    /* No global allocation statistics: they take a mutex on every malloc. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    static const sqlite3_mem_methods pooled = {mem_malloc,  mem_free, mem_realloc,  mem_size,
                                               mem_roundup, mem_init, mem_shutdown, NULL};
    (void)sqlite3_config(SQLITE_CONFIG_MALLOC, &pooled);
    /* Here, in the thread opening the first store, before its writer
     * thread exists (serve opens it before serving). */
    pay_mem_route_json();
}

struct stmt_entry {
    char *sql; /* the caller's SQL text: the key */
    sqlite3_stmt *st;
    bool in_use;
};

struct sq_conn {
    sqlite3 *db;
    struct pay_pack *pack; /* zstd contexts for PAY_PJSON (each made on first use) */
    /* Open addressing, power-of-two capacity; entries stay put when it grows. */
    struct stmt_entry **slots;
    size_t cap, count;
    /* In front of it, by the address of the caller's SQL text (most are
     * literals, so the address repeats), the entry last found for it: its
     * text is compared, so a buffer reused for other SQL misses, but not
     * hashed, which costs ~4 instructions a byte. */
    struct {
        const char *sql;
        struct stmt_entry *e;
    } recent[STMT_RECENT];
};

struct sq_job {
    pay_tx_fn fn;
    void *arg;
    enum pay_err result;
    bool final; /* result decided in the current batch */
    /* Posted once committed (or failed) and synced: the waiter may go. A
     * semaphore, not a condition variable under qmu: the syncer wakes a
     * batch's waiters without holding the lock the writer and every new
     * request take, and a woken waiter does not queue for it again. */
    sem_t done;
    struct sq_job *next;
};

struct sq_store {
    struct pay_store base;
    char *path;
    char *tmpdir; /* set for sqlite::memory:, removed at close */

    struct sq_conn writer;
    pthread_t thread;
    bool thread_started;
    int inline_ckpt_at; /* WAL frames at which the writer checkpoints next */

    /* The checkpointer thread: woken through ckcv under ckmu. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_started;
    pthread_mutex_t ckmu;
    pthread_cond_t ckcv;
    bool ckpt_wanted, ckpt_stopping;
    /* Held while a checkpoint runs: the writer's waits for the thread's
     * rather than being refused (SQLITE_BUSY) and letting the WAL grow. */
    pthread_mutex_t ckpt_run_mu;
    /* Checkpoints that copied frames: by that thread, and by the writer
     * itself (which holds every write up meanwhile). */
    _Atomic uint64_t ckpt_thread_runs, ckpt_writer_runs;
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct sq_job *qhead, *qtail;
    uint64_t qlen;
    bool stopping;
    uint64_t writes, commits, wal_syncs;
    /* Batches still to run with a savepoint per job (run_batch); the
     * writer thread's alone. */
    unsigned careful_batches;

    /* The syncer thread (see Durability), guarded by smu. commit_begun
     * counts the writer's COMMITs, raised before each starts; commit_done
     * is where the writer's COMMITs had returned when it last handed jobs
     * over; synced is the last commit_done a finished fdatasync covers. */
    _Atomic uint64_t commit_begun, synced;
    /* Moved on (new_epoch) whenever the writer undoes writes (pay_tx_undo_epoch). */
    _Atomic uint64_t undo_epoch;
    uint64_t commit_done;
    pthread_mutex_t smu;
    pthread_cond_t scv; /* the syncer waits for work */
    pthread_cond_t rcv; /* readers wait for synced; close for no waiter */
    int sync_waiters;
    struct sq_job *shead, *stail;
    pthread_t sync_thread;
    bool sync_started, sync_stopping;
    char *wal_path;
    int wal_fd; /* -1 until the WAL is first synced */

    pthread_mutex_t pmu;
    pthread_cond_t pcv;
    struct sq_conn *readers[PAY_DB_POOL_MAX]; /* opened */
    int n_readers;
    int n_opening;
    struct sq_conn *idle[PAY_DB_POOL_MAX];
    int n_idle;
    int in_use;
};

struct sq_tx {
    struct pay_tx base;
    struct sq_conn *conn;
};

/* A packed column of the current row, expanded (see pack.c). */
struct sq_unpacked {
    char *buf;
    size_t cap, len;
    bool valid; /* holds the current row's value */
};

struct sq_rows {
    struct pay_rows base;
    struct sq_conn *conn;
    sqlite3_stmt *st;
    struct stmt_entry *entry; /* NULL for a one-off statement */
    bool row;                 /* a row is current */
    struct sq_unpacked *un;   /* one per column, made at the first packed one */
    int n_un;
};

static const struct pay_store_ops sqlite_ops;
static void wait_synced(struct sq_store *s);

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

static enum pay_err map_error(sqlite3 *db, int rc, const char *sql)
{
    int ext = sqlite3_extended_errcode(db);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return PAY_ERR_DB_UNIQUE;
    }
    /* The message names tables, columns and constraints, never bound values. */
    pay_logf(PAY_LOG_ERROR, NULL, "sqlite: %s (code %d) in: %.200s", sqlite3_errmsg(db), ext,
             sql != NULL ? sql : "");
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        return PAY_ERR_UNAVAILABLE;
    }
    if ((rc & 0xff) == SQLITE_NOMEM) {
        return PAY_ERR_NOMEM;
    }
    return PAY_ERR_DB;
}

/* A parameterless statement (BEGIN, SAVEPOINT, pragmas) outside the cache. */
static enum pay_err plain_exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PAY_OK : map_error(db, rc, sql);
}

/* ------------------------------------------------------------------ */
/* Statement cache                                                      */
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

static struct stmt_entry *cache_find(struct sq_conn *c, const char *sql, uint64_t h)
{
    if (c->cap == 0) {
        return NULL;
    }
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        if (c->slots[i] == NULL) {
            return NULL;
        }
        if (strcmp(c->slots[i]->sql, sql) == 0) {
            return c->slots[i];
        }
    }
}

static void cache_place(struct stmt_entry **slots, size_t cap, struct stmt_entry *e)
{
    size_t i = hash_str(e->sql) & (cap - 1);
    while (slots[i] != NULL) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = e;
}

static bool cache_grow(struct sq_conn *c)
{
    size_t cap = c->cap == 0 ? 64 : c->cap * 2;
    struct stmt_entry **slots = calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return false;
    }
    for (size_t j = 0; j < c->cap; j++) {
        if (c->slots[j] != NULL) {
            cache_place(slots, cap, c->slots[j]);
        }
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return true;
}

static enum pay_err prepare(struct sq_conn *c, const char *sql, bool persistent, sqlite3_stmt **out)
{
    char *lite = pay_sql_for_sqlite(sql);
    if (lite == NULL) {
        return PAY_ERR_NOMEM;
    }
    const char *tail = NULL;
    int rc =
        sqlite3_prepare_v3(c->db, lite, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, out, &tail);
    if (rc != SQLITE_OK) {
        free(lite);
        *out = NULL;
        return map_error(c->db, rc, sql);
    }
    if (*out == NULL) {
        free(lite);
        pay_logf(PAY_LOG_ERROR, NULL, "sqlite: empty statement: %.200s", sql);
        return PAY_ERR_INTERNAL;
    }
    /* A second statement would be dropped unrun (PostgreSQL refuses it):
     * refuse it too, whitespace and comments after the first aside. */
    sqlite3_stmt *more = NULL;
    if (tail != NULL && *tail != '\0' &&
        (sqlite3_prepare_v2(c->db, tail, -1, &more, NULL) != SQLITE_OK || more != NULL)) {
        sqlite3_finalize(more);
        sqlite3_finalize(*out);
        *out = NULL;
        free(lite);
        pay_logf(PAY_LOG_ERROR, NULL, "sqlite: more than one statement: %.200s", sql);
        return PAY_ERR_DB;
    }
    free(lite);
    return PAY_OK;
}

/* A statement for @sql, marked in use; *entry_out is NULL for a one-off. */
static enum pay_err stmt_get(struct sq_conn *c, const char *sql, sqlite3_stmt **out,
                             struct stmt_entry **entry_out)
{
    *entry_out = NULL;
    size_t r = (size_t)((((uintptr_t)sql >> 3) * 0x9E3779B97F4A7C15ULL) >> 56) & (STMT_RECENT - 1);
    struct stmt_entry *e = c->recent[r].sql == sql ? c->recent[r].e : NULL;
    if (e == NULL || strcmp(e->sql, sql) != 0) {
        e = cache_find(c, sql, hash_str(sql));
        c->recent[r].sql = e != NULL ? sql : NULL;
        c->recent[r].e = e;
    }
    if (e != NULL && !e->in_use) {
        e->in_use = true;
        *out = e->st;
        *entry_out = e;
        return PAY_OK;
    }
    if (e != NULL || c->count >= STMT_CACHE_MAX) {
        return prepare(c, sql, false, out);
    }
    if ((c->count + 1) * 10 > c->cap * 7 && !cache_grow(c)) {
        return PAY_ERR_NOMEM;
    }
    e = calloc(1, sizeof(*e));
    char *key = strdup(sql);
    if (e == NULL || key == NULL) {
        free(e);
        free(key);
        return PAY_ERR_NOMEM;
    }
    enum pay_err rc = prepare(c, sql, true, &e->st);
    if (rc != PAY_OK) {
        free(e);
        free(key);
        return rc;
    }
    e->sql = key;
    e->in_use = true;
    cache_place(c->slots, c->cap, e);
    c->count++;
    c->recent[r].sql = sql;
    c->recent[r].e = e;
    *out = e->st;
    *entry_out = e;
    return PAY_OK;
}

static void stmt_put(sqlite3_stmt *st, struct stmt_entry *e)
{
    if (e == NULL) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    e->in_use = false;
}

/* A transaction-control statement (BEGIN, SAVEPOINT, ...), prepared once per connection. */
static enum pay_err ctl(struct sq_conn *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    struct stmt_entry *e = NULL;
    enum pay_err rc = stmt_get(c, sql, &st, &e);
    if (rc != PAY_OK) {
        return rc;
    }
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = map_error(c->db, s, sql);
    }
    stmt_put(st, e);
    return rc;
}

static void conn_close(struct sq_conn *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        if (c->slots[i] != NULL) {
            sqlite3_finalize(c->slots[i]->st);
            free(c->slots[i]->sql);
            free(c->slots[i]);
        }
    }
    free(c->slots);
    c->slots = NULL;
    c->cap = c->count = 0;
    memset(c->recent, 0, sizeof(c->recent));
    pay_pack_free(c->pack);
    c->pack = NULL;
    if (c->db != NULL) {
        sqlite3_close(c->db);
        c->db = NULL;
    }
}

static enum pay_err bind_params(struct sq_conn *c, sqlite3_stmt *st, const char *sql,
                                const struct pay_param *p, size_t n, bool copy)
{
    int want = sqlite3_bind_parameter_count(st);
    if (want < 0 || (size_t)want != n) {
        /* PostgreSQL refuses a count mismatch too: keep the back ends alike. */
        pay_logf(PAY_LOG_ERROR, NULL, "sqlite: statement takes %d parameters, %zu given: %.200s",
                 want, n, sql);
        return PAY_ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1;
        int rc;
        unsigned char *blob = NULL;
        size_t blob_len = 0;
        switch (p[i].type) {
        case PAY_P_INT:
            rc = sqlite3_bind_int64(st, idx, p[i].i);
            break;
        case PAY_P_TEXT:
            if (p[i].s == NULL) {
                rc = sqlite3_bind_null(st, idx);
            } else if (p[i].json && pay_pack_json(c->pack, p[i].s, p[i].len, &blob, &blob_len)) {
                /* SQLite frees the blob when it is done with it, failed bind included. */
                rc = sqlite3_bind_blob64(st, idx, blob, blob_len, pay_mem_free);
            } else {
                rc = sqlite3_bind_text64(st, idx, p[i].s, p[i].len,
                                         copy ? SQLITE_TRANSIENT : SQLITE_STATIC, SQLITE_UTF8);
            }
            break;
        default:
            rc = sqlite3_bind_null(st, idx);
            break;
        }
        if (rc != SQLITE_OK) {
            return map_error(c->db, rc, sql);
        }
    }
    return PAY_OK;
}

/* ------------------------------------------------------------------ */
/* Statements and rows                                                  */
/* ------------------------------------------------------------------ */

static enum pay_err sq_exec(struct pay_tx *tx_, const char *sql, const struct pay_param *p,
                            size_t n, int64_t *changes_out)
{
    struct sq_tx *tx = (struct sq_tx *)tx_;
    struct sq_conn *c = tx->conn;
    sqlite3_stmt *st = NULL;
    struct stmt_entry *e = NULL;
    enum pay_err rc = stmt_get(c, sql, &st, &e);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = bind_params(c, st, sql, p, n, false);
    if (rc == PAY_OK) {
        sqlite3_int64 before = sqlite3_total_changes64(c->db);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        }
        if (s != SQLITE_DONE) {
            rc = map_error(c->db, s, sql);
        } else if (changes_out != NULL && sqlite3_total_changes64(c->db) != before) {
            *changes_out = sqlite3_changes64(c->db);
        }
    }
    stmt_put(st, e);
    return rc;
}

static enum pay_err sq_query(struct pay_tx *tx_, const char *sql, const struct pay_param *p,
                             size_t n, struct pay_rows **out)
{
    struct sq_tx *tx = (struct sq_tx *)tx_;
    struct sq_conn *c = tx->conn;
    struct sq_rows *r = pay_mem_zalloc(sizeof(*r));
    if (r == NULL) {
        return PAY_ERR_NOMEM;
    }
    enum pay_err rc = stmt_get(c, sql, &r->st, &r->entry);
    if (rc != PAY_OK) {
        pay_mem_free(r);
        return rc;
    }
    /* The caller's text is borrowed only for this call: let SQLite copy it. */
    rc = bind_params(c, r->st, sql, p, n, true);
    if (rc != PAY_OK) {
        stmt_put(r->st, r->entry);
        pay_mem_free(r);
        return rc;
    }
    r->conn = c;
    *out = &r->base;
    return PAY_OK;
}

static bool sq_rows_next(struct pay_rows *r_)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    int s = sqlite3_step(r->st);
    for (int i = 0; i < r->n_un; i++) {
        r->un[i].valid = false;
    }
    if (s == SQLITE_ROW) {
        r->row = true;
        return true;
    }
    r->row = false;
    if (s != SQLITE_DONE) {
        r->base.err = map_error(r->conn->db, s, sqlite3_sql(r->st));
    }
    return false;
}

static bool col_ok(struct sq_rows *r, int col)
{
    return r->row && col >= 0 && col < sqlite3_column_count(r->st);
}

/*
 * A packed document in column @col (PAY_PJSON), expanded: NULL when the
 * column holds no packed blob. A blob that does not expand fails the rows
 * (r->base.err) and reads as an empty text, never as the bytes stored.
 */
static struct sq_unpacked *unpacked(struct sq_rows *r, int col)
{
    if (sqlite3_column_type(r->st, col) != SQLITE_BLOB) {
        return NULL;
    }
    const void *blob = sqlite3_column_blob(r->st, col);
    size_t n = (size_t)sqlite3_column_bytes(r->st, col);
    if (!pay_pack_is_packed(blob, n)) {
        return NULL;
    }
    static char nothing[1];
    static struct sq_unpacked broken = {.buf = nothing, .valid = true};
    if (r->un == NULL) {
        int cols = sqlite3_column_count(r->st);
        r->un = pay_mem_zalloc((size_t)cols * sizeof(*r->un));
        if (r->un == NULL) {
            r->base.err = PAY_ERR_NOMEM;
            return &broken;
        }
        r->n_un = cols;
    }
    struct sq_unpacked *u = &r->un[col];
    if (!u->valid) {
        if (!pay_pack_expand(r->conn->pack, blob, n, &u->buf, &u->cap, &u->len)) {
            pay_logf(PAY_LOG_ERROR, NULL,
                     "sqlite: column %d holds a packed document that does not expand: %.200s", col,
                     sqlite3_sql(r->st));
            if (r->base.err == PAY_OK) {
                r->base.err = PAY_ERR_DB;
            }
            return &broken;
        }
        u->valid = true;
    }
    return u;
}

static const char *sq_rows_text(struct pay_rows *r_, int col)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    if (!col_ok(r, col)) {
        return NULL;
    }
    struct sq_unpacked *u = unpacked(r, col);
    if (u != NULL) {
        return u->buf;
    }
    return (const char *)sqlite3_column_text(r->st, col);
}

static size_t sq_rows_len(struct pay_rows *r_, int col)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    if (!col_ok(r, col)) {
        return 0;
    }
    struct sq_unpacked *u = unpacked(r, col);
    if (u != NULL) {
        return u->len;
    }
    /* sqlite3_column_bytes after sqlite3_column_text gives the text's length. */
    (void)sqlite3_column_text(r->st, col);
    return (size_t)sqlite3_column_bytes(r->st, col);
}

static int64_t sq_rows_int(struct pay_rows *r_, int col)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    if (!col_ok(r, col)) {
        return 0;
    }
    return sqlite3_column_int64(r->st, col);
}

static bool sq_rows_null(struct pay_rows *r_, int col)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    if (!col_ok(r, col)) {
        return true;
    }
    return sqlite3_column_type(r->st, col) == SQLITE_NULL;
}

static int sq_rows_columns(struct pay_rows *r_)
{
    return sqlite3_column_count(((struct sq_rows *)r_)->st);
}

static const char *sq_rows_name(struct pay_rows *r_, int col)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    return col >= 0 && col < sqlite3_column_count(r->st) ? sqlite3_column_name(r->st, col) : NULL;
}

static void sq_rows_free(struct pay_rows *r_)
{
    struct sq_rows *r = (struct sq_rows *)r_;
    stmt_put(r->st, r->entry);
    for (int i = 0; i < r->n_un; i++) {
        free(r->un[i].buf);
    }
    pay_mem_free(r->un);
    pay_mem_free(r);
}

static enum pay_err sq_exec_script(struct pay_tx *tx_, const char *sql)
{
    struct sq_tx *tx = (struct sq_tx *)tx_;
    return plain_exec(tx->conn->db, sql);
}

/* ------------------------------------------------------------------ */
/* Checkpoints                                                          */
/* ------------------------------------------------------------------ */

/* The writer's WAL hook, after each COMMIT: @frames are in the WAL now. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sq_store *s = arg;
    if (frames < CKPT_FRAMES) {
        s->inline_ckpt_at = CKPT_INLINE_FRAMES;
        return SQLITE_OK;
    }
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->ckmu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckcv);
        pthread_mutex_unlock(&s->ckmu);
    }
    if (!s->ckpt_started || frames >= s->inline_ckpt_at) {
        int log = 0, done = 0;
        /* After the thread's pass, if one is running, little is left to copy. */
        pthread_mutex_lock(&s->ckpt_run_mu);
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        pthread_mutex_unlock(&s->ckpt_run_mu);
        if (rc == SQLITE_OK && done > 0) {
            atomic_fetch_add(&s->ckpt_writer_runs, 1);
        }
        if (rc == SQLITE_OK && log > 0 && done < log) {
            /* Readers hold old frames: try again after another stretch. */
            s->inline_ckpt_at = frames + CKPT_INLINE_FRAMES;
        }
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->ckmu);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stopping) {
            pthread_cond_wait(&s->ckcv, &s->ckmu);
        }
        if (s->ckpt_stopping) {
            break;
        }
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckmu);
        int log = 0, done = 0;
        pthread_mutex_lock(&s->ckpt_run_mu);
        int rc =
            sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        pthread_mutex_unlock(&s->ckpt_run_mu);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            pay_logf(PAY_LOG_WARN, NULL, "sqlite: checkpoint failed: %s",
                     sqlite3_errmsg(s->ckpt_db));
        }
        if (rc == SQLITE_OK && done > 0) {
            atomic_fetch_add(&s->ckpt_thread_runs, 1);
        }
        pthread_mutex_lock(&s->ckmu);
    }
    pthread_mutex_unlock(&s->ckmu);
    return NULL;
}

/* Start the checkpointer; without it the writer's hook checkpoints inline. */
static void ckpt_start(struct sq_store *s)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path, &s->ckpt_db, flags, NULL) != SQLITE_OK) {
        pay_logf(PAY_LOG_WARN, NULL, "sqlite: no checkpointer connection; the writer checkpoints");
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    sqlite3_busy_timeout(s->ckpt_db, BUSY_TIMEOUT_MS);
    /* Its own hook must not checkpoint: it never commits, but be sure. */
    sqlite3_wal_autocheckpoint(s->ckpt_db, 0);
    /* A connection finds the WAL when it first reads the file; until then
     * its checkpoints do nothing and say so only by a log of -1 frames
     * (which left every checkpoint to the writer before round 7). */
    if (sqlite3_exec(s->ckpt_db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK) {
        pay_logf(PAY_LOG_WARN, NULL,
                 "sqlite: the checkpointer cannot read %s (%s); the writer "
                 "checkpoints",
                 s->path, sqlite3_errmsg(s->ckpt_db));
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    s->ckpt_started = true;
}

/* Raise a thread's stop flag (read under @mu, waited on through @cv) and join it. */
static void thread_stop(pthread_mutex_t *mu, pthread_cond_t *cv, bool *stop, pthread_t thread)
{
    pthread_mutex_lock(mu);
    *stop = true;
    pthread_cond_signal(cv);
    pthread_mutex_unlock(mu);
    pthread_join(thread, NULL);
}

static void ckpt_stop(struct sq_store *s)
{
    if (s->ckpt_started) {
        thread_stop(&s->ckmu, &s->ckcv, &s->ckpt_stopping, s->ckpt_thread);
        s->ckpt_started = false;
    }
    if (s->ckpt_db != NULL) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */
/* ------------------------------------------------------------------ */

static enum pay_err conn_open(struct sq_store *s, bool writer, struct sq_conn *c,
                              struct pay_error *err)
{
    memset(c, 0, sizeof(*c));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    /* The writer's WAL writes go out 64 KiB at a time (walbuf.c). */
    const char *vfs = writer ? pay_walbuf_vfs() : NULL;
    int rc = sqlite3_open_v2(s->path, &c->db, flags, vfs);
    if (rc != SQLITE_OK) {
        enum pay_err e =
            pay_error_set(err, PAY_ERR_UNAVAILABLE, "db", "Cannot open SQLite database %s: %s",
                          s->path, c->db != NULL ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return e;
    }
    c->pack = pay_pack_new();
    if (c->pack == NULL) {
        conn_close(c);
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    enum pay_err e;
    if (writer) {
        /* temp_store=MEMORY keeps the statement journal of each job's
         * SAVEPOINT in memory (see mem_malloc). The cache (16 MiB at most)
         * holds a batch's dirty pages so they are not spilled to the WAL
         * before COMMIT and written again. The COMMIT syncs nothing: the
         * syncer thread syncs the WAL before anyone is answered. With
         * walbuf.c that is synchronous=FULL, whose commit sync only writes
         * the gathered WAL writes out (checkpoint_fullfsync keeps the WAL
         * header's and checkpoints' syncs real); without it, NORMAL. */
        e = plain_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
                              " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384");
        if (e == PAY_OK) {
            e = plain_exec(c->db, vfs != NULL ? "PRAGMA synchronous=FULL;"
                                                " PRAGMA checkpoint_fullfsync=ON"
                                              : "PRAGMA synchronous=NORMAL");
        }
        if (e == PAY_OK) {
            /* journal_mode answers the mode it got: a file that cannot do WAL is refused. */
            sqlite3_stmt *st = NULL;
            if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK ||
                sqlite3_step(st) != SQLITE_ROW ||
                strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
                e = PAY_ERR_DB;
            }
            sqlite3_finalize(st);
        }
        if (e == PAY_OK) {
            /* Replaces SQLite's own auto-checkpoint (see Checkpoints). */
            s->inline_ckpt_at = CKPT_INLINE_FRAMES;
            sqlite3_wal_hook(c->db, wal_hook, s);
        }
    } else {
        /* 1 MiB of pages each (SQLite's default is 2): up to PAY_DB_POOL_MAX
         * readers filled theirs on a 10 M-payment database and took payd's
         * peak RSS to 73 MB; the kernel's page cache holds the rest. At
         * 1 MiB: 57 MB, and as many reads a second (bench/RESULTS.md, round 8). */
        e = plain_exec(c->db,
                       "PRAGMA foreign_keys=ON; PRAGMA query_only=1; PRAGMA cache_size=-1024");
    }
    if (e != PAY_OK) {
        conn_close(c);
        return pay_error_set(err, e, "db", "Cannot set up SQLite database %s.", s->path);
    }
    return PAY_OK;
}

static enum pay_err reader_get(struct sq_store *s, struct sq_conn **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->pmu);
    for (;;) {
        if (s->n_idle > 0) {
            *out = s->idle[--s->n_idle];
            break;
        }
        if (s->n_readers + s->n_opening < PAY_DB_POOL_MAX) {
            s->n_opening++;
            pthread_mutex_unlock(&s->pmu);
            struct sq_conn *c = calloc(1, sizeof(*c));
            enum pay_err rc = c == NULL ? PAY_ERR_NOMEM : conn_open(s, false, c, NULL);
            pthread_mutex_lock(&s->pmu);
            s->n_opening--;
            if (rc != PAY_OK) {
                free(c);
                pthread_cond_signal(&s->pcv);
                pthread_mutex_unlock(&s->pmu);
                return rc;
            }
            s->readers[s->n_readers++] = c;
            *out = c;
            break;
        }
        pthread_cond_wait(&s->pcv, &s->pmu);
    }
    s->in_use++;
    pthread_mutex_unlock(&s->pmu);
    return PAY_OK;
}

static void reader_put(struct sq_store *s, struct sq_conn *c)
{
    pthread_mutex_lock(&s->pmu);
    s->idle[s->n_idle++] = c;
    s->in_use--;
    pthread_cond_broadcast(&s->pcv);
    pthread_mutex_unlock(&s->pmu);
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */
/* ------------------------------------------------------------------ */

static enum pay_err sq_read(struct pay_store *s_, pay_tx_fn fn, void *arg)
{
    struct sq_store *s = (struct sq_store *)s_;
    struct sq_conn *c = NULL;
    enum pay_err rc = reader_get(s, &c);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = ctl(c, "BEGIN");
    if (rc == PAY_OK) {
        struct sq_tx tx;
        pay_tx_begin_cb(&tx.base, s_, false);
        tx.conn = c;
        bool keep;
        rc = pay_tx_outcome(&tx.base, fn(&tx.base, arg), &keep);
        pay_tx_end_cb(&tx.base);
        if (!sqlite3_get_autocommit(c->db) && ctl(c, "COMMIT") != PAY_OK) {
            (void)plain_exec(c->db, "ROLLBACK");
        }
    }
    reader_put(s, c);
    wait_synced(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writes: the writer thread                                            */
/* ------------------------------------------------------------------ */

/*
 * A value kept with an undo epoch (a fraud rule's mark) belongs to one
 * store's data. Epochs are drawn from one counter for the whole process,
 * so no two stores (a closed one and the next opened at its address
 * included) ever share one, and a kept value is never taken for another
 * database's.
 */
static _Atomic uint64_t undo_epochs;

static void new_epoch(struct sq_store *s)
{
    atomic_store(&s->undo_epoch, atomic_fetch_add(&undo_epochs, 1) + 1);
}

/*
 * How a batch's jobs are kept apart. A job that fails must leave no trace
 * while its neighbours in the batch commit. With a SAVEPOINT per job
 * ("careful") SQLite keeps a copy of every page a job first touches, so
 * that ROLLBACK TO can undo it alone: about a tenth of a payment's work
 * (bench/RESULTS.md, round 9). Most jobs succeed, and most that fail do so
 * before they write (a bad parameter, a replayed key), so a batch runs
 * first without savepoints ("fast"). A job that fails after it wrote
 * (sqlite3_total_changes moved) is undone by rolling the transaction back
 * when nothing before it wrote; else it sends the whole batch back to run
 * again, carefully, where its savepoint undoes it alone, and the next
 * CAREFUL_BATCHES batches run carefully too, so a stream of such failures
 * costs no more than savepoints always did.
 */
#define CAREFUL_BATCHES 64

enum job_end {
    JOB_DONE,            /* its result stands (for now: the batch may yet run again) */
    JOB_ENDED_TX,        /* it ended the whole transaction; its result is final */
    JOB_NEEDS_SAVEPOINT, /* fast: it failed after writing; run the batch carefully */
};

/* Run one job in the open transaction, in a savepoint of its own when
 * @careful; @changes is sqlite3_total_changes64 before it. */
static enum job_end run_job(struct sq_store *s, struct sq_job *j, bool careful,
                            sqlite3_int64 changes)
{
    sqlite3 *db = s->writer.db;
    enum pay_err rc = careful ? ctl(&s->writer, "SAVEPOINT pay_job") : PAY_OK;
    if (rc != PAY_OK) {
        j->result = rc;
        return sqlite3_get_autocommit(db) ? JOB_ENDED_TX : JOB_DONE;
    }
    struct sq_tx tx;
    pay_tx_begin_cb(&tx.base, &s->base, true);
    tx.conn = &s->writer;
    enum pay_err fn_rc = j->fn(&tx.base, j->arg);
    pay_tx_end_cb(&tx.base);
    if (sqlite3_get_autocommit(db)) {
        pay_logf(PAY_LOG_ERROR, NULL, "sqlite: a write aborted its whole transaction");
        j->result = fn_rc != PAY_OK ? fn_rc : tx.base.failed ? tx.base.fail_code : PAY_ERR_DB;
        return JOB_ENDED_TX;
    }
    bool keep;
    j->result = pay_tx_outcome(&tx.base, fn_rc, &keep);
    if (!careful) {
        /* A failed statement undid itself (SQLite's statement journal); a
         * job that failed before any write that stayed has nothing to undo. */
        return keep || sqlite3_total_changes64(db) == changes ? JOB_DONE : JOB_NEEDS_SAVEPOINT;
    }
    if (!keep) {
        new_epoch(s);
    }
    rc = keep ? PAY_OK : ctl(&s->writer, "ROLLBACK TO pay_job");
    if (rc == PAY_OK) {
        rc = ctl(&s->writer, "RELEASE pay_job");
    }
    if (rc != PAY_OK) {
        /* The job's writes cannot be separated from the others': drop them all. */
        if (!sqlite3_get_autocommit(db)) {
            (void)plain_exec(db, "ROLLBACK");
        }
        if (j->result == PAY_OK) {
            j->result = rc;
        }
        return JOB_ENDED_TX;
    }
    return JOB_DONE;
}

static void run_batch(struct sq_store *s, struct sq_job **jobs, size_t n)
{
    sqlite3 *db = s->writer.db;
    for (size_t i = 0; i < n; i++) {
        jobs[i]->final = false;
        jobs[i]->result = PAY_OK;
    }
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++) {
            pending += !jobs[i]->final;
        }
        if (pending == 0) {
            return;
        }
        enum pay_err rc = ctl(&s->writer, "BEGIN IMMEDIATE");
        if (rc != PAY_OK) {
            for (size_t i = 0; i < n; i++) {
                if (!jobs[i]->final) {
                    jobs[i]->result = rc;
                    jobs[i]->final = true;
                }
            }
            return;
        }
        bool careful = s->careful_batches > 0;
        sqlite3_int64 begun = sqlite3_total_changes64(db);
        bool aborted = false;
        for (size_t i = 0; i < n && !aborted; i++) {
            if (jobs[i]->final) {
                continue;
            }
            sqlite3_int64 before = sqlite3_total_changes64(db);
            enum job_end end = run_job(s, jobs[i], careful, before);
            if (end == JOB_ENDED_TX) {
                /* This job is done; the ones before it lost their work and run again. */
                jobs[i]->final = true;
                aborted = true;
            } else if (end == JOB_NEEDS_SAVEPOINT && before == begun) {
                /* Nothing before it wrote: rolling back undoes this job alone,
                 * and the ones before it (each ran once, wrote nothing) stand. */
                for (size_t k = 0; k <= i; k++) {
                    jobs[k]->final = true;
                }
                aborted = true;
            } else if (end == JOB_NEEDS_SAVEPOINT) {
                /* Every job runs again, this one in a savepoint that undoes it alone. */
                s->careful_batches = CAREFUL_BATCHES + 1;
                aborted = true;
            }
        }
        if (aborted) {
            new_epoch(s);
            if (!sqlite3_get_autocommit(db)) {
                (void)plain_exec(db, "ROLLBACK");
            }
            continue;
        }
        if (careful) {
            s->careful_batches--;
        }
        /* Before COMMIT makes the batch visible to readers (see Durability). */
        atomic_fetch_add(&s->commit_begun, 1);
        rc = ctl(&s->writer, "COMMIT");
        if (rc != PAY_OK) {
            new_epoch(s);
            if (!sqlite3_get_autocommit(db)) {
                (void)plain_exec(db, "ROLLBACK");
            }
        } else {
            s->commits++; /* only the writer thread writes it; read under qmu */
        }
        for (size_t i = 0; i < n; i++) {
            if (!jobs[i]->final) {
                if (rc != PAY_OK) {
                    jobs[i]->result = PAY_ERR_DB;
                }
                jobs[i]->final = true;
            }
        }
        return;
    }
}

static void *writer_main(void *arg)
{
    struct sq_store *s = arg;
    struct sq_job *batch[WRITE_BATCH_MAX];
    pay_mem_pool_start();
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (s->qhead == NULL && !s->stopping) {
            pthread_cond_wait(&s->qcv, &s->qmu);
        }
        if (s->qhead == NULL) {
            pthread_mutex_unlock(&s->qmu);
            break;
        }
        size_t n = 0;
        while (s->qhead != NULL && n < WRITE_BATCH_MAX) {
            batch[n++] = s->qhead;
            s->qhead = s->qhead->next;
        }
        if (s->qhead == NULL) {
            s->qtail = NULL;
        }
        s->qlen -= n;
        pthread_mutex_unlock(&s->qmu);

        run_batch(s, batch, n);

        /* The waiters are woken by the syncer, once the batch is on disk. */
        for (size_t i = 0; i < n; i++) {
            batch[i]->next = i + 1 < n ? batch[i + 1] : NULL;
        }
        pthread_mutex_lock(&s->smu);
        s->commit_done = atomic_load(&s->commit_begun);
        if (s->stail != NULL) {
            s->stail->next = batch[0];
        } else {
            s->shead = batch[0];
        }
        s->stail = batch[n - 1];
        pthread_cond_signal(&s->scv);
        pthread_mutex_unlock(&s->smu);
    }
    pay_mem_pool_stop();
    return NULL;
}

/* A WAL that cannot be synced: nothing more can be promised durable. */
static _Noreturn void wal_sync_failed(const char *what, const char *path)
{
    pay_logf(PAY_LOG_ERROR, NULL, "sqlite: cannot %s %s (%s); stopping: writes could be lost", what,
             path, strerror(errno));
    abort();
}

/*
 * fdatasync the WAL file: every frame written before it is on disk. The
 * file is opened on first use (SQLite creates it with the first write; no
 * file yet means nothing to sync), its directory entry synced once, and
 * opened again should it ever be another file than the one held.
 */
static void wal_sync(struct sq_store *s)
{
    struct stat now, held;
    if (s->wal_fd >= 0 && (stat(s->wal_path, &now) != 0 || fstat(s->wal_fd, &held) != 0 ||
                           now.st_ino != held.st_ino || now.st_dev != held.st_dev)) {
        close(s->wal_fd);
        s->wal_fd = -1;
    }
    if (s->wal_fd < 0) {
        s->wal_fd = open(s->wal_path, O_RDWR | O_CLOEXEC);
        if (s->wal_fd < 0) {
            if (errno == ENOENT) {
                return;
            }
            wal_sync_failed("open", s->wal_path);
        }
        char *copy = strdup(s->wal_path);
        int dir = copy != NULL ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dir < 0 || fsync(dir) != 0) {
            wal_sync_failed("sync the directory of", s->wal_path);
        }
        close(dir);
        free(copy);
    }
    if (fdatasync(s->wal_fd) != 0) {
        wal_sync_failed("sync", s->wal_path);
    }
}

static void *sync_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_mutex_lock(&s->smu);
    for (;;) {
        while (s->shead == NULL && atomic_load(&s->synced) == s->commit_done && !s->sync_stopping) {
            pthread_cond_wait(&s->scv, &s->smu);
        }
        if (s->shead == NULL && atomic_load(&s->synced) == s->commit_done) {
            break; /* stopping, and nothing is left */
        }
        struct sq_job *j = s->shead;
        s->shead = s->stail = NULL;
        uint64_t target = s->commit_done;
        pthread_mutex_unlock(&s->smu);

        /* A batch that committed nothing (it failed) needs no sync of its own. */
        bool sync = target != atomic_load(&s->synced);
        if (sync) {
            wal_sync(s);
        }

        pthread_mutex_lock(&s->smu);
        atomic_store(&s->synced, target);
        pthread_cond_broadcast(&s->rcv);
        pthread_mutex_unlock(&s->smu);

        uint64_t n = 0;
        for (const struct sq_job *k = j; k != NULL; k = k->next) {
            n++;
        }
        pthread_mutex_lock(&s->qmu);
        s->wal_syncs += sync;
        s->writes += n;
        pthread_mutex_unlock(&s->qmu);
        while (j != NULL) {
            struct sq_job *next = j->next; /* j is gone once its waiter wakes */
            sem_post(&j->done);
            j = next;
        }
        pthread_mutex_lock(&s->smu);
    }
    pthread_mutex_unlock(&s->smu);
    return NULL;
}

/* A read may have seen commits up to commit_begun: wait until they are synced. */
static void wait_synced(struct sq_store *s)
{
    uint64_t seen = atomic_load(&s->commit_begun);
    if (atomic_load(&s->synced) >= seen) {
        return;
    }
    pthread_mutex_lock(&s->smu);
    s->sync_waiters++; /* its pool connection is back: close counts it here */
    while (atomic_load(&s->synced) < seen) {
        pthread_cond_wait(&s->rcv, &s->smu);
    }
    if (--s->sync_waiters == 0) {
        pthread_cond_broadcast(&s->rcv);
    }
    pthread_mutex_unlock(&s->smu);
}

static enum pay_err sq_write(struct pay_store *s_, pay_tx_fn fn, void *arg)
{
    struct sq_store *s = (struct sq_store *)s_;
    struct sq_job j = {.fn = fn, .arg = arg};
    if (sem_init(&j.done, 0, 0) != 0) {
        return PAY_ERR_INTERNAL;
    }
    pthread_mutex_lock(&s->qmu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->qmu);
        sem_destroy(&j.done);
        return PAY_ERR_UNAVAILABLE;
    }
    if (s->qtail != NULL) {
        s->qtail->next = &j;
    } else {
        s->qhead = &j;
    }
    s->qtail = &j;
    s->qlen++;
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    while (sem_wait(&j.done) != 0) {
        PAY_ASSERT(errno == EINTR);
    }
    sem_destroy(&j.done);
    return j.result;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */
/* ------------------------------------------------------------------ */

/* mkdir -p of the directory part of @path. */
static enum pay_err make_parent_dirs(const char *path, struct pay_error *err)
{
    char *dir = strdup(path);
    if (dir == NULL) {
        return PAY_ERR_NOMEM;
    }
    char *slash = strrchr(dir, '/');
    enum pay_err rc = PAY_OK;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == PAY_OK; p++) {
            if (*p != '/' && *p != '\0') {
                continue;
            }
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
                rc = pay_error_set(err, PAY_ERR_IO, "db", "Cannot create directory %s: %s", dir,
                                   strerror(errno));
            }
            *p = saved;
            if (saved == '\0') {
                break;
            }
        }
    }
    free(dir);
    return rc;
}

static void remove_tmpdir(struct sq_store *s)
{
    if (s->tmpdir == NULL) {
        return;
    }
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s%s", s->path, suffixes[i]);
        unlink(p);
    }
    rmdir(s->tmpdir);
}

static void sq_close(struct pay_store *s_)
{
    struct sq_store *s = (struct sq_store *)s_;
    if (s->thread_started) {
        thread_stop(&s->qmu, &s->qcv, &s->stopping, s->thread);
    }
    if (s->sync_started) {
        /* After the writer: it drains what the writer handed over. */
        thread_stop(&s->smu, &s->scv, &s->sync_stopping, s->sync_thread);
        /* Every commit is synced now: readers still waiting are on their way out. */
        pthread_mutex_lock(&s->smu);
        while (s->sync_waiters > 0) {
            pthread_cond_wait(&s->rcv, &s->smu);
        }
        pthread_mutex_unlock(&s->smu);
    }
    if (s->wal_fd >= 0) {
        close(s->wal_fd);
    }
    free(s->wal_path);
    ckpt_stop(s);
    pthread_mutex_lock(&s->pmu);
    while (s->in_use > 0 || s->n_opening > 0) {
        pthread_cond_wait(&s->pcv, &s->pmu);
    }
    pthread_mutex_unlock(&s->pmu);
    for (int i = 0; i < s->n_readers; i++) {
        conn_close(s->readers[i]);
        free(s->readers[i]);
    }
    conn_close(&s->writer);
    remove_tmpdir(s);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    pthread_mutex_destroy(&s->pmu);
    pthread_cond_destroy(&s->pcv);
    pthread_mutex_destroy(&s->ckmu);
    pthread_mutex_destroy(&s->ckpt_run_mu);
    pthread_cond_destroy(&s->ckcv);
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->scv);
    pthread_cond_destroy(&s->rcv);
    free(s->tmpdir);
    free(s->path);
    free(s);
}

static uint64_t sq_undo_epoch(struct pay_store *s_)
{
    struct sq_store *s = (struct sq_store *)s_;
    return atomic_load(&s->undo_epoch);
}

static void sq_stats(struct pay_store *s_, struct pay_store_stats *out)
{
    struct sq_store *s = (struct sq_store *)s_;
    pthread_mutex_lock(&s->qmu);
    out->writes = s->writes;
    out->commits = s->commits;
    out->wal_syncs = s->wal_syncs;
    out->checkpoints = atomic_load(&s->ckpt_thread_runs);
    out->writer_checkpoints = atomic_load(&s->ckpt_writer_runs);
    out->write_queue = s->qlen;
    pthread_mutex_unlock(&s->qmu);
    pthread_mutex_lock(&s->pmu);
    out->pool_open = s->n_readers;
    out->pool_in_use = s->in_use;
    pthread_mutex_unlock(&s->pmu);
}

enum pay_err pay_sqlite_open(const char *path, struct pay_store **out, struct pay_error *err)
{
    *out = NULL;
    pthread_once(&config_once, configure_sqlite);
    if (!sqlite3_threadsafe()) {
        return pay_error_set(err, PAY_ERR_CONFIG, "db", "SQLite was built without threads.");
    }
    struct sq_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return PAY_ERR_NOMEM;
    }
    s->base.ops = &sqlite_ops;
    new_epoch(s);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_cond_init(&s->pcv, NULL);
    pthread_mutex_init(&s->ckmu, NULL);
    pthread_mutex_init(&s->ckpt_run_mu, NULL);
    pthread_cond_init(&s->ckcv, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_cond_init(&s->scv, NULL);
    pthread_cond_init(&s->rcv, NULL);
    s->wal_fd = -1;

    enum pay_err rc = PAY_OK;
    if (strcmp(path, ":memory:") == 0) {
        /* Readers need their own connections to the same data: use a private temp file. */
        const char *tmp = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof(tmpl), "%s/payd-mem-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(tmpl) == NULL) {
            rc = pay_error_set(err, PAY_ERR_IO, "db", "Cannot create a temporary directory: %s",
                               strerror(errno));
            goto out_free;
        }
        s->tmpdir = strdup(tmpl);
        size_t len = strlen(tmpl) + sizeof("/mem.db");
        s->path = malloc(len);
        if (s->tmpdir == NULL || s->path == NULL) {
            rc = PAY_ERR_NOMEM;
            goto out_free;
        }
        snprintf(s->path, len, "%s/mem.db", tmpl);
    } else {
        s->path = strdup(path);
        if (s->path == NULL) {
            rc = PAY_ERR_NOMEM;
            goto out_free;
        }
        rc = make_parent_dirs(path, err);
        if (rc != PAY_OK) {
            goto out_free;
        }
    }
    rc = conn_open(s, true, &s->writer, err);
    if (rc != PAY_OK) {
        goto out_free;
    }
    const char *wal = sqlite3_filename_wal(sqlite3_db_filename(s->writer.db, "main"));
    s->wal_path = wal != NULL ? strdup(wal) : NULL;
    if (s->wal_path == NULL) {
        rc = pay_error_set(err, PAY_ERR_INTERNAL, "db", "No WAL file name for %s.", s->path);
        goto out_free;
    }
    ckpt_start(s);
    if (pthread_create(&s->sync_thread, NULL, sync_main, s) != 0) {
        rc = pay_error_set(err, PAY_ERR_INTERNAL, NULL, "Cannot start the syncer thread.");
        goto out_free;
    }
    s->sync_started = true;
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        rc = pay_error_set(err, PAY_ERR_INTERNAL, NULL, "Cannot start the writer thread.");
        goto out_free;
    }
    s->thread_started = true;
    *out = &s->base;
    return PAY_OK;

out_free:
    sq_close(&s->base);
    return rc;
}

static const struct pay_store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sq_close,
    .write = sq_write,
    .read = sq_read,
    .exec = sq_exec,
    .query = sq_query,
    .rows_next = sq_rows_next,
    .rows_text = sq_rows_text,
    .rows_len = sq_rows_len,
    .rows_int = sq_rows_int,
    .rows_null = sq_rows_null,
    .rows_columns = sq_rows_columns,
    .rows_name = sq_rows_name,
    .rows_free = sq_rows_free,
    .exec_script = sq_exec_script,
    .stats = sq_stats,
    .undo_epoch = sq_undo_epoch,
};

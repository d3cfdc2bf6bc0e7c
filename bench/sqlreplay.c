/*
 * sqlreplay.c - what the SQL of a payd workload costs alone: no HTTP, no
 * JSON, no compression, no rules, one thread.
 *
 * Built with -DRECORD it is an LD_PRELOAD shim: it writes every statement
 * that the store's writer connection (the one that runs BEGIN IMMEDIATE)
 * steps, with the values bound to it, to $SQLREPLAY (default
 * /tmp/sqlreplay.bin). Built without, it is a program that runs such a
 * record against a copy of the database it started from, each statement
 * prepared once and stepped to its end, and prints the thread's CPU time
 * per payment (one per INSERT INTO payment_intents). For profiling only
 * (bench/RESULTS.md, round 14):
 *
 *   cc -shared -fPIC -O2 -DRECORD -o /tmp/sqlrecord.so bench/sqlreplay.c -ldl -lpthread
 *   cc -O2 -o /tmp/sqlreplay bench/sqlreplay.c -lsqlite3
 *   cp payd.db base.db    # payd stopped; then serve on payd.db under the shim
 *   LD_PRELOAD=/tmp/sqlrecord.so SQLREPLAY=/tmp/r.bin payd serve --db sqlite:payd.db ...
 *   /tmp/sqlreplay base.db /tmp/r.bin   # base.db is changed: use a copy
 *   SQLREPLAY_EACH=1 /tmp/sqlreplay ... # also each statement's share (slower)
 *
 * The replay opens the database as payd's writer does (WAL, a 16 MiB cache,
 * foreign keys on, temporary tables in memory) with synchronous=NORMAL: a
 * commit writes the WAL and syncs nothing, as payd's writer leaves the sync
 * to another thread.
 *
 * Record format, one after another: u32 tag (the statement's number; with
 * the top bit set, a new statement whose u32 length and text follow), u16
 * count of values, then each: u8 kind (0 null, 1 int64, 2 text, 3 blob),
 * int64 or u32 length and bytes.
 */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARAMS 64
#define MAX_STMTS 1024
#define NEW_SQL 0x80000000u

enum { V_NULL, V_INT, V_TEXT, V_BLOB };

#ifdef RECORD
#include <dlfcn.h>
#include <pthread.h>

struct value {
    int kind;
    int64_t i;
    void *p;
    uint32_t len;
};

/* The values bound to one statement since its last step. */
struct bound {
    sqlite3_stmt *st;
    struct value v[MAX_PARAMS];
    int n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *out;
static sqlite3 *writer;
static struct bound bound[MAX_STMTS];
static const char *known[MAX_STMTS];
static uint32_t nknown;

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        abort();
    }
    return f;
}

static struct bound *bound_of(sqlite3_stmt *st)
{
    struct bound *free_slot = NULL;
    for (int i = 0; i < MAX_STMTS; i++) {
        if (bound[i].st == st) {
            return &bound[i];
        }
        if (bound[i].st == NULL && free_slot == NULL) {
            free_slot = &bound[i];
        }
    }
    if (free_slot != NULL) {
        free_slot->st = st;
    }
    return free_slot;
}

static void keep(sqlite3_stmt *st, int idx, int kind, int64_t i, const void *p, uint32_t len)
{
    pthread_mutex_lock(&mu);
    struct bound *b = bound_of(st);
    if (b != NULL && idx >= 1 && idx <= MAX_PARAMS) {
        struct value *v = &b->v[idx - 1];
        free(v->p);
        *v = (struct value){.kind = kind, .i = i, .len = len};
        if (p != NULL) {
            v->p = malloc(len ? len : 1);
            memcpy(v->p, p, len);
        }
        if (idx > b->n) {
            b->n = idx;
        }
    }
    pthread_mutex_unlock(&mu);
}

int sqlite3_bind_int64(sqlite3_stmt *st, int idx, sqlite3_int64 i)
{
    static int (*f)(sqlite3_stmt *, int, sqlite3_int64);
    if (f == NULL) {
        f = real("sqlite3_bind_int64");
    }
    keep(st, idx, V_INT, i, NULL, 0);
    return f(st, idx, i);
}

int sqlite3_bind_null(sqlite3_stmt *st, int idx)
{
    static int (*f)(sqlite3_stmt *, int);
    if (f == NULL) {
        f = real("sqlite3_bind_null");
    }
    keep(st, idx, V_NULL, 0, NULL, 0);
    return f(st, idx);
}

int sqlite3_bind_text64(sqlite3_stmt *st, int idx, const char *s, sqlite3_uint64 n,
                        void (*d)(void *), unsigned char enc)
{
    static int (*f)(sqlite3_stmt *, int, const char *, sqlite3_uint64, void (*)(void *),
                    unsigned char);
    if (f == NULL) {
        f = real("sqlite3_bind_text64");
    }
    keep(st, idx, V_TEXT, 0, s, (uint32_t)n);
    return f(st, idx, s, n, d, enc);
}

int sqlite3_bind_blob64(sqlite3_stmt *st, int idx, const void *p, sqlite3_uint64 n,
                        void (*d)(void *))
{
    static int (*f)(sqlite3_stmt *, int, const void *, sqlite3_uint64, void (*)(void *));
    if (f == NULL) {
        f = real("sqlite3_bind_blob64");
    }
    keep(st, idx, V_BLOB, 0, p, (uint32_t)n);
    return f(st, idx, p, n, d);
}

static void put(const void *p, size_t n)
{
    fwrite(p, 1, n, out);
}

int sqlite3_step(sqlite3_stmt *st)
{
    static int (*f)(sqlite3_stmt *);
    if (f == NULL) {
        f = real("sqlite3_step");
    }
    const char *sql = sqlite3_sql(st);
    sqlite3 *db = sqlite3_db_handle(st);
    pthread_mutex_lock(&mu);
    if (writer == NULL && sql != NULL && strcmp(sql, "BEGIN IMMEDIATE") == 0) {
        writer = db;
        const char *path = getenv("SQLREPLAY");
        out = fopen(path ? path : "/tmp/sqlreplay.bin", "w");
    }
    /* A statement stepped again before a reset (the next row) is not a new
     * execution: sqlite3_stmt_busy() tells which. */
    if (db == writer && out != NULL && sql != NULL && !sqlite3_stmt_busy(st)) {
        uint32_t tag = 0;
        while (tag < nknown && known[tag] != sql && strcmp(known[tag], sql) != 0) {
            tag++;
        }
        if (tag == nknown && nknown < MAX_STMTS) {
            known[nknown++] = strdup(sql);
            uint32_t t = tag | NEW_SQL, len = (uint32_t)strlen(sql);
            put(&t, 4);
            put(&len, 4);
            put(sql, len);
        } else {
            put(&tag, 4);
        }
        /* The statement's own count: a slot may hold values of a statement
         * finalized before at the same address. */
        struct bound *b = bound_of(st);
        int want = sqlite3_bind_parameter_count(st);
        uint16_t n = b != NULL && want <= b->n ? (uint16_t)want : 0;
        put(&n, 2);
        for (int i = 0; i < n; i++) {
            struct value *v = &b->v[i];
            unsigned char k = (unsigned char)v->kind;
            put(&k, 1);
            if (k == V_INT) {
                put(&v->i, 8);
            } else if (k != V_NULL) {
                put(&v->len, 4);
                put(v->p, v->len);
            }
        }
        fflush(out);
    }
    pthread_mutex_unlock(&mu);
    return f(st);
}

#else

struct step {
    uint32_t stmt;
    uint16_t n;
    const unsigned char *vals;
};

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "sqlreplay: %s: %s\n", what, db ? sqlite3_errmsg(db) : "bad record");
    exit(1);
}

static double thread_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sqlreplay DATABASE RECORD\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (f == NULL) {
        die("cannot open the record", NULL);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        die("cannot read the record", NULL);
    }
    fclose(f);

    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                     "PRAGMA cache_size=-16384; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        die("open", db);
    }

    /* Read every step first, so that the timed part is SQLite alone. */
    static sqlite3_stmt *stmts[MAX_STMTS];
    static const char *texts[MAX_STMTS];
    static double spent[MAX_STMTS];
    static long runs[MAX_STMTS];
    size_t cap = 1 << 16, nsteps = 0;
    struct step *steps = malloc(cap * sizeof(*steps));
    if (steps == NULL) {
        die("out of memory", NULL);
    }
    const unsigned char *p = buf, *end = buf + size;
    uint32_t nstmts = 0;
    while (p < end) {
        uint32_t tag;
        memcpy(&tag, p, 4);
        p += 4;
        if (tag & NEW_SQL) {
            uint32_t len;
            memcpy(&len, p, 4);
            p += 4;
            char *sql = strndup((const char *)p, len);
            p += len;
            tag &= ~NEW_SQL;
            if (tag != nstmts || tag >= MAX_STMTS) {
                die("statement numbers out of order", NULL);
            }
            if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmts[tag], NULL) !=
                SQLITE_OK) {
                die(sql, db);
            }
            texts[nstmts++] = sql;
        }
        if (tag >= nstmts) {
            die("unknown statement", NULL);
        }
        if (nsteps == cap) {
            cap *= 2;
            struct step *more = realloc(steps, cap * sizeof(*steps));
            if (more == NULL) {
                die("out of memory", NULL);
            }
            steps = more;
        }
        struct step *s = &steps[nsteps++];
        s->stmt = tag;
        memcpy(&s->n, p, 2);
        p += 2;
        s->vals = p;
        for (int i = 0; i < s->n; i++) {
            unsigned char k = *p++;
            if (k == V_INT) {
                p += 8;
            } else if (k != V_NULL) {
                uint32_t len;
                memcpy(&len, p, 4);
                p += 4 + len;
            }
        }
        if (p > end) {
            die("truncated record", NULL);
        }
    }

    /* Timing each statement costs two system calls a step: only asked. */
    int each = getenv("SQLREPLAY_EACH") != NULL;
    long payments = 0;
    double t0 = thread_us();
    for (size_t i = 0; i < nsteps; i++) {
        struct step *s = &steps[i];
        sqlite3_stmt *st = stmts[s->stmt];
        double a = each ? thread_us() : 0;
        const unsigned char *v = s->vals;
        for (int j = 0; j < s->n; j++) {
            unsigned char k = *v++;
            if (k == V_INT) {
                int64_t x;
                memcpy(&x, v, 8);
                v += 8;
                sqlite3_bind_int64(st, j + 1, x);
            } else if (k == V_NULL) {
                sqlite3_bind_null(st, j + 1);
            } else {
                uint32_t len;
                memcpy(&len, v, 4);
                v += 4;
                if (k == V_TEXT) {
                    sqlite3_bind_text64(st, j + 1, (const char *)v, len, SQLITE_STATIC,
                                        SQLITE_UTF8);
                } else {
                    sqlite3_bind_blob64(st, j + 1, v, len, SQLITE_STATIC);
                }
                v += len;
            }
        }
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) {
            die(texts[s->stmt], db);
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (each) {
            spent[s->stmt] += thread_us() - a;
        }
        runs[s->stmt]++;
        if (strncmp(texts[s->stmt], "INSERT INTO payment_intents ", 28) == 0) {
            payments++;
        }
    }
    double total = thread_us() - t0;
    if (payments == 0) {
        die("no payment in the record", NULL);
    }
    printf("%zu steps, %ld payments: %.1f us of CPU a payment\n", nsteps, payments,
           total / (double)payments);
    for (uint32_t i = 0; i < nstmts; i++) {
        printf("%8.2f us a payment %7ld  %.90s\n", each ? spent[i] / (double)payments : 0.0,
               runs[i], texts[i]);
    }
    sqlite3_close(db);
    return 0;
}
#endif

/*
 * store_int.h - private to src/store/: the back-end vtable and the base
 * structs every back end embeds as its first member.
 *
 * store.c owns everything both back ends share (URL dispatch, the retry
 * loop, the "a failed statement poisons its transaction" rule, convenience
 * queries, lists); sqlite.c and postgres.c only talk to their library.
 *
 * Rule shared by both back ends: once a statement fails inside a
 * transaction, every later statement of that transaction fails too and the
 * transaction rolls back (PostgreSQL behaves so natively; SQLite is made to
 * match), so code tested on one back end behaves the same on the other.
 * Use INSERT ... ON CONFLICT instead of catching PAY_ERR_DB_UNIQUE and
 * carrying on.
 */
#ifndef PAY_STORE_INT_H
#define PAY_STORE_INT_H

#include "store.h"

struct pay_store_ops {
    const char *kind; /* "sqlite" or "postgres" */
    void (*close)(struct pay_store *s);
    /* One attempt at a write transaction; the caller retries PAY_ERR_DB_RETRY. */
    enum pay_err (*write)(struct pay_store *s, pay_tx_fn fn, void *arg);
    enum pay_err (*read)(struct pay_store *s, pay_tx_fn fn, void *arg);
    enum pay_err (*exec)(struct pay_tx *tx, const char *sql, const struct pay_param *p, size_t n,
                         int64_t *changes_out);
    /* May be NULL: exec is used. Errors may come back from a later call. */
    enum pay_err (*exec_later)(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                               size_t n);
    /* May be NULL: writes are serial (pay_tx_serialize_on). @count_sql NULL:
     * unconditionally; else while its count is below @limit. */
    enum pay_err (*serialize_on)(struct pay_tx *tx, const char *key, const char *count_sql,
                                 const struct pay_param *p, size_t n, int64_t limit);
    /* Allocates *out (a back end struct embedding struct pay_rows). */
    enum pay_err (*query)(struct pay_tx *tx, const char *sql, const struct pay_param *p, size_t n,
                          struct pay_rows **out);
    /* Returns false at the end; sets r->err on failure. */
    bool (*rows_next)(struct pay_rows *r);
    const char *(*rows_text)(struct pay_rows *r, int col);
    size_t (*rows_len)(struct pay_rows *r, int col);
    int64_t (*rows_int)(struct pay_rows *r, int col);
    bool (*rows_null)(struct pay_rows *r, int col);
    int (*rows_columns)(struct pay_rows *r);
    const char *(*rows_name)(struct pay_rows *r, int col);
    /* Releases the back end's resources and frees @r. */
    void (*rows_free)(struct pay_rows *r);
    /* Run a multi-statement script without parameters (migrations). */
    enum pay_err (*exec_script)(struct pay_tx *tx, const char *sql);
    void (*stats)(struct pay_store *s, struct pay_store_stats *out);
    /* May be NULL: pay_tx_undo_epoch says false. */
    uint64_t (*undo_epoch)(struct pay_store *s);
};

struct pay_store {
    const struct pay_store_ops *ops;
    _Atomic uint64_t retries; /* see pay_store_stats */
};

struct pay_tx {
    struct pay_store *store;
    bool write;
    bool commit_anyway;
    /* A statement failed: the transaction is poisoned (see the file comment). */
    bool failed;
    enum pay_err fail_code;
    /* Rows still open, closed for the callback when it returns. */
    struct pay_rows *open_rows;
};

struct pay_rows {
    struct pay_tx *tx;
    struct pay_rows *next_open, *prev_open;
    enum pay_err err; /* first error met while stepping */
};

/* Back end constructors; @spec is the URL without its scheme prefix for sqlite. */
enum pay_err pay_sqlite_open(const char *path, struct pay_store **out, struct pay_error *err);
enum pay_err pay_pg_open(const char *url, struct pay_store **out, struct pay_error *err);

/* Back ends call these around each callback. */
void pay_tx_begin_cb(struct pay_tx *tx, struct pay_store *s, bool write);
/* Close rows the callback left open (a caller bug, logged). */
void pay_tx_end_cb(struct pay_tx *tx);
/* Link a freshly opened rows object to its tx. */
void pay_rows_link(struct pay_tx *tx, struct pay_rows *r);
/* Record a statement failure in @tx (first code wins); returns @e. */
enum pay_err pay_tx_fail(struct pay_tx *tx, enum pay_err e);

/*
 * Decide the outcome of a write callback that returned @rc: *keep_out is
 * true when the writes should commit. Returns the code to report.
 */
enum pay_err pay_tx_outcome(const struct pay_tx *tx, enum pay_err rc, bool *keep_out);

/*
 * Rewrite PostgreSQL-style SQL for SQLite: $N -> ?N outside literals,
 * identifiers and comments, and drop row-lock clauses (FOR UPDATE,
 * FOR UPDATE SKIP LOCKED, FOR UPDATE NOWAIT, FOR SHARE). Returns a malloc'd
 * string or NULL when out of memory.
 */
char *pay_sql_for_sqlite(const char *sql);

/*
 * walbuf.c: the VFS the SQLite writer connection opens its file with, which
 * gathers the writes of the WAL into writes of up to 64 KiB (see walbuf.c). Returns
 * its name, or NULL when it could not be registered (the default VFS is
 * used then, and the writer syncs as without it).
 */
#define PAY_WALBUF_VFS "payd-walbuf"
/* The most WAL bytes kept before they are written out (16 frames of 4 KiB):
 * the default VFS writes at most 128 KiB - 1 bytes a call. */
#define PAY_WALBUF_BYTES ((size_t)64 << 10)
const char *pay_walbuf_vfs(void);

/* Embedded migrations for @kind, sorted by number. */
struct pay_migration {
    int version;
    char name[64];
    const char *sql;
};
/* Fills @out (capacity @cap) and returns the count, or -1 on a bad file set. */
int pay_migrations_list(const char *kind, struct pay_migration *out, int cap);

/*
 * pack.c: JSON documents (PAY_PJSON) kept compressed on SQLite. A pay_pack
 * holds one connection's zstd contexts (made on first use).
 */
extern const char pay_json_dict_v1[];
extern const size_t pay_json_dict_v1_len;
struct pay_pack;
struct pay_pack *pay_pack_new(void);
void pay_pack_free(struct pay_pack *p);
/* A blob holding @s packed (from pay_mem_alloc: pay_mem_free or free() it),
 * or false (store the text) when packing would not make it smaller or fails. */
bool pay_pack_json(struct pay_pack *p, const char *s, size_t len, unsigned char **out,
                   size_t *out_len);
/* Whether a stored blob is a packed document. */
bool pay_pack_is_packed(const void *blob, size_t n);
/* Expands a packed blob into *buf (grown as needed, NUL-terminated; its
 * length in *len). False for a blob that is corrupt. */
bool pay_pack_expand(struct pay_pack *p, const void *blob, size_t n, char **buf, size_t *cap,
                     size_t *len);

#endif

/*
 * store.h - the one way into the database: a store opened from a URL
 * (sqlite:PATH or postgres://...), numbered migrations, and transactions
 * run as callbacks.
 *
 * SQL dialect: domain code writes one SQL text for both back ends, in the
 * subset PostgreSQL and SQLite share (INSERT ... ON CONFLICT, RETURNING,
 * BIGINT, TEXT), with $1..$n placeholders. The SQLite back end rewrites
 * $n to ?n and drops row-lock clauses (FOR UPDATE [SKIP LOCKED]), which it
 * does not need because its writes are serialised.
 *
 * Transactions: pay_store_write runs a callback inside one write
 * transaction and returns only after the commit is durable (SQLite: its
 * WAL frames fdatasync'd by the syncer thread, see sqlite.c; PostgreSQL's
 * commit). The callback may be run more than
 * once (after a serialization failure or deadlock on PostgreSQL), so it
 * must have no effect outside the transaction and its argument. On SQLite,
 * writes are serialised (BEGIN IMMEDIATE semantics); on PostgreSQL,
 * concurrent writers serialise on row locks (SELECT ... FOR UPDATE).
 *
 * Prepared statements are cached per connection, keyed by the SQL text, so
 * SQL may be built at run time (but never from client input: values are
 * always bound parameters).
 *
 * Threading: a store is shared by all threads; a pay_tx belongs to the one
 * callback it was handed to and must not outlive it.
 */
#ifndef PAY_STORE_H
#define PAY_STORE_H

#include "../core/core.h"

struct pay_store;
struct pay_tx;
struct pay_rows;

enum pay_param_type { PAY_P_NULL, PAY_P_INT, PAY_P_TEXT };

/* A bound parameter; text is borrowed for the duration of the call. */
struct pay_param {
    enum pay_param_type type;
    int64_t i;
    const char *s;
    size_t len;
    bool json; /* text that is a JSON document: see PAY_PJSON */
};

#define PAY_PNULL ((struct pay_param){.type = PAY_P_NULL})
#define PAY_PINT(v) ((struct pay_param){.type = PAY_P_INT, .i = (int64_t)(v)})
/* NULL text binds SQL NULL. */
#define PAY_PTEXT(v) pay_param_text(v)
#define PAY_PTEXTN(v, n) ((struct pay_param){.type = PAY_P_TEXT, .s = (v), .len = (n)})
struct pay_param pay_param_text(const char *s);
/*
 * A JSON document to store (an object's data, an event, a stored response):
 * PostgreSQL gets the text; SQLite keeps it compressed with payd's zstd
 * dictionary when that makes it smaller (a payment intent's ~1,100 bytes
 * become ~170). pay_rows_text reads it back as text either way, so only
 * the writer chooses; SQL must not look inside such a column (LIKE,
 * json_extract) on SQLite. NULL binds SQL NULL.
 */
#define PAY_PJSON(v) pay_param_json(v)
#define PAY_PJSONN(v, n)                                                                           \
    ((struct pay_param){.type = PAY_P_TEXT, .s = (v), .len = (n), .json = true})
struct pay_param pay_param_json(const char *s);
#define PAY_NPARAMS(arr) (sizeof(arr) / sizeof((arr)[0]))

/*
 * Open the database named by @url: "sqlite:PATH" (the file and its
 * directory are created), "sqlite::memory:" for tests, or a libpq URI
 * "postgres://..." / "postgresql://...". Does not migrate.
 */
enum pay_err pay_store_open(const char *url, struct pay_store **out, struct pay_error *err) PAY_WUR;
/* Close every connection; waits for running transactions. NULL is fine. */
void pay_store_close(struct pay_store *s);
/* "sqlite" or "postgres". */
const char *pay_store_kind(const struct pay_store *s);

/*
 * Apply every migration not yet applied, in order, each in its own
 * transaction; *level_out (may be NULL) gets the resulting level. Safe to
 * run concurrently from several processes on PostgreSQL (advisory lock).
 */
enum pay_err pay_store_migrate(struct pay_store *s, int *level_out, struct pay_error *err) PAY_WUR;
/* The applied migration level and the level this binary knows. */
enum pay_err pay_store_level(struct pay_store *s, int *applied, int *known) PAY_WUR;
/* True when a trivial query succeeds. */
bool pay_store_ping(struct pay_store *s);

typedef enum pay_err (*pay_tx_fn)(struct pay_tx *tx, void *arg);

/*
 * Run @fn(tx, @arg) in a write transaction. When @fn returns PAY_OK the
 * transaction commits and this returns after the commit is durable (or the
 * commit's error). Any other return rolls everything @fn did back and is
 * returned as is, unless @fn called pay_tx_commit_anyway (then its writes
 * commit and its error is still returned: a decline that records the
 * attempt).
 */
enum pay_err pay_store_write(struct pay_store *s, pay_tx_fn fn, void *arg) PAY_WUR;
/* Run @fn in a read-only snapshot. */
enum pay_err pay_store_read(struct pay_store *s, pay_tx_fn fn, void *arg) PAY_WUR;
/* Inside a write callback: keep the writes even though @fn returns an error. */
void pay_tx_commit_anyway(struct pay_tx *tx);
/* The store a transaction belongs to. */
struct pay_store *pay_tx_store(struct pay_tx *tx);

/*
 * Execute @sql with @n params; *changes_out (may be NULL) gets the number
 * of rows changed. A unique-constraint violation is PAY_ERR_DB_UNIQUE; a
 * serialization failure or deadlock is PAY_ERR_DB_RETRY (the store retries
 * the whole callback); other failures PAY_ERR_DB (logged).
 */
enum pay_err pay_tx_exec(struct pay_tx *tx, const char *sql, const struct pay_param *p, size_t n,
                         int64_t *changes_out) PAY_WUR;
/*
 * Execute @sql, whose outcome the caller does not act on (an INSERT or
 * UPDATE that is expected to succeed; its row count is not wanted). On
 * PostgreSQL it is not sent yet: it travels with the transaction's next
 * statement or its COMMIT, in one round trip (libpq pipeline mode). On
 * SQLite it runs now. Either way a failure fails the transaction, reported
 * by this call or by the next statement or the commit, and a unique
 * violation is PAY_ERR_DB here: use pay_tx_exec for a statement whose
 * conflict means something. Parameters are copied.
 */
enum pay_err pay_tx_exec_later(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                               size_t n) PAY_WUR;
/*
 * Serialise on @key in a write transaction: its rest runs alone among the
 * transactions that name the same key, for a count that must see the rows
 * of every other one before it decides (a fraud rule's limit per card).
 * On PostgreSQL a transaction advisory lock on a 64-bit hash of @key,
 * held back like pay_tx_exec_later (it travels with the next round trip,
 * and is held until COMMIT or ROLLBACK); callers take their keys in one
 * fixed order, and a deadlock all the same comes back as
 * PAY_ERR_DB_RETRY. On SQLite nothing: its writes are serial already.
 */
enum pay_err pay_tx_serialize_on(struct pay_tx *tx, const char *key) PAY_WUR;
/*
 * pay_tx_serialize_on, only while @count_sql (one "SELECT COUNT(*) ..."
 * with its own $1..$@n) is below @limit. For a count of rows that other
 * transactions can only add to: once it reaches @limit it stays there, the
 * decision it feeds is made whatever they do, and waiting would serialise
 * for nothing (a card past its velocity limit). Checked in the lock's own
 * statement, so it costs no round trip either.
 */
enum pay_err pay_tx_serialize_on_while(struct pay_tx *tx, const char *key, const char *count_sql,
                                       const struct pay_param *p, size_t n, int64_t limit) PAY_WUR;
/*
 * Whether a write callback that returns @rc now would have its writes
 * committed: @rc is PAY_OK or the callback called pay_tx_commit_anyway,
 * and no statement failed. What a callback would add to writes that roll
 * back anyway (a record of the answer) it can leave out.
 */
bool pay_tx_keeps(const struct pay_tx *tx, enum pay_err rc);
/*
 * Whether this back end runs write transactions one at a time (SQLite: one
 * writer thread), so that nothing another writer does can come between a
 * read and a write of this transaction (a read can claim a key).
 */
bool pay_tx_writes_serial(struct pay_tx *tx);
/*
 * Whether pay_tx_exec_later holds statements back (PostgreSQL: a statement
 * waited for costs a round trip, one held back costs none), so that a
 * caller can choose between reading first and writing unconditionally.
 */
bool pay_tx_defers_writes(struct pay_tx *tx);
/*
 * For a value read from rows that are only ever added to (a count that can
 * only grow), to be kept between transactions: *epoch gets a number that
 * changes whenever this process undoes writes it had made (a failed job, a
 * rolled-back batch or transaction), and that no other store opened by this
 * process ever has. Kept with that number, the value is still a lower bound
 * of what this database holds while the number is the same. False when
 * the back end cannot promise it (PostgreSQL: other processes write too,
 * and a transaction's rows are seen by its own reads before it commits):
 * keep nothing.
 */
bool pay_tx_undo_epoch(struct pay_tx *tx, uint64_t *epoch);
/*
 * Memos: a value read from rows that are only ever added to, kept between
 * transactions under the undo epoch it was read in (above), so a caller
 * need not read it again while nothing was undone: the velocity marks and
 * card uses of the fraud rules, the ledger's accounts. @key is up to
 * PAY_TX_MEMO_PARTS strings (the kind of value first); a key longer than
 * PAY_TX_MEMO_KEY_MAX in all, or holding a 0x1f byte, is never kept.
 * pay_tx_memo_get is true and sets *value only for a value kept under the
 * current epoch; where the back end has none (PostgreSQL) nothing is kept
 * and it is always false. One bounded, direct-mapped table for the process:
 * a memo overwritten by another is read again.
 */
#define PAY_TX_MEMO_PARTS 4
#define PAY_TX_MEMO_KEY_MAX 200
bool pay_tx_memo_get(struct pay_tx *tx, const char *const *key, size_t n, int64_t *value);
void pay_tx_memo_put(struct pay_tx *tx, const char *const *key, size_t n, int64_t value);
/*
 * Run a query; step through its rows with pay_rows_next and finish with
 * pay_rows_close (always, also on error paths). At most one open
 * pay_rows per pay_tx at a time.
 */
enum pay_err pay_tx_query(struct pay_tx *tx, const char *sql, const struct pay_param *p, size_t n,
                          struct pay_rows **out) PAY_WUR;
/* Advance to the next row; false at the end or on error. */
bool pay_rows_next(struct pay_rows *r);
/* Column accessors of the current row (0-based). Text is valid until next. */
const char *pay_rows_text(struct pay_rows *r, int col); /* NULL for SQL NULL */
size_t pay_rows_len(struct pay_rows *r, int col);
int64_t pay_rows_int(struct pay_rows *r, int col); /* 0 for SQL NULL */
bool pay_rows_null(struct pay_rows *r, int col);
/* The number of columns, and the name of column @col (NULL when out of range):
 * for tools that print any query (payd query). */
int pay_rows_columns(struct pay_rows *r);
const char *pay_rows_name(struct pay_rows *r, int col);
/* Free the rows; returns the first error met while stepping. */
enum pay_err pay_rows_close(struct pay_rows *r);

/*
 * Convenience: run @sql expecting at most one row whose first column is an
 * integer; *found_out tells whether a row came back.
 */
enum pay_err pay_tx_query_int(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                              size_t n, int64_t *out, bool *found_out) PAY_WUR;
/*
 * Same for a text column: *out gets a malloc'd copy (free() it) or NULL.
 */
enum pay_err pay_tx_query_text(struct pay_tx *tx, const char *sql, const struct pay_param *p,
                               size_t n, char **out) PAY_WUR;

/*
 * Object tables. Every API resource lives in a table with at least
 *   seq   (SQLite: INTEGER PRIMARY KEY AUTOINCREMENT; PostgreSQL: BIGSERIAL PRIMARY KEY),
 *   id    TEXT NOT NULL UNIQUE,
 *   created BIGINT NOT NULL,
 *   data  TEXT NOT NULL   -- the JSON object as the API returns it
 * plus the columns lists filter on. Numbers and booleans are BIGINT (0/1),
 * strings and JSON are TEXT, in both back ends.
 *
 * pay_tx_list fetches one page, newest first (seq descending), of the
 * `data` column of @table, restricted by @where (SQL using $1..$n of @p, or
 * NULL) and @args (cursor ids, created bounds, limit). *data_out gets a new
 * array of the parsed objects (caller owns); *has_more whether more rows
 * exist beyond the page in the direction of travel. An unknown cursor id is
 * PAY_ERR_PARAM_INVALID naming starting_after/ending_before.
 */
enum pay_err pay_tx_list(struct pay_tx *tx, const char *table, const char *where,
                         const struct pay_param *p, size_t n, const struct pay_list_args *args,
                         json_t **data_out, bool *has_more, struct pay_error *err) PAY_WUR;
/*
 * pay_tx_list_text: the same page, but the rows' stored JSON texts are
 * appended to @out as they are, comma-separated (the inside of the list's
 * "data" array), without parsing them: for a list answered unchanged (no
 * expand), it saves building and dumping every object again.
 */
enum pay_err pay_tx_list_text(struct pay_tx *tx, const char *table, const char *where,
                              const struct pay_param *p, size_t n, const struct pay_list_args *args,
                              struct pay_buf *out, bool *has_more, struct pay_error *err) PAY_WUR;

/*
 * Failed statements (both back ends alike): once a statement inside a
 * transaction fails, every later statement of that transaction fails and the
 * transaction rolls back, even when the callback returns PAY_OK (it then
 * gets the statement's error) or called pay_tx_commit_anyway. That is
 * PostgreSQL's rule; SQLite is made to follow it. Handle expected conflicts
 * in SQL (INSERT ... ON CONFLICT DO NOTHING) rather than by catching
 * PAY_ERR_DB_UNIQUE and going on.
 *
 * pay_store_write must not be called from inside a write callback (it
 * would wait for itself); it returns PAY_ERR_INTERNAL there. Nor should a
 * callback open a read of its own (pay_store_read): on PostgreSQL that takes
 * a second pool connection and can starve the pool; use the tx at hand.
 *
 * Parameter types: on PostgreSQL an integer parameter is declared bigint
 * when its statement is first prepared on a connection, text and NULL ones
 * are inferred by the server; bind the same SQL with the same types every
 * time, and write CAST($1 AS INTEGER) where a function wants a 32-bit int.
 * Text parameters must not contain NUL bytes (PAY_ERR_PARAM_INVALID).
 * Pass exactly as many parameters as the highest $n (fewer is
 * PAY_ERR_INTERNAL on SQLite, PAY_ERR_DB on PostgreSQL).
 */

/*
 * Counters for /metrics and tests; a snapshot, safe from any thread.
 */
struct pay_store_stats {
    uint64_t writes;             /* write callbacks finished (any result) */
    uint64_t commits;            /* write transactions committed (SQLite: one per group) */
    uint64_t retries;            /* write callbacks re-run after PAY_ERR_DB_RETRY */
    uint64_t write_queue;        /* SQLite: writes waiting for the writer thread now */
    uint64_t wal_syncs;          /* SQLite: fdatasyncs of the WAL that answered writes */
    uint64_t checkpoints;        /* SQLite: checkpoints by the checkpointer thread */
    uint64_t writer_checkpoints; /* SQLite: by the writer itself, holding writes up */
    int pool_open;               /* connections open (SQLite: read connections) */
    int pool_in_use;             /* of which lent out now */
};
void pay_store_stats(struct pay_store *s, struct pay_store_stats *out);

#endif

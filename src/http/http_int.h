/*
 * http_int.h - declarations shared by the files of src/http/ only.
 *
 * Nothing outside src/http/ includes this header; the public contract is
 * http.h.
 */
#ifndef PAY_HTTP_INT_H
#define PAY_HTTP_INT_H

#include "http.h"

/* ---- Body trees (form.c) ---------------------------------------------- */

/*
 * Check that @v (a decoded JSON value) stays within the body limits of
 * limits.h: nesting depth (PAY_JSON_DEPTH_MAX, the top-level object counts
 * as depth 1), PAY_ARRAY_LEN_MAX elements per array, PAY_OBJECT_KEYS_MAX keys
 * per object and PAY_STRING_LEN_MAX characters per string. On failure returns
 * PAY_ERR_BODY_INVALID with the bracket path of the offending value
 * ("items[3][price]") in @err->param.
 */
enum pay_err pay_http_tree_check(const json_t *v, struct pay_error *err) PAY_WUR;

/* ---- Idempotency (idempotency.c) --------------------------------------- */

/* "key:" or "jwt:" + a principal subject (128 bytes) fits with room. */
#define PAY_IDEM_SCOPE_MAX 160

/*
 * One Idempotency-Key as the server applies it: who sent it (keys are
 * scoped to the caller, as Stripe's are to the account), the key, and the
 * SHA-256 of method + "\n" + path + "\n" + raw body that a replay must
 * match. @key, @method and @path are borrowed from the request.
 */
struct pay_idem {
    char scope[PAY_IDEM_SCOPE_MAX];
    const char *key;
    const char *method;
    const char *path;
    char request_hash[65];
};

/*
 * Fill @k for a request by @who (kind NONE scopes to "anon"). The request
 * hash is HMAC-SHA256 under @hash_key (the server's fingerprint key) when
 * set: a body may carry a card number, and a plain hash of a card number
 * can be reversed by trying every number that fits its BIN and last four.
 */
enum pay_err pay_idem_init(struct pay_idem *k, const struct pay_principal *who, const char *key,
                           const char *method, const char *path, const char *body, size_t body_len,
                           const char *hash_key) PAY_WUR;
/*
 * Inside a write transaction: claim @k at @now. When the key is new,
 * *replay_out is false: run the handler, then pay_idem_finish in the same
 * transaction. Where writers run concurrently (PostgreSQL) the claim is a
 * row (status 0) that a concurrent duplicate waits on; where they run one
 * at a time (SQLite, pay_tx_writes_serial) a read is claim enough and the
 * row is written once, by pay_idem_finish. When the key was used before
 * with the same request, *replay_out is true and *status_out / *body_out
 * (malloc'd, caller frees) / *len_out hold the stored response. Errors:
 * PAY_ERR_IDEMPOTENCY_MISMATCH (another request used the key),
 * PAY_ERR_IDEMPOTENCY_IN_USE (no response stored), store errors.
 */
enum pay_err pay_idem_claim(struct pay_tx *tx, const struct pay_idem *k, int64_t now,
                            bool *replay_out, int *status_out, char **body_out, size_t *len_out,
                            struct pay_error *err) PAY_WUR;
/*
 * Record the response of the request that claimed @k, in the transaction
 * that claimed it (the statement may travel with the next round trip, see
 * pay_tx_exec_later; a failure fails the transaction).
 */
enum pay_err pay_idem_finish(struct pay_tx *tx, const struct pay_idem *k, int status,
                             const char *body, size_t len) PAY_WUR;
/* Inside a read: whether @k has a row (answered, claimed or used for
 * another request), so the write transaction will not run the handler for
 * it. Store errors as pay_tx_query. */
enum pay_err pay_idem_seen(struct pay_tx *tx, const struct pay_idem *k, bool *seen) PAY_WUR;
/* Replace the recorded response later, in a transaction of its own. */
enum pay_err pay_idem_replace(struct pay_tx *tx, const struct pay_idem *k, int status,
                              const char *body, size_t len) PAY_WUR;

/* ---- Metrics (metrics.c) ------------------------------------------------ */

/* The in-flight gauge: +1 when a request starts, -1 when it completes. */
void pay_metrics_inflight_add(int delta);
/*
 * Count one finished request: @route is the matched pattern or NULL
 * ("unmatched"), @method any string (unknown methods count as "OTHER"),
 * @status the status sent (0 when none was).
 */
void pay_metrics_observe(const char *route, const char *method, int status, int64_t duration_us);

/* ---- Audit log (audit_log.c) -------------------------------------------- */

/*
 * Append the audit record of @req (a PAY_ROUTE_WRITE request that ran,
 * answered with @status) inside @tx, the transaction of its changes, so
 * the record commits exactly when they do.
 */
enum pay_err pay_http_audit(struct pay_tx *tx, const struct pay_request *req, int status) PAY_WUR;

/* ---- Rate limits (rate.c) ----------------------------------------------- */

/* Callers tracked per table (a few hundred bytes each). */
#define PAY_RATE_ENTRIES_MAX 65536

/* One table of token buckets for one limit; NULL (limit off) allows all. */
struct pay_rate_table;
/* A table for @limit, or NULL when the limit is off (per_s 0) or memory ran out. */
struct pay_rate_table *pay_rate_table_new(const struct pay_rate_limit *limit);
void pay_rate_table_free(struct pay_rate_table *t);
/*
 * Take one token from @key's bucket at @now_us (monotonic). True when
 * allowed; false with *retry_after_s (>= 1) the seconds until a token is
 * back. A NULL table or key always allows.
 */
bool pay_rate_take(struct pay_rate_table *t, const char *key, int64_t now_us,
                   int64_t *retry_after_s);
/* Callers tracked now (tests). */
size_t pay_rate_table_size(struct pay_rate_table *t);

#endif

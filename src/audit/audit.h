/*
 * audit.h - the hash-chained audit log: one append-only row per
 * state-changing request or CLI action (migration 0009, table audit_events).
 *
 * Each row's hash is the SHA-256 of its canonical JSON (the API object
 * without "hash", keys in a fixed order, ASCII-escaped), which contains
 * prev_hash, the previous row's hash (64 zeros for the first). The chain
 * head (audit_head: length and last hash) is read FOR UPDATE by every
 * append, so on PostgreSQL concurrent transactions append one after the
 * other in commit order; on SQLite writes are serialised anyway.
 *
 * What a row may hold: ids, role names, route patterns, parameter NAMES and
 * addresses. Never parameter values: a body can carry a card number or a
 * patient's name.
 *
 * Threading: stateless; every function works inside the caller's
 * transaction.
 */
#ifndef PAY_AUDIT_H
#define PAY_AUDIT_H

#include "../core/core.h"
#include "../store/store.h"

/* Longest summary kept (parameter names, comma-separated). */
#define PAY_AUDIT_SUMMARY_LEN_MAX 512
/* Longest action kept ("POST /v1/payment_intents/:id/capture"). */
#define PAY_AUDIT_ACTION_LEN_MAX 200

/* One row to append; every string is borrowed and may be NULL except @action. */
struct pay_audit_record {
    int64_t created;
    const char *actor;       /* principal subject (key_..., JWT sub), "cli", NULL = anonymous */
    const char *role;        /* "admin", "staff", ...; "cli" for CLI actions */
    const char *action;      /* "POST /v1/refunds", "payd keys create" */
    const char *object;      /* the id of the object concerned */
    const char *summary;     /* parameter names, see pay_audit_summary */
    const char *client_addr; /* "127.0.0.1", "local" for the CLI */
    const char *request_id;
    int status; /* HTTP status sent; 0 for CLI actions */
};

/*
 * Append @rec to the chain inside @tx (a write transaction): lock the
 * head, insert the row, move the head. @id_out (may be NULL) receives the
 * new id ("aud_...", PAY_ID_LEN_MAX + 1 bytes). Store errors as is;
 * PAY_ERR_INTERNAL when @action is NULL.
 */
enum pay_err pay_audit_append(struct pay_tx *tx, const struct pay_audit_record *rec,
                              char *id_out) PAY_WUR;

/*
 * Write into @out (@n bytes, n >= 1) the names of @body's top-level keys,
 * comma-separated ("amount, currency, metadata"), truncated with "..." when
 * longer. Values are never looked at. NULL or an empty object gives "".
 */
void pay_audit_summary(const json_t *body, char *out, size_t n);

/* List filters; NULL = any. */
struct pay_audit_filter {
    const char *actor;
    const char *object;
    const char *action;
};

/*
 * One page of audit events, newest first (Stripe list semantics of @args);
 * *data_out is a new array (caller owns).
 */
enum pay_err pay_audit_list(struct pay_tx *tx, const struct pay_audit_filter *f,
                            const struct pay_list_args *args, json_t **data_out, bool *has_more,
                            struct pay_error *err) PAY_WUR;
/* One event by id; PAY_ERR_NOT_FOUND (param "id") when none. */
enum pay_err pay_audit_get(struct pay_tx *tx, const char *id, json_t **out,
                           struct pay_error *err) PAY_WUR;

/*
 * Check the whole chain in @tx (a read snapshot) in seq order: each row's
 * prev_hash equals the previous row's hash (a deleted or inserted row
 * breaks this), its hash equals the SHA-256 of its canonical JSON rebuilt
 * from its columns (an edited row breaks this), its data column equals
 * that JSON, and the head's length and hash equal the chain's (rows
 * removed from the end). Appends "ok   ..." / "FAIL ..." lines to @report
 * and sets *violations_out to the number of failed rows. Returns an error
 * only when the store fails.
 */
enum pay_err pay_audit_verify(struct pay_tx *tx, struct pay_buf *report,
                              int64_t *violations_out) PAY_WUR;

#endif

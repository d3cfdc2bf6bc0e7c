/*
 * idempotency.c - Stripe's Idempotency-Key semantics on top of the store.
 *
 * A write request carrying a key runs in one write transaction that first
 * claims the key (on PostgreSQL INSERT ... ON CONFLICT DO NOTHING on the
 * primary key (scope, key); on SQLite, whose writes run one at a time, a
 * read), then runs the handler, then records the rendered status and body
 * (updating the claim row, or inserting the row whole). Because the claim,
 * the effect and the stored response commit or roll back together:
 *   - a request that fails (validation, a plain error) stores nothing, and
 *     the client may retry with the same key;
 *   - a concurrent duplicate never has a second effect: on SQLite writes are
 *     serialised, so the duplicate sees the committed row; on PostgreSQL it
 *     blocks on the primary key until the first transaction commits, then
 *     conflicts and replays;
 *   - a replay returns the stored status and body, 4xx/5xx included.
 * The same key with a different request (method, path or body bytes) is
 * PAY_ERR_IDEMPOTENCY_MISMATCH. Keys are scoped to the caller (API key id or
 * JWT subject), as Stripe scopes them to the account.
 *
 * Table (migrations): idempotency_keys(scope, key, request_hash, method,
 * path, status DEFAULT 0, response, created), PRIMARY KEY (scope, key).
 *
 * Threading: every function runs inside the transaction it is handed; no
 * state of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

enum pay_err pay_idem_init(struct pay_idem *k, const struct pay_principal *who, const char *key,
                           const char *method, const char *path, const char *body, size_t body_len,
                           const char *hash_key)
{
    memset(k, 0, sizeof(*k));
    switch (who->kind) {
    case PAY_PRINCIPAL_API_KEY:
        snprintf(k->scope, sizeof(k->scope), "key:%s", who->subject);
        break;
    case PAY_PRINCIPAL_JWT:
        snprintf(k->scope, sizeof(k->scope), "jwt:%s", who->subject);
        break;
    default:
        snprintf(k->scope, sizeof(k->scope), "anon");
        break;
    }
    k->key = key;
    k->method = method;
    k->path = path;

    /* The hash covers the exact bytes: a form body and the equivalent JSON
     * body are different requests, as they are for Stripe. */
    size_t method_len = strlen(method);
    size_t path_len = strlen(path);
    struct pay_buf b;
    pay_buf_init(&b, method_len + path_len + body_len + 2);
    enum pay_err rc = pay_buf_add(&b, method, method_len);
    if (rc == PAY_OK) {
        rc = pay_buf_add(&b, "\n", 1);
    }
    if (rc == PAY_OK) {
        rc = pay_buf_add(&b, path, path_len);
    }
    if (rc == PAY_OK) {
        rc = pay_buf_add(&b, "\n", 1);
    }
    if (rc == PAY_OK && body_len > 0) {
        rc = pay_buf_add(&b, body, body_len);
    }
    if (rc == PAY_OK && hash_key != NULL && hash_key[0] != '\0') {
        unsigned char mac[32];
        pay_hmac_sha256(hash_key, strlen(hash_key), b.data, b.len, mac);
        pay_hex_encode(mac, sizeof(mac), k->request_hash);
    } else if (rc == PAY_OK) {
        pay_sha256_hex(b.data, b.len, k->request_hash);
    }
    pay_buf_release(&b);
    return rc;
}

enum pay_err pay_idem_claim(struct pay_tx *tx, const struct pay_idem *k, int64_t now,
                            bool *replay_out, int *status_out, char **body_out, size_t *len_out,
                            struct pay_error *err)
{
    *replay_out = false;
    *status_out = 0;
    *body_out = NULL;
    *len_out = 0;
    /* One writer at a time: no other transaction can add this key while
     * this one runs, so reading it is claim enough, and a request that
     * fails writes nothing at all. */
    bool serial = pay_tx_writes_serial(tx);

    enum pay_err rc;
    if (!serial) {
        const struct pay_param ins[] = {
            PAY_PTEXT(k->scope),  PAY_PTEXT(k->key),  PAY_PTEXT(k->request_hash),
            PAY_PTEXT(k->method), PAY_PTEXT(k->path), PAY_PINT(now),
        };
        int64_t inserted = 0;
        rc = pay_tx_exec(tx,
                         "INSERT INTO idempotency_keys"
                         " (scope, key, request_hash, method, path, status, response,"
                         " created) VALUES ($1, $2, $3, $4, $5, 0, NULL, $6)"
                         " ON CONFLICT DO NOTHING",
                         ins, PAY_NPARAMS(ins), &inserted);
        if (rc != PAY_OK) {
            return pay_error_set(err, rc, NULL, NULL);
        }
        if (inserted == 1) {
            return PAY_OK;
        }
    }

    const struct pay_param sel[] = {PAY_PTEXT(k->scope), PAY_PTEXT(k->key)};
    struct pay_rows *rows = NULL;
    rc = pay_tx_query(tx,
                      "SELECT request_hash, status, response FROM idempotency_keys"
                      " WHERE scope = $1 AND key = $2",
                      sel, PAY_NPARAMS(sel), &rows);
    if (rc != PAY_OK) {
        return pay_error_set(err, rc, NULL, NULL);
    }
    if (!pay_rows_next(rows)) {
        rc = pay_rows_close(rows);
        if (serial && rc == PAY_OK) {
            return PAY_OK; /* a new key */
        }
        /* The conflicting row vanished between the two statements: only a
         * prune racing a 24-hour-old key can do that. Let the client retry. */
        return pay_error_set(err, rc != PAY_OK ? rc : PAY_ERR_IDEMPOTENCY_IN_USE,
                             rc != PAY_OK ? NULL : "Idempotency-Key", NULL);
    }
    const char *hash = pay_rows_text(rows, 0);
    int64_t status = pay_rows_int(rows, 1);
    const char *resp = pay_rows_text(rows, 2);
    size_t resp_len = pay_rows_len(rows, 2);

    if (!hash || strcmp(hash, k->request_hash) != 0) {
        rc = pay_error_set(err, PAY_ERR_IDEMPOTENCY_MISMATCH, "Idempotency-Key",
                           "Keys for idempotent requests can only be used with the same "
                           "parameters they were first used with. Try using a key other than "
                           "'%.64s' if you meant to execute a different request.",
                           k->key);
        goto out_rows;
    }
    if (status < 100 || status > 599 || !resp) {
        /* The claim and the stored response commit together, so a committed
         * row without a response should not exist; answer as Stripe does for
         * a request still running rather than replay nothing. */
        rc = pay_error_set(err, PAY_ERR_IDEMPOTENCY_IN_USE, "Idempotency-Key", NULL);
        goto out_rows;
    }
    char *copy = malloc(resp_len + 1);
    if (!copy) {
        rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
        goto out_rows;
    }
    memcpy(copy, resp, resp_len);
    copy[resp_len] = '\0';
    *replay_out = true;
    *status_out = (int)status;
    *body_out = copy;
    *len_out = resp_len;
    rc = PAY_OK;

out_rows:;
    enum pay_err close_rc = pay_rows_close(rows);
    if (rc == PAY_OK && close_rc != PAY_OK) {
        free(*body_out);
        *body_out = NULL;
        *replay_out = false;
        rc = pay_error_set(err, close_rc, NULL, NULL);
    }
    return rc;
}

/*
 * A secret that a response reveals once (a webhook endpoint's "whsec_..."
 * signing secret) is not kept for replays: the stored copy carries
 * "whsec_redacted" instead, so the database never holds it in clear. A
 * client that lost the first answer rotates the secret. Returns a malloc'd
 * copy, or NULL when @body holds no such secret (store it as is).
 */
static char *redact_secrets(const char *body, size_t len, size_t *len_out)
{
    static const char marker[] = "\"whsec_";
    static const char stub[] = "redacted";
    if (body == NULL || memmem(body, len, marker, sizeof(marker) - 1) == NULL) {
        return NULL;
    }
    char *out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        const char *hit = memmem(body + i, len - i, marker, sizeof(marker) - 1);
        if (hit == NULL) {
            memcpy(out + o, body + i, len - i);
            o += len - i;
            break;
        }
        size_t keep = (size_t)(hit - (body + i)) + sizeof(marker) - 1;
        memcpy(out + o, body + i, keep);
        o += keep;
        i += keep;
        /* Skip the secret's base62 characters up to its closing quote. */
        size_t j = i;
        while (j < len && body[j] != '"' && body[j] != '\\') {
            j++;
        }
        if (j - i >= sizeof(stub) - 1) {
            memcpy(out + o, stub, sizeof(stub) - 1);
            o += sizeof(stub) - 1;
        }
        i = j;
    }
    out[o] = '\0';
    *len_out = o;
    return out;
}

/*
 * Store the response. In the transaction that claimed the key the row is
 * there and locked by it, so the UPDATE is held back to travel with the
 * next round trip, or (a claim that was a read) the row is inserted whole;
 * elsewhere (@checked) it runs now and must find its row.
 */
static enum pay_err store_answer(struct pay_tx *tx, const struct pay_idem *k, int status,
                                 const char *body, size_t len, bool checked)
{
    size_t redacted_len = 0;
    char *redacted = redact_secrets(body, body ? len : 0, &redacted_len);
    if (redacted != NULL) {
        body = redacted;
        len = redacted_len;
    }
    const struct pay_param p[] = {
        PAY_PINT(status),
        PAY_PJSONN(body ? body : "", body ? len : 0),
        PAY_PTEXT(k->scope),
        PAY_PTEXT(k->key),
    };
    static const char sql[] = "UPDATE idempotency_keys SET status = $1, response = $2"
                              " WHERE scope = $3 AND key = $4";
    enum pay_err rc;
    if (!checked && pay_tx_writes_serial(tx)) {
        /* The claim was a read (pay_idem_claim): the row is written now, whole. */
        const struct pay_param ins[] = {
            PAY_PTEXT(k->scope),
            PAY_PTEXT(k->key),
            PAY_PTEXT(k->request_hash),
            PAY_PTEXT(k->method),
            PAY_PTEXT(k->path),
            p[0],
            p[1],
            PAY_PINT(pay_now()),
        };
        rc = pay_tx_exec_later(tx,
                               "INSERT INTO idempotency_keys (scope, key, request_hash, method, "
                               "path, status, response, created) VALUES ($1, $2, $3, $4, $5, $6, "
                               "$7, $8)",
                               ins, PAY_NPARAMS(ins));
    } else if (checked) {
        int64_t changed = 0;
        rc = pay_tx_exec(tx, sql, p, PAY_NPARAMS(p), &changed);
        if (rc == PAY_OK && changed != 1) {
            rc = PAY_ERR_INTERNAL;
        }
    } else {
        rc = pay_tx_exec_later(tx, sql, p, PAY_NPARAMS(p));
    }
    free(redacted);
    return rc;
}

enum pay_err pay_idem_seen(struct pay_tx *tx, const struct pay_idem *k, bool *seen)
{
    const struct pay_param p[] = {PAY_PTEXT(k->scope), PAY_PTEXT(k->key)};
    int64_t one = 0;
    *seen = false;
    return pay_tx_query_int(tx, "SELECT 1 FROM idempotency_keys WHERE scope = $1 AND key = $2", p,
                            PAY_NPARAMS(p), &one, seen);
}

enum pay_err pay_idem_finish(struct pay_tx *tx, const struct pay_idem *k, int status,
                             const char *body, size_t len)
{
    return store_answer(tx, k, status, body, len, false);
}

enum pay_err pay_idem_replace(struct pay_tx *tx, const struct pay_idem *k, int status,
                              const char *body, size_t len)
{
    return store_answer(tx, k, status, body, len, true);
}

struct prune_arg {
    int64_t before;
    int64_t deleted;
};

static enum pay_err prune_tx(struct pay_tx *tx, void *arg)
{
    struct prune_arg *a = arg;
    const struct pay_param p[] = {PAY_PINT(a->before)};
    return pay_tx_exec(tx, "DELETE FROM idempotency_keys WHERE created < $1", p, PAY_NPARAMS(p),
                       &a->deleted);
}

enum pay_err pay_idempotency_prune(struct pay_store *s, int64_t now, int64_t *deleted)
{
    struct prune_arg a = {.before = now - PAY_IDEMPOTENCY_TTL_S, .deleted = 0};
    enum pay_err rc = pay_store_write(s, prune_tx, &a);
    if (deleted) {
        *deleted = rc == PAY_OK ? a.deleted : 0;
    }
    return rc;
}

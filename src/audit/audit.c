/*
 * audit.c - the hash-chained audit log (see audit.h).
 *
 * Invariants: rows are only ever inserted (triggers refuse the rest);
 * audit_head.n is the number of rows and audit_head.hash the last row's
 * hash; row k's prev_hash is row k-1's hash; hash = SHA-256(canonical JSON).
 * The canonical JSON is built from the columns by one function, used both
 * when appending and when verifying, so the two cannot drift.
 *
 * Cost: on PostgreSQL the head row lock is held from the append (the last
 * statement of a request's transaction) until its commit, so writing
 * transactions commit one after another through it: the write throughput is
 * bounded by 1 / (append + commit latency). Reads are unaffected.
 *
 * Threading: stateless.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#define GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* Example ids named on one FAIL line, and FAIL lines per check. */
#define VERIFY_EXAMPLES_MAX 5

struct row {
    const char *id;
    int64_t created;
    const char *actor, *role, *action, *object, *summary, *client_addr, *request_id;
    int64_t status;
    const char *prev_hash;
};

/*
 * Append to @b the API object of @r: with @hash NULL the canonical (hashed)
 * text, else the stored "data" form with "hash" last. Byte for byte what
 * jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER |
 * JSON_ENSURE_ASCII) makes of the object (the format clients recompute;
 * tests/unit/audit_test.c checks the two agree), written directly: verify
 * hashes every row, and building a jansson tree per row was most of its time.
 */
static enum pay_err row_text(struct pay_buf *b, const struct row *r, const char *hash)
{
    const struct {
        const char *key; /* with its opening separator */
        const char *s;
        int64_t i;
        bool is_int;
    } f[] = {
        {"{\"id\":", r->id, 0, false},
        {",\"object\":", "audit_event", 0, false},
        {",\"created\":", NULL, r->created, true},
        {",\"actor\":", r->actor, 0, false},
        {",\"role\":", r->role, 0, false},
        {",\"action\":", r->action, 0, false},
        {",\"object_id\":", r->object, 0, false},
        {",\"summary\":", r->summary, 0, false},
        {",\"client_addr\":", r->client_addr, 0, false},
        {",\"request_id\":", r->request_id, 0, false},
        {",\"status\":", NULL, r->status, true},
        {",\"prev_hash\":", r->prev_hash, 0, false},
        {",\"hash\":", hash, 0, false},
    };
    size_t nf = sizeof(f) / sizeof(f[0]) - (hash ? 0 : 1);
    enum pay_err rc = PAY_OK;
    for (size_t i = 0; i < nf && rc == PAY_OK; i++) {
        rc = pay_buf_adds(b, f[i].key);
        if (rc == PAY_OK) {
            rc = f[i].is_int ? pay_buf_add_int(b, f[i].i) : pay_json_add_str_ascii(b, f[i].s);
        }
    }
    return rc == PAY_OK ? pay_buf_add(b, "}", 1) : rc;
}

/* hash_out = SHA-256 hex of @r's canonical text, built in @scratch. */
static enum pay_err row_hash(struct pay_buf *scratch, const struct row *r, char hash_out[65])
{
    pay_buf_reset(scratch);
    enum pay_err rc = row_text(scratch, r, NULL);
    if (rc == PAY_OK) {
        pay_sha256_hex(scratch->data, scratch->len, hash_out);
    }
    return rc;
}

void pay_audit_summary(const json_t *body, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    if (!json_is_object(body)) {
        return;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        (void)v;
        size_t klen = strlen(key);
        size_t need = klen + (used ? 2 : 0);
        if (used + need + 4 >= n) {
            const char *more = used ? ", ..." : "...";
            if (used + strlen(more) < n) {
                memcpy(out + used, more, strlen(more) + 1);
            }
            return;
        }
        if (used) {
            memcpy(out + used, ", ", 2);
            used += 2;
        }
        memcpy(out + used, key, klen + 1);
        used += klen;
    }
}

/* @s cut to @max bytes into @buf (never splitting a UTF-8 sequence). */
static const char *clip(const char *s, char *buf, size_t max)
{
    if (!s || strlen(s) <= max) {
        return s;
    }
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

enum pay_err pay_audit_append(struct pay_tx *tx, const struct pay_audit_record *rec, char *id_out)
{
    if (!rec || !rec->action) {
        return PAY_ERR_INTERNAL;
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("aud", id);
    char summary_buf[PAY_AUDIT_SUMMARY_LEN_MAX + 1];
    char action_buf[PAY_AUDIT_ACTION_LEN_MAX + 1];
    char actor_buf[128];
    char object_buf[PAY_ID_LEN_MAX * 2 + 1];

    /* The head, locked: every later append in another transaction waits
     * here until this one commits or rolls back. */
    struct pay_rows *rows = NULL;
    enum pay_err rc =
        pay_tx_query(tx, "SELECT n, hash FROM audit_head WHERE id = 1 FOR UPDATE", NULL, 0, &rows);
    if (rc != PAY_OK) {
        return rc;
    }
    int64_t n = -1;
    char prev[65] = "";
    if (pay_rows_next(rows)) {
        const char *h = pay_rows_text(rows, 1);
        n = pay_rows_int(rows, 0);
        if (h && strlen(h) == 64) {
            memcpy(prev, h, 65);
        }
    }
    rc = pay_rows_close(rows);
    if (rc != PAY_OK) {
        return rc;
    }
    if (n < 0 || prev[0] == '\0') {
        pay_logf(PAY_LOG_ERROR, NULL, "audit: the chain head is missing or malformed");
        return PAY_ERR_DB;
    }

    struct row r = {
        .id = id,
        .created = rec->created,
        .actor = clip(rec->actor, actor_buf, sizeof(actor_buf) - 1),
        .role = rec->role,
        .action = clip(rec->action, action_buf, PAY_AUDIT_ACTION_LEN_MAX),
        .object = clip(rec->object, object_buf, sizeof(object_buf) - 1),
        .summary = clip(rec->summary, summary_buf, PAY_AUDIT_SUMMARY_LEN_MAX),
        .client_addr = rec->client_addr,
        .request_id = rec->request_id,
        .status = rec->status,
        .prev_hash = prev,
    };
    char hash[65];
    struct pay_buf text;
    pay_buf_init(&text, SIZE_MAX - 1);
    rc = row_hash(&text, &r, hash);
    if (rc == PAY_OK) {
        /* The stored text is the hashed one with the hash as its last field:
         * the same as row_text(&text, &r, hash), without writing it twice. */
        text.len--; /* its closing '}' */
        rc = pay_buf_adds(&text, ",\"hash\":");
        if (rc == PAY_OK) {
            rc = pay_json_add_str_ascii(&text, hash);
        }
        if (rc == PAY_OK) {
            rc = pay_buf_add(&text, "}", 1);
        }
    }
    if (rc != PAY_OK) {
        pay_buf_release(&text);
        return rc;
    }
    const char *data = text.data;
    struct pay_param p[] = {
        PAY_PTEXT(r.id),      PAY_PINT(r.created),      PAY_PTEXT(r.actor),
        PAY_PTEXT(r.role),    PAY_PTEXT(r.action),      PAY_PTEXT(r.object),
        PAY_PTEXT(r.summary), PAY_PTEXT(r.client_addr), PAY_PTEXT(r.request_id),
        PAY_PINT(r.status),   PAY_PTEXT(r.prev_hash),   PAY_PTEXT(hash),
        PAY_PTEXT(data),
    };
    rc = pay_tx_exec_later(tx,
                           "INSERT INTO audit_events (id, created, actor, role, action, object,"
                           " summary, client_addr, request_id, status, prev_hash, hash, data)"
                           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                           p, PAY_NPARAMS(p));
    pay_buf_release(&text);
    if (rc != PAY_OK) {
        return rc;
    }
    /* The head row was read FOR UPDATE above: it is there, and ours. */
    struct pay_param hp[] = {PAY_PTEXT(hash), PAY_PINT(n + 1)};
    rc = pay_tx_exec_later(tx, "UPDATE audit_head SET hash = $1, n = $2 WHERE id = 1", hp,
                           PAY_NPARAMS(hp));
    if (rc != PAY_OK) {
        return rc;
    }
    if (id_out) {
        memcpy(id_out, id, strlen(id) + 1);
    }
    return PAY_OK;
}

enum pay_err pay_audit_list(struct pay_tx *tx, const struct pay_audit_filter *f,
                            const struct pay_list_args *args, json_t **data_out, bool *has_more,
                            struct pay_error *err)
{
    struct pay_param p[3];
    size_t np = 0;
    char where[128] = "1 = 1";
    size_t used = strlen(where);
    const struct {
        const char *col;
        const char *val;
    } filters[] = {{"actor", f->actor}, {"object", f->object}, {"action", f->action}};
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (!filters[i].val) {
            continue;
        }
        p[np++] = PAY_PTEXT(filters[i].val);
        int w = snprintf(where + used, sizeof(where) - used, " AND %s = $%zu", filters[i].col, np);
        if (w < 0 || (size_t)w >= sizeof(where) - used) {
            return PAY_ERR_INTERNAL;
        }
        used += (size_t)w;
    }
    return pay_tx_list(tx, "audit_events", where, p, np, args, data_out, has_more, err);
}

enum pay_err pay_audit_get(struct pay_tx *tx, const char *id, json_t **out, struct pay_error *err)
{
    *out = NULL;
    char *text = NULL;
    struct pay_param p[] = {PAY_PTEXT(id)};
    enum pay_err rc =
        pay_tx_query_text(tx, "SELECT data FROM audit_events WHERE id = $1", p, 1, &text);
    if (rc != PAY_OK) {
        return rc;
    }
    if (!text) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such audit event: '%.64s'.", id);
    }
    json_error_t jerr;
    *out = json_loads(text, 0, &jerr);
    free(text);
    if (!*out) {
        pay_logf(PAY_LOG_ERROR, NULL, "audit: unreadable data column");
        return PAY_ERR_DB;
    }
    return PAY_OK;
}

/* ---- Verify ---------------------------------------------------------------- */

struct check {
    const char *name;
    int64_t bad;
    struct pay_buf examples;
};

static enum pay_err note(struct check *c, const char *id, int64_t seq)
{
    c->bad++;
    if (c->bad > VERIFY_EXAMPLES_MAX) {
        return PAY_OK;
    }
    return pay_buf_addf(&c->examples, "%s%s (seq %lld)", c->bad > 1 ? ", " : "", id ? id : "?",
                        (long long)seq);
}

static enum pay_err report_check(struct pay_buf *report, const struct check *c, int64_t checked)
{
    if (c->bad == 0) {
        return pay_buf_addf(report, "ok   %s (%lld audit events)\n", c->name, (long long)checked);
    }
    return pay_buf_addf(report, "FAIL %s: %lld of %lld audit events (%.*s%s)\n", c->name,
                        (long long)c->bad, (long long)checked, (int)c->examples.len,
                        c->examples.data ? c->examples.data : "",
                        c->bad > VERIFY_EXAMPLES_MAX ? ", ..." : "");
}

enum pay_err pay_audit_verify(struct pay_tx *tx, struct pay_buf *report, int64_t *violations_out)
{
    *violations_out = 0;
    struct check link = {.name = "audit chain links (prev_hash = previous hash: no row deleted "
                                 "or inserted)"};
    struct check hashes = {.name = "audit rows match their hashes (no row edited)"};
    struct check datas = {.name = "audit rows' data equals their columns"};
    struct check *checks[] = {&link, &hashes, &datas};
    for (size_t i = 0; i < 3; i++) {
        pay_buf_init(&checks[i]->examples, 4096);
    }
    char prev[65] = GENESIS_HASH;
    int64_t count = 0;
    struct pay_buf scratch; /* one row's text, reused */
    pay_buf_init(&scratch, SIZE_MAX - 1);
    struct pay_rows *rows = NULL;
    enum pay_err rc = pay_tx_query(tx,
                                   "SELECT seq, id, created, actor, role, action, object, summary,"
                                   " client_addr, request_id, status, prev_hash, hash, data"
                                   " FROM audit_events ORDER BY seq",
                                   NULL, 0, &rows);
    if (rc != PAY_OK) {
        goto out;
    }
    while (pay_rows_next(rows)) {
        count++;
        int64_t seq = pay_rows_int(rows, 0);
        struct row r = {
            .id = pay_rows_text(rows, 1),
            .created = pay_rows_int(rows, 2),
            .actor = pay_rows_text(rows, 3),
            .role = pay_rows_text(rows, 4),
            .action = pay_rows_text(rows, 5),
            .object = pay_rows_text(rows, 6),
            .summary = pay_rows_text(rows, 7),
            .client_addr = pay_rows_text(rows, 8),
            .request_id = pay_rows_text(rows, 9),
            .status = pay_rows_int(rows, 10),
            .prev_hash = pay_rows_text(rows, 11),
        };
        const char *stored = pay_rows_text(rows, 12);
        const char *data = pay_rows_text(rows, 13);
        if (!r.prev_hash || strcmp(r.prev_hash, prev) != 0) {
            rc = note(&link, r.id, seq);
        }
        char h[65];
        if (rc == PAY_OK) {
            rc = row_hash(&scratch, &r, h);
        }
        if (rc == PAY_OK && (!stored || strcmp(stored, h) != 0)) {
            rc = note(&hashes, r.id, seq);
        }
        if (rc == PAY_OK) {
            pay_buf_reset(&scratch);
            rc = row_text(&scratch, &r, stored ? stored : "");
        }
        if (rc == PAY_OK && (!data || strcmp(data, scratch.data) != 0)) {
            rc = note(&datas, r.id, seq);
        }
        if (rc != PAY_OK) {
            pay_rows_close(rows);
            goto out;
        }
        /* Follow the stored chain, so one edited row is reported once. */
        snprintf(prev, sizeof(prev), "%s", stored ? stored : "");
    }
    rc = pay_rows_close(rows);
    if (rc != PAY_OK) {
        goto out;
    }
    for (size_t i = 0; i < 3 && rc == PAY_OK; i++) {
        rc = report_check(report, checks[i], count);
        *violations_out += checks[i]->bad;
    }
    if (rc != PAY_OK) {
        goto out;
    }

    /* The head: catches rows cut from the end, which break no link. */
    rows = NULL;
    rc = pay_tx_query(tx, "SELECT n, hash FROM audit_head WHERE id = 1", NULL, 0, &rows);
    if (rc != PAY_OK) {
        goto out;
    }
    int64_t head_n = -1;
    char head_hash[65] = "";
    if (pay_rows_next(rows)) {
        head_n = pay_rows_int(rows, 0);
        snprintf(head_hash, sizeof(head_hash), "%s",
                 pay_rows_text(rows, 1) ? pay_rows_text(rows, 1) : "");
    }
    rc = pay_rows_close(rows);
    if (rc != PAY_OK) {
        goto out;
    }
    if (head_n == count && strcmp(head_hash, prev) == 0) {
        rc = pay_buf_addf(report, "ok   audit chain head (%lld events, last hash %s)\n",
                          (long long)count, prev);
    } else {
        (*violations_out)++;
        rc = pay_buf_addf(report,
                          "FAIL audit chain head: records %lld events ending in %.64s, the table "
                          "holds %lld ending in %s (rows removed from or added to the end)\n",
                          (long long)head_n, head_hash, (long long)count, prev);
    }

out:
    pay_buf_release(&scratch);
    for (size_t i = 0; i < 3; i++) {
        pay_buf_release(&checks[i]->examples);
    }
    return rc;
}

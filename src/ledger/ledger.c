/*
 * ledger.c - posting journal entries, the merchant balance, Stripe-shaped
 * balance transactions and the ledger's self-check (DESIGN.md section 5).
 *
 * Invariants: an entry is validated completely (line count, accounts,
 * currency, zero sum, balance-transaction net) before its first row is
 * written, so a refused entry writes nothing; rows of ledger_entries,
 * ledger_lines and balance_transactions are only ever inserted (the
 * migrations add triggers that refuse UPDATE and DELETE on them); the
 * cached balance of (account, currency) is the sum of its shards and
 * equals the sum of its lines, because both are written by the one
 * function below in the caller's transaction.
 *
 * Locking: balance shards are upserted in account-code order with one
 * shard per post, chosen by the post's source, so two concurrent
 * transactions on PostgreSQL lock balance rows in the same order and
 * cannot deadlock on each other.
 *
 * Threading: no state; every function runs inside its caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

/* Longest kind or balance-transaction type ("payment_refund", ...). */
#define KIND_LEN_MAX 64
/* Example ids named on one FAIL line of the report. */
#define VERIFY_EXAMPLES_MAX 3

/* Account types, from the first segment of the code (the chart in ledger.h). */
static const struct {
    const char *segment;
    const char *type;
} account_types[] = {
    {"assets", "asset"},    {"liabilities", "liability"}, {"equity", "equity"},
    {"revenue", "revenue"}, {"expenses", "expense"},
};

/* Stripe's reporting_category of a balance transaction type. */
static const struct {
    const char *type;
    const char *category;
} reporting_categories[] = {
    {"charge", "charge"},
    {"payment", "charge"},
    {"refund", "refund"},
    {"payment_refund", "refund"},
    {"refund_failure", "refund_failure"},
    {"payout", "payout"},
    {"payout_cancel", "payout_reversal"},
    {"payout_failure", "payout_reversal"},
    {"stripe_fee", "fee"},
    {"application_fee", "fee"},
    {"adjustment", "other_adjustment"},
};

/* One account's net change within an entry. */
struct delta {
    const char *account;
    const char *type;
    int64_t amount_minor;
};

/* The type of account @code, or NULL when the code is malformed. */
static const char *account_type(const char *code)
{
    if (code == NULL) {
        return NULL;
    }
    size_t len = strlen(code);
    if (len == 0 || len > PAY_LEDGER_ACCOUNT_LEN_MAX || code[len - 1] == ':') {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = code[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.' || c == ':';
        if (!ok || (c == ':' && code[i + 1] == ':')) {
            return NULL;
        }
    }
    const char *colon = strchr(code, ':');
    if (colon == NULL) {
        return NULL;
    }
    size_t seg_len = (size_t)(colon - code);
    for (size_t i = 0; i < sizeof(account_types) / sizeof(account_types[0]); i++) {
        if (strlen(account_types[i].segment) == seg_len &&
            memcmp(account_types[i].segment, code, seg_len) == 0) {
            return account_types[i].type;
        }
    }
    return NULL;
}

static bool word_valid(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > KIND_LEN_MAX) {
        return false;
    }
    for (const char *c = s; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.')) {
            return false;
        }
    }
    return true;
}

static const char *reporting_category(const char *type)
{
    for (size_t i = 0; i < sizeof(reporting_categories) / sizeof(reporting_categories[0]); i++) {
        if (strcmp(reporting_categories[i].type, type) == 0) {
            return reporting_categories[i].category;
        }
    }
    return "other_adjustment";
}

static enum pay_err db_error(struct pay_error *err, enum pay_err e)
{
    if (err != NULL && err->code == PAY_OK) {
        pay_error_set(err, e, NULL, NULL);
    }
    return e;
}

/*
 * Everything pay_ledger_post checks before writing. Fills @deltas (one per
 * distinct account, sorted by code) and the entry's effect on the merchant
 * balance.
 */
static enum pay_err validate(const struct pay_ledger_entry *e, const struct pay_currency **cur_out,
                             struct delta *deltas, size_t *n_deltas_out, int64_t *net_out,
                             struct pay_error *err)
{
    if (e == NULL || e->lines == NULL) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: no entry");
    }
    if (!word_valid(e->kind)) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: invalid entry kind");
    }
    const struct pay_currency *cur = e->currency ? pay_currency_find(e->currency) : NULL;
    if (cur == NULL) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: unknown currency");
    }
    if (e->n_lines < 2 || e->n_lines > PAY_LEDGER_LINES_MAX) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: an entry needs 2..%d lines",
                             PAY_LEDGER_LINES_MAX);
    }
    int64_t sum = 0, merchant = 0;
    size_t n_deltas = 0;
    for (size_t i = 0; i < e->n_lines; i++) {
        const struct pay_ledger_line *l = &e->lines[i];
        const char *type = account_type(l->account);
        if (type == NULL) {
            return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: invalid account code");
        }
        /* INT64_MIN has no negation; nothing real comes near it. */
        if (l->amount_minor == 0 || l->amount_minor == INT64_MIN) {
            return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: line %zu is zero", i);
        }
        if (!pay_money_add(sum, l->amount_minor, &sum)) {
            return pay_error_set(err, PAY_ERR_OVERFLOW, NULL, NULL);
        }
        if (strcmp(l->account, PAY_ACCOUNT_MERCHANT_BALANCE) == 0 &&
            !pay_money_add(merchant, l->amount_minor, &merchant)) {
            return pay_error_set(err, PAY_ERR_OVERFLOW, NULL, NULL);
        }
        size_t j = 0;
        while (j < n_deltas && strcmp(deltas[j].account, l->account) != 0) {
            j++;
        }
        if (j == n_deltas) {
            /* Insert sorted by code: the lock order of the balance upsert. */
            while (j > 0 && strcmp(deltas[j - 1].account, l->account) > 0) {
                deltas[j] = deltas[j - 1];
                j--;
            }
            deltas[j] = (struct delta){.account = l->account, .type = type, .amount_minor = 0};
            n_deltas++;
        }
        if (!pay_money_add(deltas[j].amount_minor, l->amount_minor, &deltas[j].amount_minor)) {
            return pay_error_set(err, PAY_ERR_OVERFLOW, NULL, NULL);
        }
    }
    if (sum != 0) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL,
                             "ledger: %s entry does not balance (off by %lld)", e->kind,
                             (long long)sum);
    }
    if (e->bt.type == NULL) {
        if (merchant != 0) {
            return pay_error_set(err, PAY_ERR_INTERNAL, NULL,
                                 "ledger: an entry that moves the merchant balance needs a "
                                 "balance transaction");
        }
    } else {
        int64_t net;
        if (!word_valid(e->bt.type) || e->bt.fee_minor < 0) {
            return pay_error_set(err, PAY_ERR_INTERNAL, NULL,
                                 "ledger: invalid balance transaction type or fee");
        }
        if (!pay_money_sub(e->bt.amount_minor, e->bt.fee_minor, &net)) {
            return pay_error_set(err, PAY_ERR_OVERFLOW, NULL, NULL);
        }
        /* The merchant balance is a liability: credit-normal, so a net gain
         * for the merchant is a negative (credit) sum of its lines. */
        if (net != -merchant) {
            return pay_error_set(err, PAY_ERR_INTERNAL, NULL,
                                 "ledger: balance transaction net %lld differs from the "
                                 "merchant balance change %lld",
                                 (long long)net, (long long)-merchant);
        }
        *net_out = net;
    }
    *cur_out = cur;
    *n_deltas_out = n_deltas;
    return PAY_OK;
}

static json_t *bt_object(const char *id, const struct pay_ledger_entry *e, const char *currency,
                         int64_t net, int64_t created)
{
    json_t *o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "balance_transaction");
    pay_json_set_int(o, "amount", e->bt.amount_minor);
    pay_json_set_int(o, "available_on", created);
    pay_json_set_int(o, "created", created);
    pay_json_set_str(o, "currency", currency);
    pay_json_set_str(o, "description", e->description);
    json_object_set_new_nocheck(o, "exchange_rate", json_null());
    pay_json_set_int(o, "fee", e->bt.fee_minor);
    json_t *details = json_array();
    if (e->bt.fee_minor > 0) {
        json_t *d = json_object();
        pay_json_set_int(d, "amount", e->bt.fee_minor);
        json_object_set_new_nocheck(d, "application", json_null());
        pay_json_set_str(d, "currency", currency);
        pay_json_set_str(d, "description", "Processing fees");
        pay_json_set_str(d, "type", "stripe_fee");
        json_array_append_new(details, d);
    }
    json_object_set_new_nocheck(o, "fee_details", details);
    pay_json_set_int(o, "net", net);
    pay_json_set_str(o, "reporting_category", reporting_category(e->bt.type));
    pay_json_set_str(o, "source", e->source_id);
    pay_json_set_str(o, "status", "available");
    pay_json_set_str(o, "type", e->bt.type);
    return o;
}

/*
 * The balance shard of a post: a hash of its source, so every post of one
 * transaction about one object (a capture and its fee) takes the same
 * shard and two such transactions cannot lock two shards in opposite
 * orders; different objects spread over the shards. Entries without a
 * source take a random one. Any shard is correct: the choice only spreads
 * contention.
 */
static int64_t shard_for(const char *source_id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    if (source_id == NULL) {
        unsigned char r = 0;
        if (pay_random_bytes(&r, 1) != PAY_OK) {
            r = 0;
        }
        return r % PAY_LEDGER_SHARDS;
    }
    for (const unsigned char *c = (const unsigned char *)source_id; *c != '\0'; c++) {
        h = (h ^ *c) * 16777619u;
    }
    return h % PAY_LEDGER_SHARDS;
}

/* Append "($k,$k+1,...)" groups for @rows rows of @cols columns to @sql. */
static enum pay_err add_values(struct pay_buf *sql, size_t rows, size_t cols)
{
    size_t k = 1;
    for (size_t r = 0; r < rows; r++) {
        enum pay_err e = pay_buf_adds(sql, r == 0 ? " VALUES (" : ", (");
        for (size_t c = 0; c < cols && e == PAY_OK; c++, k++) {
            e = pay_buf_adds(sql, c == 0 ? "$" : ",$");
            if (e == PAY_OK) {
                e = pay_buf_add_int(sql, (int64_t)k);
            }
        }
        if (e == PAY_OK) {
            e = pay_buf_adds(sql, ")");
        }
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

static enum pay_err exec_values(struct pay_tx *tx, const char *head, size_t rows, size_t cols,
                                const char *tail, const struct pay_param *p)
{
    struct pay_buf sql;
    pay_buf_init(&sql, 64 * 1024);
    enum pay_err e = pay_buf_adds(&sql, head);
    if (e == PAY_OK) {
        e = add_values(&sql, rows, cols);
    }
    if (e == PAY_OK && tail != NULL) {
        e = pay_buf_adds(&sql, tail);
    }
    if (e == PAY_OK) {
        e = pay_tx_exec_later(tx, sql.data, p, rows * cols);
    }
    pay_buf_release(&sql);
    return e;
}

/* Create the accounts of @deltas that do not exist yet. Almost every entry
 * moves money between accounts that exist, and where statements run at once
 * (SQLite) a lookup by primary key costs a fraction of an INSERT ... ON
 * CONFLICT DO NOTHING (one key per lookup: an IN list builds a temporary
 * table each time). Where they are held back (PostgreSQL) each lookup would
 * be a round trip and the INSERT costs none, so it goes straight to the
 * INSERT. @p is scratch space for 3 * @n params. */
static enum pay_err accounts_ensure(struct pay_tx *tx, const struct delta *deltas, size_t n,
                                    int64_t now, struct pay_param *p)
{
    bool all = !pay_tx_defers_writes(tx);
    for (size_t i = 0; i < n && all; i++) {
        /* Accounts are only ever added (nothing updates or deletes
         * ledger_accounts): one found stays found while nothing is undone
         * (store.h, memos), so a post need not look its accounts up again. */
        const char *memo[] = {"ledger_account", deltas[i].account};
        int64_t known = 0;
        if (pay_tx_memo_get(tx, memo, 2, &known)) {
            continue;
        }
        const struct pay_param k[] = {PAY_PTEXT(deltas[i].account)};
        int64_t one = 0;
        enum pay_err e =
            pay_tx_query_int(tx, "SELECT 1 FROM ledger_accounts WHERE code = $1", k, 1, &one, &all);
        if (e != PAY_OK) {
            return e;
        }
        if (all) {
            pay_tx_memo_put(tx, memo, 2, 1);
        }
    }
    if (all) {
        return PAY_OK;
    }
    for (size_t i = 0; i < n; i++) {
        p[3 * i] = PAY_PTEXT(deltas[i].account);
        p[3 * i + 1] = PAY_PTEXT(deltas[i].type);
        p[3 * i + 2] = PAY_PINT(now);
    }
    return exec_values(tx, "INSERT INTO ledger_accounts (code, type, created)", n, 3,
                       " ON CONFLICT (code) DO NOTHING", p);
}

enum pay_err pay_ledger_post(struct pay_tx *tx, const struct pay_ledger_entry *e,
                             char *entry_id_out, struct pay_error *err)
{
    struct delta deltas[PAY_LEDGER_LINES_MAX];
    size_t n_deltas = 0;
    const struct pay_currency *cur = NULL;
    int64_t net = 0;
    enum pay_err rc = validate(e, &cur, deltas, &n_deltas, &net, err);
    if (rc != PAY_OK) {
        return rc;
    }

    char entry_id[PAY_ID_LEN_MAX + 1];
    pay_id_new("je", entry_id);
    int64_t now = pay_now();
    int64_t shard = shard_for(e->source_id);

    /* Scratch for the widest statement: 5 params a line, 3 or 4 a delta. */
    size_t n_p = 5 * (e->n_lines > n_deltas ? e->n_lines : n_deltas);
    struct pay_param *p = malloc(n_p * sizeof(*p));
    if (p == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }

    struct pay_param ep[] = {PAY_PTEXT(entry_id),       PAY_PTEXT(e->kind),
                             PAY_PTEXT(cur->code),      PAY_PTEXT(e->source_id),
                             PAY_PTEXT(e->description), PAY_PINT(now)};
    rc = pay_tx_exec_later(tx,
                           "INSERT INTO ledger_entries (id, kind, currency, source_id, "
                           "description, created) VALUES ($1, $2, $3, $4, $5, $6)",
                           ep, PAY_NPARAMS(ep));
    if (rc != PAY_OK) {
        goto out_free;
    }

    rc = accounts_ensure(tx, deltas, n_deltas, now, p);
    if (rc != PAY_OK) {
        goto out_free;
    }

    int64_t check = 0;
    for (size_t i = 0; i < e->n_lines; i++) {
        p[5 * i] = PAY_PTEXT(entry_id);
        p[5 * i + 1] = PAY_PINT(i + 1);
        p[5 * i + 2] = PAY_PTEXT(e->lines[i].account);
        p[5 * i + 3] = PAY_PTEXT(cur->code);
        p[5 * i + 4] = PAY_PINT(e->lines[i].amount_minor);
        bool added = pay_money_add(check, e->lines[i].amount_minor, &check);
        PAY_ASSERT(added);
    }
    /* The pair of validate()'s check: what is written balances. */
    PAY_ASSERT(check == 0);
    rc = exec_values(tx,
                     "INSERT INTO ledger_lines (entry_id, line_no, account, currency, "
                     "amount_minor)",
                     e->n_lines, 5, NULL, p);
    if (rc != PAY_OK) {
        goto out_free;
    }

    size_t n_moved = 0;
    for (size_t i = 0; i < n_deltas; i++) {
        if (deltas[i].amount_minor == 0) {
            continue;
        }
        p[4 * n_moved] = PAY_PTEXT(deltas[i].account);
        p[4 * n_moved + 1] = PAY_PTEXT(cur->code);
        p[4 * n_moved + 2] = PAY_PINT(shard);
        p[4 * n_moved + 3] = PAY_PINT(deltas[i].amount_minor);
        n_moved++;
    }
    if (n_moved > 0) {
        rc = exec_values(
            tx, "INSERT INTO ledger_balances (account, currency, shard, balance_minor)", n_moved, 4,
            " ON CONFLICT (account, currency, shard) DO UPDATE SET balance_minor = "
            "ledger_balances.balance_minor + excluded.balance_minor",
            p);
        if (rc != PAY_OK) {
            goto out_free;
        }
    }

    if (e->bt.type != NULL) {
        char bt_id[PAY_ID_LEN_MAX + 1];
        pay_id_new("txn", bt_id);
        json_t *obj = bt_object(bt_id, e, cur->code, net, now);
        char *data = pay_json_dump(obj);
        json_decref(obj);
        if (data == NULL) {
            rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            goto out_free;
        }
        struct pay_param bp[] = {PAY_PTEXT(bt_id),
                                 PAY_PINT(now),
                                 PAY_PTEXT(entry_id),
                                 PAY_PTEXT(e->bt.type),
                                 PAY_PTEXT(e->source_id),
                                 PAY_PTEXT(cur->code),
                                 PAY_PINT(e->bt.amount_minor),
                                 PAY_PINT(e->bt.fee_minor),
                                 PAY_PINT(net),
                                 PAY_PJSON(data)};
        rc = pay_tx_exec_later(tx,
                               "INSERT INTO balance_transactions (id, created, entry_id, type, "
                               "source, currency, amount_minor, fee_minor, net_minor, data) "
                               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                               bp, PAY_NPARAMS(bp));
        free(data);
        if (rc != PAY_OK) {
            goto out_free;
        }
    }

#ifdef PAY_DEBUG
    {
        /* Read back what was written: the database agrees the entry balances. */
        int64_t back = 1;
        bool found = false;
        struct pay_param rp[] = {PAY_PTEXT(entry_id)};
        rc = pay_tx_query_int(tx,
                              "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM "
                              "ledger_lines WHERE entry_id = $1",
                              rp, 1, &back, &found);
        if (rc == PAY_OK && (!found || back != 0)) {
            rc = pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: read-back does not balance");
        }
        if (rc != PAY_OK) {
            goto out_free;
        }
    }
#endif

    if (entry_id_out != NULL) {
        memcpy(entry_id_out, entry_id, strlen(entry_id) + 1);
    }
out_free:
    free(p);
    return rc == PAY_OK ? PAY_OK : db_error(err, rc);
}

enum pay_err pay_ledger_source_sum(struct pay_tx *tx, const char *source_id, const char *kind,
                                   const char *account, int64_t *sum_out)
{
    struct pay_param p[] = {PAY_PTEXT(source_id), PAY_PTEXT(account), PAY_PTEXT(kind)};
    bool found = false;
    int64_t sum = 0;
    /* Entries by source first, then their lines by primary key. Without
     * statistics SQLite would rather walk ledger_lines_account (every line
     * of the account, per call: quadratic in payd audit verify);
     * "l.account || ''" keeps that index out of the plan, on both databases. */
    enum pay_err rc = pay_tx_query_int(
        tx,
        kind != NULL
            ? "SELECT CAST(COALESCE(SUM(l.amount_minor), 0) AS BIGINT) FROM ledger_entries "
              "e CROSS JOIN ledger_lines l WHERE l.entry_id = e.id AND e.source_id = $1 "
              "AND l.account || '' = $2 AND e.kind = $3"
            : "SELECT CAST(COALESCE(SUM(l.amount_minor), 0) AS BIGINT) FROM ledger_entries "
              "e CROSS JOIN ledger_lines l WHERE l.entry_id = e.id AND e.source_id = $1 "
              "AND l.account || '' = $2",
        p, kind != NULL ? 3 : 2, &sum, &found);
    if (rc != PAY_OK) {
        return rc;
    }
    *sum_out = found ? sum : 0;
    return PAY_OK;
}

enum pay_err pay_ledger_balance(struct pay_tx *tx, json_t **out, struct pay_error *err)
{
    struct pay_param p[] = {PAY_PTEXT(PAY_ACCOUNT_MERCHANT_BALANCE)};
    struct pay_rows *rows = NULL;
    enum pay_err rc = pay_tx_query(tx,
                                   "SELECT currency, CAST(SUM(balance_minor) AS BIGINT) FROM "
                                   "ledger_balances WHERE account = $1 GROUP BY currency ORDER BY "
                                   "currency",
                                   p, 1, &rows);
    if (rc != PAY_OK) {
        return db_error(err, rc);
    }
    json_t *available = json_array(), *pending = json_array();
    while (pay_rows_next(rows)) {
        const char *currency = pay_rows_text(rows, 0);
        int64_t amount;
        if (currency == NULL || !pay_money_sub(0, pay_rows_int(rows, 1), &amount)) {
            rc = pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: unreadable balance row");
            break;
        }
        json_t *a = json_object();
        pay_json_set_int(a, "amount", amount);
        pay_json_set_str(a, "currency", currency);
        json_t *types = json_object();
        pay_json_set_int(types, "card", amount);
        json_object_set_new_nocheck(a, "source_types", types);
        json_array_append_new(available, a);

        json_t *pe = json_object();
        pay_json_set_int(pe, "amount", 0);
        pay_json_set_str(pe, "currency", currency);
        types = json_object();
        pay_json_set_int(types, "card", 0);
        json_object_set_new_nocheck(pe, "source_types", types);
        json_array_append_new(pending, pe);
    }
    enum pay_err close_rc = pay_rows_close(rows);
    if (rc == PAY_OK) {
        rc = close_rc;
    }
    if (rc != PAY_OK) {
        json_decref(available);
        json_decref(pending);
        return db_error(err, rc);
    }
    json_t *o = json_object();
    pay_json_set_str(o, "object", "balance");
    json_object_set_new_nocheck(o, "available", available);
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "pending", pending);
    *out = o;
    return PAY_OK;
}

enum pay_err pay_ledger_bt_get(struct pay_tx *tx, const char *id, json_t **out,
                               struct pay_error *err)
{
    if (id == NULL || !pay_id_valid(id, "txn")) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such balance transaction: '%s'",
                             id ? id : "");
    }
    struct pay_param p[] = {PAY_PTEXT(id)};
    char *data = NULL;
    enum pay_err rc =
        pay_tx_query_text(tx, "SELECT data FROM balance_transactions WHERE id = $1", p, 1, &data);
    if (rc != PAY_OK) {
        return db_error(err, rc);
    }
    if (data == NULL) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such balance transaction: '%s'", id);
    }
    json_t *o = json_loads(data, 0, NULL);
    free(data);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "ledger: unreadable balance transaction");
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_ledger_bt_list(struct pay_tx *tx, const char *type, const char *source,
                                const struct pay_list_args *args, json_t **data_out, bool *has_more,
                                struct pay_error *err)
{
    struct pay_param p[2];
    size_t n = 0;
    char where[64] = "";
    if (type != NULL) {
        p[n++] = PAY_PTEXT(type);
        strcat(where, "type = $1");
    }
    if (source != NULL) {
        p[n++] = PAY_PTEXT(source);
        strcat(where, n == 2 ? " AND source = $2" : "source = $1");
    }
    return pay_tx_list(tx, "balance_transactions", n > 0 ? where : NULL, p, n, args, data_out,
                       has_more, err);
}

/* ---- verify ------------------------------------------------------------- */

struct verify {
    struct pay_tx *tx;
    struct pay_buf *report;
    int64_t violations;
};

/* Append "ok   NAME (N UNIT)" or "FAIL NAME: B of N UNIT (ex1, ex2, ...)". */
static enum pay_err report_line(struct verify *v, const char *name, const char *unit,
                                int64_t checked, int64_t bad, const char *examples)
{
    v->violations += bad;
    if (bad == 0) {
        return pay_buf_addf(v->report, "ok   %s (%lld %s)\n", name, (long long)checked, unit);
    }
    return pay_buf_addf(v->report, "FAIL %s: %lld of %lld %s (%s%s)\n", name, (long long)bad,
                        (long long)checked, unit, examples,
                        bad > VERIFY_EXAMPLES_MAX ? ", ..." : "");
}

/* Collect up to VERIFY_EXAMPLES_MAX first-column values of @sql's rows
 * into @ex and count all rows into *bad. */
static enum pay_err collect(struct pay_tx *tx, const char *sql, int64_t *bad, struct pay_buf *ex)
{
    struct pay_rows *rows = NULL;
    enum pay_err rc = pay_tx_query(tx, sql, NULL, 0, &rows);
    if (rc != PAY_OK) {
        return rc;
    }
    *bad = 0;
    while (pay_rows_next(rows)) {
        if (*bad < VERIFY_EXAMPLES_MAX && rc == PAY_OK) {
            const char *t = pay_rows_text(rows, 0);
            rc = pay_buf_addf(ex, "%s%s", *bad > 0 ? ", " : "", t ? t : "?");
        }
        (*bad)++;
    }
    enum pay_err close_rc = pay_rows_close(rows);
    return rc != PAY_OK ? rc : close_rc;
}

/* One check: @count_sql counts what was checked, @bad_sql lists offenders. */
static enum pay_err check(struct verify *v, const char *name, const char *unit,
                          const char *count_sql, const char *bad_sql)
{
    int64_t checked = 0, bad = 0;
    bool found = false;
    enum pay_err rc = pay_tx_query_int(v->tx, count_sql, NULL, 0, &checked, &found);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_buf ex;
    pay_buf_init(&ex, 4096);
    rc = collect(v->tx, bad_sql, &bad, &ex);
    if (rc == PAY_OK) {
        rc = report_line(v, name, unit, checked, bad, ex.data ? ex.data : "");
    }
    pay_buf_release(&ex);
    return rc;
}

#define MERCHANT "'" PAY_ACCOUNT_MERCHANT_BALANCE "'"
/* "l.account || ''" below: an entry's lines are found by the primary key
 * (entry_id, ...), not by ledger_lines_account, which SQLite would pick
 * without statistics and walk for every row (see pay_ledger_source_sum). */

/* Every balance transaction against its columns, its JSON and its entry. */
static enum pay_err check_bts(struct verify *v)
{
    struct pay_rows *rows = NULL;
    enum pay_err rc = pay_tx_query(
        v->tx,
        "SELECT b.id, b.amount_minor, b.fee_minor, b.net_minor, b.data, b.currency, b.type, "
        "e.id, (SELECT CAST(COALESCE(SUM(l.amount_minor), 0) AS BIGINT) FROM ledger_lines l "
        "WHERE l.entry_id = b.entry_id AND l.account || '' = " MERCHANT ") "
        "FROM balance_transactions b LEFT JOIN ledger_entries e ON e.id = b.entry_id "
        "ORDER BY b.seq",
        NULL, 0, &rows);
    if (rc != PAY_OK) {
        return rc;
    }
    int64_t checked = 0, bad = 0;
    struct pay_buf ex;
    pay_buf_init(&ex, 4096);
    while (pay_rows_next(rows)) {
        checked++;
        const char *id = pay_rows_text(rows, 0);
        int64_t amount = pay_rows_int(rows, 1), fee = pay_rows_int(rows, 2);
        int64_t net = pay_rows_int(rows, 3), merchant = pay_rows_int(rows, 8);
        const char *currency = pay_rows_text(rows, 5), *type = pay_rows_text(rows, 6);
        int64_t want_net, effect;
        bool ok = id != NULL && currency != NULL && type != NULL && !pay_rows_null(rows, 7) &&
                  fee >= 0 && pay_money_sub(amount, fee, &want_net) && want_net == net &&
                  pay_money_sub(0, merchant, &effect) && effect == net;
        if (ok) {
            json_t *o = json_loads(pay_rows_text(rows, 4) ? pay_rows_text(rows, 4) : "", 0, NULL);
            const char *oid = pay_json_str(o, "id"), *ocur = pay_json_str(o, "currency");
            const char *otype = pay_json_str(o, "type");
            ok = json_is_object(o) && json_is_integer(json_object_get(o, "amount")) &&
                 pay_json_int(o, "amount", 0) == amount && pay_json_int(o, "fee", -1) == fee &&
                 pay_json_int(o, "net", 0) == net && json_is_integer(json_object_get(o, "net")) &&
                 oid && strcmp(oid, id) == 0 && ocur && strcmp(ocur, currency) == 0 && otype &&
                 strcmp(otype, type) == 0;
            json_decref(o);
        }
        if (!ok) {
            if (bad < VERIFY_EXAMPLES_MAX && rc == PAY_OK) {
                rc = pay_buf_addf(&ex, "%s%s", bad > 0 ? ", " : "", id ? id : "?");
            }
            bad++;
        }
    }
    enum pay_err close_rc = pay_rows_close(rows);
    if (rc == PAY_OK) {
        rc = close_rc;
    }
    if (rc == PAY_OK) {
        rc = report_line(v,
                         "balance transactions agree with their entries (net = amount - fee = "
                         "merchant balance change)",
                         "balance transactions", checked, bad, ex.data ? ex.data : "");
    }
    pay_buf_release(&ex);
    return rc;
}

enum pay_err pay_ledger_verify(struct pay_tx *tx, struct pay_buf *report, int64_t *violations_out)
{
    struct verify v = {.tx = tx, .report = report};
    static const char lines_n[] = "SELECT COUNT(*) FROM ledger_lines";
    static const char entries_n[] = "SELECT COUNT(*) FROM ledger_entries";
    enum pay_err rc = check(&v, "lines belong to entries", "lines", lines_n,
                            "SELECT l.entry_id FROM ledger_lines l WHERE NOT EXISTS "
                            "(SELECT 1 FROM ledger_entries e WHERE e.id = l.entry_id)");
    if (rc == PAY_OK) {
        rc = check(&v, "lines are not zero", "lines", lines_n,
                   "SELECT entry_id FROM ledger_lines WHERE amount_minor = 0");
    }
    if (rc == PAY_OK) {
        rc = check(&v, "lines are in their entry's currency", "lines", lines_n,
                   "SELECT l.entry_id FROM ledger_lines l JOIN ledger_entries e ON e.id = "
                   "l.entry_id WHERE l.currency <> e.currency");
    }
    if (rc == PAY_OK) {
        rc = check(&v, "lines name known accounts", "lines", lines_n,
                   "SELECT l.account FROM ledger_lines l WHERE NOT EXISTS "
                   "(SELECT 1 FROM ledger_accounts a WHERE a.code = l.account)");
    }
    if (rc == PAY_OK) {
        rc = check(&v, "entries have at least 2 lines", "entries", entries_n,
                   "SELECT e.id FROM ledger_entries e WHERE (SELECT COUNT(*) FROM ledger_lines l "
                   "WHERE l.entry_id = e.id) < 2 ORDER BY e.seq");
    }
    if (rc == PAY_OK) {
        rc = check(&v, "entries balance (lines sum to zero per currency)", "entries", entries_n,
                   "SELECT entry_id FROM ledger_lines GROUP BY entry_id, currency "
                   "HAVING SUM(amount_minor) <> 0");
    }
    if (rc == PAY_OK) {
        rc = check(&v, "cached balances equal the sum of their lines", "balances",
                   "SELECT COUNT(*) FROM (SELECT account, currency FROM ledger_lines UNION "
                   "SELECT account, currency FROM ledger_balances) u",
                   "SELECT account || ' ' || currency FROM (SELECT account, currency, "
                   "amount_minor AS a FROM ledger_lines UNION ALL SELECT account, currency, "
                   "-balance_minor FROM ledger_balances) u GROUP BY account, currency "
                   "HAVING SUM(a) <> 0 ORDER BY 1");
    }
    if (rc == PAY_OK) {
        rc = check_bts(&v);
    }
    if (rc == PAY_OK) {
        rc = check(&v, "merchant balance changes have balance transactions", "entries", entries_n,
                   "SELECT e.id FROM ledger_entries e WHERE NOT EXISTS (SELECT 1 FROM "
                   "balance_transactions b WHERE b.entry_id = e.id) AND (SELECT "
                   "COALESCE(SUM(l.amount_minor), 0) FROM ledger_lines l WHERE l.entry_id = e.id "
                   "AND l.account || '' = " MERCHANT ") <> 0 ORDER BY e.seq");
    }
    *violations_out = v.violations;
    return rc;
}

/*
 * ledger.h - payd's double-entry ledger: the only code that writes ledger
 * rows (DESIGN.md section 5).
 *
 * Invariants: every journal entry has lines that sum to zero in its one
 * currency; nothing is updated or deleted (corrections are new entries);
 * cached balances equal the sum of their lines. Entries are written in the
 * caller's transaction, together with the state change they record.
 *
 * Chart of accounts (codes; type from the first segment):
 *   assets:processor:<connector>    funds the processor holds for us (debit-normal)
 *   liabilities:merchant:balance    what payd owes the merchant (credit-normal)
 * A capture of X: Dr assets:processor:sandbox X / Cr liabilities:merchant:balance X;
 * with a provider's fee F (issue 6) the same entry adds Dr
 * liabilities:merchant:balance F / Cr assets:processor:sandbox F (the
 * processor withholds the fee; it is the merchant's cost, not payd's), and
 * its balance transaction is a charge of X with fee F, net X - F.
 * A refund of Y:  Dr liabilities:merchant:balance Y / Cr assets:processor:sandbox Y.
 *
 * Threading: functions take the caller's transaction; no state of their own.
 */
#ifndef PAY_LEDGER_H
#define PAY_LEDGER_H

#include "../store/store.h"

#define PAY_ACCOUNT_MERCHANT_BALANCE "liabilities:merchant:balance"

/* Lines of one entry: a capture has 2, a capture with a fee 3-4; 64 leaves
 * room for a split settlement while bounding one statement's parameters. */
#define PAY_LEDGER_LINES_MAX 64
/* An account code: "assets:processor:<connector>" and similar. */
#define PAY_LEDGER_ACCOUNT_LEN_MAX 128
/* Cached balances are spread over this many rows per (account, currency),
 * one picked per post from a hash of its source_id (random without one),
 * so concurrent posts on PostgreSQL do not all queue on one hot row. A
 * balance is the sum over its shards. */
#define PAY_LEDGER_SHARDS 8

/* One line: positive = debit, negative = credit, in the entry's currency. */
struct pay_ledger_line {
    const char *account; /* account code, created on first use */
    int64_t amount_minor;
};

/*
 * What the entry means for the merchant's balance, in Stripe's
 * balance_transaction shape. type NULL = the entry makes no balance transaction.
 */
struct pay_ledger_bt {
    const char *type;     /* "charge", "refund", "adjustment", ... */
    int64_t amount_minor; /* gross, signed: +captured, -refunded */
    int64_t fee_minor;    /* >= 0 */
};

struct pay_ledger_entry {
    const char *kind;        /* "capture", "refund", "fee", ... */
    const char *currency;    /* lower-case ISO 4217 */
    const char *source_id;   /* the object that caused it: pi_..., re_... */
    const char *description; /* may be NULL */
    const struct pay_ledger_line *lines;
    size_t n_lines;
    struct pay_ledger_bt bt;
};

/*
 * Post @e inside @tx. PAY_ERR_INTERNAL (and nothing written) when the lines
 * do not sum to zero, a line is zero, or the balance transaction's net
 * (amount - fee) differs from the entry's effect on the merchant balance.
 * @entry_id_out (may be NULL; PAY_ID_LEN_MAX + 1 bytes) gets "je_...".
 *
 * Also PAY_ERR_INTERNAL, nothing written, with the reason in @err->message:
 * fewer than 2 or more than PAY_LEDGER_LINES_MAX lines, an unknown currency,
 * an empty kind, an account code that is not "<type>:..." with type one of
 * assets, liabilities, equity, revenue, expenses (lower-case letters,
 * digits, '_', '-', '.', ':'), a negative fee, or an entry without a
 * balance transaction that moves the merchant balance (every change of the
 * merchant balance is a balance transaction, as in Stripe).
 * PAY_ERR_OVERFLOW when the sums overflow. Store errors as pay_tx_exec.
 * With a bt.type, a balance transaction "txn_..." is written too; its
 * source is @e->source_id.
 */
enum pay_err pay_ledger_post(struct pay_tx *tx, const struct pay_ledger_entry *e,
                             char *entry_id_out, struct pay_error *err) PAY_WUR;

/* Sum of the lines on @account for entries caused by @source_id of @kind
 * (NULL = any kind), signed as posted; 0 when there are none. */
enum pay_err pay_ledger_source_sum(struct pay_tx *tx, const char *source_id, const char *kind,
                                   const char *account, int64_t *sum_out) PAY_WUR;

/*
 * Stripe's balance object {"object":"balance","livemode":false,
 * "available":[{amount,currency,source_types:{card}}],"pending":[...]}:
 * the merchant balance (credit-normal, so shown negated) per currency that
 * has ever moved, sorted by currency; pending is 0 per currency (sandbox
 * funds are available at once). *out is new (caller owns).
 */
enum pay_err pay_ledger_balance(struct pay_tx *tx, json_t **out, struct pay_error *err) PAY_WUR;
/*
 * balance_transactions: one (PAY_ERR_NOT_FOUND, param "id", when absent), or
 * a page, newest first, as pay_tx_list (filters: type, source; NULL = any).
 * Objects are new (caller owns).
 */
enum pay_err pay_ledger_bt_get(struct pay_tx *tx, const char *id, json_t **out,
                               struct pay_error *err) PAY_WUR;
enum pay_err pay_ledger_bt_list(struct pay_tx *tx, const char *type, const char *source,
                                const struct pay_list_args *args, json_t **data_out, bool *has_more,
                                struct pay_error *err) PAY_WUR;

/*
 * Check the ledger's own invariants: every entry balances per currency,
 * every cached balance equals the sum of its lines. Appends one line per
 * check to @report ("ok   entries balance (1234 entries)" /
 * "FAIL ...") and sets *violations_out to the number of failures.
 *
 * The checks: lines belong to entries, are non-zero, carry their entry's
 * currency and name a known account; every entry has at least 2 lines and
 * sums to zero; cached balances equal the sum of lines per (account,
 * currency); every balance transaction's net equals amount - fee, its JSON
 * agrees with its columns, and its net equals its entry's effect on the
 * merchant balance; every entry that moves the merchant balance has a
 * balance transaction. *violations_out counts offending rows (0 = all ok).
 * Returns an error only when the store fails.
 */
enum pay_err pay_ledger_verify(struct pay_tx *tx, struct pay_buf *report,
                               int64_t *violations_out) PAY_WUR;

#endif

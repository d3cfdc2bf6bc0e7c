-- 0002_ledger: the double-entry ledger (issue 3, DESIGN.md section 5).
--
-- ledger_entries and ledger_lines are the journal: every entry's lines sum
-- to zero in its one currency. ledger_balances caches the sum of lines per
-- (account, currency), spread over a few shards so concurrent posts do not
-- all wait on one row; the balance is the sum over its shards.
-- balance_transactions is the merchant-balance view in Stripe's shape, one
-- per entry that moves the merchant balance.
-- Journal rows are append-only: corrections are new entries. The triggers
-- below refuse UPDATE and DELETE on entries, lines and balance
-- transactions, whatever a bug upstream tries.

CREATE TABLE ledger_accounts (
    code TEXT PRIMARY KEY,
    type TEXT NOT NULL
        CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    created BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    source_id TEXT,
    description TEXT,
    created BIGINT NOT NULL
);
CREATE INDEX ledger_entries_source ON ledger_entries (source_id);

CREATE TABLE ledger_lines (
    entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
    line_no BIGINT NOT NULL,
    account TEXT NOT NULL REFERENCES ledger_accounts (code),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (entry_id, line_no)
);
CREATE INDEX ledger_lines_account ON ledger_lines (account, currency);

CREATE TABLE ledger_balances (
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    shard BIGINT NOT NULL,
    balance_minor BIGINT NOT NULL,
    PRIMARY KEY (account, currency, shard)
);

CREATE TABLE balance_transactions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    entry_id TEXT NOT NULL UNIQUE REFERENCES ledger_entries (id),
    type TEXT NOT NULL,
    source TEXT,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    fee_minor BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX balance_transactions_type ON balance_transactions (type, seq);
CREATE INDEX balance_transactions_source ON balance_transactions (source, seq);
CREATE INDEX balance_transactions_created ON balance_transactions (created, seq);

CREATE FUNCTION pay_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION pay_ledger_append_only();
CREATE TRIGGER ledger_lines_append_only BEFORE UPDATE OR DELETE ON ledger_lines
    FOR EACH ROW EXECUTE FUNCTION pay_ledger_append_only();
CREATE TRIGGER balance_transactions_append_only BEFORE UPDATE OR DELETE ON balance_transactions
    FOR EACH ROW EXECUTE FUNCTION pay_ledger_append_only();

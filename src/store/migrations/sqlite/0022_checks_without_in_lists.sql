-- 0022_checks_without_in_lists: the CHECK constraints written on every
-- payment and every provider event test their value with OR, not IN
-- (issue 7, round 13).
--
-- SQLite evaluates `x IN ('a', 'b', 'c')` (three constants or more) in a
-- CHECK by building a temporary B-tree of the constants each time a row
-- is inserted: it opens and closes an in-memory pager for every
-- payment_attempts row (decision) and provider_events row (status), about
-- 1.6 % of the writer's time a payment (bench/RESULTS.md, round 13). The
-- same test written `x = 'a' OR x = 'b' OR x = 'c'` is a few comparisons.
-- The allowed values and every column, row, sequence number and index are
-- as they were.
--
-- SQLite cannot change a table's constraint in place, so each table is
-- built again (SQLite's documented way: a new table, the rows copied, the
-- old one dropped, the new one renamed) in this migration's transaction.
-- The view over payment_attempts is dropped first (a rename checks every
-- view) and made again as it was. Each table's AUTOINCREMENT high-water
-- mark is carried over, so no sequence number is handed out twice.

DROP VIEW payment_attempt_objects;

CREATE TABLE payment_attempts_0022 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    payment_intent TEXT NOT NULL,
    customer TEXT,
    tender TEXT,
    provider TEXT,
    card_fingerprint TEXT,
    client_addr TEXT,
    email TEXT,
    facility TEXT,
    timezone TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    score BIGINT NOT NULL CHECK (score >= 0 AND score <= 100),
    reasons TEXT NOT NULL,
    decision TEXT NOT NULL
        CHECK (decision = 'approve' OR decision = 'review' OR decision = 'decline'),
    outcome TEXT NOT NULL,
    actor TEXT
);
INSERT INTO payment_attempts_0022 (seq, id, created, payment_intent, customer, tender, provider,
    card_fingerprint, client_addr, email, facility, timezone, amount, currency, score, reasons,
    decision, outcome, actor)
SELECT seq, id, created, payment_intent, customer, tender, provider, card_fingerprint,
    client_addr, email, facility, timezone, amount, currency, score, reasons, decision, outcome,
    actor
FROM payment_attempts ORDER BY seq;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'payment_attempts_0022', seq FROM sqlite_sequence
WHERE name = 'payment_attempts'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'payment_attempts_0022');
UPDATE sqlite_sequence
SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'payment_attempts'))
WHERE name = 'payment_attempts_0022';
DROP TABLE payment_attempts;
ALTER TABLE payment_attempts_0022 RENAME TO payment_attempts;
CREATE INDEX payment_attempts_intent ON payment_attempts (payment_intent, seq);
CREATE INDEX payment_attempts_card ON payment_attempts (card_fingerprint, created);
CREATE INDEX payment_attempts_customer
    ON payment_attempts (customer, created, card_fingerprint, outcome, currency, amount);
CREATE INDEX payment_attempts_addr ON payment_attempts (client_addr, created, card_fingerprint)
    WHERE client_addr IS NOT NULL;
CREATE INDEX payment_attempts_customer_outcome ON payment_attempts (customer, outcome, created)
    WHERE outcome = 'declined';

CREATE VIEW payment_attempt_objects AS
SELECT seq, id, created, payment_intent, customer, json_object(
    'id', id, 'object', 'payment_attempt', 'created', created, 'livemode', json('false'),
    'payment_intent', payment_intent, 'customer', customer, 'tender', tender,
    'provider', provider, 'card_fingerprint', card_fingerprint, 'client_address', client_addr,
    'email', email, 'facility', facility, 'timezone', timezone, 'amount', amount,
    'currency', currency, 'score', score, 'reasons', json(reasons), 'decision', decision,
    'outcome', outcome, 'actor', actor) AS data
FROM payment_attempts;

CREATE TABLE provider_events_0022 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    received BIGINT NOT NULL,
    status TEXT NOT NULL
        CHECK (status = 'applied' OR status = 'ignored' OR status = 'mismatch'
               OR status = 'unmatched'),
    payment_intent TEXT,
    note TEXT,
    data TEXT NOT NULL,
    UNIQUE (provider, event_id)
);
INSERT INTO provider_events_0022 (seq, provider, event_id, type, received, status,
    payment_intent, note, data)
SELECT seq, provider, event_id, type, received, status, payment_intent, note, data
FROM provider_events ORDER BY seq;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'provider_events_0022', seq FROM sqlite_sequence
WHERE name = 'provider_events'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'provider_events_0022');
UPDATE sqlite_sequence
SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'provider_events'))
WHERE name = 'provider_events_0022';
DROP TABLE provider_events;
ALTER TABLE provider_events_0022 RENAME TO provider_events;
CREATE INDEX provider_events_payment_intent ON provider_events (payment_intent, seq);
CREATE INDEX provider_events_status ON provider_events (status, seq);

-- Inserting the rows of a table that had none leaves SQLite's own
-- sequence row for it with no number: gone, as before this migration.
DELETE FROM sqlite_sequence
WHERE name IN ('payment_attempts', 'provider_events') AND seq IS NULL;

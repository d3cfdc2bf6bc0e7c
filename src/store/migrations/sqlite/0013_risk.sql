-- 0013_risk: fraud scoring and limits (issue 6, items 4 and 5).
--
-- payment_attempts: one row per payment attempt that reached the risk check
-- (attempt() in payment_intents.c, before any connector): who paid with what
-- from where (customer, card fingerprint, client address, e-mail), the
-- amount, the score 0..100, the reasons that made it ([{rule, points,
-- detail}] as JSON text), the decision (approve | review | decline) and the
-- outcome the payment flow reported later (pending until then; succeeded,
-- declined, requires_action, ...). The velocity, recent-decline, card-testing
-- and daily-limit rules count these rows, hence the indexes by subject and
-- time. Never shown to patients.
CREATE TABLE payment_attempts (
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
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'review', 'decline')),
    outcome TEXT NOT NULL,
    actor TEXT
);
CREATE INDEX payment_attempts_intent ON payment_attempts (payment_intent, seq);
CREATE INDEX payment_attempts_customer ON payment_attempts (customer, created);
CREATE INDEX payment_attempts_card ON payment_attempts (card_fingerprint, created);
CREATE INDEX payment_attempts_addr ON payment_attempts (client_addr, created);

-- The API object of an attempt, built from the columns (the outcome changes
-- after the row is written), so pay_tx_list pages it like any object table.
CREATE VIEW payment_attempt_objects AS
SELECT seq, id, created, payment_intent, customer, json_object(
    'id', id, 'object', 'payment_attempt', 'created', created, 'livemode', json('false'),
    'payment_intent', payment_intent, 'customer', customer, 'tender', tender,
    'provider', provider, 'card_fingerprint', card_fingerprint, 'client_address', client_addr,
    'email', email, 'facility', facility, 'timezone', timezone, 'amount', amount,
    'currency', currency, 'score', score, 'reasons', json(reasons), 'decision', decision,
    'outcome', outcome, 'actor', actor) AS data
FROM payment_attempts;

-- blocklist_entries: values whose attempts the blocklist rule scores
-- (card_fingerprint, email, client_address), normalised (lower case,
-- canonical address text); one row per (type, value).
CREATE TABLE blocklist_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('card_fingerprint', 'email', 'client_address')),
    value TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (type, value)
);

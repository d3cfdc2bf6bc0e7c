-- 0006_provider_attempts: calls to external payment providers (issue 4, the
-- stripe connector).
--
-- A row is written, and committed, BEFORE payd sends a request to a
-- provider, and settled in a later transaction from the answer: nothing
-- calls a provider inside a database transaction (DESIGN.md). The request
-- is kept exactly as sent (method, path, form body, Idempotency-Key
-- "payd_<id>") so that an ambiguous outcome (timeout) is settled by sending
-- the same bytes with the same key again: the provider answers with the
-- stored result of the first, it never acts twice. The body holds the
-- provider's pm_... id and amounts, never card data or secrets.
--
-- status: pending (sent or about to be; outcome not applied) -> done.
-- outcome: while pending, the intent's status before the call (restored
-- when the provider refuses a capture or cancel); once done, the outcome.
-- The Stripe PaymentIntent's id is kept in payment_intents.provider_ref
-- (indexed by 0007 for inbound webhooks).
-- At most one pending attempt per payment intent: the domain refuses a
-- second operation while one is in flight, and this index is the backstop.

CREATE TABLE provider_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    intent TEXT NOT NULL REFERENCES payment_intents (id),
    refund TEXT,
    connector TEXT NOT NULL,
    operation TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    amount BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    request_method TEXT NOT NULL,
    request_path TEXT NOT NULL,
    request_body TEXT NOT NULL,
    outcome TEXT,
    provider_ref TEXT,
    http_status BIGINT,
    settled_at BIGINT
);
CREATE UNIQUE INDEX provider_attempts_one_pending ON provider_attempts (intent)
    WHERE status = 'pending';
CREATE INDEX provider_attempts_status ON provider_attempts (status, created);

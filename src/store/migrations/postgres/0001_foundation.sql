-- 0001_foundation: API keys and Idempotency-Key records.
-- Types are the subset both back ends share (TEXT, BIGINT); keep the
-- sqlite/ and postgres/ twins of this file identical where they can be.

-- API keys: only the SHA-256 of the secret is stored; prefix is the
-- non-secret start shown in listings ("sk_test_abcd").
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Idempotency keys, scoped to the caller; status 0 while the first request
-- runs, then its HTTP status and rendered body. Pruned by created.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL DEFAULT 0,
    response TEXT,
    created BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);

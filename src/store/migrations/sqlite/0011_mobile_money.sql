-- 0011_mobile_money: requests to pay sent to mobile money providers (issue
-- 6, the mobile_money connector: MTN MoMo and the wallets on its pattern).
--
-- A row is written, and committed, BEFORE payd sends the request-to-pay,
-- under the UUIDv4 reference (X-Reference-Id) it will be sent with: nothing
-- calls a provider inside a database transaction (DESIGN.md), and every
-- request payd may have sent can be asked about again by its reference. A
-- request sent twice under one reference is refused by the provider (409),
-- never paid twice.
--
-- status: sending (recorded; not yet known to be accepted) -> pending
-- (accepted, waiting for the payer) -> succeeded | failed; or canceled
-- (the intent was canceled or paid another way first). The outcome is
-- applied exactly once: whoever learns it first (the request itself, the
-- callback, the poller, the OTP step) moves the row out of
-- sending/pending with a conditional UPDATE, and only the one whose UPDATE
-- changed the row books the payment (one ledger entry) or the decline.
-- settled_by says which one did.
--
-- config: the provider's connector configuration and credentials and the
-- payer's wallet number as they were when the request was made, sealed
-- (AES-256-GCM under the server key, pay_seal, the reference as additional
-- data); wiped (NULL) once the request is settled. payer_last4 is what may
-- be shown. At most one open (sending or pending) request per intent.

CREATE TABLE momo_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    intent TEXT NOT NULL REFERENCES payment_intents (id),
    provider TEXT NOT NULL,
    profile TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    payer_last4 TEXT NOT NULL,
    otp BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    reason TEXT,
    financial_id TEXT,
    http_status BIGINT,
    config TEXT,
    sends BIGINT NOT NULL DEFAULT 0,
    polls BIGINT NOT NULL DEFAULT 0,
    next_poll_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    settled_at BIGINT,
    settled_by TEXT
);
CREATE UNIQUE INDEX momo_requests_one_open ON momo_requests (intent)
    WHERE status IN ('sending', 'pending');
CREATE INDEX momo_requests_due ON momo_requests (status, next_poll_at);
CREATE INDEX momo_requests_intent ON momo_requests (intent, seq);

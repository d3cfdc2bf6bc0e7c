-- 0012_verifications: manual tenders and the verification queue (issue 6).
--
-- verifications: one row per decision a second person must take
-- (maker-checker): kind payment (a cash, cheque, bank transfer or bank
-- draft intent waiting in requires_verification), fraud_review (an intent
-- the risk rules sent to review) or refund (a refund request of a manual
-- tender, `pending` until decided). status: pending | approved | rejected.
-- recorded_by is the principal (API key id or JWT subject) who recorded
-- the payment; decided_by must differ from it. Only one pending
-- verification per intent and kind at a time (for refunds: per refund).
-- `data` is the API object; the other columns are derived from it.
CREATE TABLE verifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    payment_intent TEXT NOT NULL,
    refund TEXT,
    customer TEXT,
    tender TEXT NOT NULL,
    facility TEXT,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    data TEXT NOT NULL
);
CREATE INDEX verifications_status ON verifications (status, seq);
CREATE INDEX verifications_intent ON verifications (payment_intent, seq);
CREATE UNIQUE INDEX verifications_one_pending ON verifications (payment_intent, kind, COALESCE(refund, ''))
    WHERE status = 'pending';

-- evidence: files proving a manual payment (receipt photo, cash count,
-- cheque image, bank slip). content holds the bytes base64url-encoded (the
-- store binds text only; both back ends keep it as TEXT), sha256 the hex
-- SHA-256 of the bytes; size is the byte count before encoding. `data` is
-- the API object (metadata only, never the bytes).
CREATE TABLE evidence (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    payment_intent TEXT NOT NULL,
    verification TEXT,
    customer TEXT,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    content TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX evidence_intent ON evidence (payment_intent, seq);
CREATE INDEX evidence_verification ON evidence (verification, seq);

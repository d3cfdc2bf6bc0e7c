-- 0005_intents: payment intents and refunds (issue 3).
--
-- `data` is the object exactly as the API returns it; the other columns are
-- what lists filter on and what the money checks read. provider_ref,
-- connector and return_url are private: never shown to clients.
-- The CHECKs are the last line of defence behind the domain code: no
-- intent can record more received than its amount, or more refunded than
-- received, whatever a bug upstream tries to write.

CREATE TABLE payment_intents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    amount_capturable BIGINT NOT NULL DEFAULT 0 CHECK (amount_capturable >= 0),
    amount_received BIGINT NOT NULL DEFAULT 0
        CHECK (amount_received >= 0 AND amount_received <= amount),
    amount_refunded BIGINT NOT NULL DEFAULT 0
        CHECK (amount_refunded >= 0 AND amount_refunded <= amount_received),
    payment_method TEXT,
    provider_ref TEXT,
    connector TEXT,
    return_url TEXT,
    facility TEXT,
    data TEXT NOT NULL
);
CREATE INDEX payment_intents_customer ON payment_intents (customer, seq);
CREATE INDEX payment_intents_status ON payment_intents (status, seq);
CREATE INDEX payment_intents_created ON payment_intents (created, seq);

CREATE TABLE refunds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    payment_intent TEXT NOT NULL REFERENCES payment_intents (id),
    customer TEXT,
    status TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX refunds_payment_intent ON refunds (payment_intent, seq);
CREATE INDEX refunds_customer ON refunds (customer, seq);

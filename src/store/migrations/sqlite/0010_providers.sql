-- 0010_providers: payment providers, facilities, and the routing and fee
-- columns of payment intents (issue 6).
--
-- providers: one row per configured provider (Visa on the sandbox card
-- connector, Zain Cash on mobile_money, cash on manual, ...). `data` is the
-- API object; `credentials` is the connector's secret configuration sealed
-- with AES-256-GCM under payd's server key (src/core/seal.c), never in
-- `data`, never shown back. A deleted provider keeps its row (intents name
-- it) with deleted = 1, and its name is free again.
CREATE TABLE providers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    connector TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    priority BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0,
    credentials TEXT,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX providers_name ON providers (name) WHERE deleted = 0;
CREATE INDEX providers_route ON providers (type, deleted, priority, seq);

-- facilities: the clinics and hospitals of the network; timezone is an
-- IANA name (Africa/Khartoum) for time-of-day rules.
CREATE TABLE facilities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX facilities_name ON facilities (name) WHERE deleted = 0;

-- payment_intents: the provider routing chose (its name; NULL before an
-- attempt or for the built-in defaults), the provider the client asked for
-- at create (provider_pin: routing then takes only that one), the tender
-- type, and the fee in
-- minor units (the provider's fee on the amount, then on the amount
-- received once captured). fee_bps and fee_fixed are the provider's rates
-- when it was chosen, so a partial capture is charged at those rates even
-- if the provider's fees changed meanwhile.
ALTER TABLE payment_intents ADD COLUMN provider TEXT;
ALTER TABLE payment_intents ADD COLUMN provider_pin TEXT;
ALTER TABLE payment_intents ADD COLUMN tender TEXT;
ALTER TABLE payment_intents ADD COLUMN fee BIGINT NOT NULL DEFAULT 0 CHECK (fee >= 0);
ALTER TABLE payment_intents ADD COLUMN fee_bps BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_intents ADD COLUMN fee_fixed BIGINT NOT NULL DEFAULT 0;

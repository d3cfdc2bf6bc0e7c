-- 0004_customers: customers and payment methods (issue 3).
--
-- `data` is the object exactly as the API returns it; the other columns are
-- what lookups and lists filter on. A deleted customer keeps its row with
-- deleted = 1 (never listed, never found). A payment method keeps only what
-- payd may keep about a card (brand, last4, expiry, fingerprint) in `data`
-- and the provider's token in `token` (private): never the card number or
-- the CVC.

CREATE TABLE customers (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    email TEXT,
    external_id TEXT,
    facility TEXT,
    deleted BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    data TEXT NOT NULL
);
CREATE INDEX customers_email ON customers (email, seq);
CREATE INDEX customers_external_id ON customers (external_id, seq);

CREATE TABLE payment_methods (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    customer TEXT,
    type TEXT NOT NULL,
    connector TEXT NOT NULL,
    token TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX payment_methods_customer ON payment_methods (customer, seq);

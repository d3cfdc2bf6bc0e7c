-- 0014_risk_indexes: indexes for the risk rules' queries (src/payments/risk.c),
-- so scoring an attempt reads index entries only (issue 7).
--
-- payment_attempts by customer: the velocity, daily-limit and card-testing
-- queries (customer = ? AND created >= ?, then outcome, currency, amount and
-- card_fingerprint) are answered from the index alone; it replaces the
-- (customer, created) index, of which it is an extension.
DROP INDEX payment_attempts_customer;
CREATE INDEX payment_attempts_customer
    ON payment_attempts (customer, created, card_fingerprint, outcome, currency, amount);
-- By client address: velocity and card testing (card_fingerprint) from the index.
DROP INDEX payment_attempts_addr;
CREATE INDEX payment_attempts_addr ON payment_attempts (client_addr, created, card_fingerprint);
-- Recent declines of a customer: a seek to its declined attempts of the
-- window, not a scan of all of its attempts.
CREATE INDEX payment_attempts_customer_outcome
    ON payment_attempts (customer, outcome, created);
-- Disputed payments of a customer: the rule looks for '"disputed":true' in
-- the stored object (data LIKE ...), which read every payment of the
-- customer in the window (180 days by default) and scanned its JSON. A
-- partial index holding only the disputed ones answers the same query (the
-- predicate is the query's, character for character, so both SQLite and
-- PostgreSQL use it).
CREATE INDEX payment_intents_customer_disputed ON payment_intents (customer, created)
    WHERE data LIKE '%"disputed":true%';

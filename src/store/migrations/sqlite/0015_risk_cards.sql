-- 0015_risk_cards: the cards each customer and each client address paid
-- with, and when each was last used (issue 7).
--
-- The card-testing rule (src/payments/risk.c) counts the distinct cards of
-- a customer or a client address within its window. Counted from
-- payment_attempts that read every attempt of the subject in the window, so
-- a customer or card paying all day made each attempt cost more than the one
-- before. Here a subject has one row per card, updated by every attempt
-- (risk.c, same transaction as the attempt), and the count reads only the
-- cards used within the window.
CREATE TABLE risk_cards (
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('customer', 'client_addr')),
    subject TEXT NOT NULL,
    card_fingerprint TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject, card_fingerprint)
) WITHOUT ROWID;
CREATE INDEX risk_cards_recent ON risk_cards (subject_kind, subject, last_seen);
-- What payment_attempts already holds, by customer. Not by client address:
-- older attempts recorded the address of API-key and staff requests too (a
-- clinic's shared address, which risk.c no longer counts); those age out of
-- the window anyway.
INSERT INTO risk_cards (subject_kind, subject, card_fingerprint, last_seen)
SELECT 'customer', customer, card_fingerprint, MAX(created) FROM payment_attempts
WHERE customer IS NOT NULL AND card_fingerprint IS NOT NULL
GROUP BY customer, card_fingerprint;

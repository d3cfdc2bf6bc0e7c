-- 0021_attempt_indexes_partial: payment_attempts indexes hold only the rows
-- their rules can ask for (issue 7, round 9).
--
-- Every attempt was written into seven B-trees: the table and six
-- indexes. Two of the indexes serve rules that cannot match most rows:
-- - by client address: an API key's request carries no payer address
--   (the clinic's desk is not the payer), so most rows have none, and the
--   rules ask for `client_addr = ?`, which a NULL never equals;
-- - by customer and outcome: only the recent-declines rule reads it, for
--   `outcome = 'declined'`, and most attempts are not declined.
-- Partial indexes over those rows answer the same queries (both databases
-- prove `client_addr = ?` implies `client_addr IS NOT NULL`, and the
-- declines query names the outcome the index holds), and an approved
-- payment from a clinic's key now writes five B-trees instead of seven.
DROP INDEX payment_attempts_addr;
CREATE INDEX payment_attempts_addr ON payment_attempts (client_addr, created, card_fingerprint)
    WHERE client_addr IS NOT NULL;
DROP INDEX payment_attempts_customer_outcome;
CREATE INDEX payment_attempts_customer_outcome ON payment_attempts (customer, outcome, created)
    WHERE outcome = 'declined';

-- 0018_packed_documents: stored JSON kept compressed on SQLite (round 8 of
-- issue 7, src/store/pack.c).
--
-- SQLite now keeps the data column of payment intents, events, balance
-- transactions, payment methods, refunds, customers and the stored
-- idempotent responses as zstd blobs made with payd's dictionary, when
-- that is smaller (an intent's ~1,100 bytes become ~170). SQL can no longer
-- look inside such a column, and one query did: the fraud rule counting a
-- customer's disputed payments looked for '"disputed":true' in the intent's
-- object. The mark is a column of its own now, set from the object on every
-- save (payment_intents.c), and the partial index follows it. Rows written
-- before this migration are text: their mark is read from it here.
ALTER TABLE payment_intents ADD COLUMN disputed INTEGER NOT NULL DEFAULT 0;
UPDATE payment_intents SET disputed = 1 WHERE data LIKE '%"disputed":true%';
DROP INDEX payment_intents_customer_disputed;
CREATE INDEX payment_intents_customer_disputed ON payment_intents (customer, created)
    WHERE disputed = 1;
-- PostgreSQL stores the text as it was (its own TOAST compresses large
-- values); the column is here too so both back ends run the same SQL.

-- 0019_intents_by_customer: a customer's intents listed from one place
-- (round 8 of issue 7).
--
-- A list of a customer's intents (GET /v1/payment_intents?customer=...)
-- walked payment_intents_customer (customer, seq) and then read each row
-- from the table, where rows lie in the order they were made: a hundred
-- rows of one patient among a million payments are a hundred pages apart,
-- and on a large database most of them come from the disk. The index now
-- holds the stored object too (compressed since 0018, ~200 bytes), so the
-- list reads the few adjacent index pages that hold the customer's newest
-- intents and nothing else. Measured at 1 M payments: 13,269 lists/s with
-- a p99 of 28 ms, against 4,607/s and 109 ms (bench/RESULTS.md, round 8).
DROP INDEX payment_intents_customer;
CREATE INDEX payment_intents_customer ON payment_intents (customer, seq, data);

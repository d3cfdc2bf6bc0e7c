-- 0019_intents_by_customer: a customer's intents listed from one place
-- (round 8 of issue 7).
--
-- On SQLite the index by customer now holds the stored object too, so a
-- list reads adjacent index pages instead of a row per intent spread over
-- the table. Not here: PostgreSQL keeps data as text (~1,100 bytes an
-- intent, more with metadata), which would double what every intent
-- writes and could pass the largest index row PostgreSQL takes (~2.7 KB);
-- a list reads the rows through the index as before.
COMMENT ON INDEX payment_intents_customer IS
    'a customer''s intents, newest first (GET /v1/payment_intents?customer=)';

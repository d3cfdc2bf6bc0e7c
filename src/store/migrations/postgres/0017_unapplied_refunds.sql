-- 0017_unapplied_refunds: paying back wallet money no intent waited for
-- (issue 6, mobile money).
--
-- A request paid after its intent stopped waiting is succeeded_unapplied,
-- booked as owed to the payer (0011, momo_intents.c). Staff record paying it
-- back with POST /v1/mobile_money_requests/{reference}/refund, which opens a
-- verification of kind unapplied_refund naming the request; a second person
-- approves it, and the request becomes `refunded` (refunded_at) with the
-- reverse ledger entry in the same transaction.
--
-- One intent can have two unapplied requests (a superseded one and a
-- canceled one), each paid back on its own: the one-pending-per-intent-and-
-- kind index now also tells verifications apart by their request.
ALTER TABLE momo_requests ADD COLUMN refunded_at BIGINT;
ALTER TABLE verifications ADD COLUMN mobile_money_request TEXT;
DROP INDEX verifications_one_pending;
CREATE UNIQUE INDEX verifications_one_pending ON verifications
    (payment_intent, kind, COALESCE(refund, ''), COALESCE(mobile_money_request, ''))
    WHERE status = 'pending';

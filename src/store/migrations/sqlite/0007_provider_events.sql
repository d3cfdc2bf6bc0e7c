-- 0007_provider_events: inbound provider webhooks (issue 4, item 4).
--
-- One row per provider event payd has accepted (signature verified), keyed
-- by the provider's own event id: the UNIQUE constraint is what makes a
-- redelivery (Stripe retries for days, and may deliver one event twice at
-- once) a no-op; the row is inserted with ON CONFLICT DO NOTHING in the
-- same transaction that applies the event, so an event is applied exactly
-- when its row exists.
--
-- status: applied   - the event changed payd's records;
--         ignored   - matched an intent, but there was nothing to do
--                     (already in that state, or a type payd does not act on);
--         mismatch  - amount or currency (or an irreconcilable state)
--                     disagrees with payd's record: stored, flagged with
--                     event payd.provider_mismatch, never applied;
--         unmatched - no payd intent matches it.
-- payment_intent is payd's pi_... it matched (NULL when unmatched); note
-- says why a mismatch or an ignore; data is the event exactly as received.

CREATE TABLE provider_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    received BIGINT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('applied', 'ignored', 'mismatch', 'unmatched')),
    payment_intent TEXT,
    note TEXT,
    data TEXT NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX provider_events_payment_intent ON provider_events (payment_intent, seq);
CREATE INDEX provider_events_status ON provider_events (status, seq);

-- Events find their intent by the provider's id of the payment (IF NOT
-- EXISTS: the Stripe connector's migration may index it too).
CREATE INDEX IF NOT EXISTS payment_intents_provider_ref ON payment_intents (provider_ref);

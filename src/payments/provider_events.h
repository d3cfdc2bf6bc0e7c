/*
 * provider_events.h - inbound provider webhooks: what a provider tells payd
 * about a payment after the fact (Stripe's payment_intent.succeeded,
 * payment_intent.payment_failed, payment_intent.canceled, charge.refunded,
 * charge.dispute.created), recorded once per provider event id and applied
 * to the matching payd intent exactly once.
 *
 * (A section of payments.h in spirit; a header of its own because
 * payments.h is being extended by the Stripe connector at the same time.)
 *
 * Threading: no state of its own; runs inside the caller's write transaction.
 */
#ifndef PAY_PROVIDER_EVENTS_H
#define PAY_PROVIDER_EVENTS_H

#include "payments.h"

/* Longest provider event id kept ("evt_" + 24 characters today). */
#define PAY_PROVIDER_EVENT_ID_LEN_MAX 255
/* Longest reason recorded with an ignored or mismatched event. */
#define PAY_PROVIDER_EVENT_NOTE_LEN_MAX 200

/* What became of one delivery. */
struct pay_provider_event_outcome {
    /* "applied", "ignored", "mismatch" or "unmatched": the stored status
     * (for a duplicate, the status the first delivery stored). */
    char status[16];
    bool duplicate;                             /* the event id was seen before */
    char payment_intent[PAY_ID_LEN_MAX + 1];    /* the payd intent matched, or "" */
    char note[PAY_PROVIDER_EVENT_NOTE_LEN_MAX]; /* why ignored / mismatch, or "" */
};

/*
 * Record and apply the Stripe event @event (the parsed body of a delivery
 * whose signature the caller verified) in @op->tx, which must be a write
 * transaction; @op->customer_scope must be NULL (the signature is the
 * credential).
 *
 * The event row is inserted first (provider "stripe", UNIQUE event id, ON
 * CONFLICT DO NOTHING): when it already exists the delivery is a duplicate
 * and nothing else is touched (on PostgreSQL a concurrent duplicate waits
 * for the first delivery's transaction and then sees its row). Otherwise
 * the payd intent is found by provider_ref = the Stripe PaymentIntent id
 * (data.object.id for payment_intent.*, data.object.payment_intent for
 * charge.*), else by data.object.metadata.payd_intent, locked (FOR UPDATE),
 * and the event applied when the intent's current state allows it:
 *   payment_intent.succeeded      -> succeeded, capture ledger entry of
 *                                    amount_received, event payment_intent.succeeded;
 *   payment_intent.payment_failed -> requires_payment_method with the
 *                                    event's last_payment_error (not from a terminal state);
 *   payment_intent.canceled       -> canceled (not once succeeded);
 *   charge.refunded               -> a refund of charge.amount_refunded minus
 *                                    payd's amount_refunded, when positive
 *                                    (ledger entry, event refund.created);
 *   charge.dispute.created        -> "disputed": true on the intent, event
 *                                    payd.dispute_created; no ledger movement.
 * Already in the target state: status "ignored". Amount or currency unlike
 * payd's record, or an outcome payd's terminal state contradicts (a
 * succeeded event for a canceled intent, a cancel of a succeeded one):
 * status "mismatch", event payd.provider_mismatch, nothing applied. No
 * intent: "unmatched". Other event types: "ignored".
 *
 * Errors: PAY_ERR_PARAM_INVALID (param "body") when @event is not an event
 * (id, type, data.object); PAY_ERR_CONFLICT for a charge.refunded whose
 * intent payd has not yet seen succeed (nothing is stored, so the
 * provider's retry applies it once the success has arrived; a refund of an
 * intent payd canceled is a mismatch); store and
 * ledger errors. On error the caller must roll back.
 */
enum pay_err pay_provider_event_stripe(struct pay_op *op, const json_t *event,
                                       struct pay_provider_event_outcome *out) PAY_WUR;

#endif

/*
 * events.h - the event log (and, in a later issue, its outbox delivery).
 *
 * Every state change appends one event in the same transaction as the
 * change (Stripe's shape and type names), so an event exists exactly when
 * its change committed. Events are never updated.
 *
 * Threading: functions take the caller's transaction; no state of their own.
 */
#ifndef PAY_EVENTS_H
#define PAY_EVENTS_H

#include "../store/store.h"

/*
 * Append {"id":"evt_...","object":"event","type":@type,"created":now,
 * "livemode":false,"api_version":...,"data":{"object":@object},
 * "request":{"id":@request_id,"idempotency_key":...}} inside @tx.
 * @object is borrowed (copied). @customer (may be NULL) is the customer the
 * event concerns, so a patient sees only its own events. @id_out (may be
 * NULL) gets the event id.
 */
enum pay_err pay_event_append(struct pay_tx *tx, const char *type, const json_t *object,
                              const char *customer, const char *request_id,
                              char *id_out, struct pay_error *err) PAY_WUR;

/* One event; PAY_ERR_NOT_FOUND when absent or not @customer's (when set). */
enum pay_err pay_event_get(struct pay_tx *tx, const char *id, const char *customer,
                           json_t **out, struct pay_error *err) PAY_WUR;

/* A page of events, newest first, optionally of one @type (exact, or a
 * prefix wildcard "payment_intent.*") and one @customer. */
enum pay_err pay_event_list(struct pay_tx *tx, const char *type, const char *customer,
                            const struct pay_list_args *args, json_t **data_out,
                            bool *has_more, struct pay_error *err) PAY_WUR;

#endif

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

/* The Stripe API version whose event shape payd writes. */
#define PAY_EVENT_API_VERSION "2024-06-20"
/* Longest event type ("customer.subscription.trial_will_end" is 36). */
#define PAY_EVENT_TYPE_LEN_MAX 100
/* Stripe's types[] filter takes up to 20 types. */
#define PAY_EVENT_TYPES_MAX 20

/*
 * Append {"id":"evt_...","object":"event","type":@type,"created":now,
 * "livemode":false,"api_version":...,"data":{"object":@object},
 * "request":{"id":@request_id,"idempotency_key":...}} inside @tx.
 * @object is borrowed (copied). @customer (may be NULL) is the customer the
 * event concerns, so a patient sees only its own events. @id_out (may be
 * NULL) gets the event id (PAY_ID_LEN_MAX + 1 bytes).
 * PAY_ERR_INTERNAL when @type is empty, too long or not [a-z0-9_.], or
 * @object is not an object; store errors as pay_tx_exec.
 */
enum pay_err pay_event_append(struct pay_tx *tx, const char *type, const json_t *object,
                              const char *customer, const char *request_id, char *id_out,
                              struct pay_error *err) PAY_WUR;

/* pay_event_append for a caller that has just written @object's text:
 * @text is pay_json_dump(@object) (debug builds check that it is), and it
 * is used instead of a second dump. No event id is given back. */
enum pay_err pay_event_append_dumped(struct pay_tx *tx, const char *type, const json_t *object,
                                     const char *text, const char *customer, const char *request_id,
                                     struct pay_error *err) PAY_WUR;

/* One event; PAY_ERR_NOT_FOUND (param "id") when absent or not @customer's
 * (when set). *out is new (caller owns). */
enum pay_err pay_event_get(struct pay_tx *tx, const char *id, const char *customer, json_t **out,
                           struct pay_error *err) PAY_WUR;

/* A page of events, newest first, optionally of one @type (exact, or a
 * prefix wildcard "payment_intent.*") and one @customer (events without a
 * customer are then excluded). Paging and errors as pay_tx_list. */
enum pay_err pay_event_list(struct pay_tx *tx, const char *type, const char *customer,
                            const struct pay_list_args *args, json_t **data_out, bool *has_more,
                            struct pay_error *err) PAY_WUR;
/* The same with any of @n_types types (Stripe's types[]; each exact or a
 * "prefix.*" wildcard; 0 = any type; at most PAY_EVENT_TYPES_MAX, else
 * PAY_ERR_PARAM_INVALID naming "types"). */
enum pay_err pay_event_list_types(struct pay_tx *tx, const char *const *types, size_t n_types,
                                  const char *customer, const struct pay_list_args *args,
                                  json_t **data_out, bool *has_more, struct pay_error *err) PAY_WUR;

#endif

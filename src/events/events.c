/*
 * events.c - the event log: one Stripe-shaped event per state change,
 * appended in the transaction of the change, read back by id or in pages.
 *
 * Invariants: events are only inserted, never updated; an event's data is
 * a copy of the object as it was when the change committed; the customer
 * column names the customer the event concerns (NULL for none), and a
 * scoped read never returns another customer's event, nor one with none.
 *
 * Delivery: every append also queues the event's webhook deliveries in the
 * same transaction (pay_webhook_fanout, endpoints.c): the transactional
 * outbox that makes delivery at-least-once across crashes (webhooks.h).
 *
 * Threading: no state; every function runs inside its caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "webhooks.h"

/* A type filter of "prefix.*" matches every type that starts with "prefix.". */
static bool is_wildcard(const char *type)
{
    size_t len = strlen(type);
    return len >= 2 && type[len - 2] == '.' && type[len - 1] == '*';
}

static bool type_valid(const char *type)
{
    if (type == NULL || type[0] == '\0' || strlen(type) > PAY_EVENT_TYPE_LEN_MAX) {
        return false;
    }
    for (const char *c = type; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.')) {
            return false;
        }
    }
    return true;
}

/* @text, when set, is @object's text (pay_json_dump); otherwise it is
 * written here. */
static enum pay_err append(struct pay_tx *tx, const char *type, const json_t *object,
                           const char *text, const char *customer, const char *request_id,
                           char *id_out, struct pay_error *err)
{
    if (!type_valid(type) || !json_is_object(object)) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "events: invalid event type or object");
    }
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("evt", id);
    int64_t now = pay_now();
    if (customer != NULL && customer[0] == '\0') {
        customer = NULL;
    }
    if (request_id != NULL && request_id[0] == '\0') {
        request_id = NULL;
    }

    /* The envelope is written around the object's text: the object is
     * dumped once and no tree is built for the rest. Keys in the order
     * pay_event_get's readers have always seen. */
    struct pay_buf b;
    pay_buf_init(&b, SIZE_MAX - 1);
    enum pay_err be = pay_buf_reserve(&b, 4096);
    /* Appends, not printf: two events a payment, on the writer's hot path. */
    if (be == PAY_OK) {
        be = pay_buf_add_strs(&b, "{\"id\":\"", id,
                              "\",\"object\":\"event\",\"api_version\":\"" PAY_EVENT_API_VERSION
                              "\",\"created\":",
                              PAY_STRS_END);
    }
    if (be == PAY_OK) {
        be = pay_buf_add_int(&b, now);
    }
    if (be == PAY_OK) {
        be = pay_buf_adds(&b, ",\"data\":{\"object\":");
    }
    if (be == PAY_OK) {
        be = text != NULL ? pay_buf_adds(&b, text) : pay_json_dump_to(&b, object);
    }
    if (be == PAY_OK) {
        be = pay_buf_adds(&b, "},\"livemode\":false,\"pending_webhooks\":0,\"request\":{\"id\":");
    }
    if (be == PAY_OK) {
        be = pay_json_add_str(&b, request_id);
    }
    if (be == PAY_OK) {
        be = pay_buf_add_strs(&b, ",\"idempotency_key\":null},\"type\":\"", type, "\"}",
                              PAY_STRS_END);
    }
    char *doc = be == PAY_OK ? pay_buf_detach(&b, NULL) : NULL;
    pay_buf_release(&b);
    if (doc == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }

    struct pay_param p[] = {PAY_PTEXT(id),       PAY_PTEXT(type),       PAY_PINT(now),
                            PAY_PTEXT(customer), PAY_PTEXT(request_id), PAY_PJSON(doc)};
    enum pay_err rc = pay_tx_exec_later(tx,
                                        "INSERT INTO events (id, type, created, customer, "
                                        "request_id, data) VALUES ($1, $2, $3, $4, $5, $6)",
                                        p, PAY_NPARAMS(p));
    free(doc);
    if (rc != PAY_OK) {
        if (err != NULL && err->code == PAY_OK) {
            pay_error_set(err, rc, NULL, NULL);
        }
        return rc;
    }
    /* The outbox: the event's deliveries commit with it (webhooks.h). */
    rc = pay_webhook_fanout(tx, id, type, err);
    if (rc != PAY_OK) {
        return rc;
    }
    if (id_out != NULL) {
        memcpy(id_out, id, strlen(id) + 1);
    }
    return PAY_OK;
}

enum pay_err pay_event_append(struct pay_tx *tx, const char *type, const json_t *object,
                              const char *customer, const char *request_id, char *id_out,
                              struct pay_error *err)
{
    return append(tx, type, object, NULL, customer, request_id, id_out, err);
}

enum pay_err pay_event_append_dumped(struct pay_tx *tx, const char *type, const json_t *object,
                                     const char *text, const char *customer, const char *request_id,
                                     struct pay_error *err)
{
#ifndef NDEBUG
    /* The text stands for the object: a caller that changed the object
     * after writing it would store an event that says something else. */
    char *check = json_is_object(object) ? pay_json_dump(object) : NULL;
    if (check != NULL && text != NULL && strcmp(check, text) != 0) {
        pay_logf(PAY_LOG_ERROR, NULL, "events: %s: the text given is not its object's", type);
        abort();
    }
    free(check);
#endif
    if (text == NULL) {
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "events: no text for the object");
    }
    return append(tx, type, object, text, customer, request_id, NULL, err);
}

enum pay_err pay_event_get(struct pay_tx *tx, const char *id, const char *customer, json_t **out,
                           struct pay_error *err)
{
    if (id == NULL || !pay_id_valid(id, "evt")) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such event: '%s'", id ? id : "");
    }
    struct pay_param p[] = {PAY_PTEXT(id), PAY_PTEXT(customer)};
    char *data = NULL;
    enum pay_err rc =
        customer != NULL
            ? pay_tx_query_text(tx, "SELECT data FROM events WHERE id = $1 AND customer = $2", p, 2,
                                &data)
            : pay_tx_query_text(tx, "SELECT data FROM events WHERE id = $1", p, 1, &data);
    if (rc != PAY_OK) {
        if (err != NULL && err->code == PAY_OK) {
            pay_error_set(err, rc, NULL, NULL);
        }
        return rc;
    }
    if (data == NULL) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such event: '%s'", id);
    }
    json_t *o = json_loads(data, 0, NULL);
    free(data);
    if (!json_is_object(o)) {
        json_decref(o);
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "events: unreadable event");
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_event_list_types(struct pay_tx *tx, const char *const *types, size_t n_types,
                                  const char *customer, const struct pay_list_args *args,
                                  json_t **data_out, bool *has_more, struct pay_error *err)
{
    if (n_types > PAY_EVENT_TYPES_MAX) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "types", "At most %d types may be given.",
                             PAY_EVENT_TYPES_MAX);
    }
    struct pay_param p[PAY_EVENT_TYPES_MAX + 1];
    /* LIKE patterns for wildcards: the prefix with '_' escaped, then '%'. */
    char patterns[PAY_EVENT_TYPES_MAX][2 * PAY_EVENT_TYPE_LEN_MAX + 2];
    size_t n = 0;
    struct pay_buf where;
    pay_buf_init(&where, 16 * 1024);
    enum pay_err rc = PAY_OK;
    bool any_type = false;
    for (size_t i = 0; i < n_types; i++) {
        if (types[i] != NULL && strcmp(types[i], "*") == 0) {
            any_type = true;
        }
    }
    for (size_t i = 0; i < n_types && !any_type && rc == PAY_OK; i++) {
        const char *t = types[i];
        bool wild = t != NULL && is_wildcard(t);
        size_t len = t != NULL ? strlen(t) : 0;
        char exact[PAY_EVENT_TYPE_LEN_MAX + 1];
        if (t == NULL || len > PAY_EVENT_TYPE_LEN_MAX) {
            rc = pay_error_set(err, PAY_ERR_PARAM_INVALID, n_types == 1 ? "type" : "types",
                               "Invalid event type.");
            break;
        }
        memcpy(exact, t, len + 1);
        if (wild) {
            exact[len - 1] = '\0'; /* keep the '.', drop the '*' */
        }
        if (!type_valid(exact)) {
            rc = pay_error_set(err, PAY_ERR_PARAM_INVALID, n_types == 1 ? "type" : "types",
                               "Invalid event type: '%s'.", t);
            break;
        }
        rc = pay_buf_adds(&where, i == 0 ? "(" : " OR ");
        if (rc == PAY_OK && wild) {
            char *q = patterns[i];
            for (const char *c = exact; *c != '\0'; c++) {
                if (*c == '_' || *c == '%' || *c == '\\') {
                    *q++ = '\\';
                }
                *q++ = *c;
            }
            *q++ = '%';
            *q = '\0';
            p[n++] = PAY_PTEXT(patterns[i]);
            rc = pay_buf_addf(&where, "type LIKE $%zu ESCAPE '\\'", n);
        } else if (rc == PAY_OK) {
            p[n++] = PAY_PTEXT(t);
            rc = pay_buf_addf(&where, "type = $%zu", n);
        }
    }
    if (rc == PAY_OK && n > 0) {
        rc = pay_buf_adds(&where, ")");
    }
    if (rc == PAY_OK && customer != NULL) {
        p[n++] = PAY_PTEXT(customer);
        rc = pay_buf_addf(&where, "%scustomer = $%zu", n > 1 ? " AND " : "", n);
    }
    if (rc == PAY_OK) {
        rc = pay_tx_list(tx, "events", n > 0 ? where.data : NULL, p, n, args, data_out, has_more,
                         err);
    } else if (err != NULL && err->code == PAY_OK) {
        pay_error_set(err, rc, NULL, NULL);
    }
    pay_buf_release(&where);
    return rc;
}

enum pay_err pay_event_list(struct pay_tx *tx, const char *type, const char *customer,
                            const struct pay_list_args *args, json_t **data_out, bool *has_more,
                            struct pay_error *err)
{
    const char *types[1] = {type};
    return pay_event_list_types(tx, types, type != NULL ? 1 : 0, customer, args, data_out, has_more,
                                err);
}

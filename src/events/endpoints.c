/*
 * endpoints.c - webhook endpoints (Stripe's WebhookEndpoint object), the
 * outbox fan-out, the delivery log and redelivery.
 *
 * Invariants: an endpoint's secret is stored sealed (secret_box.c) when
 * payd has a server key, and never appears in its `data` column, in
 * a log line or in any response but the one that created it (create and
 * rotate_secret); webhook_endpoint_events mirrors data.enabled_events;
 * every enabled endpoint matching an event gets exactly one delivery row
 * per event, inserted in the event's transaction (see webhooks.h).
 *
 * Threading: no state; every function runs in its caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "webhooks_int.h"

static enum pay_err db_err(struct pay_error *err, enum pay_err rc)
{
    if (rc != PAY_OK && err != NULL && err->code == PAY_OK) {
        pay_error_set(err, rc, NULL, NULL);
    }
    return rc;
}

static enum pay_err not_found(struct pay_error *err, const char *param, const char *id)
{
    return pay_error_set(err, PAY_ERR_NOT_FOUND, param, "No such webhook endpoint: '%.64s'",
                         id != NULL ? id : "");
}

/* Load the endpoint row's data (locked on PostgreSQL when @lock). */
static enum pay_err load(struct pay_tx *tx, const char *id, bool lock, const char *param,
                         json_t **out, struct pay_error *err)
{
    *out = NULL;
    if (id == NULL || !pay_id_valid(id, "we")) {
        return not_found(err, param, id);
    }
    struct pay_param p[] = {PAY_PTEXT(id)};
    char *data = NULL;
    enum pay_err rc =
        pay_tx_query_text(tx,
                          lock ? "SELECT data FROM webhook_endpoints WHERE id = $1 FOR UPDATE"
                               : "SELECT data FROM webhook_endpoints WHERE id = $1",
                          p, 1, &data);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    if (data == NULL) {
        return not_found(err, param, id);
    }
    *out = json_loads(data, 0, NULL);
    free(data);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "webhooks: unreadable endpoint");
    }
    return PAY_OK;
}

/* Write data and status of endpoint object @o. */
static enum pay_err save(struct pay_tx *tx, const json_t *o, struct pay_error *err)
{
    char *text = pay_json_dump(o);
    if (text == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    struct pay_param p[] = {PAY_PTEXT(pay_json_str(o, "id")), PAY_PTEXT(text),
                            PAY_PTEXT(pay_json_str(o, "status")),
                            PAY_PTEXT(pay_json_str(o, "url"))};
    enum pay_err rc = pay_tx_exec(tx,
                                  "UPDATE webhook_endpoints SET data = $2, status = $3, url = $4 "
                                  "WHERE id = $1",
                                  p, PAY_NPARAMS(p), NULL);
    free(text);
    return db_err(err, rc);
}

/* Validate enabled_events into a new array (sorted as given, duplicates
 * dropped). */
static enum pay_err parse_events(const struct pay_webhook_endpoint_params *p, json_t **out,
                                 struct pay_error *err)
{
    *out = NULL;
    if (p->n_events == 0) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "enabled_events",
                             "enabled_events must name at least one event type (or '*').");
    }
    if (p->n_events > PAY_WEBHOOK_EVENTS_MAX) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "enabled_events",
                             "enabled_events takes at most %d entries.", PAY_WEBHOOK_EVENTS_MAX);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < p->n_events; i++) {
        const char *e = p->events[i];
        if (!pay_webhook_pattern_valid(e)) {
            json_decref(arr);
            return pay_error_set(err, PAY_ERR_PARAM_INVALID, "enabled_events",
                                 "Invalid event type in enabled_events: '%.100s'.",
                                 e != NULL ? e : "");
        }
        bool dup = false;
        for (size_t j = 0; j < json_array_size(arr); j++) {
            if (strcmp(json_string_value(json_array_get(arr, j)), e) == 0) {
                dup = true;
            }
        }
        if (!dup) {
            json_array_append_new(arr, json_string(e));
        }
    }
    *out = arr;
    return PAY_OK;
}

/* Replace the endpoint's rows of webhook_endpoint_events with @events. */
static enum pay_err save_patterns(struct pay_tx *tx, const char *id, const json_t *events,
                                  struct pay_error *err)
{
    struct pay_param pd[] = {PAY_PTEXT(id)};
    enum pay_err rc =
        pay_tx_exec(tx, "DELETE FROM webhook_endpoint_events WHERE endpoint = $1", pd, 1, NULL);
    size_t i;
    const json_t *v;
    json_array_foreach(events, i, v)
    {
        if (rc != PAY_OK) {
            break;
        }
        const char *e = json_string_value(v);
        size_t len = strlen(e);
        char pattern[128];
        int64_t prefix = 0;
        if (strcmp(e, "*") == 0) {
            pattern[0] = '\0';
            prefix = 1;
        } else if (len >= 2 && e[len - 1] == '*') {
            snprintf(pattern, sizeof(pattern), "%.*s", (int)(len - 1), e); /* keep the '.' */
            prefix = 1;
        } else {
            snprintf(pattern, sizeof(pattern), "%s", e);
        }
        struct pay_param p[] = {PAY_PTEXT(id), PAY_PTEXT(pattern), PAY_PINT(prefix)};
        rc = pay_tx_exec(tx,
                         "INSERT INTO webhook_endpoint_events (endpoint, pattern, prefix) "
                         "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                         p, PAY_NPARAMS(p), NULL);
    }
    return db_err(err, rc);
}

/* Merge Stripe metadata @update into @o's metadata ("" unsets a key). */
static enum pay_err merge_metadata(json_t *o, const struct pay_webhook_endpoint_params *p,
                                   struct pay_error *err)
{
    if (p->metadata_clear) {
        json_object_set_new_nocheck(o, "metadata", json_object());
    }
    if (p->metadata == NULL) {
        return PAY_OK;
    }
    json_t *md = json_object_get(o, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new_nocheck(o, "metadata", md);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p->metadata, k, v)
    {
        if (json_is_string(v) && json_string_length(v) == 0) {
            json_object_del(md, k);
        } else {
            json_object_set(md, k, v);
        }
    }
    if (json_object_size(md) > PAY_METADATA_KEYS_MAX) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "metadata",
                             "Invalid metadata: at most %d keys are allowed.",
                             PAY_METADATA_KEYS_MAX);
    }
    return PAY_OK;
}

/* @p->url is fit for delivery: the verdict found before the transaction
 * when there is one for this URL, else checked now. */
static enum pay_err url_fit(const struct pay_webhook_endpoint_params *p,
                            const struct pay_webhook_config *cfg, struct pay_error *err)
{
    const struct pay_webhook_url_verdict *v = p->url_checked;
    if (v == NULL || strcmp(v->url, p->url) != 0) {
        return pay_webhook_url_check(p->url, cfg, NULL, err);
    }
    if (v->rc != PAY_OK) {
        *err = v->err;
    }
    return v->rc;
}

static void new_secret(char *out)
{
    pay_secret_new("whsec", out);
}

enum pay_err pay_webhook_endpoint_create(struct pay_tx *tx, const struct pay_webhook_config *cfg,
                                         const struct pay_webhook_endpoint_params *p, json_t **out,
                                         struct pay_error *err)
{
    *out = NULL;
    if (p->url == NULL || p->url[0] == '\0') {
        return pay_error_set(err, PAY_ERR_PARAM_MISSING, "url", "Missing required param: url.");
    }
    if (p->events == NULL) {
        return pay_error_set(err, PAY_ERR_PARAM_MISSING, "enabled_events",
                             "Missing required param: enabled_events.");
    }
    json_t *events = NULL;
    enum pay_err rc = parse_events(p, &events, err);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = url_fit(p, cfg, err);
    if (rc != PAY_OK) {
        json_decref(events);
        return rc;
    }
    int64_t count = 0;
    rc = pay_tx_query_int(tx, "SELECT count(*) FROM webhook_endpoints", NULL, 0, &count, NULL);
    if (rc != PAY_OK) {
        json_decref(events);
        return db_err(err, rc);
    }
    if (count >= PAY_WEBHOOK_ENDPOINTS_MAX) {
        json_decref(events);
        return pay_error_set(err, PAY_ERR_CONFLICT, NULL,
                             "At most %d webhook endpoints may exist; delete one first.",
                             PAY_WEBHOOK_ENDPOINTS_MAX);
    }

    char id[PAY_ID_LEN_MAX + 1];
    char secret[PAY_WEBHOOK_SECRET_LEN_MAX + 1];
    pay_id_new("we", id);
    new_secret(secret);
    int64_t now = pay_now();
    const char *status = p->disabled == 1 ? "disabled" : "enabled";
    json_t *o = json_object();
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "webhook_endpoint");
    pay_json_set_str(o, "api_version", p->api_version);
    json_object_set_new_nocheck(o, "application", json_null());
    pay_json_set_int(o, "created", now);
    pay_json_set_str(o, "description", p->has_description ? p->description : NULL);
    json_object_set_new_nocheck(o, "enabled_events", events);
    pay_json_set_bool(o, "livemode", false);
    json_object_set_new_nocheck(o, "metadata", json_object());
    pay_json_set_str(o, "status", status);
    pay_json_set_str(o, "url", p->url);
    rc = merge_metadata(o, p, err);
    char sealed[PAY_WEBHOOK_SEALED_LEN_MAX];
    if (rc == PAY_OK &&
        pay_webhook_secret_seal(cfg->secret_key, id, secret, sealed, sizeof(sealed)) != PAY_OK) {
        rc = pay_error_set(err, PAY_ERR_INTERNAL, NULL, "webhooks: cannot seal the secret");
    }
    char *text = rc == PAY_OK ? pay_json_dump(o) : NULL;
    if (rc == PAY_OK && text == NULL) {
        rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    if (rc == PAY_OK) {
        struct pay_param ip[] = {PAY_PTEXT(id),     PAY_PINT(now),     PAY_PTEXT(status),
                                 PAY_PTEXT(p->url), PAY_PTEXT(sealed), PAY_PTEXT(text)};
        rc = db_err(err, pay_tx_exec(tx,
                                     "INSERT INTO webhook_endpoints (id, created, status, url, "
                                     "secret, data) VALUES ($1, $2, $3, $4, $5, $6)",
                                     ip, PAY_NPARAMS(ip), NULL));
    }
    free(text);
    if (rc == PAY_OK) {
        rc = save_patterns(tx, id, events, err);
    }
    if (rc != PAY_OK) {
        json_decref(o);
        explicit_bzero(secret, sizeof(secret));
        return rc;
    }
    pay_json_set_str(o, "secret", secret);
    explicit_bzero(secret, sizeof(secret));
    *out = o;
    return PAY_OK;
}

enum pay_err pay_webhook_endpoint_get(struct pay_tx *tx, const char *id, json_t **out,
                                      struct pay_error *err)
{
    return load(tx, id, false, "id", out, err);
}

enum pay_err pay_webhook_endpoint_update(struct pay_tx *tx, const struct pay_webhook_config *cfg,
                                         const char *id,
                                         const struct pay_webhook_endpoint_params *p, json_t **out,
                                         struct pay_error *err)
{
    *out = NULL;
    json_t *o = NULL;
    enum pay_err rc = load(tx, id, true, "id", &o, err);
    if (rc != PAY_OK) {
        return rc;
    }
    if (p->url != NULL) {
        rc = url_fit(p, cfg, err);
        if (rc != PAY_OK) {
            goto out;
        }
        pay_json_set_str(o, "url", p->url);
    }
    if (p->events != NULL) {
        json_t *events = NULL;
        rc = parse_events(p, &events, err);
        if (rc != PAY_OK) {
            goto out;
        }
        json_object_set_new_nocheck(o, "enabled_events", events);
        rc = save_patterns(tx, id, events, err);
        if (rc != PAY_OK) {
            goto out;
        }
    }
    if (p->has_description) {
        pay_json_set_str(o, "description",
                         p->description != NULL && p->description[0] != '\0' ? p->description
                                                                             : NULL);
    }
    if (p->api_version != NULL) {
        pay_json_set_str(o, "api_version", p->api_version);
    }
    rc = merge_metadata(o, p, err);
    if (rc != PAY_OK) {
        goto out;
    }
    if (p->disabled >= 0) {
        const char *was = pay_json_str(o, "status");
        bool enabling = p->disabled == 0 && was != NULL && strcmp(was, "disabled") == 0;
        pay_json_set_str(o, "status", p->disabled ? "disabled" : "enabled");
        if (enabling) {
            /* A fresh start: the failure clock restarts with the next failure. */
            struct pay_param pp[] = {PAY_PTEXT(id)};
            rc = db_err(err, pay_tx_exec(tx,
                                         "UPDATE webhook_endpoints SET failing_since_ms = NULL "
                                         "WHERE id = $1",
                                         pp, 1, NULL));
            if (rc != PAY_OK) {
                goto out;
            }
        }
    }
    rc = save(tx, o, err);
out:
    if (rc != PAY_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return PAY_OK;
}

enum pay_err pay_webhook_endpoint_delete(struct pay_tx *tx, const char *id, json_t **out,
                                         struct pay_error *err)
{
    *out = NULL;
    json_t *o = NULL;
    enum pay_err rc = load(tx, id, true, "id", &o, err);
    if (rc != PAY_OK) {
        return rc;
    }
    json_decref(o);
    struct pay_param p[] = {PAY_PTEXT(id)};
    rc = pay_tx_exec(tx, "DELETE FROM webhook_endpoint_events WHERE endpoint = $1", p, 1, NULL);
    if (rc == PAY_OK) {
        rc = pay_tx_exec(tx, "DELETE FROM webhook_endpoints WHERE id = $1", p, 1, NULL);
    }
    if (rc == PAY_OK) {
        /* Nothing will deliver them now; a delivery in flight finishes and
         * records its own outcome. */
        rc = pay_tx_exec(tx,
                         "UPDATE webhook_deliveries SET status = 'failed', "
                         "last_error = 'endpoint deleted' "
                         "WHERE endpoint = $1 AND status = 'pending' AND claim IS NULL",
                         p, 1, NULL);
    }
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    json_t *d = json_object();
    pay_json_set_str(d, "id", id);
    pay_json_set_str(d, "object", "webhook_endpoint");
    pay_json_set_bool(d, "deleted", true);
    *out = d;
    return PAY_OK;
}

enum pay_err pay_webhook_endpoint_list(struct pay_tx *tx, const struct pay_list_args *args,
                                       json_t **data_out, bool *has_more, struct pay_error *err)
{
    return pay_tx_list(tx, "webhook_endpoints", NULL, NULL, 0, args, data_out, has_more, err);
}

enum pay_err pay_webhook_endpoint_rotate(struct pay_tx *tx, const struct pay_webhook_config *cfg,
                                         const char *id, int64_t expires_in_s, json_t **out,
                                         struct pay_error *err)
{
    *out = NULL;
    if (expires_in_s < 0 || expires_in_s > PAY_WEBHOOK_ROTATION_S_MAX) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "expires_in_s",
                             "expires_in_s must be between 0 and %d.", PAY_WEBHOOK_ROTATION_S_MAX);
    }
    json_t *o = NULL;
    enum pay_err rc = load(tx, id, true, "id", &o, err);
    if (rc != PAY_OK) {
        return rc;
    }
    char secret[PAY_WEBHOOK_SECRET_LEN_MAX + 1];
    new_secret(secret);
    int64_t expires = pay_now() + expires_in_s;
    char sealed[PAY_WEBHOOK_SEALED_LEN_MAX];
    if (pay_webhook_secret_seal(cfg->secret_key, id, secret, sealed, sizeof(sealed)) != PAY_OK) {
        json_decref(o);
        explicit_bzero(secret, sizeof(secret));
        return pay_error_set(err, PAY_ERR_INTERNAL, NULL, "webhooks: cannot seal the secret");
    }
    /* The current secret becomes the old one; a still-older one is dropped
     * (at most two secrets sign at once). */
    struct pay_param p[] = {PAY_PTEXT(id), PAY_PTEXT(sealed), PAY_PINT(expires)};
    rc = pay_tx_exec(tx,
                     "UPDATE webhook_endpoints SET old_secret = secret, secret = $2, "
                     "old_secret_expires = $3 WHERE id = $1",
                     p, PAY_NPARAMS(p), NULL);
    if (rc != PAY_OK) {
        json_decref(o);
        explicit_bzero(secret, sizeof(secret));
        return db_err(err, rc);
    }
    pay_json_set_str(o, "secret", secret);
    pay_json_set_int(o, "previous_secret_expires", expires);
    explicit_bzero(secret, sizeof(secret));
    *out = o;
    return PAY_OK;
}

enum pay_err pay_webhook_fanout(struct pay_tx *tx, const char *event_id, const char *type,
                                struct pay_error *err)
{
    char ids[PAY_WEBHOOK_ENDPOINTS_MAX][PAY_ID_LEN_MAX + 1];
    size_t n = 0;
    struct pay_param p[] = {PAY_PTEXT(type)};
    struct pay_rows *r = NULL;
    enum pay_err rc =
        pay_tx_query(tx,
                     "SELECT DISTINCT f.endpoint FROM webhook_endpoint_events f "
                     "JOIN webhook_endpoints e ON e.id = f.endpoint "
                     "WHERE e.status = 'enabled' AND ((f.prefix = 0 AND f.pattern = $1) OR "
                     "(f.prefix = 1 AND substr($1, 1, length(f.pattern)) = f.pattern)) "
                     "ORDER BY f.endpoint",
                     p, 1, &r);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    while (pay_rows_next(r)) {
        const char *e = pay_rows_text(r, 0);
        if (e != NULL && n < PAY_WEBHOOK_ENDPOINTS_MAX && strlen(e) <= PAY_ID_LEN_MAX) {
            memcpy(ids[n++], e, strlen(e) + 1);
        }
    }
    rc = pay_rows_close(r);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    int64_t now = pay_now();
    int64_t now_ms = now * 1000;
    for (size_t i = 0; i < n && rc == PAY_OK; i++) {
        char id[PAY_ID_LEN_MAX + 1];
        pay_id_new("whd", id);
        struct pay_param ip[] = {PAY_PTEXT(id),   PAY_PINT(now),     PAY_PTEXT(event_id),
                                 PAY_PTEXT(type), PAY_PTEXT(ids[i]), PAY_PINT(now_ms)};
        /* Held back: on PostgreSQL it travels with the next round trip. */
        rc = pay_tx_exec_later(tx,
                               "INSERT INTO webhook_deliveries (id, created, event, event_type, "
                               "endpoint, status, retry_from_ms, next_attempt_ms) "
                               "VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) "
                               "ON CONFLICT (event, endpoint) DO NOTHING",
                               ip, PAY_NPARAMS(ip));
    }
    return db_err(err, rc);
}

/* The attempts of delivery @id, newest first, into @d's "attempts". */
static enum pay_err add_attempts(struct pay_tx *tx, json_t *d, struct pay_error *err)
{
    struct pay_param p[] = {PAY_PTEXT(pay_json_str(d, "id")),
                            PAY_PINT(PAY_WEBHOOK_ATTEMPTS_SHOWN_MAX)};
    struct pay_rows *r = NULL;
    enum pay_err rc = pay_tx_query(tx,
                                   "SELECT data FROM webhook_attempt_objects WHERE delivery = $1 "
                                   "ORDER BY seq DESC LIMIT $2",
                                   p, PAY_NPARAMS(p), &r);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    json_t *arr = json_array();
    while (pay_rows_next(r)) {
        json_t *a = json_loads(pay_rows_text(r, 0), 0, NULL);
        if (json_is_object(a)) {
            json_array_append_new(arr, a);
        } else {
            json_decref(a);
        }
    }
    json_object_set_new_nocheck(d, "attempts", arr);
    return db_err(err, pay_rows_close(r));
}

enum pay_err pay_webhook_deliveries_of_event(struct pay_tx *tx, const char *event_id,
                                             json_t **data_out, struct pay_error *err)
{
    *data_out = NULL;
    struct pay_param p[] = {PAY_PTEXT(event_id)};
    struct pay_rows *r = NULL;
    enum pay_err rc = pay_tx_query(
        tx, "SELECT data FROM webhook_delivery_objects WHERE event = $1 ORDER BY seq DESC", p, 1,
        &r);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    json_t *arr = json_array();
    while (pay_rows_next(r)) {
        json_t *d = json_loads(pay_rows_text(r, 0), 0, NULL);
        if (json_is_object(d)) {
            json_array_append_new(arr, d);
        } else {
            json_decref(d);
        }
    }
    rc = pay_rows_close(r);
    for (size_t i = 0; rc == PAY_OK && i < json_array_size(arr); i++) {
        rc = add_attempts(tx, json_array_get(arr, i), err);
    }
    if (rc != PAY_OK) {
        json_decref(arr);
        return db_err(err, rc);
    }
    *data_out = arr;
    return PAY_OK;
}

enum pay_err pay_webhook_deliveries_list(struct pay_tx *tx, const char *endpoint,
                                         const char *status, const struct pay_list_args *args,
                                         json_t **data_out, bool *has_more, struct pay_error *err)
{
    struct pay_param p[2];
    size_t n = 0;
    char where[128] = "";
    if (endpoint != NULL) {
        p[n++] = PAY_PTEXT(endpoint);
        snprintf(where, sizeof(where), "endpoint = $%zu", n);
    }
    if (status != NULL) {
        p[n++] = PAY_PTEXT(status);
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, "%sstatus = $%zu", n > 1 ? " AND " : "", n);
    }
    return pay_tx_list(tx, "webhook_delivery_objects", n > 0 ? where : NULL, p, n, args, data_out,
                       has_more, err);
}

/* Queue delivery (@event_id, @endpoint) now, creating it when absent. */
static enum pay_err requeue(struct pay_tx *tx, const char *event_id, const char *type,
                            const char *endpoint, struct pay_error *err)
{
    int64_t now = pay_now();
    int64_t now_ms = now * 1000;
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("whd", id);
    struct pay_param ip[] = {PAY_PTEXT(id),   PAY_PINT(now),       PAY_PTEXT(event_id),
                             PAY_PTEXT(type), PAY_PTEXT(endpoint), PAY_PINT(now_ms)};
    /* A delivery whose claim is still leased is in flight: leave it to
     * finish, so two attempts never run at once. */
    enum pay_err rc =
        pay_tx_exec(tx,
                    "INSERT INTO webhook_deliveries (id, created, event, event_type, endpoint, "
                    "status, retry_from_ms, next_attempt_ms) "
                    "VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) "
                    "ON CONFLICT (event, endpoint) DO UPDATE SET status = 'pending', "
                    "retry_from_ms = $6, next_attempt_ms = $6, claim = NULL "
                    "WHERE webhook_deliveries.claim IS NULL "
                    "OR webhook_deliveries.next_attempt_ms <= $6",
                    ip, PAY_NPARAMS(ip), NULL);
    return db_err(err, rc);
}

enum pay_err pay_webhook_redeliver(struct pay_tx *tx, const char *event_id, const char *endpoint,
                                   json_t **data_out, struct pay_error *err)
{
    *data_out = NULL;
    if (event_id == NULL || !pay_id_valid(event_id, "evt")) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such event: '%.64s'",
                             event_id != NULL ? event_id : "");
    }
    struct pay_param p[] = {PAY_PTEXT(event_id)};
    char *type = NULL;
    enum pay_err rc = pay_tx_query_text(tx, "SELECT type FROM events WHERE id = $1", p, 1, &type);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    if (type == NULL) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such event: '%.64s'", event_id);
    }
    if (endpoint != NULL) {
        json_t *o = NULL;
        rc = load(tx, endpoint, false, "endpoint", &o, err);
        if (rc == PAY_OK && strcmp(pay_json_str(o, "status"), "enabled") != 0) {
            rc = pay_error_set(err, PAY_ERR_CONFLICT, "endpoint",
                               "The webhook endpoint '%.64s' is disabled.", endpoint);
        }
        json_decref(o);
        if (rc == PAY_OK) {
            rc = requeue(tx, event_id, type, endpoint, err);
        }
    } else {
        /* Every existing endpoint that had a delivery of this event. */
        char ids[PAY_WEBHOOK_ENDPOINTS_MAX][PAY_ID_LEN_MAX + 1];
        size_t n = 0;
        struct pay_rows *r = NULL;
        rc = pay_tx_query(tx,
                          "SELECT d.endpoint FROM webhook_deliveries d "
                          "JOIN webhook_endpoints e ON e.id = d.endpoint "
                          "WHERE d.event = $1 AND e.status = 'enabled' ORDER BY d.seq",
                          p, 1, &r);
        if (rc == PAY_OK) {
            while (pay_rows_next(r)) {
                const char *e = pay_rows_text(r, 0);
                if (e != NULL && n < PAY_WEBHOOK_ENDPOINTS_MAX && strlen(e) <= PAY_ID_LEN_MAX) {
                    memcpy(ids[n++], e, strlen(e) + 1);
                }
            }
            rc = pay_rows_close(r);
        }
        for (size_t i = 0; i < n && rc == PAY_OK; i++) {
            rc = requeue(tx, event_id, type, ids[i], err);
        }
    }
    free(type);
    if (rc != PAY_OK) {
        return db_err(err, rc);
    }
    json_t *all = NULL;
    rc = pay_webhook_deliveries_of_event(tx, event_id, &all, err);
    if (rc != PAY_OK) {
        return rc;
    }
    if (endpoint != NULL) {
        json_t *only = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(all, i, d)
        {
            if (strcmp(pay_json_str(d, "endpoint"), endpoint) == 0) {
                json_array_append(only, d);
            }
        }
        json_decref(all);
        all = only;
    }
    *data_out = all;
    return PAY_OK;
}

/*
 * ops.c - the operations routes: GET /health (liveness and the database's
 * state, for load balancers), GET /metrics (Prometheus text), GET
 * /v1/openapi.json and GET /docs (the API description and its reader),
 * and /v1/keys (list, create and revoke API keys; admins only).
 *
 * None of these runs in the request transaction (PAY_ROUTE_NO_TX): /health
 * must answer even when the database does not, and the others touch no
 * rows or open their own transaction.
 *
 * Threading: handlers run on the server's threads; the OpenAPI text is
 * built once (pthread_once) and shared read-only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

static char *openapi_text;
static size_t openapi_len;
static pthread_once_t openapi_once = PTHREAD_ONCE_INIT;

static void openapi_render(void)
{
    json_t *d = pay_api_openapi();
    if (d != NULL) {
        openapi_text = json_dumps(d, JSON_PRESERVE_ORDER | JSON_COMPACT);
        openapi_len = openapi_text != NULL ? strlen(openapi_text) : 0;
    }
}

static enum pay_err health(struct pay_request *req)
{
    struct pay_store *s = req->app->store;
    int applied = 0;
    int known = 0;
    bool reachable = pay_store_ping(s) && pay_store_level(s, &applied, &known) == PAY_OK;

    json_t *db = json_object();
    pay_json_set_str(db, "kind", pay_store_kind(s));
    pay_json_set_bool(db, "reachable", reachable);
    if (reachable) {
        pay_json_set_int(db, "migration_level", applied);
        pay_json_set_int(db, "migrations_known", known);
    } else {
        json_object_set_new_nocheck(db, "migration_level", json_null());
        json_object_set_new_nocheck(db, "migrations_known", json_null());
    }
    json_t *body = json_object();
    pay_json_set_str(body, "status", reachable && applied == known ? "ok" : "degraded");
    pay_json_set_str(body, "version", req->app->version);
    json_object_set_new_nocheck(body, "database", db);
    pay_resp_json(req, reachable ? 200 : 503, body);
    return PAY_OK;
}

static enum pay_err metrics(struct pay_request *req)
{
    struct pay_store *s = req->app->store;
    int applied = 0;
    int known = 0;
    bool up = pay_store_ping(s) && pay_store_level(s, &applied, &known) == PAY_OK;
    char *text = pay_metrics_render();
    struct pay_buf b;
    pay_buf_init(&b, 16 * 1024 * 1024);
    enum pay_err e = pay_buf_adds(&b, text != NULL ? text : "");
    if (e == PAY_OK) {
        e = pay_buf_addf(&b,
                         "# HELP payd_build_info The running payd's version and database kind.\n"
                         "# TYPE payd_build_info gauge\n"
                         "payd_build_info{version=\"%s\",database=\"%s\"} 1\n"
                         "# HELP payd_database_up Whether the database answered a trivial "
                         "query.\n"
                         "# TYPE payd_database_up gauge\n"
                         "payd_database_up %d\n"
                         "# HELP payd_database_migration_level Applied schema migrations.\n"
                         "# TYPE payd_database_migration_level gauge\n"
                         "payd_database_migration_level %d\n",
                         req->app->version, pay_store_kind(s), up ? 1 : 0, applied);
    }
    if (e == PAY_OK) {
        struct pay_store_stats st;
        pay_store_stats(s, &st);
        e = pay_buf_addf(&b,
                         "# HELP payd_database_pool_connections Database connections open "
                         "(SQLite: read connections).\n"
                         "# TYPE payd_database_pool_connections gauge\n"
                         "payd_database_pool_connections %d\n"
                         "# HELP payd_database_pool_in_use Database connections lent out now.\n"
                         "# TYPE payd_database_pool_in_use gauge\n"
                         "payd_database_pool_in_use %d\n"
                         "# HELP payd_database_write_queue Writes waiting for the SQLite writer.\n"
                         "# TYPE payd_database_write_queue gauge\n"
                         "payd_database_write_queue %llu\n"
                         "# HELP payd_database_writes_total Write transactions run.\n"
                         "# TYPE payd_database_writes_total counter\n"
                         "payd_database_writes_total %llu\n"
                         "# HELP payd_database_commits_total Commits (SQLite: one per group "
                         "of writes).\n"
                         "# TYPE payd_database_commits_total counter\n"
                         "payd_database_commits_total %llu\n"
                         "# HELP payd_database_retries_total Writes re-run after a "
                         "serialization failure.\n"
                         "# TYPE payd_database_retries_total counter\n"
                         "payd_database_retries_total %llu\n"
                         "# HELP payd_database_wal_syncs_total SQLite: syncs of the WAL "
                         "that writes were answered after.\n"
                         "# TYPE payd_database_wal_syncs_total counter\n"
                         "payd_database_wal_syncs_total %llu\n"
                         "# HELP payd_database_checkpoints_total SQLite: checkpoints that "
                         "copied the WAL into the database file, by the checkpointer thread "
                         "or by the writer (which holds writes up meanwhile).\n"
                         "# TYPE payd_database_checkpoints_total counter\n"
                         "payd_database_checkpoints_total{by=\"checkpointer\"} %llu\n"
                         "payd_database_checkpoints_total{by=\"writer\"} %llu\n",
                         st.pool_open, st.pool_in_use, (unsigned long long)st.write_queue,
                         (unsigned long long)st.writes, (unsigned long long)st.commits,
                         (unsigned long long)st.retries, (unsigned long long)st.wal_syncs,
                         (unsigned long long)st.checkpoints,
                         (unsigned long long)st.writer_checkpoints);
    }
    if (e == PAY_OK) {
        e = pay_resp_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    }
    free(text);
    pay_buf_release(&b);
    return e == PAY_OK ? PAY_OK : pay_error_set(&req->err, e, NULL, NULL);
}

static enum pay_err openapi(struct pay_request *req)
{
    pthread_once(&openapi_once, openapi_render);
    if (openapi_text == NULL) {
        return pay_error_set(&req->err, PAY_ERR_INTERNAL, NULL,
                             "The API description could not be built.");
    }
    enum pay_err e = pay_resp_raw(req, 200, "application/json", openapi_text, openapi_len);
    return e == PAY_OK ? PAY_OK : pay_error_set(&req->err, e, NULL, NULL);
}

static enum pay_err docs(struct pay_request *req)
{
    const struct pay_embedded *page = pay_embedded_find("web/docs.html");
    if (page == NULL) {
        return pay_error_set(&req->err, PAY_ERR_NOT_FOUND, NULL, "The docs page is not built in.");
    }
    enum pay_err e =
        pay_resp_raw(req, 200, "text/html; charset=utf-8", (const char *)page->data, page->len);
    return e == PAY_OK ? PAY_OK : pay_error_set(&req->err, e, NULL, NULL);
}

/* A key as pay_keys_list gives it, as an API object: id and object first. */
static json_t *api_key_object(json_t *key)
{
    json_t *obj = json_object();
    pay_json_set_str(obj, "id", pay_json_str(key, "id"));
    pay_json_set_str(obj, "object", "api_key");
    json_object_update_missing(obj, key);
    return obj;
}

static enum pay_err keys_list(struct pay_request *req)
{
    json_t *keys = NULL;
    enum pay_err e = pay_keys_list(req->app->store, &keys);
    if (e != PAY_OK) {
        return pay_error_set(&req->err, e, NULL, NULL);
    }
    json_t *data = json_array();
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key)
    {
        json_array_append_new(data, api_key_object(key));
    }
    json_decref(keys);
    pay_api_list(req, "/v1/keys", data, false);
    return PAY_OK;
}

/* The key @id from pay_keys_list, as an api_key object (new reference), or NULL. */
static json_t *key_object(struct pay_request *req, const char *id)
{
    json_t *keys = NULL;
    if (pay_keys_list(req->app->store, &keys) != PAY_OK) {
        return NULL;
    }
    json_t *found = NULL;
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key)
    {
        const char *kid = pay_json_str(key, "id");
        if (kid != NULL && strcmp(kid, id) == 0) {
            found = api_key_object(key);
            break;
        }
    }
    json_decref(keys);
    return found;
}

/* The audit record of a key change, in the key's own transaction. */
static enum pay_err key_audit(struct pay_tx *tx, const char *key_id, void *arg)
{
    return pay_request_audit(tx, arg, key_id, 200);
}

/*
 * POST /v1/keys {name, role}: the API twin of `payd keys create`. The key
 * is created in its own transaction by the auth module (hence NO_TX), with
 * its audit record; the secret is in this one response only.
 */
static enum pay_err keys_create(struct pay_request *req)
{
    static const char *const allowed[] = {"name", "role", NULL};
    static const char *const roles[] = {"admin", "staff", "auditor", NULL};
    const char *name = NULL;
    const char *role = NULL;
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    PAY_TRY(pay_arg_str(req, req->body, "name", true, 200, &name, NULL));
    PAY_TRY(pay_arg_enum(req, req->body, "role", true, roles, &role, NULL));

    char secret[64];
    char id[PAY_ID_LEN_MAX + 1];
    PAY_TRY(pay_keys_create_with(req->app->store, name, pay_role_parse(role), key_audit, req,
                                 secret, id, &req->err));
    json_t *obj = key_object(req, id);
    if (obj == NULL) {
        obj = json_object();
        pay_json_set_str(obj, "id", id);
        pay_json_set_str(obj, "object", "api_key");
        pay_json_set_str(obj, "name", name);
        pay_json_set_str(obj, "role", role);
    }
    pay_json_set_str(obj, "secret", secret);
    explicit_bzero(secret, sizeof(secret));
    pay_resp_json(req, 200, obj);
    return PAY_OK;
}

/* DELETE /v1/keys/:id: revoke (the API twin of `payd keys revoke`). */
static enum pay_err keys_revoke(struct pay_request *req)
{
    const char *id = req->params[0];
    if (!pay_id_valid(id, "key")) {
        return pay_error_set(&req->err, PAY_ERR_NOT_FOUND, "id", "No such API key: '%.40s'.", id);
    }
    PAY_TRY(pay_keys_revoke_with(req->app->store, id, key_audit, req, &req->err));
    json_t *obj = key_object(req, id);
    if (obj == NULL) {
        obj = json_object();
        pay_json_set_str(obj, "id", id);
        pay_json_set_str(obj, "object", "api_key");
    }
    pay_resp_json(req, 200, obj);
    return PAY_OK;
}

PAY_API_ROUTES_DEFINE(ops) = {
    {"GET", "/health", health, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX,
     "Liveness, version and the database's state"},
    {"GET", "/metrics", metrics, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX, "Prometheus metrics"},
    {"GET", "/v1/openapi.json", openapi, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX,
     "This API's OpenAPI 3.1 description"},
    {"GET", "/docs", docs, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX,
     "The API reference, rendered from /v1/openapi.json"},
    {"GET", "/v1/keys", keys_list, PAY_ROLE_ADMIN, PAY_ROUTE_NO_TX, "List API keys"},
    {"POST", "/v1/keys", keys_create, PAY_ROLE_ADMIN, PAY_ROUTE_NO_TX, "Create an API key"},
    {"DELETE", "/v1/keys/:id", keys_revoke, PAY_ROLE_ADMIN, PAY_ROUTE_NO_TX, "Revoke an API key"},
};
PAY_API_ROUTES_COUNT(ops);

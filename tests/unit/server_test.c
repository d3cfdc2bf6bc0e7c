/*
 * server_test.c - the HTTP server (src/http/server.c, idempotency.c,
 * metrics.c) end to end: a real server on 127.0.0.1:0 over a SQLite store in
 * a temporary directory, a small routing table of test handlers, and
 * requests sent with libcurl. Each test runs in its own process (Criterion)
 * with a fresh database.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/http.h"

/* ---- Test handlers --------------------------------------------------------- */

static atomic_int handler_runs; /* runs of the write handlers */
static atomic_int slow_started;

static enum pay_err thing_out(struct pay_request *req, const char *id, const char *note)
{
    json_t *o = json_object();
    if (!o) {
        return PAY_ERR_NOMEM;
    }
    pay_json_set_str(o, "id", id);
    pay_json_set_str(o, "object", "thing");
    pay_json_set_str(o, "note", note);
    pay_resp_json(req, 200, o);
    return PAY_OK;
}

static enum pay_err create_thing(struct pay_request *req)
{
    atomic_fetch_add(&handler_runs, 1);
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("th", id);
    const char *note = pay_json_str(req->body, "note");
    const struct pay_param p[] = {PAY_PTEXT(id), PAY_PTEXT(note)};
    enum pay_err rc = pay_tx_exec(req->tx, "INSERT INTO test_things (id, note) VALUES ($1, $2)", p,
                                  PAY_NPARAMS(p), NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    return thing_out(req, id, note);
}

static enum pay_err get_thing(struct pay_request *req)
{
    char *note = NULL;
    const struct pay_param p[] = {PAY_PTEXT(req->params[0])};
    int64_t n = 0;
    bool found = false;
    enum pay_err rc = pay_tx_query_int(req->tx, "SELECT COUNT(*) FROM test_things WHERE id = $1", p,
                                       1, &n, &found);
    if (rc != PAY_OK) {
        return rc;
    }
    if (n == 0) {
        return pay_error_set(&req->err, PAY_ERR_NOT_FOUND, "id", "No such thing: '%s'",
                             req->params[0]);
    }
    rc = pay_tx_query_text(req->tx, "SELECT note FROM test_things WHERE id = $1", p, 1, &note);
    if (rc == PAY_OK) {
        rc = thing_out(req, req->params[0], note);
    }
    free(note);
    return rc;
}

/* Writes a row, then fails validation: the row must not survive. */
static enum pay_err failing(struct pay_request *req)
{
    atomic_fetch_add(&handler_runs, 1);
    const struct pay_param p[] = {PAY_PTEXT("th_fail"), PAY_PTEXT("x")};
    enum pay_err rc = pay_tx_exec(req->tx, "INSERT INTO test_things (id, note) VALUES ($1, $2)", p,
                                  PAY_NPARAMS(p), NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "note", "The note is not acceptable.");
}

/* Records the attempt and answers a decline (pay_tx_commit_anyway). */
static enum pay_err declined(struct pay_request *req)
{
    atomic_fetch_add(&handler_runs, 1);
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("th", id);
    const struct pay_param p[] = {PAY_PTEXT(id), PAY_PTEXT("declined")};
    enum pay_err rc = pay_tx_exec(req->tx, "INSERT INTO test_things (id, note) VALUES ($1, $2)", p,
                                  PAY_NPARAMS(p), NULL);
    if (rc != PAY_OK) {
        return rc;
    }
    pay_tx_commit_anyway(req->tx);
    rc = pay_error_set(&req->err, PAY_ERR_CARD_DECLINED, NULL, "Declined attempt %s.", id);
    snprintf(req->err.decline_code, sizeof(req->err.decline_code), "generic_decline");
    return rc;
}

static enum pay_err echo(struct pay_request *req)
{
    json_t *o = json_object();
    json_object_set(o, "body", req->body);
    json_object_set(o, "query", req->query);
    pay_json_set_bool(o, "tx_null", req->tx == NULL);
    pay_json_set_str(o, "subject", req->who.kind ? req->who.subject : NULL);
    pay_resp_json(req, 200, o);
    return PAY_OK;
}

static enum pay_err raw(struct pay_request *req)
{
    return pay_resp_raw(req, 201, "text/plain; charset=utf-8", "hello\n", 6);
}

static enum pay_err redirect(struct pay_request *req)
{
    pay_resp_redirect(req, 0, "https://example.invalid/next");
    return PAY_OK;
}

static enum pay_err slow(struct pay_request *req)
{
    atomic_fetch_add(&slow_started, 1);
    usleep(300 * 1000);
    return thing_out(req, "slow", NULL);
}

static const struct pay_route routes[] = {
    {"POST", "/v1/things", create_thing, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "Create a thing"},
    {"GET", "/v1/things/:id", get_thing, PAY_ROLES_ALL, 0, "Get a thing"},
    {"POST", "/v1/failing", failing, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "Always 400"},
    {"POST", "/v1/declined", declined, PAY_ROLES_STAFF, PAY_ROUTE_WRITE, "Always 402"},
    {"POST", "/v1/echo", echo, PAY_ROLES_ALL, PAY_ROUTE_NO_TX, "Echo"},
    {"GET", "/v1/echo", echo, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX, "Echo"},
    {"GET", "/raw", raw, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX, "Raw"},
    {"GET", "/redirect", redirect, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX, "Redirect"},
    {"GET", "/slow", slow, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_NO_TX, "Slow"},
};

/* ---- Fixture ------------------------------------------------------------------ */

static char dir[64];
static struct pay_store *store;
static struct pay_server *srv;
static struct pay_app app;
static unsigned port;
static char staff_key[64];
static char staff_id[PAY_ID_LEN_MAX + 1];
static char auditor_key[64];

static enum pay_err create_table(struct pay_tx *tx, void *arg)
{
    (void)arg;
    return pay_tx_exec(tx, "CREATE TABLE test_things (id TEXT PRIMARY KEY, note TEXT)", NULL, 0,
                       NULL);
}

static void setup(void)
{
    pay_log_init(PAY_LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/payd-server-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/payd.db", dir);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "open: %s", err.message);
    cr_assert_eq(pay_store_migrate(store, NULL, &err), PAY_OK, "migrate: %s", err.message);
    cr_assert_eq(pay_store_write(store, create_table, NULL), PAY_OK);
    char id[PAY_ID_LEN_MAX + 1];
    cr_assert_eq(pay_keys_create(store, "staff", PAY_ROLE_STAFF, staff_key, staff_id, &err), PAY_OK,
                 "%s", err.message);
    cr_assert_eq(pay_keys_create(store, "auditor", PAY_ROLE_AUDITOR, auditor_key, id, &err), PAY_OK,
                 "%s", err.message);

    app = (struct pay_app){
        .store = store,
        .routes = routes,
        .n_routes = sizeof(routes) / sizeof(routes[0]),
        .version = "test",
        .public_url = "http://127.0.0.1",
        .quiet_access_log = true,
    };
    struct pay_server_config cfg = {.listen = "127.0.0.1:0"};
    cr_assert_eq(pay_server_start(&app, &cfg, &srv, &err), PAY_OK, "%s", err.message);
    port = pay_server_port(srv);
    cr_assert_neq(port, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    pay_server_stop(srv);
    srv = NULL;
    pay_store_close(store);
    store = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        cr_log_warn("could not remove %s", dir);
    }
    curl_global_cleanup();
}

TestSuite(server, .init = setup, .fini = teardown, .timeout = 60);

/* ---- HTTP client -------------------------------------------------------------- */

struct resp {
    long status;
    struct pay_buf body;
    json_t *json;
    char request_id[64];
    char replayed[16];
    char stripe_version[80];
    char allow[80];
    char content_type[80];
    char location[256];
    long connects;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    return pay_buf_add(&r->body, p, sz * n) == PAY_OK ? sz * n : 0;
}

static void header_copy(const char *line, size_t len, const char *name, char *out, size_t out_n)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') {
        return;
    }
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && *v == ' ') {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    snprintf(out, out_n, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    header_copy(p, len, "Request-Id", r->request_id, sizeof(r->request_id));
    header_copy(p, len, "Idempotent-Replayed", r->replayed, sizeof(r->replayed));
    header_copy(p, len, "Stripe-Version", r->stripe_version, sizeof(r->stripe_version));
    header_copy(p, len, "Allow", r->allow, sizeof(r->allow));
    header_copy(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
    header_copy(p, len, "Location", r->location, sizeof(r->location));
    return len;
}

struct chunked_src {
    size_t left;
};

static size_t chunked_read(char *buf, size_t sz, size_t n, void *ud)
{
    struct chunked_src *s = ud;
    size_t want = sz * n < s->left ? sz * n : s->left;
    memset(buf, 'a', want);
    s->left -= want;
    return want;
}

struct req_opts {
    const char *method;
    const char *path;
    const char *key;          /* API key secret, or NULL */
    const char *content_type; /* NULL: none */
    const char *body;
    size_t body_len;             /* 0: strlen(body) */
    const char *idempotency_key; /* NULL: none */
    const char *extra;           /* one more header line, or NULL */
    size_t chunked_len;          /* > 0: send that many bytes chunked */
    CURL *reuse;                 /* an easy handle to reuse (keep-alive) */
};

static void resp_release(struct resp *r)
{
    pay_buf_release(&r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

static void do_request(const struct req_opts *o, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    pay_buf_init(&r->body, 4 * 1024 * 1024);
    CURL *c = o->reuse ? o->reuse : curl_easy_init();
    cr_assert_not_null(c);
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, o->path);
    struct curl_slist *h = NULL;
    char line[512];
    if (o->key) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", o->key);
        h = curl_slist_append(h, line);
    }
    if (o->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", o->content_type);
        h = curl_slist_append(h, line);
    } else {
        h = curl_slist_append(h, "Content-Type:"); /* curl's default form type off */
    }
    if (o->idempotency_key) {
        snprintf(line, sizeof(line), "Idempotency-Key: %s", o->idempotency_key);
        h = curl_slist_append(h, line);
    }
    if (o->extra) {
        h = curl_slist_append(h, o->extra);
    }
    struct chunked_src src = {.left = o->chunked_len};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
    if (o->chunked_len > 0) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, chunked_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
    } else if (o->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(o->body_len ? o->body_len : strlen(o->body)));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(c);
    cr_assert_eq(cc, CURLE_OK, "%s %s: %s", o->method, o->path, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
    curl_slist_free_all(h);
    if (!o->reuse) {
        curl_easy_cleanup(c);
    }
    if (r->body.len > 0 && strncmp(r->content_type, "application/json", 16) == 0) {
        r->json = json_loadb(r->body.data, r->body.len, 0, NULL);
    }
}

static bool valid_request_id(const char *id)
{
    if (strncmp(id, "req_", 4) != 0 || strlen(id) != 4 + PAY_ID_RANDOM_LEN) {
        return false;
    }
    for (const char *p = id + 4; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            return false;
        }
    }
    return true;
}

static const char *err_field(const struct resp *r, const char *field)
{
    return pay_json_str(json_object_get(r->json, "error"), field);
}

static void assert_error(const struct resp *r, long status, const char *code)
{
    cr_assert_eq(r->status, status, "status %ld, want %ld: %s", r->status, status, r->body.data);
    cr_assert_not_null(r->json, "error body is JSON: %s", r->body.data);
    cr_assert_str_eq(err_field(r, "code"), code, "body: %s", r->body.data);
    cr_assert_not_null(err_field(r, "type"));
    cr_assert_not_null(err_field(r, "message"));
    cr_assert(valid_request_id(r->request_id), "Request-Id '%s'", r->request_id);
}

static enum pay_err count_tx(struct pay_tx *tx, void *arg)
{
    bool found;
    return pay_tx_query_int(tx, "SELECT COUNT(*) FROM test_things", NULL, 0, arg, &found);
}

static int64_t things(void)
{
    int64_t n = -1;
    cr_assert_eq(pay_store_read(store, count_tx, &n), PAY_OK);
    return n;
}

static void post_thing(const char *body, const char *idem, struct resp *r)
{
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = body,
                                  .idempotency_key = idem},
               r);
}

/* ---- Routing and authentication ------------------------------------------- */

Test(server, unknown_route_is_404_json_with_request_id)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/nope", .key = staff_key}, &r);
    assert_error(&r, 404, "route_missing");
    cr_assert_str_eq(r.content_type, "application/json");
    cr_assert_str_eq(err_field(&r, "type"), "invalid_request_error");

    struct resp r2;
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/nope"}, &r2);
    cr_assert(valid_request_id(r2.request_id));
    cr_assert_str_neq(r.request_id, r2.request_id, "every request has its own id");
    resp_release(&r);
    resp_release(&r2);
}

Test(server, wrong_method_is_405_with_allow)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "DELETE", .path = "/v1/things", .key = staff_key}, &r);
    assert_error(&r, 405, "method_not_allowed");
    cr_assert_str_eq(r.allow, "POST");
    resp_release(&r);

    do_request(&(struct req_opts){.method = "PUT", .path = "/v1/echo"}, &r);
    assert_error(&r, 405, "method_not_allowed");
    cr_assert_str_eq(r.allow, "GET, POST");
    resp_release(&r);
}

Test(server, missing_key_is_401)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = "note=a",
                                  .idempotency_key = "k"},
               &r);
    assert_error(&r, 401, "api_key_required");
    cr_assert_eq(things(), 0);
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);
}

Test(server, bad_key_is_401)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = "sk_test_00000000000000000000000000000000",
                                  .body = "note=a"},
               &r);
    assert_error(&r, 401, "api_key_invalid");
    cr_assert_eq(things(), 0);
    resp_release(&r);
}

Test(server, wrong_role_is_403)
{
    struct resp r;
    do_request(
        &(struct req_opts){
            .method = "POST", .path = "/v1/things", .key = auditor_key, .body = "note=a"},
        &r);
    assert_error(&r, 403, "permission_denied");
    cr_assert_eq(things(), 0);
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);

    /* The same key may read. */
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/things/th_x", .key = auditor_key},
               &r);
    assert_error(&r, 404, "resource_missing");
    cr_assert_str_eq(err_field(&r, "param"), "id");
    resp_release(&r);
}

Test(server, public_route_needs_no_key_and_no_tx_route_has_no_tx)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/echo"}, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert(json_is_true(json_object_get(r.json, "tx_null")));
    cr_assert(json_is_null(json_object_get(r.json, "subject")));
    resp_release(&r);

    do_request(&(struct req_opts){.method = "POST", .path = "/v1/echo", .key = staff_key}, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert_str_eq(pay_json_str(r.json, "subject"), staff_id);
    resp_release(&r);
}

/* ---- Bodies ------------------------------------------------------------------- */

Test(server, oversize_body_is_413_and_writes_nothing)
{
    size_t n = PAY_BODY_BYTES_MAX + 1;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, 'a', n);
    memcpy(big, "note=", 5);
    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = big,
                                  .body_len = n},
               &r);
    assert_error(&r, 413, "body_too_large");
    cr_assert_eq(things(), 0);
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);

    /* Without "Expect: 100-continue" the client sends the body at once. */
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = big,
                                  .body_len = n,
                                  .extra = "Expect:"},
               &r);
    assert_error(&r, 413, "body_too_large");
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);

    /* Exactly at the limit is accepted. */
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = big,
                                  .body_len = n - 1},
               &r);
    cr_assert_neq(r.status, 413, "%s", r.body.data);
    resp_release(&r);
    free(big);
}

Test(server, oversize_chunked_body_is_413)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .chunked_len = PAY_BODY_BYTES_MAX + 4096},
               &r);
    assert_error(&r, 413, "body_too_large");
    cr_assert_eq(things(), 0);
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);
}

Test(server, malformed_json_is_400_naming_the_problem)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "application/json",
                                  .body = "{\"note\": "},
               &r);
    assert_error(&r, 400, "body_invalid");
    cr_assert_str_eq(err_field(&r, "type"), "invalid_request_error");
    cr_assert(strstr(err_field(&r, "message"), "JSON") != NULL, "%s", r.body.data);
    cr_assert_eq(things(), 0);
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);
}

Test(server, unsupported_content_type_is_400)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = staff_key,
                                  .content_type = "text/xml",
                                  .body = "<note/>"},
               &r);
    assert_error(&r, 400, "body_invalid");
    cr_assert(strstr(err_field(&r, "message"), "text/xml") != NULL);
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);
}

Test(server, form_and_json_bodies_reach_the_handler_as_one_tree)
{
    struct resp form, json;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/echo",
                                  .key = staff_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = "note=hi%20there&metadata%5Border%5D=42"
                                          "&items[0][price]=p1&expand[]=customer"},
               &form);
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/echo",
                                  .key = staff_key,
                                  .content_type = "application/json; charset=utf-8",
                                  .body = "{\"note\":\"hi there\",\"metadata\":{\"order\":\"42\"},"
                                          "\"items\":[{\"price\":\"p1\"}],"
                                          "\"expand\":[\"customer\"]}"},
               &json);
    cr_assert_eq(form.status, 200, "%s", form.body.data);
    cr_assert_eq(json.status, 200, "%s", json.body.data);
    json_t *fb = json_object_get(form.json, "body");
    json_t *jb = json_object_get(json.json, "body");
    cr_assert(json_equal(fb, jb), "form %s\njson %s", form.body.data, json.body.data);
    cr_assert_str_eq(pay_json_str(fb, "note"), "hi there");
    resp_release(&form);
    resp_release(&json);
}

Test(server, query_string_is_decoded_like_a_form)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "GET",
                                  .path = "/v1/echo?limit=3&created%5Bgte%5D=10&expand[]=a%26b"
                                          "&q=x%20y"},
               &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    json_t *want = json_loads("{\"limit\":\"3\",\"created\":{\"gte\":\"10\"},"
                              "\"expand\":[\"a&b\"],\"q\":\"x y\"}",
                              0, NULL);
    json_t *q = json_object_get(r.json, "query");
    cr_assert(json_equal(q, want), "query %s", r.body.data);
    cr_assert_eq(json_object_size(json_object_get(r.json, "body")), 0);
    json_decref(want);
    resp_release(&r);
}

/* ---- Transactions --------------------------------------------------------------- */

Test(server, write_route_commits)
{
    struct resp r;
    post_thing("note=first", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_assert(valid_request_id(r.request_id));
    const char *id = pay_json_str(r.json, "id");
    cr_assert_not_null(id);
    cr_assert_eq(things(), 1);

    char path[128];
    snprintf(path, sizeof(path), "/v1/things/%s", id);
    struct resp g;
    do_request(&(struct req_opts){.method = "GET", .path = path, .key = auditor_key}, &g);
    cr_assert_eq(g.status, 200, "%s", g.body.data);
    cr_assert_str_eq(pay_json_str(g.json, "note"), "first");
    cr_assert_str_eq(pay_json_str(g.json, "id"), id);
    resp_release(&r);
    resp_release(&g);
}

Test(server, handler_error_rolls_back)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "POST", .path = "/v1/failing", .key = staff_key}, &r);
    assert_error(&r, 400, "parameter_invalid");
    cr_assert_str_eq(err_field(&r, "param"), "note");
    cr_assert_str_eq(err_field(&r, "message"), "The note is not acceptable.");
    cr_assert_eq(atomic_load(&handler_runs), 1);
    cr_assert_eq(things(), 0, "the handler's row was rolled back");
    resp_release(&r);
}

Test(server, raw_and_redirect_responses)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "GET", .path = "/raw"}, &r);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
    cr_assert_str_eq(r.body.data, "hello\n");
    cr_assert(valid_request_id(r.request_id));
    resp_release(&r);

    do_request(&(struct req_opts){.method = "GET", .path = "/redirect"}, &r);
    cr_assert_eq(r.status, 302);
    cr_assert_str_eq(r.location, "https://example.invalid/next");
    resp_release(&r);
}

/* ---- Idempotency ----------------------------------------------------------------- */

Test(server, idempotent_replay_returns_the_first_response)
{
    struct resp a, b;
    post_thing("note=once", "key-1", &a);
    post_thing("note=once", "key-1", &b);
    cr_assert_eq(a.status, 200, "%s", a.body.data);
    cr_assert_eq(b.status, 200, "%s", b.body.data);
    cr_assert_str_eq(a.body.data, b.body.data);
    cr_assert_str_eq(a.replayed, "");
    cr_assert_str_eq(b.replayed, "true");
    cr_assert_str_eq(b.content_type, "application/json");
    cr_assert_str_neq(a.request_id, b.request_id);
    cr_assert_eq(atomic_load(&handler_runs), 1);
    cr_assert_eq(things(), 1);
    resp_release(&a);
    resp_release(&b);

    /* Another key is another request. */
    post_thing("note=once", "key-2", &a);
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.replayed, "");
    cr_assert_eq(things(), 2);
    resp_release(&a);
}

Test(server, same_key_different_request_is_400)
{
    struct resp a, b;
    post_thing("note=one", "key-1", &a);
    post_thing("note=two", "key-1", &b);
    cr_assert_eq(a.status, 200);
    assert_error(&b, 400, "idempotency_key_reused");
    cr_assert_str_eq(err_field(&b, "type"), "idempotency_error");
    cr_assert_eq(atomic_load(&handler_runs), 1);
    cr_assert_eq(things(), 1);
    resp_release(&a);
    resp_release(&b);
}

Test(server, overlong_idempotency_key_is_400)
{
    char key[PAY_IDEMPOTENCY_KEY_LEN_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    struct resp r;
    post_thing("note=a", key, &r);
    assert_error(&r, 400, "parameter_invalid");
    cr_assert_str_eq(err_field(&r, "param"), "Idempotency-Key");
    cr_assert_eq(atomic_load(&handler_runs), 0);
    resp_release(&r);

    key[PAY_IDEMPOTENCY_KEY_LEN_MAX] = '\0';
    post_thing("note=a", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    resp_release(&r);
}

Test(server, failed_request_stores_no_key)
{
    struct resp a, b;
    do_request(
        &(struct req_opts){
            .method = "POST", .path = "/v1/failing", .key = staff_key, .idempotency_key = "key-f"},
        &a);
    do_request(
        &(struct req_opts){
            .method = "POST", .path = "/v1/failing", .key = staff_key, .idempotency_key = "key-f"},
        &b);
    assert_error(&a, 400, "parameter_invalid");
    assert_error(&b, 400, "parameter_invalid");
    cr_assert_str_eq(b.replayed, "", "a validation failure is not replayed");
    cr_assert_eq(atomic_load(&handler_runs), 2);
    resp_release(&a);
    resp_release(&b);
}

Test(server, committed_decline_is_replayed)
{
    struct resp a, b;
    do_request(
        &(struct req_opts){
            .method = "POST", .path = "/v1/declined", .key = staff_key, .idempotency_key = "key-d"},
        &a);
    do_request(
        &(struct req_opts){
            .method = "POST", .path = "/v1/declined", .key = staff_key, .idempotency_key = "key-d"},
        &b);
    assert_error(&a, 402, "card_declined");
    cr_assert_str_eq(err_field(&a, "decline_code"), "generic_decline");
    cr_assert_eq(b.status, 402);
    cr_assert_str_eq(a.body.data, b.body.data);
    cr_assert_str_eq(b.replayed, "true");
    cr_assert_eq(atomic_load(&handler_runs), 1);
    cr_assert_eq(things(), 1, "the attempt was recorded once");
    resp_release(&a);
    resp_release(&b);
}

Test(server, idempotency_keys_are_scoped_to_the_caller)
{
    char other_key[64], other_id[PAY_ID_LEN_MAX + 1];
    struct pay_error err = {0};
    cr_assert_eq(pay_keys_create(store, "staff2", PAY_ROLE_STAFF, other_key, other_id, &err),
                 PAY_OK);
    struct resp a, b;
    post_thing("note=s", "shared", &a);
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/things",
                                  .key = other_key,
                                  .content_type = "application/x-www-form-urlencoded",
                                  .body = "note=s",
                                  .idempotency_key = "shared"},
               &b);
    cr_assert_eq(a.status, 200);
    cr_assert_eq(b.status, 200);
    cr_assert_str_eq(b.replayed, "");
    cr_assert_str_neq(pay_json_str(a.json, "id"), pay_json_str(b.json, "id"));
    cr_assert_eq(atomic_load(&handler_runs), 2);
    resp_release(&a);
    resp_release(&b);
}

#define CONCURRENT 20

struct concurrent {
    pthread_barrier_t *barrier;
    struct resp r;
};

static void *concurrent_post(void *arg)
{
    struct concurrent *c = arg;
    pthread_barrier_wait(c->barrier);
    post_thing("note=race", "key-race", &c->r);
    return NULL;
}

Test(server, concurrent_duplicates_run_once)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, CONCURRENT);
    struct concurrent cs[CONCURRENT];
    pthread_t t[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++) {
        cs[i].barrier = &barrier;
        cr_assert_eq(pthread_create(&t[i], NULL, concurrent_post, &cs[i]), 0);
    }
    int replayed = 0;
    for (int i = 0; i < CONCURRENT; i++) {
        pthread_join(t[i], NULL);
    }
    for (int i = 0; i < CONCURRENT; i++) {
        cr_assert_eq(cs[i].r.status, 200, "request %d: %ld %s", i, cs[i].r.status,
                     cs[i].r.body.data);
        cr_assert_str_eq(cs[i].r.body.data, cs[0].r.body.data);
        replayed += strcmp(cs[i].r.replayed, "true") == 0;
    }
    cr_assert_eq(atomic_load(&handler_runs), 1);
    cr_assert_eq(replayed, CONCURRENT - 1);
    cr_assert_eq(things(), 1);
    for (int i = 0; i < CONCURRENT; i++) {
        resp_release(&cs[i].r);
    }
    pthread_barrier_destroy(&barrier);
}

Test(server, prune_deletes_only_old_keys)
{
    int64_t now = pay_now();
    pay_clock_set_fixed(now - PAY_IDEMPOTENCY_TTL_S - 10);
    struct resp r;
    post_thing("note=old", "key-old", &r);
    cr_assert_eq(r.status, 200);
    resp_release(&r);
    pay_clock_set_fixed(0);
    post_thing("note=new", "key-new", &r);
    resp_release(&r);

    int64_t deleted = -1;
    cr_assert_eq(pay_idempotency_prune(store, pay_now(), &deleted), PAY_OK);
    cr_assert_eq(deleted, 1);

    /* The old key is free again; the new one still replays. */
    post_thing("note=old", "key-old", &r);
    cr_assert_str_eq(r.replayed, "");
    resp_release(&r);
    post_thing("note=new", "key-new", &r);
    cr_assert_str_eq(r.replayed, "true");
    resp_release(&r);
    cr_assert_eq(atomic_load(&handler_runs), 3);
}

/* ---- Headers, connections, metrics, shutdown ------------------------------------- */

Test(server, stripe_version_is_echoed)
{
    struct resp r;
    do_request(&(struct req_opts){.method = "GET",
                                  .path = "/v1/echo",
                                  .extra = "Stripe-Version: 2024-06-20"},
               &r);
    cr_assert_str_eq(r.stripe_version, "2024-06-20");
    resp_release(&r);
    do_request(&(struct req_opts){.method = "GET",
                                  .path = "/v1/missing",
                                  .extra = "Stripe-Version: 2023-10-16"},
               &r);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.stripe_version, "2023-10-16");
    resp_release(&r);
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/echo"}, &r);
    cr_assert_str_eq(r.stripe_version, "");
    resp_release(&r);
}

Test(server, keep_alive_connection_is_reused)
{
    CURL *c = curl_easy_init();
    struct resp a, b;
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/echo", .reuse = c}, &a);
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/nope", .reuse = c}, &b);
    cr_assert_eq(a.status, 200);
    cr_assert_eq(b.status, 404);
    cr_assert_eq(a.connects, 1);
    cr_assert_eq(b.connects, 0, "the second request reused the connection");
    curl_easy_cleanup(c);
    resp_release(&a);
    resp_release(&b);
}

static bool metrics_contain(const char *needle)
{
    for (int i = 0; i < 200; i++) {
        char *text = pay_metrics_render();
        cr_assert_not_null(text);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found) {
            return true;
        }
        usleep(10 * 1000); /* metrics are recorded once the response is sent */
    }
    return false;
}

Test(server, metrics_count_routes_statuses_and_latency)
{
    struct resp r;
    post_thing("note=m", NULL, &r);
    resp_release(&r);
    do_request(&(struct req_opts){.method = "GET", .path = "/nowhere"}, &r);
    resp_release(&r);
    cr_assert(metrics_contain(
        "payd_http_requests_total{route=\"/v1/things\",method=\"POST\",status=\"200\"} 1\n"));
    cr_assert(metrics_contain(
        "payd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"));
    cr_assert(metrics_contain(
        "payd_http_request_duration_seconds_bucket{route=\"/v1/things\",le=\"+Inf\"} 1\n"));
    cr_assert(
        metrics_contain("payd_http_request_duration_seconds_count{route=\"/v1/things\"} 1\n"));
    cr_assert(metrics_contain("payd_http_requests_in_flight 0\n"));
}

struct slow_call {
    struct resp r;
};

static void *slow_get(void *arg)
{
    struct slow_call *s = arg;
    do_request(&(struct req_opts){.method = "GET", .path = "/slow"}, &s->r);
    return NULL;
}

Test(server, stop_finishes_in_flight_requests)
{
    struct slow_call s;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, slow_get, &s), 0);
    while (atomic_load(&slow_started) == 0) {
        usleep(1000);
    }
    pay_server_stop(srv);
    srv = NULL;
    pthread_join(t, NULL);
    cr_assert_eq(s.r.status, 200, "the in-flight request completed");
    cr_assert_str_eq(pay_json_str(s.r.json, "id"), "slow");
    resp_release(&s.r);
}

Test(server, bad_listen_addresses_are_refused)
{
    static const char *const bad[] = {"",       "127.0.0.1", "127.0.0.1:",  "127.0.0.1:99999",
                                      "::1:80", "[::1]80",   "127.0.0.1:8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pay_server *s = NULL;
        struct pay_error err = {0};
        struct pay_server_config cfg = {.listen = bad[i]};
        cr_assert_eq(pay_server_start(&app, &cfg, &s, &err), PAY_ERR_CONFIG, "%s", bad[i]);
        cr_assert_str_eq(err.param, "listen");
        cr_assert_null(s);
    }
    /* The port in use is an I/O error, not a crash. */
    char busy[32];
    snprintf(busy, sizeof(busy), "127.0.0.1:%u", port);
    struct pay_server *s = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_server_start(&app, &(struct pay_server_config){.listen = busy}, &s, &err),
                 PAY_ERR_IO);
}

Test(server, access_log_has_one_line_per_request_without_secrets)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/stderr.log", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(saved, 0);
    pay_log_init(PAY_LOG_INFO);
    app.quiet_access_log = false;
    dup2(fd, STDERR_FILENO);

    struct resp r;
    do_request(&(struct req_opts){.method = "POST",
                                  .path = "/v1/echo?secret_q=zzqq",
                                  .key = staff_key,
                                  .body = "card=bodybytes"},
               &r);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    char rid[64];
    snprintf(rid, sizeof(rid), "%s", r.request_id);
    resp_release(&r);
    do_request(&(struct req_opts){.method = "GET", .path = "/v1/nope"}, &r);
    resp_release(&r);
    /* Lines are written once each response has gone out, in any order. */
    char *text = NULL;
    for (int i = 0; i < 200; i++) {
        free(text);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        struct pay_buf b;
        pay_buf_init(&b, 1 << 20);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            cr_assert_eq(pay_buf_add(&b, chunk, n), PAY_OK);
        }
        fclose(f);
        text = pay_buf_detach(&b, NULL);
        if (text && strstr(text, "/v1/nope") && strstr(text, rid)) {
            break;
        }
        usleep(10 * 1000);
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    pay_log_init(PAY_LOG_ERROR);

    cr_assert_not_null(text);
    cr_assert_null(strstr(text, "zzqq"), "no query string in logs: %s", text);
    cr_assert_null(strstr(text, "bodybytes"), "no body in logs: %s", text);
    cr_assert_null(strstr(text, staff_key + 8), "no key in logs: %s", text);
    json_t *line = NULL;
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        if (j && pay_json_str(j, "msg") && strcmp(pay_json_str(j, "msg"), "request") == 0) {
            lines++;
            if (!line && pay_json_str(j, "request_id") &&
                strcmp(pay_json_str(j, "request_id"), rid) == 0) {
                line = json_incref(j);
            }
        }
        json_decref(j);
    }
    free(text);
    cr_assert_eq(lines, 2);
    cr_assert_not_null(line);
    cr_assert_str_eq(pay_json_str(line, "method"), "POST");
    cr_assert_str_eq(pay_json_str(line, "path"), "/v1/echo");
    cr_assert_str_eq(pay_json_str(line, "route"), "/v1/echo");
    cr_assert_eq(pay_json_int(line, "status", 0), 200);
    cr_assert_geq(pay_json_int(line, "duration_us", -1), 0);
    cr_assert_str_eq(pay_json_str(line, "subject"), staff_id);
    cr_assert_str_eq(pay_json_str(line, "client_addr"), "127.0.0.1");
    json_decref(line);
}

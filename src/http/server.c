/*
 * server.c - payd's HTTP server on libmicrohttpd: one request's life from
 * the first header to the access-log line, and the response helpers
 * handlers call (pay_req_header, pay_resp_*).
 *
 * A request: a request id ("req_...") is drawn, the route matched (404/405),
 * the caller authenticated (401) and its role checked (403) unless the
 * route is public, the Idempotency-Key checked, the query string and body
 * decoded into trees (400), then the handler runs:
 *   - PAY_ROUTE_NO_TX routes: directly, req->tx NULL;
 *   - PAY_ROUTE_WRITE routes: inside pay_store_write, with the idempotency
 *     claim before it and the rendered response recorded after it in the
 *     same transaction (idempotency.c); a route's prepare step, when it
 *     has one, runs before, on the connection's thread (a DNS lookup must
 *     not hold the writer); a handler that must call a provider
 *     sets a continuation (pay_request.deferred), run after the commit
 *     outside any transaction, whose answer then replaces the recorded one;
 *   - other routes: inside a pay_store_read snapshot.
 * The response is JSON (req->resp), raw bytes (pay_resp_raw) or Stripe's
 * error envelope. Every response carries Request-Id; Stripe-Version (and
 * a POST's Idempotency-Key) is echoed. When the request completes, metrics
 * and one access-log line are recorded and everything the request owned is
 * freed.
 *
 * Invariants: a body larger than PAY_BODY_BYTES_MAX (for a
 * PAY_ROUTE_MULTIPART route: pay_app.upload_bytes_max plus
 * PAY_MULTIPART_OVERHEAD_BYTES) is never buffered and never reaches a
 * handler (413); nothing but the request id, method, path,
 * route, status, timing, subject and client address is logged: never a
 * body, a query string or the Authorization header.
 *
 * Threading: libmicrohttpd runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION). A handler blocks while the store's
 * group commit makes its transaction durable (on SQLite the callback even
 * runs on the store's writer thread), and a thread pool of event loops
 * would stall every connection of a loop behind that wait; a thread per
 * connection keeps one slow commit from delaying other clients. Hence
 * pay_server_config.threads is not used (kept for a future pool mode).
 * A request's state (struct conn_state) is touched by its connection's
 * thread and, while its write callback runs, by the store's writer; the
 * server-wide counters are guarded by srv->lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"

#define CONNECTIONS_MAX 1024
#define CONNECTION_TIMEOUT_S 60
/* A client streaming a chunked body past the cap is drained (so it can read
 * its 413) up to this many bytes, then disconnected. */
#define DISCARD_BYTES_MAX (4 * (uint64_t)PAY_BODY_BYTES_MAX)
#define DRAIN_TIMEOUT_S 30
#define HOUSEKEEPING_INTERVAL_S (10 * 60)
#define STRIPE_VERSION_LEN_MAX 64
#define CONTENT_TYPE_JSON "application/json"

struct pay_server {
    struct pay_app *app;
    struct MHD_Daemon *daemon;
    unsigned port;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* in_flight reached 0, or stopping was set */
    long in_flight;
    bool stopping;
    pthread_t housekeeper;
    bool housekeeper_running;
    /* Rate limits (rate.c); NULL = off. */
    struct pay_rate_table *rate_key, *rate_subject, *rate_addr;
};

/* Everything one request owns; freed in on_completed. */
struct conn_state {
    struct pay_request req;
    struct pay_server *srv;
    int64_t start_us;

    struct pay_buf body;
    size_t body_max; /* the cap of @body: PAY_BODY_BYTES_MAX or the upload limit */
    uint64_t discarded;
    enum pay_err body_rc; /* PAY_ERR_BODY_TOO_LARGE once the cap was hit */
    bool answered;

    char *scratch; /* path parameters point into it */
    size_t scratch_len;
    char client_addr[INET6_ADDRSTRLEN];
    char allow[64];        /* Allow header of a 405 */
    int64_t retry_after_s; /* Retry-After of a 429 */

    bool has_idem;
    struct pay_idem idem;

    /* The response to send: out_buf (owned) or the handler's raw_resp. */
    int out_status;
    char *out_buf;
    const char *out_ptr;
    size_t out_len;
    const char *out_ctype;
    bool replayed;

    /* Write routes: what the last run of the callback rendered. */
    bool rendered_in_tx;
    enum pay_err cb_rc;
};

/* ---- Response helpers for handlers ------------------------------------ */

const char *pay_req_header(struct pay_request *req, const char *name)
{
    if (!req || !req->conn || !name) {
        return NULL;
    }
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static void resp_clear(struct pay_request *req)
{
    json_decref(req->resp);
    req->resp = NULL;
    free(req->raw_resp);
    req->raw_resp = NULL;
    req->raw_resp_len = 0;
    req->content_type = NULL;
    req->location = NULL;
    req->status = 0;
}

char *pay_resp_raw_alloc(struct pay_request *req, int status, const char *content_type, size_t len)
{
    if (!content_type) {
        content_type = "application/octet-stream";
    }
    size_t ct_len = strlen(content_type);
    /* One allocation carries the body and, after its NUL, the content type,
     * so both live exactly as long as req->raw_resp. */
    char *block = malloc(len + 1 + ct_len + 1);
    if (!block) {
        pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
        return NULL;
    }
    block[len] = '\0';
    memcpy(block + len + 1, content_type, ct_len + 1);
    resp_clear(req);
    req->raw_resp = block;
    req->raw_resp_len = len;
    req->content_type = block + len + 1;
    req->status = status;
    return block;
}

enum pay_err pay_resp_raw(struct pay_request *req, int status, const char *content_type,
                          const char *body, size_t len)
{
    char *block = pay_resp_raw_alloc(req, status, content_type, len);
    if (!block) {
        return PAY_ERR_NOMEM;
    }
    if (len > 0) {
        memcpy(block, body, len);
    }
    return PAY_OK;
}

void pay_resp_json(struct pay_request *req, int status, json_t *obj)
{
    resp_clear(req);
    req->resp = obj;
    req->status = status;
}

void pay_resp_redirect(struct pay_request *req, int status, const char *url)
{
    size_t n = strlen(url);
    /* An empty raw body whose allocation carries the URL (see pay_resp_raw). */
    char *block = malloc(n + 1 + sizeof("text/plain"));
    resp_clear(req);
    if (!block) {
        pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
        req->status = 500;
        return;
    }
    memcpy(block, url, n + 1);
    memcpy(block + n + 1, "text/plain", sizeof("text/plain"));
    req->raw_resp = block;
    req->raw_resp_len = 0;
    req->location = block;
    req->content_type = block + n + 1;
    req->status = status ? status : 302;
}

/* ---- Rendering ----------------------------------------------------------- */

static void out_clear(struct conn_state *cs)
{
    free(cs->out_buf);
    cs->out_buf = NULL;
    cs->out_ptr = NULL;
    cs->out_len = 0;
    cs->out_ctype = NULL;
    cs->out_status = 0;
    cs->replayed = false;
}

static void render_error(struct conn_state *cs, enum pay_err rc)
{
    struct pay_request *req = &cs->req;
    if (rc == PAY_OK) {
        rc = PAY_ERR_INTERNAL;
    }
    if (req->err.code != rc) {
        /* The error came from the store or a handler that set no detail. */
        pay_error_clear(&req->err);
        pay_error_set(&req->err, rc, NULL, NULL);
    }
    cs->out_status = pay_http_status(rc);
    cs->out_ctype = CONTENT_TYPE_JSON;
    json_t *env = pay_http_error_body(&req->err);
    cs->out_buf = env ? pay_json_dump(env) : NULL;
    json_decref(env);
    if (!cs->out_buf) {
        cs->out_status = 500;
        cs->out_ptr = "{\"error\":{\"type\":\"api_error\",\"code\":\"out_of_memory\"}}";
    } else {
        cs->out_ptr = cs->out_buf;
    }
    cs->out_len = strlen(cs->out_ptr);
    if (cs->out_status >= 500) {
        pay_logf(PAY_LOG_ERROR, req->request_id, "request failed: %s: %s", pay_err_str(rc),
                 req->err.message);
    }
}

/* Turn the handler's outcome @rc into the bytes to send. */
static void render(struct conn_state *cs, enum pay_err rc)
{
    struct pay_request *req = &cs->req;
    out_clear(cs);
    if (rc != PAY_OK) {
        render_error(cs, rc);
        return;
    }
    cs->out_status = req->status ? req->status : 200;
    if (req->raw_resp) {
        cs->out_ptr = req->raw_resp;
        cs->out_len = req->raw_resp_len;
        cs->out_ctype = req->content_type ? req->content_type : "application/octet-stream";
        return;
    }
    cs->out_ctype = CONTENT_TYPE_JSON;
    if (!req->resp) {
        cs->out_ptr = "{}";
        cs->out_len = 2;
        return;
    }
    cs->out_buf = pay_json_dump(req->resp);
    if (!cs->out_buf) {
        render_error(cs, pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL));
        return;
    }
    cs->out_ptr = cs->out_buf;
    cs->out_len = strlen(cs->out_buf);
}

/* ---- Decoding -------------------------------------------------------------- */

static bool url_safe(unsigned char c)
{
    /* RFC 3986 unreserved, plus the brackets of Stripe's nesting, which the
     * form decoder reads literally or percent-encoded alike. */
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '[' || c == ']';
}

static enum pay_err add_encoded(struct pay_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    enum pay_err rc = PAY_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == PAY_OK; p++) {
        if (url_safe(*p)) {
            rc = pay_buf_add(b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = pay_buf_add(b, esc, 3);
        }
    }
    return rc;
}

struct query_build {
    struct pay_buf buf;
    enum pay_err rc;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    struct query_build *q = cls;
    if (q->rc == PAY_OK && q->buf.len > 0) {
        q->rc = pay_buf_add(&q->buf, "&", 1);
    }
    if (q->rc == PAY_OK) {
        q->rc = add_encoded(&q->buf, key ? key : "");
    }
    if (q->rc == PAY_OK && value) {
        q->rc = pay_buf_add(&q->buf, "=", 1);
        if (q->rc == PAY_OK) {
            q->rc = add_encoded(&q->buf, value);
        }
    }
    return q->rc == PAY_OK ? MHD_YES : MHD_NO;
}

/*
 * libmicrohttpd has already split and percent-decoded the query string;
 * re-encode it so the one form decoder (bracket notation, limits) applies
 * to queries and bodies alike.
 */
static enum pay_err decode_query(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    struct query_build q = {.rc = PAY_OK};
    /* Encoding at most triples the URL, which MHD's memory limit bounds. */
    pay_buf_init(&q.buf, 3 * (size_t)PAY_HEADER_BYTES_MAX + 16);
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    enum pay_err rc = q.rc;
    if (rc != PAY_OK) {
        rc = pay_error_set(&req->err, rc == PAY_ERR_BODY_TOO_LARGE ? PAY_ERR_BODY_INVALID : rc,
                           NULL, "The query string is too long.");
    } else if (q.buf.len == 0) {
        req->query = json_object();
        rc = req->query ? PAY_OK : pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
    } else {
        rc = pay_form_decode(q.buf.data, q.buf.len, &req->query, &req->err);
    }
    pay_buf_release(&q.buf);
    return rc;
}

/* Does the media type of Content-Type @ct equal @want (parameters ignored)? */
static bool media_type_is(const char *ct, const char *want)
{
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    size_t n = strcspn(ct, "; \t");
    return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

/* ---- multipart/form-data (PAY_ROUTE_MULTIPART) ------------------------- */

static size_t upload_bytes_max(const struct pay_app *app)
{
    return app->upload_bytes_max > 0 ? app->upload_bytes_max : (size_t)PAY_UPLOAD_BYTES_DEFAULT;
}

struct multipart {
    struct conn_state *cs;
    enum pay_err rc;
    struct pay_upload *cur; /* the file part being filled */
};

static void copy_bounded(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* Text field @key: a string in req->body; chunks after the first append. */
static enum pay_err multipart_text(struct multipart *m, const char *key, const char *data,
                                   uint64_t off, size_t size)
{
    struct pay_request *req = &m->cs->req;
    const json_t *old = json_object_get(req->body, key);
    size_t old_len = off > 0 && json_is_string(old) ? json_string_length(old) : 0;
    if (old_len + size > PAY_STRING_LEN_MAX) {
        return pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, key,
                             "The form field is longer than %d characters.", PAY_STRING_LEN_MAX);
    }
    if (old == NULL && json_object_size(req->body) >= PAY_OBJECT_KEYS_MAX) {
        return pay_error_set(&req->err, PAY_ERR_BODY_INVALID, key, "Too many form fields.");
    }
    char *joined = malloc(old_len + size + 1);
    if (joined == NULL) {
        return pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
    }
    if (old_len > 0) {
        memcpy(joined, json_string_value(old), old_len);
    }
    if (size > 0) {
        memcpy(joined + old_len, data, size);
    }
    json_t *v = json_stringn(joined, old_len + size);
    free(joined);
    if (v == NULL) {
        return pay_error_set(&req->err, PAY_ERR_BODY_INVALID, key,
                             "The form field is not valid UTF-8 text.");
    }
    json_object_set_new(req->body, key, v);
    return PAY_OK;
}

static enum pay_err multipart_file(struct multipart *m, const char *key, const char *filename,
                                   const char *content_type, const char *data, uint64_t off,
                                   size_t size)
{
    struct pay_request *req = &m->cs->req;
    /* libmicrohttpd may announce a part with an empty first chunk: a part
     * starts at offset 0 unless it continues that empty announcement. */
    bool same = m->cur != NULL && m->cur->data.len == 0 && strcmp(m->cur->field, key) == 0;
    if (off == 0 && !same) {
        if (req->n_uploads >= PAY_UPLOAD_PARTS_MAX) {
            return pay_error_set(&req->err, PAY_ERR_BODY_INVALID, key,
                                 "At most %d files may be sent at once.", PAY_UPLOAD_PARTS_MAX);
        }
        if (req->uploads == NULL) {
            req->uploads = calloc(PAY_UPLOAD_PARTS_MAX, sizeof(*req->uploads));
            if (req->uploads == NULL) {
                return pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
            }
        }
        m->cur = &req->uploads[req->n_uploads++];
        copy_bounded(m->cur->field, sizeof(m->cur->field), key);
        copy_bounded(m->cur->filename, sizeof(m->cur->filename), filename);
        copy_bounded(m->cur->content_type, sizeof(m->cur->content_type), content_type);
        pay_buf_init(&m->cur->data, upload_bytes_max(req->app));
    }
    if (m->cur == NULL || size == 0) {
        return PAY_OK;
    }
    enum pay_err rc = pay_buf_add(&m->cur->data, data, size);
    if (rc == PAY_ERR_BODY_TOO_LARGE) {
        return pay_error_set(&req->err, rc, key, "The file is larger than %zu bytes.",
                             upload_bytes_max(req->app));
    }
    return rc == PAY_OK ? PAY_OK : pay_error_set(&req->err, rc, NULL, NULL);
}

static enum MHD_Result multipart_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *filename, const char *content_type,
                                      const char *transfer_encoding, const char *data, uint64_t off,
                                      size_t size)
{
    (void)kind;
    (void)transfer_encoding;
    struct multipart *m = cls;
    if (key == NULL || key[0] == '\0') {
        m->rc = pay_error_set(&m->cs->req.err, PAY_ERR_BODY_INVALID, NULL,
                              "A multipart part has no field name.");
        return MHD_NO;
    }
    if (filename != NULL) {
        m->rc = multipart_file(m, key, filename, content_type, data, off, size);
    } else {
        m->cur = NULL;
        m->rc = multipart_text(m, key, data, off, size);
    }
    return m->rc == PAY_OK ? MHD_YES : MHD_NO;
}

/* Decode a multipart/form-data body with libmicrohttpd's post processor. */
static enum pay_err decode_multipart(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    req->body = json_object();
    if (req->body == NULL) {
        return pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
    }
    struct multipart m = {.cs = cs, .rc = PAY_OK};
    struct MHD_PostProcessor *pp =
        MHD_create_post_processor(req->conn, 16 * 1024, multipart_iter, &m);
    if (pp == NULL) {
        return pay_error_set(&req->err, PAY_ERR_BODY_INVALID, NULL,
                             "The multipart/form-data body has no boundary.");
    }
    enum MHD_Result ok = MHD_post_process(pp, cs->body.data, cs->body.len);
    /* Destroying reports a body that ended before its closing boundary. */
    enum MHD_Result complete = MHD_destroy_post_processor(pp);
    if (m.rc != PAY_OK) {
        return m.rc;
    }
    if (ok != MHD_YES || complete != MHD_YES) {
        return pay_error_set(&req->err, PAY_ERR_BODY_INVALID, NULL,
                             "The multipart/form-data body is malformed.");
    }
    return PAY_OK;
}

static enum pay_err decode_body(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    req->raw_body = cs->body.data ? cs->body.data : "";
    req->raw_body_len = cs->body.len;
    if (cs->body.len > 0 && (req->route->flags & PAY_ROUTE_MULTIPART)) {
        /* Other bodies decode as usual: the handler then finds no file. */
        const char *mct = pay_req_header(req, "Content-Type");
        if (mct != NULL && media_type_is(mct, "multipart/form-data")) {
            return decode_multipart(cs);
        }
    }
    if (cs->body.len == 0 || (req->route->flags & PAY_ROUTE_RAW_BODY)) {
        req->body = json_object();
        return req->body ? PAY_OK : pay_error_set(&req->err, PAY_ERR_NOMEM, NULL, NULL);
    }
    const char *ct = pay_req_header(req, "Content-Type");
    if (!ct || media_type_is(ct, "application/x-www-form-urlencoded")) {
        return pay_form_decode(cs->body.data, cs->body.len, &req->body, &req->err);
    }
    if (media_type_is(ct, CONTENT_TYPE_JSON)) {
        return pay_json_decode(cs->body.data, cs->body.len, &req->body, &req->err);
    }
    return pay_error_set(
        &req->err, PAY_ERR_BODY_INVALID, NULL,
        "Unsupported Content-Type '%.64s': send application/json or "
        "application/x-www-form-urlencoded%s.",
        ct, (req->route->flags & PAY_ROUTE_MULTIPART) ? " or multipart/form-data" : "");
}

/* ---- Running the handler ------------------------------------------------- */

static enum pay_err read_cb(struct pay_tx *tx, void *arg)
{
    struct conn_state *cs = arg;
    struct pay_request *req = &cs->req;
    resp_clear(req);
    pay_error_clear(&req->err);
    req->tx = tx;
    enum pay_err rc = req->route->handler(req);
    req->tx = NULL;
    return rc;
}

/*
 * May run more than once (the store retries after a serialization failure),
 * so it starts from a clean response every time. The response is rendered
 * here, inside the transaction, so that the idempotency row records exactly
 * the bytes sent. On a plain error the transaction rolls back and takes the
 * claim and the recorded response with it; after pay_tx_commit_anyway they
 * commit with the handler's writes.
 */
static enum pay_err write_cb(struct pay_tx *tx, void *arg)
{
    struct conn_state *cs = arg;
    struct pay_request *req = &cs->req;
    enum pay_err rc;

    resp_clear(req);
    pay_error_clear(&req->err);
    out_clear(cs);
    cs->rendered_in_tx = false;

    if (cs->has_idem) {
        bool replay = false;
        int status = 0;
        char *body = NULL;
        size_t len = 0;
        rc = pay_idem_claim(tx, &cs->idem, pay_now(), &replay, &status, &body, &len, &req->err);
        if (rc != PAY_OK) {
            return cs->cb_rc = rc;
        }
        if (replay) {
            cs->out_status = status;
            cs->out_buf = body;
            cs->out_ptr = body;
            cs->out_len = len;
            cs->out_ctype = CONTENT_TYPE_JSON;
            cs->replayed = true;
            cs->rendered_in_tx = true;
            return cs->cb_rc = PAY_OK;
        }
    }

    /* A continuation set by an earlier run of this callback is stale. */
    req->deferred = NULL;
    free(req->deferred_arg);
    req->deferred_arg = NULL;
    req->tx = tx;
    rc = req->route->handler(req);
    req->tx = NULL;
    render(cs, rc);
    /* The stored answer and the audit record ride in the same transaction:
     * they commit with the handler's writes (also a decline kept by
     * pay_tx_commit_anyway). When those roll back (a failed request, a
     * failed statement) nothing is added, as nothing of it would stay: a
     * retry with the same key runs again, and on SQLite a request that
     * failed before writing leaves its batch untouched (sqlite.c). */
    bool keep = pay_tx_keeps(tx, rc);
    if (keep && cs->has_idem) {
        enum pay_err frc = pay_idem_finish(tx, &cs->idem, cs->out_status, cs->out_ptr, cs->out_len);
        if (frc != PAY_OK) {
            out_clear(cs);
            return cs->cb_rc = frc;
        }
    }
    enum pay_err arc = PAY_OK;
    if (keep) {
        arc = pay_http_audit(tx, req, cs->out_status);
    }
    if (arc != PAY_OK && rc == PAY_OK) {
        out_clear(cs);
        return cs->cb_rc = arc;
    }
    cs->rendered_in_tx = true;
    /* The response is bytes now. Its tree was made on this thread (the
     * store's writer, on SQLite): freed here, its pieces go back to this
     * thread's own heap, instead of each being handed back by the
     * connection's thread under the lock of the writer's heap, which the
     * writer then waits on. A continuation still needs the tree. */
    if (req->deferred == NULL) {
        json_decref(req->resp);
        req->resp = NULL;
    }
    return cs->cb_rc = rc;
}

/* PAY_ROUTE_NO_TX routes that change state commit on their own; unless
 * they wrote their audit record in that transaction (pay_request_audit, as
 * the API key routes do), it follows in a transaction of its own. */
static enum pay_err audit_cb(struct pay_tx *tx, void *arg)
{
    struct conn_state *cs = arg;
    return pay_http_audit(tx, &cs->req, cs->out_status);
}

static enum pay_err idem_replace_cb(struct pay_tx *tx, void *arg)
{
    struct conn_state *cs = arg;
    return pay_idem_replace(tx, &cs->idem, cs->out_status, cs->out_ptr, cs->out_len);
}

/*
 * The continuation of a write route (pay_request.deferred), after the
 * commit and outside any transaction. Its answer replaces the committed one,
 * also in the idempotency record; when that record cannot be updated, a
 * replay returns the committed answer, which was true when it was given.
 */
static enum pay_err run_deferred(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    pay_handler_fn fn = req->deferred;
    req->deferred = NULL;
    pay_error_clear(&req->err);
    enum pay_err rc = fn(req);
    free(req->deferred_arg);
    req->deferred_arg = NULL;
    render(cs, rc);
    if (cs->has_idem) {
        enum pay_err frc = pay_store_write(cs->srv->app->store, idem_replace_cb, cs);
        if (frc != PAY_OK) {
            pay_logf(PAY_LOG_WARN, req->request_id,
                     "cannot record the final response for replay: %s", pay_err_str(frc));
        }
    }
    return rc;
}

struct idem_seen_arg {
    const struct pay_idem *k;
    bool seen;
};

static enum pay_err idem_seen_cb(struct pay_tx *tx, void *arg)
{
    struct idem_seen_arg *a = arg;
    return pay_idem_seen(tx, a->k, &a->seen);
}

/* Whether the request's Idempotency-Key was used before: its answer is
 * replayed (or it is refused) without the handler, so the route's prepare
 * step, which may wait on the network, is not needed. A failed read says
 * no: the prepare step then runs, as it always may. */
static bool idem_seen(struct conn_state *cs)
{
    struct idem_seen_arg a = {.k = &cs->idem, .seen = false};
    return cs->has_idem && pay_store_read(cs->srv->app->store, idem_seen_cb, &a) == PAY_OK &&
           a.seen;
}

static enum pay_err run_handler(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    struct pay_store *store = cs->srv->app->store;
    unsigned flags = req->route->flags;
    enum pay_err rc;

    if (flags & PAY_ROUTE_NO_TX) {
        rc = req->route->handler(req);
        render(cs, rc);
        if (rc == PAY_OK && strcmp(req->route->method, "GET") != 0 && !req->audited &&
            pay_store_write(store, audit_cb, cs) != PAY_OK) {
            pay_logf(PAY_LOG_ERROR, req->request_id, "audit: cannot record %s %s", req->method,
                     req->route->pattern);
        }
        return rc;
    }
    if (flags & PAY_ROUTE_WRITE) {
        if (req->route->prepare != NULL && !idem_seen(cs)) {
            req->route->prepare(req);
        }
        cs->cb_rc = PAY_OK;
        rc = pay_store_write(store, write_cb, cs);
        /* The rendered response stands unless the commit itself failed. */
        if (!cs->rendered_in_tx || rc != cs->cb_rc) {
            render(cs, rc);
        }
        if (rc == PAY_OK && req->deferred != NULL && !cs->replayed) {
            rc = run_deferred(cs);
        }
        free(req->deferred_arg);
        req->deferred_arg = NULL;
        return rc;
    }
    rc = pay_store_read(store, read_cb, cs);
    render(cs, rc);
    return rc;
}

static void build_allow(struct conn_state *cs)
{
    static const char *const verbs[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    const struct pay_app *app = cs->srv->app;
    const char *params[PAY_ROUTE_PARAMS_MAX];
    const struct pay_route *r;
    size_t used = 0;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (pay_route_find(app->routes, app->n_routes, verbs[i], cs->req.path, &r, params,
                           cs->scratch, cs->scratch_len) != PAY_MATCH_OK) {
            continue;
        }
        int n = snprintf(cs->allow + used, sizeof(cs->allow) - used, "%s%s", used ? ", " : "",
                         verbs[i]);
        if (n > 0 && (size_t)n < sizeof(cs->allow) - used) {
            used += (size_t)n;
        }
    }
}

/* One token from @t for @key, else 429 with Retry-After. */
static enum pay_err rate_check(struct conn_state *cs, struct pay_rate_table *t, const char *what,
                               const char *key)
{
    int64_t retry_s = 0;
    if (pay_rate_take(t, key, pay_monotonic_us(), &retry_s)) {
        return PAY_OK;
    }
    cs->retry_after_s = retry_s;
    return pay_error_set(&cs->req.err, PAY_ERR_RATE_LIMITED, NULL,
                         "Too many requests for this %s. Retry after %lld seconds.", what,
                         (long long)retry_s);
}

static void dispatch(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    struct pay_app *app = cs->srv->app;
    enum pay_err rc;

    /* The address first: a flood costs no route lookup, no key check. */
    rc = rate_check(cs, cs->srv->rate_addr, "client address", req->client_addr);
    if (rc != PAY_OK) {
        goto out_error;
    }

    enum pay_route_match m = pay_route_find(app->routes, app->n_routes, req->method, req->path,
                                            &req->route, req->params, cs->scratch, cs->scratch_len);
    if (m == PAY_MATCH_NO_ROUTE) {
        req->route = NULL;
        rc = pay_error_set(&req->err, PAY_ERR_ROUTE_NOT_FOUND, NULL,
                           "Unrecognized request URL (%.16s: %.160s).", req->method, req->path);
        goto out_error;
    }
    if (m == PAY_MATCH_BAD_METHOD) {
        req->route = NULL;
        build_allow(cs);
        rc = pay_error_set(&req->err, PAY_ERR_METHOD_NOT_ALLOWED, NULL,
                           "%.16s is not allowed on %.160s.", req->method, req->path);
        goto out_error;
    }

    /* Credentials before the body: an anonymous client learns nothing about
     * the body rules and costs no decoding. */
    if (!(req->route->flags & PAY_ROUTE_PUBLIC)) {
        rc = pay_auth_resolve(app->store, &app->auth, pay_req_header(req, "Authorization"),
                              &req->who, &req->err);
        if (rc != PAY_OK) {
            goto out_error;
        }
        rc = req->who.kind == PAY_PRINCIPAL_API_KEY
                 ? rate_check(cs, cs->srv->rate_key, "API key", req->who.subject)
                 : rate_check(cs, cs->srv->rate_subject, "token subject", req->who.subject);
        if (rc != PAY_OK) {
            goto out_error;
        }
        if ((req->route->roles & (unsigned)req->who.role) == 0) {
            rc = pay_error_set(&req->err, PAY_ERR_FORBIDDEN, NULL,
                               "The role '%s' may not %s %.160s.", pay_role_name(req->who.role),
                               req->method, req->route->pattern);
            goto out_error;
        }
    }

    const char *key = pay_req_header(req, "Idempotency-Key");
    if (key && *key) {
        if (strlen(key) > PAY_IDEMPOTENCY_KEY_LEN_MAX) {
            rc = pay_error_set(&req->err, PAY_ERR_PARAM_INVALID, "Idempotency-Key",
                               "Idempotency-Key is longer than %d characters.",
                               PAY_IDEMPOTENCY_KEY_LEN_MAX);
            goto out_error;
        }
        req->idempotency_key = key;
    }

    rc = decode_query(cs);
    if (rc == PAY_OK) {
        rc = decode_body(cs);
    }
    if (rc != PAY_OK) {
        goto out_error;
    }

    if (req->idempotency_key && (req->route->flags & PAY_ROUTE_WRITE) &&
        !(req->route->flags & PAY_ROUTE_NO_TX)) {
        rc = pay_idem_init(&cs->idem, &req->who, req->idempotency_key, req->method, req->path,
                           req->raw_body, req->raw_body_len, req->app->fingerprint_key);
        if (rc != PAY_OK) {
            pay_error_set(&req->err, rc, NULL, NULL);
            goto out_error;
        }
        cs->has_idem = true;
    }

    run_handler(cs);
    return;

out_error:
    render(cs, rc);
}

/* ---- libmicrohttpd glue --------------------------------------------------- */

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (value && MHD_add_response_header(r, name, value) != MHD_YES) {
        pay_logf(PAY_LOG_WARN, NULL, "cannot add response header %s", name);
    }
}

/* A header value we may echo: printable ASCII, shorter than @len_max. */
static bool echo_safe(const char *v, size_t len_max)
{
    size_t n = 0;
    for (; v[n]; n++) {
        if (n >= len_max || v[n] < 0x20 || v[n] > 0x7e) {
            return false;
        }
    }
    return n > 0;
}

static enum MHD_Result send_response(struct conn_state *cs)
{
    struct pay_request *req = &cs->req;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        cs->out_len, (void *)(cs->out_ptr ? cs->out_ptr : ""), MHD_RESPMEM_MUST_COPY);
    if (!r) {
        return MHD_NO;
    }
    add_header(r, "Request-Id", req->request_id);
    add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, cs->out_ctype);
    add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, no-store");
    if (cs->replayed) {
        add_header(r, "Idempotent-Replayed", "true");
    } else if (cs->out_status < 400 && req->location) {
        add_header(r, MHD_HTTP_HEADER_LOCATION, req->location);
    }
    if (cs->out_status == 405 && cs->allow[0]) {
        add_header(r, MHD_HTTP_HEADER_ALLOW, cs->allow);
    }
    if (cs->out_status == 429 && cs->retry_after_s > 0) {
        char retry[24];
        snprintf(retry, sizeof(retry), "%lld", (long long)cs->retry_after_s);
        add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    const char *sv = pay_req_header(req, "Stripe-Version");
    if (sv && echo_safe(sv, STRIPE_VERSION_LEN_MAX)) {
        add_header(r, "Stripe-Version", sv);
    }
    /* Stripe echoes a POST's Idempotency-Key; the SDKs expose it
     * (stripe-node: lastResponse.idempotencyKey). */
    const char *ik = pay_req_header(req, "Idempotency-Key");
    if (ik && req->method && strcmp(req->method, "POST") == 0 &&
        echo_safe(ik, PAY_IDEMPOTENCY_KEY_LEN_MAX + 1)) {
        add_header(r, "Idempotency-Key", ik);
    }
    pthread_mutex_lock(&cs->srv->lock);
    bool stopping = cs->srv->stopping;
    pthread_mutex_unlock(&cs->srv->lock);
    if (stopping) {
        /* Shutting down: let keep-alive clients go rather than send more. */
        add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    enum MHD_Result ok = MHD_queue_response(req->conn, (unsigned)cs->out_status, r);
    MHD_destroy_response(r);
    cs->answered = ok == MHD_YES;
    return ok;
}

static void client_addr_of(struct MHD_Connection *conn, char *out, size_t n)
{
    snprintf(out, n, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) {
        return;
    }
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
    }
}

static struct conn_state *state_new(struct pay_server *srv, struct MHD_Connection *conn,
                                    const char *url, const char *method)
{
    struct conn_state *cs = calloc(1, sizeof(*cs));
    if (!cs) {
        return NULL;
    }
    cs->scratch_len = strlen(url) + PAY_ROUTE_PARAMS_MAX + 1;
    cs->scratch = malloc(cs->scratch_len);
    if (!cs->scratch) {
        free(cs);
        return NULL;
    }
    cs->srv = srv;
    cs->start_us = pay_monotonic_us();
    pay_buf_init(&cs->body, PAY_BODY_BYTES_MAX);
    cs->body_max = PAY_BODY_BYTES_MAX;
    struct pay_request *req = &cs->req;
    req->app = srv->app;
    req->method = method;
    req->path = url;
    req->conn = conn;
    pay_id_new("req", req->request_id);
    client_addr_of(conn, cs->client_addr, sizeof(cs->client_addr));
    req->client_addr = cs->client_addr;

    pthread_mutex_lock(&srv->lock);
    srv->in_flight++;
    pthread_mutex_unlock(&srv->lock);
    pay_metrics_inflight_add(1);
    return cs;
}

/*
 * The body limit of the route @cs's request will reach: the upload limit
 * for a PAY_ROUTE_MULTIPART route, else PAY_BODY_BYTES_MAX. An unknown
 * route gets the default (it is answered 404/405 once the body is in).
 */
static void set_body_limit(struct conn_state *cs)
{
    const struct pay_app *app = cs->srv->app;
    const struct pay_route *r = NULL;
    const char *params[PAY_ROUTE_PARAMS_MAX];
    if (pay_route_find(app->routes, app->n_routes, cs->req.method, cs->req.path, &r, params,
                       cs->scratch, cs->scratch_len) != PAY_MATCH_OK ||
        !(r->flags & PAY_ROUTE_MULTIPART)) {
        return;
    }
    cs->body_max = upload_bytes_max(app) + PAY_MULTIPART_OVERHEAD_BYTES;
    pay_buf_release(&cs->body);
    pay_buf_init(&cs->body, cs->body_max);
}

/* The largest announced body that is read (and dropped) before it is
 * refused: a quarter over the request's limit, so a client that sends a
 * body a little too large at once reads the 413 instead of meeting a
 * connection closed on its unread bytes. */
static uint64_t drain_max(const struct conn_state *cs)
{
    return (uint64_t)cs->body_max + cs->body_max / 4;
}

/* The most of a refused body dropped before disconnecting: DISCARD_BYTES_MAX,
 * or more for an upload route whose drained bodies are larger. */
static uint64_t discard_max(const struct conn_state *cs)
{
    return drain_max(cs) > DISCARD_BYTES_MAX ? drain_max(cs) : DISCARD_BYTES_MAX;
}

/* The body length the request announces (Content-Length), saturated at
 * UINT64_MAX; false when it announces none. */
static bool content_length(struct pay_request *req, uint64_t *out)
{
    const char *cl = pay_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl || !*cl) {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9') {
            return false; /* MHD itself refuses a malformed Content-Length */
        }
        unsigned d = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct pay_server *srv = cls;
    struct conn_state *cs = *con_cls;

    if (!cs) {
        /* First call: headers only. Answering here would make MHD close a
         * keep-alive connection, so normally only the state is set up... */
        cs = state_new(srv, conn, url, method);
        if (!cs) {
            return MHD_NO;
        }
        *con_cls = cs;
        set_body_limit(cs);
        uint64_t announced = 0;
        if (content_length(&cs->req, &announced) && announced > cs->body_max) {
            /* ...except for a body we will refuse anyway. A client waiting
             * for "100 Continue", or announcing more than drain_max, is
             * answered before MHD sends that or reads a byte, and the
             * connection closed. A body a little over the limit from a
             * client that sends it at once is read to the end, the bytes
             * dropped, and then answered: closing on its unread bytes
             * would reset the connection, and the client could lose the
             * answer while still sending. */
            cs->body_rc = PAY_ERR_BODY_TOO_LARGE;
            if (pay_req_header(&cs->req, MHD_HTTP_HEADER_EXPECT) != NULL ||
                announced > drain_max(cs)) {
                render(cs,
                       pay_error_set(&cs->req.err, PAY_ERR_BODY_TOO_LARGE, NULL,
                                     "The request body is larger than %zu bytes.", cs->body_max));
                return send_response(cs);
            }
        }
        return MHD_YES;
    }
    if (cs->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        if (cs->body_rc == PAY_OK) {
            cs->body_rc = pay_buf_add(&cs->body, upload_data, *upload_size);
            if (cs->body_rc != PAY_OK) {
                pay_buf_release(&cs->body);
            }
        } else {
            cs->discarded += *upload_size;
            if (cs->discarded > discard_max(cs)) {
                return MHD_NO;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }

    if (cs->body_rc != PAY_OK) {
        enum pay_err rc = cs->body_rc;
        render(cs, rc == PAY_ERR_BODY_TOO_LARGE
                       ? pay_error_set(&cs->req.err, rc, NULL,
                                       "The request body is larger than %zu bytes.", cs->body_max)
                       : pay_error_set(&cs->req.err, rc, NULL, NULL));
    } else {
        dispatch(cs);
    }
    return send_response(cs);
}

static void access_log(const struct conn_state *cs, int64_t duration_us)
{
    const struct pay_request *req = &cs->req;
    json_t *f = json_object();
    if (!f) {
        return;
    }
    pay_json_set_str(f, "method", req->method);
    pay_json_set_str(f, "path", req->path);
    pay_json_set_str(f, "route", req->route ? req->route->pattern : NULL);
    pay_json_set_int(f, "status", cs->answered ? cs->out_status : 0);
    pay_json_set_int(f, "duration_us", duration_us);
    pay_json_set_str(f, "subject", req->who.kind != PAY_PRINCIPAL_NONE ? req->who.subject : NULL);
    pay_json_set_str(f, "client_addr", req->client_addr);
    pay_log(PAY_LOG_INFO, req->request_id, "request", f);
    json_decref(f);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct pay_server *srv = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        return;
    }
    *con_cls = NULL;
    struct pay_request *req = &cs->req;
    int64_t duration_us = pay_monotonic_us() - cs->start_us;

    pay_metrics_observe(req->route ? req->route->pattern : NULL, req->method,
                        cs->answered ? cs->out_status : 0, duration_us);
    if (!srv->app->quiet_access_log) {
        access_log(cs, duration_us);
    }

    json_decref(req->query);
    json_decref(req->body);
    resp_clear(req);
    out_clear(cs);
    pay_buf_release(&cs->body);
    for (size_t i = 0; i < req->n_uploads; i++) {
        pay_buf_release(&req->uploads[i].data);
    }
    free(req->uploads);
    free(req->prepared_arg);
    free(cs->scratch);
    free(cs);

    pay_metrics_inflight_add(-1);
    pthread_mutex_lock(&srv->lock);
    srv->in_flight--;
    if (srv->in_flight == 0) {
        pthread_cond_broadcast(&srv->cond);
    }
    pthread_mutex_unlock(&srv->lock);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    pay_logf(PAY_LOG_WARN, NULL, "libmicrohttpd: %s", msg);
}

/* ---- Listen address ------------------------------------------------------ */

/* "HOST:PORT", "[V6]:PORT"; an empty host or "*" means every IPv4 address. */
static enum pay_err parse_listen(const char *listen, struct sockaddr_storage *ss,
                                 struct pay_error *err)
{
    char host[256];
    const char *port_s;
    if (!listen || !*listen) {
        return pay_error_set(err, PAY_ERR_CONFIG, "listen", "The listen address is empty.");
    }
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host)) {
            goto out_bad;
        }
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen)) ||
            (size_t)(colon - listen) >= sizeof(host)) {
            goto out_bad;
        }
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port_s = colon + 1;
    }
    if (!*port_s || strlen(port_s) > 5 || strspn(port_s, "0123456789") != strlen(port_s)) {
        goto out_bad;
    }
    long port = strtol(port_s, NULL, 10);
    if (port > 65535) {
        goto out_bad;
    }

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    const char *node = (host[0] == '\0' || strcmp(host, "*") == 0) ? NULL : host;
    if (!node) {
        hints.ai_family = AF_INET;
    }
    int gai = getaddrinfo(node, NULL, &hints, &res);
    if (gai != 0 || !res) {
        return pay_error_set(err, PAY_ERR_CONFIG, "listen", "Cannot resolve '%.128s': %s.", host,
                             gai_strerror(gai));
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET) {
        ((struct sockaddr_in *)(void *)ss)->sin_port = htons((uint16_t)port);
    } else if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons((uint16_t)port);
    } else {
        goto out_bad;
    }
    return PAY_OK;

out_bad:
    return pay_error_set(err, PAY_ERR_CONFIG, "listen",
                         "The listen address '%.128s' is not HOST:PORT or [V6]:PORT.", listen);
}

/* ---- Housekeeping ---------------------------------------------------------- */

static void *housekeeping(void *arg)
{
    struct pay_server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        int64_t deleted = 0;
        enum pay_err rc = pay_idempotency_prune(srv->app->store, pay_now(), &deleted);
        if (rc != PAY_OK) {
            pay_logf(PAY_LOG_WARN, NULL, "idempotency prune failed: %s", pay_err_str(rc));
        } else if (deleted > 0) {
            pay_logf(PAY_LOG_INFO, NULL, "idempotency prune: %lld keys deleted",
                     (long long)deleted);
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += HOUSEKEEPING_INTERVAL_S;
        pthread_mutex_lock(&srv->lock);
        while (!srv->stopping) {
            if (pthread_cond_timedwait(&srv->cond, &srv->lock, &until) == ETIMEDOUT) {
                break;
            }
        }
    }
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* ---- Start and stop ------------------------------------------------------- */

enum pay_err pay_server_start(struct pay_app *app, const struct pay_server_config *cfg,
                              struct pay_server **out, struct pay_error *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    enum pay_err rc = parse_listen(cfg->listen, &ss, err);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    srv->app = app;
    srv->rate_key = pay_rate_table_new(&app->rate_per_key);
    srv->rate_subject = pay_rate_table_new(&app->rate_per_subject);
    srv->rate_addr = pay_rate_table_new(&app->rate_per_address);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cond, &ca);
    pthread_condattr_destroy(&ca);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    /* The logger comes first so that MHD reports option errors through it. */
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)PAY_HEADER_BYTES_MAX, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        rc = pay_error_set(err, PAY_ERR_IO, "listen", "Cannot listen on %.128s.", cfg->listen);
        goto out_free;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;

    if (pthread_create(&srv->housekeeper, NULL, housekeeping, srv) != 0) {
        rc = pay_error_set(err, PAY_ERR_INTERNAL, NULL, "Cannot start the housekeeping thread.");
        goto out_stop;
    }
    srv->housekeeper_running = true;
    pay_logf(PAY_LOG_DEBUG, NULL, "http server listening on %s (port %u)", cfg->listen, srv->port);
    *out = srv;
    return PAY_OK;

out_stop:
    MHD_stop_daemon(srv->daemon);
out_free:
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    pay_rate_table_free(srv->rate_key);
    pay_rate_table_free(srv->rate_subject);
    pay_rate_table_free(srv->rate_addr);
    free(srv);
    return rc;
}

unsigned pay_server_port(const struct pay_server *srv)
{
    return srv ? srv->port : 0;
}

void pay_server_stop(struct pay_server *srv)
{
    if (!srv) {
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
    if (srv->housekeeper_running) {
        pthread_join(srv->housekeeper, NULL);
    }

    /* Stop accepting; requests already started run to completion, bounded
     * so a stuck client cannot hold shutdown forever. */
    MHD_socket listen_fd = MHD_quiesce_daemon(srv->daemon);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += DRAIN_TIMEOUT_S;
    pthread_mutex_lock(&srv->lock);
    while (srv->in_flight > 0) {
        if (pthread_cond_timedwait(&srv->cond, &srv->lock, &until) == ETIMEDOUT) {
            pay_logf(PAY_LOG_WARN, NULL, "shutdown: %ld requests still running, closing",
                     srv->in_flight);
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);

    MHD_stop_daemon(srv->daemon);
    if (listen_fd != MHD_INVALID_SOCKET) {
        close(listen_fd);
    }
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    pay_rate_table_free(srv->rate_key);
    pay_rate_table_free(srv->rate_subject);
    pay_rate_table_free(srv->rate_addr);
    free(srv);
}

/*
 * http.h - payd's HTTP layer on libmicrohttpd: the server, the routing
 * table's shape, request decoding (JSON and Stripe-style bracket forms into
 * one jansson tree), parameter validation helpers, Stripe's error envelope,
 * idempotency, access logs and metrics.
 *
 * A request's life: authenticate -> decode body and query -> match route
 * (404/405) -> check role (403) -> run the handler inside one store
 * transaction (write routes: a write transaction that also records the
 * idempotency key and the response; read routes: a read snapshot) ->
 * render JSON or the error envelope -> access log line.
 *
 * Threading: handlers run on libmicrohttpd's pool threads (or, on SQLite,
 * inside the store's writer) and must only touch their request.
 */
#ifndef PAY_HTTP_H
#define PAY_HTTP_H

#include "../auth/auth.h"
#include "../core/core.h"
#include "../store/store.h"

struct pay_request;

typedef enum pay_err (*pay_handler_fn)(struct pay_request *req);

enum pay_route_flags {
    PAY_ROUTE_PUBLIC = 1u << 0, /* no credentials needed (/health, sandbox pages) */
    PAY_ROUTE_WRITE = 1u << 1,  /* run in a write transaction, with idempotency */
    PAY_ROUTE_NO_TX = 1u << 2,  /* the handler opens its own transactions (or none) */
    /* The body is not decoded: req->body is an empty object and the handler
     * reads req->raw_body itself (signed provider webhooks, whose bytes must
     * be verified before anything parses them). */
    PAY_ROUTE_RAW_BODY = 1u << 3,
    /* File uploads: the body may be multipart/form-data (RFC 7578), parsed
     * by libmicrohttpd's post processor. Its size limit is
     * pay_app.upload_bytes_max plus PAY_MULTIPART_OVERHEAD_BYTES instead of
     * PAY_BODY_BYTES_MAX; text fields arrive in req->body as strings, file
     * parts in req->uploads. */
    PAY_ROUTE_MULTIPART = 1u << 4,
};

/* One file part of a multipart/form-data body (PAY_ROUTE_MULTIPART). */
struct pay_upload {
    char field[64];         /* the form field's name */
    char filename[256];     /* as the client sent it ("" when none) */
    char content_type[128]; /* the part's Content-Type ("" when none) */
    struct pay_buf data;    /* the bytes; owned by the request */
};

/*
 * One row of the routing table, declared as data in src/api/routes.c.
 * @pattern uses ":name" segments ("/v1/payment_intents/:id/capture"); the
 * matched values arrive in pay_request.params in order.
 */
struct pay_route {
    const char *method; /* "GET", "POST", "DELETE" */
    const char *pattern;
    pay_handler_fn handler;
    unsigned roles; /* PAY_ROLE_* mask; ignored with PAY_ROUTE_PUBLIC */
    unsigned flags; /* enum pay_route_flags */
    const char *summary;
    /*
     * PAY_ROUTE_WRITE routes only, may be NULL: work that must not hold the
     * database writer (resolving a host name), run on the connection's
     * thread before the write transaction opens. It records what it found
     * in pay_request.prepared_arg (malloc'd; the server free()s it) for the
     * handler to use, and never answers: a replayed Idempotency-Key still
     * gets its stored answer, whatever this finds now.
     */
    void (*prepare)(struct pay_request *req);
};

struct pay_stripe_config; /* connectors.h: the Stripe account, when configured */

/*
 * A request rate limit (rate.c): @per_s requests a second sustained, up to
 * @burst at once (token bucket); per_s 0 = no limit.
 */
struct pay_rate_limit {
    int64_t per_s;
    int64_t burst;
};
#define PAY_RATE_PER_S_MAX 1000000
#define PAY_RATE_BURST_MAX 10000000
/* Parse "RATE" or "RATE:BURST" (burst defaults to RATE; "0" = off) into
 * @out; PAY_ERR_CONFIG when malformed or out of range. */
enum pay_err pay_rate_parse(const char *s, struct pay_rate_limit *out) PAY_WUR;

/* Long-lived state every handler can reach. Owned by main. */
struct pay_app {
    struct pay_store *store;
    struct pay_auth_config auth;
    const struct pay_route *routes;
    size_t n_routes;
    const char *version;
    const char *public_url; /* base URL clients reach payd at, for links */
    bool quiet_access_log;
    /* Rate limits per API key, per JWT subject, per client address (429). */
    struct pay_rate_limit rate_per_key, rate_per_subject, rate_per_address;
    const char *fingerprint_key; /* keys card fingerprints (payd serve --fingerprint-key) */
    const struct pay_stripe_config *stripe; /* outbound: NULL = provider "stripe" not configured */
    /* Inbound Stripe webhooks (payd serve --stripe-webhook-secret, several
     * during a rotation; none = POST /v1/webhooks/stripe refuses everything)
     * and --stripe-webhook-tolerance in seconds. */
    const char *const *stripe_webhook_secrets;
    size_t n_stripe_webhook_secrets;
    int64_t stripe_webhook_tolerance_s;
    /* Largest file part a PAY_ROUTE_MULTIPART route accepts (payd serve
     * --evidence-max-bytes); 0 = PAY_UPLOAD_BYTES_DEFAULT. */
    size_t upload_bytes_max;
};

struct pay_request {
    struct pay_app *app;
    const struct pay_route *route;
    const char *method;
    const char *path;
    const char *params[PAY_ROUTE_PARAMS_MAX]; /* path parameters */
    json_t *query;                            /* decoded query string (object, never NULL) */
    json_t *body;                             /* decoded body (object, never NULL) */
    const char *raw_body;                     /* the body bytes as received */
    size_t raw_body_len;
    /* PAY_ROUTE_MULTIPART: the file parts (at most PAY_UPLOAD_PARTS_MAX). */
    struct pay_upload *uploads;
    size_t n_uploads;
    struct pay_principal who;
    char request_id[40];
    const char *idempotency_key; /* NULL when absent */
    const char *client_addr;
    struct pay_tx *tx; /* the request's transaction while the handler runs */
    struct pay_error err;

    /* The response. Handlers set status (default 200) and resp (owned), or
     * a raw body with pay_resp_raw. */
    int status;
    json_t *resp;
    char *raw_resp;
    size_t raw_resp_len;
    const char *content_type;
    const char *location; /* optional Location header (redirects) */

    void *conn; /* libmicrohttpd connection; http-internal */

    /*
     * A continuation, for PAY_ROUTE_WRITE handlers that must call out (a
     * payment provider) without holding a transaction. The handler sets
     * @deferred (and @deferred_arg, malloc'd; the server free()s it). After
     * the handler's transaction has committed (its response recorded for
     * Idempotency-Key replay), the server runs @deferred(req) outside any
     * transaction, with req->resp still holding the committed response. The
     * continuation may call pay_store_write itself and set a new response or
     * return an error; the server renders that, and with an Idempotency-Key
     * replaces the stored response in a final transaction, so a replay gets
     * the final answer (after a crash in between: the committed one). Not
     * run when the handler failed or the request was a replay.
     */
    pay_handler_fn deferred;
    void *deferred_arg;
    /* What the route's prepare step found (pay_route.prepare), or NULL. */
    void *prepared_arg;
    /* Set by pay_request_audit: the audit record is written already. */
    bool audited;
};

/*
 * Write @req's audit record (object @object, response status @status) in
 * @tx, the transaction of the change it records: for PAY_ROUTE_NO_TX routes
 * that change state in a transaction of their own (API keys), so the change
 * and its record commit together or not at all. The server then writes no
 * record of its own for @req.
 */
enum pay_err pay_request_audit(struct pay_tx *tx, struct pay_request *req, const char *object,
                               int status) PAY_WUR;

/* A request header's value or NULL (case-insensitive name). */
const char *pay_req_header(struct pay_request *req, const char *name);
/* Answer @status with a copy of @body as @content_type. */
enum pay_err pay_resp_raw(struct pay_request *req, int status, const char *content_type,
                          const char *body, size_t len) PAY_WUR;
/*
 * Like pay_resp_raw, for a body the caller writes in place: returns room
 * for exactly @len bytes (NUL-terminated by payd), owned by @req, or NULL
 * (out of memory, set on @req).
 */
char *pay_resp_raw_alloc(struct pay_request *req, int status, const char *content_type,
                         size_t len) PAY_WUR;
/* Answer @status with @obj (reference stolen). */
void pay_resp_json(struct pay_request *req, int status, json_t *obj);
/* Redirect (302 unless @status) to @url. */
void pay_resp_redirect(struct pay_request *req, int status, const char *url);

/* ---- Parameters: values from JSON bodies or bracket forms ---------- */
/*
 * Form bodies carry every scalar as a string; JSON bodies carry typed
 * values. These helpers accept both (an integer may be 42 or "42"; a
 * boolean true or "true") and answer 400 naming the parameter otherwise.
 * @src is req->body or req->query (or a nested object); @name is the key in
 * @src or a bracket path into it ("card[exp_month]", "items[0][price]"),
 * which is also the name errors give (error.param), so nested parameters
 * are reported as the client spelled them. JSON null counts as absent; an
 * absent optional parameter leaves *out as the caller preset it (defaults).
 * Errors are recorded in req->err and returned.
 */

/*
 * Every key of @src must be in @allowed (NULL-terminated); "expand" is
 * always allowed. Else 400 parameter_unknown naming the key, so read-only
 * fields (status, amount_received) are refused.
 */
enum pay_err pay_args_allow(struct pay_request *req, const json_t *src,
                            const char *const *allowed) PAY_WUR;
/* *present_out (may be NULL) tells whether the key was there (null counts as absent).
 * A string no longer than @max_len characters (0 = PAY_STRING_LEN_MAX); a
 * required one must not be empty. */
enum pay_err pay_arg_str(struct pay_request *req, const json_t *src, const char *name,
                         bool required, size_t max_len, const char **out,
                         bool *present_out) PAY_WUR;
enum pay_err pay_arg_int(struct pay_request *req, const json_t *src, const char *name,
                         bool required, int64_t min, int64_t max, int64_t *out,
                         bool *present_out) PAY_WUR;
enum pay_err pay_arg_bool(struct pay_request *req, const json_t *src, const char *name, bool *out,
                          bool *present_out) PAY_WUR;
/* The value must be one of @values (NULL-terminated). */
enum pay_err pay_arg_enum(struct pay_request *req, const json_t *src, const char *name,
                          bool required, const char *const *values, const char **out,
                          bool *present_out) PAY_WUR;
/* An amount in minor units: integer, 0..PAY_AMOUNT_MAX_MINOR, >= @min. */
enum pay_err pay_arg_amount(struct pay_request *req, const json_t *src, const char *name,
                            bool required, int64_t min, int64_t *out, bool *present_out) PAY_WUR;
/* A currency code; *out is the table entry. */
enum pay_err pay_arg_currency(struct pay_request *req, const json_t *src, const char *name,
                              bool required, const struct pay_currency **out,
                              bool *present_out) PAY_WUR;
/*
 * Stripe metadata: an object of string values within PAY_METADATA_* limits.
 * *out is a new object (caller owns) or NULL when absent. An empty string
 * value means "unset this key" on update; the caller merges. JSON numbers,
 * booleans and null are accepted as their string forms (null as ""); a form's
 * "metadata=" gives an empty object.
 */
enum pay_err pay_arg_metadata(struct pay_request *req, const json_t *src, const char *name,
                              json_t **out) PAY_WUR;
/* True when "expand" (expand[] in forms) contains @path ("customer"). */
bool pay_arg_expands(const struct pay_request *req, const char *path);

/* Parse limit, starting_after, ending_before, created[gte|gt|lte|lt] (or
 * created=N) from the query into @out (struct pay_list_args, core.h). */
enum pay_err pay_list_args_parse(struct pay_request *req, struct pay_list_args *out) PAY_WUR;

/* ---- Body decoding (exposed for tests and fuzzers) --------------------- */

/*
 * Decode an application/x-www-form-urlencoded body with Stripe's bracket
 * notation into a new object: a[b]=1 -> {"a":{"b":"1"}}, a[0][x]=1 ->
 * {"a":[{"x":"1"}]}, a[]=x -> {"a":["x"]}. Limits from limits.h.
 * PAY_ERR_BODY_INVALID names the offending key in @err->param.
 */
enum pay_err pay_form_decode(const char *body, size_t len, json_t **out,
                             struct pay_error *err) PAY_WUR;
/* Parse a JSON body (must be an object, depth <= PAY_JSON_DEPTH_MAX). */
enum pay_err pay_json_decode(const char *body, size_t len, json_t **out,
                             struct pay_error *err) PAY_WUR;

/* ---- Errors ------------------------------------------------------------ */

/* HTTP status and Stripe error type ("invalid_request_error", ...) of @e. */
int pay_http_status(enum pay_err e);
const char *pay_http_error_type(enum pay_err e);
/* {"error":{"type","code","message","param"?,"decline_code"?}}; caller owns. */
json_t *pay_http_error_body(const struct pay_error *err);

/* ---- Routing ------------------------------------------------------------- */

enum pay_route_match { PAY_MATCH_OK, PAY_MATCH_NO_ROUTE, PAY_MATCH_BAD_METHOD };
/* Find the route for @method @path; path params are written to @params. */
enum pay_route_match pay_route_find(const struct pay_route *routes, size_t n, const char *method,
                                    const char *path, const struct pay_route **out,
                                    const char *params[PAY_ROUTE_PARAMS_MAX], char *scratch,
                                    size_t scratch_len);

/* ---- Server ---------------------------------------------------------- */

struct pay_server;
struct pay_server_config {
    const char *listen; /* "HOST:PORT" */
    unsigned threads;   /* 0 = number of CPUs */
};
/* Start serving @app; returns once listening. */
enum pay_err pay_server_start(struct pay_app *app, const struct pay_server_config *cfg,
                              struct pay_server **out, struct pay_error *err) PAY_WUR;
/* The port actually bound (for listen on port 0). */
unsigned pay_server_port(const struct pay_server *srv);
/* Stop accepting, finish in-flight requests, free. */
void pay_server_stop(struct pay_server *srv);

/* Prometheus text of the metrics (requests by route and status, latency
 * histogram, in-flight requests); caller frees. */
char *pay_metrics_render(void);

/* Delete idempotency keys older than PAY_IDEMPOTENCY_TTL_S. */
enum pay_err pay_idempotency_prune(struct pay_store *s, int64_t now, int64_t *deleted) PAY_WUR;

#endif

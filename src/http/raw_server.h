/*
 * raw_server.h - a minimal HTTP/1.1 server on libmicrohttpd for payd's
 * tools (the mobile money simulator, `payd sim momo`): one callback per
 * complete request with its method, path, query, headers and body; no
 * authentication, no routing table, no store. payd's API server is
 * http.h's pay_server; this one exists so that nothing outside src/http/
 * includes libmicrohttpd.
 *
 * Threading: one thread per connection; the callback runs on it and may
 * block (a simulator answering slowly). The callback must be thread-safe.
 */
#ifndef PAY_RAW_SERVER_H
#define PAY_RAW_SERVER_H

#include "../core/core.h"

/* Bodies the raw server accepts: small JSON documents. */
#define PAY_RAW_BODY_BYTES_MAX (64 * 1024)

struct pay_raw_request {
    const char *method;
    const char *path;  /* without the query string */
    const char *query; /* "a=1&b=2" or "" */
    const char *body;  /* NUL-terminated; "" when none */
    size_t body_len;
    void *conn; /* internal */
};

/* A request header's value, or NULL (case-insensitive name). */
const char *pay_raw_header(const struct pay_raw_request *req, const char *name);
/* The query argument @name's value, or NULL. */
const char *pay_raw_query_arg(const struct pay_raw_request *req, const char *name);

struct pay_raw_response {
    int status;               /* default 200 */
    char *body;               /* malloc'd, freed by the server; NULL = empty */
    const char *content_type; /* default "application/json" */
};

typedef void (*pay_raw_handler_fn)(void *ctx, const struct pay_raw_request *req,
                                   struct pay_raw_response *resp);

struct pay_raw_server;
/*
 * Listen on @listen ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one) and
 * serve every request with @fn(@ctx, ...). Errors: PAY_ERR_CONFIG for a bad
 * address, PAY_ERR_IO when it cannot listen (err->param "listen").
 */
enum pay_err pay_raw_server_start(const char *listen, pay_raw_handler_fn fn, void *ctx,
                                  struct pay_raw_server **out, struct pay_error *err) PAY_WUR;
unsigned pay_raw_server_port(const struct pay_raw_server *s);
/* Stop listening, finish the requests in flight, free. NULL is fine. */
void pay_raw_server_stop(struct pay_raw_server *s);

#endif

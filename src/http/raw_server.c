/*
 * raw_server.c - the minimal HTTP server of raw_server.h: buffers a body up
 * to PAY_RAW_BODY_BYTES_MAX (413 beyond), calls the handler once the
 * request is complete, answers with what it set.
 *
 * Threading: libmicrohttpd's thread per connection; per-request state is
 * the connection's only.
 */
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "raw_server.h"

#define CONNECTIONS_MAX 256
#define CONNECTION_TIMEOUT_S 60

struct pay_raw_server {
    struct MHD_Daemon *daemon;
    unsigned port;
    pay_raw_handler_fn fn;
    void *ctx;
};

struct raw_state {
    struct pay_buf body;
    bool too_large;
};

const char *pay_raw_header(const struct pay_raw_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *pay_raw_query_arg(const struct pay_raw_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result answer(struct MHD_Connection *conn, int status, const char *type, char *body)
{
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", MHD_RESPMEM_MUST_COPY);
    free(body);
    if (r == NULL) {
        return MHD_NO;
    }
    if (len > 0 || type != NULL) {
        MHD_add_response_header(r, "Content-Type", type ? type : "application/json");
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct pay_raw_server *srv = cls;
    struct raw_state *st = *con_cls;
    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL) {
            return MHD_NO;
        }
        pay_buf_init(&st->body, PAY_RAW_BODY_BYTES_MAX);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!st->too_large && pay_buf_add(&st->body, upload_data, *upload_data_size) != PAY_OK) {
            st->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large) {
        return answer(conn, 413, NULL, strdup("{\"code\":\"BODY_TOO_LARGE\"}"));
    }
    const char *q = strchr(url, '?');
    char path[1024];
    snprintf(path, sizeof(path), "%.*s", q ? (int)(q - url) : (int)strlen(url), url);
    const struct pay_raw_request req = {
        .method = method,
        .path = path,
        .query = q ? q + 1 : "",
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
        .conn = conn,
    };
    struct pay_raw_response resp = {.status = 200};
    srv->fn(srv->ctx, &req, &resp);
    return answer(conn, resp.status, resp.content_type, resp.body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct raw_state *st = *con_cls;
    if (st != NULL) {
        pay_buf_release(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static enum pay_err parse_listen(const char *listen, struct sockaddr_storage *ss,
                                 struct pay_error *err)
{
    char host[256];
    const char *port_s = NULL;
    if (listen == NULL || listen[0] == '\0') {
        goto out_bad;
    }
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host)) {
            goto out_bad;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(close - listen - 1), listen + 1);
        port_s = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
            goto out_bad;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
        port_s = colon + 1;
    }
    if (port_s[0] == '\0' || strlen(port_s) > 5 || strspn(port_s, "0123456789") != strlen(port_s)) {
        goto out_bad;
    }
    long port = strtol(port_s, NULL, 10);
    if (port > 65535) {
        goto out_bad;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host[0] ? host : "127.0.0.1", NULL, &hints, &res) != 0 || res == NULL) {
        return pay_error_set(err, PAY_ERR_CONFIG, "listen", "Cannot resolve '%.128s'.", host);
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
                         "The listen address '%.128s' is not HOST:PORT or [V6]:PORT.",
                         listen ? listen : "");
}

enum pay_err pay_raw_server_start(const char *listen, pay_raw_handler_fn fn, void *ctx,
                                  struct pay_raw_server **out, struct pay_error *err)
{
    *out = NULL;
    struct sockaddr_storage ss;
    enum pay_err e = parse_listen(listen, &ss, err);
    if (e != PAY_OK) {
        return e;
    }
    struct pay_raw_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    srv->fn = fn;
    srv->ctx = ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                                   (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                                   (unsigned)CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                                   (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
                                   on_completed, srv, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        free(srv);
        return pay_error_set(err, PAY_ERR_IO, "listen", "Cannot listen on %.128s.", listen);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    *out = srv;
    return PAY_OK;
}

unsigned pay_raw_server_port(const struct pay_raw_server *s)
{
    return s ? s->port : 0;
}

void pay_raw_server_stop(struct pay_raw_server *s)
{
    if (s == NULL) {
        return;
    }
    MHD_stop_daemon(s->daemon);
    free(s);
}

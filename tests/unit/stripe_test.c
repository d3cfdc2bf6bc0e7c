/*
 * stripe_test.c - the stripe connector (src/connectors/stripe.c): the exact
 * bytes of each request it builds, and how it maps Stripe's answers, served
 * by a one-thread canned HTTP server on 127.0.0.1: statuses, card errors,
 * requires_action's redirect, refunds, retries of 500 with the same key,
 * and ambiguous outcomes (no server, timeouts).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/connectors.h"

/* ---- Request building ------------------------------------------------------ */

Test(stripe, build_create_exact_form)
{
    const struct pay_stripe_intent_params p = {
        .amount_minor = 2000,
        .currency = "USD",
        .payment_method = "pm_card_visa",
        .capture_manual = false,
        .reference = "pi_abc",
        .return_url = "https://shop.example/back?a=1&b=2",
    };
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_create(&p, "payd_pat_1", &r), PAY_OK);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/v1/payment_intents");
    cr_assert_str_eq(r.idempotency_key, "payd_pat_1");
    cr_assert_str_eq(r.body, "amount=2000&currency=usd&payment_method=pm_card_visa&confirm=true&"
                             "capture_method=automatic&payment_method_types%5B0%5D=card&"
                             "metadata%5Bpayd_intent%5D=pi_abc&"
                             "return_url=https%3A%2F%2Fshop.example%2Fback%3Fa%3D1%26b%3D2");
    pay_stripe_req_release(&r);
}

Test(stripe, build_follow_ups)
{
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_capture("pi_123", 600, "payd_pat_2", &r), PAY_OK);
    cr_assert_str_eq(r.path, "/v1/payment_intents/pi_123/capture");
    cr_assert_str_eq(r.body, "amount_to_capture=600");
    pay_stripe_req_release(&r);
    cr_assert_eq(pay_stripe_build_cancel("pi_123", "payd_pat_3", &r), PAY_OK);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/v1/payment_intents/pi_123/cancel");
    cr_assert_str_eq(r.body, "");
    pay_stripe_req_release(&r);
    cr_assert_eq(pay_stripe_build_refund("pi_123", 1000, "payd_pat_4", &r), PAY_OK);
    cr_assert_str_eq(r.path, "/v1/refunds");
    cr_assert_str_eq(r.body, "payment_intent=pi_123&amount=1000");
    pay_stripe_req_release(&r);
    cr_assert_eq(pay_stripe_build_retrieve("pi_123", &r), PAY_OK);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.idempotency_key, "");
    pay_stripe_req_release(&r);
}

Test(stripe, build_refuses_unsafe_ids_and_amounts)
{
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_capture("pi_1/../x", 1, "k", &r), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_stripe_build_cancel("", "k", &r), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_stripe_build_refund("pi_1", -5, "k", &r), PAY_ERR_PARAM_INVALID);
    const struct pay_stripe_intent_params p = {
        .amount_minor = 0, .currency = "usd", .payment_method = "pm_x"};
    cr_assert_eq(pay_stripe_build_create(&p, "k", &r), PAY_ERR_PARAM_INVALID);
}

/* ---- A canned server ---------------------------------------------------------- */

#define CANNED_MAX 4
struct canned {
    int fd;
    int port;
    int n;
    const char *answers[CANNED_MAX]; /* full HTTP responses, served in turn */
    char seen[CANNED_MAX][2048];     /* the requests received */
    int served;
};

static void *serve(void *arg)
{
    struct canned *c = arg;
    for (int i = 0; i < c->n; i++) {
        int fd = accept(c->fd, NULL, NULL);
        if (fd < 0) {
            return NULL;
        }
        size_t got = 0;
        char *buf = c->seen[i];
        for (;;) {
            ssize_t k = read(fd, buf + got, sizeof(c->seen[i]) - 1 - got);
            if (k <= 0) {
                break;
            }
            got += (size_t)k;
            buf[got] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            const char *cl = strcasestr(buf, "content-length:");
            if (end != NULL && (cl == NULL || strlen(end + 4) >= (size_t)atoi(cl + 15))) {
                break;
            }
        }
        if (write(fd, c->answers[i], strlen(c->answers[i])) < 0) {
            /* the client gave up: nothing to do */
        }
        c->served++;
        close(fd);
    }
    return NULL;
}

static pthread_t canned_start(struct canned *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(c->fd, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(c->fd, (struct sockaddr *)&a, &len);
    c->port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, serve, c);
    return t;
}

static const char *http_answer(int status, const char *json, char *buf, size_t n)
{
    snprintf(buf, n,
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             status, strlen(json), json);
    return buf;
}

static struct pay_stripe_config config_for(int port, char *url, size_t n)
{
    snprintf(url, n, "http://127.0.0.1:%d", port);
    return (struct pay_stripe_config){.secret_key = "sk_test_unit",
                                      .base_url = url,
                                      .api_version = "2024-06-20",
                                      .connect_timeout_ms = 1000,
                                      .timeout_ms = 1000,
                                      .retries = 2,
                                      .backoff_ms = 5};
}

/* Send a create through one canned answer; @res gets the mapping. */
static void one_answer(int status, const char *json, struct pay_conn_result *res, char *seen,
                       size_t seen_n)
{
    char buf[4096];
    struct canned c = {.n = 1, .answers = {http_answer(status, json, buf, sizeof(buf))}};
    pthread_t t = canned_start(&c);
    char url[64];
    struct pay_stripe_config cfg = config_for(c.port, url, sizeof(url));
    const struct pay_stripe_intent_params p = {.amount_minor = 500,
                                               .currency = "usd",
                                               .payment_method = "pm_card_visa",
                                               .reference = "pi_x"};
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_create(&p, "payd_pat_u", &r), PAY_OK);
    cr_assert_eq(pay_stripe_send(&cfg, &r, res), PAY_OK);
    pay_stripe_req_release(&r);
    pthread_join(t, NULL);
    close(c.fd);
    if (seen != NULL) {
        snprintf(seen, seen_n, "%s", c.seen[0]);
    }
}

Test(stripe, sends_headers_and_maps_succeeded)
{
    struct pay_conn_result res;
    char seen[2048];
    one_answer(200, "{\"id\":\"pi_S1\",\"object\":\"payment_intent\",\"status\":\"succeeded\"}",
               &res, seen, sizeof(seen));
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);
    cr_assert_str_eq(res.provider_ref, "pi_S1");
    cr_assert_eq(res.http_status, 200);
    cr_assert_eq(res.attempts, 1);
    cr_assert_not_null(strstr(seen, "POST /v1/payment_intents HTTP/1.1\r\n"));
    cr_assert_not_null(strstr(seen, "Authorization: Bearer sk_test_unit\r\n"));
    cr_assert_not_null(strstr(seen, "Stripe-Version: 2024-06-20\r\n"));
    cr_assert_not_null(strstr(seen, "Idempotency-Key: payd_pat_u\r\n"));
    cr_assert_not_null(strstr(seen, "\r\n\r\namount=500&currency=usd&"));
}

Test(stripe, maps_statuses)
{
    struct pay_conn_result res;
    one_answer(200,
               "{\"id\":\"pi_2\",\"object\":\"payment_intent\",\"status\":\"requires_capture\"}",
               &res, NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_REQUIRES_CAPTURE);
    one_answer(200,
               "{\"id\":\"pi_3\",\"object\":\"payment_intent\",\"status\":\"requires_action\","
               "\"next_action\":{\"type\":\"redirect_to_url\",\"redirect_to_url\":{\"url\":"
               "\"https://hooks.stripe.com/3d_secure/x\"}}}",
               &res, NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_REQUIRES_ACTION);
    cr_assert_str_eq(res.redirect_url, "https://hooks.stripe.com/3d_secure/x");
    one_answer(200, "{\"id\":\"pi_4\",\"object\":\"payment_intent\",\"status\":\"processing\"}",
               &res, NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_PROCESSING);
    one_answer(200, "{\"id\":\"pi_5\",\"object\":\"payment_intent\",\"status\":\"canceled\"}", &res,
               NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_CANCELED);
    one_answer(200,
               "{\"id\":\"pi_6\",\"object\":\"payment_intent\",\"status\":"
               "\"requires_payment_method\",\"last_payment_error\":{\"code\":\"expired_card\","
               "\"message\":\"Your card has expired.\"}}",
               &res, NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_DECLINED);
    cr_assert_str_eq(res.code, "expired_card");
    cr_assert_str_eq(res.message, "Your card has expired.");
    one_answer(200, "{\"id\":\"re_1\",\"object\":\"refund\",\"status\":\"pending\"}", &res, NULL,
               0);
    cr_assert_eq(res.status, PAY_CONN_PROCESSING);
    cr_assert_str_eq(res.provider_ref, "re_1");
}

Test(stripe, maps_error_bodies)
{
    struct pay_conn_result res;
    one_answer(402,
               "{\"error\":{\"type\":\"card_error\",\"code\":\"card_declined\",\"decline_code\":"
               "\"insufficient_funds\",\"message\":\"Your card has insufficient funds.\","
               "\"payment_intent\":{\"id\":\"pi_D\"}}}",
               &res, NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_DECLINED);
    cr_assert_str_eq(res.code, "card_declined");
    cr_assert_str_eq(res.decline_code, "insufficient_funds");
    cr_assert_str_eq(res.provider_ref, "pi_D");
    cr_assert_eq(res.http_status, 402);
    one_answer(400,
               "{\"error\":{\"type\":\"invalid_request_error\",\"code\":\"resource_missing\","
               "\"message\":\"No such PaymentMethod: 'pm_x'\"}}",
               &res, NULL, 0);
    cr_assert_eq(res.status, PAY_CONN_FAILED);
    cr_assert_str_eq(res.code, "resource_missing");
    cr_assert_eq(res.attempts, 1, "a 400 is not retried");
}

Test(stripe, retries_500_with_the_same_key)
{
    char a0[512], a1[512], a2[512];
    struct canned c = {
        .n = 3,
        .answers = {http_answer(500, "{\"error\":{\"type\":\"api_error\"}}", a0, sizeof(a0)),
                    http_answer(429, "{\"error\":{\"type\":\"rate_limit_error\"}}", a1, sizeof(a1)),
                    http_answer(200,
                                "{\"id\":\"pi_R\",\"object\":\"payment_intent\",\"status\":"
                                "\"succeeded\"}",
                                a2, sizeof(a2))},
    };
    pthread_t t = canned_start(&c);
    char url[64];
    struct pay_stripe_config cfg = config_for(c.port, url, sizeof(url));
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_capture("pi_R", 100, "payd_pat_same", &r), PAY_OK);
    struct pay_conn_result res;
    cr_assert_eq(pay_stripe_send(&cfg, &r, &res), PAY_OK);
    pay_stripe_req_release(&r);
    pthread_join(t, NULL);
    close(c.fd);
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);
    cr_assert_eq(res.attempts, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(strstr(c.seen[i], "Idempotency-Key: payd_pat_same\r\n"), "%d", i);
        cr_assert_not_null(strstr(c.seen[i], "\r\n\r\namount_to_capture=100"), "%d", i);
    }
}

Test(stripe, exhausted_retries_are_ambiguous)
{
    char a[512];
    struct canned c = {.n = 3};
    for (int i = 0; i < 3; i++) {
        c.answers[i] = http_answer(503, "{}", a, sizeof(a));
    }
    pthread_t t = canned_start(&c);
    char url[64];
    struct pay_stripe_config cfg = config_for(c.port, url, sizeof(url));
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_cancel("pi_A", "payd_pat_a", &r), PAY_OK);
    struct pay_conn_result res;
    cr_assert_eq(pay_stripe_send(&cfg, &r, &res), PAY_OK);
    pthread_join(t, NULL);
    close(c.fd);
    cr_assert_eq(res.status, PAY_CONN_UNKNOWN);
    cr_assert_eq(res.attempts, 3);

    /* Nobody listening: network errors, retried, then unknown. */
    cfg.retries = 1;
    cr_assert_eq(pay_stripe_send(&cfg, &r, &res), PAY_OK);
    cr_assert_eq(res.status, PAY_CONN_UNKNOWN);
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(res.http_status, 0);
    pay_stripe_req_release(&r);
}

Test(stripe, unconfigured_is_refused)
{
    struct pay_stripe_req r;
    cr_assert_eq(pay_stripe_build_retrieve("pi_1", &r), PAY_OK);
    struct pay_conn_result res;
    const struct pay_stripe_config cfg = {.secret_key = NULL};
    cr_assert_eq(pay_stripe_send(&cfg, &r, &res), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(res.status, PAY_CONN_FAILED);
    cr_assert_eq(pay_stripe_send(NULL, &r, &res), PAY_ERR_PARAM_INVALID);
    pay_stripe_req_release(&r);
}

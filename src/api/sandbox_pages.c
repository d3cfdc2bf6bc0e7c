/*
 * sandbox_pages.c - the sandbox's 3-D Secure challenge page, the stand-in
 * for the card issuer's page that Stripe's test mode shows.
 *
 * A payment intent in requires_action points its
 * next_action.redirect_to_url.url at GET /sandbox/3ds/:id?client_secret=..
 * The page shows the amount and two buttons whose forms POST to
 * /sandbox/3ds/:id/complete or /fail with the client secret. After either,
 * the customer goes back to the return_url given at confirmation, with
 * Stripe's query parameters (payment_intent, payment_intent_client_secret,
 * redirect_status), or sees a result page when there was none.
 *
 * Access: public routes; the client secret is the credential, compared in
 * constant time, and a wrong one answers 404 like an unknown id. Every
 * value written into HTML is escaped.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define PAGE_BYTES_MAX (64 * 1024)
#define SECRET_LEN_MAX 128

/* Append @s with HTML's five special characters escaped. */
static enum pay_err add_escaped(struct pay_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p != '\0'; p++) {
        enum pay_err e;
        switch (*p) {
        case '&':
            e = pay_buf_adds(b, "&amp;");
            break;
        case '<':
            e = pay_buf_adds(b, "&lt;");
            break;
        case '>':
            e = pay_buf_adds(b, "&gt;");
            break;
        case '"':
            e = pay_buf_adds(b, "&quot;");
            break;
        case '\'':
            e = pay_buf_adds(b, "&#39;");
            break;
        default:
            e = pay_buf_add(b, p, 1);
            break;
        }
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

#define PAGE_HEAD                                                                                  \
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"                            \
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"                     \
    "<title>%s - payd sandbox</title><style>"                                                      \
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:2rem}"              \
    "main{max-width:26rem;margin:auto;background:#fff;border-radius:8px;padding:1.5rem;"           \
    "box-shadow:0 1px 3px rgba(0,0,0,.15)}"                                                        \
    "h1{font-size:1.2rem}.amount{font-size:1.6rem;font-weight:600}"                                \
    "form{display:inline-block;margin:.5rem .5rem 0 0}"                                            \
    "button{font-size:1rem;padding:.6rem 1rem;border-radius:6px;border:1px solid #888;"            \
    "cursor:pointer}button.ok{background:#1a7f37;color:#fff;border-color:#1a7f37}"                 \
    ".note{color:#555;font-size:.85rem}</style></head><body><main>\n"

/* "12.50 USD" for the page. */
static void amount_text(const json_t *pi, char *out, size_t n)
{
    const char *code = pay_json_str(pi, "currency");
    const struct pay_currency *cur = pay_currency_find(code ? code : "");
    char num[32];
    int64_t amount = pay_json_int(pi, "amount", 0);
    if (cur == NULL || pay_amount_format(amount, cur, num, sizeof(num)) == 0) {
        snprintf(num, sizeof(num), "%lld", (long long)amount);
    }
    snprintf(out, n, "%s %s", num, code ? code : "");
    for (char *c = out; *c; c++) {
        if (*c >= 'a' && *c <= 'z') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
}

static enum pay_err send_page(struct pay_request *req, struct pay_buf *b, int status)
{
    enum pay_err e = pay_buf_adds(b, "</main></body></html>\n");
    if (e == PAY_OK) {
        e = pay_resp_raw(req, status, "text/html; charset=utf-8", b->data, b->len);
    }
    pay_buf_release(b);
    return e == PAY_OK ? PAY_OK : pay_error_set(&req->err, e, NULL, NULL);
}

static enum pay_err challenge_page(struct pay_request *req)
{
    static const char *const allowed[] = {"client_secret", NULL};
    PAY_TRY(pay_args_allow(req, req->query, allowed));
    const char *secret = NULL;
    PAY_TRY(pay_arg_str(req, req->query, "client_secret", true, SECRET_LEN_MAX, &secret, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *pi = NULL;
    PAY_TRY(pay_intent_by_secret(&op, req->params[0], secret, &pi));

    char amount[64];
    amount_text(pi, amount, sizeof(amount));
    const char *id = pay_json_str(pi, "id");
    const char *status = pay_json_str(pi, "status");
    const char *description = pay_json_str(pi, "description");
    bool waiting = status != NULL && strcmp(status, "requires_action") == 0;

    struct pay_buf b;
    pay_buf_init(&b, PAGE_BYTES_MAX);
    enum pay_err e = pay_buf_addf(&b, PAGE_HEAD, "3-D Secure authentication");
    e = e ? e : pay_buf_adds(&b, "<h1>3-D Secure test authentication</h1>\n<p class=\"amount\">");
    e = e ? e : add_escaped(&b, amount);
    e = e ? e : pay_buf_adds(&b, "</p>\n");
    if (description != NULL) {
        e = e ? e : pay_buf_adds(&b, "<p class=\"description\">");
        e = e ? e : add_escaped(&b, description);
        e = e ? e : pay_buf_adds(&b, "</p>\n");
    }
    e = e ? e : pay_buf_adds(&b, "<p class=\"note\">Payment <code>");
    e = e ? e : add_escaped(&b, id);
    e = e ? e
          : pay_buf_adds(&b, "</code>. This page stands in for the card issuer's "
                             "challenge in payd's sandbox: choose the outcome.</p>\n");
    if (waiting) {
        static const char *const actions[2][3] = {
            {"complete", "ok", "Complete authentication"},
            {"fail", "fail", "Fail authentication"},
        };
        for (size_t i = 0; i < 2; i++) {
            e = e ? e : pay_buf_adds(&b, "<form method=\"post\" action=\"/sandbox/3ds/");
            e = e ? e : add_escaped(&b, id);
            e = e ? e
                  : pay_buf_addf(&b,
                                 "/%s\"><input type=\"hidden\" name=\"client_secret\" "
                                 "value=\"",
                                 actions[i][0]);
            e = e ? e : add_escaped(&b, secret);
            e = e ? e
                  : pay_buf_addf(&b,
                                 "\"><button type=\"submit\" class=\"%s\" id=\"%s\">%s"
                                 "</button></form>\n",
                                 actions[i][1], actions[i][0], actions[i][2]);
        }
    } else {
        e = e ? e
              : pay_buf_adds(&b, "<p id=\"status\">This payment no longer waits for "
                                 "authentication (status <code>");
        e = e ? e : add_escaped(&b, status);
        e = e ? e : pay_buf_adds(&b, "</code>).</p>\n");
    }
    json_decref(pi);
    if (e != PAY_OK) {
        pay_buf_release(&b);
        return pay_error_set(&req->err, e, NULL, NULL);
    }
    return send_page(req, &b, 200);
}

/* return_url + Stripe's redirect parameters, before any #fragment. */
static enum pay_err redirect_url(const char *return_url, const json_t *pi, bool succeeded,
                                 struct pay_buf *out)
{
    size_t base_len = strcspn(return_url, "#");
    const char *sep = memchr(return_url, '?', base_len) ? "&" : "?";
    return pay_buf_addf(out,
                        "%.*s%spayment_intent=%s&payment_intent_client_secret=%s"
                        "&redirect_status=%s%s",
                        (int)base_len, return_url, sep, pay_json_str(pi, "id"),
                        pay_json_str(pi, "client_secret"), succeeded ? "succeeded" : "failed",
                        return_url + base_len);
}

static enum pay_err finish(struct pay_request *req, bool passed)
{
    static const char *const allowed[] = {"client_secret", NULL};
    PAY_TRY(pay_args_allow(req, req->body, allowed));
    const char *secret = NULL;
    PAY_TRY(pay_arg_str(req, req->body, "client_secret", true, SECRET_LEN_MAX, &secret, NULL));
    struct pay_op op = pay_api_op(req);
    json_t *pi = NULL;
    char *return_url = NULL;
    PAY_TRY(pay_intent_3ds_finish(&op, req->params[0], secret, passed, &pi, &return_url));

    const char *status = pay_json_str(pi, "status");
    bool succeeded = status != NULL &&
                     (strcmp(status, "succeeded") == 0 || strcmp(status, "requires_capture") == 0 ||
                      strcmp(status, "processing") == 0);
    struct pay_buf b;
    enum pay_err e;
    if (return_url != NULL) {
        pay_buf_init(&b, PAGE_BYTES_MAX);
        e = redirect_url(return_url, pi, succeeded, &b);
        if (e == PAY_OK) {
            pay_resp_redirect(req, 303, b.data);
        }
        pay_buf_release(&b);
    } else {
        const char *lpe_message =
            pay_json_str(json_object_get(pi, "last_payment_error"), "message");
        pay_buf_init(&b, PAGE_BYTES_MAX);
        e = pay_buf_addf(&b, PAGE_HEAD,
                         succeeded ? "Authentication complete" : "Authentication failed");
        e = e ? e
              : pay_buf_addf(&b, "<h1 id=\"result\" data-status=\"%s\">%s</h1>\n",
                             succeeded ? "succeeded" : "failed",
                             succeeded ? "Authentication complete" : "Authentication failed");
        e = e ? e : pay_buf_adds(&b, "<p>Payment <code>");
        e = e ? e : add_escaped(&b, pay_json_str(pi, "id"));
        e = e ? e : pay_buf_adds(&b, "</code> is now <code id=\"status\">");
        e = e ? e : add_escaped(&b, status);
        e = e ? e : pay_buf_adds(&b, "</code>.</p>\n");
        if (!succeeded && lpe_message != NULL) {
            e = e ? e : pay_buf_adds(&b, "<p class=\"note\">");
            e = e ? e : add_escaped(&b, lpe_message);
            e = e ? e : pay_buf_adds(&b, "</p>\n");
        }
        e = e ? e : pay_buf_adds(&b, "<p class=\"note\">You may close this page.</p>\n");
        if (e == PAY_OK) {
            e = send_page(req, &b, 200);
        } else {
            pay_buf_release(&b);
        }
    }
    free(return_url);
    json_decref(pi);
    return e == PAY_OK ? PAY_OK : pay_error_set(&req->err, e, NULL, NULL);
}

static enum pay_err challenge_complete(struct pay_request *req)
{
    return finish(req, true);
}

static enum pay_err challenge_fail(struct pay_request *req)
{
    return finish(req, false);
}

PAY_API_ROUTES_DEFINE(sandbox_pages) = {
    {"GET", "/sandbox/3ds/:id", challenge_page, 0, PAY_ROUTE_PUBLIC,
     "The sandbox's 3-D Secure challenge page"},
    {"POST", "/sandbox/3ds/:id/complete", challenge_complete, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_WRITE,
     "Pass the sandbox's 3-D Secure challenge"},
    {"POST", "/sandbox/3ds/:id/fail", challenge_fail, 0, PAY_ROUTE_PUBLIC | PAY_ROUTE_WRITE,
     "Fail the sandbox's 3-D Secure challenge"},
};
PAY_API_ROUTES_COUNT(sandbox_pages);

/*
 * errors.c - the one table that maps payd's error codes to HTTP statuses
 * and Stripe's error types, and the error envelope
 * {"error":{"type","code","message","param"?,"decline_code"?}}.
 *
 * Stripe's rules (PROTOCOLS.md): 400 invalid request, 401 bad key, 402 a
 * valid request that failed (a decline), 403 forbidden, 404 missing, 409
 * idempotency conflict, 429 rate limited, 5xx server. Stripe's SDKs pick
 * their exception class from `type` and the status together, and Stripe
 * itself sends type "invalid_request_error" for 401, 403 and 429 (with codes
 * such as "api_key_invalid" and "rate_limit"), so payd does the same and
 * keeps the codes distinct.
 *
 * Invariants: every code has exactly one status; any code this table does
 * not name is a 500 "api_error", so a new error can never leak as a 2xx.
 *
 * Threading: pure functions, safe from any thread.
 */
#include "http_int.h"

int pay_http_status(enum pay_err e)
{
    switch (e) {
    case PAY_ERR_OK:
        return 200;
    case PAY_ERR_PARAM_INVALID:
    case PAY_ERR_PARAM_MISSING:
    case PAY_ERR_PARAM_UNKNOWN:
    case PAY_ERR_PARAM_INTEGER:
    case PAY_ERR_AMOUNT_INVALID:
    case PAY_ERR_AMOUNT_TOO_LARGE:
    case PAY_ERR_AMOUNT_TOO_SMALL:
    case PAY_ERR_CURRENCY_INVALID:
    case PAY_ERR_OVERFLOW:
    case PAY_ERR_BODY_INVALID:
    case PAY_ERR_IDEMPOTENCY_MISMATCH:
    case PAY_ERR_UNEXPECTED_STATE:
        return 400;
    case PAY_ERR_AUTH_REQUIRED:
    case PAY_ERR_AUTH_INVALID:
        return 401;
    case PAY_ERR_CARD_DECLINED:
    case PAY_ERR_CARD_ERROR:
        return 402;
    case PAY_ERR_FORBIDDEN:
        return 403;
    case PAY_ERR_NOT_FOUND:
    case PAY_ERR_ROUTE_NOT_FOUND:
        return 404;
    case PAY_ERR_METHOD_NOT_ALLOWED:
        return 405;
    case PAY_ERR_IDEMPOTENCY_IN_USE:
    case PAY_ERR_CONFLICT:
    case PAY_ERR_DB_UNIQUE:
        return 409;
    case PAY_ERR_BODY_TOO_LARGE:
    case PAY_ERR_ARENA_FULL:
        return 413;
    case PAY_ERR_RATE_LIMITED:
        return 429;
    case PAY_ERR_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}

const char *pay_http_error_type(enum pay_err e)
{
    if (e == PAY_ERR_IDEMPOTENCY_MISMATCH || e == PAY_ERR_IDEMPOTENCY_IN_USE) {
        return "idempotency_error";
    }
    int status = pay_http_status(e);
    if (status >= 500) {
        return "api_error";
    }
    if (status == 402) {
        return "card_error";
    }
    return "invalid_request_error";
}

json_t *pay_http_error_body(const struct pay_error *err)
{
    enum pay_err code = err ? err->code : PAY_ERR_INTERNAL;
    if (code == PAY_OK || (unsigned)code >= PAY_ERR__COUNT) {
        /* An envelope for "no error" is a bug of the caller; answer it as one. */
        code = PAY_ERR_INTERNAL;
    }
    const char *message = pay_err_message(code);
    if (err && err->code == code && err->message[0] != '\0') {
        message = err->message;
    }

    json_t *e = json_object();
    json_t *root = json_object();
    if (!e || !root) {
        json_decref(e);
        json_decref(root);
        return NULL;
    }
    json_object_set_new_nocheck(e, "type", json_string(pay_http_error_type(code)));
    const char *code_str = pay_err_str(code);
    if (err && err->code == code && err->code_str[0] != '\0') {
        code_str = err->code_str;
    }
    json_object_set_new_nocheck(e, "code", json_string(code_str));
    /* Messages may quote client input; jansson refuses invalid UTF-8, so
     * fall back to the default text rather than drop the field. */
    json_t *msg = json_string(message);
    if (!msg) {
        msg = json_string(pay_err_message(code));
    }
    json_object_set_new_nocheck(e, "message", msg);
    if (err && err->code == code && err->param[0] != '\0') {
        json_t *param = json_string(err->param);
        if (param) {
            json_object_set_new_nocheck(e, "param", param);
        }
    }
    if (err && err->code == code && err->decline_code[0] != '\0') {
        json_t *dc = json_string(err->decline_code);
        if (dc) {
            json_object_set_new_nocheck(e, "decline_code", dc);
        }
    }
    json_object_set_new_nocheck(root, "error", e);
    return root;
}

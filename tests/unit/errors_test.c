/*
 * errors_test.c - the status and Stripe error type of every error code,
 * and the error envelope.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http/http.h"

/* The expected status of each code, written out independently of errors.c. */
static int expected_status(enum pay_err e)
{
    switch (e) {
    case PAY_ERR_OK:
        return 200;
    case PAY_ERR_NOMEM:
        return 500;
    case PAY_ERR_INTERNAL:
        return 500;
    case PAY_ERR_PARAM_INVALID:
        return 400;
    case PAY_ERR_PARAM_MISSING:
        return 400;
    case PAY_ERR_PARAM_UNKNOWN:
        return 400;
    case PAY_ERR_PARAM_INTEGER:
        return 400;
    case PAY_ERR_AMOUNT_INVALID:
        return 400;
    case PAY_ERR_AMOUNT_TOO_LARGE:
        return 400;
    case PAY_ERR_AMOUNT_TOO_SMALL:
        return 400;
    case PAY_ERR_CURRENCY_INVALID:
        return 400;
    case PAY_ERR_OVERFLOW:
        return 400;
    case PAY_ERR_BODY_INVALID:
        return 400;
    case PAY_ERR_BODY_TOO_LARGE:
        return 413;
    case PAY_ERR_NOT_FOUND:
        return 404;
    case PAY_ERR_ROUTE_NOT_FOUND:
        return 404;
    case PAY_ERR_METHOD_NOT_ALLOWED:
        return 405;
    case PAY_ERR_AUTH_REQUIRED:
        return 401;
    case PAY_ERR_AUTH_INVALID:
        return 401;
    case PAY_ERR_FORBIDDEN:
        return 403;
    case PAY_ERR_RATE_LIMITED:
        return 429;
    case PAY_ERR_IDEMPOTENCY_MISMATCH:
        return 400;
    case PAY_ERR_IDEMPOTENCY_IN_USE:
        return 409;
    case PAY_ERR_CARD_DECLINED:
        return 402;
    case PAY_ERR_CARD_ERROR:
        return 402;
    case PAY_ERR_UNEXPECTED_STATE:
        return 400;
    case PAY_ERR_DB:
        return 500;
    case PAY_ERR_DB_UNIQUE:
        return 409;
    case PAY_ERR_DB_RETRY:
        return 500;
    case PAY_ERR_UNAVAILABLE:
        return 503;
    case PAY_ERR_CONFIG:
        return 500;
    case PAY_ERR_IO:
        return 500;
    case PAY_ERR_CONFLICT:
        return 409;
    case PAY_ERR_PROVIDER:
        return 500;
    case PAY_ERR_ARENA_FULL:
        return 413;
    default:
        return -1; /* a new code: this test must learn it */
    }
}

static const char *expected_type(enum pay_err e)
{
    switch (e) {
    case PAY_ERR_CARD_DECLINED:
    case PAY_ERR_CARD_ERROR:
        return "card_error";
    case PAY_ERR_IDEMPOTENCY_MISMATCH:
    case PAY_ERR_IDEMPOTENCY_IN_USE:
        return "idempotency_error";
    default:
        return expected_status(e) >= 500 ? "api_error" : "invalid_request_error";
    }
}

Test(errors, every_code_has_its_status_and_type)
{
    for (int i = 0; i < PAY_ERR__COUNT; i++) {
        enum pay_err e = (enum pay_err)i;
        cr_assert_neq(expected_status(e), -1, "code %s has no expectation here", pay_err_str(e));
        cr_assert_eq(pay_http_status(e), expected_status(e), "status of %s: %d, want %d",
                     pay_err_str(e), pay_http_status(e), expected_status(e));
        if (e != PAY_OK) {
            cr_assert_str_eq(pay_http_error_type(e), expected_type(e), "type of %s",
                             pay_err_str(e));
        }
    }
}

Test(errors, stripe_types_for_auth_and_rate_limit)
{
    /* Stripe sends invalid_request_error for 401/403/429, with distinct codes. */
    cr_assert_str_eq(pay_http_error_type(PAY_ERR_AUTH_INVALID), "invalid_request_error");
    cr_assert_str_eq(pay_http_error_type(PAY_ERR_FORBIDDEN), "invalid_request_error");
    cr_assert_str_eq(pay_http_error_type(PAY_ERR_RATE_LIMITED), "invalid_request_error");
    cr_assert_str_eq(pay_err_str(PAY_ERR_RATE_LIMITED), "rate_limit");
}

Test(errors, unknown_code_is_500)
{
    cr_assert_eq(pay_http_status((enum pay_err)PAY_ERR__COUNT), 500);
    cr_assert_eq(pay_http_status((enum pay_err)9999), 500);
    cr_assert_str_eq(pay_http_error_type((enum pay_err)9999), "api_error");
}

Test(errors, body_with_param_and_message)
{
    struct pay_error err = {0};
    pay_error_set(&err, PAY_ERR_AMOUNT_INVALID, "amount", "Bad amount %d.", 7);
    json_t *body = pay_http_error_body(&err);
    cr_assert_not_null(body);
    cr_assert_eq(json_object_size(body), 1);
    json_t *e = json_object_get(body, "error");
    cr_assert_str_eq(pay_json_str(e, "type"), "invalid_request_error");
    cr_assert_str_eq(pay_json_str(e, "code"), "amount_invalid");
    cr_assert_str_eq(pay_json_str(e, "message"), "Bad amount 7.");
    cr_assert_str_eq(pay_json_str(e, "param"), "amount");
    cr_assert_null(json_object_get(e, "decline_code"));
    json_decref(body);
}

Test(errors, body_default_message_no_param)
{
    struct pay_error err = {0};
    err.code = PAY_ERR_NOT_FOUND;
    json_t *body = pay_http_error_body(&err);
    json_t *e = json_object_get(body, "error");
    cr_assert_str_eq(pay_json_str(e, "message"), pay_err_message(PAY_ERR_NOT_FOUND));
    cr_assert_str_eq(pay_json_str(e, "code"), "resource_missing");
    cr_assert_null(json_object_get(e, "param"));
    json_decref(body);
}

Test(errors, body_card_decline)
{
    struct pay_error err = {0};
    pay_error_set(&err, PAY_ERR_CARD_DECLINED, NULL, NULL);
    strcpy(err.decline_code, "insufficient_funds");
    json_t *body = pay_http_error_body(&err);
    json_t *e = json_object_get(body, "error");
    cr_assert_str_eq(pay_json_str(e, "type"), "card_error");
    cr_assert_str_eq(pay_json_str(e, "code"), "card_declined");
    cr_assert_str_eq(pay_json_str(e, "decline_code"), "insufficient_funds");
    cr_assert_str_eq(pay_json_str(e, "message"), "Your card was declined.");
    json_decref(body);
}

Test(errors, body_idempotency)
{
    struct pay_error err = {0};
    pay_error_set(&err, PAY_ERR_IDEMPOTENCY_IN_USE, NULL, NULL);
    json_t *body = pay_http_error_body(&err);
    json_t *e = json_object_get(body, "error");
    cr_assert_str_eq(pay_json_str(e, "type"), "idempotency_error");
    cr_assert_str_eq(pay_json_str(e, "code"), "idempotency_key_in_use");
    json_decref(body);
}

Test(errors, body_survives_invalid_utf8_message)
{
    struct pay_error err = {0};
    pay_error_set(&err, PAY_ERR_PARAM_INVALID, "x", "bad \xC3 byte");
    json_t *body = pay_http_error_body(&err);
    json_t *e = json_object_get(body, "error");
    cr_assert_str_eq(pay_json_str(e, "message"), pay_err_message(PAY_ERR_PARAM_INVALID));
    json_decref(body);
}

Test(errors, body_for_null_or_ok_is_internal)
{
    json_t *body = pay_http_error_body(NULL);
    cr_assert_str_eq(pay_json_str(json_object_get(body, "error"), "code"), "internal_error");
    json_decref(body);
    struct pay_error err = {0};
    body = pay_http_error_body(&err);
    cr_assert_str_eq(pay_json_str(json_object_get(body, "error"), "type"), "api_error");
    json_decref(body);
}

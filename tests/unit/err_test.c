/* err_test.c - error codes are stable (clients and the database see them). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

Test(err, numbers_are_append_only)
{
    cr_assert_eq(PAY_OK, 0);
    cr_assert_eq(PAY_ERR_NOMEM, 1);
    cr_assert_eq(PAY_ERR_INTERNAL, 2);
    cr_assert_eq(PAY_ERR_PARAM_INVALID, 3);
    cr_assert_eq(PAY_ERR_PARAM_MISSING, 4);
    cr_assert_eq(PAY_ERR_OVERFLOW, 11);
    cr_assert_eq(PAY_ERR_NOT_FOUND, 14);
    cr_assert_eq(PAY_ERR_ARENA_FULL, 34);
    cr_assert_geq(PAY_ERR__COUNT, 35);
}

Test(err, strings_are_stable)
{
    cr_assert_str_eq(pay_err_str(PAY_OK), "ok");
    cr_assert_str_eq(pay_err_str(PAY_ERR_NOMEM), "out_of_memory");
    cr_assert_str_eq(pay_err_str(PAY_ERR_PARAM_MISSING), "parameter_missing");
    cr_assert_str_eq(pay_err_str(PAY_ERR_PARAM_INVALID), "parameter_invalid");
    cr_assert_str_eq(pay_err_str(PAY_ERR_PARAM_UNKNOWN), "parameter_unknown");
    cr_assert_str_eq(pay_err_str(PAY_ERR_PARAM_INTEGER), "parameter_invalid_integer");
    cr_assert_str_eq(pay_err_str(PAY_ERR_AMOUNT_INVALID), "amount_invalid");
    cr_assert_str_eq(pay_err_str(PAY_ERR_CURRENCY_INVALID), "currency_invalid");
    cr_assert_str_eq(pay_err_str(PAY_ERR_NOT_FOUND), "resource_missing");
    cr_assert_str_eq(pay_err_str(PAY_ERR_AUTH_INVALID), "api_key_invalid");
    cr_assert_str_eq(pay_err_str(PAY_ERR_IDEMPOTENCY_MISMATCH), "idempotency_key_reused");
    cr_assert_str_eq(pay_err_str(PAY_ERR_CARD_DECLINED), "card_declined");
    cr_assert_str_eq(pay_err_str(PAY_ERR_UNEXPECTED_STATE), "payment_intent_unexpected_state");
    cr_assert_str_eq(pay_err_str(PAY_ERR_ARENA_FULL), "request_too_large");
    cr_assert_str_eq(pay_err_message(PAY_ERR_NOT_FOUND), "No such object.");
    cr_assert_str_eq(pay_err_message(PAY_ERR_PARAM_MISSING), "A required parameter is missing.");
}

Test(err, every_code_has_distinct_string_and_message)
{
    for (int i = 0; i < PAY_ERR__COUNT; i++) {
        const char *s = pay_err_str((enum pay_err)i);
        cr_assert_not_null(s);
        cr_assert_gt(strlen(s), 0);
        cr_assert_gt(strlen(pay_err_message((enum pay_err)i)), 0);
        for (const char *p = s; *p; p++) {
            cr_assert((*p >= 'a' && *p <= 'z') || *p == '_', "%s", s);
        }
        for (int k = 0; k < i; k++) {
            cr_assert_str_neq(s, pay_err_str((enum pay_err)k));
        }
    }
}

Test(err, out_of_range_is_internal)
{
    cr_assert_str_eq(pay_err_str(PAY_ERR__COUNT), "internal_error");
    cr_assert_str_eq(pay_err_str((enum pay_err)9999), "internal_error");
    cr_assert_str_eq(pay_err_str((enum pay_err) - 1), "internal_error");
    cr_assert_str_eq(pay_err_message((enum pay_err) - 1), "An internal error occurred.");
}

Test(err, error_set)
{
    struct pay_error err;
    pay_error_clear(&err);
    cr_assert_eq(err.code, PAY_OK);
    cr_assert_str_eq(err.param, "");
    cr_assert_eq(pay_error_set(&err, PAY_ERR_PARAM_MISSING, "amount", NULL), PAY_ERR_PARAM_MISSING);
    cr_assert_eq(err.code, PAY_ERR_PARAM_MISSING);
    cr_assert_str_eq(err.param, "amount");
    cr_assert_str_eq(err.message, "A required parameter is missing.");
    cr_assert_eq(pay_error_set(&err, PAY_ERR_AMOUNT_TOO_LARGE, NULL, "Amount must be at most %lld.",
                               (long long)PAY_AMOUNT_MAX_MINOR),
                 PAY_ERR_AMOUNT_TOO_LARGE);
    cr_assert_str_eq(err.param, "");
    cr_assert_str_eq(err.message, "Amount must be at most 999999999999.");
    cr_assert_eq(pay_error_set(NULL, PAY_ERR_DB, "x", "y"), PAY_ERR_DB);
}

Test(err, error_set_truncates_safely)
{
    struct pay_error err;
    pay_error_clear(&err);
    char long_text[1000];
    memset(long_text, 'm', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    pay_error_set(&err, PAY_ERR_PARAM_INVALID, long_text, "%s", long_text);
    cr_assert_eq(strlen(err.param), PAY_ERROR_PARAM_MAX - 1);
    cr_assert_eq(strlen(err.message), PAY_ERROR_MESSAGE_MAX - 1);
}

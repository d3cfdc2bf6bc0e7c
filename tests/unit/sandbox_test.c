/*
 * sandbox_test.c - the sandbox connector (src/connectors/sandbox.c): every
 * scenario's authorize outcome, before and after 3-D Secure and off
 * session; capture, cancel, refund and verify; refusal of foreign tokens
 * and references.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "connectors/connectors.h"

static const struct pay_connector *sbx(void)
{
    const struct pay_connector *c = pay_connector_find("sandbox");
    cr_assert_not_null(c);
    return c;
}

Test(sandbox, registry)
{
    cr_assert_str_eq(sbx()->name, "sandbox");
    cr_assert_null(pay_connector_find("stripe-nope"));
    cr_assert_null(pay_connector_find(""));
    cr_assert_null(pay_connector_find(NULL));
}

struct auth_case {
    char scenario[32];
    bool three_ds_completed;
    bool off_session;
    enum pay_conn_status status;
    char code[32];
    char decline_code[32];
    char message[96];
};

#define OK_(s, t, o)                                                                               \
    {                                                                                              \
        s, t, o, PAY_CONN_SUCCEEDED, "", "", ""                                                    \
    }
#define ACTION(s, t, o)                                                                            \
    {                                                                                              \
        s, t, o, PAY_CONN_REQUIRES_ACTION, "", "", ""                                              \
    }
#define DECL(s, t, o, c, d, m)                                                                     \
    {                                                                                              \
        s, t, o, PAY_CONN_DECLINED, c, d, m                                                        \
    }
#define DECLINED_MSG "Your card was declined."
#define FUNDS_MSG "Your card has insufficient funds."

ParameterizedTestParameters(sandbox, authorize)
{
    static struct auth_case cases[] = {
        OK_("success", false, false),
        OK_("success", false, true),
        OK_("dispute", false, false),
        DECL("generic_decline", false, false, "card_declined", "generic_decline", DECLINED_MSG),
        DECL("insufficient_funds", false, false, "card_declined", "insufficient_funds", FUNDS_MSG),
        DECL("lost_card", false, false, "card_declined", "lost_card", DECLINED_MSG),
        DECL("stolen_card", false, false, "card_declined", "stolen_card", DECLINED_MSG),
        DECL("expired_card", false, false, "expired_card", "expired_card",
             "Your card has expired."),
        DECL("incorrect_cvc", false, false, "incorrect_cvc", "incorrect_cvc",
             "Your card's security code is incorrect."),
        DECL("processing_error", false, false, "processing_error", "processing_error",
             "An error occurred while processing your card. Try again in a little bit."),
        DECL("fraudulent", false, false, "card_declined", "fraudulent", DECLINED_MSG),
        DECL("charge_fails", false, false, "card_declined", "generic_decline", DECLINED_MSG),
        DECL("charge_fails", false, true, "card_declined", "generic_decline", DECLINED_MSG),
        ACTION("3ds_required", false, false),
        ACTION("3ds_required", false, true),
        OK_("3ds_required", true, false),
        ACTION("3ds_unless_off_session", false, false),
        OK_("3ds_unless_off_session", false, true),
        OK_("3ds_unless_off_session", true, false),
        ACTION("3ds_then_insufficient", false, false),
        DECL("3ds_then_insufficient", true, false, "card_declined", "insufficient_funds",
             FUNDS_MSG),
        ACTION("3ds_then_decline", false, false),
        DECL("3ds_then_decline", true, false, "card_declined", "generic_decline", DECLINED_MSG),
    };
    return cr_make_param_array(struct auth_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct auth_case *c, sandbox, authorize)
{
    char token[PAY_TOKEN_LEN_MAX];
    snprintf(token, sizeof(token), "tok_sandbox_%s", c->scenario);
    struct pay_conn_request req = {
        .token = token,
        .amount_minor = 2000,
        .currency = "usd",
        .reference = "pi_test",
        .three_ds_completed = c->three_ds_completed,
        .off_session = c->off_session,
    };
    struct pay_conn_result res;
    memset(&res, 0x55, sizeof(res));
    cr_assert_eq(sbx()->authorize(&req, &res), PAY_OK, "%s", c->scenario);
    cr_assert_eq(res.status, c->status, "%s 3ds=%d off=%d: status %d", c->scenario,
                 c->three_ds_completed, c->off_session, res.status);
    cr_assert_str_eq(res.code, c->code, "%s", c->scenario);
    cr_assert_str_eq(res.decline_code, c->decline_code, "%s", c->scenario);
    cr_assert_str_eq(res.message, c->message, "%s", c->scenario);
    cr_assert(pay_id_valid(res.provider_ref, "sbx"), "%s", res.provider_ref);
}

/* From raw card numbers to outcomes, through the tokenizer. */
Test(sandbox, numbers_end_to_end)
{
    struct {
        const char *number;
        enum pay_conn_status status;
        const char *decline_code;
    } cases[] = {
        {"4242424242424242", PAY_CONN_SUCCEEDED, ""},
        {"4000000000009995", PAY_CONN_DECLINED, "insufficient_funds"},
        {"4000002760003184", PAY_CONN_REQUIRES_ACTION, ""},
        {"4000000000000341", PAY_CONN_DECLINED, "generic_decline"},
        {"4111111111111111", PAY_CONN_SUCCEEDED, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pay_card_info info;
        char token[PAY_TOKEN_LEN_MAX];
        struct pay_error err;
        pay_error_clear(&err);
        cr_assert_eq(pay_card_tokenize(cases[i].number, 12, 2039, "123", "k", 1749945600, &info,
                                       token, &err),
                     PAY_OK, "%s: %s", cases[i].number, err.message);
        struct pay_conn_request req = {.token = token, .amount_minor = 100, .currency = "usd"};
        struct pay_conn_result res;
        cr_assert_eq(sbx()->authorize(&req, &res), PAY_OK);
        cr_assert_eq(res.status, cases[i].status, "%s", cases[i].number);
        cr_assert_str_eq(res.decline_code, cases[i].decline_code);
    }
}

Test(sandbox, references_are_fresh)
{
    struct pay_conn_request req = {.token = "tok_sandbox_success", .amount_minor = 1};
    struct pay_conn_result a, b;
    cr_assert_eq(sbx()->authorize(&req, &a), PAY_OK);
    cr_assert_eq(sbx()->authorize(&req, &b), PAY_OK);
    cr_assert_str_neq(a.provider_ref, b.provider_ref);
}

Test(sandbox, refuses_foreign_tokens_and_bad_amounts)
{
    const char *bad[] = {
        "tok_visa", "tok_sandbox_", "tok_sandbox_nope", "pm_card_visa", "tok_sandbox_success ", "",
        NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pay_conn_request req = {.token = bad[i], .amount_minor = 100};
        struct pay_conn_result res;
        cr_assert_eq(sbx()->authorize(&req, &res), PAY_ERR_PARAM_INVALID, "%s",
                     bad[i] ? bad[i] : "NULL");
        cr_assert_eq(res.status, PAY_CONN_FAILED);
        cr_assert_null(pay_sandbox_scenario(bad[i]));
    }
    struct pay_conn_request req = {.token = "tok_sandbox_success", .amount_minor = -1};
    struct pay_conn_result res;
    cr_assert_eq(sbx()->authorize(&req, &res), PAY_ERR_AMOUNT_INVALID);
    req.amount_minor = PAY_AMOUNT_MAX_MINOR + 1;
    cr_assert_eq(sbx()->authorize(&req, &res), PAY_ERR_AMOUNT_INVALID);
    req.amount_minor = PAY_AMOUNT_MAX_MINOR;
    cr_assert_eq(sbx()->authorize(&req, &res), PAY_OK);
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);
}

Test(sandbox, capture_cancel_refund)
{
    struct pay_conn_request req = {.token = "tok_sandbox_success", .amount_minor = 5000};
    struct pay_conn_result auth, res;
    cr_assert_eq(sbx()->authorize(&req, &auth), PAY_OK);

    cr_assert_eq(sbx()->capture(auth.provider_ref, 3000, &res), PAY_OK);
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);
    cr_assert_str_eq(res.provider_ref, auth.provider_ref);

    cr_assert_eq(sbx()->refund(auth.provider_ref, 1000, &res), PAY_OK);
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);
    cr_assert(pay_id_valid(res.provider_ref, "sbx"));
    cr_assert_str_neq(res.provider_ref, auth.provider_ref, "a refund has its own reference");

    cr_assert_eq(sbx()->cancel(auth.provider_ref, &res), PAY_OK);
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);

    /* Any sandbox reference works: the sandbox keeps no state. */
    cr_assert_eq(sbx()->capture("sbx_abc123", 1, &res), PAY_OK);
    cr_assert_eq(res.status, PAY_CONN_SUCCEEDED);

    const char *bad[] = {"ch_123", "sbx_", "", "sbx_!!", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(sbx()->capture(bad[i], 1, &res), PAY_ERR_PARAM_INVALID);
        cr_assert_eq(res.status, PAY_CONN_FAILED);
        cr_assert_eq(sbx()->cancel(bad[i], &res), PAY_ERR_PARAM_INVALID);
        cr_assert_eq(sbx()->refund(bad[i], 1, &res), PAY_ERR_PARAM_INVALID);
    }
    cr_assert_eq(sbx()->refund(auth.provider_ref, -5, &res), PAY_ERR_AMOUNT_INVALID);
}

Test(sandbox, verify_before_saving)
{
    struct {
        const char *scenario;
        enum pay_conn_status status;
        const char *decline_code;
    } cases[] = {
        {"success", PAY_CONN_SUCCEEDED, ""},
        {"charge_fails", PAY_CONN_SUCCEEDED, ""},
        {"3ds_required", PAY_CONN_SUCCEEDED, ""},
        {"3ds_then_decline", PAY_CONN_SUCCEEDED, ""},
        {"dispute", PAY_CONN_SUCCEEDED, ""},
        {"generic_decline", PAY_CONN_DECLINED, "generic_decline"},
        {"insufficient_funds", PAY_CONN_DECLINED, "insufficient_funds"},
        {"expired_card", PAY_CONN_DECLINED, "expired_card"},
        {"fraudulent", PAY_CONN_DECLINED, "fraudulent"},
    };
    cr_assert_not_null(sbx()->verify);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char token[PAY_TOKEN_LEN_MAX];
        snprintf(token, sizeof(token), "tok_sandbox_%s", cases[i].scenario);
        struct pay_conn_result res;
        cr_assert_eq(sbx()->verify(token, &res), PAY_OK);
        cr_assert_eq(res.status, cases[i].status, "%s", cases[i].scenario);
        cr_assert_str_eq(res.decline_code, cases[i].decline_code, "%s", cases[i].scenario);
    }
    struct pay_conn_result res;
    cr_assert_eq(sbx()->verify("tok_visa", &res), PAY_ERR_PARAM_INVALID);
}

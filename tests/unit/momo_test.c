/*
 * momo_test.c - the mobile money connector (src/connectors/momo.c) against
 * the simulator (src/sim/momo_sim.c) on 127.0.0.1: UUIDs, the bytes of a
 * request-to-pay per profile and currency exponent, the status parser,
 * token caching, duplicate references, refused credentials, a provider
 * down (safe to fall back), a timeout (ambiguous, then settled by status),
 * failure reasons, the OTP step, and the callback the simulator sends.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/momo.h"
#include "http/raw_server.h"
#include "sim/sim.h"

/* ---- Pure parts ------------------------------------------------------------ */

Test(momo, uuid4_fresh_and_valid)
{
    char a[PAY_MOMO_REF_LEN], b[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(a);
    pay_momo_uuid4(b);
    cr_assert(pay_momo_uuid4_valid(a));
    cr_assert(pay_momo_uuid4_valid(b));
    cr_assert_str_neq(a, b);
    cr_assert_eq(a[14], '4');
    cr_assert(!pay_momo_uuid4_valid("1b4e28ba-2fa1-11d2-883f-0016d3cca427")); /* v1 */
    cr_assert(!pay_momo_uuid4_valid("1b4e28ba-2fa1-41d2-c83f-0016d3cca427")); /* variant */
    cr_assert(!pay_momo_uuid4_valid("1b4e28ba2fa141d2883f0016d3cca427"));
    cr_assert(!pay_momo_uuid4_valid("pi_123"));
    cr_assert(pay_momo_uuid4_valid("1B4E28BA-2FA1-41D2-883F-0016D3CCA427"));
}

Test(momo, msisdn_rules)
{
    cr_assert(pay_momo_msisdn_valid("46733123450"));
    cr_assert(!pay_momo_msisdn_valid("+46733123450"));
    cr_assert(!pay_momo_msisdn_valid("12345"));
    cr_assert(!pay_momo_msisdn_valid("1234567890123456"));
    cr_assert(!pay_momo_msisdn_valid(NULL));
}

Test(momo, rtp_body_mtn_exact)
{
    const struct pay_momo_rtp rtp = {
        .amount_minor = 1250,
        .currency = pay_currency_find("eur"),
        .external_id = "pi_abc",
        .payer_msisdn = "46733123453",
        .payer_message = "Clinic visit",
        .payee_note = "payd",
    };
    char *body = NULL;
    cr_assert_eq(pay_momo_build_rtp(pay_momo_profile_find("mtn_momo"), &rtp, &body, NULL), PAY_OK);
    cr_assert_str_eq(body, "{\"amount\":\"12.50\",\"currency\":\"EUR\",\"externalId\":\"pi_abc\","
                           "\"payer\":{\"partyIdType\":\"MSISDN\",\"partyId\":\"46733123453\"},"
                           "\"payerMessage\":\"Clinic visit\",\"payeeNote\":\"payd\"}");
    free(body);
}

Test(momo, rtp_body_profiles_and_exponents)
{
    struct pay_momo_rtp rtp = {
        .amount_minor = 1000,
        .currency = pay_currency_find("jpy"),
        .external_id = "pi_x",
        .payer_msisdn = "249912345678",
    };
    char *body = NULL;
    cr_assert_eq(pay_momo_build_rtp(pay_momo_profile_find("zain_cash"), &rtp, &body, NULL), PAY_OK);
    cr_assert_str_eq(body, "{\"amount\":\"1000\",\"currency\":\"JPY\",\"orderId\":\"pi_x\","
                           "\"msisdn\":\"249912345678\",\"description\":\"\","
                           "\"merchantNote\":\"\"}");
    free(body);
    rtp.amount_minor = 1234;
    rtp.currency = pay_currency_find("kwd");
    cr_assert_eq(pay_momo_build_rtp(pay_momo_profile_find("sudani_cash"), &rtp, &body, NULL),
                 PAY_OK);
    cr_assert_str_eq(body, "{\"amount\":\"1.234\",\"currency\":\"KWD\",\"merchantReference\":"
                           "\"pi_x\",\"customer\":{\"idType\":\"MSISDN\",\"mobileNumber\":"
                           "\"249912345678\"},\"message\":\"\",\"note\":\"\"}");
    free(body);
    rtp.amount_minor = 5;
    rtp.currency = pay_currency_find("sdg");
    cr_assert_eq(pay_momo_build_rtp(pay_momo_profile_find("bankak"), &rtp, &body, NULL), PAY_OK);
    cr_assert(strstr(body, "\"amount\":\"0.05\"") != NULL);
    cr_assert(strstr(body, "\"debtor\":{\"phone\":\"249912345678\"}") != NULL);
    free(body);
}

Test(momo, rtp_body_refuses_bad_input)
{
    struct pay_error err = {0};
    struct pay_momo_rtp rtp = {
        .amount_minor = 0, .currency = pay_currency_find("usd"), .payer_msisdn = "46733123450"};
    char *body = NULL;
    const struct pay_momo_profile *p = pay_momo_profile_find("mtn_momo");
    cr_assert_eq(pay_momo_build_rtp(p, &rtp, &body, &err), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "amount");
    rtp.amount_minor = 100;
    rtp.payer_msisdn = "0912 345";
    cr_assert_eq(pay_momo_build_rtp(p, &rtp, &body, &err), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "payer");
    cr_assert_null(body);
}

Test(momo, parse_status_shapes)
{
    const struct pay_momo_profile *p = pay_momo_profile_find("mtn_momo");
    struct pay_momo_result r;
    memset(&r, 0, sizeof(r));
    const char *ok = "{\"financialTransactionId\":\"123\",\"externalId\":\"pi_1\",\"amount\":\"5\","
                     "\"currency\":\"EUR\",\"status\":\"SUCCESSFUL\"}";
    pay_momo_parse_status(p, ok, strlen(ok), &r);
    cr_assert_eq(r.state, PAY_MOMO_SUCCESSFUL);
    cr_assert_str_eq(r.financial_id, "123");
    cr_assert_str_eq(r.external_id, "pi_1");
    cr_assert_str_eq(r.amount, "5");
    const char *failed = "{\"status\":\"FAILED\",\"reason\":\"NOT_ENOUGH_FUNDS\"}";
    pay_momo_parse_status(p, failed, strlen(failed), &r);
    cr_assert_eq(r.state, PAY_MOMO_FAILED);
    cr_assert_str_eq(r.reason, "NOT_ENOUGH_FUNDS");
    const char *old = "{\"status\":\"FAILED\",\"reason\":{\"code\":\"PAYER_NOT_FOUND\"}}";
    pay_momo_parse_status(p, old, strlen(old), &r);
    cr_assert_str_eq(r.reason, "PAYER_NOT_FOUND");
    const char *odd = "{\"status\":\"FAILED\",\"reason\":\"BAD REASON\\\"<x>\"}";
    pay_momo_parse_status(p, odd, strlen(odd), &r);
    cr_assert_str_eq(r.reason, "BAD_REASON____");
    const char *bare = "{\"status\":\"FAILED\"}";
    pay_momo_parse_status(p, bare, strlen(bare), &r);
    cr_assert_str_eq(r.reason, "INTERNAL_PROCESSING_ERROR");
    pay_momo_parse_status(p, "[1]", 3, &r);
    cr_assert_eq(r.state, PAY_MOMO_UNKNOWN);
    pay_momo_parse_status(p, "{\"status\":\"WEIRD\"}", 18, &r);
    cr_assert_eq(r.state, PAY_MOMO_UNKNOWN);
    const char *zain = "{\"status\":\"success\",\"transactionId\":99}";
    pay_momo_parse_status(pay_momo_profile_find("zain_cash"), zain, strlen(zain), &r);
    cr_assert_eq(r.state, PAY_MOMO_SUCCESSFUL);
    cr_assert_str_eq(r.financial_id, "99");
}

Test(momo, decline_codes)
{
    cr_assert_str_eq(pay_momo_decline_code("NOT_ENOUGH_FUNDS"), "insufficient_funds");
    cr_assert_str_eq(pay_momo_decline_code("PAYER_NOT_FOUND"), "invalid_account");
    cr_assert_str_eq(pay_momo_decline_code("SERVICE_UNAVAILABLE"), "issuer_not_available");
    cr_assert_str_eq(pay_momo_decline_code("SOMETHING_NEW"), "generic_decline");
}

/* ---- Against the simulator -------------------------------------------------- */

static struct pay_momo_sim *sim;
static char base_url[64];

static void sim_up(void)
{
    pay_log_init(PAY_LOG_ERROR);
    pay_momo_token_cache_clear();
    const struct pay_momo_sim_config c = {
        .listen = "127.0.0.1:0",
        .pending_ms = 200,
        .expire_ms = 200,
        .slow_ms = 1500,
        .quiet = true,
    };
    struct pay_error err = {0};
    cr_assert_eq(pay_momo_sim_start(&c, &sim, &err), PAY_OK, "%s", err.message);
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", pay_momo_sim_port(sim));
}

static void sim_down(void)
{
    pay_momo_sim_stop(sim);
    sim = NULL;
}

static struct pay_momo_config config(const char *profile)
{
    struct pay_momo_config c = {
        .profile = pay_momo_profile_find(profile),
        .base_url = base_url,
        .api_user = PAY_MOMO_SIM_API_USER,
        .api_key = PAY_MOMO_SIM_API_KEY,
        .subscription_key = PAY_MOMO_SIM_SUBSCRIPTION_KEY,
        .target_environment = "sandbox",
        .timeout_ms = 5000,
    };
    return c;
}

static struct pay_momo_rtp rtp_for(const char *msisdn)
{
    struct pay_momo_rtp r = {
        .amount_minor = 1500,
        .currency = pay_currency_find("sdg"),
        .external_id = "pi_test",
        .payer_msisdn = msisdn,
    };
    return r;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Poll the status until it leaves PENDING (bounded). */
static struct pay_momo_result status_until_final(const struct pay_momo_config *c, const char *ref)
{
    struct pay_momo_result r;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(pay_momo_status(c, ref, &r, NULL), PAY_OK);
        if (r.state != PAY_MOMO_PENDING) {
            break;
        }
        sleep_ms(50);
    }
    return r;
}

Test(momo_sim, pay_success_and_token_cached, .init = sim_up, .fini = sim_down)
{
    struct pay_momo_config c = config("mtn_momo");
    struct pay_momo_rtp rtp = rtp_for("46733999999");
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_PENDING, "%s", r.message);
    cr_assert_eq(r.http_status, 202);
    r = status_until_final(&c, ref);
    cr_assert_eq(r.state, PAY_MOMO_SUCCESSFUL);
    cr_assert_str_eq(r.amount, "15.00");
    cr_assert_str_eq(r.currency, "SDG");
    cr_assert_str_eq(r.external_id, "pi_test");
    cr_assert_neq(r.financial_id[0], '\0');
    /* Three calls, one token. */
    cr_assert_eq(pay_momo_sim_tokens_issued(sim), 1);
}

Test(momo_sim, duplicate_reference_is_409, .init = sim_up, .fini = sim_down)
{
    struct pay_momo_config c = config("mtn_momo");
    struct pay_momo_rtp rtp = rtp_for("46733999999");
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_PENDING);
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_REFUSED);
    cr_assert_eq(r.http_status, 409);
    cr_assert_str_eq(r.reason, "RESOURCE_ALREADY_EXIST");
}

Test(momo_sim, wrong_credentials_refused, .init = sim_up, .fini = sim_down)
{
    struct pay_momo_config c = config("mtn_momo");
    c.api_key = "wrong";
    struct pay_momo_rtp rtp = rtp_for("46733999999");
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_REFUSED);
    cr_assert_str_eq(r.reason, "UNAUTHORIZED");
    cr_assert_eq(pay_momo_sim_tokens_issued(sim), 0);
}

Test(momo_sim, failure_reasons, .init = sim_up, .fini = sim_down)
{
    static const struct {
        const char *msisdn, *reason;
    } cases[] = {
        {"46733123450", "INTERNAL_PROCESSING_ERROR"},
        {"46733123451", "APPROVAL_REJECTED"},
        {"46733123452", "EXPIRED"},
        {"46733123455", "PAYER_NOT_FOUND"},
        {"46733123456", "NOT_ENOUGH_FUNDS"},
        {"46733123457", "PAYER_LIMIT_REACHED"},
        {"46733123458", "SERVICE_UNAVAILABLE"},
    };
    struct pay_momo_config c = config("mtn_momo");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pay_momo_rtp rtp = rtp_for(cases[i].msisdn);
        char ref[PAY_MOMO_REF_LEN];
        pay_momo_uuid4(ref);
        struct pay_momo_result r;
        cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
        cr_assert_eq(r.state, PAY_MOMO_PENDING);
        r = status_until_final(&c, ref);
        cr_assert_eq(r.state, PAY_MOMO_FAILED, "%s", cases[i].msisdn);
        cr_assert_str_eq(r.reason, cases[i].reason);
    }
}

Test(momo_sim, provider_down_is_safe, .init = sim_up, .fini = sim_down)
{
    struct pay_momo_config c = config("mtn_momo");
    struct pay_momo_rtp rtp = rtp_for("46733123459"); /* answered 500 */
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_UNAVAILABLE);
    cr_assert_eq(r.http_status, 500);
    cr_assert_eq(pay_momo_status(&c, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_NOT_FOUND);
    /* Nobody listening: connection refused. */
    char closed[64];
    snprintf(closed, sizeof(closed), "%s", base_url);
    sim_down();
    c.base_url = closed;
    pay_momo_uuid4(ref);
    struct pay_momo_rtp ok = rtp_for("46733999999");
    cr_assert_eq(pay_momo_request_to_pay(&c, &ok, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_UNAVAILABLE);
    sim_up();
}

Test(momo_sim, timeout_is_ambiguous_then_settles, .init = sim_up, .fini = sim_down)
{
    struct pay_momo_config c = config("mtn_momo");
    c.timeout_ms = 300;
    struct pay_momo_rtp rtp = rtp_for("46733123460"); /* 202 after 1.5 s */
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_UNKNOWN, "%s", pay_momo_state_name(r.state));
    r = status_until_final(&c, ref);
    cr_assert_eq(r.state, PAY_MOMO_SUCCESSFUL);
}

Test(momo_sim, otp_profile, .init = sim_up, .fini = sim_down)
{
    struct pay_momo_config c = config("zain_cash");
    struct pay_momo_rtp rtp = rtp_for("249912345678");
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_PENDING);
    cr_assert_eq(pay_momo_status(&c, ref, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_PENDING);
    char otp[8];
    cr_assert(pay_momo_sim_otp(sim, ref, otp));
    char wrong[8];
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(otp) + 1) % 1000000);
    cr_assert_eq(pay_momo_submit_otp(&c, ref, wrong, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_REFUSED);
    cr_assert_str_eq(r.reason, "OTP_INVALID");
    cr_assert_eq(pay_momo_submit_otp(&c, ref, otp, &r, NULL), PAY_OK);
    cr_assert_eq(r.state, PAY_MOMO_SUCCESSFUL, "%s", pay_momo_state_name(r.state));
    struct pay_error err = {0};
    struct pay_momo_config mtn = config("mtn_momo");
    cr_assert_eq(pay_momo_submit_otp(&mtn, ref, otp, &r, &err), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_momo_submit_otp(&c, ref, "12", &r, &err), PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "otp");
}

/* A receiver of callbacks: keeps the last body. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static char cb_body[4096];
static char cb_method[8];
static int cb_count;

static void on_callback(void *ctx, const struct pay_raw_request *req, struct pay_raw_response *resp)
{
    (void)ctx;
    pthread_mutex_lock(&cb_lock);
    snprintf(cb_body, sizeof(cb_body), "%s", req->body);
    snprintf(cb_method, sizeof(cb_method), "%s", req->method);
    cb_count++;
    pthread_mutex_unlock(&cb_lock);
    resp->status = 200;
}

Test(momo_sim, callback_sent_once, .init = sim_up, .fini = sim_down)
{
    struct pay_raw_server *rcv = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_raw_server_start("127.0.0.1:0", on_callback, NULL, &rcv, &err), PAY_OK);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/cb?x=1", pay_raw_server_port(rcv));
    struct pay_momo_config c = config("sudani_cash");
    struct pay_momo_rtp rtp = rtp_for("46733123456");
    rtp.callback_url = url;
    char ref[PAY_MOMO_REF_LEN];
    pay_momo_uuid4(ref);
    struct pay_momo_result r;
    cr_assert_eq(pay_momo_request_to_pay(&c, &rtp, ref, &r, NULL), PAY_OK);
    for (int i = 0; i < 100 && pay_momo_sim_callbacks_sent(sim) < 1; i++) {
        sleep_ms(20);
    }
    sleep_ms(100);
    pthread_mutex_lock(&cb_lock);
    cr_assert_eq(cb_count, 1);
    cr_assert_str_eq(cb_method, "PUT");
    pay_momo_parse_status(c.profile, cb_body, strlen(cb_body), &r);
    pthread_mutex_unlock(&cb_lock);
    cr_assert_eq(r.state, PAY_MOMO_FAILED);
    cr_assert_str_eq(r.reason, "NOT_ENOUGH_FUNDS");
    cr_assert_str_eq(r.external_id, "pi_test");
    pay_raw_server_stop(rcv);
}

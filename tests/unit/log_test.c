/* log_test.c - masking, and JSON lines on stderr. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static void expect_mask(const char *in, const char *want)
{
    char *m = pay_log_mask(in);
    cr_assert_not_null(m);
    cr_assert_str_eq(m, want, "mask(\"%s\") = \"%s\"", in, m);
    free(m);
}

Test(log_mask, card_numbers)
{
    expect_mask("4242424242424242", "************4242");
    expect_mask("4242 4242 4242 4242", "**** **** **** 4242");
    expect_mask("4242-4242-4242-4242", "****-****-****-4242");
    expect_mask("card 4242424242424242 declined", "card ************4242 declined");
    expect_mask("pan=4000056655665556&cvc=123", "pan=************5556&cvc=123");
    expect_mask("4222222222222", "*********2222");             /* 13 digits */
    expect_mask("6011000990139424123", "***************4123"); /* 19 digits */
    expect_mask("3782 822463 10005", "**** ****** *0005");     /* amex grouping */
    expect_mask("cards 4242424242424242 and 5555555555554444",
                "cards ************4242 and ************4444");
}

Test(log_mask, leaves_other_numbers)
{
    expect_mask("", "");
    expect_mask("amount 1250 usd", "amount 1250 usd");
    expect_mask("123456789012", "123456789012");                 /* 12 digits */
    expect_mask("12345678901234567890", "12345678901234567890"); /* one 20-digit number */
    expect_mask("+1 415-555-0100", "+1 415-555-0100");
    expect_mask("2026-11-22", "2026-11-22");
    expect_mask("4242  4242 4242 4242", "4242  4242 4242 4242"); /* double space breaks it */
    expect_mask("no secrets here: sk_ whsec eyJ", "no secrets here: sk_ whsec eyJ");
    cr_assert_null(pay_log_mask(NULL));
}

Test(log_mask, card_inside_longer_run)
{
    char *m = pay_log_mask("2026-11-22 4242 4242 4242 4242");
    cr_assert_not_null(m);
    cr_assert_null(strstr(m, "4242 4242"), "%s", m);
    cr_assert_eq(strlen(m), strlen("2026-11-22 4242 4242 4242 4242"));
    cr_assert_str_eq(m + strlen(m) - 4, "4242");
    free(m);
    m = pay_log_mask("ref 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2");
    cr_assert_not_null(m);
    cr_assert_null(strstr(m, "1 2 3 4 5 6 7 8 9 0 1 2 3"), "%s", m);
    free(m);
}

Test(log_mask, secrets)
{
    expect_mask("key sk_test_4eC39HqLyjWDarjtT1zdp7dc end", "key sk_test_4eC3\xe2\x80\xa6 end");
    expect_mask("Bearer sk_live_abcdefghijklmnop", "Bearer sk_live_abcd\xe2\x80\xa6");
    expect_mask("rk_test_abcdefgh", "rk_test_abcd\xe2\x80\xa6");
    expect_mask("secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;", "secret=whsec_MfKQ\xe2\x80\xa6;");
    expect_mask("sk_test_abc", "sk_test_abc");
    expect_mask("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                "Authorization: Bearer eyJhbG\xe2\x80\xa6");
    expect_mask("token eyJhbGciOiJIUzI1NiJ9.e30. tail", "token eyJhbG\xe2\x80\xa6. tail");
}

Test(log_mask, pathological_inputs_finish)
{
    /* Long adversarial inputs must not go quadratic (each runs in the
     * test's timeout; criterion kills a hung test). */
    const size_t n = 2 * 1000 * 1000;
    char *s = malloc(n + 1);
    static const char *const patterns[] = {"1-", "1 ", "12", "sk_test_", "eyJ.", "4242 "};
    for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++) {
        size_t pl = strlen(patterns[k]);
        for (size_t i = 0; i < n; i++) {
            s[i] = patterns[k][i % pl];
        }
        s[n] = '\0';
        char *m = pay_log_mask(s);
        cr_assert_not_null(m);
        free(m);
    }
    free(s);
}

/* Capture stderr in a temporary file for the duration of a test. */
static FILE *capture;
static int saved_stderr = -1;

static void capture_start(void)
{
    capture = tmpfile();
    cr_assert_not_null(capture);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
}

/* Returns the captured text (free() it). */
static char *capture_stop(void)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    off_t n = lseek(fileno(capture), 0, SEEK_END);
    cr_assert_geq(n, 0);
    char *text = calloc(1, (size_t)n + 1);
    cr_assert_not_null(text);
    cr_assert_eq(pread(fileno(capture), text, (size_t)n, 0), n);
    fclose(capture);
    return text;
}

Test(log, one_json_line_with_masked_fields)
{
    pay_log_init(PAY_LOG_INFO);
    capture_start();
    json_t *fields =
        json_pack("{s:s, s:i, s:{s:s}, s:[s]}", "card", "4242 4242 4242 4242", "status", 402,
                  "nested", "key", "sk_test_abcdefgh12345678", "list", "5555555555554444");
    pay_log(PAY_LOG_WARN, "req_123", "charge failed for 4242424242424242", fields);
    json_decref(fields);
    char *text = capture_stop();

    cr_assert_eq(text[strlen(text) - 1], '\n');
    cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line: %s", text);
    cr_assert_null(strstr(text, "4242424242424242"));
    cr_assert_null(strstr(text, "4242 4242 4242 4242"));
    cr_assert_null(strstr(text, "abcdefgh12345678"));
    cr_assert_null(strstr(text, "5555555555554444"));
    json_error_t jerr;
    json_t *line = json_loads(text, 0, &jerr);
    cr_assert_not_null(line, "%s: %s", text, jerr.text);
    const char *ts = pay_json_str(line, "ts");
    cr_assert_not_null(ts);
    cr_assert_eq(strlen(ts), strlen("2026-11-22T03:58:50.123Z"), "%s", ts);
    cr_assert_eq(ts[10], 'T');
    cr_assert_eq(ts[19], '.');
    cr_assert_eq(ts[23], 'Z');
    cr_assert_str_eq(pay_json_str(line, "level"), "warn");
    cr_assert_str_eq(pay_json_str(line, "msg"), "charge failed for ************4242");
    cr_assert_str_eq(pay_json_str(line, "request_id"), "req_123");
    cr_assert_str_eq(pay_json_str(line, "card"), "**** **** **** 4242");
    cr_assert_eq(pay_json_int(line, "status", 0), 402);
    cr_assert_str_eq(pay_json_str(json_object_get(line, "nested"), "key"),
                     "sk_test_abcd\xe2\x80\xa6");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(line, "list"), 0)),
                     "************4444");
    /* fixed keys come first, in order */
    cr_assert_eq(strncmp(text, "{\"ts\":", 6), 0, "%s", text);
    cr_assert_not_null(strstr(text, "\"level\":\"warn\",\"msg\":"));
    json_decref(line);
    free(text);
}

Test(log, level_filter_and_no_request_id)
{
    pay_log_init(PAY_LOG_WARN);
    capture_start();
    pay_log(PAY_LOG_INFO, NULL, "hidden", NULL);
    pay_logf(PAY_LOG_DEBUG, NULL, "hidden %d", 1);
    pay_logf(PAY_LOG_ERROR, NULL, "shown %d", 2);
    char *text = capture_stop();
    cr_assert_null(strstr(text, "hidden"));
    json_t *line = json_loads(text, 0, NULL);
    cr_assert_not_null(line, "%s", text);
    cr_assert_str_eq(pay_json_str(line, "msg"), "shown 2");
    cr_assert_str_eq(pay_json_str(line, "level"), "error");
    cr_assert_null(json_object_get(line, "request_id"));
    json_decref(line);
    free(text);
}

Test(log, fields_cannot_override_fixed_keys)
{
    pay_log_init(PAY_LOG_DEBUG);
    capture_start();
    json_t *fields = json_pack("{s:s, s:s, s:s}", "msg", "forged", "level", "debug", "x", "y");
    pay_log(PAY_LOG_INFO, NULL, "real", fields);
    json_decref(fields);
    char *text = capture_stop();
    json_t *line = json_loads(text, 0, NULL);
    cr_assert_not_null(line, "%s", text);
    cr_assert_str_eq(pay_json_str(line, "msg"), "real");
    cr_assert_str_eq(pay_json_str(line, "level"), "info");
    cr_assert_str_eq(pay_json_str(line, "x"), "y");
    json_decref(line);
    free(text);
}

#define N_THREADS 8
#define N_LINES 200

static void *log_worker(void *arg)
{
    (void)arg;
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < N_LINES; i++) {
        pay_logf(PAY_LOG_INFO, "req_t", "%d %s", i, big);
    }
    return NULL;
}

Test(log, threads_never_interleave)
{
    pay_log_init(PAY_LOG_INFO);
    capture_start();
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        pthread_create(&t[i], NULL, log_worker, NULL);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    char *text = capture_stop();
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        cr_assert_not_null(j, "line %d is not JSON", lines);
        json_decref(j);
        lines++;
    }
    cr_assert_eq(lines, N_THREADS * N_LINES);
    free(text);
}

Test(log, level_parse)
{
    enum pay_log_level l = PAY_LOG_ERROR;
    cr_assert(pay_log_level_parse("debug", &l));
    cr_assert_eq(l, PAY_LOG_DEBUG);
    cr_assert(pay_log_level_parse("info", &l));
    cr_assert_eq(l, PAY_LOG_INFO);
    cr_assert(pay_log_level_parse("warn", &l));
    cr_assert_eq(l, PAY_LOG_WARN);
    cr_assert(pay_log_level_parse("ERROR", &l));
    cr_assert_eq(l, PAY_LOG_ERROR);
    cr_assert_not(pay_log_level_parse("verbose", &l));
    cr_assert_not(pay_log_level_parse("", &l));
    cr_assert_not(pay_log_level_parse(NULL, &l));
}

Test(log, patient_fields_redacted_at_any_depth)
{
    pay_log_init(PAY_LOG_INFO);
    capture_start();
    json_t *fields =
        json_pack("{s:s, s:{s:s, s:s, s:i}, s:[{s:s}], s:n, s:s}", "name", "Amira Osman",
                  "customer", "email", "amira@example.org", "Phone", "+249912345678", "age", 41,
                  "list", "description", "diabetic, insulin", "address", "route", "/v1/customers");
    pay_log(PAY_LOG_INFO, NULL, "customer updated", fields);
    json_decref(fields);
    char *text = capture_stop();
    cr_assert_null(strstr(text, "Amira"), "%s", text);
    cr_assert_null(strstr(text, "amira@"), "%s", text);
    cr_assert_null(strstr(text, "912345678"), "%s", text);
    cr_assert_null(strstr(text, "insulin"), "%s", text);
    json_error_t jerr;
    json_t *line = json_loads(text, 0, &jerr);
    cr_assert_not_null(line, "%s", text);
    cr_assert_str_eq(pay_json_str(line, "name"), "[redacted]");
    cr_assert_str_eq(pay_json_str(json_object_get(line, "customer"), "email"), "[redacted]");
    cr_assert_eq(pay_json_int(json_object_get(line, "customer"), "age", 0), 41);
    cr_assert(json_is_null(json_object_get(line, "address")), "null stays null");
    cr_assert_str_eq(pay_json_str(line, "route"), "/v1/customers");
    json_decref(line);
    free(text);
}

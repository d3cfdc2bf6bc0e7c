/*
 * form_test.c - pay_form_decode (Stripe bracket forms) and pay_json_decode:
 * the tree each produces, and every refusal with the key it names.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static json_t *form_ok(const char *body)
{
    json_t *out = NULL;
    struct pay_error err = {0};
    enum pay_err e = pay_form_decode(body, strlen(body), &out, &err);
    cr_assert_eq(e, PAY_OK, "decode(%s): %s (%s)", body, pay_err_str(e), err.message);
    cr_assert_not_null(out);
    return out;
}

static void expect_form(const char *body, const char *json)
{
    json_t *got = form_ok(body);
    json_t *want = json_loads(json, 0, NULL);
    cr_assert_not_null(want, "bad expectation %s", json);
    char *g = json_dumps(got, JSON_COMPACT);
    cr_assert(json_equal(got, want), "decode(%s) = %s, want %s", body, g, json);
    /* Order matters too: arrays come out in index order. */
    char *w = json_dumps(want, JSON_COMPACT);
    cr_assert_str_eq(g, w);
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
}

static void expect_form_error(const char *body, const char *param)
{
    json_t *out = NULL;
    struct pay_error err = {0};
    enum pay_err e = pay_form_decode(body, strlen(body), &out, &err);
    cr_assert_eq(e, PAY_ERR_BODY_INVALID, "decode(%.60s) = %s, want body_invalid", body,
                 pay_err_str(e));
    cr_assert_null(out);
    cr_assert_eq(err.code, PAY_ERR_BODY_INVALID);
    cr_assert_neq(err.message[0], '\0');
    if (param) {
        cr_assert_str_eq(err.param, param, "decode(%.60s) named %s, want %s", body, err.param,
                         param);
    }
}

Test(form, empty_body_is_empty_object)
{
    expect_form("", "{}");
    expect_form("&&", "{}");
}

Test(form, flat_pairs)
{
    expect_form("amount=1000&currency=usd", "{\"amount\":\"1000\",\"currency\":\"usd\"}");
    expect_form("a=&b", "{\"a\":\"\",\"b\":\"\"}");
    expect_form("a=1&&b=2&", "{\"a\":\"1\",\"b\":\"2\"}");
    expect_form("a=x=y", "{\"a\":\"x=y\"}");
}

Test(form, percent_and_plus)
{
    expect_form("d=hello+world%21", "{\"d\":\"hello world!\"}");
    expect_form("d=%2B%26%3d", "{\"d\":\"+&=\"}");
    expect_form("d=caf%C3%A9", "{\"d\":\"caf\\u00e9\"}");
    expect_form("my+key=1", "{\"my key\":\"1\"}");
    expect_form("metadata%5Border%5D=42", "{\"metadata\":{\"order\":\"42\"}}");
}

Test(form, bad_percent_escapes)
{
    expect_form_error("d=%", "d");
    expect_form_error("d=%4", "d");
    expect_form_error("d=%zz", "d");
    expect_form_error("d=abc%G1", "d");
    expect_form_error("d%x=1", "d%x");
    expect_form_error("d=%00", "d");       /* NUL */
    expect_form_error("d=%C3", "d");       /* truncated UTF-8 */
    expect_form_error("d=%C0%AF", "d");    /* overlong */
    expect_form_error("d=%ED%A0%80", "d"); /* surrogate */
}

Test(form, nested_objects)
{
    expect_form("metadata[order]=42&metadata[ref]=x",
                "{\"metadata\":{\"order\":\"42\",\"ref\":\"x\"}}");
    expect_form("card[exp][month]=12&card[exp][year]=2030&card[number]=4242",
                "{\"card\":{\"exp\":{\"month\":\"12\",\"year\":\"2030\"},\"number\":\"4242\"}}");
}

Test(form, arrays)
{
    expect_form("expand[]=customer&expand[]=payment_method",
                "{\"expand\":[\"customer\",\"payment_method\"]}");
    expect_form("expand[0]=customer&expand[1]=invoice", "{\"expand\":[\"customer\",\"invoice\"]}");
    expect_form("items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2",
                "{\"items\":[{\"price\":\"p1\",\"quantity\":\"2\"},{\"price\":\"p2\"}]}");
    /* Sparse and out of order: compacted in index order. */
    expect_form("a[7]=z&a[2]=y&a[0]=x", "{\"a\":[\"x\",\"y\",\"z\"]}");
    expect_form("a[5]=x", "{\"a\":[\"x\"]}");
    /* Appends continue after the highest index. */
    expect_form("a[3]=x&a[]=y&a[1]=w", "{\"a\":[\"w\",\"x\",\"y\"]}");
    /* Nested arrays. */
    expect_form("m[0][1]=b&m[0][0]=a&m[1][0]=c", "{\"m\":[[\"a\",\"b\"],[\"c\"]]}");
}

Test(form, metadata_keys_are_never_indexes)
{
    expect_form("metadata[0]=x&metadata[1]=y", "{\"metadata\":{\"0\":\"x\",\"1\":\"y\"}}");
    expect_form("metadata[7]=x&metadata[name]=y", "{\"metadata\":{\"7\":\"x\",\"name\":\"y\"}}");
    expect_form("items[0][metadata][3]=x", "{\"items\":[{\"metadata\":{\"3\":\"x\"}}]}");
}

Test(form, conflicts_name_the_key)
{
    expect_form_error("a=1&a[b]=2", "a");
    expect_form_error("a[b]=2&a=1", "a");
    expect_form_error("a[b][c]=1&a[b]=2", "a[b]");
    expect_form_error("a[0]=1&a[b]=2", "a");
    expect_form_error("a[b]=1&a[0]=2", "a");
    expect_form_error("a[]=1&a[x]=2", "a");
    expect_form_error("a=1&a=2", "a");
    expect_form_error("a[0]=1&a[0]=2", "a[0]");
    expect_form_error("a[0]=1&a[00]=2", "a[00]");
    expect_form_error("amount=100&amount=9999", "amount");
}

Test(form, malformed_brackets)
{
    expect_form_error("a[b=1", "a[b");
    expect_form_error("a]b=1", "a]b");
    expect_form_error("a[b]c=1", "a[b]c");
    expect_form_error("a[b[c]]=1", "a[b[c]]");
    expect_form_error("[a]=1", "[a]");
    expect_form_error("=1", NULL);
    expect_form_error("a[][b]=1", "a[]");
}

Test(form, huge_index_refused)
{
    expect_form_error("a[100000]=x", "a[100000]");
    expect_form_error("a[256]=x", "a[256]");
    expect_form_error("a[99999999999999999999]=x", NULL);
    expect_form("a[255]=x", "{\"a\":[\"x\"]}");
}

Test(form, depth_limit)
{
    /* The top-level object is depth 1: "a" plus 15 brackets is depth 16. */
    char ok[256] = "a";
    for (int i = 1; i < PAY_JSON_DEPTH_MAX; i++) {
        strcat(ok, "[b]");
    }
    strcat(ok, "=1");
    json_decref(form_ok(ok));

    char deep[256] = "a";
    for (int i = 0; i < PAY_JSON_DEPTH_MAX; i++) {
        strcat(deep, "[b]");
    }
    strcat(deep, "=1");
    expect_form_error(deep, NULL);
}

Test(form, array_length_limit)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    for (int i = 0; i <= PAY_ARRAY_LEN_MAX; i++) {
        cr_assert_eq(pay_buf_addf(&b, "a[]=%d&", i), PAY_OK);
    }
    expect_form_error(b.data, "a");
    pay_buf_release(&b);
}

Test(form, object_keys_limit)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    for (int i = 0; i < PAY_OBJECT_KEYS_MAX; i++) {
        cr_assert_eq(pay_buf_addf(&b, "m[k%d]=1&", i), PAY_OK);
    }
    json_decref(form_ok(b.data));
    cr_assert_eq(pay_buf_adds(&b, "m[one_more]=1"), PAY_OK);
    expect_form_error(b.data, "m");
    pay_buf_release(&b);
}

Test(form, string_length_limit)
{
    size_t n = PAY_STRING_LEN_MAX + 1;
    char *body = malloc(n + 3);
    memcpy(body, "d=", 2);
    memset(body + 2, 'x', n);
    body[n + 2] = '\0';
    expect_form_error(body, "d");
    body[n + 1] = '\0'; /* exactly the limit */
    json_decref(form_ok(body));
    free(body);
}

Test(form, not_nul_terminated_input)
{
    const char buf[] = "a=1&b=2GARBAGE";
    json_t *out = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_form_decode(buf, 7, &out, &err), PAY_OK);
    cr_assert_str_eq(json_string_value(json_object_get(out, "b")), "2");
    cr_assert_eq(json_object_size(out), 2);
    json_decref(out);
}

/* ---- JSON ---------------------------------------------------------------- */

static void expect_json_error(const char *body, const char *param, const char *msg_part)
{
    json_t *out = NULL;
    struct pay_error err = {0};
    enum pay_err e = pay_json_decode(body, strlen(body), &out, &err);
    cr_assert_eq(e, PAY_ERR_BODY_INVALID, "json(%.60s) = %s", body, pay_err_str(e));
    cr_assert_null(out);
    if (param) {
        cr_assert_str_eq(err.param, param);
    }
    if (msg_part) {
        cr_assert(strstr(err.message, msg_part), "message '%s' lacks '%s'", err.message, msg_part);
    }
}

Test(json, object_ok)
{
    const char *body = "{\"amount\":1000,\"metadata\":{\"a\":\"b\"},\"items\":[{\"x\":1}]}";
    json_t *out = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_json_decode(body, strlen(body), &out, &err), PAY_OK);
    cr_assert_eq(json_integer_value(json_object_get(out, "amount")), 1000);
    json_decref(out);
}

Test(json, empty_body_is_empty_object)
{
    json_t *out = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_json_decode("", 0, &out, &err), PAY_OK);
    cr_assert(json_is_object(out));
    cr_assert_eq(json_object_size(out), 0);
    json_decref(out);
}

Test(json, must_be_object)
{
    expect_json_error("[1,2]", NULL, "object");
    expect_json_error("42", NULL, NULL);
    expect_json_error("\"x\"", NULL, NULL);
    expect_json_error("null", NULL, NULL);
}

Test(json, syntax_errors_carry_position)
{
    expect_json_error("{\"a\":1,\n\"b\":}", NULL, "line 2");
    expect_json_error("{\"a\":1} junk", NULL, "column");
    expect_json_error("{\"a\":1}{}", NULL, NULL);
    expect_json_error("{\"a\":\"\\u0000\"}", NULL, NULL);
}

Test(json, duplicates_refused)
{
    expect_json_error("{\"amount\":1,\"amount\":2}", NULL, "amount");
}

/* @levels nested objects: {"a":{"a":...{"a":1}...}}. */
static void nested(char *out, int levels)
{
    out[0] = '\0';
    for (int i = 0; i < levels; i++) {
        strcat(out, i + 1 < levels ? "{\"a\":" : "{\"a\":1");
    }
    for (int i = 0; i < levels; i++) {
        strcat(out, "}");
    }
}

Test(json, depth_limit)
{
    char body[512];
    nested(body, PAY_JSON_DEPTH_MAX);
    json_t *out = NULL;
    struct pay_error err = {0};
    cr_assert_eq(pay_json_decode(body, strlen(body), &out, &err), PAY_OK, "%s", err.message);
    json_decref(out);

    nested(body, PAY_JSON_DEPTH_MAX + 1);
    expect_json_error(body, NULL, "deeper");

    /* Arrays count as levels too (root + 16 arrays = 17), and the error names
     * the path. */
    expect_json_error("{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", NULL, "a[0]");
}

Test(json, limits_apply_to_json_too)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    cr_assert_eq(pay_buf_adds(&b, "{\"items\":["), PAY_OK);
    for (int i = 0; i <= PAY_ARRAY_LEN_MAX; i++) {
        cr_assert_eq(pay_buf_addf(&b, "%s%d", i ? "," : "", i), PAY_OK);
    }
    cr_assert_eq(pay_buf_adds(&b, "]}"), PAY_OK);
    expect_json_error(b.data, "items", NULL);

    pay_buf_reset(&b);
    cr_assert_eq(pay_buf_adds(&b, "{\"items\":[{\"d\":\""), PAY_OK);
    for (int i = 0; i <= PAY_STRING_LEN_MAX; i++) {
        cr_assert_eq(pay_buf_add(&b, "x", 1), PAY_OK);
    }
    cr_assert_eq(pay_buf_adds(&b, "\"}]}"), PAY_OK);
    expect_json_error(b.data, "items[0][d]", NULL);
    pay_buf_release(&b);
}

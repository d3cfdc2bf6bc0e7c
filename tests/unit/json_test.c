/* json_test.c - jansson helpers. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

Test(json, dump_compact_in_insertion_order)
{
    json_t *o = json_object();
    pay_json_set_str(o, "id", "pi_1");
    pay_json_set_str(o, "object", "payment_intent");
    pay_json_set_int(o, "amount", 1250);
    pay_json_set_bool(o, "livemode", false);
    pay_json_set_str(o, "description", NULL);
    pay_json_set_int(o, "big", INT64_MAX);
    pay_json_set_str(o, "bad", "\xff\xfe");
    char *s = pay_json_dump(o);
    cr_assert_str_eq(s, "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"amount\":1250,"
                        "\"livemode\":false,\"description\":null,"
                        "\"big\":9223372036854775807,\"bad\":null}");
    free(s);
    cr_assert_str_eq(pay_json_str(o, "id"), "pi_1");
    cr_assert_null(pay_json_str(o, "amount"));
    cr_assert_null(pay_json_str(o, "missing"));
    cr_assert_null(pay_json_str(NULL, "id"));
    cr_assert_eq(pay_json_int(o, "amount", -1), 1250);
    cr_assert_eq(pay_json_int(o, "id", -1), -1);
    cr_assert_eq(pay_json_int(o, "missing", 7), 7);
    json_decref(o);
}

Test(json, dump_scalars_and_null)
{
    json_t *v = json_string("x");
    char *s = pay_json_dump(v);
    cr_assert_str_eq(s, "\"x\"");
    free(s);
    json_decref(v);
    cr_assert_null(pay_json_dump(NULL));
}

/* Texts past the per-thread buffer (16 KiB) come out whole and the same. */
Test(json, dump_large_and_appended)
{
    size_t big = 40000;
    char *s = malloc(big + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < big; i++) {
        s[i] = (char)('a' + (int)(i % 26));
    }
    s[big] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, "note", json_string("quote \" and \\ and \n"));
    json_object_set_new(o, "big", json_string(s));
    json_object_set_new(o, "n", json_integer(-9007199254740993LL));
    char *want = json_dumps(o, JSON_COMPACT);
    char *got = pay_json_dump(o);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    cr_assert_gt(strlen(got), big, "the whole text, not the first 16 KiB");

    struct pay_buf b;
    pay_buf_init(&b, SIZE_MAX - 1);
    cr_assert_eq(pay_buf_adds(&b, "["), PAY_OK);
    cr_assert_eq(pay_json_dump_to(&b, o), PAY_OK);
    cr_assert_eq(pay_buf_adds(&b, ","), PAY_OK);
    cr_assert_eq(pay_json_add_str(&b, "r\"1"), PAY_OK);
    cr_assert_eq(pay_buf_adds(&b, ","), PAY_OK);
    cr_assert_eq(pay_json_add_str(&b, NULL), PAY_OK);
    cr_assert_eq(pay_buf_adds(&b, "]"), PAY_OK);
    cr_assert_eq(b.len, strlen(want) + 14);
    cr_assert_eq(strncmp(b.data + 1, want, strlen(want)), 0);
    cr_assert_str_eq(b.data + 1 + strlen(want), ",\"r\\\"1\",null]");

    pay_buf_release(&b);
    free(got);
    free(want);
    free(s);
    json_decref(o);
}

/* ---- payd's serializer against jansson's, on generated values --------- */

static uint64_t gen_state = 0x9E3779B97F4A7C15u;

static uint64_t gen_next(void)
{
    /* xorshift64*: the same values on every run. */
    gen_state ^= gen_state >> 12;
    gen_state ^= gen_state << 25;
    gen_state ^= gen_state >> 27;
    return gen_state * 2685821657736338717u;
}

/* A string of @max bytes at most from pieces that each need a different
 * treatment: plain ASCII, every escape, controls, NUL, '/', DEL, and UTF-8
 * of two, three and four bytes. */
static json_t *gen_string(size_t max)
{
    static const char *const pieces[] = {
        "a",
        "Zz9",
        " ",
        "\"",
        "\\",
        "/",
        "\b",
        "\f",
        "\n",
        "\r",
        "\t",
        "\x01",
        "\x1f",
        "\x7f",
        "é",
        "ß",
        "€",
        "\xef\xbf\xbf",
        "😀",
        "\xf4\x8f\xbf\xbf",
        "pi_3MtwBwLkdIwHu7ix",
        "",
    };
    char text[256];
    size_t len = 0;
    size_t n = gen_next() % 12;
    for (size_t i = 0; i < n; i++) {
        bool nul = gen_next() % 16 == 0;
        const char *p = nul ? "" : pieces[gen_next() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t pl = nul ? 1 : strlen(p);
        if (len + pl > max || len + pl >= sizeof(text)) {
            break;
        }
        memcpy(text + len, nul ? "\0" : p, pl);
        len += pl;
    }
    return json_stringn(text, len);
}

static json_t *gen_value(int depth)
{
    static const json_int_t ints[] = {0,    1,         -1,        42,
                                      1250, INT64_MAX, INT64_MIN, -9007199254740993LL};
    static const double reals[] = {0.0, 1.5, -2.25, 1e300, 3.141592653589793, 1e-7};
    unsigned kind = (unsigned)(gen_next() % (depth < 5 ? 9 : 7));
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(gen_next() % 2);
    case 2:
        return json_integer(ints[gen_next() % (sizeof(ints) / sizeof(ints[0]))]);
    case 3:
        return json_integer((json_int_t)gen_next());
    case 4:
        return json_real(reals[gen_next() % (sizeof(reals) / sizeof(reals[0]))]);
    case 5:
    case 6:
        return gen_string(40);
    case 7: {
        json_t *a = json_array();
        size_t n = gen_next() % 5;
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(a, gen_value(depth + 1));
        }
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = gen_next() % 6;
        for (size_t i = 0; i < n; i++) {
            json_t *k = gen_string(12);
            json_object_setn_new(o, json_string_value(k), json_string_length(k),
                                 gen_value(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

Test(json, dump_is_byte_for_byte_janssons)
{
    size_t nested = 0;
    for (int i = 0; i < 5000; i++) {
        json_t *v = gen_value(i % 3 == 0 ? 4 : 0);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *got = pay_json_dump(v);
        cr_assert_not_null(want);
        cr_assert_not_null(got, "value %d", i);
        cr_assert_str_eq(got, want, "value %d", i);
        nested += json_is_object(v) || json_is_array(v);
        free(want);
        free(got);
        json_decref(v);
    }
    cr_assert_gt(nested, 500, "the generator makes objects and arrays too");
}

Test(json, ascii_strings_are_janssons_ensure_ascii)
{
    struct pay_buf b;
    pay_buf_init(&b, SIZE_MAX - 1);
    for (int i = 0; i < 2000; i++) {
        json_t *v = gen_string(60);
        /* A C string: up to the first NUL. */
        json_t *c = json_string(json_string_value(v));
        cr_assert_not_null(c);
        char *want = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        pay_buf_reset(&b);
        cr_assert_eq(pay_json_add_str_ascii(&b, json_string_value(c)), PAY_OK);
        cr_assert_str_eq(b.data, want, "string %d", i);
        free(want);
        json_decref(c);
        json_decref(v);
    }
    pay_buf_reset(&b);
    cr_assert_eq(pay_json_add_str_ascii(&b, "\xc3\x28"), PAY_OK);
    cr_assert_str_eq(b.data, "null", "not UTF-8");
    pay_buf_release(&b);
}

/* Strings are scanned eight bytes at a time: each byte that must be escaped
 * (and, for the ASCII form, each byte above 0x7F) is found at every offset
 * within and across those words, alone and next to another. */
Test(json, escapes_are_found_at_every_offset)
{
    static const char *const specials[] = {
        "\"", "\\", "\x01", "\x1f", "\n", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    struct pay_buf b;
    pay_buf_init(&b, SIZE_MAX - 1);
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
        for (size_t len = 1; len <= 27; len++) {
            for (size_t at = 0; at < len; at++) {
                char text[64];
                memset(text, 'a', len);
                size_t sl = strlen(specials[k]);
                memcpy(text + at, specials[k], sl);
                size_t n = at + sl > len ? at + sl : len;
                if (at + 2 * sl <= len) {
                    memcpy(text + len - sl, specials[k], sl); /* a second, further on */
                }
                text[n] = '\0';
                json_t *v = json_string(text);
                cr_assert_not_null(v);
                char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                char *got = pay_json_dump(v);
                cr_assert_str_eq(got, want, "special %zu at %zu of %zu", k, at, len);
                free(want);
                free(got);
                want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
                pay_buf_reset(&b);
                cr_assert_eq(pay_json_add_str_ascii(&b, text), PAY_OK);
                cr_assert_str_eq(b.data, want, "ascii: special %zu at %zu of %zu", k, at, len);
                free(want);
                json_decref(v);
            }
        }
    }
    pay_buf_release(&b);
}

/* Too deep to be a real object (and how a cycle would end): no text, and
 * nothing half-written into the caller's buffer. */
Test(json, dump_refuses_runaway_nesting)
{
    json_t *top = json_array();
    json_t *cur = top;
    for (int i = 0; i < 3000; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    cr_assert_null(pay_json_dump(top));
    struct pay_buf b;
    pay_buf_init(&b, SIZE_MAX - 1);
    cr_assert_eq(pay_buf_adds(&b, "x"), PAY_OK);
    cr_assert_neq(pay_json_dump_to(&b, top), PAY_OK);
    cr_assert_str_eq(b.data, "x");
    pay_buf_release(&b);
    json_decref(top);
}

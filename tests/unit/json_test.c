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

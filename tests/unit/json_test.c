/* json_test.c - jansson helpers. */
#include <criterion/criterion.h>
#include <stdlib.h>

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

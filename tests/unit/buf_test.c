/* buf_test.c - bounded growable buffers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

Test(buf, empty_after_init_is_a_string)
{
    struct pay_buf b;
    pay_buf_init(&b, 100);
    cr_assert_not_null(b.data);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(b.len, 0);
    pay_buf_release(&b);
    cr_assert_str_eq(b.data, "");
    size_t len = 99;
    char *s = pay_buf_detach(&b, &len);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    cr_assert_eq(len, 0);
    free(s);
}

Test(buf, add_adds_addf)
{
    struct pay_buf b;
    pay_buf_init(&b, 1000);
    cr_assert_eq(pay_buf_add(&b, "ab\0c", 4), PAY_OK);
    cr_assert_eq(b.len, 4);
    cr_assert_eq(memcmp(b.data, "ab\0c", 5), 0);
    pay_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(pay_buf_adds(&b, "hello"), PAY_OK);
    cr_assert_eq(pay_buf_addf(&b, " %s %d", "world", 42), PAY_OK);
    cr_assert_str_eq(b.data, "hello world 42");
    cr_assert_eq(b.len, 14);
    cr_assert_eq(pay_buf_addf(&b, "%s", ""), PAY_OK);
    cr_assert_eq(b.len, 14);
    size_t len = 0;
    char *s = pay_buf_detach(&b, &len);
    cr_assert_str_eq(s, "hello world 42");
    cr_assert_eq(len, 14);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    free(s);
    pay_buf_release(&b);
}

Test(buf, cap_refuses_and_leaves_buffer_unchanged)
{
    struct pay_buf b;
    pay_buf_init(&b, 10);
    cr_assert_eq(pay_buf_add(&b, "0123456789", 10), PAY_OK);
    cr_assert_eq(pay_buf_add(&b, "x", 1), PAY_ERR_BODY_TOO_LARGE);
    cr_assert_eq(pay_buf_adds(&b, "x"), PAY_ERR_BODY_TOO_LARGE);
    cr_assert_eq(pay_buf_addf(&b, "%d", 1), PAY_ERR_BODY_TOO_LARGE);
    cr_assert_eq(b.len, 10);
    cr_assert_str_eq(b.data, "0123456789");
    cr_assert_leq(b.cap, 11);
    cr_assert_eq(pay_buf_add(&b, "", 0), PAY_OK);

    pay_buf_reset(&b);
    cr_assert_eq(pay_buf_adds(&b, "abc"), PAY_OK);
    cr_assert_eq(pay_buf_addf(&b, "%s", "12345678"), PAY_ERR_BODY_TOO_LARGE);
    cr_assert_str_eq(b.data, "abc");
    cr_assert_eq(pay_buf_addf(&b, "%s", "1234567"), PAY_OK);
    cr_assert_str_eq(b.data, "abc1234567");
    pay_buf_release(&b);
}

Test(buf, zero_cap)
{
    struct pay_buf b;
    pay_buf_init(&b, 0);
    cr_assert_eq(pay_buf_adds(&b, "a"), PAY_ERR_BODY_TOO_LARGE);
    cr_assert_eq(pay_buf_adds(&b, ""), PAY_OK);
    cr_assert_str_eq(b.data, "");
    pay_buf_release(&b);
}

Test(buf, grows_to_large_sizes)
{
    struct pay_buf b;
    pay_buf_init(&b, PAY_BODY_BYTES_MAX);
    char chunk[1000];
    memset(chunk, 'z', sizeof(chunk));
    size_t total = 0;
    enum pay_err rc;
    while ((rc = pay_buf_add(&b, chunk, sizeof(chunk))) == PAY_OK) {
        total += sizeof(chunk);
    }
    cr_assert_eq(rc, PAY_ERR_BODY_TOO_LARGE);
    cr_assert_eq(total, (PAY_BODY_BYTES_MAX / 1000) * 1000);
    cr_assert_eq(b.len, total);
    cr_assert_eq(b.data[b.len], '\0');
    cr_assert_leq(b.cap, PAY_BODY_BYTES_MAX + 1);
    /* the remaining room is still usable */
    size_t room = PAY_BODY_BYTES_MAX - b.len;
    cr_assert_eq(pay_buf_add(&b, chunk, room), PAY_OK);
    cr_assert_eq(b.len, PAY_BODY_BYTES_MAX);
    pay_buf_release(&b);
}

Test(buf, append_own_contents)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    cr_assert_eq(pay_buf_adds(&b, "abc"), PAY_OK);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(pay_buf_add(&b, b.data, b.len), PAY_OK);
    }
    cr_assert_eq(b.len, 3 * 1024);
    for (size_t i = 0; i < b.len; i++) {
        cr_assert_eq(b.data[i], "abc"[i % 3]);
    }
    pay_buf_release(&b);
}

Test(buf, integers_print_as_printf_does)
{
    const int64_t vals[] = {0,
                            1,
                            -1,
                            9,
                            10,
                            -10,
                            99,
                            100,
                            123456789,
                            -987654321,
                            INT64_MAX,
                            INT64_MIN,
                            INT64_MAX - 1,
                            INT64_MIN + 1,
                            1000000000000LL};
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    char want[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char one[32], mine[PAY_INT_DIGITS_MAX + 1];
        snprintf(one, sizeof(one), "%lld", (long long)vals[i]);
        size_t n = pay_int_digits(vals[i], mine);
        mine[n] = '\0';
        cr_assert_str_eq(mine, one);
        cr_assert_eq(pay_buf_add_int(&b, vals[i]), PAY_OK);
        cr_assert_eq(pay_buf_adds(&b, ","), PAY_OK);
        used += (size_t)snprintf(want + used, sizeof(want) - used, "%s,", one);
    }
    cr_assert_str_eq(b.data, want);
    pay_buf_release(&b);
}

Test(buf, strings_in_turn_until_the_null)
{
    struct pay_buf b;
    pay_buf_init(&b, 8);
    cr_assert_eq(pay_buf_add_strs(&b, "ab", "", "cd", PAY_STRS_END), PAY_OK);
    cr_assert_str_eq(b.data, "abcd");
    cr_assert_eq(pay_buf_add_strs(&b, "ef", "ghi", "j", PAY_STRS_END), PAY_ERR_BODY_TOO_LARGE);
    cr_assert_str_eq(b.data, "abcdef", "stops at the first that does not fit");
    pay_buf_release(&b);
}

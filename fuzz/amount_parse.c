/*
 * amount_parse.c - libFuzzer target for pay_amount_parse (decimal strings in
 * a currency's major unit, src/core/money.c). The first byte picks the
 * currency from payd's table, the rest is the string. Checks: an accepted
 * amount formats back (pay_amount_format) to a string that parses to the
 * same minor units, so parse and format agree exactly.
 */
#include "core/core.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n_cur = 0;
    const struct pay_currency *table = pay_currency_table(&n_cur);
    if (size < 1 || n_cur == 0) {
        return 0;
    }
    const struct pay_currency *cur = &table[data[0] % n_cur];
    char *s = fuzz_strdup(data + 1, size - 1);

    int64_t minor = 0;
    enum pay_err e = pay_amount_parse(s, cur, &minor);
    if (e == PAY_OK) {
        char buf[32];
        size_t len = pay_amount_format(minor, cur, buf, sizeof(buf));
        fuzz_check(len > 0);
        int64_t again = 0;
        fuzz_check(pay_amount_parse(buf, cur, &again) == PAY_OK);
        fuzz_check(again == minor);
    } else {
        fuzz_check(e == PAY_ERR_AMOUNT_INVALID || e == PAY_ERR_OVERFLOW);
    }
    free(s);
    return 0;
}

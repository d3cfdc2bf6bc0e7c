/* seal_test.c - sealed secrets (src/core/seal.c): round trip, binding to the
 * key, the label and the owner's id, tampering, and the no-key passthrough. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define LABEL "payd provider credentials v1"

static void seal(const char *key, const char *aad, const char *plain, struct pay_buf *out)
{
    pay_buf_init(out, 1 << 20);
    cr_assert_eq(pay_seal(key, LABEL, aad, plain, strlen(plain), out), PAY_OK);
}

Test(seal, round_trip_and_no_plaintext)
{
    const char *secret = "{\"api_key\":\"momo-secret-value-42\"}";
    struct pay_buf s;
    seal(KEY, "prov_a", secret, &s);
    cr_assert(strncmp(s.data, "enc1:", 5) == 0);
    cr_assert_null(strstr(s.data, "momo-secret"));
    struct pay_buf p;
    pay_buf_init(&p, 1 << 20);
    cr_assert_eq(pay_unseal(KEY, LABEL, "prov_a", s.data, &p), PAY_OK);
    cr_assert_str_eq(p.data, secret);
    /* Two seals of one value differ (fresh nonce). */
    struct pay_buf s2;
    seal(KEY, "prov_a", secret, &s2);
    cr_assert_str_neq(s.data, s2.data);
    pay_buf_release(&p);
    pay_buf_release(&s);
    pay_buf_release(&s2);
}

Test(seal, bound_to_key_label_and_owner)
{
    struct pay_buf s, p;
    seal(KEY, "prov_a", "hunter2", &s);
    pay_buf_init(&p, 1 << 20);
    cr_assert_eq(pay_unseal("another-key-another-key-another!", LABEL, "prov_a", s.data, &p),
                 PAY_ERR_INTERNAL);
    cr_assert_eq(pay_unseal(KEY, "payd webhook secrets v1", "prov_a", s.data, &p),
                 PAY_ERR_INTERNAL);
    cr_assert_eq(pay_unseal(KEY, LABEL, "prov_b", s.data, &p), PAY_ERR_INTERNAL);
    cr_assert_eq(pay_unseal(NULL, LABEL, "prov_a", s.data, &p), PAY_ERR_INTERNAL);
    cr_assert_eq(p.len, 0, "nothing opened");
    /* One flipped hex digit of the ciphertext. */
    s.data[5 + 24 + 1] = s.data[5 + 24 + 1] == '0' ? '1' : '0';
    cr_assert_eq(pay_unseal(KEY, LABEL, "prov_a", s.data, &p), PAY_ERR_INTERNAL);
    cr_assert_eq(pay_unseal(KEY, LABEL, "prov_a", "enc1:zz", &p), PAY_ERR_INTERNAL);
    pay_buf_release(&s);
    pay_buf_release(&p);
}

Test(seal, without_a_key_values_pass_through)
{
    struct pay_buf s, p;
    seal(NULL, "prov_a", "plain", &s);
    cr_assert_str_eq(s.data, "plain");
    pay_buf_init(&p, 1 << 20);
    cr_assert_eq(pay_unseal(KEY, LABEL, "prov_a", "plain", &p), PAY_OK);
    cr_assert_str_eq(p.data, "plain");
    pay_buf_release(&s);
    pay_buf_release(&p);
}

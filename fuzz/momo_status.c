/*
 * momo_status.c - libFuzzer target for pay_momo_parse_status (mobile money
 * status answers and callback bodies, src/connectors/momo.c), over every
 * wallet profile. The input is the body. Checks: the state is one the
 * parser may give (pending, successful, failed, unknown); every string
 * field is NUL-terminated inside its array; a reason holds only A-Z, 0-9
 * and '_' (it is shown to clients and mapped to decline codes); a failed
 * state always has a reason.
 */
#include "connectors/momo.h"
#include "fuzz.h"

static void check_str(const char *s, size_t n)
{
    fuzz_check(memchr(s, '\0', n) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    const struct pay_momo_profile *ps = pay_momo_profiles(&n);
    for (size_t i = 0; i < n; i++) {
        struct pay_momo_result r;
        memset(&r, 0x5a, sizeof(r));
        r.http_status = 200;
        pay_momo_parse_status(&ps[i], (const char *)data, size, &r);
        fuzz_check(r.state == PAY_MOMO_PENDING || r.state == PAY_MOMO_SUCCESSFUL ||
                   r.state == PAY_MOMO_FAILED || r.state == PAY_MOMO_UNKNOWN);
        fuzz_check(r.http_status == 200);
        check_str(r.reason, sizeof(r.reason));
        check_str(r.financial_id, sizeof(r.financial_id));
        check_str(r.external_id, sizeof(r.external_id));
        check_str(r.amount, sizeof(r.amount));
        check_str(r.currency, sizeof(r.currency));
        check_str(r.message, sizeof(r.message));
        for (const char *c = r.reason; *c; c++) {
            fuzz_check((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_');
        }
        if (r.state == PAY_MOMO_FAILED) {
            fuzz_check(r.reason[0] != '\0');
        }
    }
    return 0;
}

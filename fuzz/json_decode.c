/*
 * json_decode.c - libFuzzer target for pay_json_decode (JSON bodies with
 * payd's depth, length and key limits, src/http/form.c). The input is the
 * body. Checks: a success is an object that re-encodes and decodes again to
 * an equal tree (the limits hold for what they accepted); a failure is
 * PAY_ERR_BODY_INVALID and yields no tree.
 */
#include "fuzz.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *out = NULL;
    struct pay_error err = {0};
    enum pay_err e = pay_json_decode((const char *)data, size, &out, &err);
    if (e != PAY_OK) {
        fuzz_check(e == PAY_ERR_BODY_INVALID);
        fuzz_check(out == NULL);
        return 0;
    }
    fuzz_check(json_is_object(out));
    char *s = json_dumps(out, JSON_COMPACT);
    fuzz_check(s != NULL);
    json_t *again = NULL;
    struct pay_error err2 = {0};
    fuzz_check(pay_json_decode(s, strlen(s), &again, &err2) == PAY_OK);
    fuzz_check(json_equal(out, again));
    json_decref(again);
    free(s);
    json_decref(out);
    return 0;
}

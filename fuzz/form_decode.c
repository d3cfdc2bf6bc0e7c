/*
 * form_decode.c - libFuzzer target for pay_form_decode (bracket-notation
 * form bodies and query strings, src/http/form.c). The input is the body.
 * Checks: a success yields an object whose serialization is valid JSON; a
 * failure is PAY_ERR_BODY_INVALID and yields no tree.
 */
#include "fuzz.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *out = NULL;
    struct pay_error err = {0};
    enum pay_err e = pay_form_decode((const char *)data, size, &out, &err);
    if (e == PAY_OK) {
        fuzz_check(json_is_object(out));
        char *s = json_dumps(out, JSON_COMPACT);
        fuzz_check(s != NULL);
        free(s);
        json_decref(out);
    } else {
        fuzz_check(e == PAY_ERR_BODY_INVALID);
        fuzz_check(out == NULL);
    }
    return 0;
}

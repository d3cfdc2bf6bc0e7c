/*
 * list_args.c - libFuzzer target for pay_list_args_parse (limit, cursors,
 * created[...] bounds, src/http/params.c). The input is a query string,
 * decoded as the server decodes it (pay_form_decode); trees the decoder
 * rejects are skipped. Checks: accepted arguments are within their limits.
 */
#include "core/limits.h"
#include "fuzz.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *query = NULL;
    struct pay_error derr = {0};
    if (pay_form_decode((const char *)data, size, &query, &derr) != PAY_OK) {
        return 0;
    }
    struct pay_request req;
    memset(&req, 0, sizeof(req));
    req.query = query;
    req.body = query;
    struct pay_list_args args;
    enum pay_err e = pay_list_args_parse(&req, &args);
    if (e == PAY_OK) {
        fuzz_check(args.limit >= 1 && args.limit <= PAY_LIST_LIMIT_MAX);
        fuzz_check(!(args.starting_after && args.ending_before));
        fuzz_check(!args.starting_after || args.starting_after[0] != '\0');
        fuzz_check(!args.ending_before || args.ending_before[0] != '\0');
    } else {
        fuzz_check(req.err.code == e);
    }
    json_decref(query);
    return 0;
}

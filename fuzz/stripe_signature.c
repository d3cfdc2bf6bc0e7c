/*
 * stripe_signature.c - libFuzzer target for the Stripe-Signature parser and
 * verifier (pay_stripe_signature_verify, src/events/stripe_signature.c). The
 * input is "HEADER\nBODY" (no newline: all header, empty body), verified
 * under two configured secrets at a fixed time. Checks: the answer is one of
 * the enum's values; a header built by pay_stripe_signature_header for the
 * same body verifies under either secret and is a mismatch under another; a
 * fuzzed header never verifies unless it carries a fresh timestamp.
 */
#include "events/stripe_signature.h"
#include "fuzz.h"

#define FUZZ_NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const secrets[] = {"whsec_fuzz_a", "whsec_fuzz_b"};
    static const char *const other[] = {"whsec_other"};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    char *header = fuzz_strdup(data, hlen);
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t body_len = nl ? size - hlen - 1 : 0;

    enum pay_stripe_sig_result r =
        pay_stripe_signature_verify(header, body, body_len, secrets, 2, FUZZ_NOW, 300);
    fuzz_check(r >= PAY_STRIPE_SIG_OK && r <= PAY_STRIPE_SIG_NO_SECRET);
    fuzz_check(pay_stripe_signature_reason(r) != NULL);
    if (r == PAY_STRIPE_SIG_OK) {
        fuzz_check(strstr(header, "t=") != NULL && strstr(header, "v1=") != NULL);
    }

    /* The signer and the verifier agree on any body, with any skew inside
     * the tolerance (taken from the input's length). */
    char built[128];
    int64_t t = FUZZ_NOW - (int64_t)(size % 301);
    fuzz_check(pay_stripe_signature_header(secrets[size % 2], t, body, body_len, built,
                                           sizeof(built)) == 0);
    fuzz_check(pay_stripe_signature_verify(built, body, body_len, secrets, 2, FUZZ_NOW, 300) ==
               PAY_STRIPE_SIG_OK);
    fuzz_check(pay_stripe_signature_verify(built, body, body_len, other, 1, FUZZ_NOW, 300) ==
               PAY_STRIPE_SIG_MISMATCH);
    fuzz_check(pay_stripe_signature_verify(built, body, body_len, secrets, 2, FUZZ_NOW + 400,
                                           300) == PAY_STRIPE_SIG_STALE);
    free(header);
    return 0;
}

/*
 * jwt_verify.c - libFuzzer target for pay_jwt_verify (src/auth/jwt.c) under
 * an HS256 and an RS256 configuration. The first byte picks the mode:
 *   0: the rest is a compact token, verified with the HS256 configuration;
 *   1: the rest is a compact token, verified with the RS256 configuration;
 *   2: the rest is "HEADER\nPAYLOAD" (JSON text): the target base64url-encodes
 *      both and signs them with the HS256 secret, so the fuzzer reaches the
 *      header and claim checks behind the signature.
 * Checks: every failure is PAY_ERR_AUTH_INVALID; a success yields a principal
 * with a subject (a patient also with its customer); a token accepted under
 * HS256 is refused under RS256 (no algorithm confusion).
 */
#include "auth/auth.h"
#include "fuzz.h"

#define FUZZ_NOW 1700000000

static const char HS_SECRET[] = "fuzz-jwt-secret-0123456789abcdef";

/* A throwaway public key; its private half is not kept anywhere. */
static const char RS_PUBLIC_PEM[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5tjhrh2keGWi2W5ucZgV\n"
    "xYYuVfThXq43JJB1ARmjUKDZ3ofzgVQzuRXUS8USKHAS6A7KSv2P3obNIbD+I+SH\n"
    "N/y4zh9tOkjw4c+JUf0nBcCF+xk5d6E/p/wx0EJskaivUhHHiRsaYRVsmAHajGYL\n"
    "mRNoMeA1CvZFo+Lq2YowH0qcPvJGUWMrZZdsocm61P0P4Ub+vTvZ69zpe5V37Xut\n"
    "B4QaCRBpnzP+TUstyxfykgFuI+Pgubz4SgEGPT4NGaRlRADL+O+PJ1yrt4b693+T\n"
    "6PUXAXULeb07dqCCevmMmWGLYerldNjXnKrer+qc9U6gsXBa8wMSVt+VaDgQio6c\n"
    "GQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static enum pay_err verify(bool rs256, const char *token, struct pay_principal *who)
{
    struct pay_auth_config cfg = {
        .jwt_alg = rs256 ? "RS256" : "HS256",
        .jwt_secret = rs256 ? NULL : (char *)HS_SECRET,
        .jwt_public_key = rs256 ? (char *)RS_PUBLIC_PEM : NULL,
        .jwt_issuer = "payd-fuzz",
        .jwt_audience = "payd",
        .leeway_s = 30,
    };
    struct pay_error err = {0};
    enum pay_err e = pay_jwt_verify(&cfg, token, FUZZ_NOW, who, &err);
    fuzz_check(e == PAY_OK || e == PAY_ERR_AUTH_INVALID);
    return e;
}

/* "b64(header).b64(payload).b64(HMAC)" from "header\npayload"; NULL on failure. */
static char *sign_hs256(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) {
        return NULL;
    }
    struct pay_buf b;
    pay_buf_init(&b, 1u << 20);
    size_t hlen = (size_t)(nl - data);
    if (pay_base64url_encode(data, hlen, &b) != 0 || pay_buf_add(&b, ".", 1) != PAY_OK ||
        pay_base64url_encode(nl + 1, size - hlen - 1, &b) != 0) {
        pay_buf_release(&b);
        return NULL;
    }
    unsigned char mac[32];
    pay_hmac_sha256(HS_SECRET, strlen(HS_SECRET), b.data, b.len, mac);
    if (pay_buf_add(&b, ".", 1) != PAY_OK || pay_base64url_encode(mac, sizeof(mac), &b) != 0) {
        pay_buf_release(&b);
        return NULL;
    }
    return pay_buf_detach(&b, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned mode = data[0] % 3;
    char *token = mode == 2 ? sign_hs256(data + 1, size - 1) : fuzz_strdup(data + 1, size - 1);
    if (!token) {
        return 0;
    }
    struct pay_principal who;
    memset(&who, 0, sizeof(who));
    enum pay_err e = verify(mode == 1, token, &who);
    if (e == PAY_OK && mode != 1) {
        struct pay_principal other;
        memset(&other, 0, sizeof(other));
        fuzz_check(verify(true, token, &other) != PAY_OK);
    }
    if (e == PAY_OK) {
        fuzz_check(who.subject[0] != '\0');
        fuzz_check(who.role != PAY_ROLE_PATIENT || strncmp(who.customer, "cus_", 4) == 0);
    }
    free(token);
    return 0;
}

/*
 * crypto.c - hashing, MACs, constant-time comparison and the encodings that
 * carry them (hex, base64url as RFC 4648 section 5 and JWTs use it).
 *
 * Invariants: only OpenSSL 3's non-deprecated interfaces; secret comparison
 * never short-circuits; the base64url decoder accepts only canonical input
 * (no stray characters, no non-zero padding bits) so one value has one
 * encoding. Threading: the only shared state is SHA-256 and HMAC fetched
 * once from OpenSSL's default provider (fetched objects may be shared by
 * threads); everything per call is the caller's.
 */
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <string.h>

#include "core/core.h"

static const char hex_digits[] = "0123456789abcdef";

void pay_hex_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[p[i] >> 4];
        out[2 * i + 1] = hex_digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/*
 * OpenSSL's one-shot calls (EVP_Digest with EVP_sha256(), HMAC()) look the
 * algorithm up in the provider on every call: 0.41 against 0.13 us a
 * SHA-256, 1.67 against 1.09 us an HMAC, and a payment makes several
 * (bench/RESULTS.md, round 9). So both are fetched once; an HMAC starts
 * from a context with its digest set, duplicated per call.
 */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC_CTX *hmac_template;

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac != NULL) {
        hmac_template = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac); /* the context holds its own reference */
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    if (hmac_template != NULL && EVP_MAC_CTX_set_params(hmac_template, params) != 1) {
        EVP_MAC_CTX_free(hmac_template);
        hmac_template = NULL;
    }
    PAY_ASSERT(sha256_md != NULL && hmac_template != NULL);
}

void pay_sha256_hex(const void *data, size_t n, char hex_out[65])
{
    pthread_once(&fetch_once, fetch_algorithms);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const unsigned char empty[1];
    PAY_ASSERT(EVP_Digest(n > 0 ? data : empty, n, md, &md_len, sha256_md, NULL) == 1);
    PAY_ASSERT(md_len == 32);
    pay_hex_encode(md, md_len, hex_out);
}

void pay_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                     unsigned char mac_out[32])
{
    pthread_once(&fetch_once, fetch_algorithms);
    static const unsigned char empty[1];
    PAY_ASSERT(key_len <= INT_MAX);
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(hmac_template);
    PAY_ASSERT(c != NULL);
    size_t mac_len = 0;
    PAY_ASSERT(EVP_MAC_init(c, key_len > 0 ? key : empty, key_len, NULL) == 1 &&
               EVP_MAC_update(c, n > 0 ? data : empty, n) == 1 &&
               EVP_MAC_final(c, mac_out, &mac_len, 32) == 1);
    EVP_MAC_CTX_free(c);
    PAY_ASSERT(mac_len == 32);
}

bool pay_secure_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len) {
        return false;
    }
    if (a_len == 0) {
        return true;
    }
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int pay_base64url_encode(const void *in, size_t n, struct pay_buf *out)
{
    const unsigned char *p = in;
    char quad[4];
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        quad[0] = b64url[v >> 18];
        quad[1] = b64url[(v >> 12) & 63];
        quad[2] = b64url[(v >> 6) & 63];
        quad[3] = b64url[v & 63];
        if (pay_buf_add(out, quad, 4) != PAY_OK) {
            return -1;
        }
    }
    size_t rest = n - i;
    if (rest > 0) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (rest == 2) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        quad[0] = b64url[v >> 18];
        quad[1] = b64url[(v >> 12) & 63];
        quad[2] = b64url[(v >> 6) & 63];
        if (pay_buf_add(out, quad, rest + 1) != PAY_OK) {
            return -1;
        }
    }
    /* Even an empty input leaves a NUL-terminated (owned or shared) string. */
    return 0;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

int pay_base64url_decode(const char *in, size_t n, struct pay_buf *out)
{
    /* Padding is optional, but if present it must complete a quad. */
    if (n > 0 && in[n - 1] == '=') {
        if (n % 4 != 0) {
            return -1;
        }
        n--;
        if (in[n - 1] == '=') {
            n--;
        }
    }
    if (n % 4 == 1) {
        return -1;
    }
    size_t start_len = out->len;
    unsigned char tri[3];
    size_t i = 0;
    while (i < n) {
        size_t chunk = n - i < 4 ? n - i : 4;
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = 0;
            if (k < chunk) {
                d = b64url_value(in[i + k]);
                if (d < 0) {
                    goto out_invalid;
                }
            }
            v = v << 6 | (uint32_t)d;
        }
        tri[0] = (unsigned char)(v >> 16);
        tri[1] = (unsigned char)(v >> 8);
        tri[2] = (unsigned char)v;
        size_t nbytes = chunk - 1; /* 4 chars -> 3 bytes, 3 -> 2, 2 -> 1 */
        /* The bits below the last byte must be zero in canonical input. */
        if ((chunk == 2 && (v & 0xffff) != 0) || (chunk == 3 && (v & 0xff) != 0)) {
            goto out_invalid;
        }
        if (pay_buf_add(out, tri, nbytes) != PAY_OK) {
            goto out_invalid;
        }
        i += chunk;
    }
    return 0;

out_invalid:
    /* Leave the output as it was before the call. */
    out->len = start_len;
    if (out->cap > 0) {
        out->data[start_len] = '\0';
    }
    return -1;
}

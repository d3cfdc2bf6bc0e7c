/*
 * crypto.c - hashing, MACs, constant-time comparison and the encodings that
 * carry them (hex, base64url as RFC 4648 section 5 and JWTs use it).
 *
 * Invariants: only OpenSSL 3's non-deprecated interfaces; secret comparison
 * never short-circuits; the base64url decoder accepts only canonical input
 * (no stray characters, no non-zero padding bits) so one value has one
 * encoding. Threading: no shared state.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

void pay_sha256_hex(const void *data, size_t n, char hex_out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const unsigned char empty[1];
    PAY_ASSERT(EVP_Digest(n > 0 ? data : empty, n, md, &md_len, EVP_sha256(), NULL) == 1);
    PAY_ASSERT(md_len == 32);
    pay_hex_encode(md, md_len, hex_out);
}

void pay_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                     unsigned char mac_out[32])
{
    static const unsigned char empty[1];
    unsigned int mac_len = 0;
    PAY_ASSERT(key_len <= INT_MAX);
    PAY_ASSERT(HMAC(EVP_sha256(), key_len > 0 ? key : empty, (int)key_len, n > 0 ? data : empty, n,
                    mac_out, &mac_len) != NULL);
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

/*
 * seal.c - secrets encrypted at rest (provider credentials, issue 6):
 * AES-256-GCM under HMAC-SHA256(server key, label), the owning object's id
 * as additional data, stored as "enc1:" + hex(nonce[12] | ciphertext |
 * tag[16]). The same scheme as the webhook secret box
 * (src/events/secret_box.c), with the label and the length as parameters.
 *
 * Invariants: a fresh random nonce per seal; derived keys are wiped after
 * use; a value that does not authenticate never opens (no partial output).
 * Threading: no state.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define PREFIX "enc1:"
#define NONCE_LEN 12
#define TAG_LEN 16
/* Largest plaintext: provider credentials are a small JSON object. */
#define SEAL_PLAIN_MAX (64 * 1024)

static void derive(const char *server_key, const char *label, unsigned char key[32])
{
    pay_hmac_sha256(server_key, strlen(server_key), label, strlen(label), key);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

enum pay_err pay_seal(const char *server_key, const char *label, const char *aad, const char *plain,
                      size_t len, struct pay_buf *out)
{
    if (len > SEAL_PLAIN_MAX) {
        return PAY_ERR_INTERNAL;
    }
    if (server_key == NULL || server_key[0] == '\0') {
        return pay_buf_add(out, plain, len);
    }
    size_t raw_len = NONCE_LEN + len + TAG_LEN;
    unsigned char *raw = malloc(raw_len);
    char *hex = malloc(2 * raw_len + 1);
    if (raw == NULL || hex == NULL) {
        free(raw);
        free(hex);
        return PAY_ERR_NOMEM;
    }
    enum pay_err rc = pay_random_bytes(raw, NONCE_LEN);
    unsigned char key[32];
    derive(server_key, label, key);
    EVP_CIPHER_CTX *ctx = rc == PAY_OK ? EVP_CIPHER_CTX_new() : NULL;
    int n = 0;
    bool ok =
        ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &n, (const unsigned char *)plain, (int)len) == 1 &&
        EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + n, &n) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    explicit_bzero(key, sizeof(key));
    if (rc == PAY_OK && !ok) {
        rc = PAY_ERR_INTERNAL;
    }
    if (rc == PAY_OK) {
        pay_hex_encode(raw, raw_len, hex);
        rc = pay_buf_adds(out, PREFIX);
    }
    if (rc == PAY_OK) {
        rc = pay_buf_add(out, hex, 2 * raw_len);
    }
    explicit_bzero(raw, raw_len);
    free(raw);
    free(hex);
    return rc;
}

enum pay_err pay_unseal(const char *server_key, const char *label, const char *aad,
                        const char *sealed, struct pay_buf *out)
{
    size_t plen = strlen(PREFIX);
    size_t n = strlen(sealed);
    if (strncmp(sealed, PREFIX, plen) != 0) {
        return pay_buf_add(out, sealed, n);
    }
    size_t hex_len = n - plen;
    if (server_key == NULL || server_key[0] == '\0' || hex_len % 2 != 0 ||
        hex_len / 2 < NONCE_LEN + TAG_LEN || hex_len / 2 > NONCE_LEN + SEAL_PLAIN_MAX + TAG_LEN) {
        return PAY_ERR_INTERNAL;
    }
    size_t raw_len = hex_len / 2;
    size_t ct_len = raw_len - NONCE_LEN - TAG_LEN;
    unsigned char *raw = malloc(raw_len);
    unsigned char *plain = malloc(ct_len + 1);
    if (raw == NULL || plain == NULL) {
        free(raw);
        free(plain);
        return PAY_ERR_NOMEM;
    }
    enum pay_err rc = PAY_OK;
    for (size_t i = 0; i < raw_len; i++) {
        int hi = hexval(sealed[plen + 2 * i]), lo = hexval(sealed[plen + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            rc = PAY_ERR_INTERNAL;
            break;
        }
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    unsigned char key[32];
    derive(server_key, label, key);
    EVP_CIPHER_CTX *ctx = rc == PAY_OK ? EVP_CIPHER_CTX_new() : NULL;
    int m = 0;
    bool ok =
        ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &m, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(ctx, plain, &m, raw + NONCE_LEN, (int)ct_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + ct_len) == 1 &&
        EVP_DecryptFinal_ex(ctx, plain + m, &m) == 1;
    EVP_CIPHER_CTX_free(ctx);
    explicit_bzero(key, sizeof(key));
    if (rc == PAY_OK && !ok) {
        rc = PAY_ERR_INTERNAL;
    }
    if (rc == PAY_OK) {
        rc = pay_buf_add(out, plain, ct_len);
    }
    explicit_bzero(plain, ct_len + 1);
    free(plain);
    free(raw);
    return rc;
}

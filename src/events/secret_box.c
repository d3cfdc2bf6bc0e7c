/*
 * secret_box.c - webhook signing secrets encrypted at rest: AES-256-GCM
 * under a key derived from payd's server key (HMAC-SHA256(server key,
 * "payd webhook secrets v1")), stored as "enc1:" + hex(nonce[12] |
 * ciphertext | tag[16]), the endpoint id as additional data (a sealed
 * secret copied to another endpoint's row does not open).
 *
 * Without a server key (unit tests, tools) secrets are stored as given;
 * a stored value without the "enc1:" prefix opens as itself, so such rows
 * keep working once a key is configured.
 *
 * Threading: no state.
 */
#include <openssl/evp.h>
#include <string.h>

#include "webhooks_int.h"

#define PREFIX "enc1:"
#define NONCE_LEN 12
#define TAG_LEN 16
#define LABEL "payd webhook secrets v1"

static void derive(const char *server_key, unsigned char key[32])
{
    pay_hmac_sha256(server_key, strlen(server_key), LABEL, strlen(LABEL), key);
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

enum pay_err pay_webhook_secret_seal(const char *server_key, const char *endpoint,
                                     const char *secret, char *out, size_t out_len)
{
    size_t n = strlen(secret);
    if (server_key == NULL || server_key[0] == '\0') {
        if (n + 1 > out_len) {
            return PAY_ERR_INTERNAL;
        }
        memcpy(out, secret, n + 1);
        return PAY_OK;
    }
    size_t raw_len = NONCE_LEN + n + TAG_LEN;
    if (n > PAY_WEBHOOK_SECRET_LEN_MAX || strlen(PREFIX) + 2 * raw_len + 1 > out_len) {
        return PAY_ERR_INTERNAL;
    }
    unsigned char key[32];
    unsigned char raw[NONCE_LEN + PAY_WEBHOOK_SECRET_LEN_MAX + TAG_LEN];
    enum pay_err rc = pay_random_bytes(raw, NONCE_LEN);
    if (rc != PAY_OK) {
        return rc;
    }
    derive(server_key, key);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok =
        ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)endpoint,
                          (int)strlen(endpoint)) == 1 &&
        EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &len, (const unsigned char *)secret, (int)n) == 1 &&
        EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + len, &len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n) == 1;
    EVP_CIPHER_CTX_free(ctx);
    explicit_bzero(key, sizeof(key));
    if (!ok) {
        return PAY_ERR_INTERNAL;
    }
    memcpy(out, PREFIX, strlen(PREFIX));
    pay_hex_encode(raw, raw_len, out + strlen(PREFIX));
    return PAY_OK;
}

enum pay_err pay_webhook_secret_open(const char *server_key, const char *endpoint,
                                     const char *stored, char *out, size_t out_len)
{
    size_t plen = strlen(PREFIX);
    size_t n = strlen(stored);
    if (strncmp(stored, PREFIX, plen) != 0) {
        if (n + 1 > out_len) {
            return PAY_ERR_INTERNAL;
        }
        memcpy(out, stored, n + 1);
        return PAY_OK;
    }
    size_t hex_len = n - plen;
    if (server_key == NULL || server_key[0] == '\0' || hex_len % 2 != 0 ||
        hex_len / 2 < NONCE_LEN + TAG_LEN ||
        hex_len / 2 > NONCE_LEN + PAY_WEBHOOK_SECRET_LEN_MAX + TAG_LEN) {
        return PAY_ERR_INTERNAL;
    }
    unsigned char raw[NONCE_LEN + PAY_WEBHOOK_SECRET_LEN_MAX + TAG_LEN];
    size_t raw_len = hex_len / 2;
    for (size_t i = 0; i < raw_len; i++) {
        int hi = hexval(stored[plen + 2 * i]), lo = hexval(stored[plen + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return PAY_ERR_INTERNAL;
        }
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    size_t ct_len = raw_len - NONCE_LEN - TAG_LEN;
    if (ct_len + 1 > out_len) {
        return PAY_ERR_INTERNAL;
    }
    unsigned char key[32];
    derive(server_key, key);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok =
        ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)endpoint,
                          (int)strlen(endpoint)) == 1 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &len, raw + NONCE_LEN, (int)ct_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + ct_len) == 1 &&
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + len, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    explicit_bzero(key, sizeof(key));
    if (!ok) {
        explicit_bzero(out, out_len);
        return PAY_ERR_INTERNAL;
    }
    out[ct_len] = '\0';
    return PAY_OK;
}

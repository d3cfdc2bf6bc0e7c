/*
 * jwt.c - JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515):
 * verification of HS256 and RS256 tokens, and minting HS256 tokens for
 * development (`payd token`).
 *
 * Invariants:
 *   - the algorithm is pinned by configuration (cfg->jwt_alg, default
 *     HS256): a token whose header names any other algorithm is refused, so
 *     an RS256 deployment cannot be fooled by an HS256 token "signed" with
 *     its public key, and "none" (any casing) is refused even if configured;
 *   - the signature is checked, in constant time for HMACs, before the
 *     payload is parsed; a header with "crit" is refused (we understand no
 *     extensions, RFC 7515 section 4.1.11);
 *   - claims: exp required (integer seconds), nbf optional, iss and aud
 *     checked when configured, sub and role required, a patient must name
 *     its customer (cus_...). Every failure is PAY_ERR_AUTH_INVALID with the
 *     reason in the message; the token itself is never logged.
 *
 * Threading: verification has no shared state except the parsed RS256 key,
 * cached once per distinct PEM text under a mutex (EVP_PKEY is safe to use
 * from several threads for verification).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_int.h"

/* Clock skew beyond this is a misconfiguration; it also keeps exp/nbf
 * arithmetic far from overflow. */
#define LEEWAY_MAX_S (24 * 60 * 60)

static enum pay_err invalid(struct pay_error *err, const char *why)
{
    return pay_error_set(err, PAY_ERR_AUTH_INVALID, NULL, "Invalid token: %s.", why);
}

/* ---- RS256 public key cache -------------------------------------------- */

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static char *key_pem;      /* the PEM text key_pkey was parsed from */
static EVP_PKEY *key_pkey; /* one reference held by the cache */

/* A new reference to the RSA public key in @pem, or NULL. */
static EVP_PKEY *rsa_public_key(const char *pem)
{
    EVP_PKEY *pkey = NULL;
    pthread_mutex_lock(&key_lock);
    if (key_pem && strcmp(key_pem, pem) == 0) {
        if (EVP_PKEY_up_ref(key_pkey) == 1) {
            pkey = key_pkey;
        }
        pthread_mutex_unlock(&key_lock);
        return pkey;
    }
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio) {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    if (pkey && !EVP_PKEY_is_a(pkey, "RSA")) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    char *copy = pkey ? strdup(pem) : NULL;
    if (copy && EVP_PKEY_up_ref(pkey) == 1) {
        EVP_PKEY_free(key_pkey);
        free(key_pem);
        key_pkey = pkey;
        key_pem = copy;
    } else {
        free(copy);
    }
    pthread_mutex_unlock(&key_lock);
    return pkey;
}

static bool rs256_verify(const char *pem, const char *input, size_t input_len,
                         const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY *pkey = rsa_public_key(pem);
    if (!pkey) {
        return false;
    }
    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1) {
        /* RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3),
         * which is the default padding for RSA keys. */
        ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

/* ---- Verification -------------------------------------------------------- */

static bool b64_json(const char *s, size_t n, json_t **out)
{
    struct pay_buf b;
    pay_buf_init(&b, PAY_JWT_BYTES_MAX);
    *out = NULL;
    if (pay_base64url_decode(s, n, &b) == 0) {
        *out = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    }
    pay_buf_release(&b);
    if (*out && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
    }
    return *out != NULL;
}

/* Does the "aud" claim (a string or an array of strings) name @want? */
static bool aud_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), want) == 0;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) {
            return true;
        }
    }
    return false;
}

static enum pay_err check_claims(const struct pay_auth_config *cfg, const json_t *claims,
                                 int64_t now, struct pay_principal *who, struct pay_error *err)
{
    int64_t leeway = cfg->leeway_s < 0 ? 0 : cfg->leeway_s;
    if (leeway > LEEWAY_MAX_S) {
        leeway = LEEWAY_MAX_S;
    }

    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp)) {
        return invalid(err, "exp is required and must be an integer");
    }
    /* Valid while now < exp + leeway, written to stay clear of overflow. */
    if ((int64_t)json_integer_value(exp) <= now - leeway) {
        return invalid(err, "it has expired");
    }
    const json_t *nbf = json_object_get(claims, "nbf");
    if (nbf) {
        if (!json_is_integer(nbf)) {
            return invalid(err, "nbf must be an integer");
        }
        if ((int64_t)json_integer_value(nbf) > now + leeway) {
            return invalid(err, "it is not valid yet (nbf)");
        }
    }
    if (cfg->jwt_issuer && cfg->jwt_issuer[0]) {
        const char *iss = pay_json_str(claims, "iss");
        if (!iss || strcmp(iss, cfg->jwt_issuer) != 0) {
            return invalid(err, "wrong issuer (iss)");
        }
    }
    if (cfg->jwt_audience && cfg->jwt_audience[0]) {
        if (!aud_matches(json_object_get(claims, "aud"), cfg->jwt_audience)) {
            return invalid(err, "wrong audience (aud)");
        }
    }
    const char *sub = pay_json_str(claims, "sub");
    if (!sub || !sub[0] || strlen(sub) >= sizeof(who->subject)) {
        return invalid(err, "sub is required (at most 127 bytes)");
    }
    const char *role_name = pay_json_str(claims, "role");
    enum pay_role role = role_name ? pay_role_parse(role_name) : PAY_ROLE_NONE;
    if (role == PAY_ROLE_NONE) {
        return invalid(err, "role must be one of admin, staff, auditor, patient");
    }
    const char *customer = pay_json_str(claims, "customer");
    if (role == PAY_ROLE_PATIENT && (!customer || !pay_id_valid(customer, "cus"))) {
        return invalid(err, "a patient token must name its customer (cus_...)");
    }

    memset(who, 0, sizeof(*who));
    who->kind = PAY_PRINCIPAL_JWT;
    who->role = role;
    snprintf(who->subject, sizeof(who->subject), "%s", sub);
    if (role == PAY_ROLE_PATIENT) {
        snprintf(who->customer, sizeof(who->customer), "%s", customer);
    }
    return PAY_OK;
}

enum pay_err pay_jwt_verify(const struct pay_auth_config *cfg, const char *token, int64_t now,
                            struct pay_principal *who, struct pay_error *err)
{
    enum pay_err e;
    json_t *header = NULL;
    json_t *claims = NULL;
    struct pay_buf sig;
    pay_buf_init(&sig, PAY_JWT_BYTES_MAX);
    memset(who, 0, sizeof(*who));

    if (!cfg || !token) {
        return invalid(err, "no token");
    }
    size_t len = strnlen(token, PAY_JWT_BYTES_MAX + 1);
    if (len > PAY_JWT_BYTES_MAX) {
        return invalid(err, "it is too large");
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        return invalid(err, "it must have exactly three parts");
    }
    size_t h_len = (size_t)(dot1 - token);
    size_t p_len = (size_t)(dot2 - dot1 - 1);
    size_t s_len = len - (size_t)(dot2 + 1 - token);
    if (h_len == 0 || p_len == 0 || s_len == 0) {
        return invalid(err, "a part is empty");
    }

    if (!b64_json(token, h_len, &header)) {
        e = invalid(err, "the header is not base64url JSON");
        goto out;
    }
    const char *alg = pay_json_str(header, "alg");
    const char *want = cfg->jwt_alg && cfg->jwt_alg[0] ? cfg->jwt_alg : "HS256";
    if (!alg) {
        e = invalid(err, "the header has no alg");
        goto out;
    }
    if (strcasecmp(alg, "none") == 0) {
        e = invalid(err, "unsigned tokens (alg none) are not accepted");
        goto out;
    }
    if (strcmp(alg, want) != 0) {
        e = invalid(err, "its algorithm is not the one configured");
        goto out;
    }
    if (json_object_get(header, "crit")) {
        e = invalid(err, "critical header extensions are not supported");
        goto out;
    }
    if (pay_base64url_decode(dot2 + 1, s_len, &sig) != 0) {
        e = invalid(err, "the signature is not base64url");
        goto out;
    }

    size_t input_len = (size_t)(dot2 - token);
    if (strcmp(want, "HS256") == 0) {
        if (!cfg->jwt_secret || !cfg->jwt_secret[0]) {
            e = invalid(err, "HS256 tokens are not enabled (no secret configured)");
            goto out;
        }
        unsigned char mac[32];
        pay_hmac_sha256(cfg->jwt_secret, strlen(cfg->jwt_secret), token, input_len, mac);
        if (!pay_secure_equal(mac, sizeof(mac), sig.data, sig.len)) {
            e = invalid(err, "bad signature");
            goto out;
        }
    } else if (strcmp(want, "RS256") == 0) {
        if (!cfg->jwt_public_key || !cfg->jwt_public_key[0]) {
            e = invalid(err, "RS256 tokens are not enabled (no public key configured)");
            goto out;
        }
        if (!rs256_verify(cfg->jwt_public_key, token, input_len, (const unsigned char *)sig.data,
                          sig.len)) {
            e = invalid(err, "bad signature");
            goto out;
        }
    } else {
        e = invalid(err, "the configured algorithm is not supported");
        goto out;
    }

    if (!b64_json(dot1 + 1, p_len, &claims)) {
        e = invalid(err, "the payload is not base64url JSON");
        goto out;
    }
    e = check_claims(cfg, claims, now, who, err);

out:
    json_decref(header);
    json_decref(claims);
    pay_buf_release(&sig);
    if (e != PAY_OK) {
        memset(who, 0, sizeof(*who));
    }
    return e;
}

/* ---- Minting ------------------------------------------------------------- */

static enum pay_err add_b64_json(struct pay_buf *out, const json_t *v)
{
    char *s = pay_json_dump(v);
    if (!s) {
        return PAY_ERR_NOMEM;
    }
    int rc = pay_base64url_encode(s, strlen(s), out);
    free(s);
    return rc == 0 ? PAY_OK : PAY_ERR_NOMEM;
}

enum pay_err pay_jwt_mint_hs256(const char *secret, const char *sub, const char *role,
                                const char *customer, int64_t ttl_s, const char *iss,
                                const char *aud, int64_t now, char **out)
{
    *out = NULL;
    if (!secret || !secret[0]) {
        return PAY_ERR_CONFIG;
    }
    if (!sub || !sub[0] || strlen(sub) >= sizeof(((struct pay_principal *)0)->subject)) {
        return PAY_ERR_PARAM_INVALID;
    }
    if (!role || pay_role_parse(role) == PAY_ROLE_NONE) {
        return PAY_ERR_PARAM_INVALID;
    }
    if (customer && customer[0] && !pay_id_valid(customer, "cus")) {
        return PAY_ERR_PARAM_INVALID;
    }
    if (pay_role_parse(role) == PAY_ROLE_PATIENT && !(customer && customer[0])) {
        return PAY_ERR_PARAM_INVALID; /* verification would refuse it */
    }
    int64_t exp;
    if (ttl_s <= 0 || __builtin_add_overflow(now, ttl_s, &exp)) {
        return PAY_ERR_PARAM_INVALID;
    }

    enum pay_err e = PAY_ERR_NOMEM;
    struct pay_buf b;
    pay_buf_init(&b, PAY_JWT_BYTES_MAX);
    json_t *header = json_object();
    json_t *claims = json_object();
    if (!header || !claims) {
        goto out;
    }
    pay_json_set_str(header, "alg", "HS256");
    pay_json_set_str(header, "typ", "JWT");
    pay_json_set_str(claims, "sub", sub);
    pay_json_set_str(claims, "role", role);
    if (customer && customer[0]) {
        pay_json_set_str(claims, "customer", customer);
    }
    pay_json_set_int(claims, "iat", now);
    pay_json_set_int(claims, "exp", exp);
    if (iss && iss[0]) {
        pay_json_set_str(claims, "iss", iss);
    }
    if (aud && aud[0]) {
        pay_json_set_str(claims, "aud", aud);
    }

    if ((e = add_b64_json(&b, header)) != PAY_OK || (e = pay_buf_add(&b, ".", 1)) != PAY_OK ||
        (e = add_b64_json(&b, claims)) != PAY_OK) {
        goto out;
    }
    unsigned char mac[32];
    pay_hmac_sha256(secret, strlen(secret), b.data, b.len, mac);
    if ((e = pay_buf_add(&b, ".", 1)) != PAY_OK) {
        goto out;
    }
    if (pay_base64url_encode(mac, sizeof(mac), &b) != 0) {
        e = PAY_ERR_BODY_TOO_LARGE;
        goto out;
    }
    *out = pay_buf_detach(&b, NULL);
    e = *out ? PAY_OK : PAY_ERR_NOMEM;

out:
    json_decref(header);
    json_decref(claims);
    pay_buf_release(&b);
    return e;
}

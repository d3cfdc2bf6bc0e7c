/*
 * jwt_test.c - pay_jwt_verify against good tokens and the classic attacks
 * (alg none, algorithm confusion, tampering, truncation, wrong key), claim
 * checks (exp, nbf, iss, aud, sub, role, patient customer), and
 * pay_jwt_mint_hs256 round trips. RS256 keys are generated in the test.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#define NOW 1700000000LL
#define SECRET "test-secret-of-some-length"
#define CUS "cus_0123456789abcdefghijklmn"

static struct pay_auth_config hs_cfg(void)
{
    struct pay_auth_config c = {0};
    c.jwt_alg = "HS256";
    c.jwt_secret = SECRET;
    c.leeway_s = 30;
    return c;
}

static void b64(struct pay_buf *out, const void *data, size_t n)
{
    cr_assert_eq(pay_base64url_encode(data, n, out), 0);
}

/* "<b64(header)>.<b64(payload)>" */
static char *signing_input(const char *header, const char *payload)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    b64(&b, header, strlen(header));
    cr_assert_eq(pay_buf_add(&b, ".", 1), PAY_OK);
    b64(&b, payload, strlen(payload));
    return pay_buf_detach(&b, NULL);
}

static char *append_sig(char *input, const unsigned char *sig, size_t sig_len)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    cr_assert_eq(pay_buf_adds(&b, input), PAY_OK);
    cr_assert_eq(pay_buf_add(&b, ".", 1), PAY_OK);
    b64(&b, sig, sig_len);
    free(input);
    return pay_buf_detach(&b, NULL);
}

static char *hs256(const char *header, const char *payload, const void *key, size_t key_len)
{
    char *input = signing_input(header, payload);
    unsigned char mac[32];
    pay_hmac_sha256(key, key_len, input, strlen(input), mac);
    return append_sig(input, mac, sizeof(mac));
}

static char *rs256(const char *header, const char *payload, EVP_PKEY *key)
{
    char *input = signing_input(header, payload);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    size_t sig_len = 0;
    cr_assert_eq(EVP_DigestSign(ctx, NULL, &sig_len, (unsigned char *)input, strlen(input)), 1);
    unsigned char *sig = malloc(sig_len);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    char *tok = append_sig(input, sig, sig_len);
    free(sig);
    return tok;
}

static EVP_PKEY *rsa_key(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    cr_assert_not_null(k);
    return k;
}

static char *public_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PUBKEY(bio, k), 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *pem = strndup(data, (size_t)n);
    BIO_free(bio);
    return pem;
}

static const char *HS_HEADER = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char *RS_HEADER = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";

static char *claims(const char *extra)
{
    char *s = NULL;
    cr_assert(asprintf(&s, "{\"sub\":\"user_1\",\"role\":\"staff\",\"iat\":%lld,\"exp\":%lld%s%s}",
                       NOW, NOW + 600, extra && extra[0] ? "," : "", extra ? extra : "") > 0);
    return s;
}

static void expect_valid(const struct pay_auth_config *cfg, const char *tok,
                         struct pay_principal *who)
{
    struct pay_error err = {0};
    enum pay_err e = pay_jwt_verify(cfg, tok, NOW, who, &err);
    cr_assert_eq(e, PAY_OK, "verify: %s", err.message);
    cr_assert_eq(who->kind, PAY_PRINCIPAL_JWT);
}

static void expect_invalid(const struct pay_auth_config *cfg, const char *tok, const char *why)
{
    struct pay_error err = {0};
    struct pay_principal who;
    memset(&who, 0x77, sizeof(who));
    enum pay_err e = pay_jwt_verify(cfg, tok, NOW, &who, &err);
    cr_assert_eq(e, PAY_ERR_AUTH_INVALID, "token accepted, want refused: %s", why);
    cr_assert_eq(err.code, PAY_ERR_AUTH_INVALID);
    cr_assert_neq(err.message[0], '\0');
    cr_assert_eq(who.kind, PAY_PRINCIPAL_NONE, "principal left filled on failure");
    cr_assert_eq(who.role, PAY_ROLE_NONE);
}

/* ---- HS256 --------------------------------------------------------------- */

Test(jwt, hs256_valid)
{
    struct pay_auth_config cfg = hs_cfg();
    char *c = claims(NULL);
    char *tok = hs256(HS_HEADER, c, SECRET, strlen(SECRET));
    struct pay_principal who;
    expect_valid(&cfg, tok, &who);
    cr_assert_eq(who.role, PAY_ROLE_STAFF);
    cr_assert_str_eq(who.subject, "user_1");
    cr_assert_str_eq(who.customer, "");
    /* The default algorithm is HS256. */
    cfg.jwt_alg = NULL;
    expect_valid(&cfg, tok, &who);
    free(tok);
    free(c);
}

Test(jwt, hs256_wrong_secret)
{
    struct pay_auth_config cfg = hs_cfg();
    char *c = claims(NULL);
    char *tok = hs256(HS_HEADER, c, "other", 5);
    expect_invalid(&cfg, tok, "wrong secret");
    free(tok);
    cfg.jwt_secret = NULL;
    tok = hs256(HS_HEADER, c, "", 0);
    expect_invalid(&cfg, tok, "no secret configured, empty key");
    free(tok);
    free(c);
}

Test(jwt, alg_none_in_any_casing)
{
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                             "{\"alg\":\"nOnE\"}"};
    char *c = claims(NULL);
    for (size_t i = 0; i < 4; i++) {
        struct pay_auth_config cfg = hs_cfg();
        char *input = signing_input(headers[i], c);
        /* Unsigned: empty signature part, and also with a junk signature. */
        char *bare = NULL;
        cr_assert(asprintf(&bare, "%s.", input) > 0);
        expect_invalid(&cfg, bare, "alg none, empty signature");
        char *junk = append_sig(strdup(input), (const unsigned char *)"x", 1);
        expect_invalid(&cfg, junk, "alg none, junk signature");
        /* Even when "none" is what is configured. */
        cfg.jwt_alg = "none";
        expect_invalid(&cfg, junk, "alg none configured");
        char *hs = hs256(headers[i], c, SECRET, strlen(SECRET));
        cfg.jwt_alg = "HS256";
        expect_invalid(&cfg, hs, "alg none header with a valid HMAC");
        free(hs);
        free(bare);
        free(junk);
        free(input);
    }
    free(c);
}

Test(jwt, header_must_name_alg_and_no_crit)
{
    struct pay_auth_config cfg = hs_cfg();
    char *c = claims(NULL);
    const char *bad[] = {"{\"typ\":\"JWT\"}",
                         "{\"alg\":\"hs256\"}",
                         "{\"alg\":\"HS512\"}",
                         "{\"alg\":256}",
                         "[\"HS256\"]",
                         "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
                         "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                         "not json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *tok = hs256(bad[i], c, SECRET, strlen(SECRET));
        expect_invalid(&cfg, tok, bad[i]);
        free(tok);
    }
    free(c);
}

Test(jwt, tampered_payload)
{
    struct pay_auth_config cfg = hs_cfg();
    char *c = claims(NULL);
    char *tok = hs256(HS_HEADER, c, SECRET, strlen(SECRET));
    /* Swap in a payload claiming admin, keep the signature. */
    char *admin = NULL;
    cr_assert(asprintf(&admin, "{\"sub\":\"user_1\",\"role\":\"admin\",\"exp\":%lld}", NOW + 600) >
              0);
    char *forged_input = signing_input(HS_HEADER, admin);
    const char *sig = strrchr(tok, '.');
    char *forged = NULL;
    cr_assert(asprintf(&forged, "%s%s", forged_input, sig) > 0);
    expect_invalid(&cfg, forged, "tampered payload");
    /* Flip one character of the original payload. */
    char *flip = strdup(tok);
    char *p = strchr(flip, '.') + 3;
    *p = *p == 'A' ? 'B' : 'A';
    expect_invalid(&cfg, flip, "flipped payload character");
    free(flip);
    free(forged);
    free(forged_input);
    free(admin);
    free(tok);
    free(c);
}

Test(jwt, truncated_or_malformed)
{
    struct pay_auth_config cfg = hs_cfg();
    char *c = claims(NULL);
    char *tok = hs256(HS_HEADER, c, SECRET, strlen(SECRET));
    char *t = strdup(tok);
    t[strlen(t) - 4] = '\0';
    expect_invalid(&cfg, t, "truncated signature");
    free(t);
    t = strdup(tok);
    *strrchr(t, '.') = '\0';
    expect_invalid(&cfg, t, "two parts");
    free(t);
    char *four = NULL;
    cr_assert(asprintf(&four, "%s.x", tok) > 0);
    expect_invalid(&cfg, four, "four parts");
    free(four);
    char *bad_sig = NULL;
    cr_assert(asprintf(&bad_sig, "%s!", tok) > 0);
    expect_invalid(&cfg, bad_sig, "signature not base64url");
    free(bad_sig);
    expect_invalid(&cfg, "", "empty");
    expect_invalid(&cfg, "..", "empty parts");
    expect_invalid(&cfg, "a.b.c", "garbage");
    expect_invalid(&cfg, NULL, "NULL");
    /* Too large before any decoding. */
    char *huge = malloc(PAY_JWT_BYTES_MAX + 2);
    memset(huge, 'a', PAY_JWT_BYTES_MAX + 1);
    huge[PAY_JWT_BYTES_MAX + 1] = '\0';
    huge[10] = '.';
    huge[20] = '.';
    expect_invalid(&cfg, huge, "too large");
    free(huge);
    free(tok);
    free(c);
}

/* ---- claims ------------------------------------------------------------ */

static void expect_claims_invalid(const struct pay_auth_config *cfg, const char *payload,
                                  const char *why)
{
    char *tok = hs256(HS_HEADER, payload, SECRET, strlen(SECRET));
    expect_invalid(cfg, tok, why);
    free(tok);
}

static void expect_claims_valid(const struct pay_auth_config *cfg, const char *payload,
                                struct pay_principal *who)
{
    char *tok = hs256(HS_HEADER, payload, SECRET, strlen(SECRET));
    expect_valid(cfg, tok, who);
    free(tok);
}

Test(jwt, expiry_with_leeway)
{
    struct pay_auth_config cfg = hs_cfg();
    struct pay_principal who;
    char p[256];
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld}", NOW - 31);
    expect_claims_invalid(&cfg, p, "expired beyond leeway");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld}", NOW - 30);
    expect_claims_invalid(&cfg, p, "expired exactly at the leeway edge");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld}", NOW - 29);
    expect_claims_valid(&cfg, p, &who);
    cfg.leeway_s = 0;
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld}", NOW);
    expect_claims_invalid(&cfg, p, "exp == now without leeway");
    expect_claims_invalid(&cfg, "{\"sub\":\"u\",\"role\":\"staff\"}", "no exp");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":\"%lld\"}", NOW + 100);
    expect_claims_invalid(&cfg, p, "exp as a string");
}

Test(jwt, not_before)
{
    struct pay_auth_config cfg = hs_cfg();
    struct pay_principal who;
    char p[256];
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld,\"nbf\":%lld}",
             NOW + 600, NOW + 31);
    expect_claims_invalid(&cfg, p, "nbf in the future");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld,\"nbf\":%lld}",
             NOW + 600, NOW + 30);
    expect_claims_valid(&cfg, p, &who);
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"staff\",\"exp\":%lld,\"nbf\":\"soon\"}",
             NOW + 600);
    expect_claims_invalid(&cfg, p, "nbf not a number");
}

Test(jwt, issuer_and_audience)
{
    struct pay_auth_config cfg = hs_cfg();
    cfg.jwt_issuer = "https://idp.example";
    cfg.jwt_audience = "payd";
    struct pay_principal who;
    char *c = claims("\"iss\":\"https://idp.example\",\"aud\":\"payd\"");
    expect_claims_valid(&cfg, c, &who);
    free(c);
    c = claims("\"iss\":\"https://idp.example\",\"aud\":[\"other\",\"payd\"]");
    expect_claims_valid(&cfg, c, &who);
    free(c);
    c = claims("\"iss\":\"https://evil.example\",\"aud\":\"payd\"");
    expect_claims_invalid(&cfg, c, "wrong iss");
    free(c);
    c = claims("\"aud\":\"payd\"");
    expect_claims_invalid(&cfg, c, "missing iss");
    free(c);
    c = claims("\"iss\":\"https://idp.example\",\"aud\":\"paydx\"");
    expect_claims_invalid(&cfg, c, "wrong aud");
    free(c);
    c = claims("\"iss\":\"https://idp.example\",\"aud\":[\"other\"]");
    expect_claims_invalid(&cfg, c, "aud array without us");
    free(c);
    c = claims("\"iss\":\"https://idp.example\"");
    expect_claims_invalid(&cfg, c, "missing aud");
    free(c);
    /* Not configured: not checked. */
    cfg.jwt_issuer = NULL;
    cfg.jwt_audience = NULL;
    c = claims("\"iss\":\"anyone\",\"aud\":\"anything\"");
    expect_claims_valid(&cfg, c, &who);
    free(c);
}

Test(jwt, subject_and_role_required)
{
    struct pay_auth_config cfg = hs_cfg();
    char p[512];
    snprintf(p, sizeof(p), "{\"role\":\"staff\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "no sub");
    snprintf(p, sizeof(p), "{\"sub\":\"\",\"role\":\"staff\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "empty sub");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "no role");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"root\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "unknown role");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"Admin\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "role casing");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":[\"admin\"],\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "role array");
    char longsub[200];
    memset(longsub, 's', 128);
    longsub[128] = '\0';
    snprintf(p, sizeof(p), "{\"sub\":\"%s\",\"role\":\"staff\",\"exp\":%lld}", longsub, NOW + 60);
    expect_claims_invalid(&cfg, p, "sub longer than the principal holds");
    snprintf(p, sizeof(p), "{\"sub\":\"u\",\"sub\":\"v\",\"role\":\"staff\",\"exp\":%lld}",
             NOW + 60);
    expect_claims_invalid(&cfg, p, "duplicate claim");
}

Test(jwt, every_role)
{
    struct pay_auth_config cfg = hs_cfg();
    struct pay_principal who;
    const char *roles[] = {"admin", "staff", "auditor"};
    enum pay_role want[] = {PAY_ROLE_ADMIN, PAY_ROLE_STAFF, PAY_ROLE_AUDITOR};
    char p[256];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"role\":\"%s\",\"exp\":%lld}", roles[i], NOW + 60);
        expect_claims_valid(&cfg, p, &who);
        cr_assert_eq(who.role, want[i]);
    }
}

Test(jwt, patient_needs_customer)
{
    struct pay_auth_config cfg = hs_cfg();
    struct pay_principal who;
    char p[256];
    snprintf(p, sizeof(p), "{\"sub\":\"pat\",\"role\":\"patient\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "patient without customer");
    snprintf(p, sizeof(p),
             "{\"sub\":\"pat\",\"role\":\"patient\",\"customer\":\"pi_123\",\"exp\":%lld}",
             NOW + 60);
    expect_claims_invalid(&cfg, p, "patient with a non-customer id");
    snprintf(p, sizeof(p),
             "{\"sub\":\"pat\",\"role\":\"patient\",\"customer\":\"cus_\",\"exp\":%lld}", NOW + 60);
    expect_claims_invalid(&cfg, p, "patient with an empty customer id");
    snprintf(p, sizeof(p),
             "{\"sub\":\"pat\",\"role\":\"patient\",\"customer\":\"" CUS "\",\"exp\":%lld}",
             NOW + 60);
    expect_claims_valid(&cfg, p, &who);
    cr_assert_eq(who.role, PAY_ROLE_PATIENT);
    cr_assert_str_eq(who.customer, CUS);
    cr_assert_str_eq(who.subject, "pat");
}

/* ---- RS256 --------------------------------------------------------------- */

Test(jwt, rs256_valid_and_wrong_key)
{
    EVP_PKEY *key = rsa_key();
    EVP_PKEY *other = rsa_key();
    char *pem = public_pem(key);
    struct pay_auth_config cfg = {.jwt_alg = "RS256", .jwt_public_key = pem, .leeway_s = 30};
    char *c = claims(NULL);

    char *tok = rs256(RS_HEADER, c, key);
    struct pay_principal who;
    expect_valid(&cfg, tok, &who);
    cr_assert_eq(who.role, PAY_ROLE_STAFF);
    cr_assert_str_eq(who.subject, "user_1");
    /* Again, through the parsed-key cache. */
    expect_valid(&cfg, tok, &who);

    char *wrong = rs256(RS_HEADER, c, other);
    expect_invalid(&cfg, wrong, "signed by another key");

    /* Another configured key (the cache must not keep the old one). */
    char *pem2 = public_pem(other);
    cfg.jwt_public_key = pem2;
    expect_valid(&cfg, wrong, &who);
    expect_invalid(&cfg, tok, "old key's token after rotation");

    char *t = strdup(tok);
    t[strlen(t) - 3] = '\0';
    cfg.jwt_public_key = pem;
    expect_invalid(&cfg, t, "truncated RS256 signature");

    free(t);
    free(pem2);
    free(wrong);
    free(tok);
    free(c);
    free(pem);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

Test(jwt, algorithm_confusion_refused)
{
    EVP_PKEY *key = rsa_key();
    char *pem = public_pem(key);
    struct pay_auth_config cfg = {.jwt_alg = "RS256", .jwt_public_key = pem, .leeway_s = 30};
    char *c = claims(NULL);

    /* The classic attack: HS256 "signed" with the public key PEM as secret. */
    char *confused = hs256(HS_HEADER, c, pem, strlen(pem));
    expect_invalid(&cfg, confused, "HS256 keyed with the RS256 public key");
    /* Even with an HS256 secret also configured, RS256 pinning wins. */
    cfg.jwt_secret = SECRET;
    char *hs = hs256(HS_HEADER, c, SECRET, strlen(SECRET));
    expect_invalid(&cfg, hs, "HS256 token when RS256 is configured");
    expect_invalid(&cfg, confused, "confusion with secret configured");

    /* And the other way: an RS256 token where HS256 is configured. */
    struct pay_auth_config hs_only = hs_cfg();
    hs_only.jwt_public_key = pem;
    char *rs = rs256(RS_HEADER, c, key);
    expect_invalid(&hs_only, rs, "RS256 token when HS256 is configured");

    /* A bad PEM refuses every token rather than crashing. */
    cfg.jwt_public_key = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n";
    expect_invalid(&cfg, rs, "bad PEM");
    cfg.jwt_public_key = NULL;
    expect_invalid(&cfg, rs, "no PEM");

    free(rs);
    free(hs);
    free(confused);
    free(c);
    free(pem);
    EVP_PKEY_free(key);
}

Test(jwt, rs256_rejects_non_rsa_key)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    cr_assert_not_null(ec);
    char *pem = public_pem(ec);
    struct pay_auth_config cfg = {.jwt_alg = "RS256", .jwt_public_key = pem};
    char *c = claims(NULL);
    EVP_PKEY *rsa = rsa_key();
    char *tok = rs256(RS_HEADER, c, rsa);
    expect_invalid(&cfg, tok, "EC key configured for RS256");
    free(tok);
    free(c);
    free(pem);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

/* ---- minting ------------------------------------------------------------- */

Test(jwt, mint_then_verify)
{
    struct pay_auth_config cfg = hs_cfg();
    cfg.jwt_issuer = "payd";
    cfg.jwt_audience = "api";
    char *tok = NULL;
    cr_assert_eq(
        pay_jwt_mint_hs256(SECRET, "nurse_7", "staff", NULL, 3600, "payd", "api", NOW, &tok),
        PAY_OK);
    cr_assert_not_null(tok);
    struct pay_principal who;
    expect_valid(&cfg, tok, &who);
    cr_assert_str_eq(who.subject, "nurse_7");
    cr_assert_eq(who.role, PAY_ROLE_STAFF);

    /* It expires after its ttl (plus leeway). */
    struct pay_error err = {0};
    cr_assert_eq(pay_jwt_verify(&cfg, tok, NOW + 3600 + 30, &who, &err), PAY_ERR_AUTH_INVALID);
    cr_assert_eq(pay_jwt_verify(&cfg, tok, NOW + 3600 + 29, &who, &err), PAY_OK);
    free(tok);

    cr_assert_eq(pay_jwt_mint_hs256(SECRET, "p1", "patient", CUS, 60, NULL, NULL, NOW, &tok),
                 PAY_OK);
    struct pay_auth_config plain = hs_cfg();
    expect_valid(&plain, tok, &who);
    cr_assert_eq(who.role, PAY_ROLE_PATIENT);
    cr_assert_str_eq(who.customer, CUS);
    /* Verified under another secret: refused. */
    plain.jwt_secret = "another";
    expect_invalid(&plain, tok, "minted under another secret");
    free(tok);
}

Test(jwt, mint_refuses_bad_input)
{
    char *tok = (char *)1;
    cr_assert_neq(pay_jwt_mint_hs256(NULL, "u", "staff", NULL, 60, NULL, NULL, NOW, &tok), PAY_OK);
    cr_assert_null(tok);
    cr_assert_neq(pay_jwt_mint_hs256("", "u", "staff", NULL, 60, NULL, NULL, NOW, &tok), PAY_OK);
    cr_assert_neq(pay_jwt_mint_hs256(SECRET, "", "staff", NULL, 60, NULL, NULL, NOW, &tok), PAY_OK);
    cr_assert_neq(pay_jwt_mint_hs256(SECRET, "u", "root", NULL, 60, NULL, NULL, NOW, &tok), PAY_OK);
    cr_assert_neq(pay_jwt_mint_hs256(SECRET, "u", "staff", NULL, 0, NULL, NULL, NOW, &tok), PAY_OK);
    cr_assert_neq(pay_jwt_mint_hs256(SECRET, "u", "staff", NULL, INT64_MAX, NULL, NULL, NOW, &tok),
                  PAY_OK);
    cr_assert_neq(pay_jwt_mint_hs256(SECRET, "u", "patient", "pi_1", 60, NULL, NULL, NOW, &tok),
                  PAY_OK);
    cr_assert_neq(pay_jwt_mint_hs256(SECRET, "u", "patient", NULL, 60, NULL, NULL, NOW, &tok),
                  PAY_OK);
    cr_assert_null(tok);
}

/* ---- roles ------------------------------------------------------------- */

Test(jwt, role_names_round_trip)
{
    enum pay_role roles[] = {PAY_ROLE_ADMIN, PAY_ROLE_STAFF, PAY_ROLE_AUDITOR, PAY_ROLE_PATIENT};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pay_role_parse(pay_role_name(roles[i])), roles[i]);
    }
    cr_assert_eq(pay_role_parse("none"), PAY_ROLE_NONE);
    cr_assert_eq(pay_role_parse(""), PAY_ROLE_NONE);
    cr_assert_eq(pay_role_parse(NULL), PAY_ROLE_NONE);
    cr_assert_eq(pay_role_parse("ADMIN"), PAY_ROLE_NONE);
}

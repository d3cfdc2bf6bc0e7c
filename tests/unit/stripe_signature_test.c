/*
 * stripe_signature_test.c - Stripe-Signature verification: the header
 * grammar (t, several v1, v0 and unknown keys ignored, duplicates, bad
 * hex, missing parts, size cap), the HMAC over the raw body, secret
 * rotation on both sides, and the tolerance in both directions.
 *
 * The expected signatures are computed independently with OpenSSL's HMAC
 * here, so a verifier that hashed the wrong bytes could not pass.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/stripe_signature.h"

#define SECRET "whsec_test_secret_1"
#define SECRET2 "whsec_test_secret_2"
#define NOW 1700000000LL

static const char body[] =
    "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\"}";

/* Lower-case hex HMAC-SHA256(secret, "t.body") computed by OpenSSL directly. */
static void sign(const char *secret, const char *t, const char *b, size_t blen, char hex[65])
{
    char *msg = malloc(strlen(t) + 1 + blen);
    cr_assert_not_null(msg);
    memcpy(msg, t, strlen(t));
    msg[strlen(t)] = '.';
    memcpy(msg + strlen(t) + 1, b, blen);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
         strlen(t) + 1 + blen, mac, &mac_len);
    free(msg);
    cr_assert_eq(mac_len, 32);
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
}

static enum pay_stripe_sig_result verify1(const char *header, const char *b, size_t blen)
{
    const char *secrets[] = {SECRET};
    return pay_stripe_signature_verify(header, b, blen, secrets, 1, NOW, 300);
}

static void header_for(const char *secret, long long t, char *out, size_t n)
{
    char ts[32], hex[65];
    snprintf(ts, sizeof(ts), "%lld", t);
    sign(secret, ts, body, strlen(body), hex);
    snprintf(out, n, "t=%s,v1=%s", ts, hex);
}

Test(stripe_signature, valid)
{
    char h[256];
    header_for(SECRET, NOW, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
}

Test(stripe_signature, header_builder_agrees_with_openssl)
{
    char mine[256], ref[256];
    cr_assert_eq(pay_stripe_signature_header(SECRET, NOW, body, strlen(body), mine, sizeof(mine)),
                 0);
    header_for(SECRET, NOW, ref, sizeof(ref));
    cr_assert_str_eq(mine, ref);
    cr_assert_eq(pay_stripe_signature_header(SECRET, NOW, body, strlen(body), mine, 10), -1);
}

Test(stripe_signature, wrong_secret_mismatch)
{
    char h[256];
    header_for("whsec_other", NOW, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MISMATCH);
}

Test(stripe_signature, several_v1_any_matches)
{
    char good[256], hex[65], h[512];
    header_for(SECRET, NOW, good, sizeof(good));
    sign("whsec_old", "1700000000", body, strlen(body), hex);
    /* the matching one last, after a stale secret's signature */
    snprintf(h, sizeof(h), "t=1700000000,v1=%s,v1=%s", hex, strchr(good, ',') + 4);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
    /* and first */
    snprintf(h, sizeof(h), "t=1700000000,v1=%s,v1=%s", strchr(good, ',') + 4, hex);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
}

Test(stripe_signature, rotation_of_configured_secrets)
{
    char h[256];
    header_for(SECRET2, NOW, h, sizeof(h));
    const char *both[] = {SECRET, SECRET2};
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), both, 2, NOW, 300),
                 PAY_STRIPE_SIG_OK);
    const char *old_only[] = {SECRET};
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), old_only, 1, NOW, 300),
                 PAY_STRIPE_SIG_MISMATCH);
    const char *with_empty[] = {"", SECRET2};
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), with_empty, 2, NOW, 300),
                 PAY_STRIPE_SIG_OK);
}

Test(stripe_signature, no_secret_configured)
{
    char h[256];
    header_for(SECRET, NOW, h, sizeof(h));
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), NULL, 0, NOW, 300),
                 PAY_STRIPE_SIG_NO_SECRET);
    const char *empty[] = {""};
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), empty, 1, NOW, 300),
                 PAY_STRIPE_SIG_NO_SECRET);
}

Test(stripe_signature, v0_and_unknown_keys_ignored)
{
    char good[256], h[512], v0[65];
    header_for(SECRET, NOW, good, sizeof(good));
    sign(SECRET, "1700000000", body, strlen(body), v0);
    /* a valid-looking v0 alone is not enough */
    snprintf(h, sizeof(h), "t=1700000000,v0=%s", v0);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_NO_V1);
    snprintf(h, sizeof(h), "t=1700000000,v0=deadbeef,foo=bar,v1=%s,x=", strchr(good, ',') + 4);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
    /* spaces after commas are tolerated */
    snprintf(h, sizeof(h), "t=1700000000, v1=%s", strchr(good, ',') + 4);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
}

Test(stripe_signature, stale_and_future)
{
    char h[256];
    header_for(SECRET, NOW - 300, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK, "exactly at the tolerance");
    header_for(SECRET, NOW - 301, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_STALE);
    header_for(SECRET, NOW + 300, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
    header_for(SECRET, NOW + 301, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_STALE);
    header_for(SECRET, 0, h, sizeof(h));
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_STALE);
    /* a custom tolerance */
    header_for(SECRET, NOW - 1000, h, sizeof(h));
    const char *secrets[] = {SECRET};
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), secrets, 1, NOW, 1000),
                 PAY_STRIPE_SIG_OK);
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), secrets, 1, NOW, 999),
                 PAY_STRIPE_SIG_STALE);
    cr_assert_eq(pay_stripe_signature_verify(h, body, strlen(body), secrets, 1, NOW, -1),
                 PAY_STRIPE_SIG_STALE);
    /* the largest timestamp accepted by the grammar does not overflow */
    cr_assert_eq(verify1("t=999999999999999999,v1=00", body, strlen(body)), PAY_STRIPE_SIG_STALE);
    cr_assert_eq(pay_stripe_signature_verify("t=999999999999999999,v1=00", body, strlen(body),
                                             secrets, 1, INT64_MIN, 300),
                 PAY_STRIPE_SIG_STALE);
}

Test(stripe_signature, tampered_body)
{
    char h[256];
    header_for(SECRET, NOW, h, sizeof(h));
    char copy[sizeof(body)];
    memcpy(copy, body, sizeof(body));
    copy[10] ^= 1;
    cr_assert_eq(verify1(h, copy, strlen(copy)), PAY_STRIPE_SIG_MISMATCH);
    cr_assert_eq(verify1(h, body, strlen(body) - 1), PAY_STRIPE_SIG_MISMATCH, "truncated");
    /* the bytes are what is signed: re-serialised JSON with a space differs */
    cr_assert_eq(verify1(h, "{\"id\": \"evt_1\"}", 15), PAY_STRIPE_SIG_MISMATCH);
}

Test(stripe_signature, body_with_nul_bytes)
{
    static const char raw[] = {'{', '"', 'a', '"', ':', '\0', '1', '}'};
    char hex[65], h[256];
    sign(SECRET, "1700000000", raw, sizeof(raw), hex);
    snprintf(h, sizeof(h), "t=1700000000,v1=%s", hex);
    cr_assert_eq(verify1(h, raw, sizeof(raw)), PAY_STRIPE_SIG_OK);
    cr_assert_eq(verify1(h, raw, 5), PAY_STRIPE_SIG_MISMATCH, "stopping at the NUL is wrong");
}

Test(stripe_signature, empty_body)
{
    char hex[65], h[256];
    sign(SECRET, "1700000000", "", 0, hex);
    snprintf(h, sizeof(h), "t=1700000000,v1=%s", hex);
    cr_assert_eq(verify1(h, "", 0), PAY_STRIPE_SIG_OK);
    cr_assert_eq(verify1(h, NULL, 0), PAY_STRIPE_SIG_OK);
}

Test(stripe_signature, bad_hex)
{
    char good[256], h[512];
    header_for(SECRET, NOW, good, sizeof(good));
    const char *sig = strchr(good, ',') + 4;
    char upper[65];
    for (int i = 0; i < 64; i++) {
        upper[i] = (char)(sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32 : sig[i]);
    }
    upper[64] = '\0';
    snprintf(h, sizeof(h), "t=1700000000,v1=%s", upper);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MISMATCH, "upper-case hex");
    snprintf(h, sizeof(h), "t=1700000000,v1=%.63s", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MISMATCH, "one digit short");
    snprintf(h, sizeof(h), "t=1700000000,v1=%sa", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MISMATCH, "one digit long");
    cr_assert_eq(verify1("t=1700000000,v1=zz", body, strlen(body)), PAY_STRIPE_SIG_MISMATCH);
    cr_assert_eq(verify1("t=1700000000,v1=", body, strlen(body)), PAY_STRIPE_SIG_MISMATCH);
}

Test(stripe_signature, missing_or_bad_t)
{
    char good[256], h[512];
    header_for(SECRET, NOW, good, sizeof(good));
    const char *sig = strchr(good, ',') + 4;
    snprintf(h, sizeof(h), "v1=%s", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED, "no t");
    snprintf(h, sizeof(h), "t=,v1=%s", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED, "empty t");
    snprintf(h, sizeof(h), "t=-1700000000,v1=%s", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED, "signed t");
    snprintf(h, sizeof(h), "t=17e8,v1=%s", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED, "not digits");
    snprintf(h, sizeof(h), "t=1234567890123456789,v1=%s", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED, "19 digits");
    snprintf(h, sizeof(h), "t=1700000000,v1=%s,garbage", sig);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED, "element without =");
    cr_assert_eq(verify1("t=1700000000", body, strlen(body)), PAY_STRIPE_SIG_NO_V1);
}

Test(stripe_signature, duplicate_t_refused)
{
    char good[256], h[512];
    header_for(SECRET, NOW, good, sizeof(good));
    /* a second t could smuggle a fresh timestamp past a check of the first */
    snprintf(h, sizeof(h), "%s,t=1700000000", good);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED);
}

Test(stripe_signature, empty_and_missing)
{
    cr_assert_eq(verify1(NULL, body, strlen(body)), PAY_STRIPE_SIG_MISSING);
    cr_assert_eq(verify1("", body, strlen(body)), PAY_STRIPE_SIG_MISSING);
    cr_assert_eq(verify1(",,,", body, strlen(body)), PAY_STRIPE_SIG_MALFORMED);
    cr_assert_eq(verify1("=", body, strlen(body)), PAY_STRIPE_SIG_MALFORMED);
}

Test(stripe_signature, huge_header_refused)
{
    char good[256];
    header_for(SECRET, NOW, good, sizeof(good));
    size_t n = PAY_STRIPE_SIG_HEADER_LEN_MAX + 100;
    char *h = malloc(n + 1);
    cr_assert_not_null(h);
    /* a valid signature padded with unknown keys past the cap */
    size_t used = (size_t)snprintf(h, n + 1, "%s", good);
    while (used + 4 < n) {
        memcpy(h + used, ",x=1", 4);
        used += 4;
    }
    h[used] = '\0';
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED);
    /* at the cap it is still parsed */
    h[PAY_STRIPE_SIG_HEADER_LEN_MAX - (PAY_STRIPE_SIG_HEADER_LEN_MAX - strlen(good)) % 4] = '\0';
    cr_assert_leq(strlen(h), PAY_STRIPE_SIG_HEADER_LEN_MAX);
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_OK);
    free(h);
}

Test(stripe_signature, too_many_v1_refused)
{
    char good[256], h[2048];
    header_for(SECRET, NOW, good, sizeof(good));
    size_t used = (size_t)snprintf(h, sizeof(h), "%s", good);
    for (int i = 0; i < PAY_STRIPE_SIG_V1_MAX; i++) {
        used += (size_t)snprintf(h + used, sizeof(h) - used, ",v1=00");
    }
    cr_assert_eq(verify1(h, body, strlen(body)), PAY_STRIPE_SIG_MALFORMED);
}

Test(stripe_signature, reasons_are_distinct)
{
    cr_assert_str_neq(pay_stripe_signature_reason(PAY_STRIPE_SIG_STALE),
                      pay_stripe_signature_reason(PAY_STRIPE_SIG_MISMATCH));
    cr_assert_not_null(strstr(pay_stripe_signature_reason(PAY_STRIPE_SIG_STALE), "tolerance"));
}

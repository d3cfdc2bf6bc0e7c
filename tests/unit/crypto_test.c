/* crypto_test.c - SHA-256, HMAC-SHA256 (RFC 4231), base64url (RFC 4648), hex. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "core/core.h"

static void hex_of(const unsigned char *p, size_t n, char *out)
{
    pay_hex_encode(p, n, out);
}

Test(crypto, sha256_known_vectors)
{
    char hex[65];
    pay_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pay_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    pay_sha256_hex(NULL, 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(crypto, hmac_sha256_rfc4231)
{
    unsigned char mac[32];
    char hex[65];
    /* Test case 2 */
    const char *data2 = "what do ya want for nothing?";
    pay_hmac_sha256("Jefe", 4, data2, strlen(data2), mac);
    hex_of(mac, 32, hex);
    cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 1 */
    unsigned char key1[20];
    memset(key1, 0x0b, sizeof(key1));
    pay_hmac_sha256(key1, sizeof(key1), "Hi There", 8, mac);
    hex_of(mac, 32, hex);
    cr_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Test case 6: a key longer than the block size is hashed first */
    unsigned char key6[131];
    memset(key6, 0xaa, sizeof(key6));
    const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    pay_hmac_sha256(key6, sizeof(key6), data6, strlen(data6), mac);
    hex_of(mac, 32, hex);
    cr_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* An empty key and empty data (Python's hmac module gives the same). */
    pay_hmac_sha256("", 0, NULL, 0, mac);
    hex_of(mac, 32, hex);
    cr_assert_str_eq(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* The algorithms are fetched once and shared: threads hashing at once get
 * what one thread alone gets. */
struct hash_run {
    pthread_t t;
    bool ok;
};

static void *hash_many(void *arg)
{
    struct hash_run *r = arg;
    r->ok = true;
    for (int i = 0; i < 2000 && r->ok; i++) {
        unsigned char mac[32];
        char hex[65];
        pay_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
        hex_of(mac, 32, hex);
        r->ok =
            strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0;
        pay_sha256_hex("abc", 3, hex);
        r->ok =
            r->ok &&
            strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0;
    }
    return NULL;
}

Test(crypto, hashing_from_many_threads)
{
    struct hash_run runs[8];
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(pthread_create(&runs[i].t, NULL, hash_many, &runs[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(runs[i].t, NULL);
        cr_assert(runs[i].ok, "thread %d", i);
    }
}

Test(crypto, secure_equal)
{
    cr_assert(pay_secure_equal("abc", 3, "abc", 3));
    cr_assert_not(pay_secure_equal("abc", 3, "abd", 3));
    cr_assert_not(pay_secure_equal("abc", 3, "abcd", 4));
    cr_assert(pay_secure_equal("", 0, "", 0));
    cr_assert(pay_secure_equal(NULL, 0, NULL, 0));
}

Test(crypto, hex_encode)
{
    char out[9];
    pay_hex_encode("\x00\x7f\xab\xff", 4, out);
    cr_assert_str_eq(out, "007fabff");
    pay_hex_encode("", 0, out);
    cr_assert_str_eq(out, "");
}

static void expect_encode(const char *in, size_t n, const char *want)
{
    struct pay_buf b;
    pay_buf_init(&b, 1024);
    cr_assert_eq(pay_base64url_encode(in, n, &b), 0);
    cr_assert_str_eq(b.data, want);
    pay_buf_release(&b);
}

static int decode(const char *in, struct pay_buf *b)
{
    pay_buf_reset(b);
    return pay_base64url_decode(in, strlen(in), b);
}

Test(crypto, base64url_rfc4648_vectors)
{
    expect_encode("", 0, "");
    expect_encode("f", 1, "Zg");
    expect_encode("fo", 2, "Zm8");
    expect_encode("foo", 3, "Zm9v");
    expect_encode("foob", 4, "Zm9vYg");
    expect_encode("fooba", 5, "Zm9vYmE");
    expect_encode("foobar", 6, "Zm9vYmFy");
    expect_encode("\xfb\xff", 2, "-_8");
    expect_encode("\xfb\xef\xbe", 3, "----");
    expect_encode("\xff\xff\xff", 3, "____");
}

Test(crypto, base64url_decode_with_or_without_padding)
{
    struct pay_buf b;
    pay_buf_init(&b, 1024);
    cr_assert_eq(decode("Zg", &b), 0);
    cr_assert_str_eq(b.data, "f");
    cr_assert_eq(decode("Zg==", &b), 0);
    cr_assert_str_eq(b.data, "f");
    cr_assert_eq(decode("Zm8=", &b), 0);
    cr_assert_str_eq(b.data, "fo");
    cr_assert_eq(decode("Zm9vYmFy", &b), 0);
    cr_assert_str_eq(b.data, "foobar");
    cr_assert_eq(decode("", &b), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(decode("-_8", &b), 0);
    cr_assert_eq(b.len, 2);
    cr_assert_eq(memcmp(b.data, "\xfb\xff", 2), 0);
    pay_buf_release(&b);
}

Test(crypto, base64url_decode_rejects)
{
    static const char *const bad[] = {
        "Z",                                           /* one char cannot hold a byte */
        "Zm9vY",                                       /* 5 chars */
        "Zg=",                                         /* padding that does not complete a quad */
        "Zg===",  "=",     "====",  "Z===",   "Zm9v+", /* standard alphabet, not url */
        "Zm/v",   "Zm9v!", "Zm 9v", "Zm9v\n", "Zh",    /* non-zero bits after the last byte */
        "Zm9=",                                        /* ditto */
        "Zg==Zg",                                      /* padding in the middle */
    };
    struct pay_buf b;
    pay_buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(decode(bad[i], &b), -1, "\"%s\" accepted", bad[i]);
        cr_assert_eq(b.len, 0, "\"%s\" left output", bad[i]);
    }
    /* A failed decode leaves earlier contents alone. */
    pay_buf_reset(&b);
    cr_assert_eq(pay_buf_adds(&b, "keep"), PAY_OK);
    cr_assert_eq(pay_base64url_decode("Zm9v!", 5, &b), -1);
    cr_assert_str_eq(b.data, "keep");
    pay_buf_release(&b);
}

Test(crypto, base64url_round_trip)
{
    unsigned char in[300];
    struct pay_buf enc;
    struct pay_buf dec;
    pay_buf_init(&enc, 4096);
    pay_buf_init(&dec, 4096);
    for (size_t n = 0; n <= sizeof(in); n++) {
        cr_assert_eq(pay_random_bytes(in, n), PAY_OK);
        pay_buf_reset(&enc);
        pay_buf_reset(&dec);
        cr_assert_eq(pay_base64url_encode(in, n, &enc), 0);
        cr_assert_eq(enc.len, (4 * n + 2) / 3);
        cr_assert_null(strchr(enc.data, '='));
        cr_assert_eq(pay_base64url_decode(enc.data, enc.len, &dec), 0);
        cr_assert_eq(dec.len, n);
        cr_assert_eq(memcmp(dec.data, in, n), 0);
    }
    pay_buf_release(&enc);
    pay_buf_release(&dec);
}

Test(crypto, base64url_encode_respects_cap)
{
    struct pay_buf b;
    pay_buf_init(&b, 3);
    cr_assert_eq(pay_base64url_encode("foobar", 6, &b), -1);
    pay_buf_release(&b);
}

/* id_test.c - OS randomness and "<prefix>_<base62>" ids. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

#define N_IDS 10000

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool base62_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* N_IDS ids (or secrets) of prefix "pi": right length, prefix and alphabet,
 * all valid and all different; the characters from @random_from on are
 * counted into @seen. The array is returned sorted (free with free_ids). */
static char **make_ids(void (*make)(const char *, char *), size_t random_from, size_t seen[128])
{
    char **ids = calloc(N_IDS, sizeof(*ids));
    cr_assert_not_null(ids);
    for (size_t i = 0; i < N_IDS; i++) {
        ids[i] = malloc(PAY_ID_LEN_MAX + 1);
        make("pi", ids[i]);
        cr_assert_eq(strlen(ids[i]), 3 + PAY_ID_RANDOM_LEN, "%s", ids[i]);
        cr_assert_eq(strncmp(ids[i], "pi_", 3), 0);
        for (const char *p = ids[i] + 3; *p; p++) {
            cr_assert(base62_char(*p), "%s", ids[i]);
            if ((size_t)(p - ids[i] - 3) >= random_from) {
                seen[(unsigned char)*p]++;
            }
        }
        cr_assert(pay_id_valid(ids[i], "pi"), "%s", ids[i]);
    }
    qsort(ids, N_IDS, sizeof(*ids), cmp_str);
    for (size_t i = 1; i < N_IDS; i++) {
        cr_assert_neq(strcmp(ids[i - 1], ids[i]), 0, "duplicate %s", ids[i]);
    }
    return ids;
}

static void free_ids(char **ids)
{
    for (size_t i = 0; i < N_IDS; i++) {
        free(ids[i]);
    }
    free(ids);
}

/* Each of the 62 characters about equally often among @total counted. */
static void assert_uniform(const size_t seen[128], size_t total)
{
    double expect = (double)total / 62;
    for (int c = 0; c < 128; c++) {
        if (base62_char((char)c)) {
            cr_assert(seen[c] > 0.78 * expect && seen[c] < 1.24 * expect,
                      "'%c' seen %zu times, expected ~%.0f", c, seen[c], expect);
        }
    }
}

Test(id, unique_right_length_and_alphabet)
{
    size_t seen[128] = {0};
    char **ids = make_ids(pay_id_new, PAY_ID_TIME_LEN, seen);
    assert_uniform(seen, (size_t)N_IDS * (PAY_ID_RANDOM_LEN - PAY_ID_TIME_LEN));
    free_ids(ids);
}

Test(id, secrets_are_random_throughout)
{
    size_t seen[128] = {0};
    char **ids = make_ids(pay_secret_new, 0, seen);
    assert_uniform(seen, (size_t)N_IDS * PAY_ID_RANDOM_LEN);
    /* No time part: made within the same few milliseconds, secrets still
     * begin with many different characters. */
    size_t first[128] = {0};
    size_t distinct = 0;
    for (size_t i = 0; i < N_IDS; i++) {
        if (first[(unsigned char)ids[i][3]]++ == 0) {
            distinct++;
        }
    }
    cr_assert_eq(distinct, 62, "secrets began with only %zu different characters", distinct);
    free_ids(ids);
}

Test(id, ids_sort_by_creation_time)
{
    char a[PAY_ID_LEN_MAX + 1], b[PAY_ID_LEN_MAX + 1], c[PAY_ID_LEN_MAX + 1];
    pay_id_new("pi", a);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 3 * 1000 * 1000};
    nanosleep(&pause, NULL);
    pay_id_new("pi", b);
    nanosleep(&pause, NULL);
    pay_id_new("pi", c);
    cr_assert(strcmp(a, b) < 0 && strcmp(b, c) < 0, "%s %s %s", a, b, c);
    /* The time part is the same width for every id: 8 characters. */
    cr_assert_eq(strncmp(a, b, 3 + 4), 0, "%s %s: created 3 ms apart", a, b);
}

Test(id, longest_prefix_fits)
{
    char out[PAY_ID_LEN_MAX + 1];
    pay_id_new("abcdefgh", out);
    cr_assert_eq(strlen(out), PAY_ID_LEN_MAX);
    cr_assert(pay_id_valid(out, "abcdefgh"));
    cr_assert(pay_id_valid(out, NULL));
}

Test(id, bad_prefix_aborts, .signal = SIGABRT)
{
    char out[64];
    pay_id_new("toolongprefix", out);
}

Test(id, empty_prefix_aborts, .signal = SIGABRT)
{
    char out[64];
    pay_id_new("", out);
}

Test(id, valid)
{
    cr_assert(pay_id_valid("pi_abc123XYZ", "pi"));
    cr_assert(pay_id_valid("cus_1", "cus"));
    cr_assert(pay_id_valid("cus_1", NULL));
    cr_assert_not(pay_id_valid("pi_", "pi"));
    cr_assert_not(pay_id_valid("pi", "pi"));
    cr_assert_not(pay_id_valid("pix_abc", "pi"));
    cr_assert_not(pay_id_valid("cus_abc", "pi"));
    cr_assert_not(pay_id_valid("pi_abc-def", "pi"));
    cr_assert_not(pay_id_valid("pi_abc def", "pi"));
    cr_assert_not(pay_id_valid("pi_abc_def", "pi"));
    cr_assert_not(pay_id_valid("pi_abc\n", "pi"));
    cr_assert_not(pay_id_valid("pi_ab\xc3\xa9", "pi"));
    cr_assert_not(pay_id_valid("", "pi"));
    cr_assert_not(pay_id_valid(NULL, "pi"));
    cr_assert_not(pay_id_valid("_abc", NULL));
    cr_assert_not(pay_id_valid("PI_abc", NULL));
    cr_assert_not(pay_id_valid("toolongprefix_abc", NULL));
    /* Length cap: prefix + '_' + random part <= PAY_ID_LEN_MAX. */
    char id[PAY_ID_LEN_MAX + 2];
    memcpy(id, "pi_", 3);
    memset(id + 3, 'a', PAY_ID_LEN_MAX - 3);
    id[PAY_ID_LEN_MAX] = '\0';
    cr_assert(pay_id_valid(id, "pi"));
    id[PAY_ID_LEN_MAX] = 'a';
    id[PAY_ID_LEN_MAX + 1] = '\0';
    cr_assert_not(pay_id_valid(id, "pi"));
}

Test(id, random_bytes)
{
    unsigned char a[4096];
    unsigned char b[4096];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    cr_assert_eq(pay_random_bytes(a, sizeof(a)), PAY_OK);
    cr_assert_eq(pay_random_bytes(b, sizeof(b)), PAY_OK);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof(a); i++) {
        zeros += a[i] == 0;
    }
    cr_assert_lt(zeros, 64); /* ~16 expected */
    cr_assert_eq(pay_random_bytes(a, 0), PAY_OK);
}

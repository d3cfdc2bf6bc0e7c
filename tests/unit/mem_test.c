/* mem_test.c - small blocks kept on a thread that asks for it (mem.c). */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* The sizes mem.c keeps, as glibc's malloc_usable_size reports them. */
static const size_t kept_sizes[] = {56, 104, 168, 264, 392, 520, 776, 1032};
#define KEPT_SIZES (sizeof(kept_sizes) / sizeof(kept_sizes[0]))

Test(mem, roundup_is_the_smallest_kept_size_that_fits)
{
    for (size_t n = 1; n <= 1100; n++) {
        size_t r = pay_mem_roundup(n);
        cr_assert_geq(r, n, "roundup(%zu) = %zu", n, r);
        if (n <= kept_sizes[KEPT_SIZES - 1]) {
            size_t want = 0;
            for (size_t k = 0; k < KEPT_SIZES && want == 0; k++) {
                if (kept_sizes[k] >= n) {
                    want = kept_sizes[k];
                }
            }
            cr_assert_eq(r, want, "roundup(%zu) = %zu, want %zu", n, r, want);
        }
    }
}

Test(mem, every_block_holds_what_was_asked_pooled_or_not)
{
    for (int pooled = 0; pooled < 2; pooled++) {
        if (pooled) {
            pay_mem_pool_start();
        }
        for (size_t n = 1; n <= 1100; n += 7) {
            unsigned char *p = pay_mem_alloc(n);
            cr_assert_not_null(p);
            memset(p, 0xa5, n); /* ASan: the whole request is the caller's */
            cr_assert_geq(pay_mem_size(p), n);
            pay_mem_free(p);
        }
    }
    pay_mem_pool_stop();
}

Test(mem, a_pooled_thread_reuses_freed_blocks_up_to_a_bound)
{
    enum { N = 2000 };
    static void *blocks[N];
    pay_mem_pool_start();
    cr_assert_eq(pay_mem_pool_kept(), 0);
    for (int i = 0; i < N; i++) {
        blocks[i] = pay_mem_alloc(100);
        cr_assert_not_null(blocks[i]);
        memset(blocks[i], i & 0xff, 100);
    }
    for (int i = 0; i < N; i++) {
        pay_mem_free(blocks[i]);
    }
    /* 256 of the size kept, the other 1,744 given back to malloc. */
    cr_assert_eq(pay_mem_pool_kept(), 256);
    void *again = pay_mem_alloc(90);
    bool reused = false;
    for (int i = 0; i < N && !reused; i++) {
        reused = blocks[i] == again;
    }
    cr_assert(reused, "a request that fits takes a kept block");
    cr_assert_eq(pay_mem_pool_kept(), 255);
    /* A request of another size does not. */
    void *other = pay_mem_alloc(300);
    cr_assert_eq(pay_mem_pool_kept(), 255);
    pay_mem_free(other);
    pay_mem_free(again);
    cr_assert_eq(pay_mem_pool_kept(), 257);
    pay_mem_pool_stop();
    cr_assert_eq(pay_mem_pool_kept(), 0);
    /* After stop, nothing more is kept. */
    pay_mem_free(pay_mem_alloc(100));
    cr_assert_eq(pay_mem_pool_kept(), 0);
}

static void *unpooled_thread(void *arg)
{
    (void)arg;
    void *p = pay_mem_alloc(100);
    memset(p, 1, 100);
    pay_mem_free(p);
    return (void *)(uintptr_t)pay_mem_pool_kept();
}

Test(mem, a_thread_that_did_not_ask_keeps_nothing)
{
    pay_mem_pool_start();
    pthread_t t;
    void *kept = NULL;
    cr_assert_eq(pthread_create(&t, NULL, unpooled_thread, NULL), 0);
    cr_assert_eq(pthread_join(t, &kept), 0);
    cr_assert_eq((uintptr_t)kept, 0);
    pay_mem_pool_stop();
}

Test(mem, blocks_pass_between_free_malloc_and_jansson)
{
    pay_mem_pool_start();
    /* A pooled block released by free(), a malloc block by pay_mem_free
     * (kept: 104 is a kept size), and a kept block handed out again. */
    void *a = pay_mem_alloc(40);
    free(a);
    void *b = malloc(104);
    cr_assert_eq(malloc_usable_size(b), 104, "glibc's usable size changed: mem.c's sizes need it");
    pay_mem_free(b);
    cr_assert_eq(pay_mem_pool_kept(), 1);
    void *c = pay_mem_alloc(104);
    cr_assert_eq(c, b);
    free(c);
    /* jansson allocates through pay_mem once routed: its values and
     * json_dumps' text are malloc blocks all the same. */
    pay_mem_route_json();
    json_t *o = json_pack("{s:s, s:i, s:[i,i]}", "id", "pi_123", "amount", 100, "l", 1, 2);
    cr_assert_not_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"amount\":100,\"id\":\"pi_123\",\"l\":[1,2]}");
    free(text);
    json_decref(o);
    cr_assert_gt(pay_mem_pool_kept(), 0, "jansson's freed blocks are kept");
    pay_mem_pool_stop();
}

/* Blocks of 2, 4, 6 and 8 KiB are kept too, for requests of at least three
 * quarters of one; a page of SQLite's cache (~4.2 KB) is never rounded up. */
Test(mem, larger_blocks_are_kept_for_requests_close_to_their_size)
{
    /* Not pooled: nothing above 1,032 bytes is rounded to a kept size. */
    cr_assert_eq(pay_mem_roundup(4096), 4096);
    cr_assert_eq(pay_mem_roundup(7000), 7008);
    pay_mem_pool_start();
    cr_assert_eq(pay_mem_roundup(4096), 4104);
    cr_assert_eq(pay_mem_roundup(3100), 4104);
    cr_assert_eq(pay_mem_roundup(3000), 3008, "less than three quarters: its own size");
    cr_assert_eq(pay_mem_roundup(4232), 4240, "a cache page is not rounded to 6 KiB");
    cr_assert_eq(pay_mem_roundup(7000), 8200);
    cr_assert_eq(pay_mem_roundup(9000), 9008);
    char *a = pay_mem_alloc(4096);
    cr_assert_eq(malloc_usable_size(a), 4104, "glibc's usable size changed: mem.c's sizes need it");
    memset(a, 0x5a, 4096);
    pay_mem_free(a);
    cr_assert_eq(pay_mem_pool_kept(), 1);
    char *b = pay_mem_alloc(3500);
    cr_assert_eq(b, a, "a request that fits takes the kept block");
    memset(b, 0x5a, 3500);
    char *c = pay_mem_alloc(4232);
    cr_assert_lt(malloc_usable_size(c), 4300, "its own size, not a kept one");
    pay_mem_free(c);
    cr_assert_eq(pay_mem_pool_kept(), 0, "a block of no kept size is not kept");
    /* At most 64 of 4 KiB. */
    enum { N = 100 };
    char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = pay_mem_alloc(4000);
        memset(blocks[i], i, 4000);
    }
    for (int i = 0; i < N; i++) {
        pay_mem_free(blocks[i]);
    }
    cr_assert_eq(pay_mem_pool_kept(), 64);
    pay_mem_free(b);
    pay_mem_pool_stop();
    cr_assert_eq(pay_mem_pool_kept(), 0);
}

/* A text buffer moving to larger blocks keeps every byte. */
Test(mem, a_growing_buffer_keeps_its_text)
{
    for (int pooled = 0; pooled < 2; pooled++) {
        if (pooled) {
            pay_mem_pool_start();
        }
        struct pay_buf b;
        pay_buf_init(&b, SIZE_MAX - 1);
        for (int i = 0; i < 5000; i++) {
            cr_assert_eq(pay_buf_addf(&b, "%04d,", i), PAY_OK);
        }
        cr_assert_eq(b.len, 25000);
        for (int i = 0; i < 5000; i += 499) {
            char want[8];
            snprintf(want, sizeof(want), "%04d,", i);
            cr_assert_eq(memcmp(b.data + 5 * i, want, 5), 0, "at %d", i);
        }
        cr_assert_eq(b.data[b.len], '\0');
        pay_buf_release(&b);
    }
    pay_mem_pool_stop();
}

/*
 * mem.c - small blocks kept on the thread that frees them: SQLite's and
 * jansson's allocations on the store's writer thread.
 *
 * Why: Debian's SQLite is built without its own small-block allocator
 * (SQLITE_OMIT_LOOKASIDE), so every record, cursor and bound value of a
 * statement is a malloc and a free, and a payment's JSON trees are as
 * many again: ~500 of each a payment on the writer. glibc's per-thread
 * cache (tcache_count=128, main.c) serves most of them, but its fast path
 * still costs ~130 instructions a pair with the double-free checks; a
 * free list costs ~20. The writer is the one thread every payment passes
 * through in turn, so only a thread that asks for it (pay_mem_pool_start)
 * keeps blocks; on any other pay_mem_alloc is malloc and pay_mem_free is
 * free.
 *
 * Every block is a plain malloc block of one of a few sizes (glibc's
 * usable sizes, so a recycled block is exactly what malloc would give):
 * free() may release any of them, pay_mem_free may release any malloc
 * block, and a block of a kept size serves any later request that fits.
 * A thread keeps at most mem_kept[k] blocks of a size (~1.6 MiB in all),
 * and of four larger sizes (2 to 8 KiB) at most ~0.8 MiB more.
 *
 * Threading: the lists are per thread; nothing is shared.
 * pay_mem_route_json sets jansson's allocation functions, read by every
 * thread: the store calls it once, before its writer thread starts.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* The sizes kept: malloc_usable_size of malloc(n) for these n is n on
 * 64-bit glibc (16-byte chunks, 8 bytes of header). Up to MEM_MAX a request
 * takes the smallest that fits; 1032: SQLite's in-memory journal pieces of
 * 1 KiB, ~250 written and freed in a payment's job. Above, a size is
 * matched only by requests of at least three quarters of it, so nothing
 * asked for is rounded up by more than a third: SQLite's 4 KiB pages
 * copied while it splits a B-tree page and its ~7 KB of scratch for that,
 * payd's text buffers (struct pay_buf doubles from 64 bytes: 2, 4, 8 KiB)
 * and compressed documents. A page of SQLite's cache (page, header:
 * ~4.2 KB) is none of these, so no cache grows. */
#define MEM_CLASSES 12
#define MEM_SMALL 8 /* classes up to MEM_MAX */
static const size_t mem_size[MEM_CLASSES] = {56,  104,  168,  264,  392,  520,
                                             776, 1032, 2056, 4104, 6152, 8200};
static const unsigned mem_kept[MEM_CLASSES] = {256, 256,  256, 256, 128, 128,
                                               128, 1024, 32,  64,  32,  32};
#define MEM_MAX 1032

struct mem_pool {
    bool on;
    void *head[MEM_CLASSES];
    unsigned n[MEM_CLASSES];
};

static _Thread_local struct mem_pool pool;

/* The smallest kept size of at least @n bytes (n <= MEM_MAX), by n / 8
 * rounded up: mem_size[k] >= 8 * i for class_of[i] = k. */
static const unsigned char class_of[MEM_MAX / 8 + 1] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
};

/* The class a request of @n bytes takes, or -1 (none: plain malloc). */
static int request_class(size_t n)
{
    if (n <= MEM_MAX) {
        return class_of[(n + 7) / 8];
    }
    for (int k = MEM_SMALL; k < MEM_CLASSES; k++) {
        if (n <= mem_size[k]) {
            return n > mem_size[k] / 4 * 3 ? k : -1;
        }
    }
    return -1;
}

void *pay_mem_alloc(size_t n)
{
    struct mem_pool *p = &pool;
    int k = p->on ? request_class(n) : -1;
    if (k < 0) {
        return malloc(n);
    }
    void *b = p->head[k];
    if (b != NULL) {
        p->head[k] = *(void **)b;
        p->n[k]--;
        return b;
    }
    return malloc(mem_size[k]);
}

void *pay_mem_zalloc(size_t n)
{
    void *b = pay_mem_alloc(n);
    if (b != NULL) {
        memset(b, 0, n);
    }
    return b;
}

void pay_mem_free(void *b)
{
    struct mem_pool *p = &pool;
    if (b != NULL && p->on) {
        size_t u = malloc_usable_size(b);
        int k = request_class(u);
        if (k >= 0 && mem_size[k] == u && p->n[k] < mem_kept[k]) {
            *(void **)b = p->head[k];
            p->head[k] = b;
            p->n[k]++;
            return;
        }
    }
    free(b);
}

size_t pay_mem_size(void *b)
{
    return b != NULL ? malloc_usable_size(b) : 0;
}

size_t pay_mem_roundup(size_t n)
{
    /* Small requests are rounded on every thread (a few bytes at most);
     * larger ones only where they are kept, to spare other threads the
     * waste. */
    int k = n <= MEM_MAX || pool.on ? request_class(n) : -1;
    return k >= 0 ? mem_size[k] : (n + 15) & ~(size_t)15;
}

static void *json_alloc(size_t n)
{
    return pay_mem_alloc(n);
}

void pay_mem_route_json(void)
{
    /* Blocks are plain malloc blocks either way, so the switch is safe
     * with jansson values already made: they may be freed by either. */
    json_set_alloc_funcs(json_alloc, pay_mem_free);
}

void pay_mem_pool_start(void)
{
    pool.on = true;
}

void pay_mem_pool_stop(void)
{
    struct mem_pool *p = &pool;
    p->on = false;
    for (unsigned k = 0; k < MEM_CLASSES; k++) {
        while (p->head[k] != NULL) {
            void *b = p->head[k];
            p->head[k] = *(void **)b;
            free(b);
        }
        p->n[k] = 0;
    }
}

size_t pay_mem_pool_kept(void)
{
    size_t n = 0;
    for (unsigned k = 0; k < MEM_CLASSES; k++) {
        n += pool.n[k];
    }
    return n;
}

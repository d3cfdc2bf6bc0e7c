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
 * A thread keeps at most mem_kept[k] blocks of a size (~1.6 MiB in all).
 *
 * Threading: the lists are per thread; nothing is shared.
 * pay_mem_route_json sets jansson's allocation functions, read by every
 * thread: the store calls it once, before its writer thread starts.
 */
#include <malloc.h>
#include <stdlib.h>

#include "core/core.h"

#define MEM_CLASSES 8
/* The sizes kept: malloc_usable_size of malloc(n) for these n is n on
 * 64-bit glibc (16-byte chunks, 8 bytes of header). 1032: SQLite's
 * in-memory journal pieces of 1 KiB, ~250 written and freed in a payment's
 * job. */
static const size_t mem_size[MEM_CLASSES] = {56, 104, 168, 264, 392, 520, 776, 1032};
static const unsigned mem_kept[MEM_CLASSES] = {256, 256, 256, 256, 128, 128, 128, 1024};
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

static unsigned request_class(size_t n)
{
    return class_of[(n + 7) / 8];
}

void *pay_mem_alloc(size_t n)
{
    struct mem_pool *p = &pool;
    if (!p->on || n > MEM_MAX) {
        return malloc(n);
    }
    unsigned k = request_class(n);
    void *b = p->head[k];
    if (b != NULL) {
        p->head[k] = *(void **)b;
        p->n[k]--;
        return b;
    }
    return malloc(mem_size[k]);
}

void pay_mem_free(void *b)
{
    struct mem_pool *p = &pool;
    if (b != NULL && p->on) {
        size_t u = malloc_usable_size(b);
        if (u <= MEM_MAX) {
            unsigned k = request_class(u);
            if (mem_size[k] == u && p->n[k] < mem_kept[k]) {
                *(void **)b = p->head[k];
                p->head[k] = b;
                p->n[k]++;
                return;
            }
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
    return n <= MEM_MAX ? mem_size[request_class(n)] : (n + 15) & ~(size_t)15;
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

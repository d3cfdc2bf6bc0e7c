/*
 * buf.c - growable byte buffers with a mandatory size cap (git's strbuf,
 * curl's dynbuf limit).
 *
 * Invariants: data is always NUL-terminated, also right after init (it then
 * points at a shared empty string and cap is 0, so nothing is allocated
 * until the first append); len <= max_len; a failed append leaves the buffer
 * exactly as it was. Threading: one buffer belongs to one thread at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* Buffers up to this capacity grow by a copy into a pay_mem block. */
#define BUF_MOVE_MAX 8192

/* Never written: a buffer with cap == 0 owns no memory. */
static char buf_empty[1];

void pay_buf_init(struct pay_buf *b, size_t max_len)
{
    b->data = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max_len = max_len;
}

void pay_buf_release(struct pay_buf *b)
{
    if (b->cap > 0) {
        pay_mem_free(b->data);
    }
    pay_buf_init(b, b->max_len);
}

void pay_buf_reset(struct pay_buf *b)
{
    b->len = 0;
    if (b->cap > 0) {
        b->data[0] = '\0';
    }
}

/* Make room for @extra more bytes plus the NUL, within max_len. */
static enum pay_err buf_grow(struct pay_buf *b, size_t extra)
{
    if (extra > b->max_len - b->len) {
        return PAY_ERR_BODY_TOO_LARGE;
    }
    if (b->len + extra == SIZE_MAX) {
        return PAY_ERR_NOMEM; /* no room for the NUL */
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return PAY_OK;
    }
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    /* Never hold more than the cap allows, however the doubling lands. */
    if (b->max_len < SIZE_MAX && cap > b->max_len + 1) {
        cap = b->max_len + 1;
    }
    /* Up to 8 KiB the blocks come from pay_mem (sizes the writer thread
     * keeps), and a buffer moves to its larger block by a copy; beyond,
     * realloc may grow it in place. */
    char *p;
    if (b->cap == 0 || cap <= BUF_MOVE_MAX) {
        p = pay_mem_alloc(cap);
        if (p != NULL && b->cap > 0) {
            memcpy(p, b->data, b->cap); /* all of it: a caller may have written past len */
            pay_mem_free(b->data);
        }
    } else {
        p = realloc(b->data, cap);
    }
    if (!p) {
        return PAY_ERR_NOMEM;
    }
    if (b->cap == 0) {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = cap;
    return PAY_OK;
}

enum pay_err pay_buf_reserve(struct pay_buf *b, size_t n)
{
    return buf_grow(b, n);
}

enum pay_err pay_buf_add(struct pay_buf *b, const void *data, size_t n)
{
    if (n == 0) {
        return PAY_OK;
    }
    /* Appending a slice of the buffer to itself must survive realloc. */
    const char *src = data;
    bool inside = b->cap > 0 && src >= b->data && src < b->data + b->cap;
    size_t off = inside ? (size_t)(src - b->data) : 0;
    enum pay_err rc = buf_grow(b, n);
    if (rc != PAY_OK) {
        return rc;
    }
    if (inside) {
        src = b->data + off;
    }
    memmove(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PAY_OK;
}

enum pay_err pay_buf_adds(struct pay_buf *b, const char *s)
{
    return pay_buf_add(b, s, strlen(s));
}

enum pay_err pay_buf_add_strs(struct pay_buf *b, ...)
{
    va_list ap;
    va_start(ap, b);
    enum pay_err rc = PAY_OK;
    for (const char *s = va_arg(ap, const char *); s != NULL && rc == PAY_OK;
         s = va_arg(ap, const char *)) {
        rc = pay_buf_adds(b, s);
    }
    va_end(ap);
    return rc;
}

size_t pay_int_digits(int64_t v, char *out)
{
    char digits[PAY_INT_DIGITS_MAX];
    char *o = digits + sizeof(digits);
    /* In unsigned arithmetic, so that the smallest int64 has a magnitude. */
    uint64_t m = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    do {
        *--o = (char)('0' + (int)(m % 10u));
        m /= 10u;
    } while (m != 0);
    if (v < 0) {
        *--o = '-';
    }
    size_t n = (size_t)(digits + sizeof(digits) - o);
    memcpy(out, o, n);
    return n;
}

enum pay_err pay_buf_add_int(struct pay_buf *b, int64_t v)
{
    char digits[PAY_INT_DIGITS_MAX];
    return pay_buf_add(b, digits, pay_int_digits(v, digits));
}

enum pay_err pay_buf_addf(struct pay_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return PAY_ERR_INTERNAL;
    }
    enum pay_err rc = buf_grow(b, (size_t)n);
    if (rc != PAY_OK) {
        return rc;
    }
    if (n == 0) {
        return PAY_OK;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PAY_OK;
}

char *pay_buf_detach(struct pay_buf *b, size_t *len_out)
{
    char *p;
    size_t len = b->len;
    if (b->cap > 0) {
        p = b->data;
    } else {
        p = malloc(1);
        if (p) {
            p[0] = '\0';
        }
    }
    if (len_out) {
        *len_out = p ? len : 0;
    }
    pay_buf_init(b, b->max_len);
    return p;
}

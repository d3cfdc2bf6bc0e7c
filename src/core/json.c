/*
 * json.c - small helpers over jansson used by every module that builds or
 * reads JSON objects.
 *
 * Invariants: output is compact with keys in insertion order, so responses
 * are byte-stable for tests and for idempotent replays. Threading: jansson
 * values are not shared between threads.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/*
 * Serializing: payd writes jansson values itself, byte for byte as
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes them (keys in insertion
 * order, which jansson 2.14 keeps; tests/unit/json_test.c compares the two
 * on generated values). jansson's own dump checks every object and array
 * for a cycle by printing its address into a hash table, escapes strings one
 * code point at a time and prints integers with snprintf: it was 15 % of the
 * writer thread's time in a payment (bench/RESULTS.md, round 7). Reals go
 * through jansson, so their digits stay jansson's.
 */

/* Nesting deeper than this fails (jansson's parser stops at 2048; a cycle,
 * which jansson reports, ends here too). */
#define DUMP_DEPTH_MAX 2048

/* For each byte: 1 when it ends a run copied as it is. */
static const unsigned char ends_run[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0A] = 1, [0x0B] = 1, [0x0C] = 1, [0x0D] = 1,
    [0x0E] = 1, [0x0F] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1A] = 1, [0x1B] = 1,
    [0x1C] = 1, [0x1D] = 1, [0x1E] = 1, [0x1F] = 1, ['"'] = 1,  ['\\'] = 1,
};

/* Decode one UTF-8 sequence at @s the way jansson validates strings (no
 * overlong forms, no surrogates, nothing above U+10FFFF); returns its
 * length and the code point in *cp, or 0 when @s is not valid UTF-8. Reads
 * no further than a NUL. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0; /* also stops at the NUL */
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return n;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i];) {
        uint32_t cp;
        size_t n = utf8_decode(u + i, &cp);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

/* pay_buf_add, without the call when the text fits the room already there
 * (a buffer never has more room than its cap allows). */
static inline enum pay_err put_raw(struct pay_buf *b, const void *s, size_t n)
{
    if (b->cap - b->len > n) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return PAY_OK;
    }
    return pay_buf_add(b, s, n);
}

/* put_raw of one byte. */
static inline enum pay_err put_char(struct pay_buf *b, char c)
{
    if (b->cap - b->len > 1) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return PAY_OK;
    }
    return pay_buf_add(b, &c, 1);
}

/* "\uXXXX" (upper-case hex, as jansson writes it) into @o; returns 6. */
static size_t put_u_escape(char *o, uint32_t unit)
{
    static const char hex[] = "0123456789ABCDEF";
    o[0] = '\\';
    o[1] = 'u';
    o[2] = hex[(unit >> 12) & 0xF];
    o[3] = hex[(unit >> 8) & 0xF];
    o[4] = hex[(unit >> 4) & 0xF];
    o[5] = hex[unit & 0xF];
    return 6;
}

/* The escape of code point @cp into @o (at most 12 bytes); returns its length. */
static size_t put_escape(char *o, uint32_t cp)
{
    char c = 0;
    switch (cp) {
    case '"':
        c = '"';
        break;
    case '\\':
        c = '\\';
        break;
    case '\b':
        c = 'b';
        break;
    case '\f':
        c = 'f';
        break;
    case '\n':
        c = 'n';
        break;
    case '\r':
        c = 'r';
        break;
    case '\t':
        c = 't';
        break;
    default:
        break;
    }
    if (c != 0) {
        o[0] = '\\';
        o[1] = c;
        return 2;
    }
    if (cp < 0x10000) {
        return put_u_escape(o, cp);
    }
    uint32_t v = cp - 0x10000;
    put_u_escape(o, 0xD800 | (v >> 10));
    return 6 + put_u_escape(o + 6, 0xDC00 | (v & 0x3FF));
}

/* Whether any of the 8 bytes at @p ends a run: a control (below 0x20), '"'
 * or '\\', or with @ascii a byte above 0x7F. The tests are exact for
 * "any": (x - 0x20 in each byte) & ~x & 0x80 in each byte is nonzero iff a
 * byte is below 0x20, and a byte equal to c is a zero byte of x ^ c. */
static inline bool word_ends_run(const unsigned char *p, bool ascii)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    uint64_t q = x ^ (ones * '"');
    uint64_t bs = x ^ (ones * '\\');
    uint64_t hit = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs);
    return ((hit & high) | (ascii ? x & high : 0)) != 0;
}

/* Whether none of the @n bytes at @p must be escaped (with @ascii, none
 * is above 0x7F either). */
static inline bool plain_run(const unsigned char *p, size_t n, bool ascii)
{
    const unsigned char *end = p + n;
    for (; end - p >= 8; p += 8) {
        if (word_ends_run(p, ascii)) {
            return false;
        }
    }
    for (; p < end; p++) {
        if (ends_run[*p] || (ascii && *p >= 0x80)) {
            return false;
        }
    }
    return true;
}

/* '"', @n plain bytes at @s, '"' and @tail (0: none), when the buffer has
 * room for them already; false (nothing written) otherwise. */
static inline bool put_plain_string(struct pay_buf *b, const char *s, size_t n, bool ascii,
                                    char tail)
{
    if (b->cap - b->len <= n + 3 || !plain_run((const unsigned char *)s, n, ascii)) {
        return false;
    }
    char *o = b->data + b->len;
    *o++ = '"';
    memcpy(o, s, n);
    o += n;
    *o++ = '"';
    if (tail != '\0') {
        *o++ = tail;
    }
    *o = '\0';
    b->len = (size_t)(o - b->data);
    return true;
}

/*
 * Append the @n bytes at @s (valid UTF-8, NUL-terminated after @n as
 * jansson keeps its strings) as a JSON string: '"' and '\\' escaped, \b \f
 * \n \r \t, the other controls as \u00XX; with @ascii everything above
 * U+007F as \uXXXX too (UTF-16 surrogate pairs above the BMP).
 */
static enum pay_err put_string(struct pay_buf *b, const char *s, size_t n, bool ascii)
{
    if (put_plain_string(b, s, n, ascii, '\0')) {
        return PAY_OK; /* most strings: nothing to escape */
    }
    const unsigned char *u = (const unsigned char *)s;
    const unsigned char *end = u + n;
    const unsigned char *run = u;
    enum pay_err rc = put_raw(b, "\"", 1);
    for (const unsigned char *p = u; rc == PAY_OK && p < end;) {
        /* Eight bytes at a time while none of them ends the run. */
        while (end - p >= 8 && !word_ends_run(p, ascii)) {
            p += 8;
        }
        if (p == end) {
            break;
        }
        if (!ends_run[*p] && (*p < 0x80 || !ascii)) {
            p++;
            continue;
        }
        uint32_t cp = *p;
        size_t len = 1;
        if (*p >= 0x80) {
            len = utf8_decode(p, &cp);
            if (len == 0) {
                return PAY_ERR_INTERNAL; /* jansson's strings are UTF-8 */
            }
        }
        char esc[12];
        rc = put_raw(b, run, (size_t)(p - run));
        if (rc == PAY_OK) {
            rc = put_raw(b, esc, put_escape(esc, cp));
        }
        p += len;
        run = p;
    }
    if (rc == PAY_OK) {
        rc = put_raw(b, run, (size_t)(end - run));
    }
    return rc == PAY_OK ? put_raw(b, "\"", 1) : rc;
}

static enum pay_err put_int(struct pay_buf *b, json_int_t v)
{
    char digits[PAY_INT_DIGITS_MAX];
    return put_raw(b, digits, pay_int_digits((int64_t)v, digits));
}

static enum pay_err put_value(struct pay_buf *b, const json_t *v, int depth)
{
    if (depth > DUMP_DEPTH_MAX) {
        return PAY_ERR_INTERNAL;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        enum pay_err rc = put_char(b, '{');
        const char *key;
        size_t key_len;
        json_t *item;
        bool first = true;
        json_object_keylen_foreach((json_t *)v, key, key_len, item)
        {
            if (rc == PAY_OK && !first) {
                rc = put_char(b, ',');
            }
            first = false;
            if (rc == PAY_OK && !put_plain_string(b, key, key_len, false, ':')) {
                rc = put_string(b, key, key_len, false);
                if (rc == PAY_OK) {
                    rc = put_char(b, ':');
                }
            }
            if (rc == PAY_OK) {
                rc = put_value(b, item, depth + 1);
            }
            if (rc != PAY_OK) {
                return rc;
            }
        }
        return rc == PAY_OK ? put_char(b, '}') : rc;
    }
    case JSON_ARRAY: {
        enum pay_err rc = put_char(b, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n && rc == PAY_OK; i++) {
            if (i > 0) {
                rc = put_char(b, ',');
            }
            if (rc == PAY_OK) {
                rc = put_value(b, json_array_get(v, i), depth + 1);
            }
        }
        return rc == PAY_OK ? put_char(b, ']') : rc;
    }
    case JSON_STRING:
        return put_string(b, json_string_value(v), json_string_length(v), false);
    case JSON_INTEGER:
        return put_int(b, json_integer_value(v));
    case JSON_REAL: {
        char text[64];
        size_t n = json_dumpb(v, text, sizeof(text), JSON_COMPACT | JSON_ENCODE_ANY);
        return n > 0 && n < sizeof(text) ? put_raw(b, text, n) : PAY_ERR_INTERNAL;
    }
    case JSON_TRUE:
        return put_raw(b, "true", 4);
    case JSON_FALSE:
        return put_raw(b, "false", 5);
    case JSON_NULL:
        return put_raw(b, "null", 4);
    }
    return PAY_ERR_INTERNAL;
}

enum pay_err pay_json_dump_to(struct pay_buf *b, const json_t *v)
{
    if (v == NULL) {
        return PAY_ERR_INTERNAL;
    }
    /* On failure nothing is left half-written. */
    size_t mark = b->len;
    enum pay_err rc = put_value(b, v, 0);
    if (rc != PAY_OK && b->cap > 0) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    return rc;
}

char *pay_json_dump(const json_t *v)
{
    if (!v) {
        return NULL;
    }
    struct pay_buf b;
    pay_buf_init(&b, SIZE_MAX - 1);
    /* Most objects fit: the buffer is not grown by doubling from 64 bytes. */
    if (pay_buf_reserve(&b, 2048) != PAY_OK || pay_json_dump_to(&b, v) != PAY_OK) {
        pay_buf_release(&b);
        return NULL;
    }
    return pay_buf_detach(&b, NULL);
}

enum pay_err pay_json_add_str(struct pay_buf *b, const char *s)
{
    if (s == NULL || !utf8_valid(s)) {
        return pay_buf_add(b, "null", 4);
    }
    return put_string(b, s, strlen(s), false);
}

enum pay_err pay_json_add_str_ascii(struct pay_buf *b, const char *s)
{
    if (s == NULL || !utf8_valid(s)) {
        return pay_buf_add(b, "null", 4);
    }
    return put_string(b, s, strlen(s), true);
}

/* Set @key (payd's own, valid UTF-8: see core.h) to @v, which is stolen. */
static void set_own_key(json_t *obj, const char *key, json_t *v)
{
#ifndef NDEBUG
    if (!utf8_valid(key)) {
        abort();
    }
#endif
    json_object_set_new_nocheck(obj, key, v);
}

void pay_json_set_str(json_t *obj, const char *key, const char *s)
{
    /* A string that is not UTF-8 cannot be represented: it becomes null. */
    json_t *v = s ? json_string(s) : NULL;
    set_own_key(obj, key, v ? v : json_null());
}

void pay_json_set_int(json_t *obj, const char *key, int64_t v)
{
    set_own_key(obj, key, json_integer((json_int_t)v));
}

void pay_json_set_bool(json_t *obj, const char *key, bool v)
{
    set_own_key(obj, key, json_boolean(v));
}

const char *pay_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int64_t pay_json_int(const json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

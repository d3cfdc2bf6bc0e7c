/*
 * form.c - request bodies and query strings into one jansson tree:
 * application/x-www-form-urlencoded with Stripe's bracket notation
 * (pay_form_decode) and JSON (pay_json_decode), under the same limits, so
 * handlers never know which one the client sent.
 *
 * Form rules (the HTML URL-encoded form format, plus the bracket
 * conventions Stripe's SDKs use):
 *   - pairs separated by '&' (empty pairs skipped), key and value split at
 *     the first '='; a pair without '=' has the value "".
 *   - '+' is a space, "%XX" a byte; a '%' not followed by two hex digits,
 *     a decoded NUL or invalid UTF-8 is an error.
 *   - a[b]=1 -> {"a":{"b":"1"}}; a[0][x]=1 -> {"a":[{"x":"1"}]};
 *     a[]=x&a[]=y -> {"a":["x","y"]}. "[]" is only allowed as the last
 *     bracket. Indexes may be sparse (a[3]=x&a[1]=y -> ["y","x"]: compacted
 *     in index order) but each is below PAY_ARRAY_LEN_MAX.
 *   - a container is an array when its first child is an index or "[]",
 *     an object otherwise; a later child of the other sort is an error, as
 *     is a key given twice or used both as a value and as a container
 *     ("a=1&a[b]=2"). Being strict here keeps "amount=100&amount=9999"
 *     from meaning whatever the last writer wanted.
 *   - exception: the children of a key named "metadata" are always object
 *     keys, because Stripe metadata keys are free text ("metadata[0]=x" is
 *     the key "0", not an array).
 *   - every value is a string; an empty body is {}.
 *
 * Limits (limits.h) apply to both formats: depth (the top-level object is
 * depth 1) PAY_JSON_DEPTH_MAX, PAY_ARRAY_LEN_MAX elements, PAY_OBJECT_KEYS_MAX
 * keys, PAY_STRING_LEN_MAX characters per string. Every failure is
 * PAY_ERR_BODY_INVALID naming the key in err->param (NULL param for JSON
 * syntax errors, whose message carries jansson's line and column).
 *
 * Threading: no shared state; safe from any thread.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

/* ---- Limits shared by both formats ------------------------------------ */

/* Characters (code points) of valid UTF-8 @s. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            chars++;
        }
    }
    return chars;
}

/* Append "[seg]" (or "seg" at the top) to @path of @cap bytes; truncation
 * is silent: an error names as much of the path as fits. */
static void path_push(char *path, size_t cap, size_t *len, const char *seg, size_t seg_len,
                      bool top)
{
    size_t w = *len;
    if (!top && w + 1 < cap) {
        path[w++] = '[';
    }
    for (size_t i = 0; i < seg_len && w + 1 < cap; i++) {
        path[w++] = seg[i];
    }
    if (!top && w + 1 < cap) {
        path[w++] = ']';
    }
    path[w] = '\0';
    *len = w;
}

static enum pay_err tree_check(const json_t *v, int depth, char *path, size_t cap, size_t len,
                               struct pay_error *err)
{
    if (json_is_string(v)) {
        if (utf8_chars(json_string_value(v), json_string_length(v)) > PAY_STRING_LEN_MAX) {
            return pay_error_set(err, PAY_ERR_BODY_INVALID, path,
                                 "The value of %s is longer than %d characters.", path,
                                 PAY_STRING_LEN_MAX);
        }
        return PAY_OK;
    }
    if (!json_is_object(v) && !json_is_array(v)) {
        return PAY_OK;
    }
    if (depth > PAY_JSON_DEPTH_MAX) {
        return pay_error_set(err, PAY_ERR_BODY_INVALID, path,
                             "The body nests deeper than %d levels at %s.", PAY_JSON_DEPTH_MAX,
                             path);
    }
    if (json_is_object(v)) {
        if (json_object_size(v) > PAY_OBJECT_KEYS_MAX) {
            return pay_error_set(err, PAY_ERR_BODY_INVALID, len ? path : NULL,
                                 "An object in the body has more than %d keys.",
                                 PAY_OBJECT_KEYS_MAX);
        }
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            size_t l = len;
            path_push(path, cap, &l, key, strlen(key), len == 0);
            enum pay_err e = tree_check(child, depth + 1, path, cap, l, err);
            path[len] = '\0';
            if (e != PAY_OK) {
                return e;
            }
        }
        return PAY_OK;
    }
    if (json_array_size(v) > PAY_ARRAY_LEN_MAX) {
        return pay_error_set(err, PAY_ERR_BODY_INVALID, len ? path : NULL,
                             "The array %s has more than %d elements.", path, PAY_ARRAY_LEN_MAX);
    }
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child)
    {
        char idx[24];
        int n = snprintf(idx, sizeof(idx), "%zu", i);
        size_t l = len;
        path_push(path, cap, &l, idx, (size_t)n, false);
        enum pay_err e = tree_check(child, depth + 1, path, cap, l, err);
        path[len] = '\0';
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

enum pay_err pay_http_tree_check(const json_t *v, struct pay_error *err)
{
    char path[PAY_ERROR_PARAM_MAX];
    path[0] = '\0';
    return tree_check(v, 1, path, sizeof(path), 0, err);
}

/* ---- JSON -------------------------------------------------------------- */

enum pay_err pay_json_decode(const char *body, size_t len, json_t **out, struct pay_error *err)
{
    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return *out ? PAY_OK : pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        return pay_error_set(err, PAY_ERR_BODY_INVALID, NULL,
                             "Invalid JSON body at line %d column %d: %s", jerr.line, jerr.column,
                             jerr.text);
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return pay_error_set(err, PAY_ERR_BODY_INVALID, NULL, "The JSON body must be an object.");
    }
    enum pay_err e = pay_http_tree_check(v, err);
    if (e != PAY_OK) {
        json_decref(v);
        return e;
    }
    *out = v;
    return PAY_OK;
}

/* ---- Forms: an intermediate tree, so sparse indexes can be compacted --- */

enum fkind { F_STR, F_OBJ, F_ARR };

struct fnode {
    enum fkind kind;
    bool keys_free; /* a "metadata" object: numeric segments are plain keys */
    char *key;      /* child of an object: its key (NUL-terminated) */
    long index;     /* child of an array: its index */
    char *val;      /* F_STR */
    size_t val_len;
    struct fnode *first, *last, *next;
    size_t n_children;
    long max_index;
};

static void fnode_free(struct fnode *n)
{
    while (n) {
        struct fnode *next = n->next;
        fnode_free(n->first);
        free(n->key);
        free(n->val);
        free(n);
        n = next;
    }
}

static struct fnode *fnode_new(enum fkind kind)
{
    struct fnode *n = calloc(1, sizeof(*n));
    if (n) {
        n->kind = kind;
        n->max_index = -1;
    }
    return n;
}

static void fnode_append(struct fnode *parent, struct fnode *child)
{
    if (parent->last) {
        parent->last->next = child;
    } else {
        parent->first = child;
    }
    parent->last = child;
    parent->n_children++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + extra >= n) {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and code points past U+10FFFF. */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

/*
 * Percent-decode [s, s+n) into a new NUL-terminated string. Returns NULL
 * with *bad set for a malformed escape, a NUL byte or invalid UTF-8, and
 * NULL with *bad clear when out of memory.
 */
static char *url_decode(const char *s, size_t n, size_t *len_out, bool *bad)
{
    *bad = false;
    char *out = malloc(n + 1);
    if (!out) {
        return NULL;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            out[w++] = ' ';
        } else if (c == '%') {
            int hi = -1;
            int lo = -1;
            if (i + 2 < n) {
                hi = hexval(s[i + 1]);
                lo = hexval(s[i + 2]);
            }
            if (hi < 0 || lo < 0) {
                goto out_bad;
            }
            out[w++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[w++] = c;
        }
    }
    out[w] = '\0';
    if (memchr(out, '\0', w) || !utf8_valid((const unsigned char *)out, w)) {
        goto out_bad;
    }
    *len_out = w;
    return out;

out_bad:
    free(out);
    *bad = true;
    return NULL;
}

/*
 * A bracket segment made of digits is an array index. Too many digits to
 * matter saturate at LONG_MAX, which the caller refuses as too large.
 */
static bool seg_index(const char *s, size_t n, long *out)
{
    if (n == 0) {
        return false;
    }
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (v <= (LONG_MAX - 9) / 10) {
            v = v * 10 + (s[i] - '0');
        } else {
            v = LONG_MAX;
        }
    }
    *out = v;
    return true;
}

static bool seg_is_index(const char *s, size_t n)
{
    long ignored;
    return seg_index(s, n, &ignored);
}

struct seg {
    const char *s;
    size_t n;
};

/* Split a decoded key "a[b][0][]" into segments; false when malformed. */
static bool split_key(const char *key, size_t key_len, struct seg *segs, size_t *nsegs)
{
    size_t max = *nsegs;
    size_t count = 0;
    const char *open = memchr(key, '[', key_len);
    size_t base_len = open ? (size_t)(open - key) : key_len;
    if (base_len == 0 || memchr(key, ']', base_len)) {
        return false;
    }
    segs[count++] = (struct seg){key, base_len};
    size_t i = base_len;
    while (i < key_len) {
        if (key[i] != '[') {
            return false;
        }
        const char *close = memchr(key + i + 1, ']', key_len - i - 1);
        if (!close) {
            return false;
        }
        size_t n = (size_t)(close - (key + i + 1));
        if (memchr(key + i + 1, '[', n)) {
            return false;
        }
        if (count >= max) {
            /* Deeper than any legal body: report as too deep. */
            *nsegs = max + 1;
            return true;
        }
        segs[count++] = (struct seg){key + i + 1, n};
        i += n + 2;
    }
    *nsegs = count;
    return true;
}

/* The bracket name of segments [0, k]: "a[b][0]". */
static void seg_path(const struct seg *segs, size_t k, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i <= k; i++) {
        path_push(out, cap, &len, segs[i].s, segs[i].n, i == 0);
    }
}

static struct fnode *find_key(struct fnode *obj, const char *s, size_t n)
{
    for (struct fnode *c = obj->first; c; c = c->next) {
        if (strlen(c->key) == n && memcmp(c->key, s, n) == 0) {
            return c;
        }
    }
    return NULL;
}

static struct fnode *find_index(struct fnode *arr, long index)
{
    for (struct fnode *c = arr->first; c; c = c->next) {
        if (c->index == index) {
            return c;
        }
    }
    return NULL;
}

/*
 * Insert value @val at the path @segs[0..nsegs) under @root. On error,
 * records it (naming the path up to the failing segment) and returns it.
 */
static enum pay_err form_insert(struct fnode *root, const struct seg *segs, size_t nsegs, char *val,
                                size_t val_len, struct pay_error *err)
{
    char name[PAY_ERROR_PARAM_MAX];
    struct fnode *cur = root;

    for (size_t k = 0; k < nsegs; k++) {
        const struct seg *sg = &segs[k];
        bool last = k + 1 == nsegs;
        bool append = sg->n == 0;
        struct fnode *child = NULL;
        long index = -1;

        if (append && !last) {
            seg_path(segs, k, name, sizeof(name));
            return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                 "Invalid parameter %s: \"[]\" must be the last bracket; "
                                 "use indexes (a[0][b]) for arrays of objects.",
                                 name);
        }
        if (cur->kind == F_ARR) {
            if (!append && !seg_index(sg->s, sg->n, &index)) {
                seg_path(segs, k - 1, name, sizeof(name));
                return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                     "Invalid parameter %s: it mixes array indexes and "
                                     "object keys.",
                                     name);
            }
            if (append) {
                index = cur->max_index + 1;
                if (index >= PAY_ARRAY_LEN_MAX) {
                    seg_path(segs, k - 1, name, sizeof(name));
                    return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                         "Too many elements in %s (at most %d).", name,
                                         PAY_ARRAY_LEN_MAX);
                }
            }
            if (index >= PAY_ARRAY_LEN_MAX) {
                seg_path(segs, k, name, sizeof(name));
                return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                     "Invalid parameter %s: array indexes must be below %d.", name,
                                     PAY_ARRAY_LEN_MAX);
            }
            child = find_index(cur, index);
        } else {
            if (k > 0 && !cur->keys_free && (append || seg_is_index(sg->s, sg->n))) {
                seg_path(segs, k - 1, name, sizeof(name));
                return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                     "Invalid parameter %s: it mixes array indexes and "
                                     "object keys.",
                                     name);
            }
            if (append) {
                /* Only reachable inside a metadata object: "metadata[]". */
                seg_path(segs, k, name, sizeof(name));
                return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                     "Invalid parameter %s: an object key cannot be empty.", name);
            }
            child = find_key(cur, sg->s, sg->n);
        }

        if (last) {
            if (child) {
                seg_path(segs, k, name, sizeof(name));
                return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                     child->kind == F_STR
                                         ? "Parameter %s was given more than once."
                                         : "Invalid parameter %s: it is given both a value "
                                           "and nested keys.",
                                     name);
            }
        } else if (child && child->kind == F_STR) {
            seg_path(segs, k, name, sizeof(name));
            return pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                 "Invalid parameter %s: it is given both a value and "
                                 "nested keys.",
                                 name);
        }

        if (!child) {
            if (cur->n_children >=
                (size_t)(cur->kind == F_ARR ? PAY_ARRAY_LEN_MAX : PAY_OBJECT_KEYS_MAX)) {
                seg_path(segs, k > 0 ? k - 1 : 0, name, sizeof(name));
                return pay_error_set(err, PAY_ERR_BODY_INVALID, k > 0 ? name : NULL,
                                     cur->kind == F_ARR
                                         ? "Too many elements in an array (at most %d)."
                                         : "Too many keys in an object (at most %d).",
                                     cur->kind == F_ARR ? PAY_ARRAY_LEN_MAX : PAY_OBJECT_KEYS_MAX);
            }
            enum fkind kind = F_STR;
            bool keys_free = false;
            if (!last) {
                const struct seg *nx = &segs[k + 1];
                keys_free = cur->kind == F_OBJ && sg->n == 8 && memcmp(sg->s, "metadata", 8) == 0;
                kind = !keys_free && (nx->n == 0 || seg_is_index(nx->s, nx->n)) ? F_ARR : F_OBJ;
            }
            child = fnode_new(kind);
            if (!child) {
                return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            }
            child->keys_free = keys_free;
            if (cur->kind == F_ARR) {
                child->index = index;
                if (index > cur->max_index) {
                    cur->max_index = index;
                }
            } else {
                child->key = strndup(sg->s, sg->n);
                if (!child->key) {
                    free(child);
                    return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
                }
            }
            fnode_append(cur, child);
        }
        if (last) {
            child->val = val;
            child->val_len = val_len;
            return PAY_OK;
        }
        cur = child;
    }
    return PAY_OK; /* not reached: nsegs >= 1 */
}

static int cmp_index(const void *a, const void *b)
{
    const struct fnode *x = *(const struct fnode *const *)a;
    const struct fnode *y = *(const struct fnode *const *)b;
    return (x->index > y->index) - (x->index < y->index);
}

static json_t *fnode_to_json(const struct fnode *n)
{
    if (n->kind == F_STR) {
        return json_stringn(n->val, n->val_len);
    }
    if (n->kind == F_OBJ) {
        json_t *o = json_object();
        for (const struct fnode *c = n->first; o && c; c = c->next) {
            json_t *v = fnode_to_json(c);
            if (!v || json_object_set_new(o, c->key, v) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    /* Arrays: children in index order, gaps closed. */
    const struct fnode *sorted_small[16];
    const struct fnode **sorted = sorted_small;
    if (n->n_children > 16) {
        sorted = malloc(n->n_children * sizeof(*sorted));
        if (!sorted) {
            return NULL;
        }
    }
    size_t i = 0;
    for (const struct fnode *c = n->first; c; c = c->next) {
        sorted[i++] = c;
    }
    qsort(sorted, n->n_children, sizeof(*sorted), cmp_index);
    json_t *a = json_array();
    for (i = 0; a && i < n->n_children; i++) {
        json_t *v = fnode_to_json(sorted[i]);
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    if (sorted != sorted_small) {
        free(sorted);
    }
    return a;
}

enum pay_err pay_form_decode(const char *body, size_t len, json_t **out, struct pay_error *err)
{
    *out = NULL;
    enum pay_err e = PAY_OK;
    struct fnode *root = fnode_new(F_OBJ);
    if (!root) {
        return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }

    size_t pos = 0;
    while (pos < len) {
        const char *pair = body + pos;
        const char *amp = memchr(pair, '&', len - pos);
        size_t pair_len = amp ? (size_t)(amp - pair) : len - pos;
        pos += pair_len + 1;
        if (pair_len == 0) {
            continue;
        }
        const char *eq = memchr(pair, '=', pair_len);
        size_t raw_key_len = eq ? (size_t)(eq - pair) : pair_len;
        const char *raw_val = eq ? eq + 1 : pair + pair_len;
        size_t raw_val_len = eq ? pair_len - raw_key_len - 1 : 0;

        char raw_name[PAY_ERROR_PARAM_MAX];
        size_t rn = raw_key_len < sizeof(raw_name) - 1 ? raw_key_len : sizeof(raw_name) - 1;
        memcpy(raw_name, pair, rn);
        raw_name[rn] = '\0';

        bool bad;
        size_t key_len, val_len;
        char *key = url_decode(pair, raw_key_len, &key_len, &bad);
        if (!key) {
            e = bad ? pay_error_set(err, PAY_ERR_BODY_INVALID, raw_name,
                                    "Invalid percent-encoding or UTF-8 in parameter name %s.",
                                    raw_name)
                    : pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            goto out_free;
        }
        struct seg segs[PAY_JSON_DEPTH_MAX];
        size_t nsegs = PAY_JSON_DEPTH_MAX;
        if (!split_key(key, key_len, segs, &nsegs)) {
            e = pay_error_set(err, PAY_ERR_BODY_INVALID, key_len ? raw_name : NULL,
                              key_len ? "Invalid parameter name %s: bad brackets."
                                      : "A parameter has an empty name.%s",
                              key_len ? raw_name : "");
            free(key);
            goto out_free;
        }
        /* The top-level object is depth 1, so "a" is at 1 and a[b] at 2. */
        if (nsegs > PAY_JSON_DEPTH_MAX) {
            e = pay_error_set(err, PAY_ERR_BODY_INVALID, raw_name,
                              "Parameter %s nests deeper than %d levels.", raw_name,
                              PAY_JSON_DEPTH_MAX);
            free(key);
            goto out_free;
        }
        char *val = url_decode(raw_val, raw_val_len, &val_len, &bad);
        if (!val) {
            char name[PAY_ERROR_PARAM_MAX];
            seg_path(segs, nsegs - 1, name, sizeof(name));
            e = bad ? pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                                    "Invalid percent-encoding or UTF-8 in the value of %s.", name)
                    : pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            free(key);
            goto out_free;
        }
        if (utf8_chars(val, val_len) > PAY_STRING_LEN_MAX) {
            char name[PAY_ERROR_PARAM_MAX];
            seg_path(segs, nsegs - 1, name, sizeof(name));
            e = pay_error_set(err, PAY_ERR_BODY_INVALID, name,
                              "The value of %s is longer than %d characters.", name,
                              PAY_STRING_LEN_MAX);
            free(val);
            free(key);
            goto out_free;
        }
        e = form_insert(root, segs, nsegs, val, val_len, err);
        free(key);
        if (e != PAY_OK) {
            free(val);
            goto out_free;
        }
    }

    *out = fnode_to_json(root);
    if (!*out) {
        e = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
    }

out_free:
    fnode_free(root);
    return e;
}

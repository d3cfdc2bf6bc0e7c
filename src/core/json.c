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

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/*
 * Dump into a per-thread scratch buffer first: jansson's own json_dumps
 * grows its buffer from 16 bytes by doubling and then copies the result,
 * eight reallocations for a 2 KB object. Larger texts take that path.
 */
static _Thread_local char scratch[16384];

char *pay_json_dump(const json_t *v)
{
    if (!v) {
        return NULL;
    }
    size_t n = json_dumpb(v, scratch, sizeof(scratch), DUMP_FLAGS);
    if (n == 0 || n >= sizeof(scratch)) {
        return json_dumps(v, DUMP_FLAGS);
    }
    char *out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, scratch, n);
        out[n] = '\0';
    }
    return out;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return pay_buf_add(data, buffer, size) == PAY_OK ? 0 : -1;
}

enum pay_err pay_json_dump_to(struct pay_buf *b, const json_t *v)
{
    if (v == NULL) {
        return PAY_ERR_INTERNAL;
    }
    size_t n = json_dumpb(v, scratch, sizeof(scratch), DUMP_FLAGS);
    if (n > 0 && n < sizeof(scratch)) {
        return pay_buf_add(b, scratch, n);
    }
    return json_dump_callback(v, dump_cb, b, DUMP_FLAGS) == 0 ? PAY_OK : PAY_ERR_NOMEM;
}

enum pay_err pay_json_add_str(struct pay_buf *b, const char *s)
{
    json_t *v = s != NULL ? json_string(s) : NULL;
    enum pay_err e = v != NULL ? pay_json_dump_to(b, v) : pay_buf_adds(b, "null");
    json_decref(v);
    return e;
}

void pay_json_set_str(json_t *obj, const char *key, const char *s)
{
    /* A string that is not UTF-8 cannot be represented: it becomes null. */
    json_t *v = s ? json_string(s) : NULL;
    json_object_set_new(obj, key, v ? v : json_null());
}

void pay_json_set_int(json_t *obj, const char *key, int64_t v)
{
    json_object_set_new(obj, key, json_integer((json_int_t)v));
}

void pay_json_set_bool(json_t *obj, const char *key, bool v)
{
    json_object_set_new(obj, key, json_boolean(v));
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

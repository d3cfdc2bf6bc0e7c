/*
 * openapi.c - the OpenAPI 3.1 description of payd, assembled at first use
 * from the fragments embedded in the binary: src/api/openapi/base.json
 * (openapi, info, servers, security schemes, the shared Error and List
 * schemas) and one src/api/openapi/<resource>.json per resource file,
 * each holding that resource's "paths" and "components". The routing
 * table then annotates each operation, so who may call it is stated once,
 * in the table: public routes get "security": [] and the rest "x-roles".
 *
 * Invariant (tests/unit/routes_test.c): every route has an operation and
 * every operation a route.
 *
 * Threading: built under pthread_once; read-only afterwards.
 */
#include <pthread.h>
#include <string.h>

#include "api_int.h"

#define OPENAPI_DIR "src/api/openapi/"
#define OPENAPI_BASE OPENAPI_DIR "base.json"

static json_t *doc;
static pthread_once_t doc_once = PTHREAD_ONCE_INIT;

bool pay_api_openapi_path(const char *pattern, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = pattern; *p != '\0'; p++) {
        bool param = *p == ':' && (p == pattern || p[-1] == '/');
        if (param) {
            size_t len = strcspn(p + 1, "/");
            if (o + len + 2 >= n) {
                return false;
            }
            out[o++] = '{';
            memcpy(out + o, p + 1, len);
            o += len;
            out[o++] = '}';
            p += len;
            continue;
        }
        if (o + 1 >= n) {
            return false;
        }
        out[o++] = *p;
    }
    if (n == 0) {
        return false;
    }
    out[o] = '\0';
    return true;
}

/* The object at @key of @obj, created empty when absent. */
static json_t *object_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(obj, key, v);
    }
    return v;
}

/* Add every member of @src to @dst; a name both define keeps its first
 * definition, and the clash is logged (two fragments disagreeing is a
 * defect the routes test or a reviewer should see). */
static void merge_members(json_t *dst, json_t *src, const char *what, const char *file)
{
    const char *key;
    json_t *v;
    json_object_foreach(src, key, v)
    {
        json_t *old = json_object_get(dst, key);
        if (old == NULL) {
            json_object_set(dst, key, v);
        } else if (!json_equal(old, v)) {
            pay_logf(PAY_LOG_WARN, NULL, "openapi: %s defines %s '%s' again; first kept", file,
                     what, key);
        }
    }
}

static void merge_fragment(json_t *base, json_t *frag, const char *file)
{
    json_t *paths = json_object_get(frag, "paths");
    if (json_is_object(paths)) {
        json_t *dst_paths = object_at(base, "paths");
        const char *path;
        json_t *item;
        json_object_foreach(paths, path, item)
        {
            if (json_is_object(item)) {
                merge_members(object_at(dst_paths, path), item, path, file);
            }
        }
    }
    json_t *components = json_object_get(frag, "components");
    if (json_is_object(components)) {
        json_t *dst_components = object_at(base, "components");
        const char *section;
        json_t *members;
        json_object_foreach(components, section, members)
        {
            if (json_is_object(members)) {
                merge_members(object_at(dst_components, section), members, section, file);
            }
        }
    }
    json_t *tags = json_object_get(frag, "tags");
    if (json_is_array(tags)) {
        json_t *dst_tags = json_object_get(base, "tags");
        if (!json_is_array(dst_tags)) {
            dst_tags = json_array();
            json_object_set_new_nocheck(base, "tags", dst_tags);
        }
        size_t i;
        json_t *tag;
        json_array_foreach(tags, i, tag)
        {
            bool seen = false;
            size_t j;
            json_t *have;
            json_array_foreach(dst_tags, j, have)
            {
                seen =
                    seen || json_equal(json_object_get(have, "name"), json_object_get(tag, "name"));
            }
            if (!seen) {
                json_array_append(dst_tags, tag);
            }
        }
    }
}

static json_t *parse_embedded(const struct pay_embedded *f)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)f->data, f->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(v)) {
        pay_logf(PAY_LOG_ERROR, NULL, "openapi: %s: line %d: %s", f->name, jerr.line,
                 v == NULL ? jerr.text : "not an object");
        json_decref(v);
        return NULL;
    }
    return v;
}

/* State each route's roles on its operation (and its summary if missing). */
static void annotate(json_t *d)
{
    static const enum pay_role roles[] = {PAY_ROLE_ADMIN, PAY_ROLE_STAFF, PAY_ROLE_AUDITOR,
                                          PAY_ROLE_PATIENT};
    json_t *paths = json_object_get(d, "paths");
    size_t n = 0;
    const struct pay_route *routes = pay_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        char method[16];
        if (!pay_api_openapi_path(routes[i].pattern, path, sizeof(path)) ||
            strlen(routes[i].method) >= sizeof(method)) {
            continue;
        }
        size_t m;
        for (m = 0; routes[i].method[m] != '\0'; m++) {
            char c = routes[i].method[m];
            method[m] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        method[m] = '\0';
        json_t *op = json_object_get(json_object_get(paths, path), method);
        if (!json_is_object(op)) {
            continue; /* the routes test reports it */
        }
        if (routes[i].flags & PAY_ROUTE_PUBLIC) {
            json_object_set_new_nocheck(op, "security", json_array());
            json_object_del(op, "x-roles");
        } else {
            json_t *names = json_array();
            for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
                if (routes[i].roles & roles[r]) {
                    json_array_append_new(names, json_string(pay_role_name(roles[r])));
                }
            }
            json_object_set_new_nocheck(op, "x-roles", names);
        }
        if (json_object_get(op, "summary") == NULL && routes[i].summary != NULL) {
            json_object_set_new_nocheck(op, "summary", json_string(routes[i].summary));
        }
    }
}

static void build(void)
{
    const struct pay_embedded *base_file = pay_embedded_find(OPENAPI_BASE);
    if (base_file == NULL) {
        pay_logf(PAY_LOG_ERROR, NULL, "openapi: %s is not embedded", OPENAPI_BASE);
        return;
    }
    json_t *d = parse_embedded(base_file);
    if (d == NULL) {
        return;
    }
    size_t n = 0;
    const struct pay_embedded *files = pay_embedded_all(&n);
    for (size_t i = 0; i < n; i++) {
        const char *name = files[i].name;
        size_t len = strlen(name);
        if (strncmp(name, OPENAPI_DIR, strlen(OPENAPI_DIR)) != 0 || len < 5 ||
            strcmp(name + len - 5, ".json") != 0 || strcmp(name, OPENAPI_BASE) == 0) {
            continue;
        }
        json_t *frag = parse_embedded(&files[i]);
        if (frag == NULL) {
            json_decref(d);
            return;
        }
        merge_fragment(d, frag, name);
        json_decref(frag);
    }
    object_at(d, "paths");
    annotate(d);
    doc = d;
}

json_t *pay_api_openapi(void)
{
    pthread_once(&doc_once, build);
    return doc;
}

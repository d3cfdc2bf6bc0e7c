/*
 * params.c - typed access to request parameters, whichever format carried
 * them: JSON bodies have typed values, form bodies and query strings have
 * only strings, so every helper accepts both (42 or "42", true or "true")
 * and answers a 400 that names the parameter otherwise.
 *
 * Naming: @name is a key of @src, or a bracket path into it
 * ("card[exp_month]", "items[0][price]", "created[gte]"), which is then
 * both where the value is looked up and how errors name it, so a nested
 * parameter is reported the way the client spelled it. A JSON null counts
 * as absent. When a parameter is absent, *out is left as the caller set it,
 * so callers preset defaults.
 *
 * Integers are a JSON integer or a string of an optional '-' and decimal
 * digits, nothing else: no floats ("4.2" or 4.2), no spaces, no '+', no
 * empty string; overflow is an error, never a wrap.
 *
 * Threading: touches only its request; safe from any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static struct pay_error *req_err(struct pay_request *req)
{
    return req ? &req->err : NULL;
}

/* The value at @name (a key or a bracket path) in @src, or NULL. */
static const json_t *arg_get(const json_t *src, const char *name)
{
    if (!src || !name) {
        return NULL;
    }
    const char *open = strchr(name, '[');
    if (!open) {
        const json_t *v = json_object_get(src, name);
        return json_is_null(v) ? NULL : v;
    }
    const json_t *cur = json_object_getn(src, name, (size_t)(open - name));
    const char *p = open;
    while (cur && *p == '[') {
        const char *close = strchr(p + 1, ']');
        if (!close) {
            return NULL;
        }
        size_t n = (size_t)(close - (p + 1));
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, p + 1, n);
        } else if (json_is_array(cur)) {
            size_t idx = 0;
            if (n == 0 || n > 9) {
                return NULL;
            }
            for (size_t i = 0; i < n; i++) {
                if (p[1 + i] < '0' || p[1 + i] > '9') {
                    return NULL;
                }
                idx = idx * 10 + (size_t)(p[1 + i] - '0');
            }
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
        p = close + 1;
    }
    if (*p != '\0' || json_is_null(cur)) {
        return NULL;
    }
    return cur;
}

static enum pay_err missing(struct pay_request *req, const char *name)
{
    return pay_error_set(req_err(req), PAY_ERR_PARAM_MISSING, name, "Missing required param: %s.",
                         name);
}

/*
 * Parse an integer value. Returns false when @v is not an integer in either
 * spelling; *overflow is set when it is one but does not fit in int64_t
 * (*out then holds the sign: INT64_MAX or INT64_MIN).
 */
static bool parse_int(const json_t *v, int64_t *out, bool *overflow)
{
    *overflow = false;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v)) {
        return false;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    size_t i = 0;
    bool neg = false;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n) {
        return false;
    }
    int64_t acc = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        int d = s[i] - '0';
        if (!*overflow && (__builtin_mul_overflow(acc, 10, &acc) ||
                           __builtin_add_overflow(acc, neg ? -d : d, &acc))) {
            *overflow = true;
        }
    }
    *out = *overflow ? (neg ? INT64_MIN : INT64_MAX) : acc;
    return true;
}

enum pay_err pay_arg_int(struct pay_request *req, const json_t *src, const char *name,
                         bool required, int64_t min, int64_t max, int64_t *out, bool *present_out)
{
    if (present_out) {
        *present_out = false;
    }
    const json_t *v = arg_get(src, name);
    if (!v) {
        return required ? missing(req, name) : PAY_OK;
    }
    if (present_out) {
        *present_out = true;
    }
    int64_t x;
    bool overflow;
    if (!parse_int(v, &x, &overflow) || overflow) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INTEGER, name,
                             "Invalid integer for %s: it must be a whole number%s.", name,
                             overflow ? " that fits in 64 bits" : "");
    }
    if (x < min || x > max) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                             "Invalid %s: must be between %lld and %lld.", name, (long long)min,
                             (long long)max);
    }
    *out = x;
    return PAY_OK;
}

enum pay_err pay_arg_amount(struct pay_request *req, const json_t *src, const char *name,
                            bool required, int64_t min, int64_t *out, bool *present_out)
{
    if (present_out) {
        *present_out = false;
    }
    const json_t *v = arg_get(src, name);
    if (!v) {
        return required ? missing(req, name) : PAY_OK;
    }
    if (present_out) {
        *present_out = true;
    }
    int64_t x;
    bool overflow;
    if (!parse_int(v, &x, &overflow) || x < 0) {
        return pay_error_set(req_err(req), PAY_ERR_AMOUNT_INVALID, name,
                             "Invalid %s: amounts are non-negative integers in the currency's "
                             "smallest unit (e.g. 1050 for 10.50 USD).",
                             name);
    }
    if (overflow || x > PAY_AMOUNT_MAX_MINOR) {
        return pay_error_set(req_err(req), PAY_ERR_AMOUNT_TOO_LARGE, name,
                             "Invalid %s: it must be at most %lld.", name,
                             (long long)PAY_AMOUNT_MAX_MINOR);
    }
    if (x < min) {
        return pay_error_set(req_err(req), PAY_ERR_AMOUNT_TOO_SMALL, name,
                             "Invalid %s: it must be at least %lld.", name, (long long)min);
    }
    *out = x;
    return PAY_OK;
}

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

enum pay_err pay_arg_str(struct pay_request *req, const json_t *src, const char *name,
                         bool required, size_t max_len, const char **out, bool *present_out)
{
    if (present_out) {
        *present_out = false;
    }
    const json_t *v = arg_get(src, name);
    if (!v) {
        return required ? missing(req, name) : PAY_OK;
    }
    if (present_out) {
        *present_out = true;
    }
    if (!json_is_string(v)) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                             "Invalid %s: must be a string.", name);
    }
    if (required && json_string_length(v) == 0) {
        return missing(req, name);
    }
    if (max_len == 0) {
        max_len = PAY_STRING_LEN_MAX;
    }
    if (utf8_chars(json_string_value(v), json_string_length(v)) > max_len) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                             "Invalid %s: must be at most %zu characters.", name, max_len);
    }
    *out = json_string_value(v);
    return PAY_OK;
}

enum pay_err pay_arg_bool(struct pay_request *req, const json_t *src, const char *name, bool *out,
                          bool *present_out)
{
    if (present_out) {
        *present_out = false;
    }
    const json_t *v = arg_get(src, name);
    if (!v) {
        return PAY_OK;
    }
    if (present_out) {
        *present_out = true;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return PAY_OK;
    }
    const char *s = json_string_value(v);
    if (s && strcmp(s, "true") == 0) {
        *out = true;
        return PAY_OK;
    }
    if (s && strcmp(s, "false") == 0) {
        *out = false;
        return PAY_OK;
    }
    return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                         "Invalid boolean for %s: must be true or false.", name);
}

enum pay_err pay_arg_enum(struct pay_request *req, const json_t *src, const char *name,
                          bool required, const char *const *values, const char **out,
                          bool *present_out)
{
    if (present_out) {
        *present_out = false;
    }
    const json_t *v = arg_get(src, name);
    if (!v) {
        return required ? missing(req, name) : PAY_OK;
    }
    if (present_out) {
        *present_out = true;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; s && values[i]; i++) {
        if (strcmp(s, values[i]) == 0) {
            *out = values[i];
            return PAY_OK;
        }
    }
    char list[PAY_ERROR_MESSAGE_MAX];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; values[i] && len + 1 < sizeof(list); i++) {
        int n = snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", values[i]);
        if (n < 0) {
            break;
        }
        len += (size_t)n;
    }
    return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                         "Invalid %s: must be one of %s.", name, list);
}

enum pay_err pay_arg_currency(struct pay_request *req, const json_t *src, const char *name,
                              bool required, const struct pay_currency **out, bool *present_out)
{
    if (present_out) {
        *present_out = false;
    }
    const json_t *v = arg_get(src, name);
    if (!v) {
        return required ? missing(req, name) : PAY_OK;
    }
    if (present_out) {
        *present_out = true;
    }
    const struct pay_currency *cur =
        json_is_string(v) ? pay_currency_find(json_string_value(v)) : NULL;
    if (!cur) {
        return pay_error_set(req_err(req), PAY_ERR_CURRENCY_INVALID, name,
                             "Invalid %s: it must be a supported three-letter ISO 4217 "
                             "currency code, in lowercase (e.g. usd).",
                             name);
    }
    *out = cur;
    return PAY_OK;
}

/* Metadata value @v as a string (new reference), or NULL when not a scalar. */
static json_t *metadata_value(const json_t *v)
{
    if (json_is_string(v)) {
        return json_incref((json_t *)v);
    }
    if (json_is_null(v)) {
        return json_string(""); /* null unsets the key, as "" does */
    }
    if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
        /* Stripe keeps only strings; a JSON client sending {"order": 42}
         * means "42". Reals keep 15 significant digits so 4.2 stays "4.2". */
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        json_t *str = s ? json_string(s) : NULL;
        free(s);
        return str;
    }
    return NULL;
}

enum pay_err pay_arg_metadata(struct pay_request *req, const json_t *src, const char *name,
                              json_t **out)
{
    *out = NULL;
    const json_t *v = arg_get(src, name);
    if (!v) {
        return PAY_OK;
    }
    if (json_is_string(v) && json_string_length(v) == 0) {
        /* Forms send "metadata=" for an empty hash. */
        *out = json_object();
        return *out ? PAY_OK : pay_error_set(req_err(req), PAY_ERR_NOMEM, NULL, NULL);
    }
    if (!json_is_object(v)) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                             "Invalid %s: must be an object of key-value pairs.", name);
    }
    if (json_object_size(v) > PAY_METADATA_KEYS_MAX) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, name,
                             "Invalid %s: at most %d keys are allowed.", name,
                             PAY_METADATA_KEYS_MAX);
    }
    json_t *md = json_object();
    if (!md) {
        return pay_error_set(req_err(req), PAY_ERR_NOMEM, NULL, NULL);
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        char pname[PAY_ERROR_PARAM_MAX];
        snprintf(pname, sizeof(pname), "%s[%s]", name, key);
        size_t klen = strlen(key);
        if (klen == 0 || utf8_chars(key, klen) > PAY_METADATA_KEY_LEN_MAX || strpbrk(key, "[]")) {
            json_decref(md);
            return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, pname,
                                 "Invalid %s: metadata keys are 1 to %d characters without "
                                 "brackets.",
                                 pname, PAY_METADATA_KEY_LEN_MAX);
        }
        json_t *s = metadata_value(val);
        if (!s) {
            json_decref(md);
            return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, pname,
                                 "Invalid %s: metadata values must be strings.", pname);
        }
        if (utf8_chars(json_string_value(s), json_string_length(s)) > PAY_METADATA_VALUE_LEN_MAX) {
            json_decref(s);
            json_decref(md);
            return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, pname,
                                 "Invalid %s: metadata values are at most %d characters.", pname,
                                 PAY_METADATA_VALUE_LEN_MAX);
        }
        if (json_object_set_new(md, key, s) != 0) {
            json_decref(md);
            return pay_error_set(req_err(req), PAY_ERR_NOMEM, NULL, NULL);
        }
    }
    *out = md;
    return PAY_OK;
}

bool pay_arg_expands(const struct pay_request *req, const char *path)
{
    if (!req || !path) {
        return false;
    }
    /* Stripe reads expand from the body of a POST and the query otherwise. */
    bool from_body =
        req->method && (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
                        strcmp(req->method, "PATCH") == 0);
    const json_t *v = json_object_get(from_body ? req->body : req->query, "expand");
    if (json_is_string(v)) {
        return strcmp(json_string_value(v), path) == 0;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        if (s && strcmp(s, path) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- Unknown parameters ------------------------------------------------ */

static bool in_list(const char *const *allowed, const char *s)
{
    for (size_t i = 0; allowed && allowed[i]; i++) {
        if (strcmp(allowed[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Does some allowed entry name a child of @prefix ("card" -> "card[...]")? */
static bool has_children(const char *const *allowed, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; allowed && allowed[i]; i++) {
        if (strncmp(allowed[i], prefix, n) == 0 && allowed[i][n] == '[') {
            return true;
        }
    }
    return false;
}

/*
 * Check the keys of object @src named under @prefix ("" at the top).
 * An allowed entry "card[number]" admits the object card with the key
 * number; an entry "metadata" admits any value under metadata.
 */
static enum pay_err allow_obj(struct pay_request *req, const json_t *src,
                              const char *const *allowed, const char *prefix)
{
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)src, key, val)
    {
        if (prefix[0] == '\0' && strcmp(key, "expand") == 0) {
            continue;
        }
        char full[PAY_ERROR_PARAM_MAX];
        int n = prefix[0] ? snprintf(full, sizeof(full), "%s[%s]", prefix, key)
                          : snprintf(full, sizeof(full), "%s", key);
        bool fits = n >= 0 && (size_t)n < sizeof(full);
        if (fits && in_list(allowed, full)) {
            continue;
        }
        if (fits && has_children(allowed, full)) {
            if (json_is_object(val)) {
                enum pay_err e = allow_obj(req, val, allowed, full);
                if (e != PAY_OK) {
                    return e;
                }
                continue;
            }
            if (json_is_null(val) || (json_is_string(val) && json_string_length(val) == 0)) {
                continue; /* "card=" clears; the handler decides what that means */
            }
            return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, full,
                                 "Invalid %s: must be an object.", full);
        }
        return pay_error_set(req_err(req), PAY_ERR_PARAM_UNKNOWN, full,
                             "Received unknown parameter: %s", full);
    }
    return PAY_OK;
}

enum pay_err pay_args_allow(struct pay_request *req, const json_t *src, const char *const *allowed)
{
    if (!json_is_object(src)) {
        return PAY_OK;
    }
    return allow_obj(req, src, allowed, "");
}

/* ---- List arguments ---------------------------------------------------- */

/* Unix seconds up to the end of year 9999: any real timestamp. */
#define CREATED_MAX 253402300799LL

enum pay_err pay_list_args_parse(struct pay_request *req, struct pay_list_args *out)
{
    pay_list_args_init(out);
    const json_t *q = req ? req->query : NULL;
    enum pay_err e;

    e = pay_arg_int(req, q, "limit", false, 1, PAY_LIST_LIMIT_MAX, &out->limit, NULL);
    if (e != PAY_OK) {
        return e;
    }
    const char *after = NULL, *before = NULL;
    e = pay_arg_str(req, q, "starting_after", false, 255, &after, NULL);
    if (e != PAY_OK) {
        return e;
    }
    e = pay_arg_str(req, q, "ending_before", false, 255, &before, NULL);
    if (e != PAY_OK) {
        return e;
    }
    /* An empty cursor is how some clients say "none". */
    out->starting_after = after && after[0] ? after : NULL;
    out->ending_before = before && before[0] ? before : NULL;
    if (out->starting_after && out->ending_before) {
        return pay_error_set(req_err(req), PAY_ERR_PARAM_INVALID, "ending_before",
                             "You may only specify one of starting_after and ending_before.");
    }

    const json_t *created = arg_get(q, "created");
    if (!created) {
        return PAY_OK;
    }
    if (!json_is_object(created)) {
        int64_t at = 0;
        e = pay_arg_int(req, q, "created", false, 0, CREATED_MAX, &at, NULL);
        if (e != PAY_OK) {
            return e;
        }
        out->created_gte = at;
        out->created_lte = at;
        return PAY_OK;
    }
    static const char *const ops[] = {"gte", "gt", "lte", "lt", NULL};
    int64_t *dst[] = {&out->created_gte, &out->created_gt, &out->created_lte, &out->created_lt};
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)created, key, val)
    {
        if (!in_list(ops, key)) {
            char pname[PAY_ERROR_PARAM_MAX];
            snprintf(pname, sizeof(pname), "created[%s]", key);
            return pay_error_set(req_err(req), PAY_ERR_PARAM_UNKNOWN, pname,
                                 "Received unknown parameter: %s", pname);
        }
    }
    for (size_t i = 0; ops[i]; i++) {
        char pname[16];
        snprintf(pname, sizeof(pname), "created[%s]", ops[i]);
        e = pay_arg_int(req, q, pname, false, 0, CREATED_MAX, dst[i], NULL);
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

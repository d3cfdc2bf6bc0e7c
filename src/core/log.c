/*
 * log.c - structured logs: one JSON object per line on stderr, and the one
 * masking function every logged string goes through.
 *
 * Invariants: card numbers and secrets never reach the log (DESIGN.md
 * section 8): the message and every string field, at any depth, pass through
 * pay_log_mask; a line is written whole, never interleaved with another.
 * pay_log_mask runs in time linear in its input. Fields named for patient
 * data (name, email, phone, ...: phi_key) are replaced by "[redacted]".
 * Threading: pay_log may be called from any thread; lines are serialised by a
 * mutex around the write. pay_log_init is called once at start.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static _Atomic int log_min_level = PAY_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pay_log_init(enum pay_log_level min_level)
{
    atomic_store(&log_min_level, (int)min_level);
}

bool pay_log_level_parse(const char *s, enum pay_log_level *out)
{
    if (!s) {
        return false;
    }
    for (int i = PAY_LOG_DEBUG; i <= PAY_LOG_ERROR; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum pay_log_level)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Masking                                                              */
/* ------------------------------------------------------------------ */

/* Secrets are shown as their prefix, the first few characters and an
 * ellipsis, enough to tell keys apart in a log, never enough to use one. */
#define MASK_KEEP 4
#define MASK_ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

static const char *const secret_prefixes[] = {"sk_live_", "sk_test_", "rk_live_", "rk_test_",
                                              "whsec_"};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_token_char(char c)
{
    return is_alnum(c) || c == '_';
}

static bool is_b64url_char(char c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

/* Length of the secret at @s (prefix included), or 0 when none starts there. */
static size_t secret_at(const char *s, size_t *prefix_len)
{
    for (size_t i = 0; i < sizeof(secret_prefixes) / sizeof(secret_prefixes[0]); i++) {
        size_t pl = strlen(secret_prefixes[i]);
        if (strncmp(s, secret_prefixes[i], pl) == 0) {
            size_t n = pl;
            while (is_token_char(s[n])) {
                n++;
            }
            *prefix_len = pl;
            return n;
        }
    }
    return 0;
}

/* Length of the JWT-looking token (base64url segments joined by dots) at @s,
 * or 0. A JSON header in base64url always starts with "eyJ". */
static size_t jwt_at(const char *s)
{
    if (strncmp(s, "eyJ", 3) != 0) {
        return 0;
    }
    size_t n = 3;
    size_t dots = 0;
    while (is_b64url_char(s[n]) || (s[n] == '.' && is_b64url_char(s[n + 1]))) {
        dots += s[n] == '.';
        n++;
    }
    return dots >= 1 && n >= 10 ? n : 0;
}

struct digit_group {
    size_t start; /* offset in the string */
    size_t len;   /* digits */
};

/* Replace digits [from, to) of the run (counted across groups) with '*'. */
static void mask_digits(char *out, const struct digit_group *g, size_t first, size_t n_groups,
                        size_t digit_base, size_t from, size_t to)
{
    size_t d = digit_base;
    for (size_t t = first; t < n_groups && d < to; t++) {
        for (size_t k = 0; k < g[t].len; k++, d++) {
            if (d >= from && d < to) {
                out[g[t].start + k] = '*';
            }
        }
    }
}

/*
 * A run of digit groups joined by single spaces or dashes at @s. Every window
 * of consecutive groups holding 13..19 digits could be a card number: its
 * digits but the last four of the window become '*', in @out (a copy of the
 * run). Returns the run's length in characters.
 */
static size_t mask_digit_run(const char *s, char *out, bool *alloc_failed)
{
    size_t n = 0;
    size_t n_groups = 0;
    size_t total = 0;
    for (;;) {
        size_t g = 0;
        while (is_digit(s[n])) {
            n++;
            g++;
        }
        n_groups++;
        total += g;
        if ((s[n] == ' ' || s[n] == '-') && is_digit(s[n + 1])) {
            n++;
            continue;
        }
        break;
    }
    memcpy(out, s, n);
    if (total < 13) {
        return n;
    }
    if (total <= 19) {
        for (size_t i = 0, d = 0; i < n && d + 4 < total; i++) {
            if (is_digit(out[i])) {
                out[i] = '*';
                d++;
            }
        }
        return n;
    }
    if (n_groups == 1) {
        return n; /* one long number: too long to be a card */
    }
    /* Rare: a long run such as "2026-11-22 4242 4242 4242 4242". Slide a
     * window over the groups (both ends only move forward: linear). */
    struct digit_group *grp = malloc(n_groups * sizeof(*grp));
    if (!grp) {
        *alloc_failed = true;
        return n;
    }
    size_t pos = 0;
    for (size_t t = 0; t < n_groups; t++) {
        grp[t].start = pos;
        grp[t].len = 0;
        while (is_digit(s[pos])) {
            pos++;
            grp[t].len++;
        }
        pos++; /* the separator */
    }
    size_t lo = 0;       /* first group of the window */
    size_t lo_digit = 0; /* digits before group lo */
    size_t sum = 0;      /* digits in groups lo..hi */
    size_t end_digit = 0;
    size_t masked_to = 0;
    for (size_t hi = 0; hi < n_groups; hi++) {
        sum += grp[hi].len;
        end_digit += grp[hi].len;
        while (sum > 19) {
            sum -= grp[lo].len;
            lo_digit += grp[lo].len;
            lo++;
        }
        if (sum >= 13) {
            size_t from = lo_digit > masked_to ? lo_digit : masked_to;
            size_t to = end_digit - 4;
            if (from < to) {
                mask_digits(out, grp, lo, hi + 1, lo_digit, from, to);
                masked_to = to;
            }
        }
    }
    free(grp);
    return n;
}

char *pay_log_mask(const char *in)
{
    if (!in) {
        return NULL;
    }
    size_t n = strlen(in);
    /* A masked secret may grow by the ellipsis, but each needs >= 6 input
     * characters of prefix: 2n + 4 always suffices. */
    char *out = malloc(2 * n + 4);
    if (!out) {
        return NULL;
    }
    bool alloc_failed = false;
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        char c = in[i];
        bool boundary = i == 0 || !is_alnum(in[i - 1]);
        size_t plen = 0;
        size_t len;
        if ((c == 's' || c == 'r' || c == 'w') && (len = secret_at(in + i, &plen)) > 0) {
            size_t keep = len - plen < MASK_KEEP ? len - plen : MASK_KEEP;
            memcpy(out + o, in + i, plen + keep);
            o += plen + keep;
            if (len > plen + keep) {
                memcpy(out + o, MASK_ELLIPSIS, 3);
                o += 3;
            }
            i += len;
        } else if (c == 'e' && boundary && (len = jwt_at(in + i)) > 0) {
            memcpy(out + o, in + i, 6);
            o += 6;
            memcpy(out + o, MASK_ELLIPSIS, 3);
            o += 3;
            i += len;
        } else if (is_digit(c)) {
            len = mask_digit_run(in + i, out + o, &alloc_failed);
            o += len;
            i += len;
        } else {
            out[o++] = c;
            i++;
        }
    }
    out[o] = '\0';
    if (alloc_failed) {
        /* Never return a possibly unmasked string. */
        free(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Lines                                                                */
/* ------------------------------------------------------------------ */

/*
 * Fields that identify a patient (DESIGN.md section 8: names, contact
 * details, free text a clinic may fill with notes) are never logged, at any
 * depth, whatever their value: pattern masking cannot recognise a name.
 */
static bool phi_key(const char *key)
{
    static const char *const keys[] = {
        "name",          "email",           "phone",        "address",
        "receipt_email", "billing_details", "shipping",     "description",
        "notes",         "birth_date",      "dob",          "diagnosis",
        "policy_number", "member_id",       "patient_name",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcasecmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* A deep copy of @v with every string masked; NULL on allocation failure. */
static json_t *masked_copy(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        char *m = pay_log_mask(json_string_value(v));
        if (!m) {
            return NULL;
        }
        json_t *s = json_string(m);
        free(m);
        return s;
    }
    case JSON_OBJECT: {
        json_t *o = json_object();
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val)
        {
            json_t *copy =
                phi_key(key) && !json_is_null(val) ? json_string("[redacted]") : masked_copy(val);
            if (!o || json_object_set_new(o, key, copy) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    case JSON_ARRAY: {
        json_t *a = json_array();
        size_t idx;
        json_t *val;
        json_array_foreach(v, idx, val)
        {
            if (!a || json_array_append_new(a, masked_copy(val)) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    default:
        return json_incref(v);
    }
}

static void log_timestamp(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* nowhere left to report a failing stderr */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void set_masked(json_t *line, const char *key, const char *s)
{
    char *m = pay_log_mask(s);
    json_t *v = m ? json_string(m) : NULL;
    if (m && !v) {
        /* Not UTF-8: keep the ASCII so the line still says something. */
        for (unsigned char *p = (unsigned char *)m; *p; p++) {
            if (*p >= 0x80) {
                *p = '?';
            }
        }
        v = json_string(m);
    }
    json_object_set_new(line, key, v ? v : json_string("[unloggable]"));
    free(m);
}

void pay_log(enum pay_log_level lvl, const char *request_id, const char *msg, json_t *fields)
{
    if ((int)lvl < atomic_load(&log_min_level)) {
        return;
    }
    if ((unsigned)lvl > PAY_LOG_ERROR) {
        lvl = PAY_LOG_ERROR;
    }
    char ts[32];
    log_timestamp(ts);
    json_t *line = json_object();
    if (!line) {
        return;
    }
    json_object_set_new_nocheck(line, "ts", json_string(ts));
    json_object_set_new_nocheck(line, "level", json_string(level_names[lvl]));
    set_masked(line, "msg", msg ? msg : "");
    if (request_id) {
        set_masked(line, "request_id", request_id);
    }
    if (fields && json_is_object(fields)) {
        const char *key;
        json_t *val;
        json_object_foreach(fields, key, val)
        {
            if (json_object_get(line, key)) {
                continue; /* the fixed keys cannot be overridden */
            }
            json_t *copy =
                phi_key(key) && !json_is_null(val) ? json_string("[redacted]") : masked_copy(val);
            json_object_set_new(line, key, copy ? copy : json_string("[unloggable]"));
        }
    }
    char *text = pay_json_dump(line);
    json_decref(line);
    if (!text) {
        return;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: the line is written by length */
    pthread_mutex_lock(&log_lock);
    write_all(text, len + 1);
    pthread_mutex_unlock(&log_lock);
    free(text);
}

void pay_logf(enum pay_log_level lvl, const char *request_id, const char *fmt, ...)
{
    if ((int)lvl < atomic_load(&log_min_level)) {
        return;
    }
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    pay_log(lvl, request_id, msg, NULL);
    free(msg);
}

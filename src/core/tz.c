/*
 * tz.c - TZif (RFC 8536) reader and POSIX TZ footer rules; see tz.h.
 *
 * Invariants: a parsed zone is never changed after pay_tz_parse returns,
 * so the cache hands out borrowed pointers that live until exit; the
 * cache's mutex guards only the name -> zone table.
 */
#include "tz.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_HEADER_BYTES 44
/* Counts beyond these are not a real zone (the largest has a few hundred). */
#define TZIF_TRANSITIONS_MAX 10000
#define TZIF_TYPES_MAX 256
#define TZ_RULE_LEN_MAX 128
#define SECONDS_PER_DAY 86400

struct pay_tz {
    int64_t *times; /* transition times, ascending */
    uint8_t *idx;   /* the type after each transition */
    int32_t *utoff; /* per type */
    size_t n_times;
    size_t n_types;
    char rule[TZ_RULE_LEN_MAX]; /* footer; "" = none */
};

bool pay_tz_name_valid(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '/' || name[0] == '.' ||
        strlen(name) > PAY_TZ_NAME_LEN_MAX || strstr(name, "..") != NULL) {
        return false;
    }
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '_' || *c == '-' || *c == '+')) {
            return false;
        }
    }
    return true;
}

void pay_tz_free(struct pay_tz *z)
{
    if (z == NULL) {
        return;
    }
    free(z->times);
    free(z->idx);
    free(z->utoff);
    free(z);
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int64_t be64(const unsigned char *p)
{
    uint64_t v = ((uint64_t)be32(p) << 32) | be32(p + 4);
    return (int64_t)v;
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_header(const unsigned char *d, size_t len, char *version, struct tzif_counts *c)
{
    if (len < TZIF_HEADER_BYTES || memcmp(d, "TZif", 4) != 0) {
        return false;
    }
    *version = (char)d[4];
    c->isut = be32(d + 20);
    c->isstd = be32(d + 24);
    c->leap = be32(d + 28);
    c->time = be32(d + 32);
    c->type = be32(d + 36);
    c->chars = be32(d + 40);
    return c->time <= TZIF_TRANSITIONS_MAX && c->type >= 1 && c->type <= TZIF_TYPES_MAX &&
           c->leap <= TZIF_TRANSITIONS_MAX && c->chars <= 65536 &&
           (c->isut == 0 || c->isut == c->type) && (c->isstd == 0 || c->isstd == c->type);
}

/* Bytes of a data block with @tsize-byte times. */
static size_t block_len(const struct tzif_counts *c, size_t tsize)
{
    return (size_t)c->time * tsize + c->time + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

enum pay_err pay_tz_parse(const unsigned char *data, size_t len, struct pay_tz **out)
{
    *out = NULL;
    char version = 0;
    struct tzif_counts c;
    if (!read_header(data, len, &version, &c)) {
        return PAY_ERR_PARAM_INVALID;
    }
    size_t tsize = 4;
    const unsigned char *p = data + TZIF_HEADER_BYTES;
    size_t left = len - TZIF_HEADER_BYTES;
    if (version >= '2') {
        /* Skip the 32-bit block; the 64-bit one follows with its own header. */
        size_t skip = block_len(&c, 4);
        if (skip > left || !read_header(p + skip, left - skip, &version, &c)) {
            return PAY_ERR_PARAM_INVALID;
        }
        p += skip + TZIF_HEADER_BYTES;
        left -= skip + TZIF_HEADER_BYTES;
        tsize = 8;
    }
    size_t need = block_len(&c, tsize);
    if (need > left) {
        return PAY_ERR_PARAM_INVALID;
    }
    struct pay_tz *z = calloc(1, sizeof(*z));
    if (z == NULL) {
        return PAY_ERR_NOMEM;
    }
    z->n_times = c.time;
    z->n_types = c.type;
    z->times = calloc(c.time ? c.time : 1, sizeof(*z->times));
    z->idx = calloc(c.time ? c.time : 1, 1);
    z->utoff = calloc(c.type, sizeof(*z->utoff));
    if (z->times == NULL || z->idx == NULL || z->utoff == NULL) {
        pay_tz_free(z);
        return PAY_ERR_NOMEM;
    }
    for (size_t i = 0; i < c.time; i++) {
        z->times[i] = tsize == 8 ? be64(p + i * 8) : (int64_t)(int32_t)be32(p + i * 4);
        if (i > 0 && z->times[i] <= z->times[i - 1]) {
            pay_tz_free(z);
            return PAY_ERR_PARAM_INVALID;
        }
    }
    p += (size_t)c.time * tsize;
    for (size_t i = 0; i < c.time; i++) {
        z->idx[i] = p[i];
        if (p[i] >= c.type) {
            pay_tz_free(z);
            return PAY_ERR_PARAM_INVALID;
        }
    }
    p += c.time;
    for (size_t i = 0; i < c.type; i++) {
        int32_t off = (int32_t)be32(p + i * 6);
        /* RFC 8536: -89999..93599 seconds. */
        if (off < -89999 || off > 93599) {
            pay_tz_free(z);
            return PAY_ERR_PARAM_INVALID;
        }
        z->utoff[i] = off;
    }
    p += need - (size_t)c.time * tsize - c.time;
    left -= need;
    if (version >= '2' && left >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', left - 1);
        size_t n = nl ? (size_t)(nl - (p + 1)) : 0;
        if (nl != NULL && n < sizeof(z->rule)) {
            memcpy(z->rule, p + 1, n);
            z->rule[n] = '\0';
            int32_t probe;
            if (n > 0 && !pay_tz_rule_offset(z->rule, 0, &probe)) {
                z->rule[0] = '\0'; /* unparseable: fall back to the table */
            }
        }
    }
    *out = z;
    return PAY_OK;
}

/* ---- POSIX TZ rules ------------------------------------------------------- */

/* Days since 1970-01-01 of civil date y-m-d (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return y + (m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* A zone abbreviation: 3+ letters, or <...> of letters, digits, + and -. */
static const char *parse_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e != NULL && e - s >= 4 ? e + 1 : NULL;
    }
    const char *b = s;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
        s++;
    }
    return s - b >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; @hours_max 24 for offsets, 167 for times. */
static const char *parse_hms(const char *s, int hours_max, int64_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    if (*s < '0' || *s > '9') {
        return NULL;
    }
    int64_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':') {
                break;
            }
            s++;
        }
        int digits = 0;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            v = v * 10 + (*s - '0');
            s++;
            digits++;
        }
        if (digits == 0) {
            return NULL;
        }
        parts[i] = v;
    }
    if (parts[0] > hours_max || parts[1] > 59 || parts[2] > 59) {
        return NULL;
    }
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return s;
}

struct tz_date {
    char kind; /* 'J' (1..365, no Feb 29), 'n' (0..365), 'M' (month.week.day) */
    int a, b, c;
    int64_t time_s; /* local time of day of the change, default 02:00 */
};

static const char *parse_int(const char *s, int min, int max, int *out)
{
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        v = v * 10 + (*s - '0');
        s++;
        digits++;
    }
    if (digits == 0 || v < min || v > max) {
        return NULL;
    }
    *out = v;
    return s;
}

static const char *parse_date(const char *s, struct tz_date *d)
{
    memset(d, 0, sizeof(*d));
    d->time_s = 2 * 3600;
    if (*s == 'J') {
        d->kind = 'J';
        s = parse_int(s + 1, 1, 365, &d->a);
    } else if (*s == 'M') {
        d->kind = 'M';
        s = parse_int(s + 1, 1, 12, &d->a);
        if (s == NULL || *s != '.') {
            return NULL;
        }
        s = parse_int(s + 1, 1, 5, &d->b);
        if (s == NULL || *s != '.') {
            return NULL;
        }
        s = parse_int(s + 1, 0, 6, &d->c);
    } else {
        d->kind = 'n';
        s = parse_int(s, 0, 365, &d->a);
    }
    if (s != NULL && *s == '/') {
        s = parse_hms(s + 1, 167, &d->time_s);
    }
    return s;
}

/* Local seconds since 1970 (wall clock, no offset) of date @d in year @y. */
static int64_t date_local(const struct tz_date *d, int64_t y)
{
    int64_t day;
    if (d->kind == 'J') {
        day = days_from_civil(y, 1, 1) + d->a - 1;
        if (is_leap(y) && d->a >= 60) {
            day++; /* Jn never counts February 29 */
        }
    } else if (d->kind == 'n') {
        day = days_from_civil(y, 1, 1) + d->a;
    } else {
        /* Day c of week b (5 = last) of month a. 1970-01-01 was a Thursday (4). */
        int64_t first = days_from_civil(y, d->a, 1);
        int wday_first = (int)((first % 7 + 7 + 4) % 7);
        int64_t dd = first + (d->c - wday_first + 7) % 7 + (int64_t)(d->b - 1) * 7;
        int next_m = d->a == 12 ? 1 : d->a + 1;
        int64_t next_first = days_from_civil(d->a == 12 ? y + 1 : y, next_m, 1);
        while (dd >= next_first) {
            dd -= 7;
        }
        day = dd;
    }
    return day * SECONDS_PER_DAY + d->time_s;
}

bool pay_tz_rule_offset(const char *rule, int64_t t, int32_t *offset_out)
{
    if (rule == NULL) {
        return false;
    }
    const char *s = parse_name(rule);
    int64_t std_west = 0;
    if (s == NULL || (s = parse_hms(s, 24, &std_west)) == NULL) {
        return false;
    }
    int64_t std_off = -std_west;
    if (*s == '\0') {
        *offset_out = (int32_t)std_off;
        return true;
    }
    s = parse_name(s);
    if (s == NULL) {
        return false;
    }
    int64_t dst_off = std_off + 3600;
    if (*s != ',' && *s != '\0') {
        int64_t dst_west = 0;
        if ((s = parse_hms(s, 24, &dst_west)) == NULL) {
            return false;
        }
        dst_off = -dst_west;
    }
    struct tz_date start, end;
    if (*s == '\0') {
        /* POSIX leaves the default rule to the implementation: the US one. */
        start = (struct tz_date){.kind = 'M', .a = 3, .b = 2, .c = 0, .time_s = 7200};
        end = (struct tz_date){.kind = 'M', .a = 11, .b = 1, .c = 0, .time_s = 7200};
    } else {
        if (*s != ',' || (s = parse_date(s + 1, &start)) == NULL || *s != ',' ||
            (s = parse_date(s + 1, &end)) == NULL || *s != '\0') {
            return false;
        }
    }
    int64_t y = year_of_days(floor_div(t + std_off, SECONDS_PER_DAY));
    /* Start is given in standard time, end in daylight time. */
    int64_t start_utc = date_local(&start, y) - std_off;
    int64_t end_utc = date_local(&end, y) - dst_off;
    bool dst;
    if (start_utc < end_utc) {
        dst = t >= start_utc && t < end_utc;
    } else {
        dst = !(t >= end_utc && t < start_utc);
    }
    *offset_out = (int32_t)(dst ? dst_off : std_off);
    return true;
}

int32_t pay_tz_offset_at(const struct pay_tz *z, int64_t t)
{
    if (z->n_times == 0 || t >= z->times[z->n_times - 1]) {
        int32_t off;
        if (z->rule[0] != '\0' && pay_tz_rule_offset(z->rule, t, &off)) {
            return off;
        }
        return z->n_times == 0 ? z->utoff[0] : z->utoff[z->idx[z->n_times - 1]];
    }
    if (t < z->times[0]) {
        return z->utoff[0];
    }
    size_t lo = 0, hi = z->n_times - 1; /* times[lo] <= t < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->times[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return z->utoff[z->idx[lo]];
}

/* ---- The cache -------------------------------------------------------------- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[PAY_TZ_NAME_LEN_MAX + 1];
    struct pay_tz *zone;
} cache[PAY_TZ_CACHE_MAX];
static size_t cache_n;

static enum pay_err load_file(const char *dir, const char *name, struct pay_tz **out)
{
    char path[512];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return PAY_ERR_PARAM_INVALID;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return PAY_ERR_PARAM_INVALID;
    }
    unsigned char *buf = malloc(PAY_TZ_FILE_BYTES_MAX);
    if (buf == NULL) {
        fclose(f);
        return PAY_ERR_NOMEM;
    }
    size_t len = fread(buf, 1, PAY_TZ_FILE_BYTES_MAX, f);
    bool bad = ferror(f) || (len == PAY_TZ_FILE_BYTES_MAX && fgetc(f) != EOF);
    fclose(f);
    enum pay_err e = bad ? PAY_ERR_PARAM_INVALID : pay_tz_parse(buf, len, out);
    free(buf);
    return e;
}

enum pay_err pay_tz_offset(const char *dir, const char *name, int64_t t, int32_t *offset_out)
{
    *offset_out = 0;
    if (!pay_tz_name_valid(name)) {
        return PAY_ERR_PARAM_INVALID;
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        return PAY_OK;
    }
    const struct pay_tz *found = NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_n; i++) {
        if (strcmp(cache[i].name, name) == 0) {
            found = cache[i].zone;
            break;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (found == NULL) {
        if (dir == NULL) {
            dir = getenv("TZDIR");
        }
        if (dir == NULL || dir[0] == '\0') {
            dir = "/usr/share/zoneinfo";
        }
        struct pay_tz *z = NULL;
        enum pay_err e = load_file(dir, name, &z);
        if (e != PAY_OK) {
            return e;
        }
        pthread_mutex_lock(&cache_lock);
        for (size_t i = 0; i < cache_n; i++) {
            if (strcmp(cache[i].name, name) == 0) {
                found = cache[i].zone; /* another thread was faster */
                break;
            }
        }
        bool kept = false;
        if (found == NULL && cache_n < PAY_TZ_CACHE_MAX) {
            memcpy(cache[cache_n].name, name, strlen(name) + 1);
            cache[cache_n].zone = z;
            cache_n++;
            kept = true;
        }
        pthread_mutex_unlock(&cache_lock);
        if (found == NULL) {
            /* Kept for later, or (cache full) answered from this copy. */
            *offset_out = pay_tz_offset_at(z, t);
            if (!kept) {
                pay_tz_free(z);
            }
            return PAY_OK;
        }
        pay_tz_free(z); /* another thread's copy is the cached one */
    }
    *offset_out = pay_tz_offset_at(found, t);
    return PAY_OK;
}

void pay_tz_local(int64_t t, int32_t offset_s, struct pay_tz_local *out)
{
    int64_t local = t + offset_s;
    int64_t days = floor_div(local, SECONDS_PER_DAY);
    int64_t sec = local - days * SECONDS_PER_DAY;
    out->day_start = days * SECONDS_PER_DAY - offset_s;
    out->hour = (int)(sec / 3600);
    out->minute = (int)((sec % 3600) / 60);
    out->wday = (int)(((days % 7) + 7 + 4) % 7);
}

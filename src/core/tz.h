/*
 * tz.h - IANA time zones without the C library's global TZ state: a reader
 * of the compiled TZif files (RFC 8536) under /usr/share/zoneinfo (Debian's
 * tzdata package), and the local wall-clock time of a unix time in a zone.
 *
 * Why not localtime_r with setenv("TZ"): the zone is process-global, so two
 * threads asking about two facilities' zones would race. Here a zone is an
 * immutable parsed table; a small cache keyed by name (a mutex around the
 * lookup only) means each file is read once per process.
 *
 * Times after the last transition of the file follow its footer, a POSIX
 * TZ string ("EST5EDT,M3.2.0,M11.1.0"), as RFC 8536 section 3.3 says.
 *
 * Threading: every function is safe from any thread.
 */
#ifndef PAY_TZ_H
#define PAY_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Longest zone name accepted ("America/Argentina/ComodRivadavia" is 32). */
#define PAY_TZ_NAME_LEN_MAX 64
/* A TZif file larger than this is not a time zone. */
#define PAY_TZ_FILE_BYTES_MAX (256 * 1024)
/* Zones kept parsed per process. */
#define PAY_TZ_CACHE_MAX 64

struct pay_tz; /* a parsed zone (immutable) */

/* Whether @name looks like an IANA zone name: letters, digits, '/', '_',
 * '-', '+', no "..", not absolute, at most PAY_TZ_NAME_LEN_MAX. */
bool pay_tz_name_valid(const char *name);

/*
 * Parse TZif bytes @data (@len) into *out (free with pay_tz_free).
 * PAY_ERR_PARAM_INVALID when the bytes are not a valid TZif file.
 */
enum pay_err pay_tz_parse(const unsigned char *data, size_t len, struct pay_tz **out) PAY_WUR;
void pay_tz_free(struct pay_tz *z);

/* The UTC offset in seconds (east positive) of @z at unix time @t. */
int32_t pay_tz_offset_at(const struct pay_tz *z, int64_t t);

/*
 * The UTC offset of zone @name at @t, the zone read from @dir (NULL:
 * $TZDIR, else /usr/share/zoneinfo) on first use and cached. "UTC" and
 * "Etc/UTC" need no file. PAY_ERR_PARAM_INVALID for a bad or unknown name
 * or an unreadable file.
 */
enum pay_err pay_tz_offset(const char *dir, const char *name, int64_t t,
                           int32_t *offset_out) PAY_WUR;

/* The local wall clock of @t at UTC offset @offset_s. */
struct pay_tz_local {
    int64_t day_start; /* unix time of the local midnight that begins @t's day */
    int hour;          /* 0..23 */
    int minute;        /* 0..59 */
    int wday;          /* 0 = Sunday */
};
void pay_tz_local(int64_t t, int32_t offset_s, struct pay_tz_local *out);

/*
 * Parse a POSIX TZ rule string ("<+0545>-5:45", "EST5EDT,M3.2.0,M11.1.0")
 * and give its offset at @t. False when @rule is malformed. Exposed for
 * tests; pay_tz_offset_at uses it for times after the last transition.
 */
bool pay_tz_rule_offset(const char *rule, int64_t t, int32_t *offset_out);

#endif

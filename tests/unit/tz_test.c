/*
 * tz_test.c - the TZif reader and POSIX TZ rules (src/core/tz.c), checked
 * against fixed facts and against glibc's own localtime_r (this test is
 * single-threaded, so setting TZ here is fine; payd itself never does).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tz.h"

static int32_t offset_of(const char *zone, int64_t t)
{
    int32_t off = 0;
    cr_assert_eq(pay_tz_offset(NULL, zone, t, &off), PAY_OK, "zone %s", zone);
    return off;
}

Test(tz, names)
{
    cr_assert(pay_tz_name_valid("Africa/Khartoum"));
    cr_assert(pay_tz_name_valid("Etc/GMT+3"));
    cr_assert(pay_tz_name_valid("America/Argentina/Buenos_Aires"));
    cr_assert_not(pay_tz_name_valid(""));
    cr_assert_not(pay_tz_name_valid(NULL));
    cr_assert_not(pay_tz_name_valid("/etc/passwd"));
    cr_assert_not(pay_tz_name_valid("../../etc/passwd"));
    cr_assert_not(pay_tz_name_valid("Africa/../../x"));
    cr_assert_not(pay_tz_name_valid("Africa/Khartoum\n"));
    cr_assert_not(pay_tz_name_valid("Africa Khartoum"));
    int32_t off = 1;
    cr_assert_eq(pay_tz_offset(NULL, "Mars/Olympus_Mons", 0, &off), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_tz_offset(NULL, "../zoneinfo/UTC", 0, &off), PAY_ERR_PARAM_INVALID);
}

Test(tz, known_offsets)
{
    cr_assert_eq(offset_of("UTC", 1782907200), 0);
    /* Sudan moved from UTC+3 to UTC+2 on 2017-11-01. */
    cr_assert_eq(offset_of("Africa/Khartoum", 1499990400), 3 * 3600);
    cr_assert_eq(offset_of("Africa/Khartoum", 1782907200), 2 * 3600);
    cr_assert_eq(offset_of("Asia/Kathmandu", 1782907200), 5 * 3600 + 45 * 60);
    /* New York, 2026: EDT from 2026-03-08 07:00 UTC to 2026-11-01 06:00 UTC. */
    cr_assert_eq(offset_of("America/New_York", 1772953199), -5 * 3600);
    cr_assert_eq(offset_of("America/New_York", 1772953200), -4 * 3600);
    cr_assert_eq(offset_of("America/New_York", 1793512799), -4 * 3600);
    cr_assert_eq(offset_of("America/New_York", 1793512800), -5 * 3600);
    /* 2040: past the file's table, the footer rule decides. */
    cr_assert_eq(offset_of("America/New_York", 2224756800), -4 * 3600);
    cr_assert_eq(offset_of("America/New_York", 2210241600), -5 * 3600);
    /* Southern hemisphere: daylight time spans the new year. */
    cr_assert_eq(offset_of("Australia/Sydney", 1768478400), 11 * 3600);
    cr_assert_eq(offset_of("Australia/Sydney", 1782907200), 10 * 3600);
}

Test(tz, rules)
{
    int32_t off = 0;
    cr_assert(pay_tz_rule_offset("<+0545>-5:45", 0, &off));
    cr_assert_eq(off, 20700);
    cr_assert(pay_tz_rule_offset("EST5EDT,M3.2.0,M11.1.0", 1772953199, &off));
    cr_assert_eq(off, -18000);
    cr_assert(pay_tz_rule_offset("EST5EDT,M3.2.0,M11.1.0", 1772953200, &off));
    cr_assert_eq(off, -14400);
    cr_assert(pay_tz_rule_offset("AEST-10AEDT,M10.1.0,M4.1.0/3", 1768478400, &off));
    cr_assert_eq(off, 39600);
    cr_assert(pay_tz_rule_offset("AEST-10AEDT,M10.1.0,M4.1.0/3", 1782907200, &off));
    cr_assert_eq(off, 36000);
    cr_assert_not(pay_tz_rule_offset("", 0, &off));
    cr_assert_not(pay_tz_rule_offset("E5", 0, &off));
    cr_assert_not(pay_tz_rule_offset("EST5EDT,M13.1.0,M11.1.0", 0, &off));
    cr_assert_not(pay_tz_rule_offset("EST5EDT,M3.2.0", 0, &off));
    cr_assert_not(pay_tz_rule_offset("EST99", 0, &off));
}

/* Every zone and a spread of times agree with glibc's reading of the same files. */
Test(tz, agrees_with_glibc)
{
    static const char *const zones[] = {
        "Africa/Khartoum", "Africa/Cairo",   "America/New_York", "America/Sao_Paulo",
        "Europe/London",   "Europe/Dublin",  "Asia/Tehran",      "Australia/Lord_Howe",
        "Pacific/Chatham", "Asia/Kathmandu", "America/St_Johns", "Africa/Casablanca",
    };
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        setenv("TZ", zones[z], 1);
        tzset();
        /* 1960..2060 in steps just under 9 days, to hit odd hours and days. */
        for (int64_t t = -315619200; t < 2840140800; t += 9 * 86400 - 3607) {
            time_t tt = (time_t)t;
            struct tm tm;
            cr_assert_not_null(localtime_r(&tt, &tm));
            int32_t off = offset_of(zones[z], t);
            cr_assert_eq(off, (int32_t)tm.tm_gmtoff, "%s at %lld: ours %d, glibc %ld", zones[z],
                         (long long)t, off, tm.tm_gmtoff);
            struct pay_tz_local loc;
            pay_tz_local(t, off, &loc);
            cr_assert_eq(loc.hour, tm.tm_hour);
            cr_assert_eq(loc.minute, tm.tm_min);
            cr_assert_eq(loc.wday, tm.tm_wday);
            cr_assert_leq(loc.day_start, t);
            cr_assert_gt(loc.day_start + 86400, t);
        }
    }
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

Test(tz, local_clock)
{
    struct pay_tz_local l;
    pay_tz_local(0, 0, &l);
    cr_assert_eq(l.hour, 0);
    cr_assert_eq(l.wday, 4); /* 1970-01-01 was a Thursday */
    cr_assert_eq(l.day_start, 0);
    pay_tz_local(0, -5 * 3600, &l); /* 1969-12-31 19:00 in New York */
    cr_assert_eq(l.hour, 19);
    cr_assert_eq(l.wday, 3);
    cr_assert_eq(l.day_start, -19 * 3600);
    pay_tz_local(1782907200, 20700, &l); /* 2026-07-01 17:45 in Kathmandu */
    cr_assert_eq(l.hour, 17);
    cr_assert_eq(l.minute, 45);
}

Test(tz, rejects_garbage)
{
    struct pay_tz *z = NULL;
    unsigned char junk[64] = "TZif2";
    cr_assert_eq(pay_tz_parse(junk, sizeof(junk), &z), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_tz_parse((const unsigned char *)"hello", 5, &z), PAY_ERR_PARAM_INVALID);
    /* A real file cut short. */
    FILE *f = fopen("/usr/share/zoneinfo/Europe/London", "rb");
    cr_assert_not_null(f);
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    cr_assert_eq(pay_tz_parse(buf, n, &z), PAY_OK);
    pay_tz_free(z);
    for (size_t cut = 0; cut < n - 200; cut += 97) {
        z = NULL;
        enum pay_err e = pay_tz_parse(buf, cut, &z);
        cr_assert_eq(e, PAY_ERR_PARAM_INVALID, "cut at %zu", cut);
        cr_assert_null(z);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        int32_t off = 0;
        const char *zone = i % 2 ? "Asia/Kathmandu" : "America/New_York";
        if (pay_tz_offset(NULL, zone, 1782907200, &off) != PAY_OK ||
            off != (i % 2 ? 20700 : -14400)) {
            return (void *)1;
        }
    }
    return NULL;
}

Test(tz, threads)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, worker, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        cr_assert_null(r);
    }
}

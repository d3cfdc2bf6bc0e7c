/*
 * sqltime.c - where a payd process's SQLite time goes, per statement.
 *
 * An LD_PRELOAD shim around sqlite3_step(): it adds up the calling thread's
 * CPU time inside each step by statement text and rewrites a table of
 * "CPU us <tab> steps <tab> SQL" every 20,000 steps to $SQLTIME (default
 * /tmp/sqltime.txt). For profiling only (bench/RESULTS.md, round 4):
 *
 *   cc -shared -fPIC -O2 -o /tmp/sqltime.so bench/sqltime.c -ldl -lpthread
 *   LD_PRELOAD=/tmp/sqltime.so SQLTIME=/tmp/t.txt payd serve ...
 *   sort -rn /tmp/t.txt | head
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096

static int (*real_step)(sqlite3_stmt *);
static struct {
    char *sql;
    long long ns, n;
} tab[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long long calls;

static void dump(void)
{
    const char *p = getenv("SQLTIME");
    FILE *f = fopen(p ? p : "/tmp/sqltime.txt", "w");
    if (f == NULL) {
        return;
    }
    for (int i = 0; i < SLOTS; i++) {
        if (tab[i].sql != NULL) {
            fprintf(f, "%lld\t%lld\t%.200s\n", tab[i].ns / 1000, tab[i].n, tab[i].sql);
        }
    }
    fclose(f);
}

static long long thread_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int sqlite3_step(sqlite3_stmt *s)
{
    if (real_step == NULL) {
        real_step = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
    }
    long long t0 = thread_ns();
    int rc = real_step(s);
    long long ns = thread_ns() - t0;
    const char *sql = s != NULL ? sqlite3_sql(s) : NULL;
    if (sql == NULL) {
        sql = "(none)";
    }
    unsigned h = 0;
    for (const char *c = sql; *c; c++) {
        h = h * 31 + (unsigned char)*c;
    }
    pthread_mutex_lock(&mu);
    for (unsigned i = h % SLOTS, k = 0; k < SLOTS; i = (i + 1) % SLOTS, k++) {
        if (tab[i].sql == NULL) {
            tab[i].sql = strdup(sql);
        }
        if (tab[i].sql != NULL && strcmp(tab[i].sql, sql) == 0) {
            tab[i].ns += ns;
            tab[i].n++;
            break;
        }
    }
    if (++calls % 20000 == 0) {
        dump();
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

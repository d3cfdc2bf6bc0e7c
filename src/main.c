/*
 * main.c - payd's entry point: subcommand dispatch only. Each command is
 * one row of the table below and lives in src/cli/; adding a command is
 * adding a row.
 *
 * Exit status: 0 success, 1 runtime failure, 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PAY_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#endif

#include "cli/cli.h"

static const struct pay_cli_cmd commands[] = {
    {"serve", pay_cli_serve, "serve the HTTP API (creates and migrates the database)"},
    {"migrate", pay_cli_migrate, "create the database and apply pending migrations"},
    {"keys", pay_cli_keys, "manage API keys: keys create|list|revoke"},
    {"token", pay_cli_token, "mint an HS256 JWT for development"},
    {"audit", pay_cli_audit, "audit verify: check the ledger and payments agree"},
    {"query", pay_cli_query, "query: run one read-only SQL statement, rows as JSON lines"},
    {"bench", pay_cli_bench, "bench fill: pre-fill a database with payments for benchmarks"},
    {"sim", pay_cli_sim, "sim momo: run the mobile money simulator (tests, demos)"},
    {"demo", pay_cli_demo, "load the NileCare demo clinic network: facilities, providers, fees"},
    {"version", pay_cli_version, "print the version"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

int pay_cli_version(int argc, char **argv)
{
    if (pay_cli_wants_help(argc, argv)) {
        printf("usage: payd version\n\nPrint payd's version.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "payd version: unexpected argument '%s'\n", argv[1]);
        return PAY_CLI_USAGE;
    }
    printf("payd %s\n", PAY_VERSION);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: payd COMMAND [options]\n\n"
                 "payd is a self-hosted payment service.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'payd COMMAND --help' describes a command and its options.\n"
                 "Options come from flags, then PAYD_* environment variables, then the\n"
                 "config file (--config or PAYD_CONFIG), then defaults.\n");
}

/* PAYD_CLOCK_OFFSET=SECONDS shifts payd's clock: a test hook, never for production. */
static int apply_clock_offset(void)
{
    const char *s = getenv("PAYD_CLOCK_OFFSET");
    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long off = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        fprintf(stderr, "payd: PAYD_CLOCK_OFFSET must be an integer number of seconds\n");
        return -1;
    }
    pay_clock_set_offset(off);
    return 0;
}

/*
 * glibc keeps at most 7 freed blocks of each size per thread in its cache;
 * a payment frees hundreds at once (a JSON tree, SQLite's statement
 * memory), so most of its frees and the next payment's mallocs took
 * glibc's slower shared path. With 128 per size, create+confirm made 4-30 %
 * more payments a second for ~3 MB more peak RSS (bench/RESULTS.md, round
 * 10). glibc reads the setting only from the environment at start, so
 * `payd serve` starts itself again with it set, before doing anything
 * else: same process, same arguments. It does not when GLIBC_TUNABLES is
 * already set (even empty: the operator chose), when LD_PRELOAD is (another
 * allocator, valgrind, a test's shim), or in a tcmalloc build; and it goes
 * on as it is if it cannot start again (no /proc, the binary replaced).
 */
#define PAY_MALLOC_TUNABLES "glibc.malloc.tcache_count=128"

static void tune_malloc(char **argv)
{
#ifndef PAY_TCMALLOC
    if (getenv("GLIBC_TUNABLES") != NULL || getenv("LD_PRELOAD") != NULL) {
        return;
    }
    /* The binary's own path, not /proc/self/exe, so the process keeps its
     * name (ps, pgrep); not when it was replaced on disk meanwhile. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
        return;
    }
    self[n] = '\0';
    if (access(self, X_OK) != 0 || setenv("GLIBC_TUNABLES", PAY_MALLOC_TUNABLES, 1) != 0) {
        return;
    }
    execv(self, argv);
    (void)unsetenv("GLIBC_TUNABLES");
#else
    (void)argv;
#endif
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0) {
        tune_malloc(argv);
    }
#ifdef PAY_TCMALLOC
    /* tcmalloc's per-thread caches are its speed and its memory; with a
     * thread per connection their default total (32 MiB) would dominate
     * payd's resident size, so they share 4 MiB. */
    (void)MallocExtension_SetNumericProperty("tcmalloc.max_total_thread_cache_bytes",
                                             (size_t)4 << 20);
#endif
    if (argc < 2) {
        usage(stderr);
        return PAY_CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        return pay_cli_version(1, argv + 1);
    }
    if (apply_clock_offset() != 0) {
        return PAY_CLI_USAGE;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "payd: unknown command '%s'\n\n", name);
    usage(stderr);
    return PAY_CLI_USAGE;
}

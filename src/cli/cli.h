/*
 * cli.h - the payd subcommands (payd serve, payd keys create, ...). main.c
 * only dispatches on the first argument through the table in main.c; each
 * command lives in its own file here and is given the arguments after its
 * name.
 *
 * Conventions every command follows: "--help" (or "-h") prints its usage on
 * stdout and returns 0; bad usage prints a message on stderr and returns
 * PAY_CLI_USAGE (2); a runtime failure (database unreachable, ...) prints
 * the error and returns 1. Options resolve through pay_config_load: flags,
 * then PAYD_* environment variables, then the config file, then defaults.
 *
 * Threading: commands run on the main thread; only `serve` starts others.
 */
#ifndef PAY_CLI_H
#define PAY_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/core.h"
#include "../store/store.h"

#ifndef PAY_VERSION
#define PAY_VERSION "0.0.0"
#endif

/* Exit status for bad usage (unknown flag, missing argument). */
#define PAY_CLI_USAGE 2

/* One subcommand: "payd NAME ARGS..." runs fn(argc, argv) with argv[0] == NAME. */
struct pay_cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* one line for `payd --help` */
};

int pay_cli_serve(int argc, char **argv);
int pay_cli_migrate(int argc, char **argv);
int pay_cli_keys(int argc, char **argv);
int pay_cli_token(int argc, char **argv);
int pay_cli_version(int argc, char **argv);
int pay_cli_audit(int argc, char **argv);

/* The options every database command shares, for building option tables. */
#define PAY_CLI_OPT_CONFIG                                                                         \
    {                                                                                              \
        "config", "PAYD_CONFIG", NULL, "configuration file of \"name = value\" lines", false       \
    }
#define PAY_CLI_OPT_DB                                                                             \
    {                                                                                              \
        "db", "PAYD_DB", "sqlite:./var/payd.db",                                                   \
            "database URL: sqlite:PATH or postgres://USER@HOST:PORT/DB", false                     \
    }
#define PAY_CLI_OPT_LOG_LEVEL(dflt)                                                                \
    {                                                                                              \
        "log-level", "PAYD_LOG_LEVEL", dflt, "debug, info, warn or error (logs go to stderr)",     \
            false                                                                                  \
    }

/* True when @argv[1..argc) asks for help ("--help", "-h", "help" first). */
bool pay_cli_wants_help(int argc, char **argv);

/*
 * Print "usage: payd @usage_line", @about, and the option lines of @opts
 * to @stream.
 */
void pay_cli_usage(FILE *stream, const char *usage_line, const char *about,
                   const struct pay_option *opts, size_t n_opts);

/*
 * Resolve @opts from argv[1..argc) into @cfg, and set the log level from
 * the "log-level" option when @opts has one. On failure prints the problem
 * (and where to get help for @cmd) on stderr and returns false; @cfg then
 * needs no release.
 */
bool pay_cli_load(struct pay_config *cfg, const struct pay_option *opts, size_t n_opts, int argc,
                  char **argv, const char *cmd);

/*
 * Open the database named by the "db" option of @cfg and migrate it.
 * *level_out (may be NULL) gets the migration level. Prints the error and
 * returns false on failure.
 */
bool pay_cli_open_store(const struct pay_config *cfg, struct pay_store **out, int *level_out);

/*
 * Dispatch "payd @group SUB ARGS..." to the row of @cmds named SUB (argv[0]
 * is @group). Without SUB, or with an unknown one, prints the group's usage
 * (@about and the rows) and returns PAY_CLI_USAGE; "--help" prints it on
 * stdout and returns 0.
 */
int pay_cli_subcommands(int argc, char **argv, const char *group, const char *about,
                        const struct pay_cli_cmd *cmds, size_t n_cmds);

/* Print "payd: @what: <message>" for @err (and its parameter) on stderr. */
void pay_cli_print_error(const char *what, const struct pay_error *err, enum pay_err e);

#endif

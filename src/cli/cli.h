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
int pay_cli_bench(int argc, char **argv);
int pay_cli_query(int argc, char **argv);
int pay_cli_sim(int argc, char **argv);
int pay_cli_demo(int argc, char **argv);

/* ---- server_key.c: the key of a database's card fingerprints and sealed secrets */

/* Read the whole file @path (at most 64 KiB) into a new string (caller frees). */
enum pay_err pay_cli_read_file(const char *path, char **out) PAY_WUR;
/*
 * Where payd keeps the server key of @db_url when --fingerprint-key is
 * unset: fingerprint.key beside the SQLite file (the key travels with the
 * data it keys), else ./var/fingerprint.key. NULL for an in-memory database.
 * Caller frees.
 */
char *pay_cli_server_key_path(const char *db_url);
/*
 * Read the key in @path; when the file is missing and @create, make it with
 * a new random key (two processes racing on O_EXCL: the loser reads the
 * winner's). PAY_ERR_NOT_FOUND when missing and !@create.
 */
enum pay_err pay_cli_server_key_load(const char *path, bool create, char **out) PAY_WUR;
/*
 * Hold @key against the check the database keeps of the key that keyed it
 * (settings.fingerprint_key_check, migration 0020), recording it when there
 * is none yet. False, with a message on stderr naming @cmd and @source (how
 * the key was found: "--fingerprint-key", "the key file PATH"), when the
 * database was keyed with another key or cannot be asked; @created: the
 * key file was made just now.
 */
bool pay_cli_fingerprint_key_check(struct pay_store *store, const char *key, const char *cmd,
                                   const char *source, bool created);
/*
 * The fingerprint key of the database @store, for command @cmd: the
 * --fingerprint-key option, else its key file (pay_cli_server_key_path,
 * created when missing; with PostgreSQL a warning says to give every payd
 * the same key), else (an in-memory database) a fresh random key; then
 * held against the database's check. Caller frees (explicit_bzero first);
 * NULL with a message on stderr.
 */
char *pay_cli_fingerprint_key(const struct pay_config *cfg, struct pay_store *store,
                              const char *cmd);

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

/* payd serve's outbound Stripe provider (stripe_provider.c). */
#define PAY_CLI_STRIPE_OPTS                                                                        \
    {"stripe-secret-key", "PAYD_STRIPE_SECRET_KEY", NULL,                                          \
     "Stripe secret key (sk_...): enables provider \"stripe\" (never logged)", false},             \
        {"stripe-base-url", "PAYD_STRIPE_BASE_URL", "https://api.stripe.com",                      \
         "Stripe API base URL", false},                                                            \
        {"stripe-api-version", "PAYD_STRIPE_API_VERSION", "2024-06-20",                            \
         "Stripe-Version header sent to Stripe", false},                                           \
        {"stripe-connect-timeout-ms", "PAYD_STRIPE_CONNECT_TIMEOUT_MS", "5000",                    \
         "connect timeout of each Stripe request", false},                                         \
        {"stripe-timeout-ms", "PAYD_STRIPE_TIMEOUT_MS", "30000",                                   \
         "total timeout of each Stripe request", false},                                           \
        {"stripe-retries", "PAYD_STRIPE_RETRIES", "2",                                             \
         "retries (same Idempotency-Key) on network errors, 409, 429, 5xx: 0..5", false},          \
        {"stripe-backoff-ms", "PAYD_STRIPE_BACKOFF_MS", "250",                                     \
         "first retry delay; doubles each retry, at most 2 s", false},                             \
        {"stripe-settle-interval-ms", "PAYD_STRIPE_SETTLE_INTERVAL_MS", "5000",                    \
         "how often the settler looks for Stripe calls with an unknown outcome", false},           \
    {                                                                                              \
        "stripe-settle-after-s", "PAYD_STRIPE_SETTLE_AFTER_S", "120",                              \
            "settle a Stripe call once it is this old (longer than a call with its retries)",      \
            false                                                                                  \
    }

struct pay_cli_stripe;
struct pay_stripe_config;
/*
 * Read the PAY_CLI_STRIPE_OPTS; *out is NULL when --stripe-secret-key is
 * unset. False (message printed) when an option is invalid.
 */
bool pay_cli_stripe_load(const struct pay_config *cfg, struct pay_cli_stripe **out);
/* The config for struct pay_app (NULL for NULL). */
const struct pay_stripe_config *pay_cli_stripe_config(const struct pay_cli_stripe *s);
/* Start / stop the settler thread (no-ops for NULL). */
bool pay_cli_stripe_start(struct pay_cli_stripe *s, struct pay_store *store);
void pay_cli_stripe_stop(struct pay_cli_stripe *s);
/* Stop, wipe the key, free. NULL is fine. */
void pay_cli_stripe_free(struct pay_cli_stripe *s);

/* payd serve's mobile money poller (momo_poller.c): every @interval_ms (0:
 * none, *out NULL) pay_momo_poll over @store; @server_key and @public_url are
 * borrowed for its life. False (message printed) when it cannot start. First
 * (also with 0) seals wallet numbers stored in clear (pay_momo_wallets_reseal). */
struct pay_cli_momo_poller;
bool pay_cli_momo_poller_start(struct pay_store *store, const char *server_key,
                               const char *public_url, long interval_ms,
                               struct pay_cli_momo_poller **out);
/* Stop and free (NULL is fine). */
void pay_cli_momo_poller_stop(struct pay_cli_momo_poller *p);

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
 * How every subcommand starts: asked for help, print the usage (@usage_line,
 * @about, @opts) and return 0; else load @cfg as pay_cli_load does for @cmd
 * and return PAY_CLI_USAGE when that fails, PAY_CLI_GO when the command
 * goes on (it then releases @cfg).
 */
#define PAY_CLI_GO (-1)
int pay_cli_start(struct pay_config *cfg, const char *cmd, const char *usage_line,
                  const char *about, const struct pay_option *opts, size_t n_opts, int argc,
                  char **argv);

/*
 * Open the database named by the "db" option of @cfg and migrate it.
 * *level_out (may be NULL) gets the migration level. Prints the error and
 * returns false on failure.
 */
bool pay_cli_open_store(const struct pay_config *cfg, struct pay_store **out, int *level_out);
/* The same without migrating: for commands that only read (payd query). */
bool pay_cli_open_store_as_is(const struct pay_config *cfg, struct pay_store **out);

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

/*
 * Append a CLI action to the audit log in its own transaction (actor
 * "cli:<login>", role "cli", client_addr "local", status 0). @object and
 * @summary may be NULL. Prints the error and returns false on failure.
 */
bool pay_cli_audit_record(struct pay_store *s, const char *action, const char *object,
                          const char *summary);

/* What pay_cli_audit_hook records. */
struct pay_cli_audit_what {
    const char *action;  /* "payd keys create" */
    const char *summary; /* may be NULL */
};
/*
 * A pay_keys_hook_fn (@arg a struct pay_cli_audit_what): appends the CLI
 * action's audit record, object @key_id, inside the key change's own
 * transaction, so the change and its record commit together or not at all.
 */
enum pay_err pay_cli_audit_hook(struct pay_tx *tx, const char *key_id, void *arg);

#endif

/*
 * common.c - what every payd subcommand shares: help detection, usage
 * text, option loading with the log level, opening and migrating the
 * database, and error printing.
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

bool pay_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
    }
    return argc > 1 && strcmp(argv[1], "help") == 0;
}

void pay_cli_usage(FILE *stream, const char *usage_line, const char *about,
                   const struct pay_option *opts, size_t n_opts)
{
    fprintf(stream, "usage: payd %s\n\n%s\n", usage_line, about);
    if (n_opts > 0) {
        fprintf(stream, "\noptions (flag, else environment variable, else config file, "
                        "else default):\n");
        pay_config_usage(opts, n_opts, stream);
    }
    fprintf(stream, "  --help   print this help\n");
}

void pay_cli_print_error(const char *what, const struct pay_error *err, enum pay_err e)
{
    const char *msg = err != NULL && err->message[0] != '\0' ? err->message : pay_err_message(e);
    if (err != NULL && err->param[0] != '\0') {
        fprintf(stderr, "payd: %s: %s (%s: %s)\n", what, msg, pay_err_str(e), err->param);
    } else {
        fprintf(stderr, "payd: %s: %s (%s)\n", what, msg, pay_err_str(e));
    }
}

bool pay_cli_load(struct pay_config *cfg, const struct pay_option *opts, size_t n_opts, int argc,
                  char **argv, const char *cmd)
{
    struct pay_error err;
    pay_error_clear(&err);
    memset(cfg, 0, sizeof(*cfg));
    enum pay_err e = pay_config_load(cfg, opts, n_opts, argc - 1, argv + 1, &err);
    if (e != PAY_OK) {
        if (e == PAY_ERR_PARAM_UNKNOWN && err.param[0] != '\0') {
            fprintf(stderr, "payd %s: unknown option %s\n", cmd, err.param);
        } else {
            pay_cli_print_error(cmd, &err, e);
        }
        fprintf(stderr, "Try 'payd %s --help'.\n", cmd);
        return false;
    }
    for (size_t i = 0; i < n_opts; i++) {
        if (strcmp(opts[i].name, "log-level") != 0) {
            continue;
        }
        const char *lvl_s = pay_config_get(cfg, "log-level");
        enum pay_log_level lvl = PAY_LOG_INFO;
        if (lvl_s != NULL && !pay_log_level_parse(lvl_s, &lvl)) {
            fprintf(stderr, "payd %s: --log-level must be debug, info, warn or error, not '%s'\n",
                    cmd, lvl_s);
            pay_config_release(cfg);
            return false;
        }
        pay_log_init(lvl);
    }
    return true;
}

bool pay_cli_open_store_as_is(const struct pay_config *cfg, struct pay_store **out)
{
    struct pay_error err;
    pay_error_clear(&err);
    const char *url = pay_config_get(cfg, "db");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "payd: no database: give --db URL or set PAYD_DB\n");
        return false;
    }
    enum pay_err e = pay_store_open(url, out, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot open the database", &err, e);
        return false;
    }
    return true;
}

int pay_cli_start(struct pay_config *cfg, const char *cmd, const char *usage_line,
                  const char *about, const struct pay_option *opts, size_t n_opts, int argc,
                  char **argv)
{
    if (pay_cli_wants_help(argc, argv)) {
        pay_cli_usage(stdout, usage_line, about, opts, n_opts);
        return 0;
    }
    return pay_cli_load(cfg, opts, n_opts, argc, argv, cmd) ? PAY_CLI_GO : PAY_CLI_USAGE;
}

bool pay_cli_open_store(const struct pay_config *cfg, struct pay_store **out, int *level_out)
{
    struct pay_store *s = NULL;
    if (!pay_cli_open_store_as_is(cfg, &s)) {
        return false;
    }
    struct pay_error err;
    pay_error_clear(&err);
    enum pay_err e = pay_store_migrate(s, level_out, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot migrate the database", &err, e);
        pay_store_close(s);
        return false;
    }
    *out = s;
    return true;
}

int pay_cli_subcommands(int argc, char **argv, const char *group, const char *about,
                        const struct pay_cli_cmd *cmds, size_t n_cmds)
{
    if (argc >= 2) {
        for (size_t i = 0; i < n_cmds; i++) {
            if (strcmp(argv[1], cmds[i].name) == 0) {
                return cmds[i].fn(argc - 1, argv + 1);
            }
        }
    }
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                              strcmp(argv[1], "help") == 0);
    FILE *out = help ? stdout : stderr;
    if (!help && argc >= 2) {
        fprintf(stderr, "payd %s: unknown command '%s'\n", group, argv[1]);
    } else if (!help) {
        fprintf(stderr, "payd %s: which command?\n", group);
    }
    fprintf(out, "usage: payd %s COMMAND [options]\n\n%s\n\ncommands:\n", group, about);
    for (size_t i = 0; i < n_cmds; i++) {
        fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
    }
    fprintf(out, "\n'payd %s COMMAND --help' describes each.\n", group);
    return help ? 0 : PAY_CLI_USAGE;
}

/* config_test.c - flags > environment > config file > defaults. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static const struct pay_option opts[] = {
    {"db", "PAYD_T_DB", "sqlite:default.db", "Database URL", false},
    {"listen", "PAYD_T_LISTEN", "127.0.0.1:8080", "Address to listen on", false},
    {"name", "PAYD_T_NAME", NULL, "A name", false},
    {"no-worker", "PAYD_T_NO_WORKER", NULL, "Do not run the background worker", true},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static char config_path[64];

static void write_config(const char *text)
{
    strcpy(config_path, "/tmp/payd-config-test-XXXXXX");
    int fd = mkstemp(config_path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

static void clear_env(void)
{
    unsetenv("PAYD_T_DB");
    unsetenv("PAYD_T_LISTEN");
    unsetenv("PAYD_T_NAME");
    unsetenv("PAYD_T_NO_WORKER");
    unsetenv("PAYD_CONFIG");
}

static void cleanup(void)
{
    if (config_path[0]) {
        unlink(config_path);
        config_path[0] = '\0';
    }
}

TestSuite(config, .init = clear_env, .fini = cleanup);

Test(config, defaults)
{
    struct pay_config cfg;
    struct pay_error err = {0};
    char *argv[] = {NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 0, argv, &err), PAY_OK);
    cr_assert_str_eq(pay_config_get(&cfg, "db"), "sqlite:default.db");
    cr_assert_str_eq(pay_config_get(&cfg, "listen"), "127.0.0.1:8080");
    cr_assert_null(pay_config_get(&cfg, "name"));
    cr_assert_null(pay_config_get(&cfg, "nonexistent"));
    cr_assert_not(pay_config_bool(&cfg, "no-worker"));
    cr_assert_eq(cfg.n_positional, 0);
    pay_config_release(&cfg);
}

Test(config, precedence_flag_env_file_default)
{
    write_config("# a comment\n"
                 "db = sqlite:file.db\n"
                 "listen = 0.0.0.0:1\n"
                 "name = from-file\n");
    setenv("PAYD_T_DB", "sqlite:env.db", 1);
    setenv("PAYD_T_LISTEN", "0.0.0.0:2", 1);
    char *argv[] = {"--config", config_path, "--db", "sqlite:flag.db", NULL};
    struct pay_config cfg;
    struct pay_error err = {0};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 4, argv, &err), PAY_OK, "%s", err.message);
    cr_assert_str_eq(pay_config_get(&cfg, "db"), "sqlite:flag.db"); /* flag beats env */
    cr_assert_str_eq(pay_config_get(&cfg, "listen"), "0.0.0.0:2");  /* env beats file */
    cr_assert_str_eq(pay_config_get(&cfg, "name"), "from-file");    /* file beats default */
    pay_config_release(&cfg);

    /* Without the flag and env, the file wins over the default. */
    clear_env();
    char *argv2[] = {"--config=", NULL};
    char arg[128];
    snprintf(arg, sizeof(arg), "--config=%s", config_path);
    argv2[0] = arg;
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 1, argv2, &err), PAY_OK, "%s", err.message);
    cr_assert_str_eq(pay_config_get(&cfg, "db"), "sqlite:file.db");
    cr_assert_str_eq(pay_config_get(&cfg, "listen"), "0.0.0.0:1");
    pay_config_release(&cfg);
}

Test(config, config_file_from_env_with_comments_and_quotes)
{
    write_config("\n"
                 "   # indented comment\n"
                 "db=\"sqlite:quoted #1.db\"\n"
                 "listen = 10.0.0.1:9 # trailing comment\n"
                 "no-worker = true\r\n");
    setenv("PAYD_CONFIG", config_path, 1);
    struct pay_config cfg;
    struct pay_error err = {0};
    char *argv[] = {NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 0, argv, &err), PAY_OK, "%s", err.message);
    cr_assert_str_eq(pay_config_get(&cfg, "db"), "sqlite:quoted #1.db");
    cr_assert_str_eq(pay_config_get(&cfg, "listen"), "10.0.0.1:9");
    cr_assert(pay_config_bool(&cfg, "no-worker"));
    pay_config_release(&cfg);
}

Test(config, flag_forms_switches_and_positionals)
{
    char *argv[] = {"serve",       "--db=sqlite:eq.db",
                    "--no-worker", "extra",
                    "--listen",    "1.2.3.4:5",
                    "--",          "--db",
                    "-x",          NULL};
    struct pay_config cfg;
    struct pay_error err = {0};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 9, argv, &err), PAY_OK, "%s", err.message);
    cr_assert_str_eq(pay_config_get(&cfg, "db"), "sqlite:eq.db");
    cr_assert_str_eq(pay_config_get(&cfg, "listen"), "1.2.3.4:5");
    cr_assert_str_eq(pay_config_get(&cfg, "no-worker"), "true");
    cr_assert(pay_config_bool(&cfg, "no-worker"));
    cr_assert_eq(cfg.n_positional, 4);
    cr_assert_str_eq(cfg.positional[0], "serve");
    cr_assert_str_eq(cfg.positional[1], "extra");
    cr_assert_str_eq(cfg.positional[2], "--db");
    cr_assert_str_eq(cfg.positional[3], "-x");
    pay_config_release(&cfg);
}

Test(config, env_switch_and_empty_env)
{
    setenv("PAYD_T_NO_WORKER", "1", 1);
    setenv("PAYD_T_DB", "", 1);
    struct pay_config cfg;
    struct pay_error err = {0};
    char *argv[] = {NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 0, argv, &err), PAY_OK);
    cr_assert(pay_config_bool(&cfg, "no-worker"));
    cr_assert_str_eq(pay_config_get(&cfg, "db"), "sqlite:default.db");
    pay_config_release(&cfg);
}

Test(config, unknown_flag)
{
    char *argv[] = {"--db", "x", "--bogus", "1", NULL};
    struct pay_config cfg;
    struct pay_error err = {0};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 4, argv, &err), PAY_ERR_CONFIG);
    cr_assert_eq(err.code, PAY_ERR_CONFIG);
    cr_assert_str_eq(err.param, "bogus");
    cr_assert_not_null(strstr(err.message, "--bogus"), "%s", err.message);
    cr_assert_null(cfg.values);

    char *argv2[] = {"--bogus=1", NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 1, argv2, &err), PAY_ERR_CONFIG);
    cr_assert_str_eq(err.param, "bogus");
    char *argv3[] = {"-d", NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 1, argv3, &err), PAY_ERR_CONFIG);
    cr_assert_str_eq(err.param, "d");
}

Test(config, missing_value)
{
    char *argv[] = {"--db", NULL};
    struct pay_config cfg;
    struct pay_error err = {0};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 1, argv, &err), PAY_ERR_CONFIG);
    cr_assert_str_eq(err.param, "db");
}

Test(config, bad_config_files)
{
    struct pay_config cfg;
    struct pay_error err = {0};
    char *argv[] = {"--config", "/nonexistent/payd.conf", NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 2, argv, &err), PAY_ERR_CONFIG);
    cr_assert_str_eq(err.param, "config");

    write_config("db = x\nbogus = 1\n");
    char *argv2[] = {"--config", config_path, NULL};
    cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 2, argv2, &err), PAY_ERR_CONFIG);
    cr_assert_str_eq(err.param, "bogus");
    cr_assert_not_null(strstr(err.message, ":2:"), "%s", err.message);
    cleanup();

    static const char *const bad[] = {"just words\n", "db = \"unterminated\n", "db = \"x\" junk\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_config(bad[i]);
        argv2[1] = config_path;
        cr_assert_eq(pay_config_load(&cfg, opts, N_OPTS, 2, argv2, &err), PAY_ERR_CONFIG, "%s",
                     bad[i]);
        cr_assert_str_eq(err.param, "config");
        cleanup();
    }
}

Test(config, usage_is_aligned)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    pay_config_usage(opts, N_OPTS, f);
    fclose(f);
    cr_assert_not_null(strstr(text, "  --db VALUE "), "%s", text);
    cr_assert_not_null(strstr(text, "env PAYD_T_DB, default sqlite:default.db"), "%s", text);
    cr_assert_not_null(strstr(text, "  --no-worker "), "%s", text);
    cr_assert_null(strstr(text, "--no-worker VALUE"), "%s", text);
    /* every help text starts in the same column */
    const char *helps[] = {"Database URL", "Address to listen on", "A name",
                           "Do not run the background worker"};
    long col = -1;
    for (size_t i = 0; i < 4; i++) {
        const char *h = strstr(text, helps[i]);
        cr_assert_not_null(h);
        const char *line = h;
        while (line > text && line[-1] != '\n') {
            line--;
        }
        if (col < 0) {
            col = h - line;
        }
        cr_assert_eq(h - line, col, "%s", text);
    }
    int lines = 0;
    for (const char *p = text; *p; p++) {
        lines += *p == '\n';
    }
    cr_assert_eq(lines, 4);
    free(text);
}

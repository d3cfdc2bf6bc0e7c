/*
 * db.c - the database subcommands: `payd migrate` and `payd keys
 * create|list|revoke`. Each opens the database named by --db (creating and
 * migrating it, so a key can be made before the first `payd serve`), does
 * one thing and closes it.
 *
 * Output contract (scripts rely on it): `keys create` prints the new secret
 * alone on the last line of stdout; `keys list` prints a JSON array;
 * `migrate` prints "migration level N".
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "cli.h"

static const struct pay_option db_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    PAY_CLI_OPT_LOG_LEVEL("warn"),
};
#define N_DB_OPTS (sizeof(db_opts) / sizeof(db_opts[0]))

static const struct pay_option create_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    PAY_CLI_OPT_LOG_LEVEL("warn"),
    {"name", NULL, NULL, "a name to recognise the key by (required)", false},
    {"role", NULL, "admin", "admin, staff or auditor (patients use JWTs)", false},
};
#define N_CREATE_OPTS (sizeof(create_opts) / sizeof(create_opts[0]))

int pay_cli_migrate(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "migrate", "migrate [--db URL]",
                      "Create the database if needed and apply every migration not yet applied;\n"
                      "prints the resulting level. `payd serve` also migrates at start.",
                      db_opts, N_DB_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = 1;
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd migrate: unexpected argument '%s'\n", cfg.positional[0]);
        rc = PAY_CLI_USAGE;
        goto out;
    }
    struct pay_store *s = NULL;
    int level = 0;
    if (pay_cli_open_store(&cfg, &s, &level)) {
        printf("migration level %d\n", level);
        pay_store_close(s);
        rc = 0;
    }
out:
    pay_config_release(&cfg);
    return rc;
}

static int keys_create(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "keys create", "keys create --name NAME [--role ROLE] [--db URL]",
                      "Create an API key. The secret (sk_test_...) is printed once, alone on "
                      "the last line;\nonly its SHA-256 is stored.",
                      create_opts, N_CREATE_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    const char *name = pay_config_get(&cfg, "name");
    const char *role_s = pay_config_get(&cfg, "role");
    enum pay_role role = role_s != NULL ? pay_role_parse(role_s) : PAY_ROLE_NONE;
    if (role == PAY_ROLE_PATIENT) {
        role = PAY_ROLE_NONE; /* a patient acts for one customer: only a JWT names it */
    }
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd keys create: unexpected argument '%s'\n", cfg.positional[0]);
        goto out;
    }
    if (name == NULL || name[0] == '\0') {
        fprintf(stderr, "payd keys create: --name NAME is required\n");
        goto out;
    }
    if (role == PAY_ROLE_NONE) {
        fprintf(stderr, "payd keys create: --role must be admin, staff or auditor\n");
        goto out;
    }
    rc = 1;
    struct pay_store *s = NULL;
    if (!pay_cli_open_store(&cfg, &s, NULL)) {
        goto out;
    }
    char secret[64];
    char id[PAY_ID_LEN_MAX + 1];
    struct pay_error err;
    pay_error_clear(&err);
    /* The audit record is written in the key's transaction: no key without it. */
    struct pay_cli_audit_what what = {"payd keys create", "name, role"};
    enum pay_err e =
        pay_keys_create_with(s, name, role, pay_cli_audit_hook, &what, secret, id, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot create the key", &err, e);
    } else {
        printf("Created API key %s named \"%s\" with role %s.\n", id, name, pay_role_name(role));
        printf("The secret is shown only this once; keep it now:\n");
        printf("%s\n", secret);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    explicit_bzero(secret, sizeof(secret));
    pay_store_close(s);
out:
    pay_config_release(&cfg);
    return rc;
}

static int keys_list(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "keys list", "keys list [--db URL]",
                      "Print every API key (id, name, role, prefix, created, revoked_at) as a "
                      "JSON array.\nSecrets are never stored, so never shown.",
                      db_opts, N_DB_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = 1;
    struct pay_store *s = NULL;
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd keys list: unexpected argument '%s'\n", cfg.positional[0]);
        rc = PAY_CLI_USAGE;
        goto out;
    }
    if (!pay_cli_open_store(&cfg, &s, NULL)) {
        goto out;
    }
    json_t *keys = NULL;
    enum pay_err e = pay_keys_list(s, &keys);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot list the keys", NULL, e);
    } else {
        char *text = json_dumps(keys, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text != NULL) {
            printf("%s\n", text);
            free(text);
            rc = 0;
        }
        json_decref(keys);
    }
    pay_store_close(s);
out:
    pay_config_release(&cfg);
    return rc;
}

static int keys_revoke(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "keys revoke", "keys revoke KEY_ID [--db URL]",
                      "Revoke the API key KEY_ID (key_...). Running payd processes refuse it "
                      "within seconds\n(they cache verified keys briefly).",
                      db_opts, N_DB_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    struct pay_store *s = NULL;
    if (cfg.n_positional != 1) {
        fprintf(stderr, "payd keys revoke: give exactly one key id (key_...)\n");
        goto out;
    }
    const char *id = cfg.positional[0];
    rc = 1;
    if (!pay_cli_open_store(&cfg, &s, NULL)) {
        goto out;
    }
    struct pay_error err;
    pay_error_clear(&err);
    struct pay_cli_audit_what what = {"payd keys revoke", ""};
    enum pay_err e = pay_keys_revoke_with(s, id, pay_cli_audit_hook, &what, &err);
    if (e != PAY_OK) {
        pay_cli_print_error(id, &err, e);
    } else {
        printf("Revoked API key %s.\n", id);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    pay_store_close(s);
out:
    pay_config_release(&cfg);
    return rc;
}

static const struct pay_cli_cmd keys_cmds[] = {
    {"create", keys_create, "create an API key; prints the secret on the last line"},
    {"list", keys_list, "list API keys as JSON"},
    {"revoke", keys_revoke, "revoke an API key by id"},
};

int pay_cli_keys(int argc, char **argv)
{
    return pay_cli_subcommands(argc, argv, "keys", "Manage API keys.", keys_cmds,
                               sizeof(keys_cmds) / sizeof(keys_cmds[0]));
}

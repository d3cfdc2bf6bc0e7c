/*
 * token.c - `payd token`: mint an HS256 JWT for development and tests, with
 * the claims payd checks (sub, role, customer for patients, iat, exp, and
 * optionally iss and aud). The secret must equal the server's
 * --jwt-secret.
 *
 * Threading: main thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "cli.h"

/* Development tokens live an hour by default; a year is the most we mint. */
#define TOKEN_TTL_MAX_S (366LL * 24 * 60 * 60)

static const struct pay_option token_opts[] = {
    PAY_CLI_OPT_CONFIG,
    {"secret", "PAYD_JWT_SECRET", NULL, "the HS256 secret (the server's --jwt-secret)", false},
    {"sub", NULL, NULL, "subject: who the token speaks for (required)", false},
    {"role", NULL, NULL, "admin, staff, auditor or patient (required)", false},
    {"customer", NULL, NULL, "patients: the customer id (cus_...) they act for", false},
    {"ttl", NULL, "3600", "seconds until the token expires", false},
    {"issuer", "PAYD_JWT_ISSUER", NULL, "iss claim (the server's --jwt-issuer)", false},
    {"audience", "PAYD_JWT_AUDIENCE", NULL, "aud claim (the server's --jwt-audience)", false},
};
#define N_TOKEN_OPTS (sizeof(token_opts) / sizeof(token_opts[0]))

static const char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int pay_cli_token(int argc, char **argv)
{
    struct pay_config cfg;
    int start = pay_cli_start(&cfg, "token",
                              "token --secret S --sub SUB --role ROLE [--customer cus_...] "
                              "[--ttl SECONDS]",
                              "Print an HS256 JWT that `payd serve --jwt-secret S` accepts as\n"
                              "'Authorization: Bearer TOKEN'. Patients need --customer.",
                              token_opts, N_TOKEN_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    const char *secret = nonempty(pay_config_get(&cfg, "secret"));
    const char *sub = nonempty(pay_config_get(&cfg, "sub"));
    const char *role = nonempty(pay_config_get(&cfg, "role"));
    const char *customer = nonempty(pay_config_get(&cfg, "customer"));
    const char *ttl_s = pay_config_get(&cfg, "ttl");
    char *end = NULL;
    errno = 0;
    long long ttl = strtoll(ttl_s != NULL ? ttl_s : "", &end, 10);
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd token: unexpected argument '%s'\n", cfg.positional[0]);
        goto out;
    }
    if (secret == NULL || sub == NULL || role == NULL) {
        fprintf(stderr, "payd token: --secret (or PAYD_JWT_SECRET), --sub and --role are "
                        "required\nTry 'payd token --help'.\n");
        goto out;
    }
    if (pay_role_parse(role) == PAY_ROLE_NONE) {
        fprintf(stderr, "payd token: --role must be admin, staff, auditor or patient\n");
        goto out;
    }
    if (pay_role_parse(role) == PAY_ROLE_PATIENT && customer == NULL) {
        fprintf(stderr, "payd token: a patient token needs --customer cus_...\n");
        goto out;
    }
    if (customer != NULL && !pay_id_valid(customer, "cus")) {
        fprintf(stderr, "payd token: --customer must be a customer id (cus_...)\n");
        goto out;
    }
    if (errno != 0 || end == ttl_s || *end != '\0' || ttl < 1 || ttl > TOKEN_TTL_MAX_S) {
        fprintf(stderr, "payd token: --ttl must be 1..%lld seconds\n", TOKEN_TTL_MAX_S);
        goto out;
    }
    rc = 1;
    char *jwt = NULL;
    enum pay_err e = pay_jwt_mint_hs256(
        secret, sub, role, customer, ttl, nonempty(pay_config_get(&cfg, "issuer")),
        nonempty(pay_config_get(&cfg, "audience")), pay_now(), &jwt);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot mint the token", NULL, e);
        goto out;
    }
    printf("%s\n", jwt);
    free(jwt);
    rc = 0;
out:
    pay_config_release(&cfg);
    return rc;
}

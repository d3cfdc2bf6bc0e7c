/*
 * demo.c - `payd demo --db URL`: load a demo clinic network, the NileCare
 * seed's, into a database: four facilities in Sudan (Africa/Khartoum) and
 * the providers of every tender with their fees in SDG (issue 6):
 *   cards on the sandbox card connector: Visa and Mastercard 2.5 %, Bank of
 *     Khartoum, Omdurman National Bank and Faisal Islamic Bank 1.5 %;
 *   wallets on the mobile_money connector, pointing at `payd sim momo`
 *     (--momo-url): Zain Cash, MTN Mobile Money, Sudani Cash 1 %, Bankak 1.5 %;
 *   manual tenders: cash 0 %, cheque 0 %, bank transfer 1 %, bank draft 0.5 %;
 * and an admin API key named "demo-admin".
 *
 * Idempotent: everything is found by name first; what exists is left as
 * it is (and reported), so running it twice creates nothing the second
 * time. The wallet credentials are the simulator's sandbox values
 * (src/sim/sim.h), sealed as the API seals credentials, under payd serve's
 * server key: --fingerprint-key / PAYD_FINGERPRINT_KEY, else the key file
 * payd serve keeps (fingerprint.key beside the SQLite file, or
 * ./var/fingerprint.key with PostgreSQL), created here when serve has not
 * run yet, so the credentials are never stored in clear.
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../payments/providers.h"
#include "../sim/sim.h"
#include "cli.h"

#define DEMO_KEY_NAME "demo-admin"

static const struct pay_option demo_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    {"momo-url", "PAYD_DEMO_MOMO_URL", "http://127.0.0.1:8090",
     "base URL of the mobile money API the wallet providers use (payd sim momo)", false},
    {"fingerprint-key", "PAYD_FINGERPRINT_KEY", NULL,
     "payd serve's server key, which seals the wallet credentials (default: payd serve's "
     "fingerprint.key file when it exists)",
     false},
    PAY_CLI_OPT_LOG_LEVEL("warn"),
};
#define N_DEMO_OPTS (sizeof(demo_opts) / sizeof(demo_opts[0]))

struct demo_facility {
    const char *name, *display_name;
};

static const struct demo_facility facilities[] = {
    {"nilecare-khartoum", "NileCare Khartoum Teaching Hospital"},
    {"nilecare-omdurman", "NileCare Omdurman Clinic"},
    {"nilecare-bahri", "NileCare Khartoum North (Bahri) Clinic"},
    {"nilecare-port-sudan", "NileCare Port Sudan Clinic"},
};

struct demo_provider {
    const char *name, *display_name, *type, *connector;
    int64_t fee_bps;
    int64_t priority;
    const char *brand;  /* cards: the one brand it takes, NULL = any */
    const char *wallet; /* mobile_money: the wallet profile (src/connectors/momo.c) */
};

static const struct demo_provider providers[] = {
    {"visa", "Visa", "card", "sandbox", 250, 10, "visa", NULL},
    {"mastercard", "Mastercard", "card", "sandbox", 250, 10, "mastercard", NULL},
    {"bank_of_khartoum", "Bank of Khartoum", "card", "sandbox", 150, 20, NULL, NULL},
    {"omdurman_national_bank", "Omdurman National Bank", "card", "sandbox", 150, 30, NULL, NULL},
    {"faisal_islamic_bank", "Faisal Islamic Bank", "card", "sandbox", 150, 40, NULL, NULL},
    {"zain_cash", "Zain Cash", "mobile_wallet", "mobile_money", 100, 10, NULL, "zain_cash"},
    {"mtn_momo", "MTN Mobile Money", "mobile_wallet", "mobile_money", 100, 20, NULL, "mtn_momo"},
    {"sudani_cash", "Sudani Cash", "mobile_wallet", "mobile_money", 100, 30, NULL, "sudani_cash"},
    {"bankak", "Bankak", "mobile_wallet", "mobile_money", 150, 40, NULL, "bankak"},
    {"cash", "Cash at the front desk", "cash", "manual", 0, 10, NULL, NULL},
    {"cheque", "Cheque", "cheque", "manual", 0, 10, NULL, NULL},
    {"bank_transfer", "Bank transfer", "bank_transfer", "manual", 100, 10, NULL, NULL},
    {"bank_draft", "Bank draft", "bank_draft", "manual", 50, 10, NULL, NULL},
};

#define N_FACILITIES (sizeof(facilities) / sizeof(facilities[0]))
#define N_PROVIDERS (sizeof(providers) / sizeof(providers[0]))

struct demo_run {
    const char *momo_url;
    const char *server_key; /* seals the wallet credentials */
    struct pay_error err;
    struct pay_buf out; /* what was done, printed after the commit */
    int created, existing;
};

static enum pay_err load_facilities(struct pay_op *op, struct demo_run *run)
{
    for (size_t i = 0; i < N_FACILITIES; i++) {
        const struct demo_facility *f = &facilities[i];
        json_t *o = NULL;
        enum pay_err e = pay_facility_by_name(op, f->name, &o);
        bool made = false;
        if (e == PAY_ERR_NOT_FOUND) {
            pay_error_clear(op->err);
            const struct pay_facility_params p = {
                .name = f->name, .display_name = f->display_name, .timezone = "Africa/Khartoum"};
            e = pay_facility_create(op, &p, &o);
            made = true;
        }
        if (e != PAY_OK) {
            return e;
        }
        e = pay_buf_addf(&run->out, "  facility %-24s %s  %s%s\n", f->name, pay_json_str(o, "id"),
                         f->display_name, made ? "" : " (exists)");
        made ? run->created++ : run->existing++;
        json_decref(o);
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

static enum pay_err load_providers(struct pay_op *op, struct demo_run *run)
{
    for (size_t i = 0; i < N_PROVIDERS; i++) {
        const struct demo_provider *d = &providers[i];
        json_t *o = NULL;
        enum pay_err e = pay_provider_by_name(op, d->name, "name", &o);
        bool made = false;
        if (e == PAY_ERR_NOT_FOUND) {
            pay_error_clear(op->err);
            json_t *currencies = json_pack("[s]", "sdg");
            json_t *brands = d->brand != NULL ? json_pack("[s]", d->brand) : json_array();
            json_t *config = json_object();
            json_t *creds = json_object();
            if (d->wallet != NULL) {
                json_object_set_new_nocheck(config, "base_url", json_string(run->momo_url));
                json_object_set_new_nocheck(config, "wallet", json_string(d->wallet));
                json_object_set_new_nocheck(config, "target_environment", json_string("sandbox"));
                json_object_set_new_nocheck(creds, "api_user", json_string(PAY_MOMO_SIM_API_USER));
                json_object_set_new_nocheck(creds, "api_key", json_string(PAY_MOMO_SIM_API_KEY));
                json_object_set_new_nocheck(creds, "subscription_key",
                                            json_string(PAY_MOMO_SIM_SUBSCRIPTION_KEY));
            }
            const bool card = strcmp(d->type, "card") == 0;
            const struct pay_provider_params p = {
                .name = d->name,
                .display_name = d->display_name,
                .type = d->type,
                .connector = d->connector,
                .currencies = currencies,
                .card_brands = card ? brands : NULL,
                .has_fee_bps = true,
                .fee_bps = d->fee_bps,
                .supports_refunds = 1,
                .requires_manual_verification = -1,
                .active = 1,
                .has_priority = true,
                .priority = d->priority,
                .connector_config = config,
                .credentials = d->wallet != NULL ? creds : NULL,
            };
            e = pay_provider_create(op, &p, &o);
            json_decref(currencies);
            json_decref(brands);
            json_decref(config);
            json_decref(creds);
            made = true;
        }
        if (e != PAY_OK) {
            return e;
        }
        char pct[48];
        snprintf(pct, sizeof(pct), "%lld.%02lld %%", (long long)(d->fee_bps / 100),
                 (long long)(d->fee_bps % 100));
        e = pay_buf_addf(&run->out, "  provider %-24s %-14s %-13s fee %-8s %s%s\n", d->name,
                         d->type, d->connector, pct, d->display_name, made ? "" : " (exists)");
        made ? run->created++ : run->existing++;
        json_decref(o);
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

static enum pay_err demo_tx(struct pay_tx *tx, void *arg)
{
    struct demo_run *run = arg;
    /* The store may run the callback again: start over. */
    pay_buf_reset(&run->out);
    run->created = run->existing = 0;
    pay_error_clear(&run->err);
    struct pay_op op = {
        .tx = tx,
        .request_id = "demo",
        .err = &run->err,
        .actor = "cli:demo",
        .actor_role = "cli",
        .client_addr = "local",
        .fingerprint_key = run->server_key,
    };
    enum pay_err e = load_facilities(&op, run);
    if (e == PAY_OK) {
        e = load_providers(&op, run);
    }
    return e;
}

/* The demo admin key: created once (secret printed), found afterwards. */
static bool demo_key(struct pay_store *s)
{
    json_t *keys = NULL;
    if (pay_keys_list(s, &keys) != PAY_OK) {
        fprintf(stderr, "payd demo: cannot list the API keys\n");
        return false;
    }
    size_t i;
    const json_t *k;
    const char *existing = NULL;
    json_array_foreach(keys, i, k)
    {
        if (strcmp(pay_json_str(k, "name") ? pay_json_str(k, "name") : "", DEMO_KEY_NAME) == 0 &&
            json_is_null(json_object_get(k, "revoked_at"))) {
            existing = pay_json_str(k, "id");
        }
    }
    if (existing != NULL) {
        printf("Admin key: %s (\"%s\") exists; its secret was printed when it was created.\n"
               "  Another one: payd keys create --db URL --name NAME --role admin\n",
               existing, DEMO_KEY_NAME);
        json_decref(keys);
        return true;
    }
    json_decref(keys);
    char secret[64];
    char id[PAY_ID_LEN_MAX + 1];
    struct pay_error err;
    pay_error_clear(&err);
    enum pay_err e = pay_keys_create(s, DEMO_KEY_NAME, PAY_ROLE_ADMIN, secret, id, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot create the demo admin key", &err, e);
        return false;
    }
    printf("Admin key: %s (\"%s\"), shown only this once:\n  %s\n", id, DEMO_KEY_NAME, secret);
    explicit_bzero(secret, sizeof(secret));
    return pay_cli_audit_record(s, "payd demo", id, "admin key");
}

int pay_cli_demo(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "demo", "demo [--db URL] [--momo-url URL]",
                      "Load the NileCare demo clinic network: facilities, and card, mobile\n"
                      "wallet, cash, cheque, transfer and draft providers with their fees in "
                      "SDG,\nand an admin key. Safe to run again: what exists is kept.",
                      demo_opts, N_DEMO_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    const char *momo_url = pay_config_get(&cfg, "momo-url");
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd demo: unexpected argument '%s'\n", cfg.positional[0]);
        goto out;
    }
    if (momo_url == NULL ||
        (strncmp(momo_url, "http://", 7) != 0 && strncmp(momo_url, "https://", 8) != 0)) {
        fprintf(stderr, "payd demo: --momo-url must be an http:// or https:// URL\n");
        goto out;
    }
    rc = 1;
    struct pay_store *s = NULL;
    if (!pay_cli_open_store(&cfg, &s, NULL)) {
        goto out;
    }
    /* payd serve's key, its file made now when serve has not run yet. */
    char *key = pay_cli_fingerprint_key(&cfg, s, "demo");
    if (key == NULL) {
        pay_store_close(s);
        goto out;
    }
    struct demo_run run = {.momo_url = momo_url, .server_key = key};
    pay_buf_init(&run.out, 64 * 1024);
    enum pay_err e = pay_store_write(s, demo_tx, &run);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot load the demo", &run.err, e);
    } else {
        printf("NileCare demo network in %s (%d created, %d already there):\n%s",
               pay_config_get(&cfg, "db"), run.created, run.existing,
               run.out.data != NULL ? run.out.data : "");
        if (run.created > 0) {
            printf("Wallet credentials: sealed under payd serve's server key\n");
        }
        bool ok =
            run.created == 0 || pay_cli_audit_record(s, "payd demo", NULL, "facilities, providers");
        if (ok && demo_key(s)) {
            printf("\nNext:\n"
                   "  payd sim momo --listen %s &   # the wallets' API\n"
                   "  payd serve --db %s\n"
                   "and pay as README.md's \"Demo\" section shows.\n",
                   strncmp(momo_url, "http://", 7) == 0 ? momo_url + 7 : momo_url,
                   pay_config_get(&cfg, "db"));
            rc = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    pay_buf_release(&run.out);
    if (key != NULL) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    pay_store_close(s);
out:
    pay_config_release(&cfg);
    return rc;
}

/*
 * keys_test.c - API keys against a real SQLite store in a temporary
 * directory: create, resolve as Bearer and as Basic, list, revoke (at once
 * in this process, within the cache TTL elsewhere), and every malformed
 * Authorization header.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"

#define NOW 1700000000LL

static struct pay_store *store;
static char dir[64];
static struct pay_auth_config cfg = {
    .jwt_alg = "HS256", .jwt_secret = "jwt-secret", .leeway_s = 30};

static void setup(void)
{
    pay_log_init(PAY_LOG_WARN);
    pay_clock_set_fixed(NOW);
    strcpy(dir, "/tmp/payd-keys-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    struct pay_error err = {0};
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK, "%s", err.message);
    cr_assert_eq(pay_store_migrate(store, NULL, &err), PAY_OK, "%s", err.message);
}

static void teardown(void)
{
    pay_store_close(store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(keys, .init = setup, .fini = teardown);

static void create(const char *name, enum pay_role role, char *secret, char *id)
{
    struct pay_error err = {0};
    cr_assert_eq(pay_keys_create(store, name, role, secret, id, &err), PAY_OK, "%s", err.message);
}

static enum pay_err resolve(const char *header, struct pay_principal *who)
{
    struct pay_error err = {0};
    enum pay_err e = pay_auth_resolve(store, &cfg, header, who, &err);
    if (e != PAY_OK) {
        cr_assert_eq(err.code, e);
        cr_assert_neq(err.message[0], '\0');
    }
    return e;
}

static char *bearer(const char *secret)
{
    char *h = NULL;
    cr_assert(asprintf(&h, "Bearer %s", secret) > 0);
    return h;
}

static char *basic(const char *user_pass)
{
    struct pay_buf b;
    pay_buf_init(&b, 1024);
    cr_assert_eq(pay_base64url_encode(user_pass, strlen(user_pass), &b), 0);
    /* base64url -> standard base64 with padding, as HTTP clients send. */
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] = b.data[i] == '-' ? '+' : b.data[i] == '_' ? '/' : b.data[i];
    }
    while (b.len % 4 != 0) {
        cr_assert_eq(pay_buf_add(&b, "=", 1), PAY_OK);
    }
    char *h = NULL;
    cr_assert(asprintf(&h, "Basic %s", b.data) > 0);
    pay_buf_release(&b);
    return h;
}

Test(keys, create_gives_a_well_formed_secret)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    create("server", PAY_ROLE_ADMIN, secret, id);
    cr_assert_eq(strncmp(secret, "sk_test_", 8), 0);
    cr_assert_eq(strlen(secret), 8 + 32);
    for (size_t i = 8; i < strlen(secret); i++) {
        char c = secret[i];
        cr_assert((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    }
    cr_assert(pay_id_valid(id, "key"), "%s", id);

    char secret2[64], id2[PAY_ID_LEN_MAX + 1];
    create("server", PAY_ROLE_ADMIN, secret2, id2);
    cr_assert_str_neq(secret, secret2);
    cr_assert_str_neq(id, id2);
}

struct row_arg {
    const char *id;
    char *hash;
    char *prefix;
    int64_t n_secret;
};

static enum pay_err read_row(struct pay_tx *tx, void *arg)
{
    struct row_arg *a = arg;
    struct pay_param p[] = {PAY_PTEXT(a->id)};
    enum pay_err e =
        pay_tx_query_text(tx, "SELECT secret_hash FROM api_keys WHERE id = $1", p, 1, &a->hash);
    if (e != PAY_OK) {
        return e;
    }
    return pay_tx_query_text(tx, "SELECT prefix FROM api_keys WHERE id = $1", p, 1, &a->prefix);
}

Test(keys, only_the_hash_is_stored)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    create("server", PAY_ROLE_STAFF, secret, id);
    struct row_arg a = {.id = id};
    cr_assert_eq(pay_store_read(store, read_row, &a), PAY_OK);
    char want[65];
    pay_sha256_hex(secret, strlen(secret), want);
    cr_assert_str_eq(a.hash, want);
    cr_assert_eq(strlen(a.prefix), 12);
    cr_assert_eq(strncmp(a.prefix, secret, 12), 0);
    free(a.hash);
    free(a.prefix);

    /* The secret itself appears nowhere in the database file. */
    char path[128];
    snprintf(path, sizeof(path), "%s/t.db", dir);
    pay_store_close(store);
    store = NULL;
    const char *suffixes[] = {"", "-wal", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        char file[160];
        snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
        FILE *f = fopen(file, "rb");
        if (!f) {
            cr_assert_neq(i, 0, "the database file exists");
            continue;
        }
        char *data = malloc(4 << 20);
        size_t n = fread(data, 1, 4 << 20, f);
        fclose(f);
        cr_assert_null(memmem(data, n, secret, strlen(secret)), "secret found in %s", file);
        free(data);
    }
    struct pay_error err = {0};
    char url[160];
    snprintf(url, sizeof(url), "sqlite:%s", path);
    cr_assert_eq(pay_store_open(url, &store, &err), PAY_OK);
}

Test(keys, resolve_bearer_and_basic)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    create("billing server", PAY_ROLE_STAFF, secret, id);
    struct pay_principal who;

    char *h = bearer(secret);
    cr_assert_eq(resolve(h, &who), PAY_OK);
    cr_assert_eq(who.kind, PAY_PRINCIPAL_API_KEY);
    cr_assert_eq(who.role, PAY_ROLE_STAFF);
    cr_assert_str_eq(who.subject, id);
    cr_assert_str_eq(who.customer, "");
    free(h);

    char up[96];
    snprintf(up, sizeof(up), "%s:", secret);
    h = basic(up);
    cr_assert_eq(resolve(h, &who), PAY_OK);
    cr_assert_str_eq(who.subject, id);
    free(h);

    snprintf(up, sizeof(up), "%s:ignored-password", secret);
    h = basic(up);
    cr_assert_eq(resolve(h, &who), PAY_OK);
    free(h);

    h = basic(secret); /* no colon at all */
    cr_assert_eq(resolve(h, &who), PAY_OK);
    free(h);

    /* Scheme names are case-insensitive; surrounding blanks are fine. */
    char lower[96];
    snprintf(lower, sizeof(lower), "  bearer   %s  ", secret);
    cr_assert_eq(resolve(lower, &who), PAY_OK);
}

Test(keys, wrong_or_malformed_credentials)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    create("server", PAY_ROLE_ADMIN, secret, id);
    struct pay_principal who;

    cr_assert_eq(resolve(NULL, &who), PAY_ERR_AUTH_REQUIRED);
    cr_assert_eq(resolve("", &who), PAY_ERR_AUTH_REQUIRED);
    cr_assert_eq(resolve("   ", &who), PAY_ERR_AUTH_REQUIRED);

    char wrong[64];
    strcpy(wrong, secret);
    wrong[20] = wrong[20] == 'a' ? 'b' : 'a';
    char *h = bearer(wrong);
    cr_assert_eq(resolve(h, &who), PAY_ERR_AUTH_INVALID);
    cr_assert_eq(who.kind, PAY_PRINCIPAL_NONE);
    free(h);

    char truncated[64];
    strcpy(truncated, secret);
    truncated[30] = '\0';
    h = bearer(truncated);
    cr_assert_eq(resolve(h, &who), PAY_ERR_AUTH_INVALID);
    free(h);

    const char *bad[] = {"Bearer",     "Bearer ",           secret,       "Token abc",
                         "Bearer sk_", "Bearer sk_test_!!", "Basic",      "Basic !!!notb64",
                         "Basic Og==", "Digest x",          "Bearer a b", "Bearer eyJhbGciOi.x.y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(resolve(bad[i], &who), PAY_ERR_AUTH_INVALID, "header '%s'", bad[i]);
    }

    /* Basic with something other than a key as the user. */
    h = basic("admin:password");
    cr_assert_eq(resolve(h, &who), PAY_ERR_AUTH_INVALID);
    free(h);
}

Test(keys, jwt_through_resolve)
{
    char *tok = NULL;
    cr_assert_eq(
        pay_jwt_mint_hs256("jwt-secret", "dr_who", "auditor", NULL, 600, NULL, NULL, NOW, &tok),
        PAY_OK);
    char *h = bearer(tok);
    struct pay_principal who;
    cr_assert_eq(resolve(h, &who), PAY_OK);
    cr_assert_eq(who.kind, PAY_PRINCIPAL_JWT);
    cr_assert_eq(who.role, PAY_ROLE_AUDITOR);
    cr_assert_str_eq(who.subject, "dr_who");
    free(h);
    free(tok);

    /* A JWT is never accepted through Basic. */
    cr_assert_eq(pay_jwt_mint_hs256("jwt-secret", "x", "admin", NULL, 600, NULL, NULL, NOW, &tok),
                 PAY_OK);
    char up[2048];
    snprintf(up, sizeof(up), "%s:", tok);
    h = basic(up);
    cr_assert_eq(resolve(h, &who), PAY_ERR_AUTH_INVALID);
    free(h);
    free(tok);
}

Test(keys, list_shows_no_secrets)
{
    char s1[64], id1[PAY_ID_LEN_MAX + 1], s2[64], id2[PAY_ID_LEN_MAX + 1];
    create("first", PAY_ROLE_ADMIN, s1, id1);
    pay_clock_set_fixed(NOW + 1);
    create("second", PAY_ROLE_AUDITOR, s2, id2);
    json_t *list = NULL;
    cr_assert_eq(pay_keys_list(store, &list), PAY_OK);
    cr_assert_eq(json_array_size(list), 2);
    json_t *k = json_array_get(list, 0);
    cr_assert_str_eq(pay_json_str(k, "id"), id1);
    cr_assert_str_eq(pay_json_str(k, "name"), "first");
    cr_assert_str_eq(pay_json_str(k, "role"), "admin");
    cr_assert_eq(strncmp(pay_json_str(k, "prefix"), s1, 12), 0);
    cr_assert_eq(pay_json_int(k, "created", 0), NOW);
    cr_assert(json_is_null(json_object_get(k, "revoked_at")));
    cr_assert_null(json_object_get(k, "secret_hash"));
    k = json_array_get(list, 1);
    cr_assert_str_eq(pay_json_str(k, "id"), id2);
    cr_assert_str_eq(pay_json_str(k, "role"), "auditor");
    char *dump = json_dumps(list, 0);
    cr_assert_null(strstr(dump, s1));
    cr_assert_null(strstr(dump, s2));
    free(dump);
    json_decref(list);
}

Test(keys, revoke_takes_effect_at_once_here)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    create("server", PAY_ROLE_ADMIN, secret, id);
    struct pay_principal who;
    char *h = bearer(secret);
    cr_assert_eq(resolve(h, &who), PAY_OK); /* now cached */

    struct pay_error err = {0};
    pay_clock_set_fixed(NOW + 2);
    cr_assert_eq(pay_keys_revoke(store, id, &err), PAY_OK, "%s", err.message);
    cr_assert_eq(resolve(h, &who), PAY_ERR_AUTH_INVALID);

    cr_assert_eq(pay_keys_revoke(store, id, &err), PAY_ERR_NOT_FOUND, "already revoked");
    cr_assert_eq(pay_keys_revoke(store, "key_doesnotexist000000000000", &err), PAY_ERR_NOT_FOUND);
    cr_assert_eq(pay_keys_revoke(store, "garbage", &err), PAY_ERR_NOT_FOUND);

    json_t *list = NULL;
    cr_assert_eq(pay_keys_list(store, &list), PAY_OK);
    cr_assert_eq(pay_json_int(json_array_get(list, 0), "revoked_at", 0), NOW + 2);
    json_decref(list);
    free(h);
}

static enum pay_err revoke_behind_our_back(struct pay_tx *tx, void *arg)
{
    struct pay_param p[] = {PAY_PTEXT((const char *)arg)};
    return pay_tx_exec(tx, "UPDATE api_keys SET revoked_at = 1 WHERE id = $1", p, 1, NULL);
}

Test(keys, revoke_elsewhere_takes_effect_within_the_ttl)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    create("server", PAY_ROLE_ADMIN, secret, id);
    struct pay_principal who;
    char *h = bearer(secret);
    cr_assert_eq(resolve(h, &who), PAY_OK);

    /* Another process revokes it: this one trusts its cache for up to 5 s. */
    cr_assert_eq(pay_store_write(store, revoke_behind_our_back, id), PAY_OK);
    pay_clock_set_fixed(NOW + 4);
    cr_assert_eq(resolve(h, &who), PAY_OK);
    pay_clock_set_fixed(NOW + 5);
    cr_assert_eq(resolve(h, &who), PAY_ERR_AUTH_INVALID);
    free(h);
}

Test(keys, create_refuses_bad_input)
{
    char secret[64], id[PAY_ID_LEN_MAX + 1];
    struct pay_error err = {0};
    cr_assert_eq(pay_keys_create(store, "", PAY_ROLE_ADMIN, secret, id, &err),
                 PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "name");
    cr_assert_eq(pay_keys_create(store, "x", PAY_ROLE_NONE, secret, id, &err),
                 PAY_ERR_PARAM_INVALID);
    cr_assert_str_eq(err.param, "role");
    cr_assert_eq(pay_keys_create(store, "x", PAY_ROLE_ADMIN | PAY_ROLE_STAFF, secret, id, &err),
                 PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_keys_create(store, "x", PAY_ROLE_PATIENT, secret, id, &err),
                 PAY_ERR_PARAM_INVALID);
    json_t *list = NULL;
    cr_assert_eq(pay_keys_list(store, &list), PAY_OK);
    cr_assert_eq(json_array_size(list), 0, "nothing was stored");
    json_decref(list);
}

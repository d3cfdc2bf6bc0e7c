/*
 * keys.c - API keys: creation, revocation, listing, and resolving a secret
 * into a principal.
 *
 * Invariants:
 *   - a secret is "sk_test_" + 32 base62 characters (~190 bits) drawn
 *     without modulo bias from the OS random source; it is returned once
 *     and never stored: api_keys keeps its SHA-256 (hex) and its first 12
 *     characters (the prefix people recognise a key by). A fast hash is
 *     enough because the secret has full entropy; nothing to brute-force.
 *   - resolving consults a small in-process cache (secret hash -> key id and
 *     role) whose entries live KEY_CACHE_TTL_S seconds, so the hot path does
 *     not read the database on every request. Consequence, by design: a
 *     revocation takes effect at once in the process that revoked the key
 *     and within KEY_CACHE_TTL_S seconds in every other process sharing the
 *     database. Failed lookups are not cached, so a new key works at once.
 *
 * Threading: the cache is guarded by one mutex; everything else runs in the
 * store's transactions.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

#define KEY_SECRET_PREFIX "sk_test_"
#define KEY_SECRET_RANDOM_LEN 32
#define KEY_PREFIX_LEN 12
#define KEY_NAME_LEN_MAX 200
/* Longest string worth hashing as a candidate secret. */
#define KEY_SECRET_LEN_MAX 128

/* How long a resolved key is trusted without asking the database. */
#define KEY_CACHE_TTL_S 5
/* Direct-mapped by the first byte of the hash: a collision only costs a
 * database read. */
#define KEY_CACHE_SLOTS 256

struct key_cache_entry {
    bool used;
    const struct pay_store *store;
    char hash[65];
    char id[PAY_ID_LEN_MAX + 1];
    enum pay_role role;
    int64_t cached_at;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_cache_entry cache[KEY_CACHE_SLOTS];

static size_t cache_slot(const char *hash)
{
    static const char hex[] = "0123456789abcdef";
    const char *hi = strchr(hex, hash[0]);
    const char *lo = strchr(hex, hash[1]);
    return (size_t)((hi - hex) * 16 + (lo - hex)) % KEY_CACHE_SLOTS;
}

static bool cache_get(const struct pay_store *s, const char *hash, struct pay_principal *who)
{
    bool hit = false;
    int64_t now = pay_now();
    pthread_mutex_lock(&cache_lock);
    struct key_cache_entry *e = &cache[cache_slot(hash)];
    /* A clock that went backwards also invalidates the entry. */
    if (e->used && e->store == s && strcmp(e->hash, hash) == 0 && now >= e->cached_at &&
        now - e->cached_at < KEY_CACHE_TTL_S) {
        memset(who, 0, sizeof(*who));
        who->kind = PAY_PRINCIPAL_API_KEY;
        who->role = e->role;
        snprintf(who->subject, sizeof(who->subject), "%s", e->id);
        hit = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

static void cache_put(const struct pay_store *s, const char *hash, const char *id,
                      enum pay_role role)
{
    pthread_mutex_lock(&cache_lock);
    struct key_cache_entry *e = &cache[cache_slot(hash)];
    e->used = true;
    e->store = s;
    memcpy(e->hash, hash, sizeof(e->hash));
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->role = role;
    e->cached_at = pay_now();
    pthread_mutex_unlock(&cache_lock);
}

static void cache_forget_id(const char *id)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < KEY_CACHE_SLOTS; i++) {
        if (cache[i].used && strcmp(cache[i].id, id) == 0) {
            cache[i].used = false;
        }
    }
    pthread_mutex_unlock(&cache_lock);
}

/* ---- Create -------------------------------------------------------------- */

struct create_arg {
    const char *id;
    const char *name;
    const char *role;
    const char *hash;
    const char *prefix;
    int64_t created;
    pay_keys_hook_fn hook;
    void *hook_arg;
};

static enum pay_err create_tx(struct pay_tx *tx, void *arg)
{
    const struct create_arg *a = arg;
    struct pay_param p[] = {
        PAY_PTEXT(a->id),   PAY_PTEXT(a->name),   PAY_PTEXT(a->role),
        PAY_PTEXT(a->hash), PAY_PTEXT(a->prefix), PAY_PINT(a->created),
    };
    enum pay_err e = pay_tx_exec(tx,
                                 "INSERT INTO api_keys (id, name, role, secret_hash, prefix, "
                                 "created) VALUES ($1, $2, $3, $4, $5, $6)",
                                 p, PAY_NPARAMS(p), NULL);
    /* The hook (the audit record) commits with the key or not at all. */
    return e == PAY_OK && a->hook ? a->hook(tx, a->id, a->hook_arg) : e;
}

static enum pay_err new_secret(char *out)
{
    static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t plen = strlen(KEY_SECRET_PREFIX);
    memcpy(out, KEY_SECRET_PREFIX, plen);
    size_t done = 0;
    unsigned char rnd[64];
    while (done < KEY_SECRET_RANDOM_LEN) {
        enum pay_err e = pay_random_bytes(rnd, sizeof(rnd));
        if (e != PAY_OK) {
            explicit_bzero(rnd, sizeof(rnd));
            return e;
        }
        /* 248 = 4 * 62: reject the bytes above it so each character is
         * equally likely. */
        for (size_t i = 0; i < sizeof(rnd) && done < KEY_SECRET_RANDOM_LEN; i++) {
            if (rnd[i] < 248) {
                out[plen + done++] = base62[rnd[i] % 62];
            }
        }
    }
    explicit_bzero(rnd, sizeof(rnd));
    out[plen + KEY_SECRET_RANDOM_LEN] = '\0';
    return PAY_OK;
}

enum pay_err pay_keys_create(struct pay_store *s, const char *name, enum pay_role role,
                             char *secret_out, char *id_out, struct pay_error *err)
{
    return pay_keys_create_with(s, name, role, NULL, NULL, secret_out, id_out, err);
}

enum pay_err pay_keys_create_with(struct pay_store *s, const char *name, enum pay_role role,
                                  pay_keys_hook_fn hook, void *hook_arg, char *secret_out,
                                  char *id_out, struct pay_error *err)
{
    secret_out[0] = '\0';
    id_out[0] = '\0';
    if (!name || !name[0] || strlen(name) > KEY_NAME_LEN_MAX) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "name",
                             "A key needs a name of 1 to %d characters.", KEY_NAME_LEN_MAX);
    }
    const char *role_name = pay_role_name(role);
    if (role == PAY_ROLE_NONE || pay_role_parse(role_name) != role) {
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "role",
                             "The role must be one of admin, staff, auditor, patient.");
    }
    if (role == PAY_ROLE_PATIENT) {
        /* A patient acts for one customer, which only a JWT can name. */
        return pay_error_set(err, PAY_ERR_PARAM_INVALID, "role",
                             "API keys cannot have the patient role; use a JWT.");
    }

    char secret[64];
    enum pay_err e = new_secret(secret);
    if (e != PAY_OK) {
        return pay_error_set(err, e, NULL, "The OS random source failed.");
    }
    char hash[65];
    pay_sha256_hex(secret, strlen(secret), hash);
    char prefix[KEY_PREFIX_LEN + 1];
    memcpy(prefix, secret, KEY_PREFIX_LEN);
    prefix[KEY_PREFIX_LEN] = '\0';
    char id[PAY_ID_LEN_MAX + 1];
    pay_id_new("key", id);

    struct create_arg a = {id, name, role_name, hash, prefix, pay_now(), hook, hook_arg};
    e = pay_store_write(s, create_tx, &a);
    if (e != PAY_OK) {
        explicit_bzero(secret, sizeof(secret));
        return pay_error_set(err, e, NULL, "Could not store the new key.");
    }
    memcpy(secret_out, secret, strlen(secret) + 1);
    memcpy(id_out, id, strlen(id) + 1);
    explicit_bzero(secret, sizeof(secret));
    return PAY_OK;
}

/* ---- Revoke -------------------------------------------------------------- */

struct revoke_arg {
    const char *id;
    int64_t now;
    int64_t changed;
    pay_keys_hook_fn hook;
    void *hook_arg;
};

static enum pay_err revoke_tx(struct pay_tx *tx, void *arg)
{
    struct revoke_arg *a = arg;
    struct pay_param p[] = {PAY_PINT(a->now), PAY_PTEXT(a->id)};
    enum pay_err e =
        pay_tx_exec(tx, "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    p, PAY_NPARAMS(p), &a->changed);
    /* Only a revocation that happened is recorded, in its transaction. */
    return e == PAY_OK && a->changed == 1 && a->hook ? a->hook(tx, a->id, a->hook_arg) : e;
}

enum pay_err pay_keys_revoke(struct pay_store *s, const char *id, struct pay_error *err)
{
    return pay_keys_revoke_with(s, id, NULL, NULL, err);
}

enum pay_err pay_keys_revoke_with(struct pay_store *s, const char *id, pay_keys_hook_fn hook,
                                  void *hook_arg, struct pay_error *err)
{
    if (!id || !pay_id_valid(id, "key")) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such API key: %s", id ? id : "");
    }
    struct revoke_arg a = {id, pay_now(), 0, hook, hook_arg};
    enum pay_err e = pay_store_write(s, revoke_tx, &a);
    if (e != PAY_OK) {
        return pay_error_set(err, e, NULL, "Could not revoke the key.");
    }
    /* Even when nothing changed: another process may have revoked it. */
    cache_forget_id(id);
    if (a.changed == 0) {
        return pay_error_set(err, PAY_ERR_NOT_FOUND, "id", "No such active API key: %s", id);
    }
    return PAY_OK;
}

/* ---- List ---------------------------------------------------------------- */

static enum pay_err list_tx(struct pay_tx *tx, void *arg)
{
    json_t **out = arg;
    json_decref(*out);
    *out = json_array();
    if (!*out) {
        return PAY_ERR_NOMEM;
    }
    struct pay_rows *rows;
    enum pay_err e = pay_tx_query(tx,
                                  "SELECT id, name, role, prefix, created, revoked_at "
                                  "FROM api_keys ORDER BY created, id",
                                  NULL, 0, &rows);
    if (e != PAY_OK) {
        return e;
    }
    while (pay_rows_next(rows)) {
        json_t *k = json_object();
        if (!k) {
            pay_rows_close(rows);
            return PAY_ERR_NOMEM;
        }
        pay_json_set_str(k, "id", pay_rows_text(rows, 0));
        pay_json_set_str(k, "name", pay_rows_text(rows, 1));
        pay_json_set_str(k, "role", pay_rows_text(rows, 2));
        pay_json_set_str(k, "prefix", pay_rows_text(rows, 3));
        pay_json_set_int(k, "created", pay_rows_int(rows, 4));
        if (pay_rows_null(rows, 5)) {
            json_object_set_new_nocheck(k, "revoked_at", json_null());
        } else {
            pay_json_set_int(k, "revoked_at", pay_rows_int(rows, 5));
        }
        json_array_append_new(*out, k);
    }
    return pay_rows_close(rows);
}

enum pay_err pay_keys_list(struct pay_store *s, json_t **out)
{
    json_t *list = NULL;
    enum pay_err e = pay_store_read(s, list_tx, &list);
    if (e != PAY_OK) {
        json_decref(list);
        *out = NULL;
        return e;
    }
    *out = list;
    return PAY_OK;
}

/* ---- Resolve ------------------------------------------------------------- */

struct resolve_arg {
    const char *hash;
    bool found;
    char id[PAY_ID_LEN_MAX + 1];
    char role[16];
};

static enum pay_err resolve_tx(struct pay_tx *tx, void *arg)
{
    struct resolve_arg *a = arg;
    struct pay_param p[] = {PAY_PTEXT(a->hash)};
    struct pay_rows *rows;
    a->found = false;
    enum pay_err e = pay_tx_query(
        tx, "SELECT id, role FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL", p,
        PAY_NPARAMS(p), &rows);
    if (e != PAY_OK) {
        return e;
    }
    if (pay_rows_next(rows)) {
        const char *id = pay_rows_text(rows, 0);
        const char *role = pay_rows_text(rows, 1);
        if (id && role && strlen(id) < sizeof(a->id) && strlen(role) < sizeof(a->role)) {
            memcpy(a->id, id, strlen(id) + 1);
            memcpy(a->role, role, strlen(role) + 1);
            a->found = true;
        }
    }
    return pay_rows_close(rows);
}

static bool secret_shape_ok(const char *secret)
{
    size_t n = strnlen(secret, KEY_SECRET_LEN_MAX + 1);
    if (n < 4 || n > KEY_SECRET_LEN_MAX || strncmp(secret, "sk_", 3) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = secret[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

enum pay_err pay_keys_resolve(struct pay_store *s, const char *secret, struct pay_principal *who,
                              struct pay_error *err)
{
    memset(who, 0, sizeof(*who));
    if (!secret || !secret_shape_ok(secret)) {
        return pay_error_set(err, PAY_ERR_AUTH_INVALID, NULL, "Invalid API key provided.");
    }
    char hash[65];
    pay_sha256_hex(secret, strlen(secret), hash);
    if (cache_get(s, hash, who)) {
        return PAY_OK;
    }

    struct resolve_arg a = {.hash = hash};
    enum pay_err e = pay_store_read(s, resolve_tx, &a);
    if (e != PAY_OK) {
        return pay_error_set(err, e, NULL, "Could not check the API key.");
    }
    enum pay_role role = a.found ? pay_role_parse(a.role) : PAY_ROLE_NONE;
    /* A role this binary does not know (a newer schema, a hand edit) is
     * refused, never guessed. Patients need a customer, which keys lack. */
    if (role == PAY_ROLE_NONE || role == PAY_ROLE_PATIENT) {
        return pay_error_set(err, PAY_ERR_AUTH_INVALID, NULL, "Invalid API key provided.");
    }
    cache_put(s, hash, a.id, role);
    who->kind = PAY_PRINCIPAL_API_KEY;
    who->role = role;
    snprintf(who->subject, sizeof(who->subject), "%s", a.id);
    return PAY_OK;
}

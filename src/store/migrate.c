/*
 * migrate.c - numbered schema migrations carried inside the binary.
 *
 * Files: src/store/migrations/<sqlite|postgres>/NNNN_name.sql (listed in
 * embedded_files). Each back end has its own twin of every number. They are
 * applied in number order, each in its own write transaction together with
 * its row in schema_migrations(version, name, applied_at), so a migration is
 * either wholly applied and recorded or not at all. On PostgreSQL every
 * migration transaction first takes a transaction-scoped advisory lock, so
 * several `payd migrate` (or starting `payd serve`) processes may run at
 * once: the second waits, then sees the version recorded and skips it. On
 * SQLite BEGIN IMMEDIATE already serialises them.
 *
 * Threading: stateless; runs through pay_store_write/read.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* pg_advisory_xact_lock key shared by every payd migration transaction. */
#define MIGRATE_LOCK_KEY "7235001"
/* More migration files than this for one back end is a build mistake. */
#define MIGRATIONS_MAX 512

int pay_migrations_list(const char *kind, struct pay_migration *out, int cap)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "src/store/migrations/%s/", kind);
    size_t plen = strlen(prefix);
    size_t n_files = 0;
    const struct pay_embedded *files = pay_embedded_all(&n_files);
    int n = 0;
    for (size_t i = 0; i < n_files; i++) {
        const char *name = files[i].name;
        size_t len = strlen(name);
        if (strncmp(name, prefix, plen) != 0 || len < plen + 5 ||
            strcmp(name + len - 4, ".sql") != 0) {
            continue;
        }
        const char *p = name + plen;
        int version = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 9) {
            version = version * 10 + (*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || *p != '_' || version <= 0 || n >= cap) {
            pay_logf(PAY_LOG_ERROR, NULL, "store: bad migration file name %s", name);
            return -1;
        }
        p++;
        struct pay_migration m = {.version = version, .sql = (const char *)files[i].data};
        size_t nlen = (size_t)(name + len - 4 - p);
        if (nlen >= sizeof(m.name)) {
            nlen = sizeof(m.name) - 1;
        }
        memcpy(m.name, p, nlen);
        m.name[nlen] = '\0';
        /* Insertion sort: a few dozen files. */
        int j = n;
        while (j > 0 && out[j - 1].version > version) {
            out[j] = out[j - 1];
            j--;
        }
        if (j > 0 && out[j - 1].version == version) {
            pay_logf(PAY_LOG_ERROR, NULL, "store: two migrations numbered %d for %s", version,
                     kind);
            return -1;
        }
        out[j] = m;
        n++;
    }
    return n;
}

/* A multi-statement script inside @tx, under the failed-statement rule. */
static enum pay_err tx_script(struct pay_tx *tx, const char *sql)
{
    if (tx->failed) {
        return PAY_ERR_DB;
    }
    return pay_tx_fail(tx, tx->store->ops->exec_script(tx, sql));
}

static bool is_pg(const struct pay_store *s)
{
    return strcmp(pay_store_kind(s), "postgres") == 0;
}

static enum pay_err lock_migrations(struct pay_tx *tx)
{
    if (!is_pg(tx->store)) {
        return PAY_OK;
    }
    return pay_tx_exec(tx, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", NULL, 0, NULL);
}

static enum pay_err ensure_table_tx(struct pay_tx *tx, void *arg)
{
    (void)arg;
    enum pay_err rc = lock_migrations(tx);
    if (rc != PAY_OK) {
        return rc;
    }
    return tx_script(tx, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version BIGINT PRIMARY KEY,"
                         " name TEXT NOT NULL,"
                         " applied_at BIGINT NOT NULL)");
}

struct apply_arg {
    const struct pay_migration *m;
    bool applied;
};

static enum pay_err apply_tx(struct pay_tx *tx, void *arg)
{
    struct apply_arg *a = arg;
    a->applied = false;
    enum pay_err rc = lock_migrations(tx);
    if (rc != PAY_OK) {
        return rc;
    }
    struct pay_param p[] = {PAY_PINT(a->m->version), PAY_PTEXT(a->m->name), PAY_PINT(pay_now())};
    bool found = false;
    int64_t one = 0;
    rc = pay_tx_query_int(tx, "SELECT 1 FROM schema_migrations WHERE version = $1", p, 1, &one,
                          &found);
    if (rc != PAY_OK || found) {
        return rc;
    }
    rc = tx_script(tx, a->m->sql);
    if (rc != PAY_OK) {
        return rc;
    }
    rc = pay_tx_exec(tx,
                     "INSERT INTO schema_migrations (version, name, applied_at)"
                     " VALUES ($1, $2, $3)",
                     p, PAY_NPARAMS(p), NULL);
    if (rc == PAY_OK) {
        a->applied = true;
    }
    return rc;
}

struct level_arg {
    int applied;
};

static enum pay_err level_tx(struct pay_tx *tx, void *arg)
{
    struct level_arg *a = arg;
    a->applied = 0;
    const char *exists_sql =
        is_pg(tx->store)
            ? "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 ELSE 1 END"
            : "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
              " AND name = 'schema_migrations'";
    int64_t exists = 0;
    enum pay_err rc = pay_tx_query_int(tx, exists_sql, NULL, 0, &exists, NULL);
    if (rc != PAY_OK || exists == 0) {
        return rc;
    }
    int64_t level = 0;
    rc = pay_tx_query_int(tx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL, 0,
                          &level, NULL);
    if (rc == PAY_OK) {
        a->applied = (int)level;
    }
    return rc;
}

enum pay_err pay_store_level(struct pay_store *s, int *applied, int *known)
{
    *applied = 0;
    *known = 0;
    struct pay_migration *ms = calloc(MIGRATIONS_MAX, sizeof(*ms));
    if (ms == NULL) {
        return PAY_ERR_NOMEM;
    }
    int n = pay_migrations_list(pay_store_kind(s), ms, MIGRATIONS_MAX);
    if (n < 0) {
        free(ms);
        return PAY_ERR_INTERNAL;
    }
    *known = n > 0 ? ms[n - 1].version : 0;
    free(ms);
    struct level_arg a = {0};
    enum pay_err rc = pay_store_read(s, level_tx, &a);
    *applied = a.applied;
    return rc;
}

enum pay_err pay_store_migrate(struct pay_store *s, int *level_out, struct pay_error *err)
{
    if (level_out != NULL) {
        *level_out = 0;
    }
    struct pay_migration *ms = calloc(MIGRATIONS_MAX, sizeof(*ms));
    if (ms == NULL) {
        return PAY_ERR_NOMEM;
    }
    enum pay_err rc = PAY_OK;
    int n = pay_migrations_list(pay_store_kind(s), ms, MIGRATIONS_MAX);
    if (n < 0) {
        rc =
            pay_error_set(err, PAY_ERR_INTERNAL, NULL, "The embedded migrations are inconsistent.");
        goto out;
    }
    rc = pay_store_write(s, ensure_table_tx, NULL);
    if (rc != PAY_OK) {
        pay_error_set(err, rc, NULL, "Cannot create the schema_migrations table.");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        struct apply_arg a = {.m = &ms[i]};
        rc = pay_store_write(s, apply_tx, &a);
        if (rc != PAY_OK) {
            pay_error_set(err, rc, NULL, "Migration %04d_%s failed.", ms[i].version, ms[i].name);
            goto out;
        }
        if (a.applied) {
            pay_logf(PAY_LOG_INFO, NULL, "store: applied migration %04d_%s", ms[i].version,
                     ms[i].name);
        }
    }
    int applied = 0, known = 0;
    rc = pay_store_level(s, &applied, &known);
    if (rc != PAY_OK) {
        pay_error_set(err, rc, NULL, "Cannot read the migration level.");
        goto out;
    }
    if (applied > known) {
        pay_logf(PAY_LOG_WARN, NULL,
                 "store: the database is at migration %d, newer than this binary's %d", applied,
                 known);
    }
    if (level_out != NULL) {
        *level_out = applied;
    }
out:
    free(ms);
    return rc;
}

static enum pay_err ping_tx(struct pay_tx *tx, void *arg)
{
    int64_t *v = arg;
    return pay_tx_query_int(tx, "SELECT 1", NULL, 0, v, NULL);
}

bool pay_store_ping(struct pay_store *s)
{
    int64_t v = 0;
    return pay_store_read(s, ping_tx, &v) == PAY_OK && v == 1;
}

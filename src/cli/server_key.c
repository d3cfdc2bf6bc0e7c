/*
 * server_key.c - the server key of a database (it keys card fingerprints
 * and seals stored secrets), shared by payd serve and payd demo: the
 * --fingerprint-key option, else a file created once beside the data; and
 * the check the database keeps of it, so that a payd given another key
 * refuses to start instead of making fingerprints and secrets that do not
 * match the ones stored.
 *
 * Threading: main thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* A PEM public key or key file larger than this is a mistake. */
#define KEY_FILE_BYTES_MAX (64 * 1024)
/* Random bytes of a generated key (hex-encoded in its file). */
#define FINGERPRINT_KEY_BYTES 32

enum pay_err pay_cli_read_file(const char *path, char **out)
{
    enum pay_err e = PAY_ERR_IO;
    struct pay_buf b;
    pay_buf_init(&b, KEY_FILE_BYTES_MAX);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        goto out;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        e = pay_buf_add(&b, chunk, n);
        if (e != PAY_OK) {
            goto out_close;
        }
    }
    if (ferror(f)) {
        e = PAY_ERR_IO;
        goto out_close;
    }
    e = pay_buf_adds(&b, "");
    if (e == PAY_OK) {
        *out = pay_buf_detach(&b, NULL);
    }
out_close:
    fclose(f);
out:
    pay_buf_release(&b);
    return e;
}

char *pay_cli_server_key_path(const char *db_url)
{
    char path[PATH_MAX];
    if (strncmp(db_url, "sqlite:", 7) == 0) {
        const char *file = db_url + 7;
        if (strcmp(file, ":memory:") == 0 || file[0] == '\0') {
            return NULL;
        }
        const char *slash = strrchr(file, '/');
        int n = slash == NULL ? snprintf(path, sizeof(path), "fingerprint.key")
                              : snprintf(path, sizeof(path), "%.*s/fingerprint.key",
                                         (int)(slash - file), file);
        return n > 0 && (size_t)n < sizeof(path) ? strdup(path) : NULL;
    }
    return strdup("var/fingerprint.key");
}

/* Trim trailing whitespace of @s in place. */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
}

enum pay_err pay_cli_server_key_load(const char *path, bool create, char **out)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        char *key = NULL;
        if (pay_cli_read_file(path, &key) == PAY_OK) {
            rtrim(key);
            if (strlen(key) >= 32) {
                *out = key;
                return PAY_OK;
            }
            /* Empty or short: another process is writing it right now. */
            free(key);
            usleep(100 * 1000);
            continue;
        }
        if (!create) {
            return PAY_ERR_NOT_FOUND;
        }
        if (strchr(path, '/') != NULL) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
            (void)mkdir(dir, 0700); /* exists already in the usual case */
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST) {
                continue;
            }
            return PAY_ERR_IO;
        }
        unsigned char raw[FINGERPRINT_KEY_BYTES];
        char hex[2 * FINGERPRINT_KEY_BYTES + 2];
        enum pay_err e = pay_random_bytes(raw, sizeof(raw));
        if (e != PAY_OK) {
            close(fd);
            unlink(path);
            return e;
        }
        pay_hex_encode(raw, sizeof(raw), hex);
        explicit_bzero(raw, sizeof(raw));
        size_t len = strlen(hex);
        hex[len] = '\n';
        bool ok = write(fd, hex, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
        close(fd);
        hex[len] = '\0';
        if (!ok) {
            unlink(path);
            return PAY_ERR_IO;
        }
        *out = strdup(hex);
        explicit_bzero(hex, sizeof(hex));
        return *out != NULL ? PAY_OK : PAY_ERR_NOMEM;
    }
    return PAY_ERR_IO;
}

/* The label under which the key's check is made: a fixed text, versioned. */
#define KEY_CHECK_LABEL "payd fingerprint key check v1"
#define KEY_CHECK_NAME "fingerprint_key_check"

struct key_check {
    const char *check; /* this key's, hex */
    char stored[2 * 32 + 1];
};

static enum pay_err key_check_tx(struct pay_tx *tx, void *arg)
{
    struct key_check *k = arg;
    const struct pay_param p[] = {PAY_PTEXT(KEY_CHECK_NAME), PAY_PTEXT(k->check),
                                  PAY_PINT(pay_now())};
    enum pay_err e = pay_tx_exec(tx,
                                 "INSERT INTO settings (name, value, created) VALUES ($1, $2, $3) "
                                 "ON CONFLICT (name) DO NOTHING",
                                 p, PAY_NPARAMS(p), NULL);
    char *v = NULL;
    if (e == PAY_OK) {
        e = pay_tx_query_text(tx, "SELECT value FROM settings WHERE name = $1", p, 1, &v);
    }
    if (e == PAY_OK) {
        snprintf(k->stored, sizeof(k->stored), "%s", v != NULL ? v : "");
    }
    free(v);
    return e;
}

bool pay_cli_fingerprint_key_check(struct pay_store *store, const char *key, const char *cmd,
                                   const char *source, bool created)
{
    unsigned char mac[32];
    char hex[2 * sizeof(mac) + 1];
    pay_hmac_sha256(key, strlen(key), KEY_CHECK_LABEL, strlen(KEY_CHECK_LABEL), mac);
    pay_hex_encode(mac, sizeof(mac), hex);
    struct key_check k = {.check = hex};
    enum pay_err e = pay_store_write(store, key_check_tx, &k);
    if (e != PAY_OK) {
        fprintf(stderr, "payd %s: cannot check the fingerprint key against the database: %s\n", cmd,
                pay_err_str(e));
        return false;
    }
    if (strcmp(k.stored, hex) == 0) {
        return true;
    }
    fprintf(stderr,
            "payd %s: the fingerprint key (%s) is not the one this database was keyed with: its "
            "card fingerprints and sealed webhook secrets were made with another. Give every payd "
            "that uses this database the same --fingerprint-key (PAYD_FINGERPRINT_KEY)%s.\n",
            cmd, source,
            created ? "; the key file was created just now: put back the one that was beside "
                      "the database"
                    : "");
    return false;
}

char *pay_cli_fingerprint_key(const struct pay_config *cfg, struct pay_store *store,
                              const char *cmd)
{
    const char *v = pay_config_get(cfg, "fingerprint-key");
    char *key = NULL;
    char source[PATH_MAX + 32] = "--fingerprint-key";
    bool created = false;
    if (v != NULL && v[0] != '\0') {
        key = strdup(v);
    } else {
        const char *db = pay_config_get(cfg, "db");
        char *path = pay_cli_server_key_path(db);
        if (path == NULL) {
            /* An in-memory database lives as long as this process. */
            unsigned char raw[FINGERPRINT_KEY_BYTES];
            char hex[2 * FINGERPRINT_KEY_BYTES + 1];
            if (pay_random_bytes(raw, sizeof(raw)) != PAY_OK) {
                fprintf(stderr, "payd %s: cannot make a fingerprint key\n", cmd);
                return NULL;
            }
            pay_hex_encode(raw, sizeof(raw), hex);
            key = strdup(hex);
            explicit_bzero(hex, sizeof(hex));
            snprintf(source, sizeof(source), "a new one for an in-memory database");
        } else {
            if (strncmp(db, "sqlite:", 7) != 0) {
                pay_logf(PAY_LOG_WARN, NULL,
                         "no --fingerprint-key: using %s; give every payd instance that shares "
                         "this database the same PAYD_FINGERPRINT_KEY",
                         path);
            }
            created = access(path, F_OK) != 0;
            if (pay_cli_server_key_load(path, true, &key) != PAY_OK) {
                fprintf(stderr, "payd %s: cannot read or create the fingerprint key file %s: %s\n",
                        cmd, path, strerror(errno));
                free(path);
                return NULL;
            }
            snprintf(source, sizeof(source), "the key file %s", path);
            free(path);
        }
    }
    if (key == NULL) {
        fprintf(stderr, "payd %s: out of memory\n", cmd);
        return NULL;
    }
    if (!pay_cli_fingerprint_key_check(store, key, cmd, source, created)) {
        explicit_bzero(key, strlen(key));
        free(key);
        return NULL;
    }
    return key;
}

/*
 * server_key.c - the server key of a database (it keys card fingerprints
 * and seals stored secrets), shared by payd serve and payd demo: the
 * --fingerprint-key option, else a file created once beside the data.
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

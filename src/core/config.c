/*
 * config.c - options from command-line flags, PAYD_* environment variables,
 * a config file and built-in defaults, in that order of precedence.
 *
 * Invariants: every resolved value is an owned copy (argv, environ and the
 * file can change or go away afterwards); on error nothing is left
 * allocated. The config file is named by --config or PAYD_CONFIG (or the
 * "config" option's own env variable when the caller declares one); "--config"
 * is always accepted even when not declared. File syntax: "name = value"
 * lines, blank lines, '#' comments (a whole line, or after whitespace),
 * optional double quotes around a value.
 * Threading: load once at start; reads afterwards are safe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

#define CONFIG_LINE_MAX 4096

static const struct pay_option *find_option(const struct pay_option *opts, size_t n,
                                            const char *name, size_t name_len, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(opts[i].name) == name_len && strncmp(opts[i].name, name, name_len) == 0) {
            *idx = i;
            return &opts[i];
        }
    }
    return NULL;
}

/* Replace values[i] with a copy of @s (of @len bytes). */
static enum pay_err set_value(struct pay_config *cfg, size_t i, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    if (!copy) {
        return PAY_ERR_NOMEM;
    }
    free((char *)cfg->values[i]);
    cfg->values[i] = copy;
    return PAY_OK;
}

static enum pay_err add_positional(struct pay_config *cfg, const char *arg)
{
    char **p = realloc(cfg->positional, (cfg->n_positional + 1) * sizeof(*p));
    if (!p) {
        return PAY_ERR_NOMEM;
    }
    cfg->positional = p;
    p[cfg->n_positional] = strdup(arg);
    if (!p[cfg->n_positional]) {
        return PAY_ERR_NOMEM;
    }
    cfg->n_positional++;
    return PAY_OK;
}

/* Flags: "--name value", "--name=value", "--switch"; "--" ends options. The
 * --config path, when not a declared option, goes to *config_path. */
static enum pay_err parse_args(struct pay_config *cfg, int argc, char **argv, bool *from_flag,
                               char **config_path, struct pay_error *err)
{
    bool options_done = false;
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (add_positional(cfg, arg) != PAY_OK) {
                return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            }
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        size_t idx = 0;
        const struct pay_option *opt =
            arg[1] == '-' ? find_option(cfg->options, cfg->n_options, name, name_len, &idx) : NULL;
        bool is_config = arg[1] == '-' && name_len == 6 && strncmp(name, "config", 6) == 0;
        if (!opt && !is_config) {
            char pname[PAY_ERROR_PARAM_MAX];
            snprintf(pname, sizeof(pname), "%.*s", (int)name_len, name);
            return pay_error_set(err, PAY_ERR_CONFIG, pname, "Unknown option %.*s.",
                                 (int)(name - arg + (ptrdiff_t)name_len), arg);
        }
        const char *value;
        size_t value_len;
        if (eq) {
            value = eq + 1;
            value_len = strlen(value);
        } else if (opt && opt->is_flag) {
            value = "true";
            value_len = 4;
        } else if (a + 1 < argc) {
            value = argv[++a];
            value_len = strlen(value);
        } else {
            char pname[PAY_ERROR_PARAM_MAX];
            snprintf(pname, sizeof(pname), "%.*s", (int)name_len, name);
            return pay_error_set(err, PAY_ERR_CONFIG, pname, "Option --%s needs a value.", pname);
        }
        if (is_config) {
            free(*config_path);
            *config_path = strndup(value, value_len);
            if (!*config_path) {
                return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            }
        }
        if (opt) {
            if (set_value(cfg, idx, value, value_len) != PAY_OK) {
                return pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            }
            from_flag[idx] = true;
        }
    }
    return PAY_OK;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Fill options not already set (by flag or env) from the file at @path. */
static enum pay_err parse_file(struct pay_config *cfg, const char *path, const bool *set,
                               struct pay_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return pay_error_set(err, PAY_ERR_CONFIG, "config", "Cannot open config file %s: %s.", path,
                             strerror(errno));
    }
    enum pay_err rc = PAY_OK;
    char line[CONFIG_LINE_MAX];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
            rc =
                pay_error_set(err, PAY_ERR_CONFIG, "config", "%s:%d: line too long.", path, lineno);
            goto out_close;
        }
        /* Comments: the whole line, or from a '#' that follows whitespace
         * outside a quoted value. */
        char *p = line;
        while (is_space(*p)) {
            p++;
        }
        if (*p == '\0' || *p == '#') {
            continue;
        }
        char *eq = strchr(p, '=');
        if (!eq) {
            rc = pay_error_set(err, PAY_ERR_CONFIG, "config", "%s:%d: expected \"name = value\".",
                               path, lineno);
            goto out_close;
        }
        char *key_end = eq;
        while (key_end > p && is_space(key_end[-1])) {
            key_end--;
        }
        char *value = eq + 1;
        while (is_space(*value)) {
            value++;
        }
        char *rest;
        size_t value_len;
        if (*value == '"') {
            char *close = strchr(value + 1, '"');
            if (!close) {
                rc = pay_error_set(err, PAY_ERR_CONFIG, "config", "%s:%d: unterminated quote.",
                                   path, lineno);
                goto out_close;
            }
            value++;
            value_len = (size_t)(close - value);
            rest = close + 1;
        } else {
            char *end = value;
            while (*end && !(*end == '#' && end > value && is_space(end[-1]))) {
                end++;
            }
            rest = end;
            while (end > value && is_space(end[-1])) {
                end--;
            }
            value_len = (size_t)(end - value);
        }
        while (is_space(*rest)) {
            rest++;
        }
        if (*rest != '\0' && *rest != '#') {
            rc = pay_error_set(err, PAY_ERR_CONFIG, "config", "%s:%d: text after the value.", path,
                               lineno);
            goto out_close;
        }
        size_t idx = 0;
        if (!find_option(cfg->options, cfg->n_options, p, (size_t)(key_end - p), &idx)) {
            *key_end = '\0';
            rc = pay_error_set(err, PAY_ERR_CONFIG, p, "%s:%d: unknown option \"%s\".", path,
                               lineno, p);
            goto out_close;
        }
        if (set[idx]) {
            continue;
        }
        if (set_value(cfg, idx, value, value_len) != PAY_OK) {
            rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
            goto out_close;
        }
    }
    if (ferror(f)) {
        rc = pay_error_set(err, PAY_ERR_CONFIG, "config", "Cannot read config file %s.", path);
    }
out_close:
    fclose(f);
    return rc;
}

enum pay_err pay_config_load(struct pay_config *cfg, const struct pay_option *opts, size_t n_opts,
                             int argc, char **argv, struct pay_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->options = opts;
    cfg->n_options = n_opts;
    enum pay_err rc = PAY_OK;
    char *config_path = NULL;
    bool *set = calloc(n_opts + 1, sizeof(*set));
    cfg->values = calloc(n_opts + 1, sizeof(*cfg->values));
    if (!set || !cfg->values) {
        rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
        goto out_free;
    }
    rc = parse_args(cfg, argc, argv, set, &config_path, err);
    if (rc != PAY_OK) {
        goto out_free;
    }
    /* An empty variable counts as unset: "PAYD_DB= payd serve" means default. */
    for (size_t i = 0; i < n_opts; i++) {
        const char *env = opts[i].env ? getenv(opts[i].env) : NULL;
        if (!set[i] && env && env[0] != '\0') {
            if (set_value(cfg, i, env, strlen(env)) != PAY_OK) {
                rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
                goto out_free;
            }
            set[i] = true;
        }
    }
    size_t cidx = 0;
    const char *path = config_path;
    if (!path && find_option(opts, n_opts, "config", 6, &cidx)) {
        path = cfg->values[cidx];
    }
    if (!path) {
        const char *env = getenv("PAYD_CONFIG");
        path = env && env[0] != '\0' ? env : NULL;
    }
    if (path) {
        rc = parse_file(cfg, path, set, err);
        if (rc != PAY_OK) {
            goto out_free;
        }
    }
    for (size_t i = 0; i < n_opts; i++) {
        if (!cfg->values[i] && opts[i].dflt) {
            if (set_value(cfg, i, opts[i].dflt, strlen(opts[i].dflt)) != PAY_OK) {
                rc = pay_error_set(err, PAY_ERR_NOMEM, NULL, NULL);
                goto out_free;
            }
        }
    }
    free(set);
    free(config_path);
    return PAY_OK;

out_free:
    free(set);
    free(config_path);
    pay_config_release(cfg);
    return rc;
}

void pay_config_release(struct pay_config *cfg)
{
    if (cfg->values) {
        for (size_t i = 0; i < cfg->n_options; i++) {
            free((char *)cfg->values[i]);
        }
        free(cfg->values);
    }
    for (size_t i = 0; i < cfg->n_positional; i++) {
        free(cfg->positional[i]);
    }
    free(cfg->positional);
    memset(cfg, 0, sizeof(*cfg));
}

const char *pay_config_get(const struct pay_config *cfg, const char *name)
{
    size_t idx = 0;
    if (!cfg->values || !find_option(cfg->options, cfg->n_options, name, strlen(name), &idx)) {
        return NULL;
    }
    return cfg->values[idx];
}

bool pay_config_bool(const struct pay_config *cfg, const char *name)
{
    const char *v = pay_config_get(cfg, name);
    if (!v) {
        return false;
    }
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0;
}

void pay_config_usage(const struct pay_option *opts, size_t n_opts, FILE *stream)
{
    size_t width = 0;
    for (size_t i = 0; i < n_opts; i++) {
        size_t w = 2 + strlen(opts[i].name) + (opts[i].is_flag ? 0 : strlen(" VALUE"));
        if (w > width) {
            width = w;
        }
    }
    for (size_t i = 0; i < n_opts; i++) {
        const struct pay_option *o = &opts[i];
        char left[256];
        snprintf(left, sizeof(left), "--%s%s", o->name, o->is_flag ? "" : " VALUE");
        fprintf(stream, "  %-*s   %s", (int)width, left, o->help ? o->help : "");
        if (o->env && o->dflt) {
            fprintf(stream, " (env %s, default %s)", o->env, o->dflt);
        } else if (o->env) {
            fprintf(stream, " (env %s)", o->env);
        } else if (o->dflt) {
            fprintf(stream, " (default %s)", o->dflt);
        }
        fputc('\n', stream);
    }
}

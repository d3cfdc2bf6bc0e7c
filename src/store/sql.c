/*
 * sql.c - turns the shared SQL dialect (PostgreSQL placeholders and row
 * locks) into what SQLite accepts: $N becomes ?N (same number, so a
 * parameter used twice is bound once) and row-lock clauses disappear
 * (SQLite serialises writers, so they are not needed).
 *
 * Only text outside string literals, quoted identifiers and comments is
 * touched. No state; safe from any thread.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Length of keyword @w at @s (case-insensitive, whole word), or 0. */
static size_t match_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    if (strncasecmp(s, w, n) != 0 || is_ident(s[n])) {
        return 0;
    }
    return n;
}

static size_t skip_space(const char *s)
{
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
        i++;
    }
    return i;
}

/*
 * Length of a row-lock clause at @s ("FOR [NO KEY |KEY ]UPDATE|SHARE
 * [SKIP LOCKED|NOWAIT]"), or 0 when @s does not start one.
 */
static size_t lock_clause(const char *s)
{
    size_t i = match_word(s, "FOR");
    if (i == 0) {
        return 0;
    }
    i += skip_space(s + i);
    size_t k = match_word(s + i, "NO");
    if (k != 0) {
        i += k;
        i += skip_space(s + i);
        k = match_word(s + i, "KEY");
        if (k == 0) {
            return 0;
        }
        i += k;
        i += skip_space(s + i);
    } else if ((k = match_word(s + i, "KEY")) != 0) {
        i += k;
        i += skip_space(s + i);
    }
    k = match_word(s + i, "UPDATE");
    if (k == 0) {
        k = match_word(s + i, "SHARE");
    }
    if (k == 0) {
        return 0;
    }
    i += k;
    size_t j = i + skip_space(s + i);
    if ((k = match_word(s + j, "NOWAIT")) != 0) {
        return j + k;
    }
    if ((k = match_word(s + j, "SKIP")) != 0) {
        size_t m = j + k;
        m += skip_space(s + m);
        size_t l = match_word(s + m, "LOCKED");
        if (l != 0) {
            return m + l;
        }
    }
    return i;
}

char *pay_sql_for_sqlite(const char *sql)
{
    size_t len = strlen(sql);
    /* Output is never longer than input: ?N is as long as $N, clauses shrink. */
    char *out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        char c = sql[i];
        bool boundary = i == 0 || !is_ident(sql[i - 1]);
        if (c == '\'' || c == '"') {
            /* A doubled quote inside is two adjacent literals here: same bytes out. */
            out[o++] = sql[i++];
            while (i < len && sql[i] != c) {
                out[o++] = sql[i++];
            }
            if (i < len) {
                out[o++] = sql[i++];
            }
        } else if (c == '-' && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n') {
                out[o++] = sql[i++];
            }
        } else if (c == '/' && sql[i + 1] == '*') {
            out[o++] = sql[i++];
            out[o++] = sql[i++];
            while (i < len && !(sql[i] == '*' && sql[i + 1] == '/')) {
                out[o++] = sql[i++];
            }
            for (int k = 0; k < 2 && i < len; k++) {
                out[o++] = sql[i++];
            }
        } else if (c == '$' && boundary && isdigit((unsigned char)sql[i + 1])) {
            out[o++] = '?';
            i++;
            while (isdigit((unsigned char)sql[i])) {
                out[o++] = sql[i++];
            }
        } else if (boundary && (c == 'f' || c == 'F')) {
            size_t k = lock_clause(sql + i);
            if (k != 0) {
                out[o++] = ' ';
                i += k;
            } else {
                out[o++] = sql[i++];
            }
        } else {
            out[o++] = sql[i++];
        }
    }
    out[o] = '\0';
    return out;
}

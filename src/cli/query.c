/*
 * query.c - `payd query --db URL SQL`: run one read-only SQL statement and
 * print each row as a JSON object on a line of its own, column name to
 * value. Every value is printed as its text (numbers too), SQL NULL as
 * null; JSON documents that SQLite keeps compressed (src/store/pack.c) are
 * printed as the text they hold, which the sqlite3 shell cannot show.
 *
 * The statement runs in a read transaction (SQLite: a query_only
 * connection; PostgreSQL: READ ONLY), so it cannot change anything; the
 * database is not migrated first, and a SQLite file that is not there is
 * refused rather than made. One statement only: a second one is refused on
 * both databases.
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct pay_option query_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    PAY_CLI_OPT_LOG_LEVEL("warn"),
};
#define N_QUERY_OPTS (sizeof(query_opts) / sizeof(query_opts[0]))

struct query_run {
    const char *sql;
    struct pay_buf line;
    int64_t rows;      /* printed so far */
    bool out_failed;   /* stdout refused a line */
    bool rerun_failed; /* the store ran the read again after rows were out */
};

static enum pay_err query_tx(struct pay_tx *tx, void *arg)
{
    struct query_run *q = arg;
    /* A read runs again when its connection was lost (store.h): rows
     * already printed cannot be taken back, so stop rather than print
     * them twice. */
    if (q->rows > 0) {
        q->rerun_failed = true;
        return PAY_ERR_UNAVAILABLE;
    }
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(tx, q->sql, NULL, 0, &r);
    if (e != PAY_OK) {
        return e;
    }
    while (pay_rows_next(r)) {
        pay_buf_reset(&q->line);
        enum pay_err be = pay_buf_adds(&q->line, "{");
        int n = pay_rows_columns(r);
        for (int c = 0; c < n && be == PAY_OK; c++) {
            if (c > 0) {
                be = pay_buf_adds(&q->line, ",");
            }
            const char *name = pay_rows_name(r, c);
            if (be == PAY_OK) {
                be = pay_json_add_str(&q->line, name != NULL ? name : "?");
            }
            if (be == PAY_OK) {
                be = pay_buf_adds(&q->line, ":");
            }
            const char *v = pay_rows_null(r, c) ? NULL : pay_rows_text(r, c);
            if (be == PAY_OK) {
                /* null too for text that is not UTF-8 */
                be = pay_json_add_str(&q->line, v);
            }
        }
        if (be == PAY_OK) {
            be = pay_buf_adds(&q->line, "}\n");
        }
        if (be != PAY_OK) {
            pay_rows_close(r);
            return be;
        }
        if (fwrite(q->line.data, 1, q->line.len, stdout) != q->line.len) {
            q->out_failed = true;
        }
        q->rows++;
    }
    return pay_rows_close(r);
}

int pay_cli_query(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "query", "query [--db URL] SQL",
                      "Run one read-only SQL statement and print each row as a JSON object on\n"
                      "a line of its own (column name to its value as text, NULL as null).\n"
                      "JSON documents that SQLite keeps compressed are printed as their text.",
                      query_opts, N_QUERY_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    struct query_run q = {0};
    pay_buf_init(&q.line, (size_t)256 << 20); /* a row of at most 256 MiB */
    if (cfg.n_positional != 1 || cfg.positional[0][0] == '\0') {
        fprintf(stderr, "payd query: give one SQL statement\n");
        goto out;
    }
    rc = 1;
    /* Opening a SQLite path creates the file: a query of a mistyped path
     * would answer from a new, empty database. */
    const char *url = pay_config_get(&cfg, "db");
    if (url != NULL && strncmp(url, "sqlite:", 7) == 0 && strcmp(url + 7, ":memory:") != 0 &&
        access(url + 7, F_OK) != 0) {
        fprintf(stderr, "payd query: no database at %s\n", url + 7);
        goto out;
    }
    struct pay_store *s = NULL;
    if (!pay_cli_open_store_as_is(&cfg, &s)) {
        goto out;
    }
    q.sql = cfg.positional[0];
    enum pay_err e = pay_store_read(s, query_tx, &q);
    if (q.rerun_failed) {
        fprintf(stderr,
                "payd query: the connection was lost after %lld rows were printed; the output "
                "is incomplete\n",
                (long long)q.rows);
    } else if (e != PAY_OK) {
        pay_cli_print_error("the query failed", NULL, e);
    } else if (q.out_failed || fflush(stdout) != 0) {
        fprintf(stderr, "payd query: cannot write the rows\n");
    } else {
        rc = 0;
    }
    pay_store_close(s);
out:
    pay_buf_release(&q.line);
    pay_config_release(&cfg);
    return rc;
}

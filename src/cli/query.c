/*
 * query.c - `payd query --db URL SQL`: run one read-only SQL statement and
 * print each row as a JSON object on a line of its own, column name to
 * value. Every value is printed as its text (numbers too), SQL NULL as
 * null; JSON documents that SQLite keeps compressed (src/store/pack.c) are
 * printed as the text they hold, which the sqlite3 shell cannot show.
 *
 * The statement runs in a read transaction (SQLite: a query_only
 * connection; PostgreSQL: READ ONLY), so it cannot change anything, and the
 * database is not migrated first.
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <string.h>

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
    int64_t rows;
    bool out_failed;
};

static enum pay_err query_tx(struct pay_tx *tx, void *arg)
{
    struct query_run *q = arg;
    struct pay_rows *r = NULL;
    enum pay_err e = pay_tx_query(tx, q->sql, NULL, 0, &r);
    if (e != PAY_OK) {
        return e;
    }
    /* A read may run again (store.h): print only what this run reads. */
    q->rows = 0;
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
    if (pay_cli_wants_help(argc, argv)) {
        pay_cli_usage(stdout, "query [--db URL] SQL",
                      "Run one read-only SQL statement and print each row as a JSON object on\n"
                      "a line of its own (column name to its value as text, NULL as null).\n"
                      "JSON documents that SQLite keeps compressed are printed as their text.",
                      query_opts, N_QUERY_OPTS);
        return 0;
    }
    struct pay_config cfg;
    if (!pay_cli_load(&cfg, query_opts, N_QUERY_OPTS, argc, argv, "query")) {
        return PAY_CLI_USAGE;
    }
    int rc = PAY_CLI_USAGE;
    struct query_run q = {0};
    pay_buf_init(&q.line, (size_t)256 << 20); /* a row of at most 256 MiB */
    if (cfg.n_positional != 1 || cfg.positional[0][0] == '\0') {
        fprintf(stderr, "payd query: give one SQL statement\n");
        goto out;
    }
    const char *url = pay_config_get(&cfg, "db");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "payd: no database: give --db URL or set PAYD_DB\n");
        goto out;
    }
    rc = 1;
    struct pay_error err;
    pay_error_clear(&err);
    struct pay_store *s = NULL;
    enum pay_err e = pay_store_open(url, &s, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot open the database", &err, e);
        goto out;
    }
    q.sql = cfg.positional[0];
    e = pay_store_read(s, query_tx, &q);
    if (e != PAY_OK) {
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

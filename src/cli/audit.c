/*
 * audit.c - `payd audit verify`: check, in one read snapshot of the
 * database, the ledger's invariants (every entry balances, cached balances
 * equal their lines, balance transactions agree with their entries) and
 * that payments agree with the ledger (captured and refunded amounts), and
 * that the audit log's hash chain is whole (src/audit/: no row edited,
 * inserted or deleted).
 * Prints one line per check ("ok   ..." / "FAIL ...") and exits 0 only
 * when nothing failed, 1 otherwise.
 *
 * Threading: main thread only.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../audit/audit.h"
#include "../ledger/ledger.h"
#include "../payments/payments.h"
#include "cli.h"

/* The report of a big database: a line per check, not per row. */
#define REPORT_BYTES_MAX (4 * 1024 * 1024)

static const struct pay_option audit_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    PAY_CLI_OPT_LOG_LEVEL("warn"),
};
#define N_AUDIT_OPTS (sizeof(audit_opts) / sizeof(audit_opts[0]))

struct verify_run {
    struct pay_buf report;
    int64_t violations;
};

static enum pay_err verify_tx(struct pay_tx *tx, void *arg)
{
    struct verify_run *run = arg;
    int64_t ledger_bad = 0;
    int64_t payments_bad = 0;
    int64_t audit_bad = 0;
    /* A retried snapshot starts its report again. */
    pay_buf_reset(&run->report);
    enum pay_err e = pay_ledger_verify(tx, &run->report, &ledger_bad);
    if (e == PAY_OK) {
        e = pay_payments_verify(tx, &run->report, &payments_bad);
    }
    if (e == PAY_OK) {
        e = pay_audit_verify(tx, &run->report, &audit_bad);
    }
    run->violations = ledger_bad + payments_bad + audit_bad;
    return e;
}

struct audit_append {
    struct pay_audit_record rec;
    char actor[128];
};

/* The CLI's record of @action on @object: actor "cli:<login>", role "cli". */
static void cli_record(struct audit_append *a, const char *action, const char *object,
                       const char *summary)
{
    const struct passwd *pw = getpwuid(geteuid());
    snprintf(a->actor, sizeof(a->actor), "cli:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
    a->rec = (struct pay_audit_record){
        .created = pay_now(),
        .actor = a->actor,
        .role = "cli",
        .action = action,
        .object = object,
        .summary = summary,
        .client_addr = "local",
        .request_id = NULL,
        .status = 0,
    };
}

static enum pay_err audit_append_tx(struct pay_tx *tx, void *arg)
{
    struct audit_append *a = arg;
    return pay_audit_append(tx, &a->rec, NULL);
}

enum pay_err pay_cli_audit_hook(struct pay_tx *tx, const char *key_id, void *arg)
{
    const struct pay_cli_audit_what *w = arg;
    struct audit_append a = {0};
    cli_record(&a, w->action, key_id, w->summary);
    return pay_audit_append(tx, &a.rec, NULL);
}

bool pay_cli_audit_record(struct pay_store *s, const char *action, const char *object,
                          const char *summary)
{
    struct audit_append a = {0};
    cli_record(&a, action, object, summary);
    enum pay_err e = pay_store_write(s, audit_append_tx, &a);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot write the audit record", NULL, e);
        return false;
    }
    return true;
}

static int audit_verify(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "audit verify", "audit verify [--db URL]",
                      "Check that every ledger entry balances, cached balances equal their "
                      "lines,\ncaptured and refunded amounts equal the ledger, and the audit log's "
                      "hash chain is\nwhole (no row edited, inserted or deleted). Prints one "
                      "line per check;\nexits 0 when all pass, 1 when any fails.",
                      audit_opts, N_AUDIT_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    struct pay_store *s = NULL;
    struct verify_run run = {0};
    pay_buf_init(&run.report, REPORT_BYTES_MAX);
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd audit verify: unexpected argument '%s'\n", cfg.positional[0]);
        goto out;
    }
    rc = 1;
    if (!pay_cli_open_store(&cfg, &s, NULL)) {
        goto out;
    }
    enum pay_err e = pay_store_read(s, verify_tx, &run);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot verify", NULL, e);
        goto out_store;
    }
    if (run.report.len > 0) {
        fwrite(run.report.data, 1, run.report.len, stdout);
        if (run.report.data[run.report.len - 1] != '\n') {
            putchar('\n');
        }
    }
    printf("%s: %lld violation%s\n", run.violations == 0 ? "ok" : "FAIL", (long long)run.violations,
           run.violations == 1 ? "" : "s");
    rc = run.violations == 0 && fflush(stdout) == 0 ? 0 : 1;
out_store:
    pay_store_close(s);
out:
    pay_buf_release(&run.report);
    pay_config_release(&cfg);
    return rc;
}

static const struct pay_cli_cmd audit_cmds[] = {
    {"verify", audit_verify, "check the ledger, payments and the audit chain"},
};

int pay_cli_audit(int argc, char **argv)
{
    return pay_cli_subcommands(argc, argv, "audit", "Audit the books.", audit_cmds,
                               sizeof(audit_cmds) / sizeof(audit_cmds[0]));
}

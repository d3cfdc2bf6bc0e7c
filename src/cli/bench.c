/*
 * bench.c - `payd bench fill`: pre-fill a database with succeeded payments
 * for the benchmark (bench/run) and for trying payd at scale.
 *
 * Every payment goes through the payments domain (pay_intent_create with
 * confirm=true and the customer's saved sandbox card, made from
 * pm_card_visa and attached), so its rows are exactly those of a real
 * succeeded intent: the intent, its ledger entry, lines and balance
 * transaction, its events; `payd audit verify` passes on the result. What makes it fast is
 * batching: one write transaction per batch of payments (statements are prepared once per
 * connection by the store's cache), and on PostgreSQL several batches in
 * flight at once (--jobs). Customers are created first; payment i belongs
 * to customer i mod M, and each job works on its own customers so jobs never
 * wait on each other's row locks.
 *
 * Fingerprints of the cards are keyed as `payd serve` keys them: by
 * --fingerprint-key, else the key file beside a SQLite database, checked
 * against the key the database was first keyed with (pay_cli_fingerprint_key),
 * so a filled database and the payd that serves it agree on every card.
 *
 * Threading: the main thread, plus --jobs threads that each run their own
 * batches through the (thread-safe) store.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../payments/payments.h"
#include "../payments/risk.h"
#include "cli.h"

#define FILL_BATCH_DEFAULT 1000
#define FILL_JOBS_MAX 64
#define FILL_CUSTOMERS_BATCH 500

static const struct pay_option fill_opts[] = {
    PAY_CLI_OPT_CONFIG,
    PAY_CLI_OPT_DB,
    PAY_CLI_OPT_LOG_LEVEL("warn"),
    {"payments", NULL, NULL, "number of succeeded payments to add (required)", false},
    {"customers", NULL, NULL, "customers to spread them over (default: payments / 100, at least 1)",
     false},
    {"batch", NULL, "200", "payments per write transaction", false},
    {"jobs", NULL, NULL, "batches in flight at once (default: 1 on SQLite, 4 on PostgreSQL)",
     false},
    {"fingerprint-key", "PAYD_FINGERPRINT_KEY", NULL,
     "key of the card fingerprints (default: as payd serve, the key file beside a SQLite "
     "database)",
     false},
};
#define N_FILL_OPTS (sizeof(fill_opts) / sizeof(fill_opts[0]))

struct fill {
    struct pay_store *store;
    const char *fingerprint_key;
    const struct pay_currency *usd;
    int64_t payments, n_customers, batch;
    int jobs;
    char (*customers)[40]; /* ids, n_customers of them */
    char (*cards)[40];     /* each customer's saved card */

    pthread_mutex_t lock;
    int64_t done; /* payments committed */
    int64_t next_report;
    enum pay_err failed; /* the first failure */
    struct pay_error err;
    int64_t start_us;
};

/* One write transaction: payments [from, to) of job @job. */
struct fill_batch {
    struct fill *f;
    int job;
    int64_t from, want; /* the first @want payments of @job from index @from */
    int64_t to, taken;  /* set by the callback: where it stopped, how many */
    struct pay_error err;
};

/* One write transaction: customers [from, to). */
struct customer_batch {
    struct fill *f;
    int64_t from, to;
    struct pay_error err;
};

static enum pay_err customers_tx(struct pay_tx *tx, void *arg)
{
    struct customer_batch *b = arg;
    struct pay_op op = {.tx = tx,
                        .request_id = "bench_fill",
                        .err = &b->err,
                        .fingerprint_key = b->f->fingerprint_key};
    for (int64_t i = b->from; i < b->to; i++) {
        char email[64], name[48];
        snprintf(email, sizeof(email), "bench-%lld@example.com", (long long)i);
        snprintf(name, sizeof(name), "Bench Customer %lld", (long long)i);
        struct pay_customer_params p = {.email = email, .name = name};
        json_t *obj = NULL;
        enum pay_err e = pay_customer_create(&op, &p, &obj);
        if (e != PAY_OK) {
            json_decref(obj);
            return e;
        }
        const char *id = json_string_value(json_object_get(obj, "id"));
        if (id == NULL || strlen(id) >= sizeof(b->f->customers[0])) {
            json_decref(obj);
            return pay_error_set(&b->err, PAY_ERR_INTERNAL, NULL, "customer without an id");
        }
        memcpy(b->f->customers[i], id, strlen(id) + 1);
        json_decref(obj);
        /* A saved card per customer, as a returning patient pays with. */
        struct pay_pm_params pm = {.type = "card", .card_token = "pm_card_visa"};
        e = pay_payment_method_create(&op, &pm, &obj);
        const char *pm_id = json_string_value(json_object_get(obj, "id"));
        if (e == PAY_OK && (pm_id == NULL || strlen(pm_id) >= sizeof(b->f->cards[0]))) {
            e = pay_error_set(&b->err, PAY_ERR_INTERNAL, NULL, "payment method without an id");
        }
        if (e == PAY_OK) {
            memcpy(b->f->cards[i], pm_id, strlen(pm_id) + 1);
            e = pay_payment_method_attach(&op, b->f->cards[i], b->f->customers[i]);
        }
        json_decref(obj);
        if (e != PAY_OK) {
            return e;
        }
    }
    return PAY_OK;
}

static enum pay_err payments_tx(struct pay_tx *tx, void *arg)
{
    struct fill_batch *b = arg;
    struct fill *f = b->f;
    struct pay_op op = {.tx = tx,
                        .request_id = "bench_fill",
                        .err = &b->err,
                        .fingerprint_key = f->fingerprint_key};
    /* A rerun of the callback starts again from b->from. */
    b->taken = 0;
    int64_t i = b->from;
    for (; i < f->payments && b->taken < b->want; i++) {
        /* Payment i belongs to customer i mod M, and to the job that owns
         * that customer (customer mod jobs). */
        int64_t c = i % f->n_customers;
        if (c % f->jobs != b->job) {
            continue;
        }
        b->taken++;
        struct pay_intent_params p = {
            .has_amount = true,
            .amount_minor = 1000 + i % 90000,
            .currency = f->usd,
            .customer = f->customers[c],
            .payment_method = f->cards[c],
            .confirm = true,
        };
        json_t *obj = NULL;
        enum pay_err e = pay_intent_create(&op, &p, &obj);
        json_decref(obj);
        if (e != PAY_OK) {
            return e;
        }
    }
    b->to = i;
    return PAY_OK;
}

static void fill_fail(struct fill *f, enum pay_err e, const struct pay_error *err)
{
    pthread_mutex_lock(&f->lock);
    if (f->failed == PAY_OK) {
        f->failed = e;
        f->err = *err;
    }
    pthread_mutex_unlock(&f->lock);
}

struct job_arg {
    struct fill *f;
    int job;
    pthread_t thread;
};

/* Job j adds the payments of its customers (customer mod jobs == j), a batch per transaction. */
static void *job_main(void *arg)
{
    struct job_arg *ja = arg;
    struct fill *f = ja->f;
    for (int64_t pos = 0; pos < f->payments;) {
        pthread_mutex_lock(&f->lock);
        bool stop = f->failed != PAY_OK;
        pthread_mutex_unlock(&f->lock);
        if (stop) {
            break;
        }
        struct fill_batch b = {.f = f, .job = ja->job, .from = pos, .want = f->batch};
        enum pay_err e = pay_store_write(f->store, payments_tx, &b);
        if (e != PAY_OK) {
            fill_fail(f, e, &b.err);
            break;
        }
        pos = b.to;
        pthread_mutex_lock(&f->lock);
        f->done += b.taken;
        if (f->done >= f->next_report) {
            double s = (double)(pay_monotonic_us() - f->start_us) / 1e6;
            fprintf(stderr, "payd bench fill: %lld payments (%.0f/s)\n", (long long)f->done,
                    s > 0 ? (double)f->done / s : 0.0);
            f->next_report += 100000;
        }
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

static bool parse_count(const char *s, const char *name, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v = s != NULL ? strtoll(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "payd bench fill: --%s must be a whole number from %lld to %lld\n", name,
                (long long)min, (long long)max);
        return false;
    }
    *out = v;
    return true;
}

static int bench_fill(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "bench fill", "bench fill --db URL --payments N [--customers M]",
                      "Add N succeeded card payments (intent, ledger entry, balance transaction,\n"
                      "events: the rows a real payment makes) spread over M new customers, each\n"
                      "with a saved card, in large write transactions. For benchmarks.",
                      fill_opts, N_FILL_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    char *fingerprint_key = NULL;
    int rc = PAY_CLI_USAGE;
    struct fill f = {.failed = PAY_OK};
    struct job_arg *jobs = NULL;
    int started = 0;
    pthread_mutex_init(&f.lock, NULL);
    int64_t jobs_n = 0;
    if (cfg.n_positional > 0) {
        fprintf(stderr, "payd bench fill: unexpected argument '%s'\n", cfg.positional[0]);
        goto out;
    }
    const char *db = pay_config_get(&cfg, "db");
    bool postgres = db != NULL && strncmp(db, "postgres", 8) == 0;
    if (!parse_count(pay_config_get(&cfg, "payments"), "payments", 1, INT64_C(1000000000),
                     &f.payments) ||
        !parse_count(pay_config_get(&cfg, "batch"), "batch", 1, 100000, &f.batch)) {
        goto out;
    }
    if (pay_config_get(&cfg, "customers") != NULL) {
        if (!parse_count(pay_config_get(&cfg, "customers"), "customers", 1, 100000000,
                         &f.n_customers)) {
            goto out;
        }
    } else {
        f.n_customers = f.payments / 100 > 0 ? f.payments / 100 : 1;
    }
    if (pay_config_get(&cfg, "jobs") != NULL) {
        if (!parse_count(pay_config_get(&cfg, "jobs"), "jobs", 1, FILL_JOBS_MAX, &jobs_n)) {
            goto out;
        }
    } else {
        jobs_n = postgres ? 4 : 1;
    }
    if (jobs_n > f.n_customers) {
        jobs_n = f.n_customers;
    }
    f.jobs = (int)jobs_n;
    f.usd = pay_currency_find("usd");
    rc = 1;
    if (f.usd == NULL) {
        fprintf(stderr, "payd bench fill: no currency usd\n");
        goto out;
    }
    f.customers = calloc((size_t)f.n_customers, sizeof(*f.customers));
    f.cards = calloc((size_t)f.n_customers, sizeof(*f.cards));
    jobs = calloc((size_t)f.jobs, sizeof(*jobs));
    if (f.customers == NULL || f.cards == NULL || jobs == NULL) {
        fprintf(stderr, "payd bench fill: out of memory\n");
        goto out;
    }
    if (!pay_cli_open_store(&cfg, &f.store, NULL)) {
        goto out;
    }
    fingerprint_key = pay_cli_fingerprint_key(&cfg, f.store, "bench fill");
    if (fingerprint_key == NULL) {
        goto out_store;
    }
    f.fingerprint_key = fingerprint_key;
    /* Every filled card is pm_card_visa, so all share one fingerprint, and
     * the card rules' counts of the last hour (velocity, card testing) would
     * read every payment filled so far: quadratic, hours for 1 M payments.
     * The fill is a data generator, not a payment flow: its attempts are
     * logged and the limits apply, but no rule is scored ("enabled": false,
     * as --risk-config can set). payd serve scores every attempt. */
    struct pay_risk_config risk;
    pay_risk_config_init(&risk);
    risk.enabled = false;
    pay_risk_configure(&risk);
    f.start_us = pay_monotonic_us();
    for (int64_t from = 0; from < f.n_customers; from += FILL_CUSTOMERS_BATCH) {
        struct customer_batch b = {.f = &f, .from = from};
        b.to = from + FILL_CUSTOMERS_BATCH < f.n_customers ? from + FILL_CUSTOMERS_BATCH
                                                           : f.n_customers;
        enum pay_err e = pay_store_write(f.store, customers_tx, &b);
        if (e != PAY_OK) {
            pay_cli_print_error("cannot create the customers", &b.err, e);
            goto out_store;
        }
    }
    f.next_report = 100000;
    for (int j = 0; j < f.jobs; j++) {
        jobs[j].f = &f;
        jobs[j].job = j;
        if (pthread_create(&jobs[j].thread, NULL, job_main, &jobs[j]) != 0) {
            fill_fail(&f, PAY_ERR_INTERNAL, &(struct pay_error){0});
            break;
        }
        started++;
    }
    for (int j = 0; j < started; j++) {
        pthread_join(jobs[j].thread, NULL);
    }
    if (f.failed != PAY_OK) {
        pay_cli_print_error("cannot fill", &f.err, f.failed);
        goto out_store;
    }
    double s = (double)(pay_monotonic_us() - f.start_us) / 1e6;
    printf("filled %lld payments for %lld customers in %.1f s (%.0f payments/s)\n",
           (long long)f.payments, (long long)f.n_customers, s,
           s > 0 ? (double)f.payments / s : 0.0);
    rc = fflush(stdout) == 0 ? 0 : 1;
out_store:
    pay_store_close(f.store);
out:
    if (fingerprint_key != NULL) {
        explicit_bzero(fingerprint_key, strlen(fingerprint_key));
        free(fingerprint_key);
    }
    free(jobs);
    free(f.customers);
    free(f.cards);
    pthread_mutex_destroy(&f.lock);
    pay_config_release(&cfg);
    return rc;
}

static const struct pay_cli_cmd bench_cmds[] = {
    {"fill", bench_fill, "pre-fill a database with succeeded payments"},
};

int pay_cli_bench(int argc, char **argv)
{
    return pay_cli_subcommands(argc, argv, "bench", "Benchmark helpers.", bench_cmds,
                               sizeof(bench_cmds) / sizeof(bench_cmds[0]));
}

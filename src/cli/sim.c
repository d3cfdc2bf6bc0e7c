/*
 * sim.c - `payd sim momo`: run the mobile money simulator (src/sim/) in the
 * foreground until SIGTERM or SIGINT. It prints one line
 * "payd sim momo listening on http://HOST:PORT" once it accepts requests
 * (scripts and tests wait for it; with port 0 it names the port chosen),
 * then a line per request-to-pay, "SMS" and callback.
 *
 * Threading: the main thread waits in sigwait; the simulator's threads
 * inherit the blocked signals.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/sim.h"
#include "cli.h"

#define MS_MAX (24L * 60 * 60 * 1000)

static const struct pay_option momo_opts[] = {
    PAY_CLI_OPT_CONFIG,
    {"listen", "PAYD_SIM_LISTEN", "127.0.0.1:8090",
     "address to listen on, HOST:PORT (port 0 picks a free port)", false},
    {"callback-delay-ms", NULL, "0", "delay from a request's outcome to its callback", false},
    {"pending-ms", NULL, "2000", "payer 46733123453: pending this long, then successful", false},
    {"expire-ms", NULL, "3000", "payer 46733123452: pending this long, then EXPIRED", false},
    {"slow-ms", NULL, "3000", "payer 46733123460: the 202 comes this late", false},
    {"api-user", "PAYD_SIM_API_USER", PAY_MOMO_SIM_API_USER, "Basic auth user accepted", false},
    {"api-key", "PAYD_SIM_API_KEY", PAY_MOMO_SIM_API_KEY, "Basic auth password accepted", false},
    {"subscription-key", "PAYD_SIM_SUBSCRIPTION_KEY", PAY_MOMO_SIM_SUBSCRIPTION_KEY,
     "subscription key header value accepted", false},
    {"token-ttl-s", NULL, "3600", "lifetime of the access tokens it issues", false},
    {"quiet", NULL, NULL, "print only the listening line", true},
};
#define N_MOMO_OPTS (sizeof(momo_opts) / sizeof(momo_opts[0]))

static bool parse_ms(const struct pay_config *cfg, const char *name, long max, long *out)
{
    const char *s = pay_config_get(cfg, name);
    char *end = NULL;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (s == NULL || s[0] == '\0' || errno != 0 || *end != '\0' || v < 0 || v > max) {
        fprintf(stderr, "payd sim momo: --%s must be an integer 0..%ld\n", name, max);
        return false;
    }
    *out = v;
    return true;
}

static int sim_momo(int argc, char **argv)
{
    struct pay_config cfg;
    int start =
        pay_cli_start(&cfg, "sim momo", "sim momo --listen HOST:PORT [--callback-delay-ms N]",
                      "Run the mobile money simulator: MTN MoMo's collection API and the\n"
                      "zain_cash, sudani_cash and bankak profiles, with the sandbox payer\n"
                      "numbers of README \"Mobile money\". For tests and demos only: it\n"
                      "keeps everything in memory and moves no money.",
                      momo_opts, N_MOMO_OPTS, argc, argv);
    if (start != PAY_CLI_GO) {
        return start;
    }
    int rc = PAY_CLI_USAGE;
    long ttl = 0;
    struct pay_momo_sim_config sc = {
        .listen = pay_config_get(&cfg, "listen"),
        .api_user = pay_config_get(&cfg, "api-user"),
        .api_key = pay_config_get(&cfg, "api-key"),
        .subscription_key = pay_config_get(&cfg, "subscription-key"),
        .quiet = pay_config_bool(&cfg, "quiet"),
    };
    if (!parse_ms(&cfg, "callback-delay-ms", MS_MAX, &sc.callback_delay_ms) ||
        !parse_ms(&cfg, "pending-ms", MS_MAX, &sc.pending_ms) ||
        !parse_ms(&cfg, "expire-ms", MS_MAX, &sc.expire_ms) ||
        !parse_ms(&cfg, "slow-ms", 10L * 60 * 1000, &sc.slow_ms) ||
        !parse_ms(&cfg, "token-ttl-s", 366L * 24 * 3600, &ttl)) {
        goto out;
    }
    sc.token_ttl_s = ttl > 0 ? ttl : 3600;

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct pay_momo_sim *sim = NULL;
    struct pay_error err;
    pay_error_clear(&err);
    enum pay_err e = pay_momo_sim_start(&sc, &sim, &err);
    if (e != PAY_OK) {
        pay_cli_print_error("cannot start the simulator", &err, e);
        rc = 1;
        goto out;
    }
    /* The host as given, the port as bound. */
    const char *colon = strrchr(sc.listen, ':');
    printf("payd sim momo listening on http://%.*s:%u\n", (int)(colon - sc.listen), sc.listen,
           pay_momo_sim_port(sim));
    fflush(stdout);
    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    pay_momo_sim_stop(sim);
    rc = 0;
out:
    pay_config_release(&cfg);
    return rc;
}

int pay_cli_sim(int argc, char **argv)
{
    static const struct pay_cli_cmd cmds[] = {
        {"momo", sim_momo, "the mobile money simulator (MTN MoMo and wallet profiles)"},
    };
    return pay_cli_subcommands(argc, argv, "sim", "Provider simulators for tests and demos.", cmds,
                               sizeof(cmds) / sizeof(cmds[0]));
}

/*
 * sim.h - provider simulators shipped in payd, so that the demo and the
 * tests run with no outside account. `payd sim momo` (src/cli/sim.c) runs
 * the mobile money simulator.
 *
 * The MoMo simulator speaks MTN MoMo's collection protocol and every
 * wallet profile of src/connectors/momo.h (each under its own paths):
 * token (Basic auth + subscription key), request-to-pay (UUIDv4 reference,
 * 409 RESOURCE_ALREADY_EXIST on reuse, 400 on a non-UUIDv4 reference, 401
 * without a valid token), status, the callback (PUT to the request's
 * callback URL once its outcome is known), and the OTP step of profiles
 * with an otp_path. Payer numbers choose the outcome (PROTOCOLS.md's MTN
 * sandbox numbers, plus payd's own; README "Mobile money"):
 *   46733123450 FAILED INTERNAL_PROCESSING_ERROR
 *   46733123451 FAILED APPROVAL_REJECTED
 *   46733123452 PENDING, then FAILED EXPIRED after expire_ms
 *   46733123453 PENDING, then SUCCESSFUL after pending_ms
 *   46733123454 PENDING for ever
 *   46733123455 FAILED PAYER_NOT_FOUND
 *   46733123456 FAILED NOT_ENOUGH_FUNDS
 *   46733123457 FAILED PAYER_LIMIT_REACHED
 *   46733123458 FAILED SERVICE_UNAVAILABLE
 *   46733123459 request-to-pay answered 500, nothing recorded
 *   46733123460 request-to-pay recorded at once but answered after slow_ms
 *               (a client timeout), then SUCCESSFUL
 *   any other   SUCCESSFUL
 * With an OTP profile the request stays PENDING until the right code is
 * posted (three wrong codes: FAILED APPROVAL_REJECTED); the code is random,
 * printed as the "SMS" on the simulator's output and shown by the
 * test-only GET /sim/requests/{reference}.
 *
 * Test-only endpoints (no authentication): GET /sim/health, GET
 * /sim/requests/{reference} (state, reason, otp, callback url and count,
 * the request body as received), POST /sim/requests/{reference}/callback
 * (send the callback again, now), POST /sim/requests/{reference}/approve
 * (the payer approves a pending request now, whatever its number's rule:
 * SUCCESSFUL, and its callback; 409 when its outcome is already final).
 *
 * Threading: the HTTP server's threads and one callback thread share the
 * request table under one mutex; callbacks are sent without holding it.
 */
#ifndef PAY_SIM_H
#define PAY_SIM_H

#include "../core/core.h"

struct pay_momo_sim_config {
    const char *listen;           /* "127.0.0.1:0" */
    const char *api_user;         /* Basic auth user the token endpoint accepts */
    const char *api_key;          /* Basic auth password */
    const char *subscription_key; /* the subscription header's value */
    long callback_delay_ms;       /* from the outcome to its callback */
    long pending_ms;              /* ...453: pending this long, then successful */
    long expire_ms;               /* ...452: pending this long, then EXPIRED */
    long slow_ms;                 /* ...460: the 202 comes this late */
    int64_t token_ttl_s;          /* expires_in of the tokens it issues */
    bool quiet;                   /* no "SMS" and request lines on stdout */
};
/* Defaults of `payd sim momo`. */
#define PAY_MOMO_SIM_API_USER "payd-sandbox-user"
#define PAY_MOMO_SIM_API_KEY "payd-sandbox-key"
#define PAY_MOMO_SIM_SUBSCRIPTION_KEY "payd-sandbox-subscription"
/* Requests the simulator keeps; beyond this it answers 503. */
#define PAY_MOMO_SIM_REQUESTS_MAX 100000

struct pay_momo_sim;
enum pay_err pay_momo_sim_start(const struct pay_momo_sim_config *cfg, struct pay_momo_sim **out,
                                struct pay_error *err) PAY_WUR;
unsigned pay_momo_sim_port(const struct pay_momo_sim *sim);
/* How many callbacks were sent, and tokens issued (tests). */
long pay_momo_sim_callbacks_sent(struct pay_momo_sim *sim);
long pay_momo_sim_tokens_issued(struct pay_momo_sim *sim);
/* The OTP of request @reference into @out (tests); false when it has none. */
bool pay_momo_sim_otp(struct pay_momo_sim *sim, const char *reference, char out[8]);
void pay_momo_sim_stop(struct pay_momo_sim *sim);

#endif

/*
 * stripe_signature.h - verification of Stripe's webhook signature header
 * (`Stripe-Signature`), as PROTOCOLS.md ("Webhook signatures") describes:
 *
 *   Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]
 *   v1 = lower-case hex HMAC-SHA256(endpoint secret, "<t>.<raw body bytes>")
 *
 * `v0` and unknown keys are ignored; several `v1` (a secret being rolled
 * on Stripe's side) and several configured secrets (rolled on payd's) are
 * accepted when any pair matches; the comparison is constant-time; a
 * timestamp further than the tolerance from now, in either direction, is
 * refused (a replayed delivery).
 *
 * Pure: no I/O, no allocation beyond the one message buffer, no state;
 * safe from any thread. A libFuzzer target drives it with arbitrary
 * headers and bodies.
 */
#ifndef PAY_STRIPE_SIGNATURE_H
#define PAY_STRIPE_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

/* A real header is about 100 bytes per v1; anything longer is refused
 * before it is parsed, so an attacker cannot make us do unbounded work. */
#define PAY_STRIPE_SIG_HEADER_LEN_MAX 4096
/* v1 entries considered: Stripe sends one, two while a secret rolls. */
#define PAY_STRIPE_SIG_V1_MAX 8
/* Configured secrets tried (payd's own rotation). */
#define PAY_STRIPE_SIG_SECRETS_MAX 8
/* Stripe's default tolerance, seconds. */
#define PAY_STRIPE_SIG_TOLERANCE_DEFAULT_S 300

enum pay_stripe_sig_result {
    PAY_STRIPE_SIG_OK = 0,
    PAY_STRIPE_SIG_MISSING,   /* no header, or an empty one */
    PAY_STRIPE_SIG_MALFORMED, /* too long, an element without '=', no/bad/duplicate t,
                               * more than PAY_STRIPE_SIG_V1_MAX v1 */
    PAY_STRIPE_SIG_NO_V1,     /* well-formed, but no v1 signature */
    PAY_STRIPE_SIG_STALE,     /* |now - t| > tolerance */
    PAY_STRIPE_SIG_MISMATCH,  /* no v1 equals the HMAC under any secret */
    PAY_STRIPE_SIG_NO_SECRET, /* no secret configured (n_secrets 0 or all empty) */
};

/*
 * Verify @header (NUL-terminated; NULL = absent) against the @body_len raw
 * bytes of @body (may contain NULs; NULL only with @body_len 0) under any of
 * the @n_secrets secrets (NUL-terminated, used whole, "whsec_..." included,
 * as Stripe does; empty ones are skipped; at most PAY_STRIPE_SIG_SECRETS_MAX
 * are tried), at unix time @now with @tolerance_s (>= 0) seconds of skew.
 * The timestamp is checked after the structure and before any HMAC, and a
 * signature is only accepted when its timestamp is fresh.
 * Returns PAY_STRIPE_SIG_OK or why not; never touches anything else.
 */
enum pay_stripe_sig_result pay_stripe_signature_verify(const char *header, const char *body,
                                                       size_t body_len, const char *const *secrets,
                                                       size_t n_secrets, int64_t now,
                                                       int64_t tolerance_s);

/* A short English reason for @r ("no v1 signature matches"), for error messages. */
const char *pay_stripe_signature_reason(enum pay_stripe_sig_result r);

/*
 * Build a header value "t=@t,v1=<hex>" signing @body under @secret into
 * @out (@out_len >= 96 bytes suffices for t up to 19 digits). For tests and
 * for payd's own outbound webhooks. Returns 0, or -1 when @out is too small.
 */
int pay_stripe_signature_header(const char *secret, int64_t t, const char *body, size_t body_len,
                                char *out, size_t out_len);

#endif

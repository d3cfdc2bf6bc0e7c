/*
 * webhooks_int.h - declarations shared by the webhook files of src/events/
 * only (and their unit tests).
 */
#ifndef PAY_WEBHOOKS_INT_H
#define PAY_WEBHOOKS_INT_H

#include "webhooks.h"

/* Room for a sealed secret: "enc1:" + hex(12 + secret + 16) + NUL. */
#define PAY_WEBHOOK_SEALED_LEN_MAX (5 + 2 * (12 + PAY_WEBHOOK_SECRET_LEN_MAX + 16) + 1)

/*
 * Seal @secret for storage in endpoint @endpoint's row (secret_box.c):
 * AES-256-GCM under a key derived from @server_key, the endpoint id as
 * additional data. A NULL or empty @server_key stores @secret as is.
 * PAY_ERR_INTERNAL when @out_len is too small or the cipher fails.
 */
enum pay_err pay_webhook_secret_seal(const char *server_key, const char *endpoint,
                                     const char *secret, char *out, size_t out_len) PAY_WUR;
/* Open what pay_webhook_secret_seal stored (a value without the "enc1:"
 * prefix opens as itself). PAY_ERR_INTERNAL when the key is missing or
 * wrong, or the value was altered or belongs to another endpoint. */
enum pay_err pay_webhook_secret_open(const char *server_key, const char *endpoint,
                                     const char *stored, char *out, size_t out_len) PAY_WUR;

#endif

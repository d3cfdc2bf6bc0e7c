/*
 * auth_int.h - declarations shared by the files of src/auth/ only.
 */
#ifndef PAY_AUTH_INT_H
#define PAY_AUTH_INT_H

#include "auth.h"

/*
 * Resolve the API key secret @secret ("sk_...") into @who: from the
 * in-process cache when a fresh entry exists (see keys.c), else from
 * api_keys. PAY_ERR_AUTH_INVALID when no active key has this secret; a
 * database failure is returned as is.
 */
enum pay_err pay_keys_resolve(struct pay_store *s, const char *secret, struct pay_principal *who,
                              struct pay_error *err) PAY_WUR;

#endif

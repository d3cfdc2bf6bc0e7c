/*
 * auth.h - who is calling: API keys (stored only as SHA-256 hashes) and
 * JWTs (HS256 with a configured secret, RS256 with a configured public
 * key; the algorithm pinned by configuration, "none" always refused).
 *
 * Roles: admin and staff see everything; auditor reads only; a patient
 * acts only for the customer named in its token.
 *
 * Threading: a pay_auth_config is read-only after init and shared.
 */
#ifndef PAY_AUTH_H
#define PAY_AUTH_H

#include "../core/core.h"
#include "../store/store.h"

enum pay_role {
    PAY_ROLE_NONE = 0,
    PAY_ROLE_ADMIN = 1u << 0,
    PAY_ROLE_STAFF = 1u << 1,
    PAY_ROLE_AUDITOR = 1u << 2,
    PAY_ROLE_PATIENT = 1u << 3,
};
#define PAY_ROLES_ALL (PAY_ROLE_ADMIN | PAY_ROLE_STAFF | PAY_ROLE_AUDITOR | PAY_ROLE_PATIENT)
#define PAY_ROLES_STAFF (PAY_ROLE_ADMIN | PAY_ROLE_STAFF)
#define PAY_ROLES_READ_ALL (PAY_ROLE_ADMIN | PAY_ROLE_STAFF | PAY_ROLE_AUDITOR)

/* "admin" etc. -> role; PAY_ROLE_NONE when unknown. */
enum pay_role pay_role_parse(const char *s);
const char *pay_role_name(enum pay_role r);

enum pay_principal_kind { PAY_PRINCIPAL_NONE, PAY_PRINCIPAL_API_KEY, PAY_PRINCIPAL_JWT };

struct pay_principal {
    enum pay_principal_kind kind;
    enum pay_role role;
    char subject[128];                 /* API key id (key_...) or JWT sub */
    char customer[PAY_ID_LEN_MAX + 1]; /* patients: the customer they act for */
};

struct pay_auth_config {
    char *jwt_alg;        /* "HS256" (default) or "RS256": the only one accepted */
    char *jwt_secret;     /* HS256 secret; NULL disables HS256 tokens */
    char *jwt_public_key; /* RS256: PEM text of the public key */
    char *jwt_issuer;     /* when set, "iss" must equal it */
    char *jwt_audience;   /* when set, "aud" must equal it (or contain it) */
    int64_t leeway_s;     /* clock skew allowed on exp/nbf (default 30) */
};

/*
 * Create an API key named @name with @role: writes the secret
 * ("sk_test_" + 32 base62) into @secret_out (64 bytes) and the key id
 * ("key_...") into @id_out (PAY_ID_LEN_MAX + 1). Only the SHA-256 of the
 * secret is stored.
 */
enum pay_err pay_keys_create(struct pay_store *s, const char *name, enum pay_role role,
                             char *secret_out, char *id_out, struct pay_error *err) PAY_WUR;
/* Revoke key @id; PAY_ERR_NOT_FOUND when no such active key. */
enum pay_err pay_keys_revoke(struct pay_store *s, const char *id, struct pay_error *err) PAY_WUR;

/*
 * Run inside the transaction of a key change, right after it, with the
 * key's id: what must commit with the change, or not at all (the audit
 * record). An error rolls the change back and is returned as is.
 */
typedef enum pay_err (*pay_keys_hook_fn)(struct pay_tx *tx, const char *key_id, void *arg);
/* pay_keys_create with @hook (may be NULL) in the key's transaction. */
enum pay_err pay_keys_create_with(struct pay_store *s, const char *name, enum pay_role role,
                                  pay_keys_hook_fn hook, void *hook_arg, char *secret_out,
                                  char *id_out, struct pay_error *err) PAY_WUR;
/* pay_keys_revoke with @hook (may be NULL), run only when the key was
 * active and is revoked now. */
enum pay_err pay_keys_revoke_with(struct pay_store *s, const char *id, pay_keys_hook_fn hook,
                                  void *hook_arg, struct pay_error *err) PAY_WUR;
/* A JSON array of {id, name, role, prefix, created, revoked_at}; caller owns it. */
enum pay_err pay_keys_list(struct pay_store *s, json_t **out) PAY_WUR;

/*
 * Resolve an Authorization header value ("Bearer sk_...", "Bearer eyJ...",
 * "Basic base64(sk_...:)") into @who. PAY_ERR_AUTH_REQUIRED when @header is
 * NULL or empty, PAY_ERR_AUTH_INVALID for anything that does not verify.
 */
enum pay_err pay_auth_resolve(struct pay_store *s, const struct pay_auth_config *cfg,
                              const char *header, struct pay_principal *who,
                              struct pay_error *err) PAY_WUR;

/*
 * Verify a JWT against @cfg at time @now into @who (role from the "role"
 * claim, customer from "customer"). Every failure is PAY_ERR_AUTH_INVALID
 * with the reason in @err->message.
 */
enum pay_err pay_jwt_verify(const struct pay_auth_config *cfg, const char *token, int64_t now,
                            struct pay_principal *who, struct pay_error *err) PAY_WUR;
/*
 * Mint an HS256 token {sub, role, customer?, iat, exp = iat + ttl_s,
 * iss?, aud?}; *out is malloc'd.
 */
enum pay_err pay_jwt_mint_hs256(const char *secret, const char *sub, const char *role,
                                const char *customer, int64_t ttl_s, const char *iss,
                                const char *aud, int64_t now, char **out) PAY_WUR;

#endif

/*
 * auth.c - roles, and turning an Authorization header into a principal.
 *
 * Accepted forms (what Stripe's SDKs and curl send):
 *   "Bearer sk_..."          an API key (keys.c)
 *   "Bearer <jwt>"           a JWT (jwt.c)
 *   "Basic base64(sk_...:)"  an API key as the user name; the password is
 *                            ignored, as Stripe does (curl -u sk_...:)
 * The scheme name is case-insensitive (RFC 9110 section 11.1). Anything else
 * is PAY_ERR_AUTH_INVALID; no header at all is PAY_ERR_AUTH_REQUIRED.
 *
 * Threading: no state of its own; safe from any thread.
 */
#include <string.h>
#include <strings.h>

#include "auth_int.h"

static const struct {
    enum pay_role role;
    const char *name;
} role_names[] = {
    {PAY_ROLE_ADMIN, "admin"},
    {PAY_ROLE_STAFF, "staff"},
    {PAY_ROLE_AUDITOR, "auditor"},
    {PAY_ROLE_PATIENT, "patient"},
};

enum pay_role pay_role_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (strcmp(s, role_names[i].name) == 0) {
            return role_names[i].role;
        }
    }
    return PAY_ROLE_NONE;
}

const char *pay_role_name(enum pay_role r)
{
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (role_names[i].role == r) {
            return role_names[i].name;
        }
    }
    return "none";
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/*
 * Standard base64 (RFC 4648 section 4, padding optional) of @in into @out
 * (@cap bytes, NUL-terminated). False on a bad character or when the result
 * does not fit.
 */
static bool b64_decode(const char *in, size_t n, char *out, size_t cap)
{
    while (n > 0 && in[n - 1] == '=') {
        n--;
    }
    if (n % 4 == 1) {
        return false;
    }
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_value(in[i]);
        if (d < 0) {
            return false;
        }
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (w + 1 >= cap) {
                return false;
            }
            out[w++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[w] = '\0';
    return true;
}

static enum pay_err invalid(struct pay_error *err, const char *why)
{
    return pay_error_set(err, PAY_ERR_AUTH_INVALID, NULL, "%s", why);
}

enum pay_err pay_auth_resolve(struct pay_store *s, const struct pay_auth_config *cfg,
                              const char *header, struct pay_principal *who, struct pay_error *err)
{
    memset(who, 0, sizeof(*who));
    if (!header) {
        return pay_error_set(err, PAY_ERR_AUTH_REQUIRED, NULL,
                             "You did not provide an API key. Send it as "
                             "'Authorization: Bearer sk_...'.");
    }
    while (*header == ' ' || *header == '\t') {
        header++;
    }
    if (*header == '\0') {
        return pay_error_set(err, PAY_ERR_AUTH_REQUIRED, NULL,
                             "You did not provide an API key. Send it as "
                             "'Authorization: Bearer sk_...'.");
    }

    const char *sp = strpbrk(header, " \t");
    if (!sp) {
        return invalid(err, "Invalid Authorization header: expected 'Bearer <key or token>' "
                            "or 'Basic <credentials>'.");
    }
    size_t scheme_len = (size_t)(sp - header);
    const char *cred = sp;
    while (*cred == ' ' || *cred == '\t') {
        cred++;
    }
    size_t cred_len = strlen(cred);
    while (cred_len > 0 && (cred[cred_len - 1] == ' ' || cred[cred_len - 1] == '\t')) {
        cred_len--;
    }
    if (cred_len == 0 || memchr(cred, ' ', cred_len) || memchr(cred, '\t', cred_len)) {
        return invalid(err, "Invalid Authorization header: malformed credentials.");
    }

    if (scheme_len == 6 && strncasecmp(header, "Bearer", 6) == 0) {
        if (cred_len > PAY_JWT_BYTES_MAX) {
            return invalid(err, "Invalid API key or token provided.");
        }
        char token[PAY_JWT_BYTES_MAX + 1];
        memcpy(token, cred, cred_len);
        token[cred_len] = '\0';
        enum pay_err e;
        if (strncmp(token, "sk_", 3) == 0) {
            e = pay_keys_resolve(s, token, who, err);
        } else if (cfg) {
            e = pay_jwt_verify(cfg, token, pay_now(), who, err);
        } else {
            e = invalid(err, "Invalid token: tokens are not enabled.");
        }
        explicit_bzero(token, cred_len);
        return e;
    }

    if (scheme_len == 5 && strncasecmp(header, "Basic", 5) == 0) {
        char user_pass[256];
        if (!b64_decode(cred, cred_len, user_pass, sizeof(user_pass))) {
            return invalid(err, "Invalid Authorization header: bad Basic credentials.");
        }
        /* The key is the user name; whatever follows ':' is ignored. */
        char *colon = strchr(user_pass, ':');
        if (colon) {
            *colon = '\0';
        }
        enum pay_err e;
        if (strncmp(user_pass, "sk_", 3) == 0) {
            e = pay_keys_resolve(s, user_pass, who, err);
        } else {
            e = invalid(err, "Invalid API key provided: Basic credentials carry an API key "
                             "(sk_...) as the user name.");
        }
        explicit_bzero(user_pass, sizeof(user_pass));
        return e;
    }

    return invalid(err, "Invalid Authorization header: expected 'Bearer <key or token>' or "
                        "'Basic <credentials>'.");
}

/*
 * core.h - the public header of payd's core module: errors, money and
 * currencies, ids, the injectable clock, bounded buffers, logging, JSON
 * helpers and configuration. Everything else in payd depends on core;
 * core depends only on libc, jansson and OpenSSL's libcrypto.
 *
 * Threading: every function here is safe to call from any thread, except
 * the pay_clock_set_* test hooks and pay_log_init, which are called once
 * at start.
 */
#ifndef PAY_CORE_H
#define PAY_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "limits.h"

#define PAY_WUR __attribute__((warn_unused_result))
#define PAY_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/*
 * One append-only list: never renumber, never reuse. Columns: enum name,
 * stable machine string (sent to clients as error.code; Stripe's code where
 * Stripe has one), default message.
 */
#define PAY_ERR_MAP(X)                                                                             \
    X(OK, "ok", "Success.")                                                                        \
    X(NOMEM, "out_of_memory", "The server ran out of memory for this request.")                    \
    X(INTERNAL, "internal_error", "An internal error occurred.")                                   \
    X(PARAM_INVALID, "parameter_invalid", "A parameter has an invalid value.")                     \
    X(PARAM_MISSING, "parameter_missing", "A required parameter is missing.")                      \
    X(PARAM_UNKNOWN, "parameter_unknown", "Received an unknown parameter.")                        \
    X(PARAM_INTEGER, "parameter_invalid_integer", "A parameter must be an integer.")               \
    X(AMOUNT_INVALID, "amount_invalid", "The amount is invalid.")                                  \
    X(AMOUNT_TOO_LARGE, "amount_too_large", "The amount is too large.")                            \
    X(AMOUNT_TOO_SMALL, "amount_too_small", "The amount is too small.")                            \
    X(CURRENCY_INVALID, "currency_invalid", "The currency is not supported.")                      \
    X(OVERFLOW, "amount_overflow", "The arithmetic on amounts would overflow.")                    \
    X(BODY_INVALID, "body_invalid", "The request body could not be parsed.")                       \
    X(BODY_TOO_LARGE, "body_too_large", "The request body is too large.")                          \
    X(NOT_FOUND, "resource_missing", "No such object.")                                            \
    X(ROUTE_NOT_FOUND, "route_missing", "Unrecognized request URL.")                               \
    X(METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.")                \
    X(AUTH_REQUIRED, "api_key_required", "You did not provide an API key or token.")               \
    X(AUTH_INVALID, "api_key_invalid", "Invalid API key or token provided.")                       \
    X(FORBIDDEN, "permission_denied", "Your role may not perform this request.")                   \
    X(RATE_LIMITED, "rate_limit", "Too many requests. Retry later.")                               \
    X(IDEMPOTENCY_MISMATCH, "idempotency_key_reused",                                              \
      "Keys for idempotent requests can only be used with the same parameters "                    \
      "they were first used with.")                                                                \
    X(IDEMPOTENCY_IN_USE, "idempotency_key_in_use",                                                \
      "A request with this idempotency key is still being processed. Retry later.")                \
    X(CARD_DECLINED, "card_declined", "Your card was declined.")                                   \
    X(CARD_ERROR, "card_error", "The card could not be charged.")                                  \
    X(UNEXPECTED_STATE, "payment_intent_unexpected_state",                                         \
      "The object is not in a state that allows this request.")                                    \
    X(DB, "database_error", "The database failed to complete the request.")                        \
    X(DB_UNIQUE, "duplicate", "An object with this identity already exists.")                      \
    X(DB_RETRY, "database_conflict", "A concurrent update conflicted; retry.")                     \
    X(UNAVAILABLE, "service_unavailable", "The service is unavailable. Retry later.")              \
    X(CONFIG, "config_invalid", "The configuration is invalid.")                                   \
    X(IO, "io_error", "An input/output error occurred.")                                           \
    X(CONFLICT, "resource_conflict", "The request conflicts with the object's state.")             \
    X(PROVIDER, "provider_error", "The payment provider failed.")                                  \
    X(ARENA_FULL, "request_too_large", "The request needs more memory than allowed.")

enum pay_err {
#define PAY_ERR_ENUM(name, str, msg) PAY_ERR_##name,
    PAY_ERR_MAP(PAY_ERR_ENUM)
#undef PAY_ERR_ENUM
        PAY_ERR__COUNT
};
#define PAY_OK PAY_ERR_OK

/* The stable machine string of @e ("parameter_invalid"); never NULL. */
const char *pay_err_str(enum pay_err e);
/* The default human message of @e; never NULL. */
const char *pay_err_message(enum pay_err e);

/*
 * Detail that travels beside an error code: the offending parameter, a
 * message, and for card errors the decline code. Caller-allocated; zero it
 * (or pay_error_clear) before use.
 */
struct pay_error {
    enum pay_err code;
    char param[PAY_ERROR_PARAM_MAX];
    char message[PAY_ERROR_MESSAGE_MAX];
    char decline_code[48];
    /* When set, sent as error.code instead of the enum's machine string:
     * Stripe's finer card codes ("incorrect_number", "expired_card"). */
    char code_str[48];
};

void pay_error_clear(struct pay_error *err);
/*
 * Record @code with @param (may be NULL) and a printf-style message (NULL
 * @fmt means the default message). Returns @code so callers can
 * `return pay_error_set(...)`. @err may be NULL.
 */
enum pay_err pay_error_set(struct pay_error *err, enum pay_err code, const char *param,
                           const char *fmt, ...) PAY_PRINTF(4, 5);

/* ------------------------------------------------------------------ */
/* Currencies and money (ISO 4217)                                      */
/* ------------------------------------------------------------------ */

struct pay_currency {
    char code[4];     /* lower-case, as Stripe writes it: "usd" */
    uint16_t numeric; /* ISO 4217 numeric code */
    uint8_t exponent; /* digits after the decimal point */
};

/* The currency named @code (any case, exactly 3 letters) or NULL. */
const struct pay_currency *pay_currency_find(const char *code);
/* The whole active ISO 4217 table, sorted by code; *n_out gets its size. */
const struct pay_currency *pay_currency_table(size_t *n_out);

/* Checked arithmetic: return false (and leave *out alone) on overflow. */
bool pay_money_add(int64_t a, int64_t b, int64_t *out) PAY_WUR;
bool pay_money_sub(int64_t a, int64_t b, int64_t *out) PAY_WUR;
bool pay_money_mul(int64_t a, int64_t b, int64_t *out) PAY_WUR;

/* True when 0 <= @amount <= PAY_AMOUNT_MAX_MINOR. */
bool pay_amount_valid(int64_t amount_minor);

/*
 * Parse a decimal string ("12.50", "-3", "1000") in @cur's major unit into
 * minor units exactly. More fractional digits than the exponent, any sign
 * but a leading '-', spaces, exponents or overflow are errors
 * (PAY_ERR_AMOUNT_INVALID / PAY_ERR_OVERFLOW).
 */
enum pay_err pay_amount_parse(const char *s, const struct pay_currency *cur,
                              int64_t *out_minor) PAY_WUR;
/*
 * Format @amount_minor as a decimal string in @cur's major unit ("12.50",
 * "-0.05", "1000" for exponent 0). Returns the length written (without the
 * NUL), or 0 when @n is too small. 32 bytes always suffice.
 */
size_t pay_amount_format(int64_t amount_minor, const struct pay_currency *cur, char *buf, size_t n);

/*
 * @amount_minor * @bps / 10000 rounded half to even (banker's rounding),
 * the one rounding rule for fees, discounts and coinsurance. Returns false
 * on overflow.
 */
bool pay_money_bps(int64_t amount_minor, int64_t bps, int64_t *out) PAY_WUR;

/*
 * Split @total into @n parts that sum exactly to @total; the remainder
 * (|total| mod n units) goes one unit each to the first parts.
 */
void pay_money_split(int64_t total, size_t n, int64_t *parts);

/*
 * A provider's fee on @amount_minor (issue 6), the one fee rule:
 *   fee = round_half_even(amount * fee_bps / 10000) + fee_fixed,
 * never more than the amount (a 50-unit payment with a 100-unit fixed fee
 * pays 50), in exact integer arithmetic (pay_money_bps). @amount_minor >= 0,
 * 0 <= @fee_bps <= PAY_FEE_BPS_MAX, @fee_fixed_minor >= 0; anything else, or
 * an overflow, is PAY_ERR_OVERFLOW / PAY_ERR_AMOUNT_INVALID and *out is left
 * alone. Examples: 1000 at 250 bps = 25; 1010 at 250 bps = 25.25 -> 25;
 * 1020 at 250 bps = 25.5 -> 26 (even); 1060 at 250 bps = 26.5 -> 26.
 */
#define PAY_FEE_BPS_MAX 10000
enum pay_err pay_fee_compute(int64_t amount_minor, int64_t fee_bps, int64_t fee_fixed_minor,
                             int64_t *out) PAY_WUR;

/*
 * Sealed secrets (seal.c): AES-256-GCM under a key derived from @server_key
 * and @label (HMAC-SHA256(server_key, label)), with @aad (the owning
 * object's id) as additional data, so a sealed value copied to another row
 * does not open. Output "enc1:" + hex(nonce[12] | ciphertext | tag[16]),
 * appended to @out. Without a server key (NULL or "": unit tests, tools)
 * the plaintext is stored as given and a value without the "enc1:" prefix
 * opens as itself (the rule of the webhook secret box). pay_unseal appends
 * the plaintext to @out (wipe it after use); PAY_ERR_INTERNAL when the value
 * is damaged, was sealed under another key, label or @aad.
 */
struct pay_buf;
enum pay_err pay_seal(const char *server_key, const char *label, const char *aad, const char *plain,
                      size_t len, struct pay_buf *out) PAY_WUR;
enum pay_err pay_unseal(const char *server_key, const char *label, const char *aad,
                        const char *sealed, struct pay_buf *out) PAY_WUR;

/* ------------------------------------------------------------------ */
/* Small blocks (mem.c)                                                 */
/* ------------------------------------------------------------------ */

/*
 * malloc and free, except on a thread that called pay_mem_pool_start:
 * there freed blocks of a few small sizes are kept (a bounded number) for
 * the thread's next requests that fit. SQLite's allocations come here
 * (the store), and jansson's after pay_mem_route_json. Every block is a
 * plain malloc block: free() and pay_mem_free take either's. pay_mem_size
 * is the block's usable size; pay_mem_roundup the size pay_mem_alloc(n)
 * gives.
 */
void *pay_mem_alloc(size_t n);
/* pay_mem_alloc, zeroed: glibc's calloc bypasses its thread cache and
 * takes the arena lock, which the writer shares with other threads. */
void *pay_mem_zalloc(size_t n);
void pay_mem_free(void *p);
size_t pay_mem_size(void *p);
size_t pay_mem_roundup(size_t n);
void pay_mem_pool_start(void);
/* jansson allocates through pay_mem_alloc/pay_mem_free from now on. Once,
 * before threads other than the caller use jansson (it sets jansson's
 * allocation functions, which every thread reads). */
void pay_mem_route_json(void);
/* Free this thread's kept blocks and keep no more. */
void pay_mem_pool_stop(void);
/* Blocks this thread keeps now (tests). */
size_t pay_mem_pool_kept(void);

/* ------------------------------------------------------------------ */
/* Ids and randomness                                                   */
/* ------------------------------------------------------------------ */

/* Fill @buf with @n bytes from the OS random source (getrandom). */
enum pay_err pay_random_bytes(void *buf, size_t n) PAY_WUR;
/*
 * Write "<prefix>_<24 base62 chars>" into @out (at least PAY_ID_LEN_MAX + 1
 * bytes), e.g. pay_id_new("pi", out): PAY_ID_TIME_LEN characters of the
 * time in milliseconds, then random ones, so ids sort roughly by creation.
 * Aborts if the OS random source fails.
 */
void pay_id_new(const char *prefix, char *out);
/* The same shape with all 24 characters random: for secrets. */
void pay_secret_new(const char *prefix, char *out);
/* True when @id looks like "<prefix>_<base62...>" (1..PAY_ID_LEN_MAX). A NULL
 * @prefix accepts any prefix of 1..PAY_ID_PREFIX_LEN_MAX [a-z0-9] characters. */
bool pay_id_valid(const char *id, const char *prefix);

/* ------------------------------------------------------------------ */
/* Clock                                                                */
/* ------------------------------------------------------------------ */

/* Unix seconds now (or the fixed/offset test clock). */
int64_t pay_now(void);
/* Monotonic microseconds, for latency measurement only. */
int64_t pay_monotonic_us(void);
/* Test hooks: fix the clock at @t (0 = real clock again), or shift it. */
void pay_clock_set_fixed(int64_t t);
void pay_clock_set_offset(int64_t seconds);

/* ------------------------------------------------------------------ */
/* Bounded buffer (git's strbuf with curl's mandatory cap)              */
/* ------------------------------------------------------------------ */

struct pay_buf {
    char *data; /* always NUL-terminated once anything is added */
    size_t len;
    size_t cap;     /* allocated bytes */
    size_t max_len; /* appends beyond this fail with PAY_ERR_BODY_TOO_LARGE */
};

void pay_buf_init(struct pay_buf *b, size_t max_len);
void pay_buf_release(struct pay_buf *b);
void pay_buf_reset(struct pay_buf *b);
/* Make room for @n more bytes at once (later adds up to that allocate nothing). */
enum pay_err pay_buf_reserve(struct pay_buf *b, size_t n) PAY_WUR;
enum pay_err pay_buf_add(struct pay_buf *b, const void *data, size_t n) PAY_WUR;
enum pay_err pay_buf_adds(struct pay_buf *b, const char *s) PAY_WUR;
enum pay_err pay_buf_addf(struct pay_buf *b, const char *fmt, ...) PAY_PRINTF(2, 3) PAY_WUR;
/* Append each string in turn, up to PAY_STRS_END (a typed NULL) that ends
 * the list; stops at the first that does not fit. */
#define PAY_STRS_END ((const char *)NULL)
enum pay_err pay_buf_add_strs(struct pay_buf *b, ...) __attribute__((sentinel)) PAY_WUR;
/* The decimal digits of @v (with '-' when negative), as "%lld" prints them. */
enum pay_err pay_buf_add_int(struct pay_buf *b, int64_t v) PAY_WUR;
/* Write the decimal digits of @v into @out (room for PAY_INT_DIGITS_MAX
 * bytes; not NUL-terminated) and return their count: "%lld" without
 * snprintf, for hot paths that print many numbers. */
#define PAY_INT_DIGITS_MAX 20
size_t pay_int_digits(int64_t v, char *out);
/* Hand the data to the caller (free() it); the buffer is empty again. */
char *pay_buf_detach(struct pay_buf *b, size_t *len_out);

/* ------------------------------------------------------------------ */
/* Hashing and secrets                                                  */
/* ------------------------------------------------------------------ */

/* Lower-case hex SHA-256 of @data into @hex_out (65 bytes). */
void pay_sha256_hex(const void *data, size_t n, char hex_out[65]);
/* Raw HMAC-SHA256 of @data under @key into @mac_out (32 bytes). */
void pay_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                     unsigned char mac_out[32]);
/* Constant-time comparison of two byte strings (false when lengths differ). */
bool pay_secure_equal(const void *a, size_t a_len, const void *b, size_t b_len);
/* base64url without padding; return 0 / -1. */
int pay_base64url_encode(const void *in, size_t n, struct pay_buf *out);
int pay_base64url_decode(const char *in, size_t n, struct pay_buf *out);
/* hex encode @n bytes into @out (2n+1 bytes). */
void pay_hex_encode(const void *in, size_t n, char *out);

/* ------------------------------------------------------------------ */
/* Logging: one JSON object per line on stderr                          */
/* ------------------------------------------------------------------ */

enum pay_log_level { PAY_LOG_DEBUG, PAY_LOG_INFO, PAY_LOG_WARN, PAY_LOG_ERROR };

void pay_log_init(enum pay_log_level min_level);
/* Parse "debug"|"info"|"warn"|"error"; false when unknown. */
bool pay_log_level_parse(const char *s, enum pay_log_level *out);
/*
 * Log @msg with the fields of @fields (borrowed; may be NULL) and
 * @request_id (may be NULL). Every string field passes through
 * pay_log_mask first.
 */
void pay_log(enum pay_log_level lvl, const char *request_id, const char *msg, json_t *fields);
void pay_logf(enum pay_log_level lvl, const char *request_id, const char *fmt, ...)
    PAY_PRINTF(3, 4);
/*
 * The one masking function: copies @in to a new string (free() it) with
 * every run of 13-19 digits (spaces/dashes allowed between) that could be a
 * card number reduced to its last four ("************4242"), and secrets
 * (sk_..., whsec_..., eyJ... tokens) reduced to their prefix.
 */
char *pay_log_mask(const char *in);

/* ------------------------------------------------------------------ */
/* JSON helpers                                                         */
/* ------------------------------------------------------------------ */

/* Serialize compactly (keys in insertion order); free() the result. */
char *pay_json_dump(const json_t *v);
/* Append pay_json_dump's text of @v to @b (no copy of the whole text). */
enum pay_err pay_json_dump_to(struct pay_buf *b, const json_t *v) PAY_WUR;
/* Append @s as a JSON string, or null when @s is NULL or not UTF-8. */
enum pay_err pay_json_add_str(struct pay_buf *b, const char *s) PAY_WUR;
/* The same with everything above U+007F escaped as \uXXXX, as
 * json_dumps(JSON_ENSURE_ASCII) writes it. */
enum pay_err pay_json_add_str_ascii(struct pay_buf *b, const char *s) PAY_WUR;
/* Set @key on @obj to a new string, or JSON null when @s is NULL. @key is
 * payd's own text (a literal or a table's), never input: it is not checked
 * for UTF-8 as jansson's json_object_set_new would (debug builds do). */
void pay_json_set_str(json_t *obj, const char *key, const char *s);
void pay_json_set_int(json_t *obj, const char *key, int64_t v);
void pay_json_set_bool(json_t *obj, const char *key, bool v);
/* The string at @key or NULL (also when it is not a string). */
const char *pay_json_str(const json_t *obj, const char *key);
/* The integer at @key, or @dflt. */
int64_t pay_json_int(const json_t *obj, const char *key, int64_t dflt);

/* ------------------------------------------------------------------ */
/* Lists: cursor pagination, as Stripe's                                */
/* ------------------------------------------------------------------ */

struct pay_list_args {
    int64_t limit;                                            /* 1..PAY_LIST_LIMIT_MAX */
    const char *starting_after;                               /* NULL or an object id (borrowed) */
    const char *ending_before;                                /* NULL or an object id (borrowed) */
    int64_t created_gte, created_gt, created_lte, created_lt; /* INT64_MIN/MAX when unset */
};
/* limit = default, no cursors, no created bounds. */
void pay_list_args_init(struct pay_list_args *a);

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

/*
 * Options come from, in order of precedence: command-line flags
 * (--db URL), PAYD_* environment variables (PAYD_DB), a config file
 * (--config PATH or PAYD_CONFIG; lines "db = URL", '#' comments), then
 * the built-in default.
 */
struct pay_option {
    const char *name; /* flag name without dashes: "db" */
    const char *env;  /* "PAYD_DB" */
    const char *dflt; /* may be NULL */
    const char *help; /* one line */
    bool is_flag;     /* boolean switch: present = "true" */
};

struct pay_config {
    const struct pay_option *options;
    size_t n_options;
    const char **values; /* parallel to options; owned strings */
    char **positional;   /* arguments that are not options */
    size_t n_positional;
};

/*
 * Resolve every option of @opts from argv[0..argc) (flags "--name value",
 * "--name=value"), the environment and the config file. Unknown flags are an
 * error with their name in @err->param. Release with pay_config_release.
 */
enum pay_err pay_config_load(struct pay_config *cfg, const struct pay_option *opts, size_t n_opts,
                             int argc, char **argv, struct pay_error *err) PAY_WUR;
void pay_config_release(struct pay_config *cfg);
/* The resolved value of option @name, or NULL when unset. */
const char *pay_config_get(const struct pay_config *cfg, const char *name);
bool pay_config_bool(const struct pay_config *cfg, const char *name);
/* Print "  --name VALUE   help (env PAYD_NAME, default ...)" lines. */
void pay_config_usage(const struct pay_option *opts, size_t n_opts, FILE *stream);

/* ------------------------------------------------------------------ */
/* Files built into the binary (tools/embed.c)                          */
/* ------------------------------------------------------------------ */

/* A file embedded at build time, named by its path in the source tree
 * ("src/store/migrations/sqlite/0001_foundation.sql"). data is NUL-terminated. */
struct pay_embedded {
    const char *name;
    const unsigned char *data;
    size_t len;
};
/* Every embedded file, in the order the build listed them. */
const struct pay_embedded *pay_embedded_all(size_t *n);
/* The embedded file named @name, or NULL. */
const struct pay_embedded *pay_embedded_find(const char *name);

/* ------------------------------------------------------------------ */
/* Assertions                                                           */
/* ------------------------------------------------------------------ */

_Noreturn void pay_assert_fail(const char *expr, const char *file, int line);
#define PAY_ASSERT(e) ((e) ? (void)0 : pay_assert_fail(#e, __FILE__, __LINE__))
#ifdef PAY_DEBUG
#define PAY_DEBUG_ASSERT(e) PAY_ASSERT(e)
#else
#define PAY_DEBUG_ASSERT(e) ((void)0)
#endif

#endif

/*
 * limits.h - every limit payd enforces, in one place, each with its reason.
 *
 * A limit protects memory, the database or a client from another client.
 * Change a value here, never a literal elsewhere.
 */
#ifndef PAY_LIMITS_H
#define PAY_LIMITS_H

/* HTTP request body: a payment is ~300 bytes; the largest legitimate body
 * (an invoice with many lines, later issues) stays well under 1 MiB. */
#define PAY_BODY_BYTES_MAX (1024 * 1024)
/* File uploads (evidence of manual payments: a phone photo of a receipt, a
 * scanned cheque as PDF): 5 MiB by default (payd serve
 * --evidence-max-bytes), never above 64 MiB, which a base64 copy in one
 * database row (PAY_UPLOAD_BYTES_MAX * 4/3) still fits comfortably. */
#define PAY_UPLOAD_BYTES_DEFAULT (5 * 1024 * 1024)
#define PAY_UPLOAD_BYTES_MAX (64 * 1024 * 1024)
/* A multipart body may exceed its file by this much: part headers,
 * boundaries and the small text fields beside the file. */
#define PAY_MULTIPART_OVERHEAD_BYTES (64 * 1024)
/* File parts in one multipart body. */
#define PAY_UPLOAD_PARTS_MAX 4
/* Request headers in bytes, as libmicrohttpd's per-connection memory. */
#define PAY_HEADER_BYTES_MAX (32 * 1024)
/* Nesting depth of a JSON or bracket-form body: Stripe objects nest 3-4
 * levels; 16 refuses stack-exhausting payloads. */
#define PAY_JSON_DEPTH_MAX 16
/* Elements of one array in a body (items[], expand[]). */
#define PAY_ARRAY_LEN_MAX 256
/* Keys of one object in a body. */
#define PAY_OBJECT_KEYS_MAX 256
/* Length of one string parameter value. */
#define PAY_STRING_LEN_MAX 5000
/* List endpoints: Stripe's 1..100, default 10. */
#define PAY_LIST_LIMIT_MAX 100
#define PAY_LIST_LIMIT_DEFAULT 10
/* The objects of one list page as stored text, answered without parsing them. */
#define PAY_LIST_TEXT_MAX (16 * 1024 * 1024)
/* Stripe's metadata rules: 50 keys, 40-character keys, 500-character values. */
#define PAY_METADATA_KEYS_MAX 50
#define PAY_METADATA_KEY_LEN_MAX 40
#define PAY_METADATA_VALUE_LEN_MAX 500
/* Idempotency-Key header, as Stripe: up to 255 characters. */
#define PAY_IDEMPOTENCY_KEY_LEN_MAX 255
/* Idempotency keys are kept at least this long (Stripe: 24 hours). */
#define PAY_IDEMPOTENCY_TTL_S (24 * 60 * 60)
/* Largest amount in minor units of any currency: 12 digits. Stripe's
 * 8-digit cap is too small for high-inflation currencies (a hospital bill
 * in SDG); 10^12 - 1 still leaves every sum of 10^6 amounts far from
 * INT64_MAX. */
#define PAY_AMOUNT_MAX_MINOR 999999999999LL
/* Object ids and secrets: prefix + 24 base62 characters (core.h: pay_id_new, pay_secret_new). */
#define PAY_ID_RANDOM_LEN 24
/* Of which the leading time part of an object id (pay_id_new). */
#define PAY_ID_TIME_LEN 8
#define PAY_ID_PREFIX_LEN_MAX 8
#define PAY_ID_LEN_MAX (PAY_ID_PREFIX_LEN_MAX + 1 + PAY_ID_RANDOM_LEN)
/* Path parameters in one route pattern. */
#define PAY_ROUTE_PARAMS_MAX 4
/* Error message text carried back to the client. */
#define PAY_ERROR_MESSAGE_MAX 256
#define PAY_ERROR_PARAM_MAX 128
/* Per-request arena: a request that needs more is answered 413. */
#define PAY_ARENA_BYTES_MAX (8 * 1024 * 1024)
/* Database connections in a PostgreSQL pool and SQLite read pool. */
#define PAY_DB_POOL_MAX 16
/* JWT: a token larger than this is refused before any decoding. */
#define PAY_JWT_BYTES_MAX 4096
/* Retries of one write transaction after a serialization failure. */
#define PAY_DB_RETRIES_MAX 8

#endif

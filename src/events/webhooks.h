/*
 * webhooks.h - outbound webhooks: endpoints, the transactional outbox, the
 * delivery worker, Stripe's signature scheme and the SSRF guard.
 *
 * At-least-once across crashes (the outbox): pay_event_append calls
 * pay_webhook_fanout inside the transaction of the event, which inserts one
 * webhook_deliveries row per enabled endpoint whose enabled_events match.
 * The rows commit with the event or not at all, so no committed event can
 * be forgotten by a crash (a cursor over events.seq could skip an event
 * whose sequence number was drawn by a transaction that committed after a
 * later one had been read; per-row outbox state has no such gap). A worker
 * claims a due row (a short transaction: row lock with SKIP LOCKED on
 * PostgreSQL, the serialised writer on SQLite), marks it in flight with a
 * lease (next_attempt_ms = end of lease, claim = random token), commits,
 * POSTs without any transaction open, then records the outcome in a second
 * transaction that only applies while it still holds the claim. A worker
 * that dies mid-call leaves a lease that expires, and the row is claimed
 * again: the event is delivered at least once, and never by two workers at
 * the same time while a lease holds (the lease outlasts the call's total
 * timeout).
 *
 * Threading: the configuration is set once (pay_webhook_configure) before
 * any thread reads it; every other function takes its caller's transaction
 * or is pure; the worker runs its own threads.
 */
#ifndef PAY_WEBHOOKS_H
#define PAY_WEBHOOKS_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "../store/store.h"

/* Stripe allows 16 endpoints per account; payd a few more. */
#define PAY_WEBHOOK_ENDPOINTS_MAX 64
/* Entries of enabled_events (Stripe lists about 250 types). */
#define PAY_WEBHOOK_EVENTS_MAX 256
#define PAY_WEBHOOK_URL_LEN_MAX 2048
#define PAY_WEBHOOK_DESCRIPTION_LEN_MAX 5000
/* Bytes of a receiver's response kept in the delivery log. */
#define PAY_WEBHOOK_RESPONSE_EXCERPT_MAX 1024
/* Attempts shown inside one delivery object. */
#define PAY_WEBHOOK_ATTEMPTS_SHOWN_MAX 100
/* Signing secrets: "whsec_" + PAY_ID_RANDOM_LEN base62 characters. */
#define PAY_WEBHOOK_SECRET_LEN_MAX (PAY_ID_LEN_MAX + 1)
/* Longest rotation overlap (Stripe: up to 7 days). */
#define PAY_WEBHOOK_ROTATION_S_MAX (7 * 24 * 3600)

struct pay_webhook_config {
    bool allow_http;         /* plain http URLs (development, tests) */
    const char *allow_hosts; /* comma-separated IP literals or host names exempt from the guard */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;         /* whole attempt */
    int64_t retry_base_ms;      /* delay after the first failure; doubles each time */
    int64_t retry_max_delay_ms; /* cap of one delay */
    int64_t retry_max_age_ms;   /* give up on a delivery this long after it was queued */
    int64_t disable_after_ms;   /* disable an endpoint failing continuously this long */
    int64_t poll_ms;            /* idle wait between looks for due deliveries */
    unsigned workers;           /* delivery threads per process */
    const char *user_agent;     /* "payd/0.1.0" */
    const char *secret_key;     /* encrypts signing secrets at rest; NULL: stored as given */
};

/* Defaults: https only, 5 s connect, 15 s total, 30 s doubling up to 6 h,
 * give up after 3 days, disable after 5 days failing, 500 ms poll, 2 threads. */
void pay_webhook_config_init(struct pay_webhook_config *c);
/* Set the process-wide configuration (copied; strings must outlive the
 * process's use of webhooks). Call once at start, before threads. */
void pay_webhook_configure(const struct pay_webhook_config *c);
/* The process-wide configuration (defaults until configured). */
const struct pay_webhook_config *pay_webhook_config(void);

/* ---- SSRF guard (ssrf.c) ----------------------------------------------- */

enum pay_addr_class {
    PAY_ADDR_PUBLIC,
    PAY_ADDR_LOOPBACK,     /* 127/8, ::1 */
    PAY_ADDR_PRIVATE,      /* 10/8, 172.16/12, 192.168/16, fec0::/10 */
    PAY_ADDR_LINK_LOCAL,   /* 169.254/16, fe80::/10 */
    PAY_ADDR_CGNAT,        /* 100.64/10 */
    PAY_ADDR_MULTICAST,    /* 224/4, ff00::/8 */
    PAY_ADDR_UNSPECIFIED,  /* 0/8, :: */
    PAY_ADDR_BROADCAST,    /* 255.255.255.255 */
    PAY_ADDR_UNIQUE_LOCAL, /* fc00::/7 */
    PAY_ADDR_RESERVED,     /* 240/4, 192.0.0/24, 198.18/15, documentation, discard prefixes */
};

/* Classify one address. IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
 * (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) IPv6 forms are
 * classified by the IPv4 address they carry. Not AF_INET/AF_INET6: RESERVED. */
enum pay_addr_class pay_addr_classify(const struct sockaddr *sa);
/* The same for a numeric literal ("10.0.0.1", "::ffff:127.0.0.1"); false
 * when @literal is not one. */
bool pay_addr_classify_str(const char *literal, enum pay_addr_class *out);
/* "loopback", "private", ... */
const char *pay_addr_class_name(enum pay_addr_class c);

/* Where a checked URL may be reached: the host as written and the one
 * address payd will connect to (pinned, so DNS cannot change it later). */
struct pay_webhook_target {
    char host[256];
    char addr[64]; /* numeric */
    unsigned port;
    bool ipv6;
};

/*
 * Check @url for delivery under @cfg: https (http only with allow_http), no
 * user name or password, a host that resolves; every address it resolves
 * to must be public unless it (or the host name) is on cfg->allow_hosts.
 * @out (may be NULL) gets the first address. PAY_ERR_PARAM_INVALID naming
 * "url" with the reason. No connection is ever made here.
 */
enum pay_err pay_webhook_url_check(const char *url, const struct pay_webhook_config *cfg,
                                   struct pay_webhook_target *out, struct pay_error *err) PAY_WUR;
/*
 * pay_webhook_url_check's outcome for a URL, found before the write
 * transaction: the check resolves the host, which can take seconds and
 * must not hold the database writer (on SQLite every other write waits).
 */
struct pay_webhook_url_verdict {
    char url[PAY_WEBHOOK_URL_LEN_MAX + 1];
    enum pay_err rc;
    struct pay_error err;
};

/* ---- Signatures, matching, backoff (pure; signing.c) ------------------- */

/*
 * Stripe's scheme: "t=@t,v1=<hex HMAC-SHA256(secret, "@t.@body")>" with one
 * v1 per secret (n_secrets 1 or 2) into @out. PAY_ERR_INTERNAL when it does
 * not fit in @out_len (160 bytes per secret suffice).
 */
enum pay_err pay_webhook_signature(const char *const *secrets, size_t n_secrets, int64_t t,
                                   const char *body, size_t body_len, char *out,
                                   size_t out_len) PAY_WUR;
/* True when enabled_events entry @pattern ("*", "payment_intent.*", an
 * exact type) matches event type @type. */
bool pay_webhook_pattern_matches(const char *pattern, const char *type);
/* True when @pattern is a valid enabled_events entry. */
bool pay_webhook_pattern_valid(const char *pattern);
/* The delay before retry number @failures (1 = after the first failure):
 * retry_base_ms * 2^(failures-1) capped at retry_max_delay_ms, then "equal
 * jitter": half of it fixed, the other half scaled by @rand (0..UINT32_MAX). */
int64_t pay_webhook_backoff_ms(const struct pay_webhook_config *c, int64_t failures, uint32_t rand);

/* ---- Endpoints, outbox, delivery log (endpoints.c) ---------------------- */

struct pay_webhook_endpoint_params {
    const char *url;
    const char *const *events; /* enabled_events; NULL when not given */
    size_t n_events;
    const char *description;
    bool has_description;
    const json_t *metadata; /* pay_arg_metadata's object: "" unsets a key; NULL absent */
    bool metadata_clear;    /* metadata="" */
    const char *api_version;
    int disabled; /* -1 not given, 0 enable, 1 disable */
    /* The URL checked already, outside the transaction; NULL (or a verdict
     * for another URL): checked here. */
    const struct pay_webhook_url_verdict *url_checked;
};

/* Create an endpoint; *out (new) is its object with "secret", shown only
 * here. PAY_ERR_PARAM_* naming url/enabled_events; PAY_ERR_CONFLICT past
 * PAY_WEBHOOK_ENDPOINTS_MAX. */
enum pay_err pay_webhook_endpoint_create(struct pay_tx *tx, const struct pay_webhook_config *cfg,
                                         const struct pay_webhook_endpoint_params *p, json_t **out,
                                         struct pay_error *err) PAY_WUR;
/* The endpoint object (never the secret); PAY_ERR_NOT_FOUND naming "id". */
enum pay_err pay_webhook_endpoint_get(struct pay_tx *tx, const char *id, json_t **out,
                                      struct pay_error *err) PAY_WUR;
/* Update the given fields; re-enabling resets the failure clock. */
enum pay_err pay_webhook_endpoint_update(struct pay_tx *tx, const struct pay_webhook_config *cfg,
                                         const char *id,
                                         const struct pay_webhook_endpoint_params *p, json_t **out,
                                         struct pay_error *err) PAY_WUR;
/* Delete; pending deliveries to it become failed. *out: {id, object, deleted}. */
enum pay_err pay_webhook_endpoint_delete(struct pay_tx *tx, const char *id, json_t **out,
                                         struct pay_error *err) PAY_WUR;
enum pay_err pay_webhook_endpoint_list(struct pay_tx *tx, const struct pay_list_args *args,
                                       json_t **data_out, bool *has_more,
                                       struct pay_error *err) PAY_WUR;
/* New secret; the old one keeps signing for @expires_in_s (0..7 days).
 * *out is the endpoint object with the new "secret". */
enum pay_err pay_webhook_endpoint_rotate(struct pay_tx *tx, const struct pay_webhook_config *cfg,
                                         const char *id, int64_t expires_in_s, json_t **out,
                                         struct pay_error *err) PAY_WUR;

/* The outbox: one pending delivery of event @event_id (@type) per enabled
 * endpoint that subscribes to it. Called by pay_event_append only. */
enum pay_err pay_webhook_fanout(struct pay_tx *tx, const char *event_id, const char *type,
                                struct pay_error *err) PAY_WUR;

/* Every delivery of @event_id, each with its "attempts" (newest first). */
enum pay_err pay_webhook_deliveries_of_event(struct pay_tx *tx, const char *event_id,
                                             json_t **data_out, struct pay_error *err) PAY_WUR;
/* A page of deliveries (newest first), of one @endpoint and one @status
 * (pending|succeeded|failed) when given. */
enum pay_err pay_webhook_deliveries_list(struct pay_tx *tx, const char *endpoint,
                                         const char *status, const struct pay_list_args *args,
                                         json_t **data_out, bool *has_more,
                                         struct pay_error *err) PAY_WUR;
/* Queue event @event_id again, to @endpoint (may be NULL: every endpoint
 * that had a delivery of it). A delivery in flight is left to finish.
 * *data_out: the deliveries queued. PAY_ERR_NOT_FOUND naming id/endpoint. */
enum pay_err pay_webhook_redeliver(struct pay_tx *tx, const char *event_id, const char *endpoint,
                                   json_t **data_out, struct pay_error *err) PAY_WUR;

/* ---- The delivery worker (worker.c) ------------------------------------- */

struct pay_webhook_worker;
/* Start cfg->workers threads delivering from @store (borrowed; must
 * outlive the worker). */
enum pay_err pay_webhook_worker_start(struct pay_store *store, const struct pay_webhook_config *cfg,
                                      struct pay_webhook_worker **out,
                                      struct pay_error *err) PAY_WUR;
/* Stop: calls in flight are aborted (their lease expires and they are
 * retried), threads joined, everything freed. NULL is fine. */
void pay_webhook_worker_stop(struct pay_webhook_worker *w);

#endif

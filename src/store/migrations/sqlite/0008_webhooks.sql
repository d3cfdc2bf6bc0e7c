-- 0008_webhooks: outbound webhooks (issue 5).
--
-- webhook_endpoints: one row per endpoint; `data` is the API object (never
-- the secret). `secret` signs every delivery; after a rotation
-- `old_secret` keeps signing beside it until `old_secret_expires` (unix s).
-- `failing_since_ms` is when the current run of failed attempts began (NULL
-- after a success): the auto-disable clock.
CREATE TABLE webhook_endpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    status TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    old_secret TEXT,
    old_secret_expires BIGINT,
    failing_since_ms BIGINT,
    data TEXT NOT NULL
);

-- The enabled_events of each endpoint, one row per pattern, so the fan-out
-- is one indexed query: an exact type (prefix 0), or for "x.*" the prefix
-- "x." and for "*" the empty prefix (prefix 1).
CREATE TABLE webhook_endpoint_events (
    endpoint TEXT NOT NULL,
    pattern TEXT NOT NULL,
    prefix BIGINT NOT NULL,
    PRIMARY KEY (endpoint, pattern, prefix)
);
CREATE INDEX webhook_endpoint_events_pattern ON webhook_endpoint_events (pattern);

-- The outbox: one row per (event, endpoint), inserted by pay_event_append in
-- the transaction of the event, so a committed event always has its
-- deliveries. status: pending | succeeded | failed. A pending row is due when
-- next_attempt_ms <= now; a worker claims it by setting `claim` (a random
-- token) and pushing next_attempt_ms to the end of its lease, so a crashed
-- worker's claim expires and the row becomes due again.
CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    event TEXT NOT NULL,
    event_type TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt_count BIGINT NOT NULL DEFAULT 0,
    retry_from_ms BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    claim TEXT,
    last_status_code BIGINT,
    last_error TEXT,
    last_attempt_at BIGINT,
    delivered_at BIGINT,
    UNIQUE (event, endpoint)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint, seq);

-- Every attempt, as the delivery log shows it. response is an excerpt of at
-- most PAY_WEBHOOK_RESPONSE_EXCERPT_MAX bytes.
CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    delivery TEXT NOT NULL,
    event TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    url TEXT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    response TEXT,
    succeeded BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery, seq);

-- The API objects of deliveries and attempts, built from the columns (so
-- pay_tx_list pages them like any object table).
CREATE VIEW webhook_delivery_objects AS
SELECT seq, id, created, endpoint, event, status, json_object(
    'id', id, 'object', 'webhook_delivery', 'created', created, 'event', event,
    'event_type', event_type, 'endpoint', endpoint, 'status', status,
    'attempt_count', attempt_count,
    'next_attempt_at', CASE WHEN status = 'pending' THEN next_attempt_ms / 1000 ELSE NULL END,
    'last_attempt_at', last_attempt_at, 'last_status_code', last_status_code,
    'last_error', last_error, 'delivered_at', delivered_at) AS data
FROM webhook_deliveries;

CREATE VIEW webhook_attempt_objects AS
SELECT seq, id, created, delivery, json_object(
    'id', id, 'object', 'webhook_delivery_attempt', 'created', created, 'delivery', delivery,
    'event', event, 'endpoint', endpoint, 'url', url, 'status_code', status_code,
    'latency_ms', latency_ms, 'error', error, 'response', response,
    'succeeded', json(CASE WHEN succeeded = 1 THEN 'true' ELSE 'false' END)) AS data
FROM webhook_attempts;

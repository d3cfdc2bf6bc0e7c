-- 0003_events: the event log (issue 3). One row per state change, written
-- in the transaction of the change; `data` is the event exactly as the API
-- returns it. `customer` is the customer the event concerns (NULL for
-- none), so a patient's token lists only its own events.

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    customer TEXT,
    request_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_customer ON events (customer, seq);
CREATE INDEX events_created ON events (created, seq);

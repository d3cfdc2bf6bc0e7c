-- 0009_audit: the hash-chained audit log (issue 8).
--
-- One row per state-changing request (and CLI action): who (actor, role),
-- what (action = method + route pattern, object = the id concerned,
-- summary = the names of the parameters sent, never their values), from
-- where (client_addr), which request (request_id), the HTTP status, when.
-- hash = SHA-256 of the row's canonical JSON, which includes prev_hash, the
-- hash of the row before it (64 zeros for the first row), so editing,
-- inserting or deleting any row breaks the chain (`payd audit verify`).
-- audit_head holds the chain's length and last hash: every append locks it
-- (SELECT ... FOR UPDATE) so concurrent transactions chain in order, and it
-- catches rows removed from the end of the chain.
--
-- Rows are append-only: the triggers refuse UPDATE and DELETE.

CREATE TABLE audit_events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    actor TEXT,
    role TEXT,
    action TEXT NOT NULL,
    object TEXT,
    summary TEXT,
    client_addr TEXT,
    request_id TEXT,
    status BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_object ON audit_events (object, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_created ON audit_events (created, seq);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, n, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION pay_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION pay_audit_append_only();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION pay_audit_append_only();

CREATE FUNCTION pay_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.n <> OLD.n + 1 OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'the audit chain head only moves forward by one';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION pay_audit_head_forward();

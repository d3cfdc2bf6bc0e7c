-- 0020_settings: facts about the database itself, one row a name.
--
-- fingerprint_key_check: HMAC-SHA256 of a fixed label under the fingerprint
-- key (hex; the key cannot be had from it). Card fingerprints are keyed by
-- that key and webhook signing secrets are sealed under a key derived from
-- it, so a payd given another key would compute other fingerprints for the
-- same cards (the fraud rules and the blocklist would no longer recognise
-- them) and could not open the stored secrets. The first payd that serves
-- the database records the check; one with another key refuses to start.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created BIGINT NOT NULL
);

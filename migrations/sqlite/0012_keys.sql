-- The keys that protect callers' data, by fingerprint only (never the key):
-- which key hashed the callers' numbers and which sealed the numbers kept
-- for callbacks. At start Senim compares its key files with the current
-- rows, so a lost or misplaced key file is a refusal, not a silent new key.
CREATE TABLE keys (
    id           INTEGER PRIMARY KEY,
    purpose      TEXT NOT NULL,     -- 'caller-hash' or 'number-seal'
    fingerprint  TEXT NOT NULL,     -- hex of HMAC-SHA-256(key, label)[..16]
    first_used   INTEGER NOT NULL,  -- ms since the epoch
    retired_at   INTEGER,           -- NULL: the key in use
    retired_why  TEXT               -- 'rotated', 'replaced' (started with --new-keys)
);
CREATE UNIQUE INDEX keys_current ON keys (purpose) WHERE retired_at IS NULL;

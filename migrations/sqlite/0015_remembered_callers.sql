-- Callers who agreed, with one key at the end of a call, to be recognised
-- when they call again. Only the keyed hash of the number is kept (never the
-- number), with the caller's language and the specialist (and service) they
-- last spoke to. A memory goes when the caller asks (the forget key), when
-- the caller's data is erased, and `[retention] remembered` after the caller
-- was last seen.
CREATE TABLE remembered_callers (
    caller_hash TEXT PRIMARY KEY NOT NULL,
    language TEXT NOT NULL,
    specialist TEXT,
    service TEXT,
    consented_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX remembered_callers_last_seen ON remembered_callers (last_seen_at);

-- Follow-ups: what the centre owes a caller it could not help at once. A
-- callback request is one (the number sealed with the number key, the
-- caller's choices about when and how); a voicemail another. The caller's
-- number exists only here, sealed, and goes when the follow-up is purged.
CREATE TABLE follow_ups (
    id               TEXT PRIMARY KEY,          -- UUID
    call_id          TEXT REFERENCES calls (id) ON DELETE SET NULL,
    kind             TEXT NOT NULL,             -- 'callback' or 'voicemail'
    created_at       INTEGER NOT NULL,
    caller_hash      TEXT,                      -- keyed hash of the number to call (finds a caller's data on request)
    number_sealed    TEXT,                      -- 'v1:' + hex(nonce || XChaCha20-Poly1305 ciphertext)
    number_source    TEXT,                      -- 'caller-id' or 'typed'
    call_window      TEXT,                      -- 'soon', 'evening', 'tomorrow'
    leave_message    INTEGER,                   -- 1: a message may be left
    say_centre_name  INTEGER,                   -- 1: the centre may say its name
    language         TEXT,                      -- 'kk' or 'ru'
    service          TEXT,                      -- legal, psychology, mediation, if known
    status           TEXT NOT NULL DEFAULT 'open',   -- open, claimed, done
    claimed_by       TEXT,                      -- specialist id
    claimed_at       INTEGER,
    completed_at     INTEGER,
    result           TEXT,                      -- how it ended (reached, no-answer, ...)
    notes            TEXT                       -- the specialists' notes
);
CREATE INDEX follow_ups_status ON follow_ups (status, created_at);
CREATE INDEX follow_ups_caller_hash ON follow_ups (caller_hash);

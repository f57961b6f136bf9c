-- One row per call, written on arrival and updated at each step, so that a
-- crash leaves an honest partial record. Times are milliseconds since the
-- Unix epoch (UTC).
CREATE TABLE calls (
    id            TEXT PRIMARY KEY,      -- Senim's own call id (UUID)
    sip_call_id   TEXT NOT NULL,         -- the SIP Call-ID, to match logs and traces
    arrived_at    INTEGER NOT NULL,
    answered_at   INTEGER,
    ended_at      INTEGER,
    caller_hash   TEXT,                  -- keyed hash (HMAC-SHA-256) of the caller's number, never the number
    language      TEXT,                  -- 'kk' or 'ru' once known
    transport     TEXT NOT NULL,         -- 'udp' or 'tcp'
    codec         TEXT,                  -- 'PCMU' or 'PCMA'
    dtmf_mode     TEXT,                  -- 'rfc4733' or 'inband' (SIP INFO is always accepted)
    outcome       TEXT,                  -- completed, caller-hangup, cancelled, rejected, no-ack, failed, shutdown
    hangup_by     TEXT                   -- 'caller', 'senim' or NULL while the call lasts
);
CREATE INDEX calls_arrived_at ON calls (arrived_at);
CREATE INDEX calls_caller_hash ON calls (caller_hash);

-- Every key the caller pressed, with when, how it arrived and in which menu.
CREATE TABLE call_digits (
    call_id  TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    digit    TEXT NOT NULL,
    source   TEXT NOT NULL,               -- 'rfc4733', 'sip-info' or 'inband'
    menu     TEXT,
    PRIMARY KEY (call_id, seq)
);

-- The caller's path: menus entered, choices, timeouts, invalid keys.
CREATE TABLE call_steps (
    call_id  TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    menu     TEXT NOT NULL,
    what     TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);

-- Who read personal data (or changed something) through the API, and when.
-- Written before the data is returned: a read that cannot be logged is
-- refused. Never the token itself, never a caller's number.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,   -- milliseconds since the Unix epoch (UTC)
    token_name  TEXT NOT NULL,      -- the `name` of the [[api.token]] used
    role        TEXT NOT NULL,      -- admin, coordinator or specialist
    action      TEXT NOT NULL,      -- read-call, list-calls-with-caller-hash, read-audit,
                                    -- pause-specialist, resume-specialist
    target      TEXT,               -- a call id or a specialist id
    detail      TEXT                -- JSON: filters, counts, results
);
CREATE INDEX audit_log_at ON audit_log (at);

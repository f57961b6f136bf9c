-- Every routing step of a call: requests, rings of specialists and their
-- results, queueing, position announcements, callback offers, transfers to
-- partners, and how routing finished with the waits. Specialists and
-- partners are named by their configured id, never by number or address.
CREATE TABLE call_routing (
    call_id     TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    step        TEXT NOT NULL,     -- requested, rang, picked-up, ring-ended, queued, position-announced,
                                   -- callback-offered, auto-paused, finished, transfer-attempt, transfer-ended
    specialist  TEXT,              -- id (for a ring-all wave: the ids joined by ',')
    partner     TEXT,              -- partner id (transfers)
    result      TEXT,              -- answered, no-answer, declined, busy, failed, cancelled; or the outcome
    wait_ms     INTEGER,           -- ring time of a ring, the wait when routing finished
    detail      TEXT NOT NULL,     -- the whole step as JSON
    PRIMARY KEY (call_id, seq)
);
CREATE INDEX call_routing_specialist ON call_routing (specialist);

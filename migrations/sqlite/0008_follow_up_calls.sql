-- Calls Senim placed to call a follow-up back (click-to-call): the
-- specialist rung first, then the person; how it ended. No numbers: the
-- number stays sealed on the follow-up.
CREATE TABLE follow_up_calls (
    id            TEXT PRIMARY KEY,          -- UUID
    follow_up_id  TEXT NOT NULL REFERENCES follow_ups (id) ON DELETE CASCADE,
    specialist    TEXT NOT NULL,             -- specialist id
    started_at    INTEGER NOT NULL,
    answered_at   INTEGER,                   -- the person answered and the two were bridged
    ended_at      INTEGER,
    outcome       TEXT                       -- talked, specialist-no-answer, callee-busy, ... (NULL while under way)
);
CREATE INDEX follow_up_calls_follow_up ON follow_up_calls (follow_up_id, started_at);

-- Several Senim instances may share one database (PostgreSQL): each call
-- and callback attempt names the instance that carries it, each instance
-- says it is alive, and a specialist rung or talking on one instance is
-- claimed by it so that no other rings them at the same time.
ALTER TABLE calls ADD COLUMN instance TEXT;                -- [database] instance of the carrier
ALTER TABLE follow_up_calls ADD COLUMN instance TEXT;
CREATE INDEX calls_open ON calls (instance) WHERE ended_at IS NULL;

CREATE TABLE instances (
    id          TEXT PRIMARY KEY,    -- [database] instance
    started_at  BIGINT NOT NULL,    -- epoch ms
    seen_at     BIGINT NOT NULL     -- the last heartbeat (epoch ms)
);

CREATE TABLE specialist_claims (
    specialist  TEXT PRIMARY KEY,    -- specialist id
    instance    TEXT NOT NULL,       -- the instance ringing or connected to them
    call_id     TEXT,                -- the call it rings them for
    since       BIGINT NOT NULL     -- epoch ms
);

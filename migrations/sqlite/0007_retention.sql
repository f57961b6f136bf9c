-- Retention: a call's timeline (call_digits, call_steps, call_routing) and
-- its caller_hash are removed when the call is older than
-- `retention.timelines`, or when the caller asks for their data to be erased.
-- What the reports and the call list derive from the timeline is first folded
-- into these columns, so the aggregates stay. NULL while the timeline is kept
-- (the queries then read the timeline itself).
ALTER TABLE calls ADD COLUMN timeline_removed_at INTEGER;          -- epoch ms of the removal
ALTER TABLE calls ADD COLUMN kept_any_routing INTEGER;             -- 1: routing ran at all
ALTER TABLE calls ADD COLUMN kept_routed INTEGER;                  -- 1: a `requested` step
ALTER TABLE calls ADD COLUMN kept_connected INTEGER;               -- 1: routing finished `connected`
ALTER TABLE calls ADD COLUMN kept_connected_wait_ms INTEGER;       -- the wait of that `finished` step
ALTER TABLE calls ADD COLUMN kept_abandoned_queue INTEGER;         -- 1: routing finished `abandoned`
ALTER TABLE calls ADD COLUMN kept_transferred INTEGER;             -- 1: a partner answered a transfer
ALTER TABLE calls ADD COLUMN kept_follow_up INTEGER;               -- 1: the call left a follow-up
ALTER TABLE calls ADD COLUMN kept_wait_ms INTEGER;                 -- wait of the last `finished` step
ALTER TABLE calls ADD COLUMN kept_queue_wait_ms INTEGER;           -- its queue wait
ALTER TABLE calls ADD COLUMN kept_routing_result TEXT;             -- its result
CREATE INDEX calls_timeline_removed ON calls (timeline_removed_at, arrived_at);
CREATE INDEX follow_ups_created_at ON follow_ups (created_at);

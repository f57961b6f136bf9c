-- Voice messages left by callers (the dialplan's <voicemail>): one per call.
-- The audio is a WAV file (8 kHz mono 16-bit, mode 0600) in the configured
-- voicemail folder, named by the call id only; this row says where it is.
-- Deleting the call deletes the row, not the file: a purge removes both.
CREATE TABLE voicemails (
    call_id      TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,   -- when the file was written (epoch ms)
    path         TEXT NOT NULL,      -- absolute path of the WAV file
    duration_ms  INTEGER NOT NULL,   -- length of the audio kept
    ended_by     TEXT NOT NULL       -- 'key', 'max-length', 'silence', 'hangup', 'call-ended'
);
CREATE INDEX voicemails_at ON voicemails (at);

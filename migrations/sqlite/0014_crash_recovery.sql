-- A voice message cut short: Senim stopped (a crash, a kill, a power loss)
-- while it was being recorded, and the next start completed the partial file
-- with the audio written until then.
ALTER TABLE voicemails ADD COLUMN cut INTEGER NOT NULL DEFAULT 0;

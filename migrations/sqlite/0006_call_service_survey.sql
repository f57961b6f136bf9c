-- The service a call asked for (legal, psychology, mediation), set when it
-- is routed, and the caller's survey score (1-5) when given: both for reports.
ALTER TABLE calls ADD COLUMN service TEXT;
ALTER TABLE calls ADD COLUMN survey_score INTEGER;
CREATE INDEX calls_service ON calls (service);

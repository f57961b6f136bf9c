-- The kind of help the specialist gave (consultation, referral,
-- crisis-intervention, information, or a kind of [[wrap_up.kind]]), from the
-- wrap-up code they pressed after the caller hung up; NULL: none given.
-- For the reports by kind.
ALTER TABLE calls ADD COLUMN wrap_up TEXT;
CREATE INDEX calls_wrap_up ON calls (wrap_up);

-- Where a call came in: the trunk (its configured id) and the line (the
-- centre's number dialled, normalised: digits, country code 7, no "+"),
-- each NULL when none matched. Neither is personal data.
ALTER TABLE calls ADD COLUMN trunk TEXT;
ALTER TABLE calls ADD COLUMN line TEXT;

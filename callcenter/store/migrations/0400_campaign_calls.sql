-- Campaign calls carry their dial id (the ATTEMPT_ID channel variable) into the call log, so
-- the dialer settles a dial by its own call, not by number and time; campaigns get the
-- script their agents read.

ALTER TABLE call_log ADD COLUMN dial_id TEXT;

CREATE INDEX call_log_dial_id ON call_log (dial_id) WHERE dial_id IS NOT NULL;

ALTER TABLE campaigns ADD COLUMN script TEXT NOT NULL DEFAULT '';

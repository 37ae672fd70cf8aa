-- Why the dialer paused a campaign on its own (a rule it could not apply, a failing store
-- call): shown on the campaign page; cleared when the campaign is resumed.
ALTER TABLE campaigns ADD COLUMN error TEXT;

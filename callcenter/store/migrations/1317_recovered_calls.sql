-- Calls that ended while the server was not listening (restart, AMI outage) are logged later
-- from the PBX's CDRs (callcenter/store/cdr_recovery.py) and marked recovered.
ALTER TABLE call_log ADD COLUMN recovered BOOLEAN NOT NULL DEFAULT FALSE;

-- Until when the server saw the PBX's events: the start of the next gap to recover.
CREATE TABLE pbx_watermark (
    pbx        TEXT PRIMARY KEY,
    seen_until REAL NOT NULL
);

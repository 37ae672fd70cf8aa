-- The automatic call log: one row per finished call, keyed by the call model's stable id.
-- Times are ISO 8601 UTC text ("2024-05-01T09:30:00Z", fixed width), so string comparison
-- is time order and range filters work without dialect date functions.
-- agents_offered and transfers are JSON arrays (text).

CREATE TABLE call_log (
    call_id        TEXT PRIMARY KEY,
    direction      TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    caller_number  TEXT NOT NULL,
    caller_name    TEXT NOT NULL,
    called_number  TEXT NOT NULL,
    queue          TEXT,
    agents_offered TEXT NOT NULL,
    agent          TEXT,
    started_at     TEXT NOT NULL,
    answered_at    TEXT,
    ended_at       TEXT NOT NULL,
    wait_s         REAL NOT NULL,
    talk_s         REAL NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN
                       ('answered', 'abandoned', 'busy', 'no_answer', 'congestion', 'failed')),
    hangup_by      TEXT CHECK (hangup_by IN ('caller', 'agent')),
    transfers      TEXT NOT NULL,
    recording      TEXT
);

CREATE INDEX call_log_started ON call_log (started_at, call_id);
CREATE INDEX call_log_agent ON call_log (agent, started_at);
CREATE INDEX call_log_queue ON call_log (queue, started_at);
CREATE INDEX call_log_caller ON call_log (caller_number);
CREATE INDEX call_log_called ON call_log (called_number);

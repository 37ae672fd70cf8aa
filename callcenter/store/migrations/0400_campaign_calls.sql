-- Campaign calls: the call log gets the dial id (the ATTEMPT_ID channel variable), so the
-- dialer settles a dial by its own call, not by number and time, and the outcome "machine"
-- (answering-machine detection); campaigns get the script their agents read.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt (SQLite's
-- "making other kinds of table schema changes" procedure). customer_calls references
-- call_log, so the runner turns foreign-key enforcement off around this script and checks
-- every reference before it commits:
-- migration: rebuilds a referenced table

CREATE TABLE call_log_new (
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
                       ('answered', 'abandoned', 'busy', 'no_answer', 'congestion', 'failed',
                        'machine')),
    hangup_by      TEXT CHECK (hangup_by IN ('caller', 'agent')),
    transfers      TEXT NOT NULL,
    recording      TEXT,
    dial_id        TEXT
);

INSERT INTO call_log_new (call_id, direction, caller_number, caller_name, called_number,
    queue, agents_offered, agent, started_at, answered_at, ended_at, wait_s, talk_s, outcome,
    hangup_by, transfers, recording)
SELECT call_id, direction, caller_number, caller_name, called_number, queue, agents_offered,
    agent, started_at, answered_at, ended_at, wait_s, talk_s, outcome, hangup_by, transfers,
    recording
FROM call_log;

DROP TABLE call_log;

ALTER TABLE call_log_new RENAME TO call_log;

CREATE INDEX call_log_started ON call_log (started_at, call_id);
CREATE INDEX call_log_agent ON call_log (agent, started_at);
CREATE INDEX call_log_queue ON call_log (queue, started_at);
CREATE INDEX call_log_caller ON call_log (caller_number);
CREATE INDEX call_log_called ON call_log (called_number);
CREATE INDEX call_log_recorded ON call_log (started_at) WHERE recording IS NOT NULL;
CREATE INDEX call_log_dial_id ON call_log (dial_id) WHERE dial_id IS NOT NULL;

ALTER TABLE campaigns ADD COLUMN script TEXT NOT NULL DEFAULT '';

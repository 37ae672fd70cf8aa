-- Agent pause intervals, for the pause-time report. One row per pause (an agent paused in
-- several queues at once is one pause). Times are ISO 8601 UTC text like the call log.

CREATE TABLE agent_pauses (
    id         INTEGER PRIMARY KEY,
    interface  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL,
    UNIQUE (interface, started_at)
);

CREATE INDEX agent_pauses_started ON agent_pauses (started_at);

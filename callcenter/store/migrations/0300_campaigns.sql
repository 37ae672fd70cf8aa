-- Outbound retention campaigns: churn scores, campaigns, their attempts (the persisted state
-- machine of callcenter/model/attempts.py) and one row per dial placed.
-- Times are ISO 8601 UTC text as in call_log; reasons and retry are JSON text.

CREATE TABLE churn_scores (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    score       REAL NOT NULL,
    reasons     TEXT NOT NULL,
    computed_at TEXT NOT NULL
);

CREATE INDEX churn_scores_score ON churn_scores (score);

CREATE TABLE campaigns (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'finished')),
    source         TEXT NOT NULL,
    queue          TEXT NOT NULL,
    mode           TEXT NOT NULL CHECK (mode IN ('preview', 'progressive', 'predictive')),
    priority       INTEGER NOT NULL,
    time_zone      TEXT NOT NULL,
    first_day      TEXT,
    last_day       TEXT,
    hours_start    TEXT,
    hours_end      TEXT,
    callee_start   TEXT NOT NULL,
    callee_end     TEXT NOT NULL,
    max_attempts   INTEGER NOT NULL,
    retry          TEXT NOT NULL,
    abandon_target REAL NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE campaign_attempts (
    attempt_id     TEXT PRIMARY KEY,
    campaign_id    INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    customer_id    INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    number         TEXT NOT NULL,
    state          TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    due_at         TEXT,
    tries          INTEGER NOT NULL,
    dials          INTEGER NOT NULL,
    dialed_at      TEXT,
    last_outcome   TEXT,
    done_reason    TEXT,
    blocked_reason TEXT,
    callback_agent TEXT,
    agent          TEXT,
    updated_at     TEXT
);

CREATE INDEX campaign_attempts_queue ON campaign_attempts (campaign_id, state, due_at);

CREATE TABLE campaign_dials (
    dial_id     TEXT PRIMARY KEY,
    attempt_id  TEXT NOT NULL REFERENCES campaign_attempts (attempt_id) ON DELETE CASCADE,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number      TEXT NOT NULL,
    dialed_at   TEXT NOT NULL,
    outcome     TEXT,
    call_id     TEXT,
    ended_at    TEXT
);

CREATE INDEX campaign_dials_campaign ON campaign_dials (campaign_id, dialed_at);

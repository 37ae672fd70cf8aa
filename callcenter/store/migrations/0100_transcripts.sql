-- Transcription jobs and transcripts (issue 8).
-- A job is one recording to transcribe: a call's MixMonitor file (its -in/-out legs are found
-- beside it) or an agent's voice note. One job per recording and one per subject, ever:
-- enqueue is INSERT ... ON CONFLICT DO NOTHING. state moves queued -> running -> done|failed;
-- a running job found at start-up was interrupted by a crash and goes back to queued.
-- Times are ISO 8601 UTC text, as in call_log. segments and keywords are JSON arrays (text).

CREATE TABLE transcription_jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('call', 'voice_note')),
    subject_id  TEXT NOT NULL,
    recording   TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    UNIQUE (kind, subject_id)
);

CREATE INDEX transcription_jobs_state ON transcription_jobs (state, created_at, id);

CREATE TABLE transcripts (
    kind        TEXT NOT NULL CHECK (kind IN ('call', 'voice_note')),
    subject_id  TEXT NOT NULL,
    segments    TEXT NOT NULL,
    full_text   TEXT NOT NULL,
    summary     TEXT NOT NULL,
    keywords    TEXT NOT NULL,
    duration_s  REAL NOT NULL,
    model       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (kind, subject_id)
);

-- The CRM in the browser (issue 16): interactions from every channel, the history of consent
-- changes, ticket assignment and due times, and the indexes the customers page sorts by.

-- An e-mail, meeting, letter, chat or social message, logged by a user or posted by an
-- integration. external_id (the other system's id) makes posting idempotent.
CREATE TABLE channel_interactions (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'meeting', 'letter', 'chat', 'social')),
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    external_id TEXT UNIQUE,
    author      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE INDEX channel_interactions_customer ON channel_interactions (customer_id, occurred_at);
CREATE INDEX channel_interactions_occurred ON channel_interactions (occurred_at, channel);

-- Who changed a consent flag or do-not-call, and when (field: may_call, may_record,
-- marketing, do_not_call).
CREATE TABLE consent_changes (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    field       TEXT NOT NULL,
    old_value   BOOLEAN NOT NULL,
    new_value   BOOLEAN NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);

CREATE INDEX consent_changes_customer ON consent_changes (customer_id, changed_at);

-- Tickets get an assignee, a category, a due time and a resolution note.
ALTER TABLE tickets ADD COLUMN assigned_to TEXT;
ALTER TABLE tickets ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN due_at TEXT;
ALTER TABLE tickets ADD COLUMN resolution TEXT NOT NULL DEFAULT '';

-- The customers page: live customers by name, newest contact, newest record.
CREATE INDEX customers_live_name ON customers (name, id) WHERE merged_into IS NULL;
CREATE INDEX customers_live_contact ON customers (last_contact_at, id) WHERE merged_into IS NULL;

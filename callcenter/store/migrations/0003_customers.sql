-- The CRM: customers with their phones, emails and addresses; the interactions of their
-- timeline (calls linked from the call log, notes, dispositions, callbacks, tickets); segments.
--
-- Usernames (owner, author, assigned_to) are kept as text, like the audit log's actors: the
-- history must outlive the accounts it mentions. Times are ISO 8601 UTC text as in call_log.
-- tags (a JSON array of strings) and custom (a JSON object) are JSON text.
-- The full-text index over names, companies, emails and notes is not here: it is the one
-- SQLite-specific part (FTS5) and lives behind callcenter/store/search.py.

CREATE TABLE customers (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'company')),
    name            TEXT NOT NULL DEFAULT '',
    company         TEXT NOT NULL DEFAULT '',
    language        TEXT,
    region          TEXT,
    time_zone       TEXT,
    tags            TEXT NOT NULL DEFAULT '[]',
    custom          TEXT NOT NULL DEFAULT '{}',
    owner           TEXT,
    may_call        BOOLEAN NOT NULL DEFAULT TRUE,
    may_record      BOOLEAN NOT NULL DEFAULT FALSE,
    marketing       BOOLEAN NOT NULL DEFAULT FALSE,
    do_not_call     BOOLEAN NOT NULL DEFAULT FALSE,
    -- Created automatically for an unknown number so that every call lands in a history.
    is_stub         BOOLEAN NOT NULL DEFAULT FALSE,
    -- Set when this record was merged into another: everything it had moved there.
    merged_into     INTEGER REFERENCES customers (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_contact_at TEXT
);

CREATE INDEX customers_owner ON customers (owner) WHERE owner IS NOT NULL;
-- Partial: only tombstones. (A full index would tempt the planner into using it for
-- "merged_into IS NULL", which is nearly every row.)
CREATE INDEX customers_merged ON customers (merged_into) WHERE merged_into IS NOT NULL;

-- number is the text as entered or imported; e164 is what lookups use.
CREATE TABLE customer_phones (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    number      TEXT NOT NULL,
    e164        TEXT NOT NULL,
    type        TEXT NOT NULL
);

-- Covering: a caller lookup reads the index only, never the table.
CREATE INDEX customer_phones_e164 ON customer_phones (e164, customer_id);
CREATE INDEX customer_phones_customer ON customer_phones (customer_id, position);

CREATE TABLE customer_emails (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    address     TEXT NOT NULL,
    type        TEXT NOT NULL
);

CREATE INDEX customer_emails_customer ON customer_emails (customer_id, position);

CREATE TABLE customer_addresses (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    type        TEXT NOT NULL,
    street      TEXT NOT NULL,
    postcode    TEXT NOT NULL,
    city        TEXT NOT NULL,
    region      TEXT NOT NULL,
    country     TEXT NOT NULL
);

CREATE INDEX customer_addresses_customer ON customer_addresses (customer_id, position);

-- Which customer a logged call belongs to. A number shared by several customers links the
-- call to each of them. Erasing a customer removes the link and blanks the number in call_log.
CREATE TABLE customer_calls (
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL REFERENCES call_log (call_id),
    started_at  TEXT NOT NULL,
    PRIMARY KEY (customer_id, call_id)
);

CREATE INDEX customer_calls_call ON customer_calls (call_id);
CREATE INDEX customer_calls_timeline ON customer_calls (customer_id, started_at);

-- call_id is not a foreign key: a note is usually written while the call is still going on,
-- before the call log has its row.
CREATE TABLE notes (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    call_id     TEXT,
    author      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE INDEX notes_customer ON notes (customer_id, created_at);

-- The wrap-up code an agent picks after a call ("sale", "no_interest", "wrong_number", ...).
CREATE TABLE dispositions (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    call_id     TEXT,
    code        TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE INDEX dispositions_customer ON dispositions (customer_id, created_at);

-- assigned_to NULL: any agent may take it.
CREATE TABLE callbacks (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    due_at      TEXT NOT NULL,
    assigned_to TEXT,
    state       TEXT NOT NULL CHECK (state IN ('open', 'done', 'cancelled')),
    note        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX callbacks_due ON callbacks (state, due_at);
CREATE INDEX callbacks_customer ON callbacks (customer_id, due_at);

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('ticket', 'complaint')),
    subject     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX tickets_customer ON tickets (customer_id, status);
CREATE INDEX tickets_status ON tickets (status, updated_at);

CREATE TABLE ticket_calls (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    call_id   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, call_id)
);

-- A saved customer filter, e.g. {"no_contact_days": 90, "open_ticket": "complaint"}.
CREATE TABLE segments (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    filter     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The retention job looks for old calls that still have a recording.
CREATE INDEX call_log_recorded ON call_log (started_at) WHERE recording IS NOT NULL;

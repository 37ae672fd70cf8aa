-- Imports as batches (issue 16 item 6) and orders and contracts from the ERP (item 4).

-- One CSV upload: what it imported, how far it got (bytes_read of bytes_total, rows done,
-- errors so far), and its rejected rows (import_rejects) with their reasons.
CREATE TABLE import_batches (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('customers', 'interactions', 'orders', 'contracts')),
    filename    TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    bytes_total INTEGER NOT NULL,
    bytes_read  INTEGER NOT NULL DEFAULT 0,
    rows        INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    mapping     TEXT NOT NULL
);

CREATE INDEX import_batches_created ON import_batches (created_at);

CREATE TABLE import_rejects (
    batch_id INTEGER NOT NULL REFERENCES import_batches (id) ON DELETE CASCADE,
    row      INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    cells    TEXT NOT NULL
);

CREATE INDEX import_rejects_batch ON import_rejects (batch_id, row);

-- What a customer bought, when, for how much (amount in cents of currency). external_id is
-- the ERP's id: the same one again updates the order instead of adding one.
CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    external_id  TEXT NOT NULL UNIQUE,
    customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    ordered_at   TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE INDEX orders_customer ON orders (customer_id, ordered_at);
CREATE INDEX orders_ordered ON orders (ordered_at);

-- A contract with its start and (optional) end date, YYYY-MM-DD.
CREATE TABLE contracts (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    product     TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX contracts_customer ON contracts (customer_id, ends_on);
CREATE INDEX contracts_ends ON contracts (ends_on);

-- One wrap-up per call and agent: the disposition, note and callback an agent saved together
-- (one transaction). The unique key makes a retried wrap-up (a lost response, a double click)
-- answer with what was saved instead of saving it twice. Rows go with their disposition
-- (a GDPR erasure deletes the customer's dispositions); a merge moves the rows it names.
CREATE TABLE wrapups (
    id             INTEGER PRIMARY KEY,
    call_id        TEXT NOT NULL,
    author         TEXT NOT NULL,
    disposition_id INTEGER NOT NULL REFERENCES dispositions (id) ON DELETE CASCADE,
    note_id        INTEGER REFERENCES notes (id) ON DELETE SET NULL,
    callback_id    INTEGER REFERENCES callbacks (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (call_id, author)
);

CREATE INDEX wrapups_disposition ON wrapups (disposition_id);

"""Migration 0400 rebuilds call_log (a new outcome in its CHECK, the dial id column): calls
logged before it, and the customers they are linked to, come through unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter.model.records import Outcome
from callcenter.store import CallLog, Database
from callcenter.store.database import bundled_migrations

OLD = [m for m in bundled_migrations() if m.version < 400]


async def test_calls_and_their_customer_links_survive_the_rebuild(
    tmp_path: Path, make_call: Any
) -> None:
    path = tmp_path / "old.db"
    old = await Database.open(path, migrations=OLD)
    async with old.transaction() as conn:
        await conn.execute(
            "INSERT INTO call_log (call_id, direction, caller_number, caller_name,"
            " called_number, queue, agents_offered, agent, started_at, answered_at, ended_at,"
            " wait_s, talk_s, outcome, hangup_by, transfers, recording) VALUES"
            " ('1.1', 'inbound', '+4930100001', 'A', '', 'support', '[]', NULL,"
            " '2026-03-02T10:00:00Z', NULL, '2026-03-02T10:00:05Z', 5, 0, 'abandoned', 'caller',"
            " '[]', NULL)"
        )
        await conn.execute(
            "INSERT INTO customers (name, kind, created_at, updated_at)"
            " VALUES ('A', 'person', '2026-03-02T09:00:00Z', '2026-03-02T09:00:00Z')"
        )
        await conn.execute(
            "INSERT INTO customer_calls (customer_id, call_id, started_at)"
            " VALUES (1, '1.1', '2026-03-02T10:00:00Z')"
        )
    await old.close()

    db = await Database.open(path)
    try:
        log = CallLog(db)
        row = await log.get("1.1")
        assert (row["outcome"], row["caller_name"], row["dial_id"]) == ("abandoned", "A", None)
        await log.add_many([make_call("2.1", outcome=Outcome.MACHINE, dial_id="c1-1.1")])
        assert (await log.get("2.1"))["outcome"] == "machine"
        async with db.reading() as conn:
            links = list(await conn.execute_fetchall("SELECT call_id FROM customer_calls"))
            broken = list(await conn.execute_fetchall("PRAGMA foreign_key_check"))
        assert links == [("1.1",)]
        assert broken == []
    finally:
        await db.close()

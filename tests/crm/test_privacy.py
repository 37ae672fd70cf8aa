"""GDPR: the export of one customer, erasure (data, notes, recording files; anonymous call
statistics stay) and recording retention - on real files."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.crm.customers import parse_customer
from callcenter.crm.phones import PhoneNormalizer
from callcenter.crm.privacy import PrivacyService, RecordingFiles
from callcenter.errors import NotFoundError
from callcenter.model.records import Direction
from callcenter.store import (
    CallbackState,
    CallLog,
    Customers,
    Database,
    Interactions,
    Privacy,
    TicketKind,
)

NUMBERS = PhoneNormalizer("DE")
NOW = 1714550400.0
DAY = 86400.0


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def customers(db: Database) -> Customers:
    return Customers(db, NUMBERS, clock=lambda: NOW)


@pytest.fixture
def call_log(db: Database, customers: Customers) -> CallLog:
    return CallLog(db, linker=customers.link_calls)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "monitor"
    folder.mkdir()
    return folder


def service(db: Database, spool: Path, clock: list[float], days: int = 0) -> PrivacyService:
    return PrivacyService(
        Privacy(db), RecordingFiles(str(spool)), retention_days=days, clock=lambda: clock[0]
    )


def recording(spool: Path, name: str, *, legs: bool = True) -> str:
    main = spool / f"{name}.wav"
    main.write_bytes(b"RIFF")
    if legs:
        (spool / f"{name}-in.wav").write_bytes(b"RIFF")
        (spool / f"{name}-out.wav").write_bytes(b"RIFF")
    return str(main)


def read_all(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as raw:
        return raw.execute(sql).fetchall()


@pytest.fixture
async def anna(
    customers: Customers, call_log: CallLog, db: Database, spool: Path, make_call: Any
) -> dict[str, Any]:
    """A customer with calls (one recorded, one outbound), a note, a callback, a ticket,
    and a merged-in stub; plus an unrelated call by someone else."""
    anna = await customers.create(
        parse_customer(
            {
                "name": "Anna Müller",
                "phones": ["030 123456"],
                "emails": ["anna.mueller@example.com"],
            },
            NUMBERS,
        )
    )
    await call_log.add_many(
        [
            make_call("in1", caller_number="+4930123456", recording=recording(spool, "in1")),
            make_call(
                "out1",
                started_at=NOW + 60,
                direction=Direction.OUTBOUND,
                caller_number="2001",
                caller_name="Agent",
                called_number="030123456",
                recording=None,
            ),
            make_call(
                "stubcall",
                started_at=NOW + 120,
                caller_number="040 999888",
                recording=recording(spool, "stubcall", legs=False),
            ),
            make_call(
                "other",
                started_at=NOW + 180,
                caller_number="089 55555",
                caller_name="Zoe",
                recording=None,
            ),
        ]
    )
    [stub] = (await customers.lookup("040 999888")).customers
    await customers.merge(anna["id"], stub["id"])
    interactions = Interactions(db, clock=lambda: NOW)
    await interactions.add_note(anna["id"], author="ann", body="Anna prefers mornings")
    callback = await interactions.add_callback(
        anna["id"], due_at="2024-05-02T09:00:00Z", assigned_to=None, note="", created_by="ann"
    )
    await interactions.update_callback(callback["id"], state=CallbackState.DONE)
    await interactions.add_ticket(
        anna["id"], kind=TicketKind.COMPLAINT, subject="noise", created_by="ann", calls=["in1"]
    )
    return {**anna, "stub_id": stub["id"]}


async def test_export_has_everything_about_the_customer(
    db: Database, spool: Path, clock: list[float], anna: dict[str, Any]
) -> None:
    dossier = await service(db, spool, clock).dossier(anna["id"])
    assert dossier["customer"]["name"] == "Anna Müller"
    assert [c["id"] for c in dossier["merged_records"]] == [anna["stub_id"]]
    assert [c["call_id"] for c in dossier["calls"]] == ["in1", "out1", "stubcall"]
    assert [n["body"] for n in dossier["notes"]] == ["Anna prefers mornings"]
    assert [c["state"] for c in dossier["callbacks"]] == ["done"]
    assert [(t["subject"], t["calls"]) for t in dossier["tickets"]] == [("noise", ["in1"])]
    assert dossier["recordings"] == [
        {"call_id": "in1", "path": str(spool / "in1.wav")},
        {"call_id": "stubcall", "path": str(spool / "stubcall.wav")},
    ]


async def test_erasure_removes_data_notes_and_recordings_but_keeps_statistics(
    db: Database, db_path: Path, spool: Path, clock: list[float], anna: dict[str, Any]
) -> None:
    privacy = service(db, spool, clock)
    report = await privacy.erase(anna["id"])
    assert sorted(report.customer_ids) == sorted([anna["id"], anna["stub_id"]])
    assert report.calls_anonymised == 3
    assert sorted(Path(p).name for p in report.files.deleted) == [
        "in1-in.wav",
        "in1-out.wav",
        "in1.wav",
        "stubcall.wav",
    ]
    assert report.files.failed == []
    assert files_in(spool) == []
    # Personal data is gone from every table (Zoe, an unrelated caller, stays) ...
    assert query(db_path, "SELECT name FROM customers") == [("Zoe",)]
    assert query(db_path, "SELECT e164 FROM customer_phones") == [("+498955555",)]
    assert query(db_path, "SELECT call_id FROM customer_calls") == [("other",)]
    assert query(db_path, "SELECT name FROM customer_search") == [("Zoe",)]
    for table in (
        "customer_emails",
        "notes",
        "note_search",
        "callbacks",
        "tickets",
        "ticket_calls",
    ):
        assert query(db_path, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    # ... while the calls stay, anonymous, for statistics.
    calls = query(
        db_path,
        "SELECT call_id, caller_number, caller_name, called_number, queue, talk_s, recording"
        " FROM call_log ORDER BY call_id",
    )
    assert calls == [
        ("in1", "", "", "100", "support", 60.0, None),
        ("other", "089 55555", "Zoe", "100", "support", 60.0, None),
        ("out1", "2001", "Agent", "", "support", 60.0, None),
        ("stubcall", "", "", "100", "support", 60.0, None),
    ]
    with pytest.raises(NotFoundError):
        await privacy.dossier(anna["id"])
    # After the scheduled purge no trace is left in the database file.
    await privacy.maintain()
    raw = read_all(db_path.parent)
    for secret in (b"mueller@example", b"mornings", b"Anna", b"4930123456", b"999888"):
        assert secret not in raw, secret


async def test_erasure_reports_files_it_may_not_delete(
    db: Database, tmp_path: Path, spool: Path, clock: list[float], anna: dict[str, Any]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    privacy = PrivacyService(
        Privacy(db), RecordingFiles(str(elsewhere)), retention_days=0, clock=lambda: NOW
    )
    report = await privacy.erase(anna["id"])
    assert report.files.deleted == []
    assert {why for _, why in report.files.failed} == {f"outside {elsewhere.resolve()}"}
    assert (spool / "in1.wav").exists()


async def test_erasing_a_merged_record_points_to_the_kept_one(
    db: Database, spool: Path, clock: list[float], anna: dict[str, Any]
) -> None:
    with pytest.raises(NotFoundError, match=f"merged into {anna['id']}"):
        await service(db, spool, clock).erase(anna["stub_id"])


async def test_retention_deletes_old_recordings_only(
    db: Database, db_path: Path, call_log: CallLog, spool: Path, make_call: Any
) -> None:
    await call_log.add_many(
        [
            make_call("old", started_at=NOW, recording=recording(spool, "old")),
            make_call("new", started_at=NOW + 20 * DAY, recording=recording(spool, "new")),
            make_call("gone", started_at=NOW + DAY / 2, recording=str(spool / "missing.wav")),
        ]
    )
    clock = [NOW + 31 * DAY]
    assert (await service(db, spool, clock, days=0).apply_retention()).deleted == []
    result = await service(db, spool, clock, days=30).apply_retention()
    assert sorted(Path(p).name for p in result.deleted) == ["old-in.wav", "old-out.wav", "old.wav"]
    assert files_in(spool) == ["new-in.wav", "new-out.wav", "new.wav"]
    assert query(db_path, "SELECT call_id, recording IS NULL FROM call_log ORDER BY call_id") == [
        ("gone", 1),
        ("new", 0),
        ("old", 1),
    ]


def test_recording_legs() -> None:
    assert [str(p) for p in RecordingFiles.legs("/r/1714.12.wav")] == [
        "/r/1714.12.wav",
        "/r/1714.12-in.wav",
        "/r/1714.12-out.wav",
    ]
    result = RecordingFiles("/r").delete(["relative/x.wav"])
    assert result.failed[0][1] == "not an absolute path"
    assert RecordingFiles().delete(["/r/x.wav"]).failed[0][1] == "crm.recordings_dir is not set"

"""Reading the PBX's CDR file and filling gaps with it (callcenter/store/cdr_recovery.py)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.model.endpoints import PbxEndpoints
from callcenter.model.events import Channel, ChannelSnapshot
from callcenter.model.records import CallRecord
from callcenter.store import CallLog, Database
from callcenter.store.cdr_recovery import CdrRecovery, read_cdr_tail

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "kit_calls.cdr.jsonl"
LINES = FIXTURE.read_bytes().splitlines(keepends=True)
ENDS = {
    json.loads(line)["linkedid"]: max(
        json.loads(other)["end"]
        for other in LINES
        if json.loads(other)["linkedid"] == json.loads(line)["linkedid"]
    )
    for line in LINES
}
FIRST, LAST = min(ENDS.values()), max(ENDS.values())


@pytest.fixture
def cdr(tmp_path: Path) -> Path:
    path = tmp_path / "callcenter.json"
    path.write_bytes(b"".join(LINES))
    return path


def test_the_tail_is_every_row_after_the_watermark(cdr: Path) -> None:
    tail = read_cdr_tail(cdr, FIRST, max_bytes=1 << 20)
    assert len(tail.rows) == len(LINES) and tail.bad_lines == 0 and not tail.truncated
    assert [r.linkedid for r in tail.rows] == [json.loads(line)["linkedid"] for line in LINES]


def test_a_line_being_written_and_garbage_are_skipped(cdr: Path) -> None:
    with cdr.open("ab") as file:
        file.write(b'garbage\n{"format": "cc-cdr-1", "linkedid": "../x"}\n\xff\xfe\n')
        file.write(LINES[0][:40])  # no newline yet
    tail = read_cdr_tail(cdr, FIRST, max_bytes=1 << 20)
    assert len(tail.rows) == len(LINES) and tail.bad_lines == 3


def test_reading_stops_long_before_the_watermark_and_at_the_byte_cap(tmp_path: Path) -> None:
    old = json.loads(LINES[0])
    old_lines = []
    for n in range(3000):  # a day-old history in front of the recorded calls
        old_lines.append(json.dumps({**old, "linkedid": f"1.{n}", "start": 1000.0, "end": 1001.0}))
    path = tmp_path / "big.json"
    path.write_bytes(("\n".join(old_lines) + "\n").encode() + b"".join(LINES))
    tail = read_cdr_tail(path, FIRST, max_bytes=1 << 30)
    assert {r.linkedid for r in tail.rows} >= set(ENDS)
    assert len(tail.rows) < 1000  # stopped a block or so into the old history
    capped = read_cdr_tail(path, 1000.0, max_bytes=64 * 1024)
    assert capped.truncated and {r.linkedid for r in capped.rows} >= set(ENDS)


def test_only_a_regular_file_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_cdr_tail(fifo, 0, max_bytes=1024)
    with pytest.raises(OSError):
        read_cdr_tail(tmp_path / "missing", 0, max_bytes=1024)


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


def recovery(db: Database, cdr: Path, out: list[CallRecord], **kw: Any) -> CdrRecovery:
    return CdrRecovery(db, CallLog(db), out.append, PbxEndpoints(), cdr, **kw)


def snapshot_of(linkedid: str) -> ChannelSnapshot:
    channel = Channel("PJSIP/carrier-00000001", linkedid, linkedid, 6, "", "", "inbound", "s")
    return ChannelSnapshot(channel, "Queue", "support", 3, "")


async def test_a_gap_is_recovered_once_and_the_watermark_survives(db: Database, cdr: Path) -> None:
    out: list[CallRecord] = []
    first = recovery(db, cdr, out)
    await first.load()
    assert first.seen_until is None
    assert await first.recover(None, LAST + 1, ()) == 0  # a fresh database: nothing
    first.on_event(snapshot_of("x"), FIRST - 0.5)
    await first.close(connected=False)

    second = recovery(db, cdr, out)
    await second.load()
    assert second.seen_until == FIRST - 0.5
    live = sorted(ENDS)[-1]
    second.on_resync([snapshot_of(live)], LAST + 1)
    gap = second._gaps.get_nowait()
    assert gap == (FIRST - 0.5, LAST + 1, frozenset({live}))
    assert await second.recover(*gap) == len(ENDS) - 1
    assert {c.call_id for c in out} == set(ENDS) - {live}
    assert all(c.recovered for c in out)
    await CallLog(db).add_many(out)
    assert await second.recover(*gap) == 0  # all logged already
    assert second.seen_until == LAST + 1


async def test_a_long_gap_is_cut_to_max_gap(db: Database, cdr: Path) -> None:
    out: list[CallRecord] = []
    rec = recovery(db, cdr, out, max_gap_s=LAST - FIRST)
    assert await rec.recover(0.0, LAST, ()) == len(ENDS) - 1  # the first call is older


async def test_an_unreadable_file_is_logged_not_fatal(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out: list[CallRecord] = []
    rec = recovery(db, tmp_path / "missing.json", out)
    assert await rec.recover(FIRST - 1, LAST + 1, ()) == 0
    assert "cannot read" in caplog.text

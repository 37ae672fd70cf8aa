"""Reports from a real SQLite call log and pause log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.model.board import PauseInterval
from callcenter.model.records import Direction, Outcome
from callcenter.store import CallLog, Database
from callcenter.store.reports import GroupBy, Reports, rows_as_csv_lines

T0 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC).timestamp()  # Friday 08:30 UTC


async def test_summary_by_queue_agent_day_and_hour(tmp_path: Path, make_call: Any) -> None:
    db = await Database.open(tmp_path / "r.db")
    calls = [
        make_call("a", T0, wait_s=5.0, talk_s=100.0, agent="PJSIP/2001"),
        make_call("b", T0 + 60, wait_s=30.0, talk_s=200.0, agent="PJSIP/2002"),
        make_call(
            "c",
            T0 + 3600,
            queue="sales",
            outcome=Outcome.ABANDONED,
            agent=None,
            answered_at=None,
            wait_s=40.0,
            talk_s=0.0,
        ),
        make_call(
            "d",
            T0 + 86400,
            queue=None,
            direction=Direction.OUTBOUND,
            agent="PJSIP/2001",
            wait_s=3.0,
            talk_s=50.0,
        ),
        make_call("old", T0 - 30 * 86400),
    ]
    await CallLog(db).add_many(calls)
    reports = Reports(db)
    await reports.add_pauses(
        [
            PauseInterval("PJSIP/2001", "lunch", T0, T0 + 1800),
            PauseInterval("PJSIP/2001", "lunch", T0 + 7200, T0 + 7500),
            PauseInterval("PJSIP/2002", "meeting", T0, T0 + 600),
        ]
    )
    await reports.add_pauses([PauseInterval("PJSIP/2002", "meeting", T0, T0 + 600)])  # again
    start = datetime(2026, 11, 20, tzinfo=UTC)
    end = datetime(2026, 11, 22, tzinfo=UTC)

    by_queue = await reports.summary(start, end, GroupBy.QUEUE, service_level_s=20, tz=UTC)
    assert [r["key"] for r in by_queue] == ["sales", "support", "total"]
    support = by_queue[1]
    assert (support["offered"], support["answered"], support["abandoned"]) == (2, 2, 0)
    assert support["service_level"] == 0.5  # 5 s within 20 s, 30 s not
    assert support["avg_wait_s"] == 17.5
    assert support["avg_handle_s"] == 150.0
    total = by_queue[-1]
    assert (total["offered"], total["abandoned"], total["outbound"]) == (3, 1, 1)
    assert total["service_level"] == round(1 / 3, 4)

    by_agent = await reports.summary(start, end, GroupBy.AGENT, service_level_s=20, tz=UTC)
    agent1 = next(r for r in by_agent if r["key"] == "PJSIP/2001")
    assert agent1["pause_s"] == {"lunch": 2100.0}
    assert agent1["outbound"] == 1
    agent2 = next(r for r in by_agent if r["key"] == "PJSIP/2002")
    assert agent2["pause_s"] == {"meeting": 600.0}  # the duplicate was ignored

    by_day = await reports.summary(start, end, GroupBy.DAY, service_level_s=20, tz=UTC)
    assert [r["key"] for r in by_day] == ["2026-11-20", "2026-11-21", "total"]

    berlin = await reports.summary(
        start, end, GroupBy.HOUR, service_level_s=20, tz=ZoneInfo("Europe/Berlin")
    )
    assert berlin[0]["key"] == "2026-11-20 09:00"  # 08:30 UTC is 09:30 in Berlin

    csv_lines = rows_as_csv_lines(by_agent)
    assert csv_lines[0][:3] == ["key", "offered", "answered"]
    assert "pause:lunch" in csv_lines[0]

    today = await reports.calls_since(T0 + 86400)
    assert [c.call_id for c in today] == ["d"]
    await db.close()


def test_report_csv_defuses_formulas_like_every_export() -> None:
    """A queue named like a formula was exported raw by /api/reports.csv (item 11)."""
    from callcenter.crm.csv_export import encode_rows

    text = encode_rows([["key", "offered"], ['=HYPERLINK("http://x")', 3], ["-5", -0.5]])
    assert text.decode().splitlines() == [
        "key,offered",
        '"\'=HYPERLINK(""http://x"")",3',
        "-5,-0.5",
    ]

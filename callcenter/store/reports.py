"""Reports from the call log and the pause log: volumes, answered and abandoned, service
level, average handle time, pause time by reason — by queue, agent, day or hour.

Rows are aggregated here in Python from one range query (indexed on ``started_at``), which
keeps the SQL portable and lets days and hours follow the center's time zone instead of UTC.
A call counts in the period it started in; a pause in the period it started in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from callcenter.model.board import PauseInterval
from callcenter.model.records import CallRecord, iso
from callcenter.store.calllog import call_json, select_calls
from callcenter.store.database import Database


class GroupBy(enum.Enum):
    QUEUE = "queue"
    AGENT = "agent"
    DAY = "day"
    HOUR = "hour"


@dataclass(slots=True)
class _Totals:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within_sl: int = 0
    wait_s: float = 0.0
    talk_s: float = 0.0
    outbound: int = 0
    pauses: dict[str, float] = field(default_factory=dict)

    def row(self, key: str) -> dict[str, Any]:
        closed = self.answered + self.abandoned
        return {
            "key": key,
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "outbound": self.outbound,
            "service_level": round(self.within_sl / closed, 4) if closed else None,
            "avg_wait_s": round(self.wait_s / self.answered, 1) if self.answered else None,
            # Handle time: talk time of answered calls (wrap-up is not measured by the PBX).
            "avg_handle_s": round(self.talk_s / self.answered, 1) if self.answered else None,
            "pause_s": {reason: round(s, 1) for reason, s in sorted(self.pauses.items())},
        }


_CALLS = (
    "SELECT started_at, queue, agent, direction, outcome, wait_s, talk_s FROM call_log"
    " WHERE started_at >= ? AND started_at < ?"
)
_PAUSES = (
    "SELECT interface, reason, started_at, ended_at FROM agent_pauses"
    " WHERE started_at >= ? AND started_at < ?"
)


class Reports:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_pauses(self, pauses: Sequence[PauseInterval]) -> None:
        if not pauses:
            return
        rows = [(p.interface, p.reason, iso(p.started_at), iso(p.ended_at)) for p in pauses]
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO agent_pauses (interface, reason, started_at, ended_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (interface, started_at) DO NOTHING",
                rows,
            )

    async def calls_since(self, since: float) -> list[CallRecord]:
        """Calls that ended at or after ``since`` (today's counters after a restart)."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                f"{select_calls('c')} FROM call_log c WHERE c.ended_at >= ?", (iso(since),)
            )
        return [CallRecord.from_dict(call_json(row)) for row in rows]

    async def summary(
        self,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        *,
        service_level_s: float,
        tz: tzinfo,
    ) -> list[dict[str, Any]]:
        """One row per group (sorted by key) and a last row ``key = "total"``."""
        bounds = (iso(start.timestamp()), iso(end.timestamp()))
        async with self._db.reading() as conn:
            calls = await conn.execute_fetchall(_CALLS, bounds)
            pauses = await conn.execute_fetchall(_PAUSES, bounds)
        groups: dict[str, _Totals] = {}
        total = _Totals()
        for started, queue, agent, direction, outcome, wait_s, talk_s in calls:
            _count(total, direction, outcome, wait_s, talk_s, service_level_s)
            key = _key(group_by, tz, started, queue, agent)
            if key is not None:  # calls outside any queue (or agent) count in the total only
                _count(
                    groups.setdefault(key, _Totals()),
                    direction,
                    outcome,
                    wait_s,
                    talk_s,
                    service_level_s,
                )
        if group_by is not GroupBy.QUEUE:
            for interface, reason, started, ended in pauses:
                key = _key(group_by, tz, started, None, interface)
                seconds = _seconds(ended) - _seconds(started)
                buckets = [total] if key is None else [groups.setdefault(key, _Totals()), total]
                for bucket in buckets:
                    bucket.pauses[reason or "-"] = bucket.pauses.get(reason or "-", 0.0) + seconds
        return [groups[key].row(key) for key in sorted(groups)] + [total.row("total")]


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _key(
    group_by: GroupBy, tz: tzinfo, started: str, queue: str | None, agent: str | None
) -> str | None:
    if group_by is GroupBy.QUEUE:
        return queue
    if group_by is GroupBy.AGENT:
        return agent
    local = datetime.fromtimestamp(_seconds(started), tz)
    if group_by is GroupBy.DAY:
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:00")


def _count(
    bucket: _Totals, direction: str, outcome: str, wait_s: float, talk_s: float, sl_s: float
) -> None:
    if direction == "outbound":
        bucket.outbound += 1
        if outcome == "answered":
            bucket.talk_s += talk_s
        return
    bucket.offered += 1
    if outcome == "answered":
        bucket.answered += 1
        bucket.wait_s += wait_s
        bucket.talk_s += talk_s
        if wait_s <= sl_s:
            bucket.within_sl += 1
    elif outcome == "abandoned":
        bucket.abandoned += 1


def rows_as_csv_lines(rows: Iterable[dict[str, Any]]) -> list[list[str]]:
    """The report as CSV rows (a header, then one line per group; pause time by reason as
    ``pause:<reason>`` columns)."""
    rows = list(rows)
    reasons = sorted({reason for row in rows for reason in row["pause_s"]})
    head = [
        "key",
        "offered",
        "answered",
        "abandoned",
        "outbound",
        "service_level",
        "avg_wait_s",
        "avg_handle_s",
        *(f"pause:{r}" for r in reasons),
    ]
    lines = [head]
    for row in rows:
        lines.append(
            [
                str(row["key"]),
                *("" if row[c] is None else str(row[c]) for c in head[1:8]),
                *(str(row["pause_s"].get(r, "")) for r in reasons),
            ]
        )
    return lines

"""Campaigns, their attempts and dials, and churn scores: the SQL of outbound retention.

Attempts are the rows of :class:`callcenter.model.attempts.Attempt`; every write of an attempt
is its own committed transaction, so the dialer can persist ``dialing`` *before* it sends the
Originate (a crash in between leaves a ``dialing`` row that ``reconcile`` settles, never a
second Originate of that dial id). Do-not-call and consent are read fresh for every dial
(:meth:`Campaigns.number_status`), never cached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callcenter.errors import ConflictError, NotFoundError
from callcenter.model.attempts import (
    Attempt,
    AttemptState,
    DialOutcome,
    DoneReason,
    Refusal,
)
from callcenter.model.records import iso
from callcenter.store.database import Database

CAMPAIGN_STATES = ("draft", "running", "paused", "finished")


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A campaign's definition as stored. Days ``YYYY-MM-DD``, hours ``HH:MM``; ``retry``
    maps outcome names to minutes (``None``: not retried)."""

    name: str
    queue: str
    mode: str = "progressive"
    priority: int = 0
    time_zone: str = "UTC"
    first_day: str | None = None
    last_day: str | None = None
    hours_start: str | None = None
    hours_end: str | None = None
    callee_start: str = "08:00"
    callee_end: str = "21:00"
    max_attempts: int = 3
    retry: dict[str, float | None] | None = None
    abandon_target: float = 0.03
    source: str = "manual"
    script: str = ""  # what the agent says: shown on the preview card and the screen pop


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    state: str
    spec: CampaignSpec
    created_by: str
    created_at: str
    updated_at: str
    error: str | None = None
    """Why the dialer paused this campaign on its own (None otherwise)."""

    def to_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": self.id,
            "name": s.name,
            "state": self.state,
            "source": s.source,
            "queue": s.queue,
            "mode": s.mode,
            "priority": s.priority,
            "time_zone": s.time_zone,
            "first_day": s.first_day,
            "last_day": s.last_day,
            "hours_start": s.hours_start,
            "hours_end": s.hours_end,
            "callee_start": s.callee_start,
            "callee_end": s.callee_end,
            "max_attempts": s.max_attempts,
            "retry": s.retry or {},
            "abandon_target": s.abandon_target,
            "script": s.script,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One number of the call list."""

    number: str
    customer_id: int | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """The customer's flags right now (``None`` customer: a number without a record)."""

    do_not_call: bool
    may_call: bool
    time_zone: str | None


_CAMPAIGN_COLUMNS = (
    "id, state, name, source, queue, mode, priority, time_zone, first_day, last_day,"
    " hours_start, hours_end, callee_start, callee_end, max_attempts, retry, abandon_target,"
    " created_by, created_at, updated_at, script, error"
)
_ATTEMPT_COLUMNS = (
    "attempt_id, campaign_id, number, state, priority, due_at, tries, dials, dialed_at,"
    " last_outcome, done_reason, blocked_reason, callback_agent, agent, updated_at, customer_id"
)


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _text(moment: datetime | None) -> str | None:
    return iso(moment.timestamp()) if moment is not None else None


def _campaign(row: Sequence[Any]) -> Campaign:
    spec = CampaignSpec(
        name=row[2],
        source=row[3],
        queue=row[4],
        mode=row[5],
        priority=int(row[6]),
        time_zone=row[7],
        first_day=row[8],
        last_day=row[9],
        hours_start=row[10],
        hours_end=row[11],
        callee_start=row[12],
        callee_end=row[13],
        max_attempts=int(row[14]),
        retry=json.loads(row[15]),
        abandon_target=float(row[16]),
        script=row[20],
    )
    return Campaign(int(row[0]), row[1], spec, row[17], row[18], row[19], row[21])


def attempt_of(row: Sequence[Any]) -> Attempt:
    return Attempt(
        attempt_id=row[0],
        campaign_id=str(row[1]),
        number=row[2],
        state=AttemptState(row[3]),
        priority=int(row[4]),
        due_at=_dt(row[5]),
        tries=int(row[6]),
        dials=int(row[7]),
        dialed_at=_dt(row[8]),
        last_outcome=DialOutcome(row[9]) if row[9] else None,
        done_reason=DoneReason(row[10]) if row[10] else None,
        blocked_reason=Refusal(row[11]) if row[11] else None,
        callback_agent=row[12],
        agent=row[13],
        updated_at=_dt(row[14]),
    )


class Campaigns:
    """Repository of campaigns, attempts, dials and churn scores."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def _now(self) -> str:
        return iso(self._clock()) or ""

    # --- campaigns -------------------------------------------------------------------------

    async def create(
        self, spec: CampaignSpec, entries: Sequence[ListEntry], *, created_by: str
    ) -> Campaign:
        """The campaign in ``draft`` with one pending attempt per distinct number."""
        now = self._now()
        async with self._db.transaction() as conn:
            existing = await conn.execute_fetchall(
                "SELECT id FROM campaigns WHERE name = ?", (spec.name,)
            )
            if list(existing):
                raise ConflictError(f"a campaign named {spec.name!r} exists")
            cursor = await conn.execute(
                "INSERT INTO campaigns (state, name, source, queue, mode, priority, time_zone,"
                " first_day, last_day, hours_start, hours_end, callee_start, callee_end,"
                " max_attempts, retry, abandon_target, created_by, created_at, updated_at, script)"
                " VALUES ('draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    spec.name,
                    spec.source,
                    spec.queue,
                    spec.mode,
                    spec.priority,
                    spec.time_zone,
                    spec.first_day,
                    spec.last_day,
                    spec.hours_start,
                    spec.hours_end,
                    spec.callee_start,
                    spec.callee_end,
                    spec.max_attempts,
                    json.dumps(spec.retry or {}),
                    spec.abandon_target,
                    created_by,
                    now,
                    now,
                    spec.script,
                ),
            )
            campaign_id = cursor.lastrowid
            await cursor.close()
            assert campaign_id is not None
            seen: set[str] = set()
            rows: list[tuple[Any, ...]] = []
            for entry in entries:
                if entry.number in seen:
                    continue
                seen.add(entry.number)
                rows.append(
                    (
                        f"c{campaign_id}-{len(rows) + 1}",
                        campaign_id,
                        entry.customer_id,
                        entry.number,
                        AttemptState.PENDING.value,
                        spec.priority + entry.priority,
                        now,
                    )
                )
            await conn.executemany(
                "INSERT INTO campaign_attempts (attempt_id, campaign_id, customer_id, number,"
                " state, priority, tries, dials, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?)",
                rows,
            )
        return await self.get(campaign_id)

    async def get(self, campaign_id: int) -> Campaign:
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?", (campaign_id,)
                )
            )
        if not rows:
            raise NotFoundError(f"no campaign {campaign_id}")
        return _campaign(rows[0])

    async def all(self) -> list[Campaign]:
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id"
            )
        return [_campaign(row) for row in rows]

    async def set_state(
        self, campaign_id: int, state: str, *, error: str | None = None
    ) -> Campaign:
        """Move the campaign to ``state``; ``error`` says why the dialer did it on its own
        (any other move clears a previous error)."""
        if state not in CAMPAIGN_STATES:
            raise ValueError(state)
        async with (
            self._db.transaction() as conn,
            conn.execute(
                "UPDATE campaigns SET state = ?, updated_at = ?, error = ? WHERE id = ?",
                (state, self._now(), error, campaign_id),
            ) as cursor,
        ):
            if cursor.rowcount != 1:
                raise NotFoundError(f"no campaign {campaign_id}")
        return await self.get(campaign_id)

    # --- attempts ---------------------------------------------------------------------------

    async def attempts(
        self, campaign_id: int, states: Sequence[AttemptState] | None = None
    ) -> list[Attempt]:
        sql = f"SELECT {_ATTEMPT_COLUMNS} FROM campaign_attempts WHERE campaign_id = ?"
        params: list[Any] = [campaign_id]
        if states is not None:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            params.extend(s.value for s in states)
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(sql + " ORDER BY attempt_id", params)
        return [attempt_of(row) for row in rows]

    async def attempt(self, attempt_id: str) -> tuple[Attempt, int | None]:
        """The attempt and its customer id."""
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT {_ATTEMPT_COLUMNS} FROM campaign_attempts WHERE attempt_id = ?",
                    (attempt_id,),
                )
            )
        if not rows:
            raise NotFoundError(f"no attempt {attempt_id}")
        return attempt_of(rows[0]), rows[0][15]

    async def save(self, attempt: Attempt) -> None:
        """Persist (and commit) the attempt's state."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE campaign_attempts SET state = ?, priority = ?, due_at = ?, tries = ?,"
                " dials = ?, dialed_at = ?, last_outcome = ?, done_reason = ?,"
                " blocked_reason = ?, callback_agent = ?, agent = ?, updated_at = ?"
                " WHERE attempt_id = ?",
                (
                    attempt.state.value,
                    attempt.priority,
                    _text(attempt.due_at),
                    attempt.tries,
                    attempt.dials,
                    _text(attempt.dialed_at),
                    attempt.last_outcome.value if attempt.last_outcome else None,
                    attempt.done_reason.value if attempt.done_reason else None,
                    attempt.blocked_reason.value if attempt.blocked_reason else None,
                    attempt.callback_agent,
                    attempt.agent,
                    _text(attempt.updated_at),
                    attempt.attempt_id,
                ),
            )

    async def save_dialing(self, attempt: Attempt) -> None:
        """``dialing`` and its dial row, in one committed transaction (before the Originate)."""
        dial_id = attempt.dial_id
        assert dial_id is not None
        await self.save(attempt)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO campaign_dials (dial_id, attempt_id, campaign_id, number,"
                " dialed_at) VALUES (?, ?, ?, ?, ?)",
                (
                    dial_id,
                    attempt.attempt_id,
                    int(attempt.campaign_id),
                    attempt.number,
                    _text(attempt.dialed_at),
                ),
            )

    async def settle_dial(self, dial_id: str, outcome: DialOutcome, call_id: str | None) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE campaign_dials SET outcome = ?, call_id = ?, ended_at = ?"
                " WHERE dial_id = ? AND outcome IS NULL",
                (outcome.value, call_id, self._now(), dial_id),
            )

    async def in_flight(self) -> list[Attempt]:
        """Every attempt in flight, of every campaign (for :func:`reconcile` at start-up)."""
        states = ("dialing", "ringing", "answered", "connected")
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {_ATTEMPT_COLUMNS} FROM campaign_attempts WHERE state IN (?, ?, ?, ?)",
                states,
            )
        return [attempt_of(row) for row in rows]

    async def number_facts(self, attempt_id: str) -> NumberFacts:
        """Do-not-call and consent of the attempt's customer *now*; a number on any
        do-not-call customer record is blocked too."""
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT c.do_not_call, c.may_call, c.time_zone FROM campaign_attempts a"
                    " JOIN customers c ON c.id = a.customer_id WHERE a.attempt_id = ?",
                    (attempt_id,),
                )
            )
            dnc = list(
                await conn.execute_fetchall(
                    "SELECT 1 FROM campaign_attempts a JOIN customer_phones p"
                    " ON p.e164 = a.number JOIN customers c ON c.id = p.customer_id"
                    " WHERE a.attempt_id = ? AND c.do_not_call AND c.merged_into IS NULL",
                    (attempt_id,),
                )
            )
        if not rows:
            return NumberFacts(bool(dnc), True, None)
        row = rows[0]
        return NumberFacts(bool(row[0]) or bool(dnc), bool(row[1]), row[2])

    async def progress(self, campaign_id: int) -> dict[str, Any]:
        """Attempt states, dial outcomes, and the rates of the campaign page. Contact rate:
        dials answered by a person (completed or abandoned) / settled dials; abandon rate:
        abandoned / answered by a person; saves: disposition ``retained`` on a campaign
        customer since the campaign was created."""
        async with self._db.reading() as conn:
            states = await conn.execute_fetchall(
                "SELECT state, COUNT(*) FROM campaign_attempts WHERE campaign_id = ?"
                " GROUP BY state",
                (campaign_id,),
            )
            outcomes = await conn.execute_fetchall(
                "SELECT COALESCE(outcome, 'in_flight'), COUNT(*) FROM campaign_dials"
                " WHERE campaign_id = ? GROUP BY COALESCE(outcome, 'in_flight')",
                (campaign_id,),
            )
            saves = list(
                await conn.execute_fetchall(
                    "SELECT COUNT(DISTINCT d.customer_id) FROM dispositions d"
                    " JOIN campaign_attempts a ON a.customer_id = d.customer_id"
                    " JOIN campaigns c ON c.id = a.campaign_id"
                    " WHERE a.campaign_id = ? AND d.code = 'retained'"
                    " AND d.created_at >= c.created_at",
                    (campaign_id,),
                )
            )
        by_outcome = {str(k): int(v) for k, v in outcomes}
        settled = sum(v for k, v in by_outcome.items() if k != "in_flight")
        people = by_outcome.get("completed", 0) + by_outcome.get("abandoned", 0)
        return {
            "attempts": {str(k): int(v) for k, v in states},
            "outcomes": by_outcome,
            "dials": settled + by_outcome.get("in_flight", 0),
            "contact_rate": people / settled if settled else 0.0,
            "abandon_rate": by_outcome.get("abandoned", 0) / people if people else 0.0,
            "saves": int(saves[0][0]) if saves else 0,
        }

    # --- churn ------------------------------------------------------------------------------

    async def churn_inputs(
        self, now: float, negative_codes: Sequence[str]
    ) -> list[tuple[int, str, str | None, int, int, int, str | None]]:
        """Per live, non-stub customer: id, created_at, last_contact_at, open complaints,
        negative dispositions in the last year, unanswered outbound calls in 90 days,
        contract end (YYYY-MM-DD from the ERP's contracts, see store/erp.py, or None)."""
        year_ago = iso(now - 365 * 86400)
        quarter_ago = iso(now - 90 * 86400)
        marks = ", ".join("?" for _ in negative_codes) or "NULL"
        sql = (
            "SELECT c.id, c.created_at, c.last_contact_at,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.customer_id = c.id"
            "  AND t.kind = 'complaint' AND t.status IN ('open', 'pending')),"
            " (SELECT COUNT(*) FROM dispositions d WHERE d.customer_id = c.id"
            f"  AND d.code IN ({marks}) AND d.created_at >= ?),"
            " (SELECT COUNT(*) FROM customer_calls k JOIN call_log l ON l.call_id = k.call_id"
            "  WHERE k.customer_id = c.id AND l.direction = 'outbound'"
            "  AND l.outcome <> 'answered' AND l.started_at >= ?),"
            " COALESCE((SELECT MIN(e.ends_on) FROM contracts e WHERE e.customer_id = c.id"
            "  AND e.ends_on >= ?), (SELECT MAX(e.ends_on) FROM contracts e"
            "  WHERE e.customer_id = c.id))"
            " FROM customers c WHERE c.merged_into IS NULL AND NOT c.is_stub ORDER BY c.id"
        )
        today = (iso(now) or "")[:10]
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(sql, (*negative_codes, year_ago, quarter_ago, today))
        return [(int(r[0]), r[1], r[2], int(r[3]), int(r[4]), int(r[5]), r[6]) for r in rows]

    async def save_scores(self, scores: Sequence[tuple[int, float, list[Any]]]) -> None:
        now = self._now()
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO churn_scores (customer_id, score, reasons, computed_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET"
                " score = excluded.score, reasons = excluded.reasons,"
                " computed_at = excluded.computed_at",
                [(cid, s, json.dumps(reasons), now) for cid, s, reasons in scores],
            )

    async def retention(self, threshold: float, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Customers scoring at least ``threshold``, highest first, with a dialable number
        (their first phone) and their reasons."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT s.customer_id, c.name, s.score, s.reasons, s.computed_at,"
                " (SELECT p.e164 FROM customer_phones p WHERE p.customer_id = c.id"
                "  ORDER BY p.position LIMIT 1)"
                " FROM churn_scores s JOIN customers c ON c.id = s.customer_id"
                " WHERE s.score >= ? AND c.merged_into IS NULL"
                " ORDER BY s.score DESC, s.customer_id LIMIT ?",
                (threshold, limit),
            )
        return [
            {
                "customer_id": int(r[0]),
                "name": r[1],
                "score": float(r[2]),
                "reasons": json.loads(r[3]),
                "computed_at": r[4],
                "number": r[5],
            }
            for r in rows
        ]

    async def score_of(self, customer_id: int) -> dict[str, Any]:
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT score, reasons, computed_at FROM churn_scores WHERE customer_id = ?",
                    (customer_id,),
                )
            )
        if not rows:
            raise NotFoundError(f"no churn score for customer {customer_id}")
        return {
            "customer_id": customer_id,
            "score": float(rows[0][0]),
            "reasons": json.loads(rows[0][1]),
            "computed_at": rows[0][2],
        }

    async def call_context(self, dial_id: str) -> dict[str, Any] | None:
        """What an agent sees about a campaign call: the campaign (name, script), the
        attempt, and the customer's churn score with its reasons. None for an unknown dial."""
        return await self._context("d.dial_id = ?", dial_id)

    async def attempt_context(self, attempt_id: str) -> dict[str, Any] | None:
        """:meth:`call_context` of an attempt before it is dialed (the preview card)."""
        return await self._context("a.attempt_id = ?", attempt_id)

    async def _context(self, where: str, key: str) -> dict[str, Any] | None:
        join = "JOIN campaign_dials d ON d.attempt_id = a.attempt_id" if "d." in where else ""
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT c.id, c.name, c.script, a.attempt_id, a.tries, a.number,"
                    " a.customer_id, s.score, s.reasons FROM campaign_attempts a"
                    f" {join} JOIN campaigns c ON c.id = a.campaign_id"
                    " LEFT JOIN churn_scores s ON s.customer_id = a.customer_id"
                    f" WHERE {where}",
                    (key,),
                )
            )
        if not rows:
            return None
        cid, name, script, attempt_id, tries, number, customer_id, score, reasons = rows[0]
        return {
            "campaign": {"id": int(cid), "name": name, "script": script},
            "attempt_id": attempt_id,
            "tries": int(tries),
            "number": number,
            "customer_id": customer_id,
            "churn": (
                {"score": float(score), "reasons": json.loads(reasons)}
                if score is not None
                else None
            ),
        }

    async def first_phones(self, customer_ids: Sequence[int]) -> dict[int, str]:
        """Each customer's first phone (E.164)."""
        if not customer_ids:
            return {}
        marks = ", ".join("?" for _ in customer_ids)
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT customer_id, e164 FROM customer_phones WHERE customer_id IN ({marks})"
                " ORDER BY customer_id, position",
                list(customer_ids),
            )
        found: dict[int, str] = {}
        for cid, e164 in rows:
            found.setdefault(int(cid), str(e164))
        return found


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)

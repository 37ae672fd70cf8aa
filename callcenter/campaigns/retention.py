"""Retention: churn scores recomputed on demand and on a schedule, the retention list (the
customers at or above the threshold), and campaign call lists built from a segment snapshot
or the retention list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from callcenter.campaigns.churn import ChurnFacts, parse_contract_end, score
from callcenter.errors import ConflictError
from callcenter.settings import CampaignSettings
from callcenter.store.campaigns import Campaigns, ListEntry
from callcenter.store.customers import Customers
from callcenter.store.segments import CustomerFilter, Segments

log = logging.getLogger(__name__)

RETENTION_SEGMENT = "retention"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Retention:
    def __init__(
        self,
        store: Campaigns,
        settings: CampaignSettings,
        tz: ZoneInfo,
        *,
        segments: Segments | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = settings
        self._tz = tz
        self._segments = segments
        self._clock = clock

    async def recompute(self) -> int:
        """Score every customer now; returns how many were scored."""
        now = self._clock()
        today = datetime.fromtimestamp(now, self._tz).date()
        rows = await self._store.churn_inputs(now, self._settings.negative_dispositions)
        scores = []
        for cid, created, last, complaints, negative, failed, contract_end in rows:
            facts = ChurnFacts(
                customer_id=cid,
                created_at=_epoch(created),
                last_contact_at=_epoch(last) if last else None,
                open_complaints=complaints,
                negative_dispositions=negative,
                failed_contacts=failed,
                contract_end=parse_contract_end(contract_end),
            )
            result = score(facts, self._settings, now, today)
            scores.append((cid, round(result.score, 2), [r.to_dict() for r in result.reasons]))
        await self._store.save_scores(scores)
        log.info("churn scores recomputed for %d customers", len(scores))
        await self._ensure_segment()
        return len(scores)

    async def _ensure_segment(self) -> None:
        """The saved segment "retention" (score at least the threshold), so the customers at
        risk can be browsed, exported and turned into a campaign like any segment. Made once;
        a supervisor may change its threshold afterwards."""
        if self._segments is None:
            return
        if any(s.name == RETENTION_SEGMENT for s in await self._segments.all()):
            return
        where = CustomerFilter(min_churn=self._settings.churn_threshold)
        with contextlib.suppress(ConflictError):  # made meanwhile by another recomputation
            await self._segments.create(RETENTION_SEGMENT, where, created_by="system")

    async def run(self) -> None:
        """The schedule: at start-up and every ``churn_interval_s``."""
        while True:
            try:
                await self.recompute()
            except Exception:
                log.exception("churn recomputation failed")
            await asyncio.sleep(self._settings.churn_interval_s)

    async def retention_list(self, threshold: float | None = None) -> list[dict[str, object]]:
        limit = self._settings.churn_threshold if threshold is None else threshold
        return list(await self._store.retention(limit))

    async def entries_from_churn(self, threshold: float | None = None) -> list[ListEntry]:
        """The retention list as a call list; a higher score dials first."""
        rows = await self.retention_list(threshold)
        return [
            ListEntry(str(r["number"]), int(str(r["customer_id"])), int(float(str(r["score"]))))
            for r in rows
            if r["number"]
        ]


async def entries_from_segment(
    segments: Segments, customers: Customers, store: Campaigns, segment_id: int
) -> list[ListEntry]:
    """A snapshot of the segment now: each customer's first phone (customers without a
    phone are left out)."""
    segment = await segments.get(segment_id)
    ids: list[int] = []
    after: int | None = None
    while True:
        page = await customers.query(segment.filter, limit=500, after=after)
        ids.extend(int(c["id"]) for c in page.items)
        if page.next_after is None:
            break
        after = int(page.next_after)
    phones = await store.first_phones(ids)
    return [ListEntry(phones[cid], cid) for cid in ids if cid in phones]

"""Campaign reports over ``campaign_dials``: dials per hour by outcome, the time series of the
campaign page's chart.

A dial counts in the UTC hour it was placed (``dialed_at``), with the outcome it settled on
(``in_flight`` while it has none yet), so the numbers add up to ``progress``'s ``dials`` and
``outcomes``. Times are ISO 8601 UTC text (``2026-11-23T10:42:07Z``), which sorts as time
does: the hour is the text's first 13 characters (``SUBSTR``, in SQLite and PostgreSQL
alike), and the range filter is a text comparison on the ``(campaign_id, dialed_at)`` index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callcenter.store.database import Database

#: The longest series served (31 days of hours).
MAX_HOURS = 31 * 24
DEFAULT_HOURS = 7 * 24

_HOUR = timedelta(hours=1)


def _hour_start(text: str) -> datetime:
    return datetime.strptime(text[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _hour_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


async def dials_per_hour(
    db: Database, campaign_id: int, *, hours: int = DEFAULT_HOURS
) -> list[dict[str, Any]]:
    """``[{"hour": "2026-11-23T10:00:00Z", "outcomes": {"completed": 3, "busy": 1}}, ...]``:
    of the last ``hours`` hours (1 … :data:`MAX_HOURS`) up to and including the hour of the
    campaign's latest dial, oldest first, from the first of them with a dial. Hours without a
    dial in between are listed with empty outcomes, so the series is contiguous; no dial at
    all: an empty list."""
    hours = max(1, min(hours, MAX_HOURS))
    async with db.reading() as conn:
        latest = list(
            await conn.execute_fetchall(
                "SELECT MAX(dialed_at) FROM campaign_dials WHERE campaign_id = ?",
                (campaign_id,),
            )
        )
        if not latest or latest[0][0] is None:
            return []
        last_hour = _hour_start(str(latest[0][0]))
        first_hour = last_hour - (hours - 1) * _HOUR
        rows = await conn.execute_fetchall(
            "SELECT SUBSTR(dialed_at, 1, 13), COALESCE(outcome, 'in_flight'), COUNT(*)"
            " FROM campaign_dials WHERE campaign_id = ? AND dialed_at >= ?"
            " GROUP BY SUBSTR(dialed_at, 1, 13), COALESCE(outcome, 'in_flight')",
            (campaign_id, _hour_text(first_hour)),
        )
    counts: dict[str, dict[str, int]] = {}
    for hour, outcome, count in rows:
        counts.setdefault(_hour_text(_hour_start(str(hour))), {})[str(outcome)] = int(count)
    start = _hour_start(min(counts)) if counts else last_hour
    series: list[dict[str, Any]] = []
    moment = start
    while moment <= last_hour:
        key = _hour_text(moment)
        series.append({"hour": key, "outcomes": counts.get(key, {})})
        moment += _HOUR
    return series

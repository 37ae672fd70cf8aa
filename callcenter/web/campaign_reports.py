"""Campaign reports (supervisors and admins): the dials-per-hour series of the campaign page."""

from __future__ import annotations

from aiohttp import web

from callcenter.errors import ValidationError
from callcenter.store.campaign_reports import DEFAULT_HOURS, MAX_HOURS, dials_per_hour
from callcenter.web.bodies import json_response
from callcenter.web.keys import CAMPAIGNS_KEY, DATABASE_KEY
from callcenter.web.requests import path_id


def _hours(request: web.Request) -> int:
    raw = request.query.get("hours")
    if raw is None:
        return DEFAULT_HOURS
    if not (raw.isascii() and raw.isdigit() and len(raw) < 6) or not 1 <= int(raw) <= MAX_HOURS:
        raise ValidationError("hours", f"a whole number from 1 to {MAX_HOURS}")
    return int(raw)


async def campaign_timeline(request: web.Request) -> web.Response:
    """``{"hours": [{"hour": "2026-11-23T10:00:00Z", "outcomes": {"completed": 3}}, ...]}``:
    dials per UTC hour by outcome, up to the latest dial (``hours`` query: how many hours,
    default a week); 404 for an unknown campaign."""
    campaign_id = path_id(request)
    hours = _hours(request)
    await request.app[CAMPAIGNS_KEY].get(campaign_id)
    series = await dials_per_hour(request.app[DATABASE_KEY], campaign_id, hours=hours)
    return json_response({"hours": series})

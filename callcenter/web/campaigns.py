"""Campaign and churn API (supervisors and admins): campaigns from a segment snapshot or the
retention list, start/pause/resume, progress; churn scores and the retention list."""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from callcenter.campaigns.call_list import entries_from_csv
from callcenter.campaigns.retention import entries_from_segment
from callcenter.errors import ConflictError, ValidationError
from callcenter.model.pacing import DialMode
from callcenter.store.campaigns import CampaignSpec
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.keys import (
    CAMPAIGNS_KEY,
    CUSTOMERS_KEY,
    PHONES_KEY,
    PRINCIPAL_KEY,
    RETENTION_KEY,
    SEGMENTS_KEY,
    SETTINGS_KEY,
)
from callcenter.web.requests import path_id

_SPEC_FIELDS = {f.name for f in dataclasses.fields(CampaignSpec)} - {"source"}
_OUTCOMES = ("busy", "no_answer", "congestion", "failed", "machine", "abandoned")


MAX_NAME = 200
MAX_QUEUE = 128
MAX_SCRIPT = 20_000
MAX_ATTEMPTS = 100
MAX_RETRY_MIN = 366 * 24 * 60
INT64 = 2**63 - 1


def _hhmm(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ValidationError(key, "expected HH:MM")
    hh, mm = value[:2], value[3:]
    if not (hh.isascii() and hh.isdigit() and mm.isascii() and mm.isdigit()):
        raise ValidationError(key, "expected HH:MM")
    if not (int(hh) < 24 and int(mm) < 60):
        raise ValidationError(key, "expected HH:MM")
    return value


def _integer(key: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(key, f"expected an integer from {low} to {high}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _day(key: str, value: Any) -> str:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise ValidationError(key, "expected YYYY-MM-DD") from exc


def _time_zone(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError("time_zone", "expected an IANA time zone such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("time_zone", f"unknown time zone {value!r}") from exc
    return value


def parse_spec(body: dict[str, Any], source: str, defaults: CampaignSpec) -> CampaignSpec:
    """The campaign definition of a request body, every field checked: the dialer must never
    meet a value it cannot use (one bad campaign once stopped every campaign's dialing)."""
    values: dict[str, Any] = {}
    for key in _SPEC_FIELDS:
        if key in body and body[key] is not None:
            values[key] = body[key]
    for key, limit in (("name", MAX_NAME), ("queue", MAX_QUEUE)):
        if not isinstance(values.get(key), str) or not values[key].strip():
            raise ValidationError(key, "required text")
        if len(values[key]) > limit:
            raise ValidationError(key, f"longer than {limit} characters")
        values[key] = values[key].strip()
    script = values.get("script", "")
    if not isinstance(script, str) or len(script) > MAX_SCRIPT:
        raise ValidationError("script", f"text of at most {MAX_SCRIPT} characters")
    mode = values.get("mode", "progressive")
    if not isinstance(mode, str) or mode not in {m.value for m in DialMode}:
        raise ValidationError("mode", "preview, progressive or predictive")
    if "priority" in values:
        _integer("priority", values["priority"], -INT64, INT64)
    if "max_attempts" in values:
        _integer("max_attempts", values["max_attempts"], 1, MAX_ATTEMPTS)
    if "time_zone" in values:
        values["time_zone"] = _time_zone(values["time_zone"])
    for key in ("first_day", "last_day"):
        if key in values:
            values[key] = _day(key, values[key])
    if "first_day" in values and "last_day" in values and values["last_day"] < values["first_day"]:
        raise ValidationError("last_day", "must not be before first_day")
    for key in ("hours_start", "hours_end", "callee_start", "callee_end"):
        if key in values:
            values[key] = _hhmm(key, values[key])
    if ("hours_start" in values) != ("hours_end" in values):
        raise ValidationError("hours_end", "hours_start and hours_end go together")
    if values.get("hours_start", "00:00") >= values.get("hours_end", "24:00"):
        raise ValidationError("hours_end", "must be after hours_start")
    if values.get("callee_start", defaults.callee_start) >= values.get(
        "callee_end", defaults.callee_end
    ):
        raise ValidationError("callee_end", "must be after callee_start")
    retry = values.get("retry", {})
    if not isinstance(retry, dict) or any(
        k not in _OUTCOMES or not (v is None or (_number(v) and 0 <= v <= MAX_RETRY_MIN))
        for k, v in retry.items()
    ):
        raise ValidationError(
            "retry",
            f"minutes from 0 to {MAX_RETRY_MIN} (or null) per outcome: {', '.join(_OUTCOMES)}",
        )
    target = values.get("abandon_target", 0.03)
    if not _number(target) or not 0 < target < 1:
        raise ValidationError("abandon_target", "a fraction, e.g. 0.03")
    return dataclasses.replace(defaults, **values, source=source)


async def list_campaigns(request: web.Request) -> web.Response:
    campaigns = await request.app[CAMPAIGNS_KEY].all()
    return json_response({"items": [c.to_dict() for c in campaigns]})


async def create_campaign(request: web.Request) -> web.Response:
    """``{"name", "queue", "mode", ..., "source": {"segment": id} | {"churn": threshold} |
    {"csv": "<file text>"}}``: the call list is a snapshot taken now. CSV rows that cannot
    be used are listed in ``rejected`` (``{"row", "error"}``); the others make the list."""
    body = await read_json_object(request)
    settings = request.app[SETTINGS_KEY]
    source = body.pop("source", None)
    store = request.app[CAMPAIGNS_KEY]
    rejected: list[dict[str, object]] = []
    defaults = CampaignSpec(
        name="",
        queue="",
        time_zone=settings.center.time_zone,
        callee_start=settings.campaigns.callee_start,
        callee_end=settings.campaigns.callee_end,
    )
    unknown = set(body) - _SPEC_FIELDS
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field")
    if (
        isinstance(source, dict)
        and set(source) == {"segment"}
        and isinstance(source["segment"], int)
        and not isinstance(source["segment"], bool)
        and 0 < source["segment"] <= INT64
    ):
        spec = parse_spec(body, f"segment:{source['segment']}", defaults)
        entries = await entries_from_segment(
            request.app[SEGMENTS_KEY],
            request.app[CUSTOMERS_KEY],
            store,
            source["segment"],
        )
    elif isinstance(source, dict) and set(source) == {"churn"}:
        threshold = source["churn"]
        if threshold is not None and not _number(threshold):
            raise ValidationError("source", "churn: a threshold or null")
        spec = parse_spec(body, "churn", defaults)
        entries = await request.app[RETENTION_KEY].entries_from_churn(threshold)
    elif isinstance(source, dict) and set(source) == {"csv"} and isinstance(source["csv"], str):
        spec = parse_spec(body, "csv", defaults)
        call_list = await entries_from_csv(
            source["csv"], request.app[PHONES_KEY], request.app[CUSTOMERS_KEY]
        )
        entries, rejected = call_list.entries, call_list.rejected_dicts()
    else:
        raise ValidationError(
            "source", 'expected {"segment": id}, {"churn": threshold} or {"csv": text}'
        )
    campaign = await store.create(spec, entries, created_by=request[PRINCIPAL_KEY].user.username)
    return json_response(
        {**campaign.to_dict(), "progress": await store.progress(campaign.id), "rejected": rejected},
        status=201,
    )


async def get_campaign(request: web.Request) -> web.Response:
    store = request.app[CAMPAIGNS_KEY]
    campaign = await store.get(path_id(request))
    return json_response({**campaign.to_dict(), "progress": await store.progress(campaign.id)})


async def _move(request: web.Request, allowed: tuple[str, ...], state: str) -> web.Response:
    store = request.app[CAMPAIGNS_KEY]
    campaign = await store.get(path_id(request))
    if campaign.state not in allowed:
        raise ConflictError(f"campaign {campaign.id} is {campaign.state}")
    return json_response((await store.set_state(campaign.id, state)).to_dict())


async def start_campaign(request: web.Request) -> web.Response:
    return await _move(request, ("draft",), "running")


async def pause_campaign(request: web.Request) -> web.Response:
    return await _move(request, ("running",), "paused")


async def resume_campaign(request: web.Request) -> web.Response:
    return await _move(request, ("paused",), "running")


async def retention_list(request: web.Request) -> web.Response:
    """Customers at or above the threshold (``threshold`` query, default from settings)."""
    raw = request.query.get("threshold")
    try:
        threshold = float(raw) if raw is not None else None
    except ValueError as exc:
        raise ValidationError("threshold", "expected a number") from exc
    if threshold is not None and not math.isfinite(threshold):
        raise ValidationError("threshold", "expected a finite number")
    items = await request.app[RETENTION_KEY].retention_list(threshold)
    return json_response({"items": items})


async def recompute_churn(request: web.Request) -> web.Response:
    scored = await request.app[RETENTION_KEY].recompute()
    return json_response({"scored": scored})


async def customer_churn(request: web.Request) -> web.Response:
    return json_response(await request.app[CAMPAIGNS_KEY].score_of(path_id(request)))

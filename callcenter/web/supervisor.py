"""Supervisor handlers: the wallboard over HTTP, listen / whisper / barge, pausing and removing
agents, and reports. Supervisors and admins only (the route table); every action audited.

Listen, whisper and barge are Asterisk's ``ChanSpy`` run on the supervisor's own phone: we
Originate the supervisor's device and, once they pick up, ChanSpy spies on the agent's
channels (``<device>-`` matches every channel of that phone). Options: ``q`` no beep,
``S`` hang up when the spied call ends; ``w`` whisper (the agent hears the supervisor, the
customer does not), ``B`` barge (everybody hears everybody).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from callcenter.crm.csv_export import encode_rows
from callcenter.errors import AmiError
from callcenter.model.calls import interface_key
from callcenter.store.reports import GroupBy, rows_as_csv_lines
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.errors import ValidationError
from callcenter.web.keys import (
    AMI_LINK_KEY,
    AUDIT_KEY,
    CLOCK_KEY,
    PRINCIPAL_KEY,
    PUMP_KEY,
    REPORTS_KEY,
    WALLBOARD_KEY,
)

SPY_OPTIONS = {"listen": "qS", "whisper": "qwS", "barge": "qBS"}
MAX_REPORT_DAYS = 366


async def wallboard(request: web.Request) -> web.Response:
    """The same snapshot /ws/supervisor pushes: what a page loads after (re)connecting."""
    return json_response(request.app[WALLBOARD_KEY].snapshot())


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise ValidationError(key, "a non-empty text of at most 128 characters is required")
    return value.strip()


def _known_agent(request: web.Request, interface: str) -> str:
    """``interface`` as the board knows it (queue member interface)."""
    agents = request.app[PUMP_KEY].board.agents
    if interface in agents:
        return interface
    for known in agents:
        if interface_key(known) == interface_key(interface):
            return known
    raise ValidationError("agent", f"{interface!r} is not logged in to any queue")


def _link(request: web.Request) -> Any:
    link = request.app.get(AMI_LINK_KEY)
    if link is None:
        raise AmiError("the AMI link is disabled on this server")
    return link


async def spy(request: web.Request) -> web.Response:
    """``{"agent": "PJSIP/2001", "mode": "listen"|"whisper"|"barge"}``: rings the
    supervisor's phone; picking up starts ChanSpy on the agent."""
    body = await read_json_object(request)
    mode = _text(body, "mode")
    if mode not in SPY_OPTIONS:
        raise ValidationError("mode", f"one of {', '.join(SPY_OPTIONS)}")
    agent = _known_agent(request, _text(body, "agent"))
    user = request[PRINCIPAL_KEY].user
    if not user.extension:
        raise ValidationError("extension", "your user has no phone to listen on")
    device = interface_key(agent)
    action_id = await _link(request).originate_application(
        user.extension,
        application="ChanSpy",
        data=f"{device}-,{SPY_OPTIONS[mode]}",
        caller_id=f'"{mode} {device}" <{mode}>',
    )
    await request.app[AUDIT_KEY].audit(
        user.username, f"agent.{mode}", agent, {"supervisor_phone": user.extension}
    )
    return json_response({"action_id": action_id, "mode": mode, "agent": agent}, status=202)


async def agent_pause(request: web.Request) -> web.Response:
    """``{"agent", "paused": bool, "reason"?}``: pause or unpause an agent in all queues."""
    body = await read_json_object(request)
    agent = _known_agent(request, _text(body, "agent"))
    paused = body.get("paused")
    if not isinstance(paused, bool):
        raise ValidationError("paused", "true or false")
    reason = body.get("reason") or None
    if reason is not None and (
        not isinstance(reason, str) or len(reason) > 64 or not reason.isprintable()
    ):
        raise ValidationError("reason", "a text of at most 64 characters, no control characters")
    await _link(request).queue_pause(agent, paused, reason)
    user = request[PRINCIPAL_KEY].user
    await request.app[AUDIT_KEY].audit(
        user.username, "agent.pause" if paused else "agent.unpause", agent, {"reason": reason}
    )
    return json_response({"agent": agent, "paused": paused, "reason": reason})


async def agent_remove(request: web.Request) -> web.Response:
    """``{"agent", "queue"}``: take an agent out of one queue."""
    body = await read_json_object(request)
    agent = _known_agent(request, _text(body, "agent"))
    queue = _text(body, "queue")
    if queue not in request.app[PUMP_KEY].board.agents[agent].queues:
        raise ValidationError("queue", f"{agent} is not a member of {queue!r}")
    await _link(request).queue_remove(queue, agent)
    user = request[PRINCIPAL_KEY].user
    await request.app[AUDIT_KEY].audit(user.username, "agent.remove", agent, {"queue": queue})
    return json_response({"agent": agent, "queue": queue, "removed": True})


def _day(request: web.Request, key: str, default: datetime) -> datetime:
    value = request.query.get(key)
    if value is None:
        return default
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValidationError(key, "a date YYYY-MM-DD") from exc
    if not 1900 <= day.year <= 9998:
        raise ValidationError(key, "year out of range 1900-9998")
    return day


async def _report(request: web.Request) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    unknown = set(request.query) - {"from", "to", "by"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown parameter")
    today = datetime.fromtimestamp(request.app[CLOCK_KEY](), UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = _day(request, "from", today - timedelta(days=6))
    end = _day(request, "to", today) + timedelta(days=1)  # "to" is inclusive
    if not start < end or (end - start).days > MAX_REPORT_DAYS:
        raise ValidationError("to", f"after 'from', at most {MAX_REPORT_DAYS} days later")
    try:
        group_by = GroupBy(request.query.get("by", "queue"))
    except ValueError as exc:
        raise ValidationError("by", "one of queue, agent, day, hour") from exc
    board = request.app[PUMP_KEY].board
    rows = await request.app[REPORTS_KEY].summary(
        start, end, group_by, service_level_s=board.service_level_s, tz=UTC
    )
    meta = {
        "from": start.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        "by": group_by.value,
        "service_level_s": board.service_level_s,
        "time_zone": "UTC",
    }
    return rows, meta


async def report(request: web.Request) -> web.Response:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD&by=queue|agent|day|hour`` (default: the last 7 days
    by queue)."""
    rows, meta = await _report(request)
    return json_response({**meta, "rows": rows})


async def report_csv(request: web.Request) -> web.Response:
    rows, meta = await _report(request)
    name = f"report-{meta['by']}-{meta['from']}-{meta['to']}.csv"
    return web.Response(
        body=encode_rows(rows_as_csv_lines(rows)),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

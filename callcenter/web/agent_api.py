"""The agent panel's API: the agent's own state, call control over AMI, and the wrap-up.

Every handler acts on the logged-in user's own phone (their ``extension``, e.g.
``PJSIP/2001``, which is also their queue member interface); a user without one gets 403.
Thin handlers: validate, make one AMI action or store call, answer. What the PBX refuses is
answered with the PBX's status (502 refused, 503 unreachable, 504 no answer) and a message in
plain words an agent can act on, with Asterisk's own text in ``details.pbx``.

Asterisk semantics relied on (checked against the captures in ``tests/fixtures/ami``):

- **Ready / pause**: ``QueuePause`` with ``Interface`` = the agent's phone and no ``Queue``
  pauses the member in all its queues; ``Reason`` is kept with the pause and shown on the
  wallboard. The state the panel shows comes from the board (``QueueMemberPause`` events),
  i.e. what Asterisk did, not what was asked.
- **Click-to-call**: ``Originate Channel=<agent's phone> Context=outbound Exten=<number>``:
  the agent's phone rings first; once it answers the dialplan dials the customer. The reply
  only says "queued"; the call shows up in the tracker like any other.
- **Hang up**: ``Hangup`` of the agent's own channel in the call; the bridge breaks and the
  dialplan hangs up the customer.
- **Blind transfer**: ``BlindTransfer Channel=<the agent's channel>``. The channel named is
  the *transferer*: Asterisk moves the party bridged with it (the customer) to
  ``Exten@Context`` and emits ``BlindTransfer`` with ``TransfererChannel`` = the agent's
  phone and ``TransfereeChannel`` = the caller (``sip_transfer_blind``), exactly as a SIP
  REFER from the phone does. The agent's own leg is then hung up.
- **Attended transfer**: ``Atxfer`` on the agent's own channel: Asterisk puts the customer
  on hold and dials the target from the agent's channel (a consultation through a Local
  channel); the transfer completes when the agent hangs up (``sip_transfer_attended``).

The wrap-up writes to the CRM timeline of the customer the agent worked on: a disposition
and an optional note, both carrying the ``call_id``, and an optional callback. ``GET
/api/calls/{call_id}`` reads a logged call back with the dispositions and notes of its
customers that name it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from callcenter.ami.link import AmiLink
from callcenter.errors import AmiConnectionError, AmiError, NotFoundError
from callcenter.model.calls import interface_key
from callcenter.store import MAX_PAGE, ConflictError, Interactions, Role, User, ValidationError
from callcenter.store.calllog import time_key
from callcenter.store.interactions import WrapUpEntry, WrapUpSaved
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.errors import PermissionDenied
from callcenter.web.keys import (
    AMI_LINK_KEY,
    CALL_LOG_KEY,
    CALL_LOG_WRITER_KEY,
    CLOCK_KEY,
    CUSTOMERS_KEY,
    DIALER_KEY,
    INTERACTIONS_KEY,
    PRINCIPAL_KEY,
    PUMP_KEY,
)
from callcenter.web.requests import _moment, agent_of, agent_settings, pbx_error

MAX_NOTE = 10_000
MAX_CALL_ID = 128
_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
_NUMBER_NOISE = re.compile(r"[\s().\-/]")
_CALL_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
#: Disposition codes as the CRM stores them (``POST /api/customers/{id}/dispositions``).
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


# --- helpers ---------------------------------------------------------------------------------


def _only(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise ValidationError(str(key), f"unknown field (allowed: {', '.join(allowed)})")


def _number(body: Mapping[str, Any], key: str) -> str:
    """A number to dial: digits with an optional leading +; spaces, dots, dashes, slashes and
    parentheses are dropped. Also what keeps AMI header injection out."""
    value = body.get(key)
    if not isinstance(value, str):
        raise ValidationError(key, "required, a phone number or an extension")
    cleaned = _NUMBER_NOISE.sub("", value)
    if not _NUMBER.match(cleaned):
        raise ValidationError(key, "expected digits with an optional leading +, e.g. +493012345")
    return cleaned


def _optional_call_id(body: Mapping[str, Any], key: str = "call_id") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _CALL_ID.match(value):
        raise ValidationError(key, "expected a call id such as 1795371803.16")
    return value


def _optional_text(body: Mapping[str, Any], key: str, max_len: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(key, "expected a string")
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(key, f"longer than {max_len} characters")
    return value or None


def _positive_id(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**62:
        raise ValidationError(key, "required, a customer id")
    return value


def _extension_number(interface: str) -> str:
    """``PJSIP/2001`` -> ``2001``; ``Local/1001@agents/n`` -> ``1001``: what a colleague
    dials to reach this agent."""
    return interface_key(interface).split("/", 1)[-1].split("@", 1)[0]


def _link(request: web.Request) -> AmiLink:
    link = request.app.get(AMI_LINK_KEY)
    if link is None:
        raise AmiConnectionError("the AMI link is disabled on this server")
    return link


def _my_channel(request: web.Request, extension: str, call_id: str | None) -> str:
    """The agent's own channel in ``call_id`` (or in their current call)."""
    channels = request.app[PUMP_KEY].tracker.channels_of_device(extension)
    if call_id is not None:
        channels = [item for item in channels if item[1] == call_id]
    if not channels:
        raise ConflictError("You are not on a call.")
    return channels[-1][0]


# --- state ---------------------------------------------------------------------------------


async def agent_state(request: web.Request) -> web.Response:
    """The agent's state as the PBX sees it: queue membership and pause (the board), the
    call their phone is in (the tracker), and the colleagues they can transfer to."""
    _, extension = agent_of(request)
    pump = request.app[PUMP_KEY]
    now = request.app[CLOCK_KEY]()
    board_agents = pump.board.agents
    agent = board_agents.get(extension) or board_agents.get(interface_key(extension))
    channels = pump.tracker.channels_of_device(extension)
    call: dict[str, Any] | None = None
    if channels:
        ids = [call_id for _, call_id in channels]
        wanted = agent.call_id if agent is not None and agent.call_id in ids else ids[-1]
        live = {str(c["call_id"]): c for c in pump.tracker.live_calls(now)}
        if wanted in live:
            channel = next(name for name, call_id in reversed(channels) if call_id == wanted)
            call = {**live[wanted], "channel": channel}
    me = interface_key(extension)
    colleagues = [
        {"extension": _extension_number(a.interface), "name": a.name, "state": a.state.value}
        for key, a in sorted(board_agents.items())
        if interface_key(key) != me
    ]
    return json_response(
        {
            "extension": extension,
            "now": now,
            "agent": agent.to_dict() if agent is not None else None,
            "call": call,
            "colleagues": colleagues,
        }
    )


async def options(request: web.Request) -> web.Response:
    """The pause reasons and dispositions this server offers."""
    settings = agent_settings(request)
    return json_response(
        {
            "pause_reasons": list(settings.pause_reasons),
            "dispositions": list(settings.dispositions),
        }
    )


# --- call control --------------------------------------------------------------------------


async def pause(request: web.Request) -> web.Response:
    """``{"paused": true, "reason": "lunch"}`` or ``{"paused": false}``: QueuePause in all
    the agent's queues."""
    _, extension = agent_of(request)
    body = await read_json_object(request)
    _only(body, ("paused", "reason"))
    paused = body.get("paused")
    if not isinstance(paused, bool):
        raise ValidationError("paused", "required, true or false")
    reason = _optional_text(body, "reason", 64) if paused else None
    allowed = agent_settings(request).pause_reasons
    if paused and reason not in allowed:
        raise ValidationError("reason", f"expected one of: {', '.join(allowed)}")
    try:
        await _link(request).queue_pause(extension, paused, reason)
    except AmiError as exc:
        return pbx_error(exc)
    return json_response({"paused": paused, "reason": reason})


async def dial(request: web.Request) -> web.Response:
    """Click-to-call ``{"number": "+4930…"}``: the agent's phone rings, then the customer."""
    _, extension = agent_of(request)
    body = await read_json_object(request)
    _only(body, ("number",))
    number = _number(body, "number")
    own = _extension_number(extension)
    try:
        action_id = await _link(request).originate(
            extension,
            context=agent_settings(request).outbound_context,
            exten=number,
            caller_id=f'"{number}" <{own}>' if own.isdigit() else None,
        )
    except AmiError as exc:
        return pbx_error(exc)
    return json_response({"number": number, "action_id": action_id}, status=202)


async def hangup(request: web.Request) -> web.Response:
    """``{"call_id": optional}``: hang up the agent's own channel of the call."""
    _, extension = agent_of(request)
    body = await read_json_object(request)
    _only(body, ("call_id",))
    channel = _my_channel(request, extension, _optional_call_id(body))
    try:
        await _link(request).hangup(channel)
    except AmiError as exc:
        return pbx_error(exc)
    return json_response({"channel": channel})


async def transfer(request: web.Request) -> web.Response:
    """``{"to": "2002" | "+4930…", "kind": "blind" | "attended", "call_id": optional}``."""
    _, extension = agent_of(request)
    body = await read_json_object(request)
    _only(body, ("to", "kind", "call_id"))
    target = _number(body, "to")
    kind = body.get("kind", "blind")
    if kind not in ("blind", "attended"):
        raise ValidationError("kind", "expected blind or attended")
    channel = _my_channel(request, extension, _optional_call_id(body))
    context = agent_settings(request).transfer_context
    link = _link(request)
    try:
        if kind == "blind":
            await link.blind_transfer(channel, context=context, exten=target)
        else:
            await link.atxfer(channel, target, context)
    except AmiError as exc:
        return pbx_error(exc)
    return json_response({"kind": kind, "to": target, "channel": channel})


# --- wrap-up -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrapUp:
    """A validated wrap-up: what the agent records about one call."""

    customer_id: int
    call_id: str | None
    disposition: str
    note: str | None
    callback_due: str | None
    callback_for: str | None
    callback_note: str

    async def save(self, interactions: Interactions, author: str) -> WrapUpSaved:
        """Disposition, note and callback on the customer's timeline, in one transaction
        (see :meth:`Interactions.wrap_up`: all or nothing, once per call and author)."""
        return await interactions.wrap_up(
            WrapUpEntry(
                customer_id=self.customer_id,
                author=author,
                call_id=self.call_id,
                disposition=self.disposition,
                note=self.note,
                callback_due=self.callback_due,
                callback_for=self.callback_for,
                callback_note=self.callback_note,
            )
        )


def parse_wrap_up(body: Mapping[str, Any], user: User, dispositions: tuple[str, ...]) -> WrapUp:
    """``{"customer_id", "call_id", "disposition", "note", "callback": {"due_at",
    "for": "me" | "anyone", "note"}}`` (note and callback optional)."""
    _only(body, ("customer_id", "call_id", "disposition", "note", "callback"))
    code = body.get("disposition")
    if not isinstance(code, str) or code not in dispositions or not _CODE.match(code):
        raise ValidationError("disposition", f"expected one of: {', '.join(dispositions)}")
    due = assignee = None
    callback_note = ""
    callback = body.get("callback")
    if callback is not None:
        if not isinstance(callback, dict):
            raise ValidationError("callback", "expected an object with due_at")
        _only(callback, ("due_at", "for", "note"))
        due_text = callback.get("due_at")
        moment = _moment("callback.due_at", due_text) if isinstance(due_text, str) else None
        if moment is None:
            raise ValidationError("callback.due_at", "required, e.g. 2024-05-01T09:00:00Z")
        due = time_key(moment)
        who = callback.get("for", "me")
        if who not in ("me", "anyone"):
            raise ValidationError("callback.for", "expected me or anyone")
        assignee = user.username if who == "me" else None
        callback_note = _optional_text(callback, "note", MAX_NOTE) or ""
    return WrapUp(
        customer_id=_positive_id(body, "customer_id"),
        call_id=_optional_call_id(body),
        disposition=code,
        note=_optional_text(body, "note", MAX_NOTE),
        callback_due=due,
        callback_for=assignee,
        callback_note=callback_note,
    )


async def wrap_up(request: web.Request) -> web.Response:
    user, extension = agent_of(request)
    body = await read_json_object(request)
    wrap = parse_wrap_up(body, user, agent_settings(request).dispositions)
    saved = await wrap.save(request.app[INTERACTIONS_KEY], user.username)
    body_out: dict[str, Any] = {
        "disposition": saved.disposition,
        "note": saved.note,
        "callback": saved.callback,
        "replayed": saved.replayed,
    }
    if saved.replayed:  # the campaign was rescheduled by the first request
        return json_response(body_out, status=200)
    body_out["campaign_callback"] = await _campaign_callback(request, wrap, extension)
    return json_response(body_out, status=201)


async def _campaign_callback(request: web.Request, wrap: WrapUp, extension: str) -> str | None:
    """A callback promised on a campaign call also reschedules that number in its campaign
    (first in line when due; for this agent's phone when it was "for me"). Returns the
    attempt id, or None for a call that was not a campaign's."""
    dialer = request.app.get(DIALER_KEY)
    if dialer is None or wrap.callback_due is None or wrap.call_id is None:
        return None
    await request.app[CALL_LOG_WRITER_KEY].flush()  # the call's record, if it just ended
    try:
        record = await request.app[CALL_LOG_KEY].get(wrap.call_id)
    except NotFoundError:
        return None
    if not record.get("dial_id"):
        return None
    due = datetime.fromisoformat(wrap.callback_due.replace("Z", "+00:00"))
    agent = extension if wrap.callback_for is not None else None
    attempt = await dialer.callback_for_dial(record["dial_id"], due, agent)
    return attempt.attempt_id if attempt is not None else None


# --- the call log, read through ------------------------------------------------------------


async def call_detail(request: web.Request) -> web.Response:
    """One logged call with the dispositions and notes that name it, from the timelines of
    the customers having its number. Agents read only the calls they talked on."""
    call_id = request.match_info["call_id"]
    record = await request.app[CALL_LOG_KEY].get(call_id)
    user = request[PRINCIPAL_KEY].user
    if user.role is Role.AGENT and (not user.extension or record["agent"] != user.extension):
        raise PermissionDenied("agents can only read their own calls")
    number = record["called_number"] if record["direction"] == "outbound" else None
    number = number or record["caller_number"]
    dispositions: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if number:
        found = await request.app[CUSTOMERS_KEY].lookup(number)
        for customer in found.customers:
            timeline = await request.app[INTERACTIONS_KEY].timeline(customer["id"], limit=MAX_PAGE)
            for event in timeline:
                item = event.get(event["type"], {})
                if event["type"] == "disposition" and item.get("call_id") == call_id:
                    dispositions.append(item)
                elif event["type"] == "note" and item.get("call_id") == call_id:
                    notes.append(item)
    return json_response({**record, "dispositions": dispositions, "notes": notes})


__all__ = [
    "WrapUp",
    "agent_state",
    "call_detail",
    "dial",
    "hangup",
    "options",
    "parse_wrap_up",
    "pause",
    "pbx_error",
    "transfer",
    "wrap_up",
]

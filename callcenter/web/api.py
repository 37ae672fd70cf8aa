"""JSON API handlers. Each one: validate the input, make one store/service call, respond.

Authentication, role checks, CSRF and auditing happen before and after in the middleware,
driven by the table in :mod:`callcenter.web.routes`; errors become JSON there too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from callcenter.errors import StoreError
from callcenter.store import CallQuery, Role, User
from callcenter.web.auth import clear_session_cookie, set_session_cookie
from callcenter.web.bodies import json_response
from callcenter.web.bodies import read_json_object as read_json_object  # re-exported
from callcenter.web.errors import PermissionDenied, ValidationError
from callcenter.web.keys import (
    ACCOUNTS_KEY,
    AUDIT_KEY,
    AUTHENTICATOR_KEY,
    CALL_LOG_KEY,
    CLOCK_KEY,
    DATABASE_KEY,
    DIALER_KEY,
    LINK_STATUS_KEY,
    PRINCIPAL_KEY,
    SESSION_TOKEN_KEY,
    SETTINGS_KEY,
    TRANSCRIPTION_KEY,
    TRANSPORT_KEY,
)
from callcenter.web.linkstatus import link_report
from callcenter.web.requests import (
    MAX_TEXT,
    _limit,
    _moment,
    _single,
    _unknown,
    encode_cursor,
    parse_call_query,
)

# --- health --------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    """Always 200 while the process serves; ``status`` is ``degraded`` when the database does
    not answer or cannot write, or the AMI link (if enabled) is not logged in. ``db`` is
    whether it answers; ``db_write`` is ``ok`` or why writes fail (a one-row write probe, and
    the last real write's failure until a write succeeds again: a full disk lets small
    writes through while larger ones fail)."""
    settings = request.app[SETTINGS_KEY]
    ami = link_report(request.app[LINK_STATUS_KEY](), enabled=settings.ami.enabled)
    database = request.app[DATABASE_KEY]
    try:
        await database.ping()
        db = "ok"
    except StoreError:
        db = "error"
    write_error = await database.write_probe(request.app[CLOCK_KEY]())
    ok = db == "ok" and write_error is None and ami["state"] in {"up", "disabled"}
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "ami": ami,
        "db": db,
        "db_write": "ok" if write_error is None else f"error: {write_error}",
    }
    service = request.app.get(TRANSCRIPTION_KEY)
    if service is not None:  # a missing model degrades transcription only, not the server
        body["transcription"] = service.status.to_dict()
    dialer = request.app.get(DIALER_KEY)
    if dialer is not None:
        body["campaigns"] = {
            "answering_machine_detection": dialer.amd,
            "in_flight": len(dialer.in_flight),
        }
    return json_response(body)


# --- session -------------------------------------------------------------------------------


def _required_text(body: Mapping[str, Any], key: str, max_len: int = MAX_TEXT) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(key, "required, a non-empty string")
    if len(value) > max_len:
        raise ValidationError(key, f"longer than {max_len} characters")
    return value


async def login(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    username = _required_text(body, "username")
    password = _required_text(body, "password", max_len=1024)
    auth = request.app[AUTHENTICATOR_KEY]
    transport = request.app[TRANSPORT_KEY]
    user, token = await auth.login(username, password, address=transport.client_address(request))
    response = json_response({"user": user.to_dict()})
    secure = transport.is_https(request)
    set_session_cookie(response, token, secure=secure, max_age_s=auth.session_ttl_s)
    return response


async def logout(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL_KEY]
    await request.app[AUTHENTICATOR_KEY].logout(
        principal.user,
        request.get(SESSION_TOKEN_KEY),
        address=request.app[TRANSPORT_KEY].client_address(request),
    )
    response = web.Response(status=204)
    clear_session_cookie(response, secure=request.app[TRANSPORT_KEY].is_https(request))
    return response


async def me(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL_KEY]
    return json_response({"user": principal.user.to_dict(), "via": principal.via})


# --- call log ------------------------------------------------------------------------------


def scope_to_user(query: CallQuery, user: User) -> CallQuery:
    """Agents read only the calls they talked on: those whose ``agent`` is their interface."""
    if user.role is not Role.AGENT:
        return query
    if user.extension is None:
        raise PermissionDenied("agents read their own calls; this user has no extension")
    if query.agent is not None and query.agent != user.extension:
        raise PermissionDenied("agents can only read their own calls")
    return dataclasses.replace(query, agent=user.extension)


async def list_calls(request: web.Request) -> web.Response:
    query = scope_to_user(parse_call_query(request.query), request[PRINCIPAL_KEY].user)
    page = await request.app[CALL_LOG_KEY].query(query)
    return json_response(
        {
            "items": page.items,
            "total": page.total,
            "limit": query.limit,
            "next_cursor": encode_cursor(page.next_key) if page.next_key else None,
        }
    )


# --- administration ------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    users = await request.app[ACCOUNTS_KEY].list_users()
    return json_response({"items": [user.to_dict() for user in users]})


AUDIT_PARAMS = ("actor", "action", "customer", "from", "to", "before", "limit")


def _positive(params: MultiMapping[str], key: str) -> int | None:
    text = _single(params, key)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**62:
        raise ValidationError(key, "expected a positive integer")
    return int(text)


def _stamp(key: str, value: str | None) -> str | None:
    moment = _moment(key, value)
    return None if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")


async def list_audit(request: web.Request) -> web.Response:
    """Newest entries first; ``?actor=`` (who), ``?action=`` (what; ``customer.*`` a
    prefix), ``?customer=`` (which customer, by id), ``?from=`` / ``?to=`` (when, ISO 8601,
    ``to`` exclusive) narrow; ``?before=`` an entry id to page on, ``?limit=`` (1..500)."""
    params = request.query
    _unknown(params, AUDIT_PARAMS)
    entries = await request.app[AUDIT_KEY].recent(
        limit=_limit(params, 100),
        actor=_single(params, "actor"),
        action=_single(params, "action"),
        customer_id=_positive(params, "customer"),
        since=_stamp("from", _single(params, "from")),
        until=_stamp("to", _single(params, "to")),
        before_id=_positive(params, "before"),
    )
    return json_response({"items": [entry.to_dict() for entry in entries]})

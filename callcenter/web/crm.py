"""CRM JSON API: customers, caller lookup, timeline, notes, dispositions, callbacks, tickets,
search, segments, merge and GDPR export/erasure.

Each handler validates its input, makes one store/service call and answers; roles, CSRF and
most audit entries come from the route table. Erasure and merge write their own audit entry
(with what was done) instead.

Every user may read any customer and their whole timeline (agents need the history of whoever
calls); the call log's own "agents see their own calls" rule applies to ``/api/calls``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from callcenter.crm.customers import parse_customer, parse_patch
from callcenter.crm.visibility import for_viewer
from callcenter.store import (
    MAX_PAGE,
    UNSET,
    CallbackQuery,
    CallbackState,
    CustomerFilter,
    Role,
    TicketKind,
    TicketQuery,
    TicketStatus,
    ValidationError,
)
from callcenter.store.calllog import time_key
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.errors import PermissionDenied
from callcenter.web.keys import (
    AUDIT_KEY,
    CLOCK_KEY,
    CUSTOMERS_KEY,
    INTERACTIONS_KEY,
    PHONES_KEY,
    PRINCIPAL_KEY,
    PRIVACY_KEY,
    SEGMENTS_KEY,
)
from callcenter.web.requests import (
    FILTER_PARAMS,
    MAX_BODY,
    MAX_SUBJECT,
    _assignee,
    _call_id,
    _call_ids,
    _due,
    _enum_value,
    _filter,
    _limit,
    _only,
    _single,
    _text,
    _unknown,
    _username,
    path_id,
)

TIMELINE_DEFAULT = 50
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _after(params: MultiMapping[str]) -> int | None:
    text = _single(params, "cursor")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValidationError("cursor", "not a cursor returned by this API")
    return int(text)


# --- customers -----------------------------------------------------------------------------


async def list_customers(request: web.Request) -> web.Response:
    """Filters as in :class:`CustomerFilter`; ``limit`` 1..500, ``cursor`` from a page."""
    params = request.query
    _unknown(params, (*FILTER_PARAMS, "limit", "cursor"))
    if "min_churn" in params and request[PRINCIPAL_KEY].user.role is Role.AGENT:
        raise PermissionDenied("the churn score is for supervisors: min_churn is theirs")
    page = await request.app[CUSTOMERS_KEY].query(
        _filter(params), limit=_limit(params, 50), after=_after(params)
    )
    cursor = str(page.next_after) if page.next_after is not None else None
    return json_response({"items": page.items, "next_cursor": cursor})


async def create_customer(request: web.Request) -> web.Response:
    data = parse_customer(await read_json_object(request), request.app[PHONES_KEY])
    customer = await request.app[CUSTOMERS_KEY].create(data)
    return json_response(customer, status=201)


async def get_customer(request: web.Request) -> web.Response:
    """The customer with its newest ``timeline_limit`` (default 50) events."""
    params = request.query
    _unknown(params, ("timeline_limit",))
    limit = TIMELINE_DEFAULT
    text = _single(params, "timeline_limit")
    if text is not None:
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
            raise ValidationError("timeline_limit", f"expected an integer from 1 to {MAX_PAGE}")
        limit = int(text)
    customer_id = path_id(request)
    customer = await request.app[CUSTOMERS_KEY].get(customer_id)
    timeline = await request.app[INTERACTIONS_KEY].timeline(customer_id, limit=limit)
    user = request[PRINCIPAL_KEY].user
    viewer = (user.extension or "") if user.role is Role.AGENT else None
    return json_response({**customer, "timeline": for_viewer(timeline, viewer)})


async def update_customer(request: web.Request) -> web.Response:
    patch = parse_patch(await read_json_object(request), request.app[PHONES_KEY])
    customer = await request.app[CUSTOMERS_KEY].update(
        path_id(request), patch, changed_by=_username(request)
    )
    return json_response(customer)


async def lookup_customer(request: web.Request) -> web.Response:
    """``?number=`` in any form; every customer having it (a shared number: several)."""
    params = request.query
    _unknown(params, ("number",))
    number = _single(params, "number")
    if number is None:
        raise ValidationError("number", "required")
    found = await request.app[CUSTOMERS_KEY].lookup(number)
    return json_response(
        {
            "number": number,
            "tried": list(found.keys),
            "matched": found.e164,
            "customers": found.customers,
        }
    )


async def merge_customers(request: web.Request) -> web.Response:
    """``{"other": id}``: everything of ``other`` moves into ``{id}``."""
    body = await read_json_object(request)
    _only(body, ("other",))
    other = body.get("other")
    if not isinstance(other, int) or isinstance(other, bool) or not 0 < other < 2**62:
        raise ValidationError("other", "required, the id of the customer to merge into this one")
    keep = path_id(request)
    customer = await request.app[CUSTOMERS_KEY].merge(keep, other)
    await request.app[AUDIT_KEY].audit(
        _username(request), "customer.merge", request.path, {"kept": keep, "merged": other}
    )
    return json_response(customer)


async def export_customer(request: web.Request) -> web.Response:
    """GDPR: everything stored about the customer, as one JSON document."""
    customer_id = path_id(request)
    dossier = await request.app[PRIVACY_KEY].dossier(customer_id)
    return json_response(
        dossier,
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.json"'},
    )


async def erase_customer(request: web.Request) -> web.Response:
    """GDPR erasure: the customer's personal data, notes and recordings are deleted; the
    calls stay as anonymous statistics. Answers what was done."""
    report = await request.app[PRIVACY_KEY].erase(path_id(request))
    await request.app[AUDIT_KEY].audit(
        _username(request), "customer.erase", request.path, report.to_dict()
    )
    return json_response(report.to_dict())


async def search_customers(request: web.Request) -> web.Response:
    """``?q=`` words matched (as prefixes) in names, companies, emails and notes."""
    params = request.query
    _unknown(params, ("q", "limit"))
    text = _single(params, "q")
    if text is None or not re.search(r"\w", text):
        raise ValidationError("q", "required, at least one word to search for")
    items = await request.app[CUSTOMERS_KEY].search(text, limit=_limit(params, 20))
    return json_response({"items": items})


# --- notes and dispositions ----------------------------------------------------------------


async def add_note(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _only(body, ("body", "call_id"))
    text = _text(body, "body", MAX_BODY, required=True)
    assert text is not None
    note = await request.app[INTERACTIONS_KEY].add_note(
        path_id(request), author=_username(request), body=text, call_id=_call_id(body)
    )
    return json_response(note, status=201)


async def add_disposition(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _only(body, ("code", "call_id"))
    code = body.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValidationError("code", "required, 1-64 lower-case letters, digits, _ . -")
    disposition = await request.app[INTERACTIONS_KEY].add_disposition(
        path_id(request), author=_username(request), code=code, call_id=_call_id(body)
    )
    return json_response(disposition, status=201)


# --- callbacks -----------------------------------------------------------------------------


async def add_callback(request: web.Request) -> web.Response:
    """``{"due_at", "assigned_to": username or null (anyone), "note"}``."""
    body = await read_json_object(request)
    _only(body, ("due_at", "assigned_to", "note"))
    if "due_at" not in body:
        raise ValidationError("due_at", "required")
    callback = await request.app[INTERACTIONS_KEY].add_callback(
        path_id(request),
        due_at=_due("due_at", body["due_at"]),
        assigned_to=_assignee(body),
        note=_text(body, "note", MAX_BODY, required=False) or "",
        created_by=_username(request),
    )
    return json_response(callback, status=201)


async def list_callbacks(request: web.Request) -> web.Response:
    """``?state=open`` (default; ``all`` for every state), ``?assigned_to=me|USER`` (theirs
    and anyone's), ``?due_before=``, ``?customer=``, ``?limit=``. Agents see only their own
    and unassigned callbacks (``assigned_to`` is always ``me`` for them)."""
    params = request.query
    _unknown(params, ("state", "assigned_to", "due_before", "customer", "limit"))
    state_text = _single(params, "state") or "open"
    state = None if state_text == "all" else _enum_value("state", state_text, CallbackState)
    assigned = _single(params, "assigned_to")
    if request[PRINCIPAL_KEY].user.role is Role.AGENT:
        if assigned not in (None, "me", _username(request)):
            raise PermissionDenied("agents see their own callbacks and unassigned ones")
        assigned = "me"
    if assigned == "me":
        assigned = _username(request)
    due_before = _single(params, "due_before")
    query = CallbackQuery(
        state=state,
        assigned_to=assigned.lower() if assigned else None,
        due_before=_due("due_before", due_before) if due_before else None,
        customer_id=_customer_param(params),
        limit=_limit(params, 100),
    )
    items = await request.app[INTERACTIONS_KEY].callbacks(query)
    return json_response({"items": items})


def _customer_param(params: MultiMapping[str]) -> int | None:
    text = _single(params, "customer")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValidationError("customer", "expected a customer id")
    return int(text)


async def update_callback(request: web.Request) -> web.Response:
    """``{"state": "open"|"done"|"cancelled", "due_at", "assigned_to", "note"}`` (any)."""
    body = await read_json_object(request)
    _only(body, ("state", "due_at", "assigned_to", "note"))
    if not body:
        raise ValidationError("body", "nothing to change")
    user = request[PRINCIPAL_KEY].user
    if user.role is Role.AGENT:
        # An agent works their own callbacks and unassigned ones, and may take one
        # (assign it to themselves) or give it back, but not hand it to someone else.
        current = await request.app[INTERACTIONS_KEY].get_callback(path_id(request))
        if current["assigned_to"] not in (None, user.username):
            raise PermissionDenied("this callback is assigned to someone else")
        if "assigned_to" in body and _assignee(body) not in (None, user.username):
            raise PermissionDenied("only supervisors assign callbacks to others")
    callback = await request.app[INTERACTIONS_KEY].update_callback(
        path_id(request),
        state=_enum_value("state", body["state"], CallbackState) if "state" in body else None,
        due_at=_due("due_at", body["due_at"]) if "due_at" in body else None,
        assigned_to=_assignee(body) if "assigned_to" in body else UNSET,
        note=_text(body, "note", MAX_BODY, required=True) if "note" in body else None,
    )
    return json_response(callback)


# --- tickets -------------------------------------------------------------------------------


async def add_ticket(request: web.Request) -> web.Response:
    """``{"subject", "kind": "ticket"|"complaint", "calls": [call ids], "assigned_to",
    "category", "due_at"}``."""
    body = await read_json_object(request)
    _only(body, ("subject", "kind", "calls", "assigned_to", "category", "due_at"))
    subject = _text(body, "subject", MAX_SUBJECT, required=True)
    assert subject is not None
    due = body.get("due_at")
    ticket = await request.app[INTERACTIONS_KEY].add_ticket(
        path_id(request),
        kind=_enum_value("kind", body.get("kind", "ticket"), TicketKind),
        subject=subject,
        created_by=_username(request),
        calls=_call_ids(body, "calls"),
        assigned_to=_assignee(body),
        category=_category(body),
        due_at=_due("due_at", due) if due is not None else None,
    )
    return json_response(ticket, status=201)


def _category(body: Mapping[str, Any]) -> str:
    value = body.get("category", "")
    if value == "":
        return ""
    text = _text(body, "category", 64, required=False)
    return text or ""


async def list_tickets(request: web.Request) -> web.Response:
    """``?status=``, ``?kind=``, ``?customer=``, ``?assigned_to=me|USER``, ``?category=``,
    ``?overdue=true``, ``?limit=``; recently updated first."""
    params = request.query
    _unknown(params, ("status", "kind", "customer", "limit", "assigned_to", "category", "overdue"))
    status = _single(params, "status")
    kind = _single(params, "kind")
    assigned = _single(params, "assigned_to")
    if assigned == "me":
        assigned = _username(request)
    overdue = _single(params, "overdue")
    if overdue not in (None, "true", "false"):
        raise ValidationError("overdue", "expected true or false")
    query = TicketQuery(
        status=_enum_value("status", status, TicketStatus) if status else None,
        kind=_enum_value("kind", kind, TicketKind) if kind else None,
        customer_id=_customer_param(params),
        limit=_limit(params, 100),
        assigned_to=assigned.strip().lower() if assigned else None,
        category=_single(params, "category"),
        overdue_at=time_key(datetime.fromtimestamp(request.app[CLOCK_KEY](), UTC))
        if overdue == "true"
        else None,
    )
    return json_response({"items": await request.app[INTERACTIONS_KEY].tickets(query)})


async def update_ticket(request: web.Request) -> web.Response:
    """``{"status", "subject", "add_calls": [call ids], "assigned_to" (null: nobody),
    "category", "due_at" (null: none), "resolution"}`` (any)."""
    body = await read_json_object(request)
    _only(
        body,
        ("status", "subject", "add_calls", "assigned_to", "category", "due_at", "resolution"),
    )
    if not body:
        raise ValidationError("body", "nothing to change")
    due = body.get("due_at")
    ticket = await request.app[INTERACTIONS_KEY].update_ticket(
        path_id(request),
        status=_enum_value("status", body["status"], TicketStatus) if "status" in body else None,
        subject=_text(body, "subject", MAX_SUBJECT, required=True) if "subject" in body else None,
        add_calls=_call_ids(body, "add_calls"),
        assigned_to=_assignee(body) if "assigned_to" in body else UNSET,
        category=_category(body) if "category" in body else None,
        due_at=(_due("due_at", due) if due is not None else None) if "due_at" in body else UNSET,
        resolution=_text(body, "resolution", MAX_BODY, required=True)
        if "resolution" in body
        else None,
    )
    return json_response(ticket)


# --- segments ------------------------------------------------------------------------------


async def list_segments(request: web.Request) -> web.Response:
    segments = await request.app[SEGMENTS_KEY].all()
    return json_response({"items": [segment.to_dict() for segment in segments]})


async def create_segment(request: web.Request) -> web.Response:
    """``{"name", "filter": {...}}`` with the filters of ``GET /api/customers``."""
    body = await read_json_object(request)
    _only(body, ("name", "filter"))
    name = _text(body, "name", MAX_SUBJECT, required=True)
    assert name is not None
    where = body.get("filter")
    if not isinstance(where, dict) or not where:
        raise ValidationError("filter", "required, an object with at least one filter")
    segment = await request.app[SEGMENTS_KEY].create(
        name, CustomerFilter.from_mapping(where), created_by=_username(request)
    )
    return json_response(segment.to_dict(), status=201)


async def segment_customers(request: web.Request) -> web.Response:
    """The customers in the segment now; ``limit`` and ``cursor`` as for customers."""
    params = request.query
    _unknown(params, ("limit", "cursor"))
    segment = await request.app[SEGMENTS_KEY].get(path_id(request))
    page = await request.app[CUSTOMERS_KEY].query(
        segment.filter, limit=_limit(params, 50), after=_after(params)
    )
    cursor = str(page.next_after) if page.next_after is not None else None
    return json_response({"segment": segment.to_dict(), "items": page.items, "next_cursor": cursor})


async def delete_segment(request: web.Request) -> web.Response:
    await request.app[SEGMENTS_KEY].delete(path_id(request))
    return web.Response(status=204)

"""The API behind the CRM pages (issue 16): the customers page (browse with search, filters,
sort and counts; bulk actions; the CSV of a selection), interactions from other channels,
consent history, merge candidates, the erasure preview and editing segments.

Thin handlers as in :mod:`callcenter.web.crm`: validate, one store call, answer. Roles come
from the route table; bulk actions and the CSV of a selection are for supervisors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from callcenter.crm.csv_export import CUSTOMER_COLUMNS, customer_row, encode_rows
from callcenter.store import CustomerFilter, Role, ValidationError
from callcenter.store.browse import MAX_SELECTION, SORTS
from callcenter.store.channels import Channel, Direction, InteractionInput
from callcenter.store.segments import TAG
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.errors import PermissionDenied
from callcenter.web.keys import (
    AUDIT_KEY,
    BROWSER_KEY,
    CHANNELS_KEY,
    PRINCIPAL_KEY,
    PRIVACY_KEY,
    SEGMENTS_KEY,
)
from callcenter.web.requests import (
    FILTER_PARAMS,
    MAX_BODY,
    MAX_SUBJECT,
    _due,
    _enum_value,
    _filter,
    _only,
    _single,
    _text,
    _unknown,
    _username,
    path_id,
)

MAX_OFFSET = 1_000_000
MAX_EXTERNAL_ID = 200
BULK_ACTIONS = ("tag", "untag", "owner", "campaign")


def _offset(text: str | None) -> int:
    if text is None:
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_OFFSET:
        raise ValidationError("offset", f"expected an integer from 0 to {MAX_OFFSET}")
    return int(text)


def _page_size(text: str | None) -> int:
    if text is None:
        return 50
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 200:
        raise ValidationError("limit", "expected an integer from 1 to 200")
    return int(text)


def _not_agent_churn(request: web.Request, where: CustomerFilter) -> None:
    if where.min_churn is not None and request[PRINCIPAL_KEY].user.role is Role.AGENT:
        raise PermissionDenied("the churn score is for supervisors: min_churn is theirs")


# --- the customers page --------------------------------------------------------------------


async def browse_customers(request: web.Request) -> web.Response:
    """The filters of ``GET /api/customers``, ``q`` (words), ``sort`` (one of
    :data:`SORTS`), ``offset`` and ``limit`` (1..200): a page with ``total``."""
    params = request.query
    _unknown(params, (*FILTER_PARAMS, "q", "sort", "offset", "limit"))
    where = _filter(params)
    _not_agent_churn(request, where)
    page = await request.app[BROWSER_KEY].page(
        where,
        text=_single(params, "q"),
        sort=_single(params, "sort") or "id",
        offset=_offset(_single(params, "offset")),
        limit=_page_size(_single(params, "limit")),
    )
    return json_response({**page.to_dict(), "sorts": list(SORTS)})


def _ids(body: Mapping[str, Any]) -> list[int]:
    value = body.get("ids")
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SELECTION:
        raise ValidationError("ids", f"required, a list of 1 to {MAX_SELECTION} customer ids")
    for i, item in enumerate(value):
        if not isinstance(item, int) or isinstance(item, bool) or not 0 < item < 2**62:
            raise ValidationError(f"ids[{i}]", "expected a customer id")
    return list(dict.fromkeys(value))


async def bulk_customers(request: web.Request) -> web.Response:
    """``{"ids": [...], "action": "tag"|"untag"|"owner"|"campaign", "tag", "owner",
    "campaign_id"}``: answers ``{"action", "changed"}`` (campaign: ``added``, ``skipped``)."""
    body = await read_json_object(request)
    _only(body, ("ids", "action", "tag", "owner", "campaign_id"))
    ids = _ids(body)
    action = body.get("action")
    if action not in BULK_ACTIONS:
        raise ValidationError("action", f"expected one of {', '.join(BULK_ACTIONS)}")
    browser = request.app[BROWSER_KEY]
    result: dict[str, Any] = {"action": action, "selected": len(ids)}
    if action in ("tag", "untag"):
        tag = body.get("tag")
        if not isinstance(tag, str) or not TAG.match(tag.strip()):
            raise ValidationError("tag", "required: 1-64 letters, digits, spaces or . : / + & -")
        result["changed"] = await browser.tag(ids, tag.strip(), remove=action == "untag")
    elif action == "owner":
        owner = body.get("owner")
        if owner is not None and (not isinstance(owner, str) or not owner.strip()):
            raise ValidationError("owner", "expected a username, or null for no owner")
        result["changed"] = await browser.set_owner(ids, owner.strip().lower() if owner else None)
    else:
        campaign = body.get("campaign_id")
        if not isinstance(campaign, int) or isinstance(campaign, bool) or not 0 < campaign < 2**62:
            raise ValidationError("campaign_id", "required, the id of a campaign")
        result.update(await browser.add_to_campaign(campaign, ids))
    await request.app[AUDIT_KEY].audit(
        _username(request), "customers.bulk", request.path, {**result, "ids": ids}
    )
    return json_response(result)


async def selection_csv(request: web.Request) -> web.Response:
    """``{"ids": [...]}``: those customers as CSV (the columns of the full export)."""
    body = await read_json_object(request)
    _only(body, ("ids",))
    ids = _ids(body)
    customers = await request.app[BROWSER_KEY].selection(ids)
    await request.app[AUDIT_KEY].audit(
        _username(request), "customers.export_selection", request.path, {"ids": ids}
    )
    data = encode_rows([list(CUSTOMER_COLUMNS), *(customer_row(c) for c in customers)])
    return web.Response(
        body=data,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="customers-selection.csv"',
        },
    )


# --- one customer --------------------------------------------------------------------------


async def consent_history(request: web.Request) -> web.Response:
    items = await request.app[BROWSER_KEY].consent_history(path_id(request))
    return json_response({"items": items})


async def same_number(request: web.Request) -> web.Response:
    """Other customers having one of this customer's numbers (candidates for a merge)."""
    items = await request.app[BROWSER_KEY].same_number(path_id(request))
    return json_response({"items": items})


async def erasure_preview(request: web.Request) -> web.Response:
    """What a GDPR erasure of this customer would delete or anonymise, counted."""
    return json_response(await request.app[PRIVACY_KEY].erasure_preview(path_id(request)))


def _external_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("external_id")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_EXTERNAL_ID:
        raise ValidationError(
            "external_id", f"expected a non-empty string of at most {MAX_EXTERNAL_ID} characters"
        )
    if any(ord(ch) < 32 for ch in value):
        raise ValidationError("external_id", "control characters are not allowed")
    return value.strip()


async def add_interaction(request: web.Request) -> web.Response:
    """``{"channel", "direction", "subject", "body", "occurred_at", "external_id"}``: 201
    with the new interaction, or 200 with ``"duplicate": true`` and the stored one when the
    ``external_id`` was posted before."""
    body = await read_json_object(request)
    _only(body, ("channel", "direction", "subject", "body", "occurred_at", "external_id"))
    for key in ("channel", "direction", "occurred_at"):
        if key not in body:
            raise ValidationError(key, "required")
    subject = _text(body, "subject", MAX_SUBJECT, required=False) or ""
    text = _text(body, "body", MAX_BODY, required=False) or ""
    if not subject and not text:
        raise ValidationError("subject", "give a subject or a body (or both)")
    data = InteractionInput(
        channel=_enum_value("channel", body["channel"], Channel),
        direction=_enum_value("direction", body["direction"], Direction),
        subject=subject,
        body=text,
        occurred_at=_due("occurred_at", body["occurred_at"]),
        external_id=_external_id(body),
    )
    interaction, created = await request.app[CHANNELS_KEY].add(
        path_id(request), data, author=_username(request)
    )
    if created:
        return json_response({**interaction, "duplicate": False}, status=201)
    return json_response({**interaction, "duplicate": True})


async def list_interactions(request: web.Request) -> web.Response:
    items = await request.app[CHANNELS_KEY].of_customer(path_id(request), limit=200)
    return json_response({"items": items})


# --- segments ------------------------------------------------------------------------------


async def update_segment(request: web.Request) -> web.Response:
    """``{"name", "filter"}`` (either or both)."""
    body = await read_json_object(request)
    _only(body, ("name", "filter"))
    if not body:
        raise ValidationError("body", "nothing to change")
    name = _text(body, "name", MAX_SUBJECT, required=False)
    where = None
    if "filter" in body:
        raw = body["filter"]
        if not isinstance(raw, dict) or not raw:
            raise ValidationError("filter", "an object with at least one filter")
        where = CustomerFilter.from_mapping(raw)
    segment = await request.app[SEGMENTS_KEY].update(path_id(request), name=name, where=where)
    return json_response(segment.to_dict())

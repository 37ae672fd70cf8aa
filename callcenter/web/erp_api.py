"""Orders and contracts from the ERP: ``POST /api/customers/{id}/orders`` and
``…/contracts`` (idempotent by ``external_id``: 201 when new, 200 with ``"updated": true``
when the ERP sends it again), ``GET /api/customers/{id}/orders`` (orders, contracts and the
customer's value)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.crm.imports import parse_contract, parse_order
from callcenter.web.bodies import json_response, read_json_object
from callcenter.web.errors import ValidationError
from callcenter.web.keys import ERP_KEY
from callcenter.web.requests import _only, path_id

ORDER_KEYS = ("external_id", "ordered_at", "amount", "currency", "description")
CONTRACT_KEYS = ("external_id", "product", "starts_on", "ends_on")


def _as_text(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """JSON values as the CSV parser's cells (numbers allowed for amounts)."""
    out: dict[str, str] = {}
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if key == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = repr(value)
        elif isinstance(value, str):
            out[key] = value
        else:
            raise ValidationError(
                key, "expected a string" + (" or a number" if key == "amount" else "")
            )
    return out


async def put_order(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _only(body, ORDER_KEYS)
    data = parse_order(_as_text(body, ORDER_KEYS))
    order, created = await request.app[ERP_KEY].put_order(path_id(request), data)
    return json_response({**order, "updated": not created}, status=201 if created else 200)


async def put_contract(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _only(body, CONTRACT_KEYS)
    data = parse_contract(_as_text(body, CONTRACT_KEYS))
    contract, created = await request.app[ERP_KEY].put_contract(path_id(request), data)
    return json_response({**contract, "updated": not created}, status=201 if created else 200)


async def customer_orders(request: web.Request) -> web.Response:
    customer_id = path_id(request)
    return json_response(await request.app[ERP_KEY].of_customer(customer_id))

"""Strict JSON in and out (issue 13, items 4 and 8): NaN/Infinity, lone surrogates, other
charsets and deep nesting are a 400 with the stable error shape, never a 500; responses are
always standard JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callcenter.errors import ValidationError
from callcenter.store import Role
from callcenter.web.bodies import MAX_DEPTH, dumps, parse_json
from tests.web.webclient import logged_in, origin


def strict(text: str) -> Any:
    """What a browser's JSON.parse accepts."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a response")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "A", "custom": {"a": NaN}}',
        b'{"name": "A", "custom": {"a": Infinity}}',
        b'{"name": "A", "custom": {"a": -Infinity}}',
        b'{"name": "A", "custom": {"a": 1e999}}',
        b'{"name": "\\ud800"}',
        b'{"name": "A", "custom": {"\\udfff": "x"}}',
        b'{"name": "\xff"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
    ],
)
async def test_bad_json_bodies_are_400(client: Any, raw: bytes) -> None:
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    headers = {"Origin": origin(client), "Content-Type": "application/json"}
    response = await client.post("/api/customers", data=raw, headers=headers)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["id"] == "invalid_input"
    listing = await client.get("/api/customers")
    assert strict(await listing.text())["items"] == []


async def test_login_with_a_lone_surrogate_is_400(client: Any) -> None:
    headers = {"Origin": origin(client), "Content-Type": "application/json"}
    for raw in (
        b'{"username": "\\ud800", "password": "x"}',
        b'{"username": "a", "password": "\\udc00"}',
    ):
        response = await client.post("/api/login", data=raw, headers=headers)
        assert response.status == 400
        assert (await response.json())["error"]["details"]["field"] == "body"


@pytest.mark.parametrize("charset", ["x-bogus", "latin-1", "utf-16"])
async def test_a_charset_other_than_utf8_is_400(client: Any, charset: str) -> None:
    headers = {"Origin": origin(client), "Content-Type": f"application/json; charset={charset}"}
    response = await client.post("/api/login", data=b'{"username": "a"}', headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]["details"]["field"] == "Content-Type"
    ok = {"Origin": origin(client), "Content-Type": "application/json; charset=UTF-8"}
    response = await client.post(
        "/api/login", data=b'{"username": "a", "password": "b"}', headers=ok
    )
    assert response.status == 401


def test_parse_json_accepts_standard_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, "M\\u00fcller", null, true]}') == {
        "a": [1, 2.5, "Müller", None, True]
    }
    with pytest.raises(ValidationError):
        parse_json(b"NaN")


def test_dumps_never_writes_non_finite_numbers() -> None:
    assert strict(dumps({"a": [float("nan"), 1.5], "b": float("inf")})) == {
        "a": [None, 1.5],
        "b": None,
    }


@pytest.mark.parametrize("digit", ["²", "①", "٣", "１"])
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/calls", "limit"),
        ("/api/customers", "limit"),
        ("/api/customers", "cursor"),
        ("/api/customers", "no_contact_days"),
        ("/api/callbacks", "customer"),
        ("/api/audit", "limit"),
        ("/api/customers/1", "timeline_limit"),
        ("/api/campaigns/1/timeline", "hours"),
    ],
)
async def test_unicode_digits_in_numeric_parameters_are_400(
    client: Any, path: str, param: str, digit: str
) -> None:
    await logged_in(client, "root", Role.ADMIN)
    response = await client.get(path, params={param: digit})
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["details"]["field"] == param

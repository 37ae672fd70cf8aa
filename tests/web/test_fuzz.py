"""Hostile input to every route must answer 4xx with the stable error shape, never 5xx
(issue 13, item 8). The routes, their query parameters and body fields come from the route
table and its OpenAPI document, so a new route is fuzzed without touching this file.

The app's AMI link points at a closed port, so call-control routes that get past validation
answer 503 ``pbx_unreachable``: the one 5xx allowed (the PBX really is unreachable)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.crm.customers import parse_customer
from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.store.campaigns import CampaignSpec
from callcenter.web.keys import CALL_LOG_KEY, CUSTOMERS_KEY, PHONES_KEY
from callcenter.web.openapi import build_document, openapi_path, path_params
from callcenter.web.routes import ROUTES, Route
from tests.web.webclient import logged_in, origin

SAMPLE_PATH = {
    "id": "1",
    "username": "u1",
    "call_id": "c1",
    "attempt_id": "c1-1.1",
    "path": "agent/main.js",
}
QUERY_VALUES = [
    "²",
    "①",
    "１２",
    "-1",
    "1e999",
    "nan",
    "9999-12-31",
    "0000-01-01",
    "\x00",
    "x" * 300,
]
RAW_VALUES = [
    "NaN",
    "-Infinity",
    '"\\ud800"',
    '"\\udfff x"',
    '"a\\r\\nAction: Hangup\\r\\n\\r\\n"',
    '"\\u0000"',
    '"²"',
    '"9999-12-31T23:59:59Z"',
    '"9999-12-31"',
    "18446744073709551616",
    "-1",
    "1e999",
    "[]",
    '["x"]',
    "{}",
    '{"a": NaN}',
    "null",
    "true",
    '"' + "x" * 70_000 + '"',
]
BAD_BODIES = [
    b"",
    b"\xff\xfe",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 5_000 + b"1" + b"}" * 5_000,
    b"[]",
    b"null",
    b'"\\ud800"',
    b"{",
]
CONTENT_TYPES = [
    "application/json; charset=x-bogus",
    "application/json; charset=utf-16",
    "multipart/form-data; boundary=zz",
    "multipart/form-data",
    "text/csv",
    "audio/wav",
]
CAMPAIGN_FIELDS = [f.name for f in dataclasses.fields(CampaignSpec)]
EXTRA_FIELDS = {"campaign_create": [*CAMPAIGN_FIELDS, "source"]}
BASE_BODIES = {
    "campaign_create": {"name": "n", "queue": "q", "source": {"churn": 0}},
    "supervisor_agent_pause": {"agent": "PJSIP/2001", "paused": True},
}


def _url(route: Route) -> str:
    url, last = "", 0
    for start, end, name, _ in path_params(route.path):
        url += route.path[last:start] + SAMPLE_PATH[name]
        last = end
    return url + route.path[last:]


def _fields(document: dict[str, Any], route: Route) -> tuple[list[str], list[str]]:
    operation = document["paths"].get(openapi_path(route.path), {}).get(route.method.lower(), {})
    query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    body = list(schema.get("properties", {})) + EXTRA_FIELDS.get(route.name, [])
    return [*query, "limit", "cursor"], body


def _requests(document: dict[str, Any], route: Route) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, aiohttp request kwargs) of every hostile request for ``route``."""
    query, fields = _fields(document, route)
    for name in query:
        for value in QUERY_VALUES:
            yield f"?{name}={value!r}", {"params": {name: value}}
    if route.method == "GET":
        return
    json_type = {"Content-Type": "application/json"}
    for raw in BAD_BODIES:
        yield f"body {raw[:20]!r}", {"data": raw, "headers": json_type}
    for content_type in CONTENT_TYPES:
        yield content_type, {"data": b"--zz\r\nbroken", "headers": {"Content-Type": content_type}}
    base = BASE_BODIES.get(route.name, {})
    prefix = json.dumps(base)[1:-1]
    for field in fields:
        for raw in RAW_VALUES:
            body = "{" + (prefix + ", " if prefix else "") + f'"{field}": {raw}' + "}"
            yield f"{field}={raw[:30]}", {"data": body.encode(), "headers": json_type}


def _allowed(status: int, body: Any) -> bool:
    if status < 500:
        return True
    return status == 503 and body.get("error", {}).get("id") == "pbx_unreachable"


@pytest.fixture
def fuzz_settings(settings: Settings, tmp_path: Path) -> Settings:
    root = tmp_path / "monitor"
    root.mkdir()
    return dataclasses.replace(
        settings, crm=dataclasses.replace(settings.crm, recordings_dir=str(root))
    )


async def test_no_route_answers_5xx_to_hostile_input(
    make_client: Any, fuzz_settings: Settings, make_call: Any
) -> None:
    client = await make_client(settings=fuzz_settings)
    parsed = parse_customer(
        {"name": "Anna", "phones": [{"number": "+4930123456"}]}, client.app[PHONES_KEY]
    )
    await client.app[CUSTOMERS_KEY].create(parsed)
    root = fuzz_settings.crm.recordings_dir
    await client.app[CALL_LOG_KEY].add_many([make_call("c1", recording=f"{root}/c1\0.wav")])
    document = build_document(ROUTES)
    failures: list[str] = []
    sent = 0
    for who in ("anonymous", Role.AGENT, Role.ADMIN):
        if who != "anonymous":
            assert isinstance(who, Role)
            await logged_in(client, f"fuzz-{who.value}", who, extension="PJSIP/2001")
        for route in ROUTES:
            if route.path.startswith("/ws/") or route.name == "logout":
                continue
            for label, kwargs in _requests(document, route):
                headers = {"Origin": origin(client), **kwargs.pop("headers", {})}
                url = _url(route)
                async with client.request(route.method, url, headers=headers, **kwargs) as response:
                    sent += 1
                    text = await response.text()
                    body = json.loads(text) if "json" in response.content_type else {}
                    if response.status >= 400 and response.content_type == "application/json":
                        assert set(body["error"]) == {"id", "message", "details"}, text
                    if not _allowed(response.status, body):
                        failures.append(f"{who} {route.method} {url} {label}: {response.status}")
    assert sent > 10_000
    assert failures == []
    assert (await client.get("/api/me")).status == 200  # still logged in: really fuzzed

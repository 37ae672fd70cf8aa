"""CSV upload and the CSV exports through create_app."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import aiohttp
import pytest

from callcenter.settings import Settings
from callcenter.store import Role
from callcenter.web.keys import AUDIT_KEY, CALL_LOG_KEY
from tests.web.webclient import logged_in, origin

CSV = (
    "Name;Telefon;Mail\n"
    "Anna Müller;030 123456;anna@example.com\n"
    "Ben;kaputt;\n"
    "Clara;+4930123456;\n"
    "Dora;089 123456;dora@example.com\n"
)


@pytest.fixture
async def supervisor(client: Any) -> Any:
    return await logged_in(client, "sue", Role.SUPERVISOR)


async def upload(client: Any, body: Any, params: Any = None, **headers: str) -> Any:
    return await client.post(
        "/api/import/customers",
        data=body,
        params=params,
        headers={"Origin": origin(client), **headers},
    )


async def test_upload_a_csv_body(client: Any, supervisor: Any) -> None:
    params = [("map", "Name=name"), ("map", "Telefon=phone"), ("map", "Mail=email")]
    response = await upload(client, CSV.encode(), params, **{"Content-Type": "text/csv"})
    assert response.status == 200, await response.text()
    summary = await response.json()
    assert (summary["rows"], summary["imported"], summary["duplicates"], summary["failed"]) == (
        4,
        2,
        1,
        1,
    )
    assert summary["errors"] == [
        {"row": 3, "reason": "Telefon: not a phone number (numbers without + are read as DE)"}
    ]
    assert summary["duplicate_rows"] == [{"row": 4, "customer_id": 1, "phone": "+4930123456"}]
    listed = await (await client.get("/api/customers")).json()
    assert [c["name"] for c in listed["items"]] == ["Anna Müller", "Dora"]
    entry = (await client.app[AUDIT_KEY].recent(action="customers.import"))[0]
    assert entry.actor == "sue"
    assert entry.details["imported"] == 2


async def test_upload_a_form(client: Any, supervisor: Any) -> None:
    form = aiohttp.FormData()
    form.add_field("map", "Telefon=phone")
    form.add_field("map", "Name=name")
    form.add_field("file", CSV.encode(), filename="c.csv", content_type="text/csv")
    response = await upload(client, form)
    summary = await response.json()
    assert summary["imported"] == 2
    assert summary["ignored_columns"] == ["Mail"]


async def test_upload_errors(client: Any, supervisor: Any) -> None:
    bad_map = await upload(client, CSV.encode(), [("map", "Name=shoe_size")])
    assert (await bad_map.json())["error"]["details"]["field"] == "map"
    missing = await upload(client, CSV.encode(), [("map", "Nope=name")])
    assert "no column 'Nope'" in (await missing.json())["error"]["message"]
    empty = await upload(client, b"", **{"Content-Type": "text/csv"})
    assert (await empty.json())["error"]["details"]["field"] == "file"
    wrong_type = await upload(client, b"{}", **{"Content-Type": "application/json"})
    assert (await wrong_type.json())["error"]["details"]["field"] == "Content-Type"
    no_file = aiohttp.FormData(default_to_multipart=True)
    no_file.add_field("map", "Name=name")
    form_without_file = await upload(client, no_file)
    assert (await form_without_file.json())["error"]["details"]["field"] == "file"


async def test_upload_size_limit(make_client: Any, settings: Settings) -> None:
    small = dataclasses.replace(settings, crm=dataclasses.replace(settings.crm, import_max_mb=1))
    client = await make_client(settings=small)
    await logged_in(client, "sue", Role.SUPERVISOR)
    body = io.BytesIO(b"name\n" + b"x" * (1024 * 1024 + 10))
    response = await upload(client, body, **{"Content-Type": "text/csv"})
    assert response.status == 413
    assert (await response.json())["error"]["id"] == "request_entity_too_large"


async def test_export_customers_csv(client: Any) -> None:
    await logged_in(client, "root", Role.ADMIN)
    await upload(
        client,
        CSV.encode(),
        [("map", "Name=name"), ("map", "Telefon=phone"), ("map", "Mail=email")],
        **{"Content-Type": "text/csv"},
    )
    response = await client.get("/api/export/customers.csv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="customers.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [(r["name"], r["phones"], r["emails"]) for r in rows] == [
        ("Anna Müller", "main:030 123456", "anna@example.com"),
        ("Dora", "main:089 123456", "dora@example.com"),
    ]
    assert (await client.app[AUDIT_KEY].recent(action="customers.export"))[0].actor == "root"


async def test_export_calls_csv(client: Any, make_call: Any) -> None:
    await logged_in(client, "root", Role.ADMIN)
    await client.app[CALL_LOG_KEY].add_many(
        [make_call(f"c{i}", started_at=1714550400.0 + i * 60) for i in range(3)]
    )
    response = await client.get("/api/export/calls.csv?queue=support")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [r["call_id"] for r in rows] == ["c2", "c1", "c0"]
    assert rows[0]["agents_offered"] == "PJSIP/2001;PJSIP/2002"
    assert rows[0]["caller_number"] == "+4930123456"
    bad = await client.get("/api/export/calls.csv?outcome=maybe")
    assert (await bad.json())["error"]["details"]["field"] == "outcome"

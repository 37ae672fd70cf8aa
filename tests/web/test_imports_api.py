"""Imports as batches (#16 item 6) and orders/contracts from the ERP (#16 item 4) through
create_app: the preview's automatic mapping, an import running in the background with its
progress, the batch list, the rejected rows with reasons as CSV; customers, interactions,
orders and contracts; idempotent by external id; the customer's value; roles."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import aiohttp

from callcenter.store import Role
from callcenter.web.keys import IMPORTS_KEY
from tests.web.test_crm_api import created, post
from tests.web.webclient import logged_in, origin


async def upload(client: Any, kind: str, text: str, mapping: dict[str, str] | None = None) -> Any:
    form = aiohttp.FormData()
    form.add_field("kind", kind)
    form.add_field("mapping", json.dumps(mapping or {}))
    form.add_field("file", text.encode(), filename=f"{kind}.csv", content_type="text/csv")
    return await client.post("/api/imports", data=form, headers={"Origin": origin(client)})


async def finished(client: Any, response: Any) -> dict[str, Any]:
    assert response.status == 202, await response.text()
    batch = await response.json()
    await client.app[IMPORTS_KEY].wait(batch["id"])
    done: dict[str, Any] = await (await client.get(f"/api/imports/{batch['id']}")).json()
    return done


async def rejected(client: Any, batch_id: int) -> list[list[str]]:
    response = await client.get(f"/api/imports/{batch_id}/rejected.csv")
    assert response.status == 200
    return list(csv.reader(io.StringIO(await response.text())))


async def test_preview_gives_the_automatic_mapping(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    head = "Name;Phone;Fax;City\nAnna;030 1;x;Berlin\nBert;030 2;y;Bonn"
    response = await client.post(
        "/api/imports/preview?kind=customers",
        data=head.encode(),
        headers={"Origin": origin(client), "Content-Type": "text/csv"},
    )
    assert response.status == 200, await response.text()
    found = await response.json()
    assert found["delimiter"] == ";"
    assert found["mapping"] == {"Name": "name", "Phone": "phone", "Fax": "", "City": "city"}
    assert found["sample"] == [["Anna", "030 1", "x", "Berlin"]]  # the cut last row dropped
    assert "custom.<key>" not in found["fields"] and "name" in found["fields"]
    orders = await client.post(
        "/api/imports/preview?kind=orders",
        data=b"External ID,Customer_ID,Amount\n",
        headers={"Origin": origin(client), "Content-Type": "text/csv"},
    )
    assert (await orders.json())["mapping"] == {
        "External ID": "external_id",
        "Customer_ID": "customer_id",
        "Amount": "amount",
    }


async def test_customer_import_is_a_batch_with_rejects_and_progress(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    rows = ["Full Name,phone,do_not_call,Fax"]
    rows += [f"Person {i},030 55{i:05d},no,x" for i in range(25)]
    rows += ["Bad Flag,030 5599999,maybe,x", "Dup,030 5500001,no,x", "short,row"]
    runner = client.app[IMPORTS_KEY]
    runner.batch_size = 10
    seen: list[dict[str, Any]] = []
    gate = asyncio.Event()

    async def between() -> None:
        if not seen:
            seen.append(await runner.batches.get(batch_id))
            gate.set()

    runner.between_batches = between
    response = await upload(client, "customers", "\n".join(rows), {"Full Name": "name"})
    batch_id = (await response.json())["id"] if response.status == 202 else -1
    done = await finished(client, response)
    assert gate.is_set()
    assert seen[0]["state"] == "running" and 0 < seen[0]["rows"] < 28
    assert 0 < seen[0]["progress"] <= 1  # bytes read ahead in 64 KiB buffers
    assert (done["state"], done["rows"], done["imported"], done["duplicates"], done["failed"]) == (
        "done",
        28,
        25,
        1,
        2,
    )
    assert done["progress"] == 1.0
    assert done["mapping"] == {
        "Full Name": "name",
        "phone": "phone",
        "do_not_call": "do_not_call",
        "Fax": "",
    }
    table = await rejected(client, batch_id)
    assert table[0] == ["row", "reason", "Full Name", "phone", "do_not_call", "Fax"]
    by_row = {int(r[0]): r for r in table[1:]}
    assert set(by_row) == {27, 28, 29}
    assert "do_not_call" in by_row[27][1] and by_row[27][2:] == [
        "Bad Flag",
        "030 5599999",
        "maybe",
        "x",
    ]
    assert "duplicate" in by_row[28][1]
    assert "cells" in by_row[29][1] and by_row[29][2:] == ["short", "row"]
    listed = (await (await client.get("/api/imports")).json())["items"]
    assert [(b["id"], b["kind"], b["filename"], b["created_by"]) for b in listed] == [
        (batch_id, "customers", "customers.csv", "sue")
    ]


async def test_interactions_import_by_phone_or_id_is_idempotent(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    anna = await created(client, {"name": "Anna", "phones": [{"number": "030 1111111"}]})
    text = (
        "customer_id,phone,channel,direction,subject,occurred_at,external_id\n"
        f"{anna['id']},,email,inbound,Hello,2026-01-02T10:00:00Z,m-1\n"
        ",030 1111111,letter,outbound,Offer,2026-01-03T10:00:00Z,m-2\n"
        ",030 9999999,email,inbound,Who,2026-01-03T10:00:00Z,m-3\n"
        f"{anna['id']},,fax,inbound,Nope,2026-01-03T10:00:00Z,m-4\n"
    )
    first = await finished(client, await upload(client, "interactions", text))
    assert (first["imported"], first["failed"]) == (2, 2)
    again = await finished(client, await upload(client, "interactions", text))
    assert (again["imported"], again["duplicates"], again["failed"]) == (0, 2, 2)
    items = (await (await client.get(f"/api/customers/{anna['id']}/interactions")).json())["items"]
    assert sorted(i["external_id"] for i in items) == ["m-1", "m-2"]
    reasons = [r[1] for r in (await rejected(client, first["id"]))[1:]]
    assert any("no customer has 030 9999999" in r for r in reasons)
    assert any(r.startswith("channel:") for r in reasons)


async def test_a_bad_mapping_is_refused_before_anything_runs(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    bad = await upload(client, "orders", "external_id,amount\nx,1\n")
    assert bad.status == 400
    assert "ordered_at" in (await bad.json())["error"]["message"]
    wrong = await upload(client, "customers", "name\nA\n", {"name": "nonsense"})
    assert (await wrong.json())["error"]["details"]["field"] == "mapping"
    assert (await (await client.get("/api/imports")).json())["items"] == []


async def test_orders_and_contracts_api_import_and_value(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    anna = await created(client, {"name": "Anna", "phones": [{"number": "030 2222222"}]})
    path = f"/api/customers/{anna['id']}"
    order = {"external_id": "o-1", "ordered_at": "2000-01-01T00:00:00Z", "amount": "100.50"}
    first = await post(client, f"{path}/orders", order)
    assert first.status == 201, await first.text()
    assert (await first.json())["updated"] is False
    again = await post(client, f"{path}/orders", {**order, "amount": 200})
    assert again.status == 200
    assert (await again.json())["amount_cents"] == 20000
    recent = {"external_id": "o-2", "ordered_at": "2099-01-01T00:00:00Z", "amount": 49.5}
    assert (await post(client, f"{path}/orders", recent)).status == 201
    bad = await post(client, f"{path}/orders", {**recent, "amount": "lots"})
    assert (await bad.json())["error"]["details"]["field"] == "amount"
    contract = {
        "external_id": "k-1",
        "product": "Fibre",
        "starts_on": "2020-01-01",
        "ends_on": "2999-12-31",
    }
    assert (await post(client, f"{path}/contracts", contract)).status == 201
    text = (
        "external_id,phone,ordered_at,amount,currency\n"
        "o-1,030 2222222,2000-01-01T00:00:00Z,300,EUR\n"
        'o-3,030 2222222,2099-01-02T00:00:00Z,"10,25",EUR\n'
    )
    done = await finished(client, await upload(client, "orders", text))
    assert (done["imported"], done["updated"], done["failed"]) == (1, 1, 0)
    erp = await (await client.get(f"{path}/orders")).json()
    assert sorted(o["external_id"] for o in erp["orders"]) == ["o-1", "o-2", "o-3"]
    value = erp["value"]
    assert value["revenue_lifetime"] == 300 + 49.5 + 10.25
    assert value["orders"] == 3
    assert value["contract_end"] == "2999-12-31"
    contracts = await finished(
        client,
        await upload(
            client,
            "contracts",
            f"external_id,customer_id,product,starts_on,ends_on\nk-1,{anna['id']},Fibre,2020-01-01,2030-06-30\n",
        ),
    )
    assert contracts["updated"] == 1
    assert (await (await client.get(f"{path}/orders")).json())["value"][
        "contract_end"
    ] == "2030-06-30"


async def test_agents_may_read_value_but_not_import_or_post_orders(client: Any) -> None:
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    anna = await created(client, {"name": "Anna"})
    assert (await client.get(f"/api/customers/{anna['id']}/orders")).status == 200
    order = {"external_id": "o-1", "ordered_at": "2024-01-01T00:00:00Z", "amount": 1}
    assert (await post(client, f"/api/customers/{anna['id']}/orders", order)).status == 403
    assert (await upload(client, "customers", "name\nA\n")).status == 403
    assert (await client.get("/api/imports")).status == 403
    assert (await client.get("/import")).status == 200  # the shell; its API refuses


async def test_value_and_contract_end_feed_the_segments(client: Any) -> None:
    await logged_in(client, "sue", Role.SUPERVISOR)
    rich = await created(client, {"name": "Rich"})
    poor = await created(client, {"name": "Poor"})
    ending = await created(client, {"name": "Ending"})
    old = "2001-01-01T00:00:00Z"
    await post(
        client,
        f"/api/customers/{rich['id']}/orders",
        {"external_id": "r1", "ordered_at": "2026-12-31T00:00:00Z", "amount": 5000},
    )
    await post(
        client,
        f"/api/customers/{poor['id']}/orders",
        {"external_id": "p1", "ordered_at": old, "amount": 9000},
    )
    soon = {"external_id": "c1", "product": "X", "starts_on": "2020-01-01", "ends_on": "2000-01-01"}
    assert (await post(client, f"/api/customers/{ending['id']}/contracts", soon)).status == 400

    async def names(query: str) -> list[str]:
        page = await (await client.get(f"/api/customers/browse?{query}&sort=name")).json()
        return [c["name"] for c in page["items"]]

    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    within = {
        "external_id": "c2",
        "product": "X",
        "starts_on": "2020-01-01",
        "ends_on": (today + timedelta(days=20)).isoformat(),
    }
    later = {
        "external_id": "c3",
        "product": "X",
        "starts_on": "2020-01-01",
        "ends_on": (today + timedelta(days=200)).isoformat(),
    }
    assert (await post(client, f"/api/customers/{ending['id']}/contracts", within)).status == 201
    assert (await post(client, f"/api/customers/{rich['id']}/contracts", later)).status == 201
    recent = (datetime.now(UTC) - timedelta(days=10)).isoformat(timespec="seconds")
    await post(
        client,
        f"/api/customers/{rich['id']}/orders",
        {"external_id": "r2", "ordered_at": recent, "amount": 100},
    )
    assert await names("min_value=100") == ["Rich"]
    assert await names("min_value=1") == ["Rich"]  # Poor's order is older than 12 months
    assert await names("contract_ends_within_days=30") == ["Ending"]
    assert await names("contract_ends_within_days=365") == ["Ending", "Rich"]
    assert await names("no_purchase_days=30") == ["Ending", "Poor"]
    bad = await client.get("/api/customers/browse?min_value=-1")
    assert (await bad.json())["error"]["details"]["field"] == "min_value"

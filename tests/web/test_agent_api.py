"""The agent panel's API against the real app and the fake PBX: what each button sends to
Asterisk, what the agent reads back, and how PBX refusals come out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.demo.fake_pbx import FakeAmiServer
from callcenter.store import Role
from callcenter.web.keys import CUSTOMERS_KEY, DATABASE_KEY
from callcenter.web.pages import CONTENT_SECURITY_POLICY
from tests.e2e.test_ami_to_call_log import link_up, until
from tests.web.agent_calls import PbxScript
from tests.web.webclient import logged_in, origin

Client = TestClient[Any, Any]


@pytest.fixture
async def agent(pbx_client: Client, fake_pbx: FakeAmiServer) -> Client:
    """agent1 on PJSIP/2001, logged in, the AMI link up, the phone in queue support."""
    client = pbx_client
    await logged_in(client, "agent1", Role.AGENT, extension="PJSIP/2001")
    await link_up(client)
    PbxScript(fake_pbx).add_agent("2001")
    await until(lambda: _has_agent(client))
    return client


async def _has_agent(client: Client) -> bool:
    state = await (await client.get("/api/agent/state")).json()
    return state["agent"] is not None


async def post(client: Client, path: str, body: Any) -> Any:
    return await client.post(path, json=body, headers={"Origin": origin(client)})


async def state(client: Client) -> dict[str, Any]:
    response = await client.get("/api/agent/state")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_pause_and_ready_send_queuepause_and_the_board_follows(
    agent: Client, fake_pbx: FakeAmiServer
) -> None:
    response = await post(agent, "/api/agent/pause", {"paused": True, "reason": "lunch"})
    assert response.status == 200, await response.text()
    sent = fake_pbx.actions_named("QueuePause")[-1]
    assert (sent["Interface"], sent["Paused"], sent["Reason"]) == ("PJSIP/2001", "true", "lunch")
    assert "Queue" not in sent  # all of the agent's queues

    async def paused() -> bool:
        me = (await state(agent))["agent"]
        return bool(me["paused"]) and me["pause_reason"] == "lunch" and me["state"] == "paused"

    await until(paused)
    response = await post(agent, "/api/agent/pause", {"paused": False})
    assert response.status == 200
    assert fake_pbx.actions_named("QueuePause")[-1]["Paused"] == "false"
    await until(lambda: _ready(agent))


async def _ready(client: Client) -> bool:
    return bool((await state(client))["agent"]["state"] == "ready")


async def test_pause_reasons_are_checked_and_pbx_refusals_read_plainly(
    agent: Client, fake_pbx: FakeAmiServer
) -> None:
    response = await post(agent, "/api/agent/pause", {"paused": True, "reason": "nap"})
    assert response.status == 400
    assert (await response.json())["error"]["details"]["field"] == "reason"
    fake_pbx.members.clear()  # Asterisk: "Interface not found"
    response = await post(agent, "/api/agent/pause", {"paused": True, "reason": "break"})
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["message"] == "Your phone is not signed in to any queue, so it cannot be paused."
    assert error["details"]["pbx"] == "Interface not found"
    await fake_pbx.stop()

    async def down() -> bool:
        reply = await post(agent, "/api/agent/pause", {"paused": False})
        return bool(reply.status == 503)

    await until(down)


async def test_click_to_call_originates_the_agents_phone_then_the_number(
    agent: Client, fake_pbx: FakeAmiServer
) -> None:
    response = await post(agent, "/api/agent/dial", {"number": "+49 30 1234-5678"})
    assert response.status == 202, await response.text()
    sent = fake_pbx.actions_named("Originate")[-1]
    assert sent["Channel"] == "PJSIP/2001"
    assert (sent["Context"], sent["Exten"], sent["Priority"]) == ("outbound", "+493012345678", "1")
    assert sent["CallerID"] == '"+493012345678" <2001>'
    assert sent["ActionID"] == (await response.json())["action_id"]
    for bad in ("", "12345\r\nAction: Hangup", "sip:evil@example.com", "+"):
        response = await post(agent, "/api/agent/dial", {"number": bad})
        assert response.status == 400, bad
    assert len(fake_pbx.actions_named("Originate")) == 1


async def test_state_hangup_and_transfers_act_on_the_agents_own_channel(
    agent: Client, fake_pbx: FakeAmiServer
) -> None:
    fake_pbx.strict_channels = True
    response = await post(agent, "/api/agent/hangup", {})
    assert response.status == 409
    assert (await response.json())["error"]["message"] == "You are not on a call."
    script = PbxScript(fake_pbx)
    call = script.ring("2001", "+493012345678", "Jürgen Müller")

    async def ringing() -> bool:
        return (await state(agent))["call"] is not None

    await until(ringing)
    live = (await state(agent))["call"]
    assert (live["call_id"], live["channel"]) == (call.call_id, call.phone["Channel"])
    assert (live["caller_number"], live["state"]) == ("+493012345678", "queued")
    script.answer(call)

    async def talking() -> bool:
        return bool((await state(agent))["call"]["state"] == "talking")

    await until(talking)
    assert (await state(agent))["agent"]["state"] == "on_call"

    response = await post(agent, "/api/agent/transfer", {"to": "2002", "kind": "attended"})
    assert response.status == 200, await response.text()
    atxfer = fake_pbx.actions_named("Atxfer")[-1]
    assert (atxfer["Channel"], atxfer["Exten"], atxfer["Context"]) == (
        call.phone["Channel"],
        "2002",
        "from-phones",
    )
    body = {"to": "2002", "kind": "blind", "call_id": call.call_id}
    response = await post(agent, "/api/agent/transfer", body)
    assert response.status == 200, await response.text()
    blind = fake_pbx.actions_named("BlindTransfer")[-1]
    # The transferer's channel: Asterisk moves the party bridged with it (the caller).
    assert (blind["Channel"], blind["Exten"], blind["Context"]) == (
        call.phone["Channel"],
        "2002",
        "from-phones",
    )
    response = await post(agent, "/api/agent/transfer", {"to": "2002", "kind": "warm"})
    assert response.status == 400
    response = await post(agent, "/api/agent/hangup", {"call_id": call.call_id})
    assert response.status == 200, await response.text()
    assert fake_pbx.actions_named("Hangup")[-1]["Channel"] == call.phone["Channel"]
    response = await post(agent, "/api/agent/hangup", {"call_id": "999.9"})
    assert response.status == 409


async def test_call_control_on_a_vanished_channel_says_the_call_ended(
    agent: Client, fake_pbx: FakeAmiServer
) -> None:
    fake_pbx.strict_channels = True
    call = PbxScript(fake_pbx).ring("2001", "+493012345678", "")
    await until(lambda: _on_call(agent))
    del fake_pbx.channels[call.phone["Channel"]]  # gone at the PBX, not yet seen by us
    response = await post(agent, "/api/agent/hangup", {})
    assert response.status == 502
    assert (await response.json())["error"]["message"] == "That call has already ended."


async def _on_call(client: Client) -> bool:
    return (await state(client))["call"] is not None


async def test_wrap_up_lands_on_the_timeline_and_the_call_log_record(
    agent: Client, fake_pbx: FakeAmiServer
) -> None:
    script = PbxScript(fake_pbx)
    call = script.ring("2001", "+493012345678", "Jürgen Müller")
    script.answer(call)
    await until(lambda: _on_call(agent))
    [customer_id] = await agent.app[CUSTOMERS_KEY].ensure_for_number("+493012345678")
    body = {
        "customer_id": customer_id,
        "call_id": call.call_id,
        "disposition": "follow_up",
        "note": "wants the <b>premium</b> plan",
        "callback": {"due_at": "2030-01-02T09:00:00Z", "for": "me", "note": "offer"},
    }
    response = await post(agent, "/api/agent/wrapup", body)
    assert response.status == 201, await response.text()
    saved = await response.json()
    assert saved["disposition"]["code"] == "follow_up"
    assert saved["note"]["body"] == "wants the <b>premium</b> plan"
    assert (saved["callback"]["assigned_to"], saved["callback"]["due_at"]) == (
        "agent1",
        "2030-01-02T09:00:00Z",
    )
    script.hang_up(call)

    async def logged() -> bool:
        return (await agent.get(f"/api/calls/{call.call_id}")).status == 200

    await until(logged)
    record = await (await agent.get(f"/api/calls/{call.call_id}")).json()
    assert (record["agent"], record["outcome"]) == ("PJSIP/2001", "answered")
    assert [d["code"] for d in record["dispositions"]] == ["follow_up"]
    assert [n["body"] for n in record["notes"]] == ["wants the <b>premium</b> plan"]
    customer = await (await agent.get(f"/api/customers/{customer_id}")).json()
    kinds = {event["type"] for event in customer["timeline"]}
    assert {"call", "disposition", "note", "callback"} <= kinds


async def _timeline_kinds(client: Client, customer_id: int) -> list[str]:
    customer = await (await client.get(f"/api/customers/{customer_id}")).json()
    return sorted(e["type"] for e in customer["timeline"] if e["type"] != "call")


async def test_wrap_up_is_one_transaction_and_a_retry_saves_it_once(agent: Client) -> None:
    """A wrap-up whose note the database refuses saves nothing (no disposition, no
    callback); the retry saves everything once, and a second retry of the same wrap-up
    answers with the rows of the first (lost response, double click)."""
    [customer_id] = await agent.app[CUSTOMERS_KEY].ensure_for_number("+493012345678")
    body = {
        "customer_id": customer_id,
        "call_id": "1700000000.7",
        "disposition": "follow_up",
        "note": "call back about the contract",
        "callback": {"due_at": "2030-01-02T09:00:00Z", "for": "me"},
    }
    async with agent.app[DATABASE_KEY].transaction() as conn:
        await conn.execute(
            "CREATE TRIGGER notes_fail BEFORE INSERT ON notes"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    failed = await post(agent, "/api/agent/wrapup", body)
    assert failed.status >= 500
    assert await _timeline_kinds(agent, customer_id) == []
    async with agent.app[DATABASE_KEY].transaction() as conn:
        await conn.execute("DROP TRIGGER notes_fail")

    first = await post(agent, "/api/agent/wrapup", body)
    assert first.status == 201, await first.text()
    again = await post(agent, "/api/agent/wrapup", body)
    assert again.status == 200, await again.text()
    saved, replayed = await first.json(), await again.json()
    assert replayed["replayed"] is True and saved["replayed"] is False
    for part in ("disposition", "note", "callback"):
        assert replayed[part]["id"] == saved[part]["id"]
    assert await _timeline_kinds(agent, customer_id) == ["callback", "disposition", "note"]

    changed = await post(agent, "/api/agent/wrapup", {**body, "disposition": "resolved"})
    assert changed.status == 409
    assert (await changed.json())["error"]["id"] == "conflict"
    assert await _timeline_kinds(agent, customer_id) == ["callback", "disposition", "note"]


async def test_wrap_up_input_is_checked(agent: Client) -> None:
    base = {"customer_id": 1, "disposition": "resolved"}
    for change, field in (
        ({"disposition": "bribed"}, "disposition"),
        ({"customer_id": "1"}, "customer_id"),
        ({"call_id": "x y"}, "call_id"),
        ({"callback": {"due_at": "tomorrow"}}, "callback.due_at"),
        ({"callback": {"due_at": "2030-01-01T00:00:00Z", "for": "boss"}}, "callback.for"),
        ({"extra": 1}, "extra"),
    ):
        response = await post(agent, "/api/agent/wrapup", {**base, **change})
        assert response.status == 400, change
        assert (await response.json())["error"]["details"]["field"] == field


async def test_users_without_a_phone_and_other_agents_calls(agent: Client) -> None:
    await logged_in(agent, "boss", Role.ADMIN)
    assert (await agent.get("/api/agent/state")).status == 403
    assert (await post(agent, "/api/agent/pause", {"paused": False})).status == 403
    assert (await agent.get("/api/calls/1.2")).status == 404
    options = await (await agent.get("/api/agent/options")).json()
    assert "lunch" in options["pause_reasons"] and "resolved" in options["dispositions"]


async def test_pages_are_public_shells_with_a_strict_csp(agent: Client) -> None:
    from callcenter.web.pages import UI_DIR

    page = await agent.get("/agent")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    html = await page.text()
    assert '<script type="module" src="/static/agent/main.js"></script>' in html
    assert "<script>" not in html and "style=" not in html
    assert (await agent.get("/login")).status == 200
    index = await agent.get("/", allow_redirects=False)
    assert (index.status, index.headers["Location"]) == (302, "/agent")
    script = await agent.get("/static/agent/main.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert await script.read() == (UI_DIR / "static/agent/main.js").read_bytes()
    etag = script.headers["ETag"]
    unchanged = await agent.get("/static/agent/main.js", headers={"If-None-Match": etag})
    assert (unchanged.status, unchanged.headers["ETag"]) == (304, etag)
    other = await agent.get("/static/agent/api.js", headers={"If-None-Match": etag})
    assert other.status == 200 and other.headers["ETag"] != etag
    for missing in ("/static/agent/nope.js", "/static/../app.py", "/static/agent/x.html"):
        assert (await agent.get(missing)).status == 404, missing


async def test_no_script_puts_data_into_html() -> None:
    from callcenter.web.pages import UI_DIR

    for path in (UI_DIR / "static").rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (path.name, sink)
    await asyncio.sleep(0)

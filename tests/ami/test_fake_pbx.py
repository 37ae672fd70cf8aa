"""FakeAmiServer on the wire, seen by a raw TCP client (no callcenter code on this side)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ami_captures import load_capture

from callcenter.demo.fake_pbx import FakeAmiServer, decode_frame, encode_frame, strip_login_preamble


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, **headers: str) -> None:
        self.writer.write(encode_frame(headers))
        await self.writer.drain()

    async def frame(self) -> dict[str, str]:
        data = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 2)
        return {k: v if isinstance(v, str) else "\n".join(v) for k, v in decode_frame(data).items()}

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    srv = FakeAmiServer(username="crm", secret="pw", auth_fail_delay_s=0.01)
    srv.add_queue("support")
    await srv.start()
    yield srv
    await srv.stop()


async def connect(server: FakeAmiServer, login: bool = True) -> RawClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
    client = RawClient(reader, writer)
    if login:
        await client.send(Action="Login", ActionID="l1", Username="crm", Secret="pw")
        assert (await client.frame())["Message"] == "Authentication accepted"
        assert (await client.frame())["Event"] == "FullyBooted"
    return client


async def test_login_ping_unknown_and_logoff(server: FakeAmiServer) -> None:
    client = await connect(server)
    await client.send(Action="Ping", ActionID="p1")
    pong = await client.frame()
    assert pong["Response"] == "Success" and pong["Ping"] == "Pong" and pong["ActionID"] == "p1"
    assert float(pong["Timestamp"]) > 0
    await client.send(Action="Frobnicate", ActionID="u1")
    error = await client.frame()
    assert error["Response"] == "Error" and error["Message"].startswith("Invalid/unknown command")
    await client.send(Action="Logoff", ActionID="o1")
    assert (await client.frame())["Response"] == "Goodbye"
    assert await client.reader.read() == b""
    await client.close()
    assert [a["Action"] for a in server.actions] == ["Login", "Ping", "Frobnicate", "Logoff"]


async def test_bad_login_answers_error_then_closes(server: FakeAmiServer) -> None:
    client = await connect(server, login=False)
    await client.send(Action="Login", ActionID="l1", Username="crm", Secret="nope")
    answer = await client.frame()
    assert answer == {"Response": "Error", "ActionID": "l1", "Message": "Authentication failed"}
    assert await asyncio.wait_for(client.reader.read(), 2) == b""
    await client.close()


async def test_actions_before_login_are_refused(server: FakeAmiServer) -> None:
    client = await connect(server, login=False)
    await client.send(Action="QueueStatus", ActionID="q1")
    assert (await client.frame())["Message"] == "Permission denied"
    await client.close()


async def test_list_actions_follow_asterisk_framing(server: FakeAmiServer) -> None:
    carrier = server.add_channel("PJSIP/carrier-00000001", "1.1", caller_num="+4930123")
    server.add_member("support", "PJSIP/2001", "Agent 2001", paused=True, paused_reason="lunch")
    server.add_entry("support", carrier, wait_s=3)
    client = await connect(server)
    await client.send(Action="CoreShowChannels", ActionID="c1")
    start = await client.frame()
    assert start["EventList"] == "start" and start["Message"] == "Channels will follow"
    item = await client.frame()
    assert item["Event"] == "CoreShowChannel" and item["ActionID"] == "c1"
    assert item["Uniqueid"] == "1.1" and item["CallerIDNum"] == "+4930123"
    done = await client.frame()
    assert (done["Event"], done["EventList"], done["ListItems"]) == (
        "CoreShowChannelsComplete",
        "Complete",
        "1",
    )
    await client.send(Action="QueueStatus", ActionID="q1")
    await client.frame()
    frames = [await client.frame() for _ in range(4)]
    assert [f["Event"] for f in frames] == [
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
    ]
    assert frames[0]["Calls"] == "1"
    assert frames[1]["Location"] == "PJSIP/2001" and frames[1]["PausedReason"] == "lunch"
    assert all(f["ActionID"] == "q1" for f in frames)
    await client.close()


async def test_queue_actions_emit_member_events(server: FakeAmiServer) -> None:
    client = await connect(server)
    await client.send(Action="QueueAdd", ActionID="a1", Queue="support", Interface="PJSIP/2002")
    assert (await client.frame())["Message"] == "Added interface to queue"
    assert (await client.frame())["Event"] == "QueueMemberAdded"
    await client.send(Action="QueueAdd", ActionID="a2", Queue="nosuch", Interface="PJSIP/2002")
    assert (await client.frame())["Message"].endswith("No such queue")
    await client.send(
        Action="QueuePause", ActionID="a3", Interface="PJSIP/2002", Paused="true", Reason="x"
    )
    assert (await client.frame())["Message"] == "Interface paused successfully"
    pause = await client.frame()
    assert (pause["Event"], pause["Paused"], pause["PausedReason"]) == (
        "QueueMemberPause",
        "1",
        "x",
    )
    await client.send(Action="QueueRemove", ActionID="a4", Queue="support", Interface="PJSIP/2002")
    assert (await client.frame())["Message"] == "Removed interface from queue"
    assert (await client.frame())["Event"] == "QueueMemberRemoved"
    assert server.members == []
    await client.close()


async def test_session_filters_advanced_and_legacy(server: FakeAmiServer) -> None:
    advanced = await connect(server)
    legacy = await connect(server)
    await advanced.send(
        Action="Filter", ActionID="f1", Operation="Add", MatchCriteria="name(Hangup)", Filter=""
    )
    await advanced.send(
        Action="Filter",
        ActionID="f2",
        Operation="Add",
        MatchCriteria="action(include),name(VarSet),header(Variable),method(exact)",
        Filter="MIXMONITOR_FILENAME",
    )
    await legacy.send(Action="Filter", ActionID="f3", Operation="Add", Filter="Event: Hangup")
    for client in (advanced, advanced, legacy):
        assert (await client.frame())["Response"] == "Success"
    server.broadcast_event({"Event": "VarSet", "Variable": "BRIDGEPEER", "Value": ""})
    server.broadcast_event({"Event": "HangupRequest", "Channel": "A"})
    server.broadcast_event({"Event": "VarSet", "Variable": "MIXMONITOR_FILENAME", "Value": "f"})
    server.broadcast_event({"Event": "Hangup", "Channel": "B"})
    assert (await advanced.frame())["Variable"] == "MIXMONITOR_FILENAME"
    assert (await advanced.frame())["Event"] == "Hangup"
    # The legacy regex also matches HangupRequest: why we use the advanced syntax.
    assert [(await legacy.frame())["Event"] for _ in range(2)] == ["HangupRequest", "Hangup"]
    server.filter_allowed = False
    await legacy.send(Action="Filter", ActionID="f4", Operation="Add", Filter="x")
    assert (await legacy.frame())["Message"] == "Permission denied"
    await advanced.close()
    await legacy.close()


async def test_play_and_strip_login_preamble(server: FakeAmiServer) -> None:
    capture = load_capture("login_ok.ami")
    body = strip_login_preamble(capture)
    assert body.startswith(b"Response: Success\r\nActionID: login_ok-2\r\nPing: Pong")
    client = await connect(server)
    await server.play(body, chunk_size=10, delay_s=0.001)
    assert (await client.frame())["Ping"] == "Pong"
    assert (await client.frame())["Response"] == "Goodbye"
    await client.close()


async def test_silent_and_delayed_actions_and_drop(server: FakeAmiServer) -> None:
    client = await connect(server)
    server.silent_actions.add("ping")
    await client.send(Action="Ping", ActionID="p1")
    await server.wait_for_action("Ping")
    server.response_delays["Events"] = 0.05
    await client.send(Action="Events", ActionID="e1", EventMask="off")
    assert (await client.frame()) == {"Response": "Success", "ActionID": "e1", "Events": "Off"}
    await server.drop_clients()
    assert await asyncio.wait_for(client.reader.read(), 2) == b""
    await client.close()
    assert server.connections == 1 and server.clients == 0


async def test_call_control_on_known_and_unknown_channels(server: FakeAmiServer) -> None:
    server.add_channel("PJSIP/2001-00000002", "1.2", bridge_id="b1")
    server.add_channel("PJSIP/carrier-00000001", "1.1", bridge_id="b1")
    client = await connect(server)
    await client.send(
        Action="BlindTransfer",
        ActionID="b",
        Channel="PJSIP/2001-00000002",
        Context="from-phones",
        Exten="2002",
    )
    assert (await client.frame())["Message"] == "Transfer succeeded"
    transfer = await client.frame()
    assert transfer["Event"] == "BlindTransfer" and transfer["Extension"] == "2002"
    assert transfer["TransfereeUniqueid"] == "1.1" and transfer["TransfererUniqueid"] == "1.2"
    await client.send(Action="Hangup", ActionID="h", Channel="PJSIP/carrier-00000001")
    assert (await client.frame())["Message"] == "Channel Hungup"
    hangup = await client.frame()
    assert (hangup["Event"], hangup["Uniqueid"], hangup["Cause"]) == ("Hangup", "1.1", "16")
    await client.send(Action="Redirect", ActionID="r1", Channel="PJSIP/gone", Context="c")
    assert (await client.frame())["Response"] == "Success"
    server.strict_channels = True
    await client.send(Action="Redirect", ActionID="r2", Channel="PJSIP/gone", Context="c")
    assert (await client.frame())["Message"] == "Channel specified does not exist"
    await client.send(Action="Hangup", ActionID="h2", Channel="PJSIP/gone")
    assert (await client.frame())["Message"] == "No such channel"
    await client.close()

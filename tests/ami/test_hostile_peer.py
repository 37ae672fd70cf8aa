"""A hostile AMI peer (#13 item 16): an event list that never completes, a flood of malformed
events, a flood of channels that never hang up. Each is bounded and what was dropped is
logged, in a bounded number of lines."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from callcenter.ami.filters import EventFilter
from callcenter.ami.stream import AmiProtocol, AmiStreamParser
from callcenter.errors import AmiActionError
from callcenter.live.hub import Hub
from callcenter.live.pump import Pump
from callcenter.live.wallboard import WallboardFeed
from callcenter.model.calls import CallTracker
from callcenter.model.events import Event

ITEM = (
    "Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: PJSIP/2001-{n:08x}\r\n"
    "Uniqueid: 1700000000.{n}\r\nLinkedid: 1700000000.{n}\r\nChannelState: 6\r\n"
    "CallerIDNum: 2001\r\nContext: default\r\nExten: 100\r\nApplication: Dial\r\n\r\n"
)


class NeverEndingList:
    """Answers any list action with Success + EventList: start, then ``items`` items and,
    on ``finish``, the Complete event."""

    def __init__(self, items: int) -> None:
        self.items = items
        self.sent = 0
        self.writer: asyncio.StreamWriter | None = None
        self.action_id = ""
        self.all_sent = asyncio.Event()
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        finally:
            writer.close()
            self.done.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        frame = await reader.readuntil(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
        self.action_id = headers["ActionID"]
        writer.write(
            f"Response: Success\r\nActionID: {self.action_id}\r\nEventList: start\r\n"
            "Message: Channels will follow\r\n\r\n".encode()
        )
        for n in range(self.items):
            writer.write(ITEM.format(aid=self.action_id, n=n).encode())
            self.sent += 1
            if n % 500 == 0:
                await writer.drain()
        await writer.drain()
        self.all_sent.set()
        await reader.read()  # until the client hangs up

    def finish(self) -> None:
        assert self.writer is not None
        self.writer.write(
            f"Event: CoreShowChannelsComplete\r\nActionID: {self.action_id}\r\n"
            "EventList: Complete\r\nListItems: 0\r\n\r\n".encode()
        )


@pytest.fixture
async def peer() -> AsyncIterator[tuple[NeverEndingList, int]]:
    hostile = NeverEndingList(items=20_000)  # about 5 MB of items
    server = await asyncio.start_server(hostile.handle, "127.0.0.1", 0)
    yield hostile, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    await asyncio.wait_for(hostile.done.wait(), 5)


async def test_an_event_list_that_never_completes_is_abandoned_at_the_byte_cap(
    peer: tuple[NeverEndingList, int], caplog: pytest.LogCaptureFixture
) -> None:
    hostile, port = peer
    events: list[Event] = []
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: AmiProtocol(
            events.append, lambda exc: None, EventFilter.everything(), max_reply_bytes=256 << 10
        ),
        "127.0.0.1",
        port,
    )
    future = protocol.request({"Action": "CoreShowChannels", "ActionID": "x1"}, is_list=True)
    with pytest.raises(AmiActionError, match="exceeded 262144 bytes"):
        await asyncio.wait_for(future, 5)
    assert protocol._pending == {}  # nothing buffered for it any more
    await asyncio.wait_for(hostile.all_sent.wait(), 10)
    hostile.finish()
    await asyncio.sleep(0.2)
    assert events == []  # the rest of the list was swallowed, not taken for live channels
    messages = [r.getMessage() for r in caplog.records if r.name == "callcenter.ami.stream"]
    assert any("CoreShowChannels answer abandoned" in m for m in messages)
    assert any("x1 completed after" in m and "all dropped" in m for m in messages)
    protocol.close()
    await asyncio.sleep(0)


def test_a_flood_of_malformed_events_writes_a_bounded_number_of_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[Event] = []
    parser = AmiStreamParser(events.append)
    caplog.set_level(logging.WARNING, "callcenter.ami.stream")
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    parser.feed(b"Event: Newchannel\r\nChannel: PJSIP/x\r\n\r\n" * 50_000)
    assert parser.stats.dropped == 50_000 and events == []
    lines = [r for r in caplog.records if r.name == "callcenter.ami.stream"]
    assert len(lines) <= 11
    assert parser.warnings.suppressed == 50_000 - 10


async def test_a_flood_of_channels_keeps_the_wallboard_push_small(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pump = Pump(CallTracker(), lambda record: None, lambda change: None)
    parser = AmiStreamParser(lambda event: pump.on_event(event, 1_700_000_000.0))
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    frames = "".join(
        f"Event: Newchannel\r\nChannel: PJSIP/2001-{n:08x}\r\nUniqueid: 1700000000.{n}\r\n"
        f"Linkedid: 1700000000.{n}\r\nChannelState: 4\r\nCallerIDNum: +4930{n:07d}\r\n"
        "Context: from-internal\r\nExten: 100\r\n\r\n"
        for n in range(5_000)
    )
    parser.feed(frames.encode())
    feed = WallboardFeed(Hub(), pump, lambda: 1_700_000_010.0, max_calls=100)
    snapshot = feed.snapshot()
    assert snapshot["calls_total"] == 5_000
    assert len(snapshot["calls"]) == 100 and snapshot["calls_truncated"] is True
    small = WallboardFeed(Hub(), pump, lambda: 1_700_000_010.0, max_bytes=50_000)
    assert small.snapshot()["calls"] == []
    messages = [r.getMessage() for r in caplog.records if r.name == "callcenter.live.wallboard"]
    assert any("lists 100 of 5000 live calls" in m for m in messages)
    assert any("sent without its" in m for m in messages)

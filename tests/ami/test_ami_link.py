"""AmiLink against FakeAmiServer over real TCP: login, filters, resync, reconnects, timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ami_captures import load_capture, reference_events

from callcenter.ami import AmiLink, filter_actions
from callcenter.ami.link import check_fields
from callcenter.demo.fake_pbx import FakeAmiServer, strip_login_preamble
from callcenter.errors import AmiActionError, AmiConnectionError, AmiTimeoutError, ValidationError
from callcenter.model.events import (
    ChannelSnapshot,
    Event,
    Newchannel,
    OriginateResponse,
    QueueEntry,
    QueueMemberChanged,
    QueueParams,
    Shutdown,
)
from callcenter.settings import DEFAULT_AMI_EVENTS, AmiSettings

SECRET = "s3cret"


async def eventually(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Poll a condition spread over the link, the server and the recorder."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - no single Event covers all three
            await asyncio.sleep(0.005)


class Recorder:
    """on_event / on_resync targets keeping one ordered log."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any, float]] = []

    def on_event(self, event: Event, received: float) -> None:
        self.log.append(("event", event, received))

    def on_resync(self, snapshot: list[Event], now: float) -> None:
        self.log.append(("resync", snapshot, now))

    @property
    def events(self) -> list[Event]:
        return [item for kind, item, _ in self.log if kind == "event"]

    @property
    def resyncs(self) -> list[list[Event]]:
        return [item for kind, item, _ in self.log if kind == "resync"]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    srv = FakeAmiServer(secret=SECRET, auth_fail_delay_s=0.01)
    srv.add_queue("support")
    srv.add_member("support", "PJSIP/2001", "Agent 2001")
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def ami_settings(server: FakeAmiServer) -> AmiSettings:
    return AmiSettings(
        host="127.0.0.1",
        port=server.port,
        secret=SECRET,
        reconnect_min_s=0.05,
        reconnect_max_s=0.4,
        ping_interval_s=5.0,
        ping_timeout_s=0.2,
        action_timeout_s=1.0,
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_link(
    ami_settings: AmiSettings, recorder: Recorder
) -> AsyncIterator[Callable[..., AmiLink]]:
    links: list[AmiLink] = []

    def make(**changes: Any) -> AmiLink:
        link = AmiLink(
            dataclasses.replace(ami_settings, **changes), recorder.on_event, recorder.on_resync
        )
        links.append(link)
        link.start()
        return link

    yield make
    for link in links:
        await link.stop()


async def ready(link: AmiLink, recorder: Recorder, resyncs: int = 1) -> None:
    await eventually(lambda: link.status.authenticated and len(recorder.resyncs) >= resyncs)


NEWCHANNEL = {
    "Event": "Newchannel",
    "Privilege": "call,all",
    "Channel": "PJSIP/carrier-00000001",
    "ChannelState": "4",
    "CallerIDNum": "+493012345678",
    "CallerIDName": "Jürgen Müller",
    "Uniqueid": "1.1",
    "Linkedid": "1.1",
}


async def test_login_filters_and_resync(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    carrier = server.add_channel("PJSIP/carrier-00000001", "1.1", caller_name="Jürgen Müller")
    server.add_entry("support", carrier, wait_s=4)
    link = make_link()
    await ready(link, recorder)
    status = link.status
    assert status.connected and status.authenticated and status.last_error is None
    assert status.reconnects == 0

    names = [a["Action"] for a in server.actions]
    expected_filters = filter_actions(DEFAULT_AMI_EVENTS)
    assert names == ["Login"] + ["Filter"] * len(expected_filters) + [
        "CoreShowChannels",
        "QueueStatus",
    ]
    login = server.actions[0]
    assert login["Events"] == "on" and login["Secret"] == SECRET
    sent = [{k: v for k, v in a.items() if k != "ActionID"} for a in server.actions_named("Filter")]
    assert sent == expected_filters

    [snapshot] = recorder.resyncs
    kinds = {type(e) for e in snapshot}
    assert kinds == {ChannelSnapshot, QueueParams, QueueMemberChanged, QueueEntry}
    [channel] = [e for e in snapshot if isinstance(e, ChannelSnapshot)]
    assert channel.channel.caller_name == "Jürgen Müller"
    [member] = [e for e in snapshot if isinstance(e, QueueMemberChanged)]
    assert member.kind == "snapshot" and member.interface == "PJSIP/2001"
    assert recorder.events == []  # the login's FullyBooted is swallowed


async def test_live_events_after_resync_and_source_side_filter(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    link = make_link()
    await ready(link, recorder)
    server.broadcast_event({"Event": "CEL", "EventName": "CHAN_START", "UniqueID": "1.1"})
    server.broadcast_event(NEWCHANNEL)
    await eventually(lambda: len(recorder.events) == 1)
    [event] = recorder.events
    assert isinstance(event, Newchannel) and event.channel.caller_name == "Jürgen Müller"


async def test_resync_snapshot_before_buffered_live_events(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    server.response_delays["QueueStatus"] = 0.2
    make_link()
    await server.wait_for_action("QueueStatus")
    server.broadcast_event(NEWCHANNEL)
    server.broadcast_event({**NEWCHANNEL, "Uniqueid": "1.2", "Linkedid": "1.1"})
    await eventually(lambda: len(recorder.events) == 2)
    kinds = [kind for kind, _, _ in recorder.log]
    assert kinds == ["resync", "event", "event"]
    uniqueids = [e.channel.uniqueid for e in recorder.events if isinstance(e, Newchannel)]
    assert uniqueids == ["1.1", "1.2"]
    resync_at = recorder.log[0][2]
    assert all(received <= resync_at for _, _, received in recorder.log[1:])


async def test_login_failure_backs_off(
    server: FakeAmiServer,
    make_link: Callable[..., AmiLink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="callcenter.ami"):
        link = make_link(secret="wrong", reconnect_min_s=0.05, reconnect_max_s=0.2)
        await eventually(lambda: server.connections >= 4)
        status = link.status
        assert not status.authenticated
        assert status.last_error == "Authentication failed"
        await asyncio.sleep(0.3)
    times = server.connect_times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 0.05, 0.1, 0.2, 0.2 ... plus the server's 10 ms answer delay: never hammering.
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1
    assert all(gap >= 0.2 for gap in gaps[2:])
    assert len(times) <= 7
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "Authentication failed" in errors[0].getMessage()
    assert not server.actions_named("CoreShowChannels")


async def test_reconnect_after_drop_resets_backoff(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    server.secret = "rotated"  # failing logins first: the backoff grows to its 0.4 s cap
    link = make_link(reconnect_min_s=0.05, reconnect_max_s=0.4)
    await eventually(lambda: server.connections >= 4)
    server.secret = SECRET
    await ready(link, recorder)
    assert link.status.reconnects == 0
    for round_ in (2, 3):
        before = server.connections
        await server.drop_clients()
        await ready(link, recorder, resyncs=round_)
        assert server.connections == before + 1
        # min delay again after a successful login, not the 0.4 s reached before
        assert server.connect_times[-1] - server.connect_times[-2] < 0.3
    assert link.status.reconnects == 2
    assert link.status.last_error is None


async def test_reconnect_after_shutdown_event(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    link = make_link()
    await ready(link, recorder)
    await server.shutdown_event(restart=True)
    await eventually(lambda: link.status.last_error == "Asterisk shut down to restart")
    await ready(link, recorder, resyncs=2)
    assert Shutdown(restart=True) in recorder.events
    assert server.connections == 2
    assert link.status.reconnects == 1


async def test_reconnect_after_connection_refused(
    server: FakeAmiServer, ami_settings: AmiSettings, recorder: Recorder
) -> None:
    port = server.port
    await server.stop()
    link = AmiLink(ami_settings, recorder.on_event, recorder.on_resync)
    revived = FakeAmiServer(port=port, secret=SECRET)
    link.start()
    try:
        await eventually(lambda: link.status.last_error is not None)
        assert "cannot connect" in (link.status.last_error or "")
        assert not link.status.connected
        await revived.start()
        await ready(link, recorder)
    finally:
        await link.stop()
        await revived.stop()


async def test_dead_peer_detected_by_ping_timeout(
    server: FakeAmiServer,
    make_link: Callable[..., AmiLink],
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.silent_actions.add("Ping")
    with caplog.at_level(logging.WARNING, logger="callcenter.ami"):
        make_link(ping_interval_s=0.05, ping_timeout_s=0.1)
        await eventually(lambda: server.connections >= 2)
    assert server.actions_named("Ping")
    assert any("no Pong" in r.getMessage() for r in caplog.records)


async def test_pings_answered_keep_the_session(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    link = make_link(ping_interval_s=0.02, ping_timeout_s=0.2)
    await ready(link, recorder)
    await server.wait_for_action("Ping", count=5)
    assert server.connections == 1 and link.status.authenticated


async def test_action_timeout_and_error(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    link = make_link(action_timeout_s=0.1)
    await ready(link, recorder)
    server.silent_actions.add("QueuePause")
    with pytest.raises(AmiTimeoutError):
        await link.queue_pause("PJSIP/2001", True, "lunch")
    with pytest.raises(AmiActionError, match="Unable to remove interface: Not there"):
        await link.queue_remove("support", "PJSIP/2999")
    with pytest.raises(AmiActionError, match="Invalid/unknown command"):
        await link.send_action({"Action": "NoSuchThing"})
    assert link.status.authenticated and server.connections == 1


async def test_actions_before_login_fail_fast(ami_settings: AmiSettings) -> None:
    link = AmiLink(ami_settings, lambda e, t: None, lambda s, t: None)
    with pytest.raises(AmiConnectionError):
        await link.hangup("PJSIP/2001-00000001")


async def test_on_event_exception_does_not_kill_the_link(
    server: FakeAmiServer, ami_settings: AmiSettings, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []
    resyncs: list[list[Event]] = []

    def on_event(event: Event, received: float) -> None:
        seen.append(event)
        raise RuntimeError("model bug")

    link = AmiLink(ami_settings, on_event, lambda s, t: resyncs.append(s))
    link.start()
    try:
        await eventually(lambda: bool(resyncs))
        with caplog.at_level(logging.ERROR):
            server.broadcast_event(NEWCHANNEL)
            server.broadcast_event({**NEWCHANNEL, "Uniqueid": "1.2"})
            await eventually(lambda: len(seen) == 2)
        assert link.status.authenticated and server.connections == 1
        assert any(r.exc_info for r in caplog.records)
    finally:
        await link.stop()


async def test_filter_refused_continues_with_client_side_filter(
    server: FakeAmiServer,
    make_link: Callable[..., AmiLink],
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.filter_allowed = False
    with caplog.at_level(logging.INFO, logger="callcenter.ami"):
        link = make_link()
        await ready(link, recorder)
    assert any("no per-session AMI filters" in r.getMessage() for r in caplog.records)
    server.broadcast_event({"Event": "CEL", "EventName": "CHAN_START", "UniqueID": "1.1"})
    server.broadcast_event(NEWCHANNEL)
    await eventually(lambda: len(recorder.events) == 1)
    assert isinstance(recorder.events[0], Newchannel)


async def test_originate_returns_action_id_for_correlation(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    link = make_link()
    await ready(link, recorder)
    action_id = await link.originate(
        "PJSIP/2004",
        context="outbound",
        exten="+4930100001",
        caller_id='"Jürgen Müller" <+493012345678>',
        variables={"CAMPAIGN": "7"},
    )
    await eventually(lambda: any(isinstance(e, OriginateResponse) for e in recorder.events))
    [response] = [e for e in recorder.events if isinstance(e, OriginateResponse)]
    assert response.action_id == action_id and response.success and response.reason == 4
    sent = server.actions_named("Originate")[0]
    assert sent["Async"] == "true" and sent["Variable"] == "CAMPAIGN=7"
    assert sent["CallerID"] == '"Jürgen Müller" <+493012345678>'


async def test_typed_helpers_send_what_asterisk_expects(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    server.add_channel("PJSIP/2001-00000002", "1.2", bridge_id="b1")
    server.add_channel("PJSIP/carrier-00000001", "1.1", bridge_id="b1")
    link = make_link()
    await ready(link, recorder)
    await link.queue_add("support", "PJSIP/2002", member_name="Bob", penalty=1)
    await link.queue_pause("PJSIP/2002", True, "lunch", queue="support")
    await link.queue_pause("PJSIP/2002", False)
    await link.queue_remove("support", "PJSIP/2002")
    await link.redirect("PJSIP/carrier-00000001", context="xfer", exten="2003")
    await link.atxfer("PJSIP/2001-00000002", "2005", context="from-phones")
    await link.blind_transfer("PJSIP/2001-00000002", context="from-phones", exten="2002")
    await link.hangup("PJSIP/2001-00000002", cause=16)
    items = await link.send_list_action({"Action": "CoreShowChannels"})
    assert [i["Channel"] for i in items] == ["PJSIP/carrier-00000001"]
    pause = server.actions_named("QueuePause")[0]
    assert (pause["Interface"], pause["Paused"], pause["Reason"], pause["Queue"]) == (
        "PJSIP/2002",
        "true",
        "lunch",
        "support",
    )
    assert "Queue" not in server.actions_named("QueuePause")[1]
    await eventually(lambda: len(recorder.events) >= 6)
    kinds = [e.kind for e in recorder.events if isinstance(e, QueueMemberChanged)]
    assert kinds == ["added", "pause", "pause", "removed"]
    with pytest.raises(ValidationError):  # refused before the wire: a 400, not a 500
        await link.send_action({"Action": "Hangup", "Channel": "x\r\nAction: Originate"})


async def test_capture_replayed_over_tcp_in_tiny_chunks(
    server: FakeAmiServer, make_link: Callable[..., AmiLink], recorder: Recorder
) -> None:
    link = make_link(events=())
    await ready(link, recorder)
    body = strip_login_preamble(load_capture("sip_inbound_answered.ami"))
    expected = [event for _, _, event in reference_events(body)]
    await server.play(body, chunk_size=97)
    await eventually(lambda: len(recorder.events) >= len(expected))
    assert recorder.events == expected
    assert "Jürgen Müller" in {
        e.channel.caller_name for e in recorder.events if isinstance(e, Newchannel)
    }


async def test_stop_cancels_the_named_task(
    server: FakeAmiServer, ami_settings: AmiSettings, recorder: Recorder
) -> None:
    link = AmiLink(ami_settings, recorder.on_event, recorder.on_resync)
    link.start()
    await ready(link, recorder)
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert f"ami-link 127.0.0.1:{server.port}" in names
    await link.stop()
    assert not link.status.connected and not link.status.authenticated
    assert not any(t.get_name().startswith("ami-link") for t in asyncio.all_tasks())
    await link.stop()


async def test_run_in_a_task_owned_by_the_caller(
    server: FakeAmiServer, ami_settings: AmiSettings, recorder: Recorder
) -> None:
    link = AmiLink(ami_settings, recorder.on_event, recorder.on_resync)
    task = asyncio.create_task(link.run(), name="ami-link")
    await ready(link, recorder)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not link.status.connected
    await server.wait_for(lambda: server.clients == 0)


@pytest.mark.parametrize("value", ["a\r\nAction: Hangup", "a\nb", "nul\x00"])
def test_action_fields_with_line_breaks_are_refused(value: str) -> None:
    """On the wire a line break ends the header: such text would inject headers or actions."""
    with pytest.raises(ValidationError):
        check_fields({"Action": "QueuePause", "Reason": value})
    with pytest.raises(ValidationError):
        check_fields({"Action": "Originate", "Variable": ["A=1", value]})
    check_fields({"Action": "QueuePause", "Reason": "lunch", "Variable": ["A=1"]})

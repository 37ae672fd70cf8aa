"""The stream parser against every recorded capture, hostile chunking and hostile bytes."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from functools import cache

import pytest
from ami_captures import capture_names, load_capture, reference_events

from callcenter.ami import stream as stream_module
from callcenter.ami.filters import EventFilter, filter_actions, manager_conf_eventfilters
from callcenter.ami.stream import AmiStreamParser
from callcenter.model.events import (
    ChannelSnapshot,
    Event,
    Newchannel,
    QueueMemberChanged,
    RecordingStarted,
    parse_event,
)
from callcenter.settings import DEFAULT_AMI_EVENTS

SMALL = ["inbound_answered.ami.gz", "sip_inbound_answered.ami"]


def parse(
    data: bytes, chunks: Iterable[int] | None = None, keep: Iterable[str] | None = None
) -> list[Event]:
    events: list[Event] = []
    parser = AmiStreamParser(events.append, keep)
    if chunks is None:
        parser.feed(data)
    else:
        pos = 0
        for size in chunks:
            if pos >= len(data):
                break
            parser.feed(data[pos : pos + size])
            pos += size
        parser.feed(data[pos:])
    return events


def random_sizes(seed: int, low: int, high: int) -> Iterable[int]:
    rng = random.Random(seed)
    while True:
        yield rng.randint(low, high)


@cache
def capture(name: str) -> bytes:
    return load_capture(name)


@pytest.mark.parametrize("name", capture_names())
def test_capture_whole_equals_reference_and_random_chunks(name: str) -> None:
    data = capture(name)
    whole = parse(data)
    assert whole == [event for _, _, event in reference_events(data)]
    high = 8192 if len(data) > 1_000_000 else 700
    assert parse(data, random_sizes(len(data), 1, high)) == whole


@pytest.mark.parametrize("name", capture_names())
def test_capture_prefiltered_keeps_exactly_the_wanted_events(name: str) -> None:
    data = capture(name)
    wanted = set(DEFAULT_AMI_EVENTS)
    expected = [
        event
        for event_name, variable, event in reference_events(data)
        if event_name in wanted or f"{event_name}:{variable}" in wanted
    ]
    assert parse(data, keep=DEFAULT_AMI_EVENTS) == expected
    assert parse(data, random_sizes(7, 1, 3000), keep=DEFAULT_AMI_EVENTS) == expected


@pytest.mark.parametrize("name", SMALL)
def test_byte_by_byte_equals_whole(name: str) -> None:
    data = capture(name)
    whole = parse(data)
    assert whole
    assert parse(data, iter(lambda: 1, 0)) == whole


def _names(events: list[Event]) -> set[str]:
    names = set()
    for event in events:
        channel = getattr(event, "channel", None)
        if channel is not None:
            names.add(channel.caller_name)
    return names


def test_multibyte_character_split_across_reads_survives() -> None:
    data = capture("sip_inbound_answered.ami")
    umlaut = "ü".encode()
    cuts = [i + 1 for i in range(len(data)) if data.startswith(umlaut, i)]
    assert cuts
    sizes = [b - a for a, b in zip([0, *cuts], cuts, strict=False)]
    events = parse(data, sizes)
    assert "Jürgen Müller" in _names(events)
    assert not any("M\ufffdller" in n or "Mller" in n for n in _names(events))
    assert events == parse(data)


NEWCHANNEL = (
    b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/carrier-00000001\r\n"
    b"ChannelState: 4\r\nCallerIDNum: +493012345678\r\nCallerIDName: %s\r\n"
    b"Context: inbound\r\nExten: 4930555100\r\nUniqueid: %s\r\nLinkedid: %s\r\n\r\n"
)


def newchannel(uniqueid: str, name: bytes = b"<unknown>") -> bytes:
    uid = uniqueid.encode()
    return NEWCHANNEL % (name, uid, uid)


def collect(
    keep: Iterable[str] | None = None, **kwargs: object
) -> tuple[list[Event], AmiStreamParser]:
    events: list[Event] = []
    return events, AmiStreamParser(events.append, keep, **kwargs)  # type: ignore[arg-type]


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    events, parser = collect()
    parser.feed(newchannel("1.1", b"M\xfcller \xff\xfe"))
    [event] = events
    assert isinstance(event, Newchannel)
    assert event.channel.caller_name == "M\ufffdller \ufffd\ufffd"


def test_greeting_split_across_reads() -> None:
    events, parser = collect()
    for piece in (b"Asterisk Call", b" Manager/11.0.0\r", b"\n", newchannel("1.1")):
        parser.feed(piece)
    assert parser.greeting == "Asterisk Call Manager/11.0.0"
    assert len(events) == 1


@pytest.mark.parametrize("chunk", [1 << 16, 1 << 22])
def test_oversized_line_is_dropped_and_stream_resyncs(
    chunk: int, caplog: pytest.LogCaptureFixture
) -> None:
    huge = b"Event: Newchannel\r\nJunk: " + b"x" * (1 << 20) + b"\r\nUniqueid: 9.9\r\n\r\n"
    data = newchannel("1.1") + huge + newchannel("2.2") + newchannel("3.3")
    events, parser = collect()
    with caplog.at_level(logging.WARNING, logger="callcenter.ami.stream"):
        for pos in range(0, len(data), chunk):
            parser.feed(data[pos : pos + chunk])
    assert [e.channel.uniqueid for e in events if isinstance(e, Newchannel)] == [
        "1.1",
        "2.2",
        "3.3",
    ]
    assert any("larger than" in r.message or "bytes (limit" in r.message for r in caplog.records)


def test_oversized_frame_end_split_across_reads() -> None:
    huge = b"Event: Newchannel\r\nJunk: " + b"y" * 2000 + b"\r\n\r"
    events, parser = collect(max_frame_bytes=1000)
    parser.feed(newchannel("1.1") + huge)
    parser.feed(b"\n" + newchannel("2.2"))
    assert [e.channel.uniqueid for e in events if isinstance(e, Newchannel)] == ["1.1", "2.2"]


def test_garbage_frames_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    events, parser = collect()
    garbage = b"\x00\x01\x02\xff binary\r\n\r\nno colon at all\r\nnone here\r\n\r\n\r\n\r\n"
    with caplog.at_level(logging.WARNING, logger="callcenter.ami.stream"):
        parser.feed(b"Asterisk Call Manager/11.0.0\r\n" + garbage + newchannel("1.1"))
    assert len(events) == 1
    assert parser.stats.dropped == 2
    assert sum("without Event/Response" in r.message for r in caplog.records) == 2


def test_event_header_not_first_still_parsed() -> None:
    events, parser = collect(DEFAULT_AMI_EVENTS)
    parser.feed(b"Privilege: call,all\r\nEvent: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\n")
    parser.feed(b"Privilege: call,all\r\nEvent: CEL\r\nUniqueID: 1.1\r\n\r\n")
    assert len(events) == 1


def test_malformed_event_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    events, parser = collect()
    with caplog.at_level(logging.WARNING, logger="callcenter.ami.stream"):
        parser.feed(b"Event: Newchannel\r\nChannel: X\r\n\r\n" + newchannel("2.2"))
    assert len(events) == 1
    assert any("malformed" in r.message for r in caplog.records)


def test_callback_exception_is_logged_and_parsing_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("model bug")

    parser = AmiStreamParser(on_event)
    with caplog.at_level(logging.ERROR, logger="callcenter.ami.stream"):
        parser.feed(newchannel("1.1") + newchannel("2.2"))
    assert len(seen) == 2
    assert any(r.exc_info for r in caplog.records)


VARSET = (
    b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/2001-00000002\r\n"
    b"Uniqueid: 1.2\r\nLinkedid: 1.1\r\nVariable: %s\r\nValue: %s\r\n\r\n"
)
NOISE = (
    b"Event: CEL\r\nEventName: CHAN_START\r\nUniqueID: 1.1\r\nLinkedID: 1.1\r\n\r\n"
    b"Event: Newexten\r\nChannel: X\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nApplication: Set\r\n\r\n"
    + VARSET % (b"BRIDGEPEER", b"")
    + b"Event: DeviceStateChange\r\nDevice: PJSIP/2001\r\nState: INUSE\r\n\r\n"
)
LIST_ITEMS = (
    b"Response: Success\r\nActionID: rs-1\r\nEventList: start\r\n"
    b"Message: Channels will follow\r\n\r\n"
    b"Event: CoreShowChannel\r\nActionID: rs-1\r\nChannel: PJSIP/2001-00000002\r\n"
    b"Uniqueid: 1.2\r\nLinkedid: 1.1\r\nDuration: 00:01:05\r\n\r\n"
    b"Event: QueueMember\r\nQueue: support\r\nName: Agent\r\nLocation: PJSIP/2001\r\n"
    b"Paused: 1\r\nActionID: rs-1\r\n\r\n"
    b"Event: CoreShowChannelsComplete\r\nActionID: rs-1\r\nEventList: Complete\r\n"
    b"ListItems: 2\r\n\r\n"
    b"Event: QueueMember\r\nQueue: support\r\nName: Late\r\nLocation: PJSIP/2009\r\n"
    b"ActionID: old-7\r\n\r\n"
)


def test_prefilter_skips_noise_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []

    def spy(headers: dict[str, str]) -> Event | None:
        parsed.append(headers["Event"])
        return parse_event(headers)

    monkeypatch.setattr(stream_module, "parse_event", spy)
    events, parser = collect(DEFAULT_AMI_EVENTS)
    recording = VARSET % (b"MIXMONITOR_FILENAME", b"/var/spool/asterisk/monitor/1.2.wav")
    parser.feed(NOISE + recording + newchannel("3.3") + NOISE)
    assert parsed == ["VarSet", "Newchannel"]
    assert isinstance(events[0], RecordingStarted)
    assert events[0].path.endswith("1.2.wav")
    assert isinstance(events[1], Newchannel)


def test_prefilter_passes_responses_and_pending_list_items() -> None:
    replies: list[dict[str, str]] = []
    events, parser = collect(DEFAULT_AMI_EVENTS, on_reply=replies.append, pending={"rs-1"})
    parser.feed(LIST_ITEMS + NOISE)
    assert [r.get("Event", "response") for r in replies] == [
        "response",
        "CoreShowChannel",
        "QueueMember",
        "CoreShowChannelsComplete",
    ]
    items = [parse_event(r) for r in replies[1:3]]
    assert isinstance(items[0], ChannelSnapshot) and items[0].duration_s == 65
    assert isinstance(items[1], QueueMemberChanged) and items[1].kind == "snapshot"
    assert events == []  # the late item of an action nobody waits for is not a live event


def test_empty_filter_keeps_everything_parseable() -> None:
    events, parser = collect([])
    parser.feed(LIST_ITEMS)
    assert len(events) == 3  # two QueueMember snapshots and one CoreShowChannel


def test_event_filter_spec() -> None:
    keep = EventFilter.from_spec(["Hangup", "VarSet:MIXMONITOR_FILENAME", "MixMonitorStart"])
    assert keep.names == {b"Hangup", b"VarSet"}  # MixMonitorStart: parse_event ignores it
    assert keep.values == {b"VarSet": {b"MIXMONITOR_FILENAME"}}
    assert EventFilter.from_spec(["VarSet", "VarSet:X"]).values == {}
    with pytest.raises(ValueError):
        EventFilter.from_spec(["Hangup:Cause"])


def test_manager_conf_eventfilters_and_filter_actions() -> None:
    events = ["Newchannel", "Hangup", "VarSet:MIXMONITOR_FILENAME", "Hangup"]
    assert manager_conf_eventfilters(events) == [
        "eventfilter(action(include),name(Newchannel)) =",
        "eventfilter(action(include),name(Hangup)) =",
        "eventfilter(action(include),name(VarSet),header(Variable),method(exact)) ="
        " MIXMONITOR_FILENAME",
    ]
    assert filter_actions(events)[2] == {
        "Action": "Filter",
        "Operation": "Add",
        "MatchCriteria": "action(include),name(VarSet),header(Variable),method(exact)",
        "Filter": "MIXMONITOR_FILENAME",
    }
    assert len(manager_conf_eventfilters(DEFAULT_AMI_EVENTS)) == len(DEFAULT_AMI_EVENTS)


def test_stats_count_frames() -> None:
    _, parser = collect(DEFAULT_AMI_EVENTS)
    parser.feed(NOISE + newchannel("1.1"))
    assert parser.stats.frames == 5
    assert parser.stats.events == 1

"""Damaged streams: cut, duplicated and polluted captures never crash the pipeline, never log
a call twice, and keep everything that can be kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from callcenter.ami.replay import read_capture, replay_records
from callcenter.model.records import CallRecord

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
SEP = b"\r\n\r\n"


def _frames(name: str) -> tuple[bytes, list[bytes]]:
    """(greeting + login response, the remaining frames)."""
    data = read_capture(CAPTURES / name)
    frames = data.split(SEP)
    return frames[0] + SEP, [f + SEP for f in frames[1:] if f]


def _replay(preamble: bytes, frames: list[bytes]) -> list[CallRecord]:
    return replay_records([[preamble + b"".join(frames)]])


def _first_channel_index(frames: list[bytes], call_id: str) -> int:
    needle = b"Uniqueid: " + call_id.encode() + b"\r\n"
    return next(
        i for i, f in enumerate(frames) if f.startswith(b"Event: Newchannel") and needle in f
    )


def _agent_complete_index(frames: list[bytes], call_id: str) -> int | None:
    """Where the caller's AgentComplete is (under load some come without the caller's ids:
    those cannot place the call)."""
    needle = b"\r\nLinkedid: " + call_id.encode() + b"\r\n"
    for i, frame in enumerate(frames):
        if frame.startswith(b"Event: AgentComplete") and needle in frame:
            return i
    return None


@pytest.mark.parametrize("cut_share", [0.1, 0.35, 0.5, 0.8])
def test_first_k_events_cut_off(cut_share: float) -> None:
    preamble, frames = _frames("sip_burst.ami.gz")
    full = {r.call_id: r for r in _replay(preamble, frames)}
    k = int(len(frames) * cut_share)
    cut = _replay(preamble, frames[k:])
    ids = [r.call_id for r in cut]
    assert len(ids) == len(set(ids)), "a call was logged twice"
    assert set(ids) <= set(full)
    attached_mid_call = 0
    for call_id, record in full.items():
        start = _first_channel_index(frames, call_id)
        if start >= k:  # started after the cut: exactly as in the full stream
            assert record in cut
            continue
        complete = _agent_complete_index(frames, call_id)
        if complete is not None and complete >= k:
            # in conversation at the cut: AgentComplete still tells queue, agent and outcome
            [ours] = [r for r in cut if r.call_id == call_id]
            assert (ours.queue, ours.agent, ours.outcome) == (
                record.queue,
                record.agent,
                record.outcome,
            )
            attached_mid_call += 1
    if 0 < cut_share < 0.8:
        assert attached_mid_call > 0


def test_every_event_duplicated() -> None:
    preamble, frames = _frames("sip_burst.ami.gz")
    doubled = [f for frame in frames for f in (frame, frame)]
    assert _replay(preamble, doubled) == _replay(preamble, frames)


@pytest.mark.parametrize("name", ["sip_transfer_attended.ami.gz", "sip_transfer_refer.ami.gz"])
def test_duplicated_transfer_events_count_once(name: str) -> None:
    preamble, frames = _frames(name)
    doubled = [f for frame in frames for f in (frame, frame)]
    [record] = _replay(preamble, doubled)
    assert len(record.transfers) == 1


def test_garbage_between_frames_changes_nothing() -> None:
    preamble, frames = _frames("sip_transfer_blind.ami.gz")
    rng = random.Random(7)
    garbage = [
        b"this is not an AMI frame" + SEP,
        b"\x00\xff\xfe binary \x80\x81" + SEP,
        b"Event: Hangup\r\nUniqueid\r\n" + SEP,  # a known event without its ids
        b"Event: AgentConnect\r\nQueue: support\r\n" + SEP,
        b"Event: NoSuchEvent\r\nFoo: bar\r\n" + SEP,
        b"Event: Newchannel\r\nChannel: PJSIP/x-1\r\nUniqueid: \xc3(\r\n" + SEP,
    ]
    polluted: list[bytes] = []
    for frame in frames:
        polluted.append(frame)
        if rng.random() < 0.3:
            polluted.append(rng.choice(garbage))
    assert _replay(preamble, polluted) == _replay(preamble, frames)


def test_a_one_megabyte_header_line_loses_only_its_own_frame() -> None:
    preamble, frames = _frames("sip_inbound_answered.ami")
    huge = b"Event: VarSet\r\nValue: " + b"x" * (1 << 20) + b"\r\n" + SEP
    middle = len(frames) // 2
    damaged = [*frames[:middle], huge, *frames[middle:]]
    assert _replay(preamble, damaged) == _replay(preamble, frames)


def test_invalid_utf8_in_a_caller_name_keeps_the_call() -> None:
    preamble, frames = _frames("sip_inbound_answered.ami")
    damaged = [f.replace("Jürgen".encode(), b"J\xfcrgen") for f in frames]
    [record] = _replay(preamble, damaged)
    assert record.caller_name == "J\ufffdrgen Müller"
    assert record.outcome.value == "answered"

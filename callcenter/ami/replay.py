"""``callcenter replay``: feed a recorded AMI stream through the real parser and the call
tracker, and print one JSON call record per finished call.

The stream goes through exactly the code the live server runs (our UTF-8-safe framing,
panoramisk's parser, ``parse_event``, ``CallTracker``), ``chunk`` bytes at a time, so any
capture can be replayed with arbitrary TCP chunking. Recorded streams carry no timestamps, so
the replay clock is the PBX's own: CEL ``EventTime`` (second precision) and the creation
second encoded in each new channel's Uniqueid, whichever is later.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from callcenter.ami.filters import EventFilter
from callcenter.ami.stream import AmiStreamParser
from callcenter.model import events as ev
from callcenter.model.calls import CallTracker
from callcenter.model.endpoints import epoch_of
from callcenter.model.records import CallFinished, CallRecord
from callcenter.settings import DEFAULT_AMI_EVENTS, PbxSettings

REPLAY_EVENTS = (*DEFAULT_AMI_EVENTS, "CEL")


class StreamClock:
    """Time as the recorded PBX saw it (see the module docstring)."""

    def __init__(self) -> None:
        self.now = 0.0

    def observe(self, event: ev.Event) -> float:
        if isinstance(event, ev.StreamTime):
            self.now = max(self.now, event.epoch)
        elif isinstance(event, ev.Newchannel):
            self.now = max(self.now, epoch_of(event.channel.uniqueid, self.now))
        return self.now


def read_capture(path: Path) -> bytes:
    """A capture file's bytes; ``.gz`` files are decompressed."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()


def chunks(data: bytes, size: int | None, *, seed: int | None = None) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes (whole if None); with a ``seed``, random sizes
    between 1 and ``size``."""
    if not size:
        yield data
        return
    rng = random.Random(seed) if seed is not None else None
    pos = 0
    while pos < len(data):
        step = rng.randint(1, size) if rng else size
        yield data[pos : pos + step]
        pos += step


def replay_records(
    streams: Sequence[Iterable[bytes]], pbx: PbxSettings | None = None
) -> list[CallRecord]:
    """Finished call records from one or more consecutive connections' byte streams
    (a capture and its ``.2`` continuation after a PBX restart)."""
    tracker = CallTracker((pbx or PbxSettings()).endpoints())
    clock = StreamClock()
    records: list[CallRecord] = []

    def on_event(event: ev.Event) -> None:
        now = clock.observe(event)
        for change in tracker.apply(event, now):
            if isinstance(change, CallFinished):
                records.append(change.record)

    for stream in streams:
        parser = AmiStreamParser(on_event, keep=EventFilter.from_spec(REPLAY_EVENTS))
        for piece in stream:
            parser.feed(piece)
    return records


def run_replay(
    paths: Sequence[Path], chunk: int | None, out: TextIO, pbx: PbxSettings | None = None
) -> int:
    """The CLI command: print each finished call as one JSON line. Returns the exit status."""
    streams = [chunks(read_capture(path), chunk) for path in paths]
    for record in replay_records(streams, pbx):
        out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    return 0

"""Ingest benchmark (not a test): how fast does an AMI stream become a persisted call log?

Run: ``.venv/bin/python tests/bench/ingest.py [--capture burst_load.ami.gz] [--rounds 5]``

On one core (the process pins itself to CPU 0) it replays a recorded stream in 4 KiB chunks,
the size of a typical TCP read, through

- **bare panoramisk**: ``panoramisk.ami_protocol.AMIProtocol.data_received`` with a dispatch
  that only counts events (what a panoramisk application pays before doing anything), and
- **ours**: the live server's pipeline: ``AmiProtocol``'s stream parser with the default
  event filter, the pump, the call tracker, and the call log written to a real SQLite file,

alternating the two, and prints events/s for each (all events in the capture divided by the
wall time, best and median of the rounds) and as its last line ``ratio: X`` (ours / bare,
best against best). Both sides see the same bytes in the same chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from callcenter.ami.replay import chunks, read_capture  # noqa: E402
from callcenter.ami.stream import AmiStreamParser  # noqa: E402
from callcenter.live.pump import Pump  # noqa: E402
from callcenter.model.calls import CallTracker  # noqa: E402
from callcenter.settings import DEFAULT_AMI_EVENTS  # noqa: E402
from callcenter.store.calllog import CallLog, CallLogWriter, CallQuery  # noqa: E402
from callcenter.store.database import Database  # noqa: E402

CAPTURES = ROOT / "tests" / "fixtures" / "ami"
CHUNK = 4096


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _CountingFactory:
    """What panoramisk's Manager is to its protocol, minus everything but counting."""

    forgetable_actions = ("ping", "login")

    def __init__(self) -> None:
        self.events = 0
        self.awaiting_actions: list[Any] = []
        self.save_stream = None

    def dispatch(self, message: Any) -> None:
        self.events += 1

    def connection_lost(self, exc: Any) -> None:
        pass


def bare_panoramisk(pieces: list[bytes]) -> tuple[float, int]:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    factory = _CountingFactory()
    protocol.factory = factory
    protocol.encoding = "utf8"
    start = time.perf_counter()
    for piece in pieces:
        protocol.data_received(piece)
    return time.perf_counter() - start, factory.events


async def our_pipeline(pieces: list[bytes], db_path: Path) -> tuple[float, int]:
    db = await Database.open(db_path)
    writer = CallLogWriter(CallLog(db))
    pump = Pump(CallTracker(), writer.submit)
    parser = AmiStreamParser(lambda event: pump.on_event(event, time.time()), DEFAULT_AMI_EVENTS)
    tasks = [asyncio.create_task(writer.run())]
    start = time.perf_counter()
    for piece in pieces:
        parser.feed(piece)
        await asyncio.sleep(0)  # let the pump and the writer run, as the event loop would
    await writer.flush()
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    logged = (await CallLog(db).query(CallQuery(limit=1))).total
    await db.close()
    return elapsed, logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", default="burst_load.ami.gz")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    data = read_capture(CAPTURES / args.capture)
    pieces = list(chunks(data, CHUNK))
    total_events = data.count(b"\r\nEvent: ") + int(data.startswith(b"Event: "))
    bare_times: list[float] = []
    our_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            seconds, dispatched = bare_panoramisk(pieces)
            bare_times.append(seconds)
            seconds, logged = asyncio.run(our_pipeline(pieces, Path(tmp) / f"round{n}.db"))
            our_times.append(seconds)
    print(f"capture: {args.capture}: {len(data):,} bytes, {total_events:,} events")
    print(f"bare panoramisk dispatched {dispatched:,} events; ours logged {logged:,} calls")
    for name, times in (("bare panoramisk", bare_times), ("ours (parse+track+persist)", our_times)):
        best, median = min(times), statistics.median(times)
        print(
            f"{name:28s} best {total_events / best:>10,.0f} events/s   "
            f"median {total_events / median:>10,.0f} events/s   ({best * 1000:.1f} ms)"
        )
    print(f"ratio: {min(bare_times) / min(our_times):.2f}")


if __name__ == "__main__":
    main()

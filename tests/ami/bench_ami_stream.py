"""Events/s of our AMI stream parser versus bare panoramisk on the burst capture.

    .venv/bin/python tests/ami/bench_ami_stream.py [capture] [chunk bytes ...]

"bare panoramisk" is ``AMIProtocol.data_received`` with a dispatch that only counts (what a
panoramisk ``Manager`` does before any user code runs). "ours" is ``AmiStreamParser`` with
the default keep set delivering typed events to a counting callback, and the same through
``AmiProtocol.data_received`` (the class the link uses). The rate is the capture's total
event count divided by the time: every event has to be read, kept or not. Best of 5 runs.
Prints numbers, asserts nothing (performance lives in benchmarks, not in timed tests).
"""

from __future__ import annotations

import gzip
import sys
import time
from collections.abc import Callable
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol

from callcenter.ami.filters import EventFilter
from callcenter.ami.stream import AmiProtocol, AmiStreamParser
from callcenter.settings import DEFAULT_AMI_EVENTS

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


class _CountingFactory:
    save_stream = None

    def __init__(self) -> None:
        self.count = 0

    def dispatch(self, message: object) -> None:
        self.count += 1


def bare_panoramisk(data: bytes, chunk: int) -> int:
    protocol = AMIProtocol()
    protocol.connection_made(None)
    protocol.encoding = "utf-8"
    factory = _CountingFactory()
    protocol.factory = factory
    for pos in range(0, len(data), chunk):
        protocol.data_received(data[pos : pos + chunk])
    return factory.count


def ours(data: bytes, chunk: int) -> int:
    count = 0

    def on_event(event: object) -> None:
        nonlocal count
        count += 1

    parser = AmiStreamParser(on_event, DEFAULT_AMI_EVENTS)
    for pos in range(0, len(data), chunk):
        parser.feed(data[pos : pos + chunk])
    return count


def ours_protocol(data: bytes, chunk: int) -> int:
    count = 0

    def on_event(event: object) -> None:
        nonlocal count
        count += 1

    protocol = AmiProtocol(on_event, lambda exc: None, EventFilter.from_spec(DEFAULT_AMI_EVENTS))
    for pos in range(0, len(data), chunk):
        protocol.data_received(data[pos : pos + chunk])
    return count


def best_of(run: Callable[[bytes, int], int], data: bytes, chunk: int) -> tuple[float, int]:
    best, delivered = float("inf"), 0
    for _ in range(5):
        start = time.perf_counter()
        delivered = run(data, chunk)
        best = min(best, time.perf_counter() - start)
    return best, delivered


def main(argv: list[str]) -> None:
    name = argv[0] if argv else "burst_load.ami.gz"
    chunks = [int(c) for c in argv[1:]] or [65536, 4096]
    raw = (CAPTURES / name).read_bytes()
    data = gzip.decompress(raw) if name.endswith(".gz") else raw
    total = data.count(b"\r\nEvent: ") + data.startswith(b"Event: ")
    print(f"{name}: {len(data) / 1e6:.1f} MB, {total} events")
    for chunk in chunks:
        base, _ = best_of(bare_panoramisk, data, chunk)
        print(f"chunk {chunk:>6} B: bare panoramisk {total / base:>9,.0f} events/s ({base:.3f} s)")
        for label, run in (("AmiStreamParser", ours), ("AmiProtocol", ours_protocol)):
            elapsed, delivered = best_of(run, data, chunk)
            print(
                f"{'':16}{label:<16}{total / elapsed:>9,.0f} events/s ({elapsed:.3f} s, "
                f"{delivered} typed events delivered) = {base / elapsed:.1f}x"
            )


if __name__ == "__main__":
    main(sys.argv[1:])

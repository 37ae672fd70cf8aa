"""Helpers for the AMI tests: the recorded captures and an independent reference parser."""

from __future__ import annotations

import gzip
from pathlib import Path

from callcenter.model.events import Event, parse_event

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def capture_names() -> list[str]:
    names = [p.name for p in CAPTURES.glob("*.ami")] + [p.name for p in CAPTURES.glob("*.ami.gz")]
    return sorted(names)


def load_capture(name: str) -> bytes:
    path = CAPTURES / name
    if name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def reference_events(data: bytes) -> list[tuple[str, str, Event]]:
    """Independent, slow, obviously-correct parse: split the whole stream on empty lines,
    decode each frame, every ``Key: Value`` line a header. Returns (event name, VarSet
    variable, typed event) for every frame parse_event turns into an event."""
    result = []
    for frame in data.split(b"\r\n\r\n"):
        headers: dict[str, str] = {}
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            if ": " in line:
                key, value = line.split(": ", 1)
                headers[key] = value
            elif line.endswith(":"):
                headers[line[:-1]] = ""
        try:
            event = parse_event(headers)
        except ValueError:
            continue
        if event is not None:
            result.append((headers["Event"], headers.get("Variable", ""), event))
    return result

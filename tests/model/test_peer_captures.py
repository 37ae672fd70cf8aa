"""Golden replays of other PBXs' dialplans, judged by their truth files.

- ``fixtures/peer/cacofonisk/``: 26 recordings of VoIPGRID's production Asterisk (the test
  fixtures of the MIT-licensed cacofonisk, converted to raw AMI bytes): Local chains, ring
  groups, queues through Local members, forwards, call acceptance, pickups, blind, attended
  and blonde transfers, click-to-dial and call-me-now.
- ``fixtures/ami/freepbx/``: Asterisk 22 captures recorded on the kit with a FreePBX-style
  dialplan (``tests/pbx/freepbx/``).

Each folder has the ``pbx.toml`` of its PBX. Every capture is replayed whole, byte by byte and
in random chunks: the call logs must be identical, and correct by the truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.ami.replay import chunks, read_capture, replay_records
from callcenter.model.records import CallRecord
from callcenter.settings import PbxSettings, load_settings
from tests.support.truth import judge, load_truth

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FOLDERS = (FIXTURES / "peer" / "cacofonisk", FIXTURES / "ami" / "freepbx")


def _captures() -> list[Path]:
    found: list[Path] = []
    for folder in FOLDERS:
        if folder.is_dir():
            found += sorted(folder.glob("*.ami.gz")) + sorted(folder.glob("*.ami"))
    return found


CAPTURES = _captures()


def _name(path: Path) -> str:
    return path.name.split(".ami")[0]


def _pbx(path: Path) -> PbxSettings:
    return load_settings(path.parent / "pbx.toml", {}).pbx


def _replay(path: Path, chunk: int | None = None, seed: int | None = None) -> list[CallRecord]:
    return replay_records([chunks(read_capture(path), chunk, seed=seed)], _pbx(path))


def test_the_peer_captures_are_all_here() -> None:
    assert len([p for p in CAPTURES if "cacofonisk" in str(p)]) == 26
    assert len([p for p in CAPTURES if "freepbx" in str(p)]) >= 17
    for path in CAPTURES:
        assert (path.parent / f"{_name(path)}.truth.json").is_file(), path


@pytest.mark.parametrize("path", CAPTURES, ids=_name)
def test_the_call_log_is_what_happened(path: Path) -> None:
    logged = [r.to_dict() for r in _replay(path)]
    assert judge(logged, load_truth(path.parent / f"{_name(path)}.truth.json")) == []


@pytest.mark.parametrize("path", CAPTURES, ids=_name)
def test_chunking_never_changes_the_call_log(path: Path) -> None:
    whole = _replay(path)
    assert _replay(path, chunk=1) == whole
    for seed in (1, 2, 3):
        assert _replay(path, chunk=7, seed=seed) == whole

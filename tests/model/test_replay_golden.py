"""Golden call logs: every recorded capture, through the real parser and the tracker.

Two independent oracles:

- ``tests/fixtures/golden/<capture>.jsonl``: the expected call log of each capture, checked by
  hand against ``tests/fixtures/ami/README.md`` and the ``.actions.jsonl`` files (a diff here
  is a behaviour change to review, never to regenerate blindly);
- ``<capture>.truth.jsonl`` of the SIP captures: what the traffic driver did and saw on the real
  PBX; compared field by field below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callcenter.ami.replay import chunks, read_capture, replay_records
from callcenter.model.records import CallRecord
from callcenter.settings import load_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CAPTURES = FIXTURES / "ami"
PBX = load_settings(CAPTURES / "pbx.toml", {}).pbx
GOLDEN = FIXTURES / "golden"

# Captures that are one recording: (first connection, continuation after a PBX restart).
MULTI = {
    "sip_restart": ("sip_restart.ami", "sip_restart.2.ami"),
    "reconnect_restart": ("reconnect_restart.ami", "reconnect_restart.2.ami"),
    "reconnect": ("reconnect.ami", "reconnect.2.ami"),
}


def _capture_sets() -> dict[str, tuple[Path, ...]]:
    sets: dict[str, tuple[Path, ...]] = {}
    for path in sorted(CAPTURES.iterdir()):
        name = path.name
        if not (name.endswith(".ami") or name.endswith(".ami.gz")) or ".2.ami" in name:
            continue
        stem = name.split(".ami")[0]
        sets[stem] = tuple(CAPTURES / part for part in MULTI.get(stem, (name,)))
    return sets


CAPTURE_SETS = _capture_sets()


def _replay(paths: tuple[Path, ...], chunk: int | None = None, seed: int | None = None):
    return replay_records([chunks(read_capture(p), chunk, seed=seed) for p in paths], PBX)


def _dicts(records: list[CallRecord]) -> list[dict[str, object]]:
    return [r.to_dict() for r in records]


def _golden(stem: str) -> list[dict[str, object]]:
    path = GOLDEN / f"{stem}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_every_capture_has_a_golden_file() -> None:
    assert len(CAPTURE_SETS) >= 25
    missing = [stem for stem in CAPTURE_SETS if not (GOLDEN / f"{stem}.jsonl").exists()]
    assert missing == []


@pytest.mark.parametrize("stem", sorted(CAPTURE_SETS))
def test_capture_matches_golden_call_log(stem: str) -> None:
    assert _dicts(_replay(CAPTURE_SETS[stem])) == _golden(stem)


@pytest.mark.parametrize("stem", sorted(CAPTURE_SETS))
def test_random_chunking_gives_identical_results(stem: str) -> None:
    whole = _dicts(_replay(CAPTURE_SETS[stem]))
    for seed in (1, 2):
        assert _dicts(_replay(CAPTURE_SETS[stem], chunk=97, seed=seed)) == whole


@pytest.mark.parametrize(
    "stem", ["sip_inbound_answered", "inbound_abandoned", "outbound_busy", "sip_restart"]
)
def test_byte_by_byte_gives_identical_results(stem: str) -> None:
    assert _dicts(_replay(CAPTURE_SETS[stem], chunk=1)) == _dicts(_replay(CAPTURE_SETS[stem]))


# --- against the traffic driver's ground truth -------------------------------------------


def _truth(stem: str) -> list[dict[str, object]]:
    path = CAPTURES / f"{stem}.truth.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


TRUTH_STEMS = sorted(p.name.split(".truth")[0] for p in CAPTURES.glob("*.truth.jsonl"))


def _by_call(stem: str) -> dict[str, dict[str, object]]:
    return {r["call_id"]: r for r in _dicts(_replay(CAPTURE_SETS[stem]))}  # type: ignore[misc]


@pytest.mark.parametrize("stem", [s for s in TRUTH_STEMS if s != "sip_campaign"])
def test_sip_capture_agrees_with_the_traffic_driver(stem: str) -> None:
    ours = _dicts(_replay(CAPTURE_SETS[stem]))
    truths = _truth(stem)
    assert truths
    for truth in truths:
        if "linkedid" in truth:
            [record] = [r for r in ours if r["call_id"] == truth["linkedid"]]
        else:  # outbound: the driver did not learn the linkedid
            [record] = [r for r in ours if r["called_number"] == truth["called_number"]]
            assert record["direction"] == "outbound"
        outcome = truth["outcome"]
        if outcome != "abandoned_or_answered":  # 6 burst callers gave up at the same moment
            assert record["outcome"] == outcome
        for key in ("caller_number", "caller_name", "queue", "called_number"):
            if key in truth:
                assert record[key] == truth[key], key
        if outcome == "answered" or ("agent" in truth and truth["agent"] is not None):
            assert record["agent"] == truth["agent"]
        if "agents_offered" in truth:
            assert record["agents_offered"] == truth["agents_offered"]
        if "hangup_by" in truth:
            expected = {"customer": "caller"}.get(truth["hangup_by"], truth["hangup_by"])
            assert record["hangup_by"] == expected
        if "transfers" in truth:
            assert record["transfers"] == [
                {k: t[k] for k in ("kind", "from_agent", "to")} for t in truth["transfers"]
            ]
        if "recording" in truth:
            assert str(record["recording"]).endswith("/" + str(truth["recording"]))
        if "did" in truth:
            assert record["called_number"] == truth["did"]
        for ours_key, truth_key in (("started_at", "started"), ("ended_at", "ended")):
            if truth_key in truth:
                assert record[ours_key] == truth[truth_key], ours_key
        if "talk_s" in truth and stem != "sip_outbound_answered":
            assert abs(record["talk_s"] - truth["talk_s"]) <= 1.0  # type: ignore[operator]


def test_sip_outbound_answered_talk_time_follows_the_pbx() -> None:
    """The driver reports 3 s of talk, but the PBX's own CEL stamps say the customer leg was
    answered and hung up in the same second (18:22:57) and the CDR bills 3 s from the
    *agent's* answer. We log what Asterisk reports for the customer leg."""
    [record] = _dicts(_replay(CAPTURE_SETS["sip_outbound_answered"]))
    assert record["answered_at"] == record["ended_at"] == "2026-11-22T18:22:57Z"
    assert record["talk_s"] == 0.0


def test_sip_burst_logs_every_driver_call_exactly_once() -> None:
    ours = _dicts(_replay(CAPTURE_SETS["sip_burst"]))
    ids = [r["call_id"] for r in ours]
    assert len(ids) == len(set(ids))
    truth_ids = {t["linkedid"] for t in _truth("sip_burst")}
    assert truth_ids <= set(ids)
    # One more call is in the stream: a scenario run right after the burst.
    assert len(ids) == len(truth_ids) + 1


def test_campaign_calls() -> None:
    ours = _dicts(_replay(CAPTURE_SETS["sip_campaign"]))
    # The OutgoingSpoolFailed pseudo-channel is not a call; +4930100001 is still talking.
    assert len(ours) == 2
    by_number = {r["called_number"]: r for r in ours}
    for truth in _truth("sip_campaign"):
        if truth["outcome"] is None:
            assert truth["called_number"] not in by_number
            continue
        record = by_number[truth["called_number"]]
        assert record["direction"] == "outbound"
        assert record["outcome"] == truth["outcome"]
        assert record["queue"] == truth["queue"]
        if "hangup_by" in truth:
            assert record["hangup_by"] == truth["hangup_by"]


def test_burst_load_300_calls_all_answered() -> None:
    ours = _dicts(_replay(CAPTURE_SETS["burst_load"]))
    assert len(ours) == 300
    assert len({r["call_id"] for r in ours}) == 300
    assert {r["outcome"] for r in ours} == {"answered"}
    agents = {r["agent"] for r in ours}
    assert agents == {f"Local/{n}@agents/n" for n in range(3001, 3021)}

"""CDRs -> call-log records (callcenter/model/cdr.py), on CDR lines recorded from the kit's
Asterisk 22 (``tests/fixtures/cdr/*.cdr.jsonl``, written by dialplans/cdr_custom.conf) and the
traffic driver's truth for the same calls (``*.truth.jsonl``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callcenter.model.cdr import CDR_FORMAT, CdrRow, call_from_cdrs, caller_name_of, recovered_calls
from callcenter.model.endpoints import PbxEndpoints
from callcenter.model.records import Direction, Outcome
from tests.pbx.expect import CLOCK_SLACK_S, cdr_expected
from tests.pbx.kit import epoch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
PBX = PbxEndpoints()
RECORDINGS = ("kit_calls", "kit_more_calls")


def rows_of(name: str) -> list[CdrRow]:
    text = (FIXTURES / f"{name}.cdr.jsonl").read_text(encoding="utf-8")
    return [CdrRow.from_json(json.loads(line)) for line in text.splitlines() if line]


def truths_of(name: str) -> list[dict[str, Any]]:
    text = (FIXTURES / f"{name}.truth.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recorded_call_maps_to_what_the_driver_saw(name: str) -> None:
    calls = {
        c.call_id: c.to_dict()
        for c in recovered_calls(rows_of(name), PBX, ended_after=0, ended_before=4e9)
    }
    truths = truths_of(name)
    assert set(calls) == {t["linkedid"] for t in truths}
    for truth in truths:
        row = calls[truth["linkedid"]]
        expected = cdr_expected(truth)
        if truth["scenario"] == "transfer":
            # The CDR's dst follows party A through the dialplan: after a blind transfer it is
            # the extension transferred to, not the DID.
            expected["called_number"] = truth["transfers"][-1]["to"].split("/")[1]
        assert {k: row[k] for k in expected} == expected, truth["scenario"]
        assert row["recovered"] is True
        assert row["hangup_by"] is None and row["transfers"] == [] and row["recording"] is None
        for ours, theirs in (("started_at", "started"), ("ended_at", "ended")):
            assert abs(epoch(row[ours]) - epoch(truth[theirs])) <= CLOCK_SLACK_S
        if truth["outcome"] == "answered":
            # CDRs do not say when the agent picked up: at most the ringing early.
            assert epoch(row["answered_at"]) <= epoch(truth["answered"]) + CLOCK_SLACK_S
            assert row["talk_s"] >= truth.get("talk_s", 0) - CLOCK_SLACK_S
        else:
            assert row["answered_at"] is None and row["talk_s"] == 0


def test_the_rows_of_one_call_fold_into_one_record() -> None:
    rows = [r for r in rows_of("kit_more_calls") if r.linkedid == "1796307088.9"]
    assert len(rows) == 2  # 2001 rang in vain, 2002 answered
    call = call_from_cdrs(reversed(rows), PBX)
    assert (call.direction, call.queue, call.agents_offered, call.agent, call.outcome) == (
        Direction.INBOUND,
        "retention",
        ("PJSIP/2001", "PJSIP/2002"),
        "PJSIP/2002",
        Outcome.ANSWERED,
    )
    assert call.started_at == min(r.start for r in rows)
    assert call.ended_at == max(r.end for r in rows)


def test_a_gap_takes_only_the_calls_that_ended_in_it_and_are_not_live() -> None:
    rows = rows_of("kit_calls")
    ends = sorted({max(r.end for r in rows if r.linkedid == t) for t in {r.linkedid for r in rows}})
    gap = recovered_calls(rows, PBX, ended_after=ends[0], ended_before=ends[-2])
    assert len(gap) == len(ends) - 2
    assert [c.ended_at for c in gap] == sorted(c.ended_at for c in gap)
    live = {gap[0].call_id}
    assert gap[0].call_id not in {
        c.call_id for c in recovered_calls(rows, PBX, ended_after=0, ended_before=4e9, live=live)
    }


def good() -> dict[str, Any]:
    return json.loads(
        (FIXTURES / "kit_calls.cdr.jsonl").read_text(encoding="utf-8").splitlines()[0]
    )


@pytest.mark.parametrize(
    "change",
    [
        {"format": "other"},
        {"format": None},
        {"linkedid": "../../etc/passwd"},
        {"linkedid": ""},
        {"uniqueid": 5},
        {"start": float("nan")},
        {"end": float("inf")},
        {"end": 1.0},
        {"start": True},
        {"answer": "soon"},
        {"sequence": True},
        {"clid": "x" * 5000},
        {"lastdata": "a\0b"},
        {"dstchannel": ["PJSIP/2001"]},
    ],
)
def test_a_hostile_line_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CdrRow.from_json({**good(), **change})


def test_an_unanswered_cdr_has_no_answer_time() -> None:
    assert CdrRow.from_json({**good(), "answer": 0}).answer is None
    assert good()["format"] == CDR_FORMAT


@pytest.mark.parametrize(
    ("clid", "name"),
    [
        ('"Jürgen Müller" <+493012345678>', "Jürgen Müller"),
        ('"Say \\"Hi\\"" <2001>', 'Say "Hi"'),
        ('"" <2001>', ""),
        ("+493012345678", ""),
        ("<2001>", ""),
    ],
)
def test_caller_name_of(clid: str, name: str) -> None:
    assert caller_name_of(clid) == name

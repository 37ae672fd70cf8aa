"""Comparing a call-log row with what the traffic driver saw (its JSON truth line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.pbx.kit import epoch

#: The driver's clock and ours read different events of the same call (it stamps before
#: placing the call and after seeing the last hangup; we stamp AMI events): seconds apart.
CLOCK_SLACK_S = 2.0
TALK_SLACK_S = 1.5


def transfers_of(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: t[k] for k in ("kind", "from_agent", "to")} for t in truth.get("transfers", [])]


def offered_of(truth: dict[str, Any]) -> list[str]:
    """Every device that rang: the queue's agents (the driver lists them only when it made one
    ring in vain), then each transfer's target."""
    if "agents_offered" in truth:
        return list(truth["agents_offered"])
    transfers = truth.get("transfers") or []
    if transfers:
        offered = [transfers[0]["from_agent"]]
        for transfer in transfers:
            if transfer["to"] not in offered:
                offered.append(transfer["to"])
        return offered
    return [truth["agent"]] if truth.get("agent") else []


def assert_inbound_record(
    row: dict[str, Any], truth: dict[str, Any], recordings: Path | None = None
) -> None:
    """Every field of an inbound queue call that the driver knows, exactly; times within a
    second or two."""
    problems = []

    def check(key: str, expected: Any) -> None:
        if row[key] != expected:
            problems.append(f"{key}: logged {row[key]!r}, truth {expected!r}")

    check("call_id", truth["linkedid"])
    check("direction", "inbound")
    check("caller_number", truth["caller_number"])
    check("caller_name", truth["caller_name"])
    check("called_number", truth["did"])
    check("queue", truth["queue"])
    check("outcome", truth["outcome"])
    check("agent", truth.get("agent"))
    check("agents_offered", offered_of(truth))
    check("hangup_by", {"customer": "caller"}.get(truth["hangup_by"], truth["hangup_by"]))
    check("transfers", transfers_of(truth))
    if recordings is not None:
        check("recording", str(recordings / truth["recording"]))
    for ours, theirs in (("started_at", "started"), ("ended_at", "ended")):
        if theirs in truth and abs(epoch(row[ours]) - epoch(truth[theirs])) > CLOCK_SLACK_S:
            problems.append(f"{ours}: logged {row[ours]}, truth {truth[theirs]}")
    answered = truth.get("answered") if truth["outcome"] == "answered" else None
    late = answered and abs(epoch(row["answered_at"] or answered) - epoch(answered))
    if late and late > CLOCK_SLACK_S:
        problems.append(f"answered_at: logged {row['answered_at']}, truth {answered}")
    if "talk_s" in truth and abs(row["talk_s"] - truth["talk_s"]) > TALK_SLACK_S:
        problems.append(f"talk_s: logged {row['talk_s']}, truth {truth['talk_s']}")
    assert not problems, f"call {truth['linkedid']}:\n  " + "\n  ".join(problems)


def assert_recorded(recordings: Path, recording: str) -> None:
    """MixMonitor wrote the mix and both legs (``-in`` customer, ``-out`` agent), each with
    audio after the 44-byte WAV header."""
    stem = recording.removesuffix(".wav")
    for name in (f"{stem}.wav", f"{stem}-in.wav", f"{stem}-out.wav"):
        path = recordings / name
        assert path.exists(), f"missing recording {path}"
        assert path.stat().st_size > 44 + 8000, f"{path} holds less than 0.5 s of audio"


def cdr_expected(truth: dict[str, Any]) -> dict[str, Any]:
    """The fields a call recovered from CDRs must have for a call the driver made (CDRs do
    not tell who hung up, the transfer kind or the recording; see callcenter/model/cdr.py)."""
    if truth["scenario"] in ("inbound", "abandon", "transfer"):
        return {
            "direction": "inbound",
            "caller_number": truth["caller_number"],
            "caller_name": truth["caller_name"],
            "called_number": truth["did"],
            "queue": truth["queue"],
            "agent": truth.get("agent"),
            "agents_offered": offered_of(truth),
            "outcome": truth["outcome"],
        }
    if truth["scenario"] == "campaign":
        return {
            "direction": "outbound",
            "caller_number": "",
            "called_number": truth["called_number"],
            "queue": truth["queue"],
            "agent": truth["agent"],
            "agents_offered": [truth["agent"]],
            "outcome": truth["outcome"],
        }
    return {
        "direction": "outbound",
        "caller_number": truth["agent"].split("/")[1],
        "called_number": truth["called_number"],
        "agent": truth["agent"],
        "agents_offered": [],
        "outcome": truth["outcome"],
    }

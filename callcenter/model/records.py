"""What the call model tells the rest of the server: finished call records and live changes.

A :class:`CallRecord` is the row of the automatic call log; its field names are the public
JSON shape of ``GET /api/calls`` and ``callcenter replay``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Direction(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Outcome(enum.Enum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"
    MACHINE = "machine"  # campaign call answered by an answering machine (app_amd)


class HangupBy(enum.Enum):
    CALLER = "caller"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Transfer:
    kind: str  # "blind" or "attended"
    from_agent: str | None
    to: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "from_agent": self.from_agent, "to": self.to}


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ISO 8601 UTC with a Z, second precision is what Asterisk gives us."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call. Times are epoch seconds; ``to_dict`` renders them as ISO 8601 UTC."""

    call_id: str
    direction: Direction
    caller_number: str
    caller_name: str
    called_number: str
    queue: str | None
    agents_offered: tuple[str, ...]
    agent: str | None
    started_at: float
    answered_at: float | None
    ended_at: float
    wait_s: float
    talk_s: float
    outcome: Outcome
    hangup_by: HangupBy | None
    transfers: tuple[Transfer, ...] = field(default_factory=tuple)
    recording: str | None = None
    dial_id: str | None = None  # the campaign dial (ATTEMPT_ID) this call was placed for
    #: Logged after the fact from the PBX's CDRs (the call ended while we were not listening),
    #: not from live events: times are the CDRs' and transfers, hangup side and recording
    #: are unknown (see callcenter/model/cdr.py).
    recovered: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        """The inverse of :meth:`to_dict` (a call log row back into a record)."""
        return cls(
            call_id=data["call_id"],
            direction=Direction(data["direction"]),
            caller_number=data["caller_number"],
            caller_name=data["caller_name"],
            called_number=data["called_number"],
            queue=data["queue"],
            agents_offered=tuple(data["agents_offered"]),
            agent=data["agent"],
            started_at=_epoch(data["started_at"]),
            answered_at=_epoch(data["answered_at"]) if data["answered_at"] else None,
            ended_at=_epoch(data["ended_at"]),
            wait_s=float(data["wait_s"]),
            talk_s=float(data["talk_s"]),
            outcome=Outcome(data["outcome"]),
            hangup_by=HangupBy(data["hangup_by"]) if data["hangup_by"] else None,
            transfers=tuple(
                Transfer(t["kind"], t["from_agent"], t["to"]) for t in data["transfers"]
            ),
            recording=data["recording"],
            dial_id=data.get("dial_id"),
            recovered=bool(data.get("recovered", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "direction": self.direction.value,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "called_number": self.called_number,
            "queue": self.queue,
            "agents_offered": list(self.agents_offered),
            "agent": self.agent,
            "started_at": iso(self.started_at),
            "answered_at": iso(self.answered_at),
            "ended_at": iso(self.ended_at),
            "wait_s": self.wait_s,
            "talk_s": self.talk_s,
            "outcome": self.outcome.value,
            "hangup_by": self.hangup_by.value if self.hangup_by else None,
            "transfers": [t.to_dict() for t in self.transfers],
            "recording": self.recording,
            "dial_id": self.dial_id,
            "recovered": self.recovered,
        }


# --- live changes (what the hub and, later, screen pops consume) -------------------------


@dataclass(frozen=True, slots=True)
class CallFinished:
    record: CallRecord


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """A call started ringing on an agent's interface/device (the screen-pop trigger)."""

    call_id: str
    agent: str
    caller_number: str
    caller_name: str
    queue: str | None
    dial_id: str | None = None  # a campaign call: the dial it was placed for


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    agent: str | None


Change = CallFinished | AgentRinging | CallAnswered

"""Call detail records (CDRs) -> call-log records, for calls that ended while we were deaf.

Asterisk writes one CDR per pair of parties (party A: the channel that started a leg; party
B: the channel it was bridged or dialled to, ``dstchannel``), several per call, all with the
call's ``linkedid``. ``dialplans/cdr_custom.conf`` appends them as JSON lines (format
``cc-cdr-1``); :class:`CdrRow` is one of them, validated, :func:`call_from_cdrs` folds the rows
of one linkedid into one :class:`CallRecord` (``recovered=True``), and
:func:`recovered_calls` picks the calls of a gap.

What the rows say, from the kit's Asterisk 22 (``tests/fixtures/cdr/``):

- inbound queue call: party A is the trunk's channel (``PJSIP/carrier-…``, ``lastapp`` Queue,
  ``lastdata`` ``support,t,,,600``); one row per agent rung (``dstchannel`` the agent's phone,
  ``disposition`` ``NO ANSWER`` or ``ANSWERED``); an abandoned call has one row without
  ``dstchannel``. ``answer`` is when party A was answered (by ``Answer()``), not the agent.
- click-to-call: party A is the agent's phone (answered first), party B the trunk
  (``disposition`` BUSY / NO ANSWER / ANSWERED is the customer's), plus a row for the agent's
  own ``Hangup`` without ``dstchannel``.
- campaign: party A is a Local pipe; one row dials the customer through the trunk, the other
  queues them to an agent.

CDRs are coarser than the live events: they do not say when the agent picked up (the
answering agent's ringing counts as talk time), who hung up, what kind of transfer happened,
or where the recording is. Such records are therefore marked ``recovered``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.model.endpoints import Kind, PbxEndpoints, device_of
from callcenter.model.records import CallRecord, Direction, Outcome

#: The ``format`` literal of dialplans/cdr_custom.conf; lines of any other format are skipped.
CDR_FORMAT = "cc-cdr-1"
#: Longest text field accepted from the PBX (caller names, lastdata): longer rows are refused.
MAX_FIELD_CHARS = 1024
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_CLID = re.compile(r'^\s*"(?P<name>(?:[^"\\]|\\.)*)"\s*<[^>]*>\s*$')
_TEXT_FIELDS = (
    "disposition",
    "src",
    "clid",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
)
_DISPOSITIONS = {
    "ANSWERED": Outcome.ANSWERED,
    "BUSY": Outcome.BUSY,
    "NO ANSWER": Outcome.NO_ANSWER,
    "FAILED": Outcome.FAILED,
    "CONGESTION": Outcome.CONGESTION,
}


@dataclass(frozen=True, slots=True)
class CdrRow:
    """One CDR as dialplans/cdr_custom.conf writes it. Times are epoch seconds; ``answer``
    is None when party A was never answered."""

    linkedid: str
    uniqueid: str
    sequence: int
    start: float
    answer: float | None
    end: float
    disposition: str
    src: str
    clid: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CdrRow:
        """Validate one decoded line; ValueError says what is wrong (the PBX's text is
        data, never trusted: ids are checked, text is bounded, times must be sane)."""
        if data.get("format") != CDR_FORMAT:
            raise ValueError(f"not a {CDR_FORMAT} line (format {data.get('format')!r})")
        ids = {key: data.get(key) for key in ("linkedid", "uniqueid")}
        for key, value in ids.items():
            if not isinstance(value, str) or not _ID.match(value):
                raise ValueError(f"bad {key} {value!r}")
        texts: dict[str, str] = {}
        for key in _TEXT_FIELDS:
            value = data.get(key, "")
            if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS or "\0" in value:
                raise ValueError(f"bad {key}")
            texts[key] = value
        sequence = data.get("sequence", 0)
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ValueError(f"bad sequence {sequence!r}")
        start, answer, end = (_time(data.get(key), key) for key in ("start", "answer", "end"))
        if start <= 0 or end < start:
            raise ValueError(f"bad times start={start} end={end}")
        return cls(
            linkedid=str(ids["linkedid"]),
            uniqueid=str(ids["uniqueid"]),
            sequence=sequence,
            start=start,
            answer=answer if answer > 0 else None,
            end=end,
            **texts,
        )


def _time(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"bad {key} {value!r}")
    return float(value)


def caller_name_of(clid: str) -> str:
    """``"Jürgen Müller" <+4930…>`` -> ``Jürgen Müller``; no quoted name -> ``""``."""
    match = _CLID.match(clid)
    return match.group("name").replace('\\"', '"') if match else ""


def call_from_cdrs(rows: Iterable[CdrRow], endpoints: PbxEndpoints) -> CallRecord:
    """Fold the CDRs of one linkedid (at least one) into a recovered call-log record."""
    ordered = sorted(rows, key=lambda r: (r.start, r.sequence))
    if not ordered:
        raise ValueError("no CDRs")
    call_id = ordered[0].linkedid
    origin = next((r for r in ordered if r.uniqueid == call_id), ordered[0])

    def kind(channel: str) -> Kind | None:
        if not channel:
            return None
        if channel.startswith("Local/"):
            return endpoints.pipe_kind(device_of(channel))
        return endpoints.kind_of(channel, "")

    origin_kind = Kind.TRUNK if kind(origin.channel) is Kind.TRUNK else None
    to_trunk = [r for r in ordered if kind(r.dstchannel) is Kind.TRUNK]
    to_phone = [
        r
        for r in ordered
        if kind(r.dstchannel) is Kind.PHONE and not r.dstchannel.startswith("Local/")
    ]
    answered = [r for r in to_phone if r.disposition == "ANSWERED"]
    queue = next((r.lastdata.split(",", 1)[0] for r in ordered if r.lastapp == "Queue"), None)
    offered = tuple(dict.fromkeys(device_of(r.dstchannel) for r in to_phone))
    started_at = ordered[0].start
    ended_at = max(r.end for r in ordered)
    agent = device_of(answered[-1].dstchannel) if answered else None
    answered_at: float | None = None

    if origin_kind is Kind.TRUNK:
        direction = Direction.INBOUND
        caller_number, caller_name = origin.src, caller_name_of(origin.clid)
        called_number = origin.dst
        if answered:
            outcome = Outcome.ANSWERED
            first = answered[0]
            answered_at = max(first.start, first.answer or first.start)
        else:
            outcome = Outcome.ABANDONED
    elif to_trunk:
        direction = Direction.OUTBOUND
        local_origin = origin.channel.startswith("Local/")
        caller_number = "" if local_origin else origin.src
        caller_name = "" if local_origin else caller_name_of(origin.clid)
        called_number = to_trunk[0].dst
        customer = next((r for r in to_trunk if r.disposition == "ANSWERED"), to_trunk[-1])
        outcome = _DISPOSITIONS.get(customer.disposition, Outcome.FAILED)
        if not local_origin and kind(origin.channel) is Kind.PHONE:
            agent = device_of(origin.channel)
        if outcome is Outcome.ANSWERED:
            if queue is not None and not answered:
                outcome = Outcome.ABANDONED  # the customer answered, no agent took them
            else:
                first = answered[0] if answered else customer
                answered_at = max(first.start, first.answer or first.start)
    else:
        direction = Direction.INTERNAL
        caller_number, caller_name = origin.src, caller_name_of(origin.clid)
        called_number = origin.dst
        outcome = Outcome.ANSWERED if answered else Outcome.NO_ANSWER
        if answered:
            first = answered[0]
            answered_at = max(first.start, first.answer or first.start)

    if answered_at is not None:
        answered_at = min(answered_at, ended_at)
        wait_s, talk_s = answered_at - started_at, ended_at - answered_at
    else:
        wait_s, talk_s = ended_at - started_at, 0.0
    return CallRecord(
        call_id=call_id,
        direction=direction,
        caller_number=caller_number,
        caller_name=caller_name,
        called_number=called_number,
        queue=queue,
        agents_offered=offered,
        agent=agent,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_s=float(round(wait_s)),
        talk_s=float(round(talk_s)),
        outcome=outcome,
        hangup_by=None,
        recovered=True,
    )


def recovered_calls(
    rows: Iterable[CdrRow],
    endpoints: PbxEndpoints,
    *,
    ended_after: float,
    ended_before: float,
    live: Collection[str] = (),
) -> list[CallRecord]:
    """The calls of a gap: those whose last CDR ended in ``(ended_after, ended_before]`` and
    that are not still going on (``live``: linkedids of the channels a resync listed, which
    the live tracker logs itself), oldest first."""
    groups: dict[str, list[CdrRow]] = defaultdict(list)
    for row in rows:
        groups[row.linkedid].append(row)
    calls = []
    for linkedid, group in groups.items():
        if linkedid in live:
            continue
        ended = max(r.end for r in group)
        if ended_after < ended <= ended_before:
            calls.append(call_from_cdrs(group, endpoints))
    calls.sort(key=lambda c: (c.ended_at, c.call_id))
    return calls


__all__ = [
    "CDR_FORMAT",
    "CdrRow",
    "call_from_cdrs",
    "caller_name_of",
    "recovered_calls",
]

"""Campaign attempts: the persisted state machine of one number in one outbound campaign.

An :class:`Attempt` is one entry of a campaign's call list, worked until it is done. It is
dialed up to ``RetryPolicy.max_attempts`` times; every dial gets its own **dial id**
(``<attempt_id>.<n>``, n counting from 1), which the dialer puts on the originated channel
(with the campaign id) and which correlates everything Asterisk says about that dial. The
invariant this module exists for: **a dial id is originated at most once.** The only way into
``DIALING`` is the :class:`Dial` event from a waiting state, and it always mints the next dial
id; nothing ever goes back from an in-flight state to a waiting state with the same dial id.

States (``WAITING`` -> ``IN_FLIGHT`` -> back to ``WAITING``, or ``FINAL``)::

    pending ────────────┐
    retry_scheduled ────┼─ Dial ─► dialing ─► ringing ─► answered ─► connected
    callback_scheduled ─┘          (Answered and Connected may skip the steps before them)
    in flight ─ Ended(outcome) ─► done(reached)                 the outcome is ``completed``
                               ─► retry_scheduled               due = end + delay(outcome)
                               ─► done(max_attempts | not_retried)
    waiting ─ Block(dnc | no_consent) ─► dnc_blocked
    waiting ─ Close(reason) ─► done          waiting ─ Defer(until) ─► itself, due moved
    waiting | done ─ CallbackRequested ─► callback_scheduled     (the tries start over)

The table :data:`TRANSITIONS` is the whole machine; an event it does not list for the current
state (a duplicated ``OriginateResponse``, a late event for a settled dial) is logged and
dropped: :func:`advance` then returns the attempt it was given, unchanged.

Where the events come from:

- ``Dial``: the dialer, after :func:`may_dial` allowed it. **Persist the attempt in
  ``DIALING`` before sending the Originate**: a crash between the two leaves an attempt that
  :func:`reconcile` settles as ``unknown`` (never a second Originate of that dial id).
- ``Ringing``/``Answered``/``Connected``/``Ended``: the call model and ``OriginateResponse``
  (see :func:`outcome_of_originate`), answering-machine detection (``machine``), the queue
  (``abandoned`` when no agent took the answered call within the safe-harbour time).
- ``Block``/``Close``/``Defer``: the consequence of a refusal by :func:`may_dial`
  (:meth:`DialVerdict.follow_up`); ``CallbackRequested``: the agent's wrap-up or a manager.

Restart safety (:func:`reconcile`): after a restart or an AMI reconnect, an attempt still in
flight is compared with the dial ids found on the live channels of the resync. Found: the call
is still up (``ringing``, or ``connected`` when bridged). Not found: whatever happened to it
happened while we were not listening. A ``connected`` attempt had reached the customer, so it
is ``completed``; any other is settled with outcome ``unknown`` — the customer may have been
rung, or not, we cannot know — which the retry policy treats like ``failed``: it uses up one
try, and the number is only dialed again as the *next* try, after the retry delay. We chose
this over re-dialing at once because a dial we cannot see may well have rung the customer
(the at-most-once side of the trade-off: a lost try costs a delay, a double dial costs a
complaint).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from callcenter.model.calling_window import (
    CalleeZone,
    CallingRules,
    WindowState,
    next_open,
    window_state,
)

log = logging.getLogger(__name__)


class AttemptState(enum.Enum):
    PENDING = "pending"  # never dialed; due at ``due_at`` (None: now)
    RETRY_SCHEDULED = "retry_scheduled"  # a try did not reach the customer; due at ``due_at``
    CALLBACK_SCHEDULED = "callback_scheduled"  # promised to the customer for ``due_at``
    DIALING = "dialing"  # Originate sent (or about to be): no word from Asterisk yet
    RINGING = "ringing"  # the callee's phone rings
    ANSWERED = "answered"  # the callee picked up; waiting for an agent (safe-harbour time)
    CONNECTED = "connected"  # talking with an agent
    DONE = "done"  # finished, see ``done_reason``; only a callback reopens it
    DNC_BLOCKED = "dnc_blocked"  # do-not-call or consent refused at the moment of dialing


WAITING = frozenset(
    {AttemptState.PENDING, AttemptState.RETRY_SCHEDULED, AttemptState.CALLBACK_SCHEDULED}
)
IN_FLIGHT = frozenset(
    {AttemptState.DIALING, AttemptState.RINGING, AttemptState.ANSWERED, AttemptState.CONNECTED}
)
FINAL = frozenset({AttemptState.DONE, AttemptState.DNC_BLOCKED})


class DialOutcome(enum.Enum):
    """How one dial ended."""

    COMPLETED = "completed"  # the customer talked with an agent
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"
    MACHINE = "machine"  # answering machine (AMD)
    ABANDONED = "abandoned"  # answered, no agent within the safe-harbour time
    UNKNOWN = "unknown"  # the dial's fate was lost across a restart; retried like ``failed``


class DoneReason(enum.Enum):
    REACHED = "reached"
    MAX_ATTEMPTS = "max_attempts"
    NOT_RETRIED = "not_retried"  # the policy has no retry for the last outcome
    CAMPAIGN_ENDED = "campaign_ended"
    REMOVED = "removed"  # taken off the list by a manager
    NO_WINDOW = "no_window"  # the calling rules never allow this callee again


class Consent(enum.Enum):
    GRANTED = "granted"
    UNKNOWN = "unknown"
    WITHDRAWN = "withdrawn"


class Refusal(enum.Enum):
    """Why :func:`may_dial` says no. ``FINAL_REFUSALS`` take the attempt off the list."""

    NOT_WAITING = "not_waiting"  # in flight or final: dialing it would dial twice
    NOT_DUE = "not_due"
    OTHER_AGENT = "other_agent"  # a callback promised by another agent, still theirs
    MAX_ATTEMPTS = "max_attempts"
    DNC = "dnc"
    NO_CONSENT = "no_consent"
    NOT_STARTED = "not_started"
    CAMPAIGN_ENDED = "campaign_ended"
    NO_WINDOW = "no_window"  # no calling window opens again before the campaign ends
    CAMPAIGN_CLOSED = "campaign_closed"
    CALLEE_CLOSED = "callee_closed"  # outside the callee's local calling window


FINAL_REFUSALS = frozenset(
    {
        Refusal.DNC,
        Refusal.NO_CONSENT,
        Refusal.MAX_ATTEMPTS,
        Refusal.CAMPAIGN_ENDED,
        Refusal.NO_WINDOW,
    }
)


def _minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and when a number is tried again. A delay of ``None`` means "do not retry
    that outcome". ``abandoned`` defaults to 72 h: Ofcom's rule that a number whose call was
    abandoned is not called again within 72 hours unless a live agent is guaranteed.
    Callbacks restart the count of tries: a promise to call back is not spent by earlier
    failed tries."""

    max_attempts: int = 3
    busy: timedelta | None = field(default_factory=lambda: _minutes(10))
    no_answer: timedelta | None = field(default_factory=lambda: _minutes(120))
    congestion: timedelta | None = field(default_factory=lambda: _minutes(5))
    failed: timedelta | None = field(default_factory=lambda: _minutes(60))
    machine: timedelta | None = field(default_factory=lambda: _minutes(240))
    abandoned: timedelta | None = field(default_factory=lambda: _minutes(72 * 60))
    unknown: timedelta | None = field(default_factory=lambda: _minutes(60))
    # An agent-specific callback nobody took by due + grace goes to anyone.
    callback_grace: timedelta = field(default_factory=lambda: _minutes(15))

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, outcome: DialOutcome) -> timedelta | None:
        match outcome:
            case DialOutcome.BUSY:
                return self.busy
            case DialOutcome.NO_ANSWER:
                return self.no_answer
            case DialOutcome.CONGESTION:
                return self.congestion
            case DialOutcome.FAILED:
                return self.failed
            case DialOutcome.MACHINE:
                return self.machine
            case DialOutcome.ABANDONED:
                return self.abandoned
            case DialOutcome.UNKNOWN:
                return self.unknown
            case DialOutcome.COMPLETED:
                return None


@dataclass(frozen=True, slots=True)
class Attempt:
    """The persisted row. ``tries`` counts dials against ``max_attempts`` (reset by a
    callback), ``dials`` counts every dial ever placed and numbers the dial ids."""

    attempt_id: str
    campaign_id: str
    number: str
    state: AttemptState = AttemptState.PENDING
    priority: int = 0  # higher first
    due_at: datetime | None = None  # earliest dial (None: as soon as allowed)
    tries: int = 0
    dials: int = 0
    dialed_at: datetime | None = None  # when the current/last dial was placed
    last_outcome: DialOutcome | None = None
    done_reason: DoneReason | None = None
    blocked_reason: Refusal | None = None
    callback_agent: str | None = None  # None: anyone may take the callback
    agent: str | None = None  # who talked with the customer on the last dial
    updated_at: datetime | None = None

    @property
    def dial_id(self) -> str | None:
        """The id of the current (or last) dial, carried on its channel."""
        return f"{self.attempt_id}.{self.dials}" if self.dials else None


def split_dial_id(dial_id: str) -> tuple[str, int] | None:
    """``"a17.2"`` -> ``("a17", 2)``; ``None`` for something that is not a dial id."""
    attempt_id, dot, n = dial_id.rpartition(".")
    if not dot or not attempt_id or not n.isdigit() or int(n) < 1:
        return None
    return attempt_id, int(n)


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dial:
    at: datetime


@dataclass(frozen=True, slots=True)
class Ringing:
    at: datetime


@dataclass(frozen=True, slots=True)
class Answered:
    at: datetime


@dataclass(frozen=True, slots=True)
class Connected:
    at: datetime
    agent: str


@dataclass(frozen=True, slots=True)
class Ended:
    at: datetime
    outcome: DialOutcome


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    at: datetime
    due_at: datetime
    agent: str | None = None  # None: anyone


@dataclass(frozen=True, slots=True)
class Block:
    at: datetime
    reason: Refusal


@dataclass(frozen=True, slots=True)
class Close:
    at: datetime
    reason: DoneReason


@dataclass(frozen=True, slots=True)
class Defer:
    """Not dialable before ``until`` (the next opening of its calling window)."""

    at: datetime
    until: datetime


AttemptEvent = (
    Dial | Ringing | Answered | Connected | Ended | CallbackRequested | Block | Close | Defer
)

_S = AttemptState
# ``None`` as target: the outcome and the retry policy decide (retry_scheduled or done).
# A ``Defer`` keeps the state and moves ``due_at``.
TRANSITIONS: Mapping[tuple[AttemptState, type[AttemptEvent]], AttemptState | None] = {
    **{(s, Dial): _S.DIALING for s in WAITING},
    (_S.DIALING, Ringing): _S.RINGING,
    (_S.DIALING, Answered): _S.ANSWERED,
    (_S.RINGING, Answered): _S.ANSWERED,
    **{(s, Connected): _S.CONNECTED for s in (_S.DIALING, _S.RINGING, _S.ANSWERED)},
    **{(s, Ended): None for s in IN_FLIGHT},
    **{(s, Block): _S.DNC_BLOCKED for s in WAITING},
    **{(s, Close): _S.DONE for s in WAITING},
    **{(s, Defer): s for s in WAITING},
    **{(s, CallbackRequested): _S.CALLBACK_SCHEDULED for s in (*WAITING, _S.DONE)},
}


def advance(attempt: Attempt, event: AttemptEvent, policy: RetryPolicy) -> Attempt:
    """The attempt after ``event``; the very same object when the table does not allow the
    event in the attempt's state (logged and dropped, never raised)."""
    key = (attempt.state, type(event))
    if key not in TRANSITIONS:
        log.info(
            "attempt %s: dropped %s in state %s",
            attempt.attempt_id,
            type(event).__name__,
            attempt.state.value,
        )
        return attempt
    target = TRANSITIONS[key]
    at = event.at
    match event:
        case Dial():
            return replace(
                attempt,
                state=_S.DIALING,
                tries=attempt.tries + 1,
                dials=attempt.dials + 1,
                dialed_at=at,
                agent=None,
                updated_at=at,
            )
        case Connected(agent=agent):
            return replace(attempt, state=_S.CONNECTED, agent=agent, updated_at=at)
        case Ended(outcome=outcome):
            return _settle(attempt, outcome, at, policy)
        case CallbackRequested(due_at=due_at, agent=agent):
            return replace(
                attempt,
                state=_S.CALLBACK_SCHEDULED,
                due_at=due_at,
                callback_agent=agent,
                tries=0,
                done_reason=None,
                updated_at=at,
            )
        case Block(reason=reason):
            return replace(attempt, state=_S.DNC_BLOCKED, blocked_reason=reason, updated_at=at)
        case Close(reason=reason):
            return replace(attempt, state=_S.DONE, done_reason=reason, updated_at=at)
        case Defer(until=until):
            return replace(attempt, due_at=until, updated_at=at)
    # Ringing, Answered: a plain move
    return replace(attempt, state=target or attempt.state, updated_at=at)


def _settle(attempt: Attempt, outcome: DialOutcome, at: datetime, policy: RetryPolicy) -> Attempt:
    settled = replace(attempt, last_outcome=outcome, callback_agent=None, updated_at=at)
    if outcome is DialOutcome.COMPLETED:
        return replace(settled, state=_S.DONE, done_reason=DoneReason.REACHED)
    delay = policy.delay(outcome)
    if delay is None:
        return replace(settled, state=_S.DONE, done_reason=DoneReason.NOT_RETRIED)
    if attempt.tries >= policy.max_attempts:
        return replace(settled, state=_S.DONE, done_reason=DoneReason.MAX_ATTEMPTS)
    return replace(settled, state=_S.RETRY_SCHEDULED, due_at=at + delay)


def outcome_of_originate(success: bool, reason: int) -> DialOutcome | None:
    """An ``OriginateResponse``: ``None`` when the callee answered (reason 4, the call goes
    on), else how the dial ended. Asterisk's reason is the last control frame it saw:
    0 failed (no such number, channel unavailable), 1 hung up (the far end released the call
    before answering, typically a rejected call: retried like no answer), 3 ringing when the
    Originate timed out (no answer), 5 busy, 8 congestion; anything else counts as failed."""
    if success or reason == 4:
        return None
    match reason:
        case 5:
            return DialOutcome.BUSY
        case 8:
            return DialOutcome.CONGESTION
        case 1 | 2 | 3:
            return DialOutcome.NO_ANSWER
        case _:
            return DialOutcome.FAILED


# --- the gate at the moment of dialing -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberStatus:
    """What is known about the number *right now*: looked up for each dial, never cached, so
    that a number put on the do-not-call list mid-campaign is not dialed again."""

    on_dnc_list: bool
    consent: Consent = Consent.UNKNOWN
    time_zone: CalleeZone = None  # IANA zone(s) of the callee; None: the campaign's


@dataclass(frozen=True, slots=True)
class CampaignRules:
    calling: CallingRules = field(default_factory=CallingRules)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    consent_required: bool = False  # dial only numbers with consent GRANTED


@dataclass(frozen=True, slots=True)
class DialVerdict:
    """``refusals`` is empty when the dial may go ahead. ``not_before`` is the first instant a
    later call could be allowed (due time pushed into the calling window), when there is one."""

    refusals: tuple[Refusal, ...]
    not_before: datetime | None = None

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def final(self) -> bool:
        return any(r in FINAL_REFUSALS for r in self.refusals)

    def follow_up(self, now: datetime) -> AttemptEvent | None:
        """The event that records this verdict on the attempt: ``Block`` for do-not-call and
        consent, ``Close`` for the other final refusals, ``Defer`` to the next opening."""
        for refusal in (Refusal.DNC, Refusal.NO_CONSENT):
            if refusal in self.refusals:
                return Block(now, refusal)
        if Refusal.CAMPAIGN_ENDED in self.refusals:
            return Close(now, DoneReason.CAMPAIGN_ENDED)
        if Refusal.NO_WINDOW in self.refusals:
            return Close(now, DoneReason.NO_WINDOW)
        if Refusal.MAX_ATTEMPTS in self.refusals:
            return Close(now, DoneReason.MAX_ATTEMPTS)
        if self.not_before is not None and self.not_before > now:
            return Defer(now, self.not_before)
        return None


_WINDOW_REFUSALS = {
    WindowState.NOT_STARTED: Refusal.NOT_STARTED,
    WindowState.ENDED: Refusal.CAMPAIGN_ENDED,
    WindowState.CAMPAIGN_CLOSED: Refusal.CAMPAIGN_CLOSED,
    WindowState.CALLEE_CLOSED: Refusal.CALLEE_CLOSED,
}


def may_dial(
    attempt: Attempt,
    number: NumberStatus,
    rules: CampaignRules,
    now: datetime,
    agent: str | None = None,
) -> DialVerdict:
    """Whether ``attempt`` may be dialed at ``now`` (for ``agent``, when the dial is for a
    particular agent: preview, or a progressive call routed to them). Every failing rule is
    listed, compliance first; call it immediately before :class:`Dial`, with ``number``
    looked up at that moment."""
    refusals: list[Refusal] = []
    if number.on_dnc_list:
        refusals.append(Refusal.DNC)
    if number.consent is Consent.WITHDRAWN or (
        rules.consent_required and number.consent is not Consent.GRANTED
    ):
        refusals.append(Refusal.NO_CONSENT)
    if attempt.state not in WAITING:
        refusals.append(Refusal.NOT_WAITING)
    elif (
        attempt.state is not AttemptState.CALLBACK_SCHEDULED
        and attempt.tries >= rules.retry.max_attempts
    ):
        refusals.append(Refusal.MAX_ATTEMPTS)
    due = attempt.due_at if attempt.due_at is not None else now
    if due > now:
        refusals.append(Refusal.NOT_DUE)
    if not _may_take(attempt, agent, rules.retry, now):
        refusals.append(Refusal.OTHER_AGENT)
    state = window_state(rules.calling, number.time_zone, now)
    if state is not WindowState.OPEN:
        refusals.append(_WINDOW_REFUSALS[state])
    if not refusals:
        return DialVerdict(())
    not_before: datetime | None = None
    if not any(r in FINAL_REFUSALS or r is Refusal.NOT_WAITING for r in refusals):
        not_before = next_open(rules.calling, number.time_zone, max(due, now))
        if not_before is None:  # e.g. due after the last day, or zones that never overlap
            refusals.append(Refusal.NO_WINDOW)
    return DialVerdict(tuple(refusals), not_before)


def _may_take(attempt: Attempt, agent: str | None, policy: RetryPolicy, now: datetime) -> bool:
    """An agent-specific callback belongs to its agent until due + grace, then to anyone."""
    if attempt.state is not AttemptState.CALLBACK_SCHEDULED or attempt.callback_agent is None:
        return True
    if agent == attempt.callback_agent:
        return True
    due = attempt.due_at if attempt.due_at is not None else now
    return now >= due + policy.callback_grace


# --- what to dial next ----------------------------------------------------------------------


def dial_order_key(
    attempt: Attempt, now: datetime, agent: str | None = None
) -> tuple[int, int, datetime, str]:
    """Sort key of the dial queue: callbacks first (this agent's own, then anyone's), then
    higher priority, then the longest overdue, then the id for a stable order. In SQL:
    ``ORDER BY callback_rank, priority DESC, COALESCE(due_at, created_at), attempt_id``."""
    if attempt.state is AttemptState.CALLBACK_SCHEDULED:
        rank = 0 if agent is not None and attempt.callback_agent == agent else 1
    else:
        rank = 2
    due = attempt.due_at if attempt.due_at is not None else now
    return rank, -attempt.priority, due, attempt.attempt_id


def next_to_dial(
    attempts: Iterable[Attempt],
    now: datetime,
    policy: RetryPolicy,
    agent: str | None = None,
    limit: int | None = None,
) -> list[Attempt]:
    """The waiting attempts due at ``now`` that ``agent`` (``None``: any agent, the
    predictive and progressive pool) may take, best first. Each still goes through
    :func:`may_dial` (do-not-call, consent, window) right before it is dialed."""
    due = [
        a
        for a in attempts
        if a.state in WAITING
        and (a.due_at is None or a.due_at <= now)
        and _may_take(a, agent, policy, now)
    ]
    due.sort(key=lambda a: dial_order_key(a, now, agent))
    return due if limit is None else due[:limit]


# --- restart safety -------------------------------------------------------------------------


def reconcile(
    attempt: Attempt,
    live: Collection[str],
    bridged: Collection[str],
    now: datetime,
    policy: RetryPolicy,
    min_age: timedelta = timedelta(0),
) -> Attempt:
    """Settle an in-flight attempt against the dial ids seen on the live channels of a resync
    (``bridged``: those whose channel is in a bridge, i.e. talking with an agent).

    - found and bridged: ``connected``; found: ``ringing`` if it was ``dialing``, else as is;
    - not found: ``connected`` -> ``completed``; ``dialing``/``ringing``/``answered`` ->
      outcome ``unknown``: the try is used up, the number is retried only as a new dial after
      the policy's delay for ``unknown`` (see the module docstring for why).

    An attempt dialed less than ``min_age`` ago is left alone: its channel may not exist yet
    (use it for a reconnect while the server kept running; after a restart pass zero).
    Attempts not in flight are returned unchanged, so reconcile every attempt freely."""
    dial_id = attempt.dial_id
    if attempt.state not in IN_FLIGHT or dial_id is None:
        return attempt
    if attempt.dialed_at is not None and now - attempt.dialed_at < min_age:
        return attempt
    if dial_id in live or dial_id in bridged:
        if dial_id in bridged and attempt.state is not AttemptState.CONNECTED:
            return replace(attempt, state=AttemptState.CONNECTED, updated_at=now)
        if attempt.state is AttemptState.DIALING:
            return advance(attempt, Ringing(now), policy)
        return attempt
    if attempt.state is AttemptState.CONNECTED:
        return advance(attempt, Ended(now, DialOutcome.COMPLETED), policy)
    return advance(attempt, Ended(now, DialOutcome.UNKNOWN), policy)


def reconcile_all(
    attempts: Iterable[Attempt],
    live: Collection[str],
    bridged: Collection[str],
    now: datetime,
    policy: RetryPolicy,
    min_age: timedelta = timedelta(0),
) -> list[Attempt]:
    """:func:`reconcile` each attempt; only those that changed are returned (to persist)."""
    changed = []
    for attempt in attempts:
        after = reconcile(attempt, live, bridged, now, policy, min_age)
        if after is not attempt:
            changed.append(after)
    return changed

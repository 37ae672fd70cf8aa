"""The dialer: the long-running task that places a campaign's calls and settles them.

Each tick, for every ``running`` campaign whose own schedule is open (a scheduled campaign
starts by itself on its first day and hour, and is marked ``finished`` once its last day is
over), it asks :func:`~callcenter.model.pacing.calls_to_place` how many calls to place from
the ready agents of the campaign's queue on the live board, takes that many attempts in dial
order (callbacks first, then priority, then the longest overdue), and for each:

1. reads the customer's do-not-call and consent flags *now* and asks
   :func:`~callcenter.model.attempts.may_dial` (a refusal is recorded on the attempt:
   blocked, closed or deferred to the next opening of the callee's window);
2. persists the attempt in ``dialing`` with its new dial id (committed);
3. only then sends ``Originate`` (``Channel: Local/<number>@campaign-dial``, ``Context:
   campaign``, ``Exten: <queue>``, ``ActionID`` = the dial id, variables ``CAMPAIGN_ID``,
   ``ATTEMPT_ID`` = the dial id, and ``AMD=1`` when answering-machine detection is on).

Preview campaigns are not paced: an agent asks for the next number (:meth:`next_preview`
reserves it for them for ``preview_hold_s``), reads the card and presses dial
(:meth:`dial_preview`): the same checks at the moment of dialing, then a click-to-call from
the agent's phone (``Channel: PJSIP/<ext>``, the agents' outbound context) with the same
variables.

Outcomes: the ``OriginateResponse`` with the dial id as ActionID says whether the customer
answered (for a preview dial: whether the agent's phone did). The call's record carries the
dial id (the ``ATTEMPT_ID`` channel variable, see :class:`~callcenter.model.events.
CampaignDialTagged`) and settles the dial: ``answered`` (an agent talked: completed),
``abandoned`` (safe-harbour message), ``machine`` (app_amd), busy, no answer, congestion. A
record without the dial id (a call picked up by a resync) is matched by number and time.
Asterisk cannot tell *why* a Local channel failed (reason 0), so a failure waits for the
record; without one within ``record_grace_s`` the reason of the response decides. The retry
policy then schedules the next try.

Answering-machine detection: the shipped dialplan runs ``AMD()`` through ``TryExec`` when the
Originate says ``AMD=1``; if app_amd is not loaded Asterisk reports ``AMDSTATUS=UNAVAILABLE``
instead of failing the call, and :attr:`Dialer.amd` says so (``/health``, the campaign page).

Restart safety: nothing is dialed before the first resync after start-up. Every attempt
still in flight is then reconciled against the live channels: for each campaign Local
channel the dialer asks Asterisk for its ``ATTEMPT_ID`` (``Getvar``). A dial still up is
followed again to its end; one that is gone is settled (``connected`` -> completed, any other
-> ``unknown``, retried only after the policy's delay), never dialed again under the same
dial id. Later resyncs (AMI reconnects) do the same for dials older than a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time

from callcenter.crm.phones import time_zones_of
from callcenter.errors import ConflictError, NotFoundError
from callcenter.model import events as ev
from callcenter.model.attempts import (
    IN_FLIGHT,
    WAITING,
    Answered,
    Attempt,
    AttemptState,
    CallbackRequested,
    CampaignRules,
    Consent,
    Dial,
    DialOutcome,
    Ended,
    NumberStatus,
    RetryPolicy,
    advance,
    may_dial,
    next_to_dial,
    outcome_of_originate,
    reconcile_all,
    split_dial_id,
)
from callcenter.model.board import AgentState, Board
from callcenter.model.calling_window import (
    CallingRules,
    DailyHours,
    WindowState,
    campaign_state,
)
from callcenter.model.pacing import (
    AbandonLedger,
    CenterState,
    DialHistory,
    DialMode,
    DialStats,
    LogNormal,
    PacingSettings,
    Quantiles,
    calls_to_place,
)
from callcenter.model.records import CallFinished, CallRecord, Change, Direction, Outcome
from callcenter.settings import CampaignSettings
from callcenter.store.campaigns import Campaign, Campaigns

log = logging.getLogger(__name__)

Originate = Callable[..., Awaitable[str]]
#: ``getvar(channel, variable)``: a live channel's variable (AmiLink.getvar).
Getvar = Callable[[str, str], Awaitable[str | None]]

_RECORD_OUTCOMES = {
    Outcome.ANSWERED: DialOutcome.COMPLETED,
    Outcome.ABANDONED: DialOutcome.ABANDONED,
    Outcome.BUSY: DialOutcome.BUSY,
    Outcome.NO_ANSWER: DialOutcome.NO_ANSWER,
    Outcome.CONGESTION: DialOutcome.CONGESTION,
    Outcome.FAILED: DialOutcome.FAILED,
    Outcome.MACHINE: DialOutcome.MACHINE,
}
# A resync during a reconnect leaves dials younger than this alone: their channels may not
# exist yet.
_RECONNECT_MIN_AGE = timedelta(seconds=5)
# An answered customer waits this long for an agent (safe harbour) before counting as served.
_ANSWER_WAIT_S = 3.0
_PRIOR = DialStats(
    answer_rate=0.3,
    answer_delays=Quantiles.uniform(5, 25),
    unanswered_delays=Quantiles.uniform(5, 30),
    talk=LogNormal.from_mean(180, 0.6),
    wrap_up_s=30,
    dials=0,
    answer_weight=30,
)


def _hhmm(text: str) -> wall_time:
    hh, _, mm = text.partition(":")
    return wall_time(int(hh), int(mm))


def rules_of(campaign: Campaign) -> CampaignRules:
    """The model's calling and retry rules of a stored campaign."""
    s = campaign.spec
    hours = (
        DailyHours(_hhmm(s.hours_start), _hhmm(s.hours_end))
        if s.hours_start and s.hours_end
        else None
    )
    calling = CallingRules(
        time_zone=s.time_zone,
        first_day=date.fromisoformat(s.first_day) if s.first_day else None,
        last_day=date.fromisoformat(s.last_day) if s.last_day else None,
        campaign_hours=hours,
        callee_hours=DailyHours(_hhmm(s.callee_start), _hhmm(s.callee_end)),
    )
    return CampaignRules(calling=calling, retry=retry_policy(s.max_attempts, s.retry or {}))


def retry_policy(max_attempts: int, minutes: Mapping[str, float | None]) -> RetryPolicy:
    """``{"busy": 10, "no_answer": null, ...}`` over the defaults (``null``: not retried)."""
    defaults = RetryPolicy(max_attempts=max_attempts)
    values: dict[str, timedelta | None] = {}
    for outcome in ("busy", "no_answer", "congestion", "failed", "machine", "abandoned"):
        if outcome in minutes:
            m = minutes[outcome]
            values[outcome] = timedelta(minutes=m) if m is not None else None
        else:
            values[outcome] = getattr(defaults, outcome)
    return RetryPolicy(
        max_attempts=max_attempts,
        busy=values["busy"],
        no_answer=values["no_answer"],
        congestion=values["congestion"],
        failed=values["failed"],
        machine=values["machine"],
        abandoned=values["abandoned"],
    )


@dataclass(slots=True)
class Flight:
    """A dial placed by this process and not settled yet."""

    dial_id: str
    attempt_id: str
    campaign_id: int
    number: str
    dialed_at: float
    preview: bool = False  # a click-to-call from the agent's phone: the response is theirs
    answered_at: float | None = None
    failed: DialOutcome | None = None  # from a failed OriginateResponse, awaiting the record
    failed_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Resync:
    """The live channels Asterisk listed after a (re)connect."""

    snapshot: tuple[ev.Event, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    """A number held for one agent to preview."""

    attempt: Attempt
    campaign: Campaign
    agent: str
    until: float


@dataclass(slots=True)
class CampaignPace:
    history: DialHistory = field(default_factory=lambda: DialHistory(_PRIOR))
    ledger: AbandonLedger = field(default_factory=AbandonLedger)


class Dialer:
    """One per server; see the module docstring. ``board`` is the pump's live board."""

    def __init__(
        self,
        store: Campaigns,
        originate: Originate,
        board: Board,
        settings: CampaignSettings,
        *,
        getvar: Getvar | None = None,
        agent_context: str = "outbound",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._originate = originate
        self._getvar = getvar
        self._agent_context = agent_context
        self._board = board
        self._settings = settings
        self._clock = clock
        self._inbox: asyncio.Queue[ev.OriginateResponse | CallRecord | Resync] = asyncio.Queue()
        self._flights: dict[str, Flight] = {}
        self._pace: dict[int, CampaignPace] = {}
        self._previews: dict[str, Preview] = {}  # attempt id -> held for an agent
        self._skipped: dict[tuple[str, str], float] = {}  # (agent, attempt id) -> until
        self._synced = asyncio.Event()
        self.originated: list[str] = []  # dial ids, in order (for tests and /health)
        #: Answering-machine detection on the PBX: "unknown" until the first answered
        #: campaign call says, then "available" or "not loaded" (app_amd missing).
        self.amd = "unknown" if settings.amd else "off"

    # --- fed synchronously by the pump (never block) ---------------------------------------

    def on_event(self, event: ev.Event, now: float) -> None:
        if isinstance(event, ev.OriginateResponse) and event.action_id in self._flights:
            self._inbox.put_nowait(event)
        elif isinstance(event, ev.MachineDetected) and self._settings.amd:
            available = "not loaded" if event.status == "UNAVAILABLE" else "available"
            if available != self.amd:
                log.log(
                    logging.WARNING if available == "not loaded" else logging.INFO,
                    "answering-machine detection: %s%s",
                    available,
                    " (app_amd is not loaded on the PBX: machines reach the agents)"
                    if available == "not loaded"
                    else "",
                )
                self.amd = available

    def on_resync(self, snapshot: list[ev.Event], now: float) -> None:
        self._inbox.put_nowait(Resync(tuple(snapshot)))

    def on_change(self, change: Change) -> None:
        if isinstance(change, CallFinished) and change.record.direction is Direction.OUTBOUND:
            self._inbox.put_nowait(change.record)

    # --- the task ------------------------------------------------------------------------

    async def run(self) -> None:
        # Nothing is dialed before the first resync has told what is still in flight.
        while not self._synced.is_set():
            await self._handle(await self._inbox.get())
        while True:
            try:
                item = await asyncio.wait_for(self._inbox.get(), self._settings.tick_s)
            except TimeoutError:
                pass
            else:
                await self._handle(item)
            while not self._inbox.empty():
                await self._handle(self._inbox.get_nowait())
            try:
                await self.tick()
            except Exception:
                log.exception("dialer tick failed")

    async def drain(self) -> None:
        """Handle every event received so far (tests, and before a tick)."""
        while not self._inbox.empty():
            await self._handle(self._inbox.get_nowait())

    async def recover(self, snapshot: tuple[ev.Event, ...] = ()) -> None:
        """Reconcile every attempt in flight with the live channels of a resync: follow the
        dials still up, settle the others (no dial id is ever dialed twice). The first call
        (start-up) considers every attempt; later ones (reconnects) only dials older than a
        few seconds, and keep following the dials this process placed."""
        restart = not self._synced.is_set()
        now = self._now()
        live, bridged = await self._live_dials(snapshot)
        campaigns = {c.id: c for c in await self._store.all()}
        for attempt in await self._store.in_flight():
            campaign = campaigns.get(int(attempt.campaign_id))
            if campaign is None:
                continue
            policy = rules_of(campaign).retry
            min_age = timedelta(0) if restart else _RECONNECT_MIN_AGE
            changed = reconcile_all([attempt], live, bridged, now, policy, min_age)
            after = changed[0] if changed else attempt
            if after is not attempt:
                log.warning(
                    "attempt %s was %s at %s: now %s",
                    attempt.attempt_id,
                    attempt.state.value,
                    "restart" if restart else "reconnect",
                    after.state.value,
                )
                await self._store.save(after)
                if attempt.dial_id and after.last_outcome is not None:
                    self._flights.pop(attempt.dial_id, None)
                    await self._store.settle_dial(attempt.dial_id, after.last_outcome, None)
            dial_id = after.dial_id
            if after.state in IN_FLIGHT and dial_id and dial_id not in self._flights:
                # Placed before the restart and still up: follow it to its end.
                self._flights[dial_id] = Flight(
                    dial_id,
                    after.attempt_id,
                    campaign.id,
                    after.number,
                    (after.dialed_at or now).timestamp(),
                    answered_at=self._clock()
                    if after.state in (AttemptState.ANSWERED, AttemptState.CONNECTED)
                    else None,
                )
        self._synced.set()

    async def _live_dials(self, snapshot: tuple[ev.Event, ...]) -> tuple[set[str], set[str]]:
        """Dial ids on the live channels (and those bridged with an agent): every channel of
        a campaign call carries ATTEMPT_ID; Asterisk tells it per channel with Getvar."""
        live: set[str] = set()
        bridged: set[str] = set()
        if self._getvar is None:
            return live, bridged
        marker = f"@{self._settings.dial_context}-"
        for item in snapshot:
            if not isinstance(item, ev.ChannelSnapshot) or marker not in item.channel.name:
                continue
            dial_id = await self._getvar(item.channel.name, "ATTEMPT_ID")
            if not dial_id:
                continue
            live.add(dial_id)
            # ;1 waits in the queue, then is bridged with the agent; ;2 is bridged with the
            # customer from the moment they answer.
            if item.bridge_id and item.channel.name.endswith(";1"):
                bridged.add(dial_id)
        return live, bridged

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # --- deciding and dialing ------------------------------------------------------------

    async def tick(self) -> None:
        await self.drain()
        await self._expire_failures()
        now = self._now()
        for campaign in await self._store.all():
            if campaign.state != "running":
                continue
            try:
                await self._tick_one(campaign, now)
            except Exception as exc:
                await self._suspend(campaign, exc)

    async def _tick_one(self, campaign: Campaign, now: datetime) -> None:
        rules = rules_of(campaign)
        window = campaign_state(rules.calling, now)
        if window is WindowState.ENDED:
            log.info("campaign %s ended", campaign.id)
            await self._store.set_state(campaign.id, "finished")
            return
        if window is not WindowState.OPEN:
            return
        await self._work(campaign, rules, now)

    async def _suspend(self, campaign: Campaign, exc: Exception) -> None:
        """A campaign the dialer cannot work is paused with the reason (shown on the
        campaign page), so that the others go on dialing."""
        log.error("campaign %s paused: %s", campaign.id, exc, exc_info=exc)
        reason = f"paused by the dialer: {type(exc).__name__}: {exc}"[:500]
        try:
            await self._store.set_state(campaign.id, "paused", error=reason)
        except Exception:
            log.exception("could not pause campaign %s", campaign.id)

    def _center(self, campaign: Campaign) -> CenterState:
        queue = campaign.spec.queue
        ready = sum(
            1
            for a in self._board.agents.values()
            if queue in a.queues and a.state is AgentState.READY and not a.paused
        )
        now = self._clock()
        mine = [f for f in self._flights.values() if f.campaign_id == campaign.id]
        ringing = tuple(now - f.dialed_at for f in mine if f.answered_at is None)
        waiting = sum(
            1 for f in mine if f.answered_at is not None and now - f.answered_at < _ANSWER_WAIT_S
        )
        return CenterState(ready_agents=ready, ringing_s=ringing, answered_waiting=waiting)

    async def _work(self, campaign: Campaign, rules: CampaignRules, now: datetime) -> None:
        pace = self._pace.setdefault(campaign.id, CampaignPace())
        settings = PacingSettings(
            mode=DialMode(campaign.spec.mode), abandon_target=campaign.spec.abandon_target
        )
        decision = calls_to_place(
            self._center(campaign),
            pace.history.stats(),
            pace.ledger.counts(self._clock()),
            settings,
        )
        if decision.calls <= 0:
            return
        waiting = await self._store.attempts(campaign.id, sorted(WAITING, key=lambda s: s.value))
        placed = 0
        for attempt in next_to_dial(waiting, now, rules.retry):
            if placed >= decision.calls:
                break
            if await self._try_dial(campaign, rules, attempt, now):
                placed += 1

    async def _try_dial(
        self, campaign: Campaign, rules: CampaignRules, attempt: Attempt, now: datetime
    ) -> bool:
        if attempt.attempt_id in self._previews or not await self._allowed(attempt, rules, now):
            return False
        dialing = advance(attempt, Dial(now), rules.retry)
        dial_id = dialing.dial_id
        assert dial_id is not None
        await self._store.save_dialing(dialing)  # committed before the Originate
        self._flights[dial_id] = Flight(
            dial_id, attempt.attempt_id, campaign.id, attempt.number, now.timestamp()
        )
        self.originated.append(dial_id)
        variables = {"CAMPAIGN_ID": str(campaign.id), "ATTEMPT_ID": dial_id}
        if self._settings.amd:
            variables["AMD"] = "1"
        try:
            await self._originate(
                f"Local/{attempt.number}@{self._settings.dial_context}",
                context=self._settings.queue_context,
                exten=campaign.spec.queue,
                timeout_s=self._settings.ring_timeout_s,
                variables=variables,
                action_id=dial_id,
            )
        except Exception:
            log.exception("originate of %s failed", dial_id)
            await self._settle(self._flights[dial_id], DialOutcome.FAILED, None)
        return True

    # --- preview ---------------------------------------------------------------------------

    async def next_preview(self, agent: str) -> Preview | None:
        """The next number of a running preview campaign for ``agent`` (their phone's
        interface), held for them for ``preview_hold_s``; one they already hold comes again.
        Numbers the rules refuse now are settled as in a paced campaign and skipped."""
        now_ts = self._clock()
        for held_id, held in list(self._previews.items()):
            if held.until <= now_ts:
                del self._previews[held_id]
            elif held.agent == agent:
                return held
        self._skipped = {k: until for k, until in self._skipped.items() if until > now_ts}
        now = self._now()
        for campaign in await self._store.all():
            if campaign.state != "running" or campaign.spec.mode != DialMode.PREVIEW.value:
                continue
            member = self._board.agents.get(agent)
            if member is not None and member.queues and campaign.spec.queue not in member.queues:
                continue
            try:
                rules = rules_of(campaign)
                window = campaign_state(rules.calling, now)
            except Exception as exc:
                await self._suspend(campaign, exc)
                continue
            if window is not WindowState.OPEN:
                continue
            waiting = await self._store.attempts(
                campaign.id, sorted(WAITING, key=lambda s: s.value)
            )
            for attempt in next_to_dial(waiting, now, rules.retry, agent):
                if (
                    attempt.attempt_id in self._previews
                    or (agent, attempt.attempt_id) in self._skipped
                ):
                    continue
                if not await self._allowed(attempt, rules, now, agent):
                    continue
                held = Preview(attempt, campaign, agent, now_ts + self._settings.preview_hold_s)
                self._previews[attempt.attempt_id] = held
                return held
        return None

    def skip_preview(self, attempt_id: str, agent: str) -> None:
        """Give a held number back: it stays due for the other agents; this agent is not
        offered it again for ``preview_hold_s``."""
        self._held(attempt_id, agent)
        del self._previews[attempt_id]
        self._skipped[(agent, attempt_id)] = self._clock() + self._settings.preview_hold_s

    def _held(self, attempt_id: str, agent: str) -> Preview:
        held = self._previews.get(attempt_id)
        if held is None or held.agent != agent or held.until <= self._clock():
            raise ConflictError(f"attempt {attempt_id} is not held for you: ask for the next")
        return held

    async def dial_preview(self, attempt_id: str, agent: str) -> str:
        """Dial a held number from the agent's phone: their phone rings, then the
        customer's. The rules are checked again now. Returns the dial id."""
        held = self._held(attempt_id, agent)
        del self._previews[attempt_id]
        attempt, _ = await self._store.attempt(attempt_id)
        campaign = await self._store.get(held.campaign.id)
        if campaign.state != "running":
            raise ConflictError(f"campaign {campaign.id} is {campaign.state}")
        rules = rules_of(campaign)
        now = self._now()
        if not await self._allowed(attempt, rules, now, agent):
            raise ConflictError(f"{attempt.number} may not be called now")
        dialing = advance(attempt, Dial(now), rules.retry)
        dial_id = dialing.dial_id
        assert dial_id is not None
        await self._store.save_dialing(replace(dialing, agent=agent))
        flight = Flight(
            dial_id, attempt_id, campaign.id, attempt.number, now.timestamp(), preview=True
        )
        self._flights[dial_id] = flight
        self.originated.append(dial_id)
        try:
            await self._originate(
                agent,
                context=self._agent_context,
                exten=attempt.number,
                timeout_s=self._settings.ring_timeout_s,
                variables={"CAMPAIGN_ID": str(campaign.id), "ATTEMPT_ID": dial_id},
                action_id=dial_id,
            )
        except Exception:
            await self._settle(flight, DialOutcome.FAILED, None)
            raise
        return dial_id

    async def _allowed(
        self, attempt: Attempt, rules: CampaignRules, now: datetime, agent: str | None = None
    ) -> bool:
        """May the attempt be dialed now (do-not-call, consent and the callee's window read
        fresh)? The callee's clock: the customer's own time zone, else the zones of the
        number's country and area code. A refusal is recorded on the attempt."""
        facts = await self._store.number_facts(attempt.attempt_id)
        status = NumberStatus(
            on_dnc_list=facts.do_not_call,
            consent=Consent.GRANTED if facts.may_call else Consent.WITHDRAWN,
            time_zone=facts.time_zone or time_zones_of(attempt.number) or None,
        )
        verdict = may_dial(attempt, status, rules, now, agent)
        if verdict.allowed:
            return True
        follow = verdict.follow_up(now)
        if follow is not None:
            await self._store.save(advance(attempt, follow, rules.retry))
        log.info(
            "attempt %s not dialed: %s",
            attempt.attempt_id,
            ", ".join(r.value for r in verdict.refusals),
        )
        return False

    # --- outcomes ------------------------------------------------------------------------

    async def _handle(self, item: ev.OriginateResponse | CallRecord | Resync) -> None:
        if isinstance(item, Resync):
            await self.recover(item.snapshot)
            return
        if isinstance(item, ev.OriginateResponse):
            flight = self._flights.get(item.action_id)
            if flight is None:
                return
            outcome = outcome_of_originate(item.success, item.reason)
            if outcome is None:
                if not flight.preview:  # a preview's response is the agent's phone
                    flight.answered_at = self._clock()
                    await self._advance(flight, Answered(self._now()))
            else:
                flight.failed, flight.failed_at = outcome, self._clock()
                if self._settings.record_grace_s <= 0:
                    await self._settle(flight, outcome, None)
            return
        flight = self._flight_of(item)
        if flight is not None:
            await self._settle(flight, _RECORD_OUTCOMES[item.outcome], item)

    def _flight_of(self, record: CallRecord) -> Flight | None:
        if record.dial_id is not None:
            return self._flights.get(record.dial_id)
        for flight in sorted(self._flights.values(), key=lambda f: f.dialed_at):
            if flight.number == record.called_number and record.started_at >= flight.dialed_at - 2:
                return flight
        return None

    async def _expire_failures(self) -> None:
        limit = self._clock() - self._settings.record_grace_s
        for flight in list(self._flights.values()):
            if flight.failed is not None and flight.failed_at <= limit:
                await self._settle(flight, flight.failed, None)

    async def _advance(self, flight: Flight, event: Answered | Ended) -> None:
        attempt, _ = await self._store.attempt(flight.attempt_id)
        if attempt.dial_id != flight.dial_id:
            return
        campaign = await self._store.get(flight.campaign_id)
        after = advance(attempt, event, rules_of(campaign).retry)
        if after is not attempt:
            await self._store.save(after)

    async def _settle(
        self, flight: Flight, outcome: DialOutcome, record: CallRecord | None
    ) -> None:
        self._flights.pop(flight.dial_id, None)
        await self._advance(flight, Ended(self._now(), outcome))
        await self._store.settle_dial(
            flight.dial_id, outcome, record.call_id if record is not None else None
        )
        pace = self._pace.setdefault(flight.campaign_id, CampaignPace())
        person = outcome in (DialOutcome.COMPLETED, DialOutcome.ABANDONED)
        ring_end = flight.answered_at or (record.ended_at if record else self._clock())
        pace.history.dialed(person, max(ring_end - flight.dialed_at, 0.0))
        if record is not None and record.talk_s > 0:
            pace.history.talked(record.talk_s)
        if person:
            pace.ledger.answered(self._clock(), outcome is DialOutcome.ABANDONED)
        log.info("dial %s: %s", flight.dial_id, outcome.value)

    # --- commands ------------------------------------------------------------------------

    async def schedule_callback(
        self, attempt_id: str, due_at: datetime, agent: str | None = None
    ) -> Attempt:
        attempt, _ = await self._store.attempt(attempt_id)
        campaign = await self._store.get(int(attempt.campaign_id))
        after = advance(
            attempt, CallbackRequested(self._now(), due_at, agent), rules_of(campaign).retry
        )
        await self._store.save(after)
        return after

    async def callback_for_dial(
        self, dial_id: str, due_at: datetime, agent: str | None
    ) -> Attempt | None:
        """The agent promised the customer of campaign dial ``dial_id`` a call back: the
        attempt waits for ``due_at`` (for ``agent`` only, or anyone) and comes before every
        other number then. None when the dial is not one of ours."""
        parts = split_dial_id(dial_id)
        if parts is None:
            return None
        await self.drain()  # the call's end settles the dial first (a callback reopens it)
        try:
            return await self.schedule_callback(parts[0], due_at, agent)
        except NotFoundError:
            return None

    @property
    def in_flight(self) -> list[str]:
        return sorted(self._flights)

"""The attempt state machine: outcomes, retries, callbacks, the dial gate, restart safety."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.model.attempts import (
    FINAL,
    IN_FLIGHT,
    TRANSITIONS,
    WAITING,
    Answered,
    Attempt,
    AttemptEvent,
    AttemptState,
    Block,
    CallbackRequested,
    CampaignRules,
    Close,
    Connected,
    Consent,
    Defer,
    Dial,
    DialOutcome,
    DoneReason,
    Ended,
    NumberStatus,
    Refusal,
    RetryPolicy,
    Ringing,
    advance,
    may_dial,
    next_to_dial,
    outcome_of_originate,
    reconcile,
    reconcile_all,
    split_dial_id,
)
from callcenter.model.calling_window import CallingRules

S = AttemptState
POLICY = RetryPolicy()
T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)  # 12:00 in Berlin
RULES = CampaignRules(calling=CallingRules(time_zone="Europe/Berlin"), retry=POLICY)
CLEAR = NumberStatus(on_dnc_list=False, consent=Consent.GRANTED, time_zone="Europe/Berlin")
MIN = timedelta(minutes=1)


def attempt(attempt_id: str = "a1", **changes: object) -> Attempt:
    return replace(Attempt(attempt_id, "c1", "+4930123456"), **changes)  # type: ignore[arg-type]


def dialed(a: Attempt, at: datetime = T0) -> Attempt:
    assert may_dial(a, CLEAR, RULES, at).allowed
    return advance(a, Dial(at), POLICY)


def test_a_call_that_reaches_the_customer() -> None:
    a = dialed(attempt())
    assert (a.state, a.tries, a.dial_id, a.dialed_at) == (S.DIALING, 1, "a1.1", T0)
    for event in (Ringing(T0 + MIN), Answered(T0 + MIN), Connected(T0 + MIN, "PJSIP/2001")):
        a = advance(a, event, POLICY)
    assert (a.state, a.agent) == (S.CONNECTED, "PJSIP/2001")
    a = advance(a, Ended(T0 + 5 * MIN, DialOutcome.COMPLETED), POLICY)
    assert (a.state, a.done_reason, a.last_outcome) == (
        S.DONE,
        DoneReason.REACHED,
        DialOutcome.COMPLETED,
    )


@pytest.mark.parametrize(
    ("outcome", "delay"),
    [
        (DialOutcome.BUSY, timedelta(minutes=10)),
        (DialOutcome.NO_ANSWER, timedelta(hours=2)),
        (DialOutcome.CONGESTION, timedelta(minutes=5)),
        (DialOutcome.FAILED, timedelta(hours=1)),
        (DialOutcome.MACHINE, timedelta(hours=4)),
        (DialOutcome.ABANDONED, timedelta(hours=72)),
        (DialOutcome.UNKNOWN, timedelta(hours=1)),
    ],
)
def test_each_outcome_has_its_retry_delay(outcome: DialOutcome, delay: timedelta) -> None:
    ended = T0 + MIN
    a = advance(dialed(attempt()), Ended(ended, outcome), POLICY)
    assert (a.state, a.last_outcome, a.due_at) == (S.RETRY_SCHEDULED, outcome, ended + delay)
    verdict = may_dial(a, CLEAR, RULES, ended + delay - timedelta(seconds=1))
    assert verdict.refusals[0] is Refusal.NOT_DUE
    assert may_dial(a, CLEAR, RULES, ended + delay).allowed  # all due inside the window


def test_custom_delays_and_outcomes_without_retry() -> None:
    policy = RetryPolicy(busy=timedelta(seconds=90), machine=None)
    busy = advance(dialed(attempt()), Ended(T0, DialOutcome.BUSY), policy)
    assert busy.due_at == T0 + timedelta(seconds=90)
    machine = advance(dialed(attempt()), Ended(T0, DialOutcome.MACHINE), policy)
    assert (machine.state, machine.done_reason) == (S.DONE, DoneReason.NOT_RETRIED)


def test_max_attempts_then_done_and_every_dial_has_its_own_id() -> None:
    a = attempt()
    ids = []
    now = T0
    for _ in range(POLICY.max_attempts):
        a = dialed(a, now)
        ids.append(a.dial_id)
        a = advance(a, Ended(now, DialOutcome.BUSY), POLICY)
        now = a.due_at or now
    assert ids == ["a1.1", "a1.2", "a1.3"]
    assert (a.state, a.done_reason, a.tries) == (S.DONE, DoneReason.MAX_ATTEMPTS, 3)
    assert next_to_dial([a], now + timedelta(days=1), POLICY) == []


def test_retry_due_outside_the_window_is_deferred_to_its_opening() -> None:
    a = advance(dialed(attempt()), Ended(T0, DialOutcome.NO_ANSWER), POLICY)
    late = datetime(2024, 6, 12, 19, 30, tzinfo=UTC)  # 21:30 in Berlin
    verdict = may_dial(a, CLEAR, RULES, late)
    assert verdict.refusals == (Refusal.CALLEE_CLOSED,)
    assert not verdict.final
    assert verdict.not_before == datetime(2024, 6, 13, 6, tzinfo=UTC)  # 08:00 next morning
    event = verdict.follow_up(late)
    assert event == Defer(late, datetime(2024, 6, 13, 6, tzinfo=UTC))
    deferred = advance(a, event, POLICY)
    assert (deferred.state, deferred.due_at) == (S.RETRY_SCHEDULED, verdict.not_before)
    # A callee in New York is still in their window at that moment.
    ny = replace(CLEAR, time_zone="America/New_York")
    assert may_dial(a, ny, RULES, late).allowed


def test_dnc_added_mid_campaign_blocks_the_next_dial() -> None:
    a = advance(dialed(attempt()), Ended(T0, DialOutcome.BUSY), POLICY)
    due = a.due_at
    assert due is not None
    assert may_dial(a, CLEAR, RULES, due).allowed
    on_dnc = replace(CLEAR, on_dnc_list=True)  # added to the list while it waited
    verdict = may_dial(a, on_dnc, RULES, due)
    assert not verdict.allowed and verdict.final
    assert verdict.refusals == (Refusal.DNC,)
    assert verdict.not_before is None
    event = verdict.follow_up(due)
    assert event == Block(due, Refusal.DNC)
    blocked = advance(a, event, POLICY)
    assert (blocked.state, blocked.blocked_reason) == (S.DNC_BLOCKED, Refusal.DNC)
    assert blocked.state in FINAL
    assert next_to_dial([blocked], due + timedelta(days=1), POLICY) == []
    # Even with the DNC entry gone again, a blocked attempt is not dialable.
    assert Refusal.NOT_WAITING in may_dial(blocked, CLEAR, RULES, due).refusals
    assert advance(blocked, Dial(due), POLICY) is blocked


def test_consent() -> None:
    a = attempt()
    unknown = replace(CLEAR, consent=Consent.UNKNOWN)
    withdrawn = replace(CLEAR, consent=Consent.WITHDRAWN)
    assert may_dial(a, unknown, RULES, T0).allowed
    assert may_dial(a, withdrawn, RULES, T0).refusals == (Refusal.NO_CONSENT,)
    strict = replace(RULES, consent_required=True)
    verdict = may_dial(a, unknown, strict, T0)
    assert verdict.refusals == (Refusal.NO_CONSENT,)
    assert verdict.follow_up(T0) == Block(T0, Refusal.NO_CONSENT)
    assert may_dial(a, CLEAR, strict, T0).allowed


def test_every_failing_rule_is_listed_compliance_first() -> None:
    a = attempt(due_at=T0 + timedelta(hours=1))
    status = NumberStatus(on_dnc_list=True, consent=Consent.WITHDRAWN)
    night = datetime(2024, 6, 12, 23, tzinfo=UTC)
    verdict = may_dial(replace(a, due_at=night + MIN), status, RULES, night)
    assert verdict.refusals == (
        Refusal.DNC,
        Refusal.NO_CONSENT,
        Refusal.NOT_DUE,
        Refusal.CALLEE_CLOSED,
    )


def test_campaign_over_closes_the_attempt() -> None:
    rules = replace(
        RULES,
        calling=CallingRules(time_zone="Europe/Berlin", last_day=T0.date() - timedelta(days=1)),
    )
    verdict = may_dial(attempt(), CLEAR, rules, T0)
    assert verdict.refusals == (Refusal.CAMPAIGN_ENDED,) and verdict.final
    assert verdict.follow_up(T0) == Close(T0, DoneReason.CAMPAIGN_ENDED)
    closed = advance(attempt(), Close(T0, DoneReason.CAMPAIGN_ENDED), POLICY)
    assert (closed.state, closed.done_reason) == (S.DONE, DoneReason.CAMPAIGN_ENDED)


def test_a_retry_due_after_the_last_day_closes_the_attempt() -> None:
    last_day = T0.date()
    rules = replace(RULES, calling=CallingRules(time_zone="Europe/Berlin", last_day=last_day))
    a = advance(dialed(attempt()), Ended(T0, DialOutcome.ABANDONED), POLICY)  # due in 72 h
    verdict = may_dial(a, CLEAR, rules, T0 + MIN)
    assert verdict.refusals == (Refusal.NOT_DUE, Refusal.NO_WINDOW) and verdict.final
    closed = advance(a, verdict.follow_up(T0 + MIN) or Dial(T0), POLICY)
    assert (closed.state, closed.done_reason) == (S.DONE, DoneReason.NO_WINDOW)


def test_callbacks_come_first_agent_specific_ones_to_their_agent() -> None:
    urgent = attempt("p-high", priority=9)
    normal = attempt("p-low")
    retry = attempt("retry", state=S.RETRY_SCHEDULED, tries=1, due_at=T0 - MIN)
    anyone = attempt("cb-any", state=S.CALLBACK_SCHEDULED, due_at=T0 - MIN)
    mine = attempt("cb-2001", state=S.CALLBACK_SCHEDULED, due_at=T0, callback_agent="2001")
    later = attempt("cb-later", state=S.CALLBACK_SCHEDULED, due_at=T0 + MIN)
    pool = [normal, retry, later, urgent, mine, anyone]

    order = [a.attempt_id for a in next_to_dial(pool, T0, POLICY, agent="2001")]
    # callbacks (own first), then priority, then the longest overdue
    assert order == ["cb-2001", "cb-any", "p-high", "retry", "p-low"]
    # Another agent, or the predictive pool, does not get 2001's callback...
    assert [a.attempt_id for a in next_to_dial(pool, T0, POLICY, agent="2002")] == [
        "cb-any",
        "p-high",
        "retry",
        "p-low",
    ]
    assert may_dial(mine, CLEAR, RULES, T0, agent="2002").refusals == (Refusal.OTHER_AGENT,)
    assert may_dial(mine, CLEAR, RULES, T0, agent="2001").allowed
    # ...until it is overdue by the grace period: then anyone calls the customer back.
    overdue = T0 + POLICY.callback_grace
    assert next_to_dial(pool, overdue, POLICY)[0].attempt_id in {"cb-any", "cb-2001"}
    assert {a.attempt_id for a in next_to_dial(pool, overdue, POLICY)[:3]} == {
        "cb-any",
        "cb-2001",
        "cb-later",
    }
    assert next_to_dial(pool, T0, POLICY, limit=1) == [anyone]


def test_a_callback_reopens_a_finished_attempt_with_a_fresh_budget() -> None:
    a = attempt()
    for _ in range(POLICY.max_attempts):
        now = a.due_at or T0
        a = advance(dialed(a, now), Ended(now, DialOutcome.NO_ANSWER), POLICY)
    assert (a.state, a.done_reason) == (S.DONE, DoneReason.MAX_ATTEMPTS)
    tomorrow = T0 + timedelta(days=1)
    a = advance(a, CallbackRequested(T0, tomorrow, agent="2001"), POLICY)
    assert (a.state, a.due_at, a.callback_agent, a.tries, a.done_reason) == (
        S.CALLBACK_SCHEDULED,
        tomorrow,
        "2001",
        0,
        None,
    )
    assert may_dial(a, CLEAR, RULES, tomorrow, agent="2001").allowed
    a = advance(a, Dial(tomorrow), POLICY)
    assert a.dial_id == "a1.4"  # dial ids keep counting
    # A callback cannot be requested on a call in progress, nor on a blocked number.
    assert advance(a, CallbackRequested(tomorrow, tomorrow), POLICY) is a
    blocked = attempt(state=S.DNC_BLOCKED)
    assert advance(blocked, CallbackRequested(T0, tomorrow), POLICY) is blocked


def test_impossible_and_duplicated_events_are_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = advance(dialed(attempt()), Answered(T0), POLICY)
    with caplog.at_level(logging.INFO, logger="callcenter.model.attempts"):
        assert advance(a, Answered(T0), POLICY) is a  # duplicated OriginateResponse
        assert advance(a, Dial(T0), POLICY) is a  # never dial an attempt in flight
        assert advance(a, Ringing(T0), POLICY) is a
    assert "dropped Dial in state answered" in caplog.text
    done = advance(a, Ended(T0, DialOutcome.ABANDONED), POLICY)
    assert advance(done, Ended(T0, DialOutcome.COMPLETED), POLICY) is done


def test_the_transition_table_never_reenters_dialing_from_flight() -> None:
    for (state, event), target in TRANSITIONS.items():
        if target is S.DIALING:
            assert state in WAITING and event is Dial
        if state in IN_FLIGHT:
            assert target in IN_FLIGHT or target is None
    assert {s for s, _ in TRANSITIONS} == set(S) - {S.DNC_BLOCKED}


@pytest.mark.parametrize(
    ("success", "reason", "outcome"),
    [
        (True, 4, None),
        (False, 4, None),
        (False, 5, DialOutcome.BUSY),
        (False, 8, DialOutcome.CONGESTION),
        (False, 3, DialOutcome.NO_ANSWER),
        (False, 1, DialOutcome.NO_ANSWER),
        (False, 0, DialOutcome.FAILED),
        (False, 42, DialOutcome.FAILED),
    ],
)
def test_originate_response_reasons(
    success: bool, reason: int, outcome: DialOutcome | None
) -> None:
    assert outcome_of_originate(success, reason) is outcome


def test_dial_ids() -> None:
    assert split_dial_id("a17.2") == ("a17", 2)
    assert split_dial_id("camp.3.a17.12") == ("camp.3.a17", 12)
    for bad in ("a17", "a17.", ".2", "a17.x", "a17.0"):
        assert split_dial_id(bad) is None
    assert attempt().dial_id is None


# --- restart safety ---------------------------------------------------------------------------


def test_reconcile_found_on_a_live_channel_keeps_the_call() -> None:
    a = dialed(attempt())
    later = T0 + timedelta(minutes=3)
    assert reconcile(a, {"a1.1"}, set(), later, POLICY).state is S.RINGING
    assert reconcile(a, {"a1.1"}, {"a1.1"}, later, POLICY).state is S.CONNECTED
    answered = advance(a, Answered(T0), POLICY)
    assert reconcile(answered, {"a1.1"}, set(), later, POLICY) is answered


def test_reconcile_not_found_settles_as_unknown_and_never_redials_that_dial() -> None:
    a = dialed(attempt())
    later = T0 + timedelta(minutes=3)
    # An older dial id of the same attempt on a live channel is not this dial.
    settled = reconcile(a, {"a1.0", "a2.1"}, set(), later, POLICY)
    assert (settled.state, settled.last_outcome, settled.tries) == (
        S.RETRY_SCHEDULED,
        DialOutcome.UNKNOWN,
        1,
    )
    assert POLICY.failed is not None
    assert settled.due_at == later + POLICY.failed  # treated as failed
    assert Refusal.NOT_DUE in may_dial(settled, CLEAR, RULES, later).refusals
    redial = advance(settled, Dial(later + POLICY.failed), POLICY)
    assert redial.dial_id == "a1.2"
    # The late OriginateResponse of the lost dial changes nothing.
    assert advance(settled, Answered(later), POLICY) is settled
    # A dial that was on its last try is done instead.
    last = replace(a, tries=POLICY.max_attempts)
    assert reconcile(last, set(), set(), later, POLICY).done_reason is DoneReason.MAX_ATTEMPTS


def test_reconcile_connected_but_gone_was_completed() -> None:
    a = advance(dialed(attempt()), Connected(T0, "2001"), POLICY)
    done = reconcile(a, set(), set(), T0 + timedelta(minutes=9), POLICY)
    assert (done.state, done.done_reason) == (S.DONE, DoneReason.REACHED)


def test_reconcile_leaves_fresh_dials_and_waiting_attempts_alone() -> None:
    a = dialed(attempt())
    assert reconcile(a, set(), set(), T0 + timedelta(seconds=2), POLICY, timedelta(seconds=5)) is a
    pending = attempt("a2")
    changed = reconcile_all([a, pending], set(), set(), T0 + MIN, POLICY)
    assert [c.attempt_id for c in changed] == ["a1"]


def test_restarts_in_the_middle_of_a_campaign_never_dial_an_attempt_twice() -> None:
    """A randomized campaign: the dialer dials through the gate, Asterisk answers some
    dials, the server restarts at random moments (in-flight attempts reconciled against a
    random subset of live channels), DNC entries appear. Every Originate's dial id is new."""
    rng = random.Random(9)
    attempts = {f"a{i}": attempt(f"a{i}", priority=rng.randrange(3)) for i in range(40)}
    dnc: dict[str, datetime] = {}  # attempt id -> put on the DNC list at
    originated: list[str] = []
    originated_at: list[tuple[str, datetime]] = []
    now = T0
    for _step in range(3000):
        now += timedelta(seconds=rng.randrange(1, 120))
        roll = rng.random()
        if roll < 0.35:
            for a in next_to_dial(attempts.values(), now, POLICY, limit=3):
                status = replace(CLEAR, on_dnc_list=a.attempt_id in dnc)
                verdict = may_dial(a, status, RULES, now)
                if verdict.allowed:
                    a = advance(a, Dial(now), POLICY)
                    assert a.dial_id is not None
                    originated.append(a.dial_id)
                    originated_at.append((a.attempt_id, now))
                elif (follow_up := verdict.follow_up(now)) is not None:
                    a = advance(a, follow_up, POLICY)
                attempts[a.attempt_id] = a
        elif roll < 0.8:
            flying = [a for a in attempts.values() if a.state in IN_FLIGHT]
            if flying:
                a = rng.choice(flying)
                choices: list[AttemptEvent] = [
                    Ringing(now),
                    Answered(now),
                    Connected(now, "2001"),
                    Ended(now, rng.choice(list(DialOutcome))),
                    Answered(now),  # duplicates happen
                ]
                attempts[a.attempt_id] = advance(a, rng.choice(choices), POLICY)
        elif roll < 0.9:  # restart
            dial_ids = [a.dial_id for a in attempts.values() if a.state in IN_FLIGHT]
            live = {d for d in dial_ids if d and rng.random() < 0.5}
            bridged = {d for d in live if rng.random() < 0.3}
            for a in reconcile_all(attempts.values(), live, bridged, now, POLICY):
                attempts[a.attempt_id] = a
        elif roll < 0.93:
            dnc.setdefault(rng.choice(list(attempts)), now)
        elif roll < 0.96:
            done = [a for a in attempts.values() if a.state is S.DONE]
            if done:
                a = rng.choice(done)
                attempts[a.attempt_id] = advance(
                    a, CallbackRequested(now, now + timedelta(hours=1), "2001"), POLICY
                )
    assert len(originated) == len(set(originated)) > 100
    assert not [(a, t) for a, t in originated_at if a in dnc and t >= dnc[a]]
    assert any(a.state is S.DNC_BLOCKED for a in attempts.values())
    assert any(a.last_outcome is DialOutcome.UNKNOWN for a in attempts.values())

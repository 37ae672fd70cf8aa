"""Dial pacing: the three modes, the risk arithmetic, the controller, a seeded simulation."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from callcenter.model.pacing import (
    AbandonCounts,
    AbandonLedger,
    AgentPhase,
    BusyAgent,
    CenterState,
    DialHistory,
    DialMode,
    DialStats,
    LogNormal,
    PacingSettings,
    Quantiles,
    answer_probability,
    calls_to_place,
    free_probability,
    risk_limit,
)
from tests.bench.dialer_sim import Center, simulate

STATS = DialStats(
    answer_rate=0.3,
    answer_delays=Quantiles.uniform(5, 25),
    unanswered_delays=Quantiles.uniform(2, 30),
    talk=LogNormal.from_mean(180, 0.8),
    wrap_up_s=30,
)
NO_HISTORY = AbandonCounts()
STEADY = AbandonCounts(1000, 24)  # a campaign at its setpoint (2.4 %): alpha = base_risk
PREVIEW = PacingSettings(mode=DialMode.PREVIEW)
PROGRESSIVE = PacingSettings(mode=DialMode.PROGRESSIVE)
PREDICTIVE = PacingSettings(mode=DialMode.PREDICTIVE)


def place(center: CenterState, settings: PacingSettings, **kw: object) -> int:
    abandons = kw.pop("abandons", STEADY)
    assert isinstance(abandons, AbandonCounts)
    stats = replace(STATS, **kw)  # type: ignore[arg-type]
    return calls_to_place(center, stats, abandons, settings).calls


def test_preview_dials_only_what_agents_asked_for() -> None:
    assert place(CenterState(ready_agents=5), PREVIEW) == 0
    assert place(CenterState(ready_agents=5, dial_requests=2), PREVIEW) == 2
    assert place(CenterState(ready_agents=5, dial_requests=2, free_lines=1), PREVIEW) == 1


@pytest.mark.parametrize("ready", [1, 2, 5, 20])
def test_progressive_places_one_call_per_ready_agent(ready: int) -> None:
    assert place(CenterState(ready_agents=ready), PROGRESSIVE) >= ready
    assert place(CenterState(ready_agents=ready), PROGRESSIVE) == ready


def test_progressive_counts_calls_already_placed_for_the_ready_agents() -> None:
    assert place(CenterState(ready_agents=5, ringing_s=(3.0, 9.0)), PROGRESSIVE) == 3
    assert (
        place(CenterState(ready_agents=2, ringing_s=(1.0,), answered_waiting=1), PROGRESSIVE) == 0
    )
    assert place(CenterState(ready_agents=1, ringing_s=(1.0, 2.0)), PROGRESSIVE) == 0
    busy = (BusyAgent(AgentPhase.WRAP_UP, 29.0),)
    assert place(CenterState(ready_agents=0, busy_agents=busy), PROGRESSIVE) == 0
    assert place(CenterState(ready_agents=4, free_lines=3), PROGRESSIVE) == 3


def test_predictive_over_dials_for_ready_agents() -> None:
    # With 10 ready agents and a 30 % answer rate the textbook ratio is ~33 calls; the
    # marginal-risk rule places fewer (the 3 % tail of the binomial).
    calls = place(CenterState(ready_agents=10), PREDICTIVE)
    assert 10 < calls < 34
    assert place(CenterState(ready_agents=10), PREDICTIVE, answer_rate=0.9) <= 11


def test_predictive_dials_ahead_of_agents_finishing_wrap_up() -> None:
    finishing = tuple(BusyAgent(AgentPhase.WRAP_UP, 26.0) for _ in range(5))  # 4 s left
    starting = tuple(BusyAgent(AgentPhase.WRAP_UP, 1.0) for _ in range(5))  # 29 s left
    talking = tuple(BusyAgent(AgentPhase.TALKING, 20.0) for _ in range(5))
    assert place(CenterState(ready_agents=0, busy_agents=finishing), PREDICTIVE) > 5
    assert place(CenterState(ready_agents=0, busy_agents=starting), PREDICTIVE) == 0
    assert place(CenterState(ready_agents=0, busy_agents=talking), PREDICTIVE) == 0
    assert place(CenterState(ready_agents=0), PREDICTIVE) == 0


def test_predictive_counts_answers_already_coming() -> None:
    alone = place(CenterState(ready_agents=10), PREDICTIVE)
    ringing = place(CenterState(ready_agents=10, ringing_s=(2.0,) * 6), PREDICTIVE)
    waiting = place(CenterState(ready_agents=10, answered_waiting=10), PREDICTIVE)
    stale = place(CenterState(ready_agents=10, ringing_s=(27.0,) * 6), PREDICTIVE)
    assert waiting == 0 < ringing < alone
    assert stale == alone  # past every answer delay: those calls will not be answered


def test_the_marginal_risk_is_an_exact_binomial_tail() -> None:
    # Two ready agents, known p = 0.3, alpha = 0.1: the k-th call is placed while
    # P(Binomial(k - 1, 0.3) >= 2) <= 0.1: k - 1 = 2 gives 0.09, k - 1 = 3 gives 0.216.
    settings = replace(PREDICTIVE, base_risk=0.1, risk_gain=0.0, ramp_answers=0)
    decision = calls_to_place(CenterState(ready_agents=2), STATS, NO_HISTORY, settings)
    assert decision.calls == 3
    assert decision.risk == pytest.approx(0.09)
    assert decision.risk_limit == pytest.approx(0.1)


def test_uncertainty_about_the_answer_rate_makes_it_careful() -> None:
    known = place(CenterState(ready_agents=10), PREDICTIVE)
    guessed = place(CenterState(ready_agents=10), PREDICTIVE, answer_weight=30.0)
    assert guessed < known


def test_predictive_warms_up_progressively() -> None:
    assert place(CenterState(ready_agents=10), PREDICTIVE, dials=10) == 10


def test_the_controller_follows_the_measured_abandon_rate() -> None:
    settings = PREDICTIVE
    assert risk_limit(AbandonCounts(0, 0), settings) == 0.0  # a new campaign starts carefully
    steady = risk_limit(AbandonCounts(1000, 24), settings)  # at the setpoint (2.4 %)
    assert steady == pytest.approx(settings.base_risk)
    assert risk_limit(AbandonCounts(1000, 10), settings) > steady  # below: bolder
    assert risk_limit(AbandonCounts(1000, 30), settings) < steady  # above: careful
    assert risk_limit(AbandonCounts(1000, 40), settings) == 0.0
    assert risk_limit(AbandonCounts(100_000, 0), settings) == settings.max_risk
    # At alpha = 0 predictive places only calls that surely find an agent: progressive.
    over = AbandonCounts(1000, 60)
    for ready, ringing in [(5, 0), (5, 2), (1, 3)]:
        center = CenterState(ready_agents=ready, ringing_s=(1.0,) * ringing)
        assert place(center, PREDICTIVE, abandons=over) == place(center, PROGRESSIVE)


def test_distributions() -> None:
    talk = LogNormal.from_mean(180, 0.8)
    assert talk.mean == pytest.approx(180)
    assert talk.cdf(math.exp(talk.mu)) == pytest.approx(0.5)
    fitted = LogNormal.fit([math.exp(talk.mu + talk.sigma * z / 10) for z in range(-30, 31)])
    assert fitted.mu == pytest.approx(talk.mu)
    q = Quantiles.uniform(5, 25)
    assert [q.cdf(x) for x in (4, 5, 15, 20, 25, 26)] == pytest.approx([0, 0, 0.5, 0.75, 1, 1])
    assert Quantiles.of(range(100)).values[0] == 5
    with pytest.raises(ValueError):
        Quantiles((3.0, 1.0))


def test_free_and_answer_probabilities() -> None:
    wrap = [free_probability(BusyAgent(AgentPhase.WRAP_UP, e), STATS, 2.0) for e in (0, 10, 25)]
    assert wrap == pytest.approx([0.0, 0.35, 1.0])  # 30, 20, 5 s left; P(D >= left - 2)
    assert free_probability(BusyAgent(AgentPhase.TALKING, 60), STATS, 2.0) == 0.0
    long_wrap = replace(STATS, wrap_up_s=0.0)
    long_talk = free_probability(BusyAgent(AgentPhase.TALKING, 600), long_wrap, 2.0)
    assert 0 < long_talk < 1
    fresh, late, stale = (answer_probability(e, STATS) for e in (0, 15, 26))
    assert fresh == pytest.approx(0.3)
    assert 0 < late < fresh and stale == 0.0


def test_dial_history_learns_and_starts_from_its_prior() -> None:
    history = DialHistory(prior=STATS, prior_weight=30)
    assert history.stats().answer_rate == pytest.approx(0.3)
    assert history.stats().dials == 0
    for i in range(170):
        history.dialed(i % 2 == 0, 10.0 if i % 2 == 0 else 30.0)
        history.talked(100.0 + i)
    stats = history.stats()
    assert stats.answer_rate == pytest.approx((85 + 9) / 200)
    assert stats.answer_delays.values == (10.0,) * 10
    assert stats.talk.mean == pytest.approx(184.5, rel=0.01)
    assert stats.answer_weight == 200


def test_abandon_ledger_rolls_over_its_window() -> None:
    ledger = AbandonLedger(window_days=30)
    day = 86_400.0
    ledger.answered(0.0, abandoned=True)
    ledger.answered(10 * day, abandoned=False)
    ledger.answered(10 * day + 5, abandoned=False)
    ledger.answered(5 * day, abandoned=False)  # late, out of order
    assert ledger.counts(20 * day) == AbandonCounts(4, 1)
    assert ledger.counts(31 * day).answered == 3
    assert ledger.counts(41 * day) == AbandonCounts(0, 0)
    assert AbandonCounts(40, 1).rate == 0.025


# --- the seeded simulation (the benchmark's centre, shortened) ---------------------------


@pytest.mark.parametrize(("agents", "seed"), [(20, 11), (6, 12)])
def test_predictive_keeps_abandons_under_target_and_beats_progressive(
    agents: int, seed: int
) -> None:
    center = Center(agents=agents, hours=3.0)
    predictive = simulate(DialMode.PREDICTIVE, center, seed)
    progressive = simulate(DialMode.PROGRESSIVE, center, seed)
    assert predictive.abandon_rate <= 0.03
    assert predictive.max_window_rate <= 0.03  # the running rate, once 100 calls answered
    assert progressive.abandoned == 0
    assert predictive.occupancy > progressive.occupancy
    if agents == 20:
        assert predictive.occupancy >= 0.85

"""Dial pacing: how many calls an outbound campaign places now.

Three dial modes (:class:`DialMode`):

- **preview**: the agent sees the customer's card and presses dial; the dialer places exactly
  the calls agents asked for. Nobody is ever abandoned; agents wait through every ring.
- **progressive**: one call per ready agent. A call placed for a ready agent is counted
  against the ready agents until it ends, so there are never more calls ringing or waiting
  than ready agents: nobody is abandoned, but agents wait through the rings of the calls
  that are not answered (with a 30 % answer rate, about 2.3 failed rings per conversation).
- **predictive**: more calls than ready agents, placed ahead of agents that are about to be
  free, so that an answered call usually meets an agent who just became free. The price is
  that sometimes a call is answered and no agent is free: the customer hears the safe-harbour
  message and the call counts as **abandoned** (answered by a person, no agent within
  ``safe_harbor_s``, 2 s by default). The abandon rate, abandoned / answered by a person,
  must stay at or below the target (3 % per campaign over 30 days by default).

The predictive policy (:func:`calls_to_place`)
-----------------------------------------------

It is the over-dial ratio of the textbook dialer (about ``free agents / answer rate`` calls)
made exact for small numbers with binomial (Erlang-style) probabilities, plus a feedback
controller on the measured abandon rate.

*Agents free in time.* A call placed now is answered, if at all, after a delay ``D`` drawn
from the campaign's recent answer delays. Agent ``i`` serves it if free by ``D + safe_harbor``:
a ready agent always; an agent in wrap-up with ``r`` seconds left with probability
``P(D >= r - safe_harbor)``; a talking agent (talk time ``T`` log-normal, fitted to recent
calls, ``e`` seconds into the call, wrap-up ``W`` after) with probability
``E_D[P(T <= e + D + safe_harbor - W | T > e)]``. Call these ``q_i``; the number of agents
available is ``S = ready + sum of Bernoulli(q_i)``.

*Answers already coming.* Every call still ringing ``e`` seconds after it was placed will be
answered with probability ``p·S_D(e) / (p·S_D(e) + (1-p)·S_U(e))`` (``p`` the answer rate,
``S_D``/``S_U`` the survival functions of the delays of answered/unanswered dials); answered
calls already waiting for an agent are certain. Their number is ``Y``.

*The marginal call.* If ``k-1`` new calls are placed, the answers among them are
``X ~ Binomial(k-1, p)`` — or beta-binomial when ``p`` itself is uncertain (a Beta belief
worth ``DialStats.answer_weight`` dials: few dials behind the estimate widen the spread of
``X`` and make the dialer careful; with ``inf`` it is binomial). The ``k``-th call, if
answered, finds every agent taken when ``X + Y >= S`` (an upper bound: with several answers
at once it might still win an agent).
So the ``k``-th call is placed only while

    risk(k) = P(X_{k-1} + Y - S >= 0) <= alpha.

``risk`` grows with ``k``; the largest ``k`` that passes is the number of calls to place now.
The distributions are exact: Poisson-binomial for ``S`` and ``Y``, (beta-)binomial for
``X``, combined through the distribution of ``Y - S``; counts beyond the number of agents
are lumped (they all mean "no agent left"), so a decision costs O(k · agents).

For ``p = 0.3`` and many free agents this places about ``free / p`` calls, the textbook
over-dial ratio, minus a margin that shrinks as the number of agents grows (the relative
spread of a binomial falls like ``1/sqrt(n)``): the pooling effect Erlang's formulas describe.
With few agents the margin eats the over-dial, and predictive is close to progressive.

*The feedback controller.* The model is only a model (answers and free agents do not come
all at once, statistics drift), so ``alpha`` is not fixed: it is set from the abandon counts
of the campaign's window by an integral controller on the abandons still "allowed":

    slack = setpoint · target · answered - abandoned
    alpha = clamp(base_risk · min(answered / ramp_answers, 1) + risk_gain · slack,
                  0, max_risk)

While the window's rate is below ``setpoint · target`` the slack grows and the dialer becomes
bolder; every abandon above it makes it more careful, and at ``alpha = 0`` it places only
calls that surely find an agent (which is progressive dialing). In steady state the measured
rate settles at ``setpoint · target`` (80 % of the target by default, leaving room for the
noise of small numbers) whatever the model's bias: that is what an integral term does.

*Starting carefully.* A new campaign has neither statistics nor abandon history. Until it
has seen ``warmup_dials`` dials the predictive mode dials progressively (its answer rate
would only be the prior's guess), and ``base_risk`` ramps up over the first
``ramp_answers`` answered calls, so the first hundred answers, where one abandon weighs a
whole percent, are not spent on a statistics-free guess. (The benchmark's running abandon
rate stays under 3 % from the 100th answered call on, not only at the end of the day.)

Inputs are snapshots (:class:`CenterState`, :class:`DialStats`, :class:`AbandonCounts`); the
small accumulators :class:`DialHistory` and :class:`AbandonLedger` turn the dialer's
observations into them. Times are seconds; the ledger takes epoch seconds.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class DialMode(enum.Enum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class AgentPhase(enum.Enum):
    """A logged-in agent not ready for a call (paused agents are simply not counted)."""

    TALKING = "talking"
    WRAP_UP = "wrap_up"


@dataclass(frozen=True, slots=True)
class BusyAgent:
    phase: AgentPhase
    elapsed_s: float  # seconds since the phase began


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Talk times: ``log T ~ Normal(mu, sigma)``."""

    mu: float
    sigma: float

    @classmethod
    def from_mean(cls, mean: float, sigma: float) -> LogNormal:
        return cls(math.log(mean) - sigma * sigma / 2, sigma)

    @classmethod
    def fit(cls, samples: Sequence[float]) -> LogNormal:
        """Maximum likelihood: the mean and deviation of the logs."""
        logs = [math.log(max(s, 0.1)) for s in samples]
        mu = math.fsum(logs) / len(logs)
        var = math.fsum((x - mu) ** 2 for x in logs) / len(logs)
        return cls(mu, max(math.sqrt(var), 0.05))

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma * self.sigma / 2)

    def cdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * (1 + math.erf((math.log(x) - self.mu) / (self.sigma * math.sqrt(2))))


@dataclass(frozen=True, slots=True)
class Quantiles:
    """A delay distribution kept as ``k`` sorted quantiles at probabilities ``(j + 0.5) / k``;
    the CDF interpolates linearly between them (exact for a uniform distribution)."""

    values: tuple[float, ...]
    _xs: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _ps: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        v = self.values
        if not v or list(v) != sorted(v):
            raise ValueError("quantiles must be a non-empty ascending sequence")
        k = len(v)
        xs: tuple[float, ...]
        ps: tuple[float, ...]
        if k == 1:
            xs, ps = (v[0], v[0]), (0.0, 1.0)
        else:
            low = v[0] - (v[1] - v[0]) / 2
            high = v[-1] + (v[-1] - v[-2]) / 2
            xs = (low, *v, high)
            ps = (0.0, *((j + 0.5) / k for j in range(k)), 1.0)
        object.__setattr__(self, "_xs", xs)
        object.__setattr__(self, "_ps", ps)

    @classmethod
    def of(cls, samples: Iterable[float], k: int = 10) -> Quantiles:
        data = sorted(samples)
        if not data:
            raise ValueError("no samples")
        n = len(data)
        return cls(tuple(data[min(n - 1, int((j + 0.5) * n / k))] for j in range(k)))

    @classmethod
    def uniform(cls, low: float, high: float, k: int = 10) -> Quantiles:
        return cls(tuple(low + (high - low) * (j + 0.5) / k for j in range(k)))

    def cdf(self, x: float) -> float:
        xs, ps = self._xs, self._ps
        if x < xs[0]:
            return 0.0
        if x >= xs[-1]:
            return 1.0
        i = bisect.bisect_right(xs, x)
        x0, x1, p0, p1 = xs[i - 1], xs[i], ps[i - 1], ps[i]
        return p1 if x1 == x0 else p0 + (p1 - p0) * (x - x0) / (x1 - x0)

    def survival(self, x: float) -> float:
        return 1.0 - self.cdf(x)


@dataclass(frozen=True, slots=True)
class DialStats:
    """What the campaign's recent dials say (see :class:`DialHistory`)."""

    answer_rate: float  # answered by a person / dials
    answer_delays: Quantiles  # dial -> answer, answered dials
    unanswered_delays: Quantiles  # dial -> busy/no answer/failure
    talk: LogNormal
    wrap_up_s: float
    dials: int = 1_000_000  # real dials behind ``answer_rate`` (warm-up below a few dozen)
    answer_weight: float = math.inf  # dials' worth of evidence for it, prior included

    @property
    def answer_prior(self) -> tuple[float, float]:
        """Beta(a, b) belief about the answer rate; ``inf`` weight means it is known."""
        return self.answer_rate * self.answer_weight, (1 - self.answer_rate) * self.answer_weight


@dataclass(frozen=True, slots=True)
class CenterState:
    """The campaign's agents and calls at the moment of the decision."""

    ready_agents: int
    busy_agents: tuple[BusyAgent, ...] = ()
    ringing_s: tuple[float, ...] = ()  # seconds since each placed, not yet answered call
    answered_waiting: int = 0  # answered calls waiting for an agent
    dial_requests: int = 0  # preview: agents who pressed dial
    free_lines: int | None = None  # trunk capacity left (None: unlimited)


@dataclass(frozen=True, slots=True)
class AbandonCounts:
    """Over the campaign's window: calls answered by a person (connected or abandoned; not
    machines) and, of them, abandoned."""

    answered: int = 0
    abandoned: int = 0

    @property
    def rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


@dataclass(frozen=True, slots=True)
class PacingSettings:
    mode: DialMode = DialMode.PROGRESSIVE
    abandon_target: float = 0.03
    window_days: int = 30
    safe_harbor_s: float = 2.0
    setpoint: float = 0.8  # the controller aims at setpoint · target
    base_risk: float = 0.02  # alpha with no slack
    risk_gain: float = 0.005  # alpha per abandon of slack
    ramp_answers: int = 200  # base_risk grows from 0 over the window's first answered calls
    max_risk: float = 0.25
    min_answer_rate: float = 0.02
    max_lines_per_agent: float = 5.0  # cap on calls in flight per logged-in agent
    warmup_dials: int = 50  # predictive dials progressively until it has seen this many

    def __post_init__(self) -> None:
        if not 0 < self.abandon_target < 1:
            raise ValueError("abandon_target is a fraction, e.g. 0.03")
        if not 0 < self.setpoint <= 1:
            raise ValueError("setpoint is a fraction of the target")


@dataclass(frozen=True, slots=True)
class PacingDecision:
    calls: int
    mode: DialMode
    risk_limit: float = 0.0  # alpha (predictive)
    risk: float = 0.0  # risk of the last call placed (predictive)
    expected_free: float = 0.0  # E[S]
    expected_answers: float = 0.0  # E[Y]


def risk_limit(abandons: AbandonCounts, settings: PacingSettings) -> float:
    """The feedback controller: alpha from the abandons of the window (module docstring)."""
    slack = settings.setpoint * settings.abandon_target * abandons.answered - abandons.abandoned
    ramp = min(abandons.answered / settings.ramp_answers, 1.0) if settings.ramp_answers else 1.0
    alpha = settings.base_risk * ramp + settings.risk_gain * slack
    return min(max(alpha, 0.0), settings.max_risk)


def free_probability(agent: BusyAgent, stats: DialStats, safe_harbor_s: float) -> float:
    """Chance that ``agent`` is free when a call placed now is answered (plus the grace)."""
    delays = stats.answer_delays.values
    if agent.phase is AgentPhase.WRAP_UP:
        remaining = max(stats.wrap_up_s - agent.elapsed_s, 0.0)
        return stats.answer_delays.survival(remaining - safe_harbor_s)
    e = agent.elapsed_s
    talk = stats.talk
    before = talk.cdf(e)
    still = 1.0 - before
    if still <= 1e-12:
        return 1.0
    reach = safe_harbor_s - stats.wrap_up_s  # the call must outlast the wrap-up
    if talk.cdf(e + delays[-1] + reach) - before <= 1e-6 * still:
        return 0.0  # not even the slowest answer leaves time to finish talk and wrap-up
    total = 0.0
    for d in delays:
        total += max(talk.cdf(e + d + reach) - before, 0.0)
    return min(total / (len(delays) * still), 1.0)


def answer_probability(elapsed_s: float, stats: DialStats) -> float:
    """Chance that a call still ringing ``elapsed_s`` after it was placed gets answered."""
    p = stats.answer_rate
    yes = p * stats.answer_delays.survival(elapsed_s)
    no = (1 - p) * stats.unanswered_delays.survival(elapsed_s)
    return yes / (yes + no) if yes > 0 else 0.0


def calls_to_place(
    center: CenterState,
    stats: DialStats,
    abandons: AbandonCounts,
    settings: PacingSettings,
) -> PacingDecision:
    """How many calls to place now for one campaign."""
    lines = center.free_lines if center.free_lines is not None else math.inf
    mode = settings.mode
    if mode is DialMode.PREVIEW:
        return PacingDecision(int(min(center.dial_requests, lines)), mode)
    if mode is DialMode.PROGRESSIVE or stats.dials < settings.warmup_dials:
        return PacingDecision(_progressive(center, lines), mode)
    return _predictive(center, stats, abandons, settings, lines)


def _progressive(center: CenterState, lines: float) -> int:
    owed = center.ready_agents - len(center.ringing_s) - center.answered_waiting
    return int(max(min(owed, lines), 0))


def _predictive(
    center: CenterState,
    stats: DialStats,
    abandons: AbandonCounts,
    settings: PacingSettings,
    lines: float,
) -> PacingDecision:
    alpha = risk_limit(abandons, settings)
    p = min(max(stats.answer_rate, settings.min_answer_rate), 1.0)
    # Agents: certain ones and uncertain ones (Bernoulli q_i).
    certain = center.ready_agents
    unsure: list[float] = []
    for agent in center.busy_agents:
        q = free_probability(agent, stats, settings.safe_harbor_s)
        if q >= 0.999:
            certain += 1
        elif q > 1e-4:
            unsure.append(q)
    s_max = certain + len(unsure)
    # Answers coming from calls in flight (Bernoulli) and those waiting (certain).
    coming = [answer_probability(e, stats) for e in center.ringing_s]
    y_base = center.answered_waiting
    expected_free = certain + sum(unsure)
    expected_answers = y_base + sum(coming)
    logged_in = center.ready_agents + len(center.busy_agents)
    cap = min(
        lines,
        math.floor(settings.max_lines_per_agent * logged_in) - len(center.ringing_s),
    )
    if cap <= 0 or s_max == 0:
        return PacingDecision(0, DialMode.PREDICTIVE, alpha, 0.0, expected_free, expected_answers)
    cutoff = s_max + 1  # counts at or above this all mean "no agent left": lump them
    s_pmf = _shifted(_poisson_binomial(unsure, cutoff), certain, cutoff)
    y_pmf = _shifted(_poisson_binomial([q for q in coming if q > 1e-4], cutoff), y_base, cutoff)
    # tail[m] = P(Y - S >= -m) for m = 0..cutoff: the chance that m more answers take the
    # last agent.
    d_pmf: dict[int, float] = {}
    for y, py in enumerate(y_pmf):
        if py == 0.0:
            continue
        for s, ps in enumerate(s_pmf):
            if ps:
                d_pmf[y - s] = d_pmf.get(y - s, 0.0) + py * ps
    tail = [sum(pr for d, pr in d_pmf.items() if d >= -m) for m in range(cutoff + 1)]
    # Answers among the calls placed so far, lumped at cutoff: beta-binomial (a Polya urn)
    # when the answer rate is itself uncertain, binomial when it is known.
    a, b = stats.answer_prior
    x_pmf = [1.0]
    calls = 0
    risk = 0.0
    while calls < cap:
        next_risk = sum(px * tail[min(x, cutoff)] for x, px in enumerate(x_pmf))
        if next_risk > alpha:
            break
        risk = next_risk
        if math.isinf(a + b):
            x_pmf = _add_bernoulli(x_pmf, p, cutoff)
        else:
            x_pmf = _add_urn_draw(x_pmf, a, a + b + calls, cutoff)
        calls += 1
    return PacingDecision(
        int(calls), DialMode.PREDICTIVE, alpha, risk, expected_free, expected_answers
    )


def _poisson_binomial(probs: Sequence[float], cutoff: int) -> list[float]:
    """pmf of a sum of Bernoulli(probs), mass at or above ``cutoff`` lumped at ``cutoff``."""
    pmf = [1.0]
    for q in probs:
        pmf = _add_bernoulli(pmf, q, cutoff)
    return pmf


def _add_bernoulli(pmf: list[float], q: float, cutoff: int) -> list[float]:
    out = [0.0] * min(len(pmf) + 1, cutoff + 1)
    for k, pk in enumerate(pmf):
        out[k] += pk * (1 - q)
        out[min(k + 1, cutoff)] += pk * q
    return out


def _add_urn_draw(pmf: list[float], a: float, total: float, cutoff: int) -> list[float]:
    """One more call under a Beta prior: given ``x`` answers so far, it answers with
    probability ``(a + x) / total`` (``total`` = prior weight + calls so far)."""
    out = [0.0] * min(len(pmf) + 1, cutoff + 1)
    for k, pk in enumerate(pmf):
        q = min(max((a + k) / total, 0.0), 1.0)
        out[k] += pk * (1 - q)
        out[min(k + 1, cutoff)] += pk * q
    return out


def _shifted(pmf: list[float], by: int, cutoff: int) -> list[float]:
    out = [0.0] * min(len(pmf) + by, cutoff + 1)
    for k, pk in enumerate(pmf):
        out[min(k + by, cutoff)] += pk
    return out


# --- accumulators ---------------------------------------------------------------------------


@dataclass(slots=True)
class DialHistory:
    """The campaign's recent dials and talks, bounded, turned into :class:`DialStats`.
    Before enough samples exist, ``prior`` fills in (weight ``prior_weight`` dials for the
    answer rate): start a campaign with the centre's usual numbers, not with zeros."""

    prior: DialStats
    prior_weight: int = 30
    keep: int = 1000
    _answered: deque[bool] = field(init=False)
    _answer_delays: deque[float] = field(init=False)
    _unanswered_delays: deque[float] = field(init=False)
    _talks: deque[float] = field(init=False)
    _stats: DialStats | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._answered = deque(maxlen=self.keep)
        self._answer_delays = deque(maxlen=self.keep)
        self._unanswered_delays = deque(maxlen=self.keep)
        self._talks = deque(maxlen=self.keep)

    def dialed(self, answered: bool, delay_s: float) -> None:
        """A dial ended ringing: answered by a person after ``delay_s``, or not (machines are
        not answers: leave them out or count them as unanswered)."""
        self._answered.append(answered)
        (self._answer_delays if answered else self._unanswered_delays).append(delay_s)
        self._stats = None

    def talked(self, talk_s: float) -> None:
        self._talks.append(talk_s)
        self._stats = None

    def stats(self) -> DialStats:
        if self._stats is None:
            self._stats = self._compute()
        return self._stats

    def _compute(self) -> DialStats:
        prior = self.prior
        n = len(self._answered)
        rate = (sum(self._answered) + prior.answer_rate * self.prior_weight) / (
            n + self.prior_weight
        )
        return DialStats(
            dials=n,
            answer_weight=n + self.prior_weight,
            answer_rate=rate,
            answer_delays=_quantiles(self._answer_delays, prior.answer_delays),
            unanswered_delays=_quantiles(self._unanswered_delays, prior.unanswered_delays),
            talk=LogNormal.fit(self._talks) if len(self._talks) >= 20 else prior.talk,
            wrap_up_s=prior.wrap_up_s,
        )


def _quantiles(samples: Sequence[float], prior: Quantiles) -> Quantiles:
    return Quantiles.of(samples) if len(samples) >= 20 else prior


@dataclass(slots=True)
class AbandonLedger:
    """Answered/abandoned counts per hour over a rolling window (``window_days``), for
    :class:`AbandonCounts`. The store can rebuild it from the call log after a restart."""

    window_days: int = 30
    _hours: deque[list[int]] = field(default_factory=deque)  # [hour, answered, abandoned]

    def answered(self, at: float, abandoned: bool) -> None:
        hour = int(at // 3600)
        if not self._hours or self._hours[-1][0] < hour:
            self._hours.append([hour, 0, 0])
        bucket = self._hours[-1] if self._hours[-1][0] == hour else self._find(hour)
        bucket[1] += 1
        bucket[2] += int(abandoned)

    def _find(self, hour: int) -> list[int]:
        for bucket in self._hours:
            if bucket[0] == hour:
                return bucket
        bucket = [hour, 0, 0]  # a late, out-of-order record: keep the deque sorted
        self._hours.append(bucket)
        ordered = sorted(self._hours)
        self._hours.clear()
        self._hours.extend(ordered)
        return bucket

    def counts(self, now: float) -> AbandonCounts:
        oldest = int(now // 3600) - self.window_days * 24 + 1
        while self._hours and self._hours[0][0] < oldest:
            self._hours.popleft()
        return AbandonCounts(
            sum(b[1] for b in self._hours if b[0] >= oldest),
            sum(b[2] for b in self._hours if b[0] >= oldest),
        )

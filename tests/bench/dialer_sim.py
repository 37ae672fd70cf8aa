"""Dialer benchmark (not a test): agent occupancy and abandon rate of each dial mode.

Run: ``.venv/bin/python tests/bench/dialer_sim.py [--seed 1] [--seeds 1] [--hours 8]``

A discrete-event simulation of one outbound campaign, driven by the real pacing code
(:func:`callcenter.model.pacing.calls_to_place`), with a seeded RNG. The default centre:

- 20 agents logged in for the whole shift of 8 hours, all on this campaign;
- each dial is answered by a person with probability 30 %, after a ring of uniform 5-25 s;
  of the other 70 %, one in five ends quickly as busy/failed (uniform 2-6 s) and the rest
  ring until the Originate timeout of 30 s (no answer); no answering machines;
- talk time log-normal with mean 180 s (sigma of log 0.8, so the median is about 130 s);
- wrap-up exactly 30 s after every conversation, then the agent is ready again;
- an answered call waits at most 2 s for a free agent; otherwise it gets the safe-harbour
  message and is abandoned (the customer never talks to an agent);
- preview: the agent reads the card for 10 s, then presses dial and listens to the ring;
  a failed dial brings the next card;
- the dialer decides every second (``calls_to_place``) and refreshes its statistics every
  10 s, seeing what a real dialer sees:
  agents' phases and how long they have been in them, how long each call has been ringing,
  answered calls waiting; its answer rate, delays and talk times are *learned* from the
  calls so far (``DialHistory`` with a deliberately wrong prior: 25 % answers, 3-30 s rings,
  150 s talks), never read from the simulator's parameters; abandon counts come from an
  ``AbandonLedger`` that starts empty.

Nothing connects a call to an agent before the callee answers: in predictive and progressive
mode an agent gets a call only when it is answered (or within the 2 s after); in preview the
agent listens to the ring, which is idle time, not talk.

Occupancy is (talk + wrap-up) / logged-in time, summed over agents, everything clipped to
the shift; abandon rate is abandoned / answered by a person (connected + abandoned).
"""

from __future__ import annotations

import argparse
import enum
import heapq
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callcenter.model.pacing import (  # noqa: E402
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
    calls_to_place,
)


@dataclass(frozen=True, slots=True)
class Center:
    agents: int = 20
    hours: float = 8.0
    answer_rate: float = 0.30
    answer_delay_s: tuple[float, float] = (5.0, 25.0)
    quick_fail_share: float = 0.2  # of unanswered dials: busy/failed within quick_fail_s
    quick_fail_s: tuple[float, float] = (2.0, 6.0)
    no_answer_timeout_s: float = 30.0
    talk_mean_s: float = 180.0
    talk_sigma: float = 0.8
    wrap_up_s: float = 30.0
    safe_harbor_s: float = 2.0
    preview_s: float = 10.0
    tick_s: float = 1.0
    stats_every_s: float = 10.0


PRIOR = DialStats(
    answer_rate=0.25,
    answer_delays=Quantiles.uniform(3.0, 30.0),
    unanswered_delays=Quantiles.uniform(2.0, 30.0),
    talk=LogNormal.from_mean(150.0, 0.8),
    wrap_up_s=30.0,
)


class Phase(enum.Enum):
    READY = "ready"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    CARD = "card"  # preview: reading the customer's card
    LISTENING = "listening"  # preview: the agent's own dial is ringing


@dataclass(slots=True)
class Agent:
    index: int
    phase: Phase = Phase.READY
    since: float = 0.0


@dataclass(slots=True)
class Result:
    mode: DialMode
    occupancy: float
    abandon_rate: float
    connected: int
    abandoned: int
    dials: int
    max_window_rate: float  # highest running abandon rate after the first 100 answers
    cpu_s: float = 0.0


@dataclass(slots=True)
class _Sim:
    center: Center
    mode: DialMode
    settings: PacingSettings
    rng: random.Random
    end: float = 0.0
    now: float = 0.0
    heap: list[tuple[float, int, str, int]] = field(default_factory=list)
    seq: int = 0
    agents: list[Agent] = field(default_factory=list)
    ringing: dict[int, float] = field(default_factory=dict)  # call -> dialed at
    owner: dict[int, int] = field(default_factory=dict)  # preview call -> agent
    waiting: deque[tuple[int, float]] = field(default_factory=deque)
    talk_of: dict[int, float] = field(default_factory=dict)
    busy_time: float = 0.0
    connected: int = 0
    abandoned: int = 0
    dials: int = 0
    max_window_rate: float = 0.0
    history: DialHistory = field(default_factory=lambda: DialHistory(PRIOR))
    ledger: AbandonLedger = field(default_factory=AbandonLedger)
    stats: DialStats = PRIOR
    stats_at: float = -1e9

    def dial_stats(self) -> DialStats:
        """The dialer refreshes its statistics every ``stats_every_s``, not at every tick."""
        if self.now - self.stats_at >= self.center.stats_every_s:
            self.stats = self.history.stats()
            self.stats_at = self.now
        return self.stats

    def push(self, at: float, kind: str, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, ref))

    def set_phase(self, agent: Agent, phase: Phase) -> None:
        if agent.phase in (Phase.TALKING, Phase.WRAP_UP):
            self.busy_time += min(self.now, self.end) - min(agent.since, self.end)
        agent.phase = phase
        agent.since = self.now

    # --- calls -------------------------------------------------------------------------------

    def dial(self, for_agent: int | None = None) -> None:
        c = self.center
        self.dials += 1
        call = self.dials
        self.ringing[call] = self.now
        if for_agent is not None:
            self.owner[call] = for_agent
        if self.rng.random() < c.answer_rate:
            self.push(self.now + self.rng.uniform(*c.answer_delay_s), "answer", call)
        elif self.rng.random() < c.quick_fail_share:
            self.push(self.now + self.rng.uniform(*c.quick_fail_s), "fail", call)
        else:
            self.push(self.now + c.no_answer_timeout_s, "fail", call)

    def connect(self, agent: Agent) -> None:
        c = self.center
        mu = LogNormal.from_mean(c.talk_mean_s, c.talk_sigma)
        talk = self.rng.lognormvariate(mu.mu, mu.sigma)
        self.set_phase(agent, Phase.TALKING)
        self.talk_of[agent.index] = talk
        self.push(self.now + talk, "talk_end", agent.index)
        self.connected += 1
        self.ledger.answered(self.now, abandoned=False)

    def on_answer(self, call: int) -> None:
        dialed = self.ringing.pop(call)
        self.history.dialed(True, self.now - dialed)
        owner = self.owner.pop(call, None)
        if owner is not None:  # preview: the agent is on the line already
            self.connect(self.agents[owner])
            return
        ready = [a for a in self.agents if a.phase is Phase.READY]
        if ready:
            self.connect(min(ready, key=lambda a: a.since))  # longest idle first
            return
        self.waiting.append((call, self.now))
        self.push(self.now + self.center.safe_harbor_s, "expire", call)

    def on_fail(self, call: int) -> None:
        dialed = self.ringing.pop(call)
        self.history.dialed(False, self.now - dialed)
        owner = self.owner.pop(call, None)
        if owner is not None:
            self.next_card(self.agents[owner])

    def on_expire(self, call: int) -> None:
        for item in self.waiting:
            if item[0] == call:
                self.waiting.remove(item)
                self.abandoned += 1
                self.ledger.answered(self.now, abandoned=True)
                answered = self.connected + self.abandoned
                if answered >= 100:
                    self.max_window_rate = max(self.max_window_rate, self.abandoned / answered)
                return

    # --- agents ------------------------------------------------------------------------------

    def on_talk_end(self, index: int) -> None:
        agent = self.agents[index]
        self.history.talked(self.talk_of.pop(index))
        self.set_phase(agent, Phase.WRAP_UP)
        self.push(self.now + self.center.wrap_up_s, "wrap_end", index)

    def on_wrap_end(self, index: int) -> None:
        agent = self.agents[index]
        if self.mode is DialMode.PREVIEW:
            self.next_card(agent)
            return
        if self.waiting:
            self.waiting.popleft()
            self.connect(agent)
            return
        self.set_phase(agent, Phase.READY)

    def next_card(self, agent: Agent) -> None:
        self.set_phase(agent, Phase.CARD)
        if self.now < self.end:
            self.push(self.now + self.center.preview_s, "press_dial", agent.index)

    def on_press_dial(self, index: int) -> None:
        agent = self.agents[index]
        decision = calls_to_place(
            CenterState(ready_agents=0, dial_requests=1),
            self.dial_stats(),
            self.ledger.counts(self.now),
            self.settings,
        )
        if decision.calls:
            self.set_phase(agent, Phase.LISTENING)
            self.dial(for_agent=index)

    # --- the dialer --------------------------------------------------------------------------

    def on_tick(self) -> None:
        if self.now >= self.end:
            return
        self.push(self.now + self.center.tick_s, "tick", 0)
        if self.mode is DialMode.PREVIEW:
            return
        ready = 0
        busy: list[BusyAgent] = []
        for a in self.agents:
            if a.phase is Phase.READY:
                ready += 1
            elif a.phase is Phase.TALKING:
                busy.append(BusyAgent(AgentPhase.TALKING, self.now - a.since))
            else:
                busy.append(BusyAgent(AgentPhase.WRAP_UP, self.now - a.since))
        state = CenterState(
            ready_agents=ready,
            busy_agents=tuple(busy),
            ringing_s=tuple(self.now - t for t in self.ringing.values()),
            answered_waiting=len(self.waiting),
        )
        decision = calls_to_place(
            state, self.dial_stats(), self.ledger.counts(self.now), self.settings
        )
        for _ in range(decision.calls):
            self.dial()

    def run(self) -> Result:
        c = self.center
        self.end = c.hours * 3600
        self.agents = [Agent(i) for i in range(c.agents)]
        if self.mode is DialMode.PREVIEW:
            for agent in self.agents:
                self.next_card(agent)
        self.push(0.0, "tick", 0)
        handlers = {
            "tick": lambda _ref: self.on_tick(),
            "answer": self.on_answer,
            "fail": self.on_fail,
            "expire": self.on_expire,
            "talk_end": self.on_talk_end,
            "wrap_end": self.on_wrap_end,
            "press_dial": self.on_press_dial,
        }
        while self.heap and self.heap[0][0] < self.end:
            self.now, _, kind, ref = heapq.heappop(self.heap)
            handlers[kind](ref)
        self.now = self.end
        for agent in self.agents:
            self.set_phase(agent, agent.phase)
        answered = self.connected + self.abandoned
        return Result(
            mode=self.mode,
            occupancy=self.busy_time / (c.agents * self.end),
            abandon_rate=self.abandoned / answered if answered else 0.0,
            connected=self.connected,
            abandoned=self.abandoned,
            dials=self.dials,
            max_window_rate=self.max_window_rate,
        )


def simulate(
    mode: DialMode,
    center: Center | None = None,
    seed: int = 1,
    settings: PacingSettings | None = None,
) -> Result:
    center = center or Center()
    settings = settings or PacingSettings(mode=mode, safe_harbor_s=center.safe_harbor_s)
    started = time.process_time()
    result = _Sim(center, mode, settings, random.Random(seed)).run()
    result.cpu_s = time.process_time() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds to run")
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    center = Center(agents=args.agents, hours=args.hours)
    print(
        f"centre: {center.agents} agents, {center.hours:g} h, answer rate "
        f"{center.answer_rate:.0%}, ring to answer {center.answer_delay_s[0]:g}-"
        f"{center.answer_delay_s[1]:g} s, talk log-normal mean {center.talk_mean_s:g} s, "
        f"wrap-up {center.wrap_up_s:g} s, safe harbour {center.safe_harbor_s:g} s"
    )
    print(
        f"{'mode':<12} {'seed':>4} {'occupancy':>9} {'abandon':>8} {'max run':>8} "
        f"{'connected':>9} {'abandoned':>9} {'dials':>6} {'cpu s':>6}"
    )
    for mode in DialMode:
        for seed in range(args.seed, args.seed + args.seeds):
            r = simulate(mode, center, seed)
            print(
                f"{mode.value:<12} {seed:>4} {r.occupancy:>9.1%} {r.abandon_rate:>8.2%} "
                f"{r.max_window_rate:>8.2%} {r.connected:>9} {r.abandoned:>9} {r.dials:>6} "
                f"{r.cpu_s:>6.2f}"
            )


if __name__ == "__main__":
    main()

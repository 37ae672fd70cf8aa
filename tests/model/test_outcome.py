"""``outcome_of``: one row of the rule table per case, in the table's order."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.model.calls import OUTCOME_RULES, Call, outcome_of
from callcenter.model.records import Direction, Outcome

IN, OUT, INTERNAL = Direction.INBOUND, Direction.OUTBOUND, Direction.INTERNAL

CASES: list[tuple[dict[str, Any], Outcome]] = [
    ({"answered_at": 5.0, "direction": IN}, Outcome.ANSWERED),
    ({"answered_at": 5.0, "direction": OUT, "machine": True}, Outcome.ANSWERED),
    ({"machine": True, "direction": OUT, "campaign": True}, Outcome.MACHINE),
    ({"queue": "support", "direction": IN}, Outcome.ABANDONED),
    ({"abandoned": True, "direction": IN}, Outcome.ABANDONED),  # QueueCallerAbandon alone
    ({"queue": "support", "campaign": True, "customer_answered": True}, Outcome.ABANDONED),
    (
        {"queue": "support", "campaign": True, "direction": OUT, "dial_failure": "BUSY"},
        Outcome.BUSY,
    ),
    ({"dial_failure": "CANCEL", "direction": IN}, Outcome.ABANDONED),
    ({"dial_failure": "CANCEL", "direction": INTERNAL}, Outcome.NO_ANSWER),
    ({"dial_failure": "NOANSWER", "direction": IN}, Outcome.NO_ANSWER),
    ({"dial_failure": "CONTINUE", "direction": IN}, Outcome.NO_ANSWER),  # declined the prompt
    ({"dial_failure": "BUSY", "direction": INTERNAL}, Outcome.BUSY),
    ({"dial_failure": "CONGESTION", "direction": OUT}, Outcome.CONGESTION),
    ({"dial_failure": "CHANUNAVAIL", "direction": OUT}, Outcome.FAILED),
    ({"direction": OUT}, Outcome.FAILED),
    ({"direction": IN}, Outcome.ABANDONED),
    ({"direction": INTERNAL}, Outcome.NO_ANSWER),
]


@pytest.mark.parametrize(("facts", "outcome"), CASES)
def test_outcome_of(facts: dict[str, Any], outcome: Outcome) -> None:
    call = Call(call_id="1.0", started_at=0.0)
    for name, value in facts.items():
        setattr(call, name, value)
    assert outcome_of(call) is outcome


def test_every_rule_is_exercised() -> None:
    used = set()
    for facts, _ in CASES:
        call = Call(call_id="1.0", started_at=0.0)
        for name, value in facts.items():
            setattr(call, name, value)
        used.add(next(name for name, applies, _ in OUTCOME_RULES if applies(call)))
    assert used == {name for name, _, _ in OUTCOME_RULES}

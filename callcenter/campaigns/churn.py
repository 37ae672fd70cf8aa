"""Churn risk: an explainable score per customer.

Each reason contributes ``weight × fraction`` points, the fraction in ``[0, 1]`` saying how
strongly the reason applies; the score is the sum (0-100 with the default weights). Every
score keeps its reasons with their weights, values and points, so an agent or a manager sees
*why* a customer is on the retention list, not just a number:

- ``no_contact``: days since the last call (or since the record was created), full at
  ``no_contact_full_days``;
- ``open_complaints``: open or pending complaint tickets, full at 2;
- ``negative_dispositions``: wrap-up codes such as ``no_interest`` in the last year, full at 3;
- ``failed_contacts``: outbound calls that did not reach the customer in 90 days, full at 5;
- ``contract_end``: the contract end (the ERP's contracts, store/erp.py) approaching, rising
  linearly over ``contract_horizon_days`` to full on the day it ends (and after);
- ``tenure``: new customers leave more easily; full for a new one, none after two years.

Pure: the facts are gathered by the store, the instant is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from callcenter.settings import CampaignSettings

COMPLAINTS_FULL = 2
NEGATIVE_FULL = 3
FAILED_FULL = 5
TENURE_FULL_DAYS = 730.0
_DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class ChurnFacts:
    """What is known about one customer (epoch seconds, dates in the centre's calendar)."""

    customer_id: int
    created_at: float
    last_contact_at: float | None = None
    open_complaints: int = 0
    negative_dispositions: int = 0
    failed_contacts: int = 0
    contract_end: date | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    factor: str
    value: float  # the fact behind it: days, a count, days to the contract end
    weight: float
    points: float

    def to_dict(self) -> dict[str, object]:
        return {
            "factor": self.factor,
            "value": self.value,
            "weight": self.weight,
            "points": round(self.points, 2),
        }


@dataclass(frozen=True, slots=True)
class ChurnScore:
    customer_id: int
    score: float
    reasons: tuple[Reason, ...]  # largest contribution first; factors with zero points omitted

    def to_dict(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "score": round(self.score, 2),
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _clamp(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def score(facts: ChurnFacts, weights: CampaignSettings, now: float, today: date) -> ChurnScore:
    """The churn score of one customer at ``now`` (``today``: its date in the centre's zone)."""
    since = facts.last_contact_at if facts.last_contact_at is not None else facts.created_at
    silent_days = max(now - since, 0.0) / _DAY_S
    tenure_days = max(now - facts.created_at, 0.0) / _DAY_S
    parts: list[tuple[str, float, float, float]] = [
        (
            "no_contact",
            round(silent_days, 1),
            weights.weight_no_contact,
            _clamp(silent_days / weights.no_contact_full_days),
        ),
        (
            "open_complaints",
            facts.open_complaints,
            weights.weight_complaints,
            _clamp(facts.open_complaints / COMPLAINTS_FULL),
        ),
        (
            "negative_dispositions",
            facts.negative_dispositions,
            weights.weight_negative_dispositions,
            _clamp(facts.negative_dispositions / NEGATIVE_FULL),
        ),
        (
            "failed_contacts",
            facts.failed_contacts,
            weights.weight_failed_contacts,
            _clamp(facts.failed_contacts / FAILED_FULL),
        ),
        (
            "tenure",
            round(tenure_days, 1),
            weights.weight_tenure,
            _clamp(1.0 - tenure_days / TENURE_FULL_DAYS),
        ),
    ]
    if facts.contract_end is not None:
        left = (facts.contract_end - today).days
        horizon = weights.contract_horizon_days
        fraction = _clamp(1.0 - left / horizon) if horizon > 0 else float(left <= 0)
        parts.append(("contract_end", left, weights.weight_contract_end, fraction))
    reasons = [Reason(f, float(v), w, w * frac) for f, v, w, frac in parts if w * frac > 0]
    reasons.sort(key=lambda r: (-r.points, r.factor))
    return ChurnScore(facts.customer_id, sum(r.points for r in reasons), tuple(reasons))


def parse_contract_end(value: object) -> date | None:
    """The custom field: ``YYYY-MM-DD`` (a longer ISO text is cut to its date); else None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None

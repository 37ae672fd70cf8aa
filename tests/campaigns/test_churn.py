"""Churn scores: explainable reasons, recomputation from the CRM, the retention list."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from zoneinfo import ZoneInfo

from callcenter.campaigns.churn import ChurnFacts, score
from callcenter.campaigns.retention import Retention
from callcenter.settings import CampaignSettings
from callcenter.store import Customers, Database
from callcenter.store.campaigns import Campaigns
from callcenter.store.customers import CustomerInput, Phone
from callcenter.store.erp import ContractInput, Erp
from callcenter.store.segments import CustomerFilter, Segments
from tests.campaigns.conftest import START, Clock

DAY = 86400.0
W = CampaignSettings()


def test_score_lists_every_reason_with_its_weight() -> None:
    facts = ChurnFacts(
        customer_id=7,
        created_at=START - 365 * DAY,
        last_contact_at=START - 90 * DAY,
        open_complaints=1,
        negative_dispositions=3,
        failed_contacts=0,
        contract_end=date(2026, 3, 2),
    )
    result = score(facts, W, START, date(2026, 3, 2))
    points = {r.factor: r.points for r in result.reasons}
    assert points == {
        "no_contact": 12.5,
        "open_complaints": 12.5,
        "negative_dispositions": 15.0,
        "contract_end": 15.0,
        "tenure": 10.0 * (1 - 365 / 730),
    }
    assert result.score == sum(points.values())
    assert result.reasons[0].factor in {"contract_end", "negative_dispositions"}
    assert all(r.weight > 0 for r in result.reasons)


def test_a_happy_long_time_customer_scores_low() -> None:
    facts = ChurnFacts(1, created_at=START - 3000 * DAY, last_contact_at=START - DAY)
    assert score(facts, W, START, date(2026, 3, 2)).score < 1


async def test_recompute_and_retention_list(
    db: Database, customers: Customers, store: Campaigns, clock: Clock
) -> None:
    clock.now = START - 400 * DAY
    risky = await customers.create(
        CustomerInput(
            name="Risky",
            custom={"contract_end": "2099-01-01"},  # a custom field no longer counts
            phones=(Phone("+4930100001", "+4930100001"),),
        )
    )
    await Erp(db, clock=clock).put_contract(
        risky["id"], ContractInput("k-1", "Fibre", starts_on="2020-01-01", ends_on="2026-03-10")
    )
    clock.now = START - 5 * DAY
    await customers.create(CustomerInput(name="Fresh", phones=(Phone("+49301", "+49301"),)))
    clock.now = START
    retention = Retention(store, W, ZoneInfo("UTC"), clock=clock)
    assert await retention.recompute() == 2
    found = await retention.retention_list(40)
    assert [r["customer_id"] for r in found] == [risky["id"]]
    assert found[0]["number"] == "+4930100001"
    factors = {r["factor"] for r in found[0]["reasons"]}  # type: ignore[union-attr]
    assert {"no_contact", "contract_end"} <= factors
    entries = await retention.entries_from_churn(40)
    assert [e.number for e in entries] == ["+4930100001"]
    json.dumps(found)


async def test_the_retention_segment_holds_the_customers_above_the_threshold(
    db: Database, customers: Customers, store: Campaigns, clock: Clock
) -> None:
    clock.now = START - 400 * DAY
    risky = await customers.create(CustomerInput(name="Risky"))
    await Erp(db, clock=clock).put_contract(
        risky["id"], ContractInput("k-1", "Fibre", starts_on="2020-01-01", ends_on="2026-03-10")
    )
    clock.now = START - 5 * DAY
    await customers.create(CustomerInput(name="Fresh"))
    clock.now = START
    segments = Segments(db, clock=clock)
    retention = Retention(
        store, dataclasses.replace(W, churn_threshold=40), ZoneInfo("UTC"), segments=segments
    )
    await retention.recompute()
    await retention.recompute()  # made once
    [segment] = await segments.all()
    assert (segment.name, segment.filter.to_dict()) == ("retention", {"min_churn": 40.0})
    members = await customers.query(segment.filter, limit=10)
    assert [c["id"] for c in members.items] == [risky["id"]]
    everyone = await customers.query(CustomerFilter(min_churn=0), limit=10)
    assert len(everyone.items) == 2

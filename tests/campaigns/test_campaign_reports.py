"""Dials per hour of a campaign (the campaign page's time series): the store query over
``campaign_dials`` and ``GET /api/campaigns/{id}/timeline``."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from callcenter.model.attempts import DialOutcome
from callcenter.store import Database
from callcenter.store.campaign_reports import MAX_HOURS, dials_per_hour
from callcenter.store.campaigns import Campaigns, CampaignSpec, ListEntry
from callcenter.web.auth import Role
from callcenter.web.keys import CAMPAIGNS_KEY
from tests.campaigns.dials import record_dials
from tests.web.webclient import logged_in

NUMBERS = [ListEntry(f"+49301000{n:02d}") for n in range(1, 6)]


async def _campaign(store: Campaigns, name: str) -> int:
    campaign = await store.create(CampaignSpec(name=name, queue="q"), NUMBERS, created_by="t")
    return campaign.id


async def test_dials_per_hour_by_outcome_with_empty_hours_between(
    db: Database, store: Campaigns
) -> None:
    cid = await _campaign(store, "hours")
    other = await _campaign(store, "other")
    await record_dials(
        store,
        [
            (f"c{cid}-1", "2026-11-23T10:05:00Z", DialOutcome.COMPLETED),
            (f"c{cid}-2", "2026-11-23T10:40:59Z", DialOutcome.BUSY),
            (f"c{cid}-3", "2026-11-23T10:59:59Z", DialOutcome.COMPLETED),
            (f"c{cid}-2", "2026-11-23T12:00:00Z", DialOutcome.NO_ANSWER),
            (f"c{cid}-4", "2026-11-23T12:30:00Z", None),
            (f"c{other}-1", "2026-11-23T11:00:00Z", DialOutcome.BUSY),
        ],
    )
    assert await dials_per_hour(db, cid) == [
        {"hour": "2026-11-23T10:00:00Z", "outcomes": {"completed": 2, "busy": 1}},
        {"hour": "2026-11-23T11:00:00Z", "outcomes": {}},
        {"hour": "2026-11-23T12:00:00Z", "outcomes": {"no_answer": 1, "in_flight": 1}},
    ]
    # The latest hours only, counted back from the latest dial.
    assert [h["hour"] for h in await dials_per_hour(db, cid, hours=2)] == ["2026-11-23T12:00:00Z"]
    assert [h["hour"] for h in await dials_per_hour(db, cid, hours=3)] == [
        "2026-11-23T10:00:00Z",
        "2026-11-23T11:00:00Z",
        "2026-11-23T12:00:00Z",
    ]
    assert await dials_per_hour(db, other, hours=1) == [
        {"hour": "2026-11-23T11:00:00Z", "outcomes": {"busy": 1}}
    ]
    # The series adds up to the campaign's progress.
    progress = await store.progress(cid)
    series = await dials_per_hour(db, cid)
    assert sum(n for h in series for n in h["outcomes"].values()) == progress["dials"]


async def test_a_campaign_without_dials_has_an_empty_series(db: Database, store: Campaigns) -> None:
    cid = await _campaign(store, "quiet")
    assert await dials_per_hour(db, cid) == []
    assert await dials_per_hour(db, 999) == []


async def test_timeline_api(client: TestClient[Any, Any]) -> None:
    store = client.app[CAMPAIGNS_KEY]
    cid = await _campaign(store, "api")
    await record_dials(store, [(f"c{cid}-1", "2026-11-23T10:05:00Z", DialOutcome.COMPLETED)])
    await logged_in(client, "boss", Role.SUPERVISOR)
    answer = await client.get(f"/api/campaigns/{cid}/timeline")
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {
        "hours": [{"hour": "2026-11-23T10:00:00Z", "outcomes": {"completed": 1}}]
    }
    assert (await client.get(f"/api/campaigns/{cid}/timeline?hours=24")).status == 200
    for bad in ("0", "x", str(MAX_HOURS + 1), "-1"):
        bad_answer = await client.get(f"/api/campaigns/{cid}/timeline?hours={bad}")
        assert bad_answer.status == 400, bad
    assert (await client.get("/api/campaigns/999/timeline")).status == 404


async def test_agents_may_not_read_the_timeline(client: TestClient[Any, Any]) -> None:
    cid = await _campaign(client.app[CAMPAIGNS_KEY], "secret")
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    assert (await client.get(f"/api/campaigns/{cid}/timeline")).status == 403

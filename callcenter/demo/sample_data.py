"""The demo's sample data: customers for the callers of ``demo_traffic.DEFAULT_CALLERS`` (so
screen pops show cards and history from the first call), a little history that gives some of
them a churn risk, the churn scores, and a preview campaign in draft for the retention list.

Seeded once, into an empty CRM: a demo database that already has customers is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from callcenter.crm.customers import parse_customer
from callcenter.store.campaigns import CampaignSpec
from callcenter.store.erp import ContractInput
from callcenter.store.interactions import TicketKind
from callcenter.store.segments import CustomerFilter
from callcenter.web.keys import (
    CAMPAIGNS_KEY,
    CUSTOMERS_KEY,
    ERP_KEY,
    INTERACTIONS_KEY,
    PHONES_KEY,
    RETENTION_KEY,
    SETTINGS_KEY,
)

log = logging.getLogger(__name__)

#: The named demo callers as the CRM knows them (phones in whatever form a user typed them).
SAMPLE_CUSTOMERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Jürgen Müller",
        "phones": ["+49 30 12345678"],
        "emails": ["j.mueller@example.de"],
        "tags": ["premium"],
        "custom": {"plan": "Business 50"},
        "contract": ("Business 50", "2023-01-16", "2027-01-15"),
    },
    {
        "name": "Anna Schmidt",
        "phones": ["030 98765432"],
        "tags": ["newsletter"],
        "contract": ("Fibre 100", "2024-07-01", "2028-06-30"),
    },
    {
        "name": "Zoë Weiß",
        "phones": ["030 555123"],
        "language": "fr",
        "contract": ("Mobile S", "2024-01-01", "2026-12-31"),
    },
    {
        "kind": "company",
        "company": "Hamburg Logistik GmbH",
        "name": "Hamburg Logistik GmbH",
        "phones": [{"number": "040 123456", "type": "work"}],
        "tags": ["b2b", "premium"],
    },
    {"name": "Lukas Becker", "phones": [{"number": "0170 1234567", "type": "mobile"}]},
    {"name": "Emre Yılmaz", "phones": ["030 77788899"], "language": "tr"},
    {"name": "Petra Schulz", "phones": ["030 1112233"], "do_not_call": True},
)


async def seed_sample_data(app: web.Application) -> None:
    """See the module docstring."""
    customers = app[CUSTOMERS_KEY]
    if (await customers.query(CustomerFilter(), limit=1)).items:
        return
    phones = app[PHONES_KEY]
    ids: dict[str, int] = {}
    for data in SAMPLE_CUSTOMERS:
        contract = data.get("contract")
        made = await customers.create(
            parse_customer({k: v for k, v in data.items() if k != "contract"}, phones)
        )
        ids[str(data["name"])] = int(made["id"])
        if contract is not None:
            product, starts, ends = contract
            await app[ERP_KEY].put_contract(
                int(made["id"]),
                ContractInput(f"demo-{made['id']}", product, starts_on=starts, ends_on=ends),
            )
    interactions = app[INTERACTIONS_KEY]
    await interactions.add_ticket(
        ids["Zoë Weiß"],
        kind=TicketKind.COMPLAINT,
        subject="Invoice charged twice in November",
        created_by="demo",
    )
    await interactions.add_disposition(ids["Zoë Weiß"], author="demo", code="complaint")
    await interactions.add_disposition(ids["Zoë Weiß"], author="demo", code="no_interest")
    await interactions.add_note(
        ids["Zoë Weiß"], author="demo", body="Asked about cancelling before the contract ends."
    )
    await interactions.add_note(
        ids["Jürgen Müller"], author="demo", body="Prefers calls in the morning."
    )
    await interactions.add_disposition(ids["Jürgen Müller"], author="demo", code="resolved")
    log.info("demo: %d sample customers", len(ids))
    if CAMPAIGNS_KEY not in app or not app[SETTINGS_KEY].campaigns.enabled:
        return
    retention = app[RETENTION_KEY]
    await retention.recompute()
    entries = await retention.entries_from_churn(0)
    if entries:
        spec = CampaignSpec(
            name="Demo win-back",
            queue="retention",
            mode="preview",
            time_zone=app[SETTINGS_KEY].center.time_zone,
            script=(
                "Hello, this is the customer care team. We noticed you may be unhappy with"
                " our service and would like to hear how we can make it right."
            ),
        )
        await app[CAMPAIGNS_KEY].create(spec, entries, created_by="demo")

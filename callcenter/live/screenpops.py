"""Screen pops: the caller's customer card in the right agent's browser while the phone rings.

The pump hands every call change to :meth:`ScreenPops.on_change` (synchronous, never
blocks). One named task handles them in order, so an agent never sees "answered" before the
"ring" it refers to:

- ``AgentRinging`` (Asterisk's ``AgentCalled`` for queue calls, a ``DialBegin`` to an agent's
  device otherwise): a ``ring`` message goes to that agent's topic at once, from what Asterisk
  said (number, name, queue): the pop never waits on the database. A ``card`` message follows
  with the customer(s) having the number (a stub written for an unknown number, the same record
  the call log will link the call to), their latest history, and a campaign call's context;
- ``CallAnswered``: every agent the call rang for gets ``answered`` with who took it (the
  taker's panel turns the pop into the connected view, the others clear it);
- ``CallFinished``: ``ended`` with the outcome (an abandoned caller clears the pop).

A campaign call (its channels carry the dial id, ``ATTEMPT_ID``) pops the customer we dialed,
with the campaign's name and script and the customer's churn reasons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.crm.visibility import for_viewer
from callcenter.live.hub import Hub
from callcenter.model.calls import interface_key
from callcenter.model.records import AgentRinging, CallAnswered, CallFinished, Change
from callcenter.store.customers import Customers
from callcenter.store.interactions import Interactions

log = logging.getLogger(__name__)

#: Looks up the caller: ``(number, caller_name, agent, create) -> card``, where the card is a
#: JSON-able dict such as ``{"customers": [...], "history": [...]}``; with ``create`` an
#: unknown number gets a stub customer (a write).
CardLookup = Callable[[str, str, str, bool], Awaitable[dict[str, Any]]]
#: A campaign call's context by its dial id: ``{"campaign": {...}, "churn": {...}, ...}``.
CampaignLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


class CustomerCards:
    """The card of a ringing caller: the customers having the number (a stub is created for
    an unknown real number — the same record the call log links the call to) and, when the
    number is unambiguous, their latest interactions."""

    def __init__(self, customers: Customers, interactions: Interactions, history: int = 5) -> None:
        self._customers = customers
        self._interactions = interactions
        self._history = history

    async def __call__(
        self, number: str, name: str, agent: str = "", create: bool = True
    ) -> dict[str, Any]:
        """``agent``: the interface the card is shown at; the history carries transcripts
        and recordings of that agent's own calls only (:mod:`callcenter.crm.visibility`).
        ``create``: make a stub customer for an unknown number (a write transaction)."""
        found = (await self._customers.lookup(number)).customers if number else []
        if number and not found and create:  # the write only for an unknown number
            ids = await self._customers.ensure_for_number(number, name)
            found = await self._customers.get_many(ids) if ids else []
        history: list[dict[str, Any]] = []
        if len(found) == 1:
            history = await self._interactions.timeline(found[0]["id"], limit=self._history)
        return {"customers": found, "history": for_viewer(history, agent)}


def agent_topic(interface_or_device: str) -> str:
    """The hub topic of the agent whose phone is ``interface_or_device`` (``PJSIP/2001``, or
    a queue member interface such as ``Local/1001@agents/n``)."""
    return f"agent:{interface_key(interface_or_device)}"


class ScreenPops:
    def __init__(
        self,
        hub: Hub,
        lookup: CardLookup,
        clock: Callable[[], float],
        campaign_lookup: CampaignLookup | None = None,
    ) -> None:
        self._hub = hub
        self._lookup = lookup
        self._campaign_lookup = campaign_lookup
        self._clock = clock
        self._queue: asyncio.Queue[Change] = asyncio.Queue()
        self._rang: dict[str, set[str]] = {}  # call_id -> agent topics it rang
        self._cards: set[asyncio.Task[None]] = set()  # cards sent after their ring
        self.pops_sent = 0

    def on_change(self, change: Change) -> None:
        if isinstance(change, AgentRinging | CallAnswered | CallFinished):
            self._queue.put_nowait(change)

    async def run(self) -> None:
        try:
            while True:
                change = await self._queue.get()
                try:
                    await self._handle(change)
                except Exception:
                    log.exception("screen pop failed for %s", type(change).__name__)
        finally:
            for task in self._cards:
                task.cancel()
            await asyncio.gather(*self._cards, return_exceptions=True)

    async def _handle(self, change: Change) -> None:
        if isinstance(change, AgentRinging):
            await self._ring(change)
        elif isinstance(change, CallAnswered):
            for topic in self._rang.get(change.call_id, ()):
                self._hub.publish(
                    topic, {"type": "answered", "call_id": change.call_id, "agent": change.agent}
                )
        elif isinstance(change, CallFinished):
            record = change.record
            for topic in self._rang.pop(record.call_id, ()):
                self._hub.publish(
                    topic,
                    {
                        "type": "ended",
                        "call_id": record.call_id,
                        "outcome": record.outcome.value,
                        "agent": record.agent,
                    },
                )

    async def _ring(self, ring: AgentRinging) -> None:
        topic = agent_topic(ring.agent)
        self._rang.setdefault(ring.call_id, set()).add(topic)
        if not self._hub.subscribers_of(topic):
            return  # nobody logged in at that phone: no lookup for nothing
        # The ring goes out at once, from what Asterisk said; the card follows from the CRM.
        self._hub.publish(
            topic,
            {
                "type": "ring",
                "call_id": ring.call_id,
                "queue": ring.queue,
                "caller_number": ring.caller_number,
                "caller_name": ring.caller_name,
                "at": self._clock(),
                "customers": [],
                "history": [],
                "campaign": None,
                "churn": None,
            },
        )
        self.pops_sent += 1
        task = asyncio.create_task(self._card(ring, topic), name=f"pop-card {ring.call_id}")
        self._cards.add(task)
        task.add_done_callback(self._cards.discard)

    async def _card(self, ring: AgentRinging, topic: str) -> None:
        """The caller's card for a pop that already rang: the customers having the number (a
        stub written for an unknown one) with their latest history, and a campaign call's
        campaign and churn reasons."""
        try:
            card = await self._lookup(ring.caller_number, ring.caller_name, ring.agent, False)
            if ring.caller_number and not card.get("customers"):
                card = await self._lookup(ring.caller_number, ring.caller_name, ring.agent, True)
            campaign: dict[str, Any] | None = None
            if ring.dial_id is not None and self._campaign_lookup is not None:
                campaign = await self._campaign_lookup(ring.dial_id)
        except Exception:
            log.exception("screen pop card for %s failed", ring.call_id)
            return
        if not card.get("customers") and campaign is None:
            return
        self._hub.publish(
            topic,
            {
                "type": "card",
                "call_id": ring.call_id,
                "customers": card.get("customers", []),
                "history": card.get("history", []),
                "campaign": campaign["campaign"] if campaign else None,
                "churn": campaign["churn"] if campaign else None,
            },
        )

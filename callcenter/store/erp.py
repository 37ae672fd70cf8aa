"""Orders and contracts from the ERP, and what they say about a customer: their value
(revenue in the last 12 months and in their lifetime), purchase recency and contract end.

Invariants:

- ``external_id`` (the ERP's id) is unique per kind: putting the same one again updates that
  order or contract and adds nothing (an ERP resends after changes, an import is re-run).
  It is looked up across customers, so a resend after a merge still finds it; the customer
  given then wins (the ERP moved it).
- Money is integer cents of the order's currency; value sums amounts whatever the currency
  (one currency per site is the expected case; it is reported as it is).
- The contract end of a customer is the earliest end date among their contracts that have
  not ended yet (the next renewal), else the latest one that has ended; contracts without
  an end do not count. This is what ``contract_ends_within_days``, the agent panel's card
  and the churn score read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite

from callcenter.model.records import iso
from callcenter.store.customers import live_customer_id
from callcenter.store.database import Database

ORDER_COLUMNS = (
    "id",
    "external_id",
    "customer_id",
    "ordered_at",
    "amount_cents",
    "currency",
    "description",
    "created_at",
    "updated_at",
)
CONTRACT_COLUMNS = (
    "id",
    "external_id",
    "customer_id",
    "product",
    "starts_on",
    "ends_on",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class OrderInput:
    external_id: str
    ordered_at: str
    """ISO 8601 UTC ``…Z``."""
    amount_cents: int
    currency: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ContractInput:
    external_id: str
    product: str
    starts_on: str
    """YYYY-MM-DD."""
    ends_on: str | None = None


def order_json(row: Sequence[Any]) -> dict[str, Any]:
    data = dict(zip(ORDER_COLUMNS, row, strict=True))
    data["amount"] = data["amount_cents"] / 100
    return data


def contract_json(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(CONTRACT_COLUMNS, row, strict=True))


def year_ago(now: float) -> str:
    return iso(now - 365 * 86400.0) or ""


def today_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


#: SQL for a customer's contract end (``c`` is the customers row), see the module docstring.
CONTRACT_END_SQL = (
    "COALESCE((SELECT MIN(k.ends_on) FROM contracts k WHERE k.customer_id = c.id"
    " AND k.ends_on >= :today),"
    " (SELECT MAX(k.ends_on) FROM contracts k WHERE k.customer_id = c.id))"
)


async def customer_value(
    conn: aiosqlite.Connection, customer_ids: Sequence[int], now: float
) -> dict[int, dict[str, Any]]:
    """``{id: {"revenue_12m", "revenue_lifetime", "orders", "last_order_at",
    "days_since_last_order", "contract_end", "contracts"}}`` for each of ``customer_ids``."""
    out: dict[int, dict[str, Any]] = {
        cid: {
            "revenue_12m": 0.0,
            "revenue_lifetime": 0.0,
            "orders": 0,
            "last_order_at": None,
            "days_since_last_order": None,
            "contract_end": None,
            "contracts": 0,
        }
        for cid in customer_ids
    }
    if not customer_ids:
        return out
    marks = ",".join("?" * len(customer_ids))
    rows = await conn.execute_fetchall(
        "SELECT customer_id, COALESCE(SUM(CASE WHEN ordered_at >= ? THEN amount_cents END), 0),"
        f" SUM(amount_cents), COUNT(*), MAX(ordered_at) FROM orders WHERE customer_id IN ({marks})"
        " GROUP BY customer_id",
        (year_ago(now), *customer_ids),
    )
    for cid, year, lifetime, count, last in rows:
        entry = out[int(cid)]
        entry.update(
            revenue_12m=int(year) / 100,
            revenue_lifetime=int(lifetime) / 100,
            orders=int(count),
            last_order_at=last,
        )
        if last:
            moment = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
            entry["days_since_last_order"] = max(
                0, (datetime.fromtimestamp(now, UTC) - moment).days
            )
    today = today_of(now)
    rows = await conn.execute_fetchall(
        "SELECT customer_id, COUNT(*),"
        " MIN(CASE WHEN ends_on >= ? THEN ends_on END), MAX(ends_on)"
        f" FROM contracts WHERE customer_id IN ({marks}) GROUP BY customer_id",
        (today, *customer_ids),
    )
    for cid, count, upcoming, latest in rows:
        out[int(cid)].update(contracts=int(count), contract_end=upcoming or latest)
    return out


def contract_end_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class Erp:
    """Orders and contracts. Times are epoch seconds in, ISO text in the database."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def put_order(self, customer_id: int, data: OrderInput) -> tuple[dict[str, Any], bool]:
        """The order and True if it is new; updated in place and False if its external id
        was seen before."""
        now = iso(self._clock()) or ""
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            existing = list(
                await conn.execute_fetchall(
                    "SELECT id FROM orders WHERE external_id = ?", (data.external_id,)
                )
            )
            await conn.execute(
                "INSERT INTO orders (external_id, customer_id, ordered_at, amount_cents, currency,"
                " description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (external_id) DO UPDATE SET customer_id = excluded.customer_id,"
                " ordered_at = excluded.ordered_at, amount_cents = excluded.amount_cents,"
                " currency = excluded.currency, description = excluded.description,"
                " updated_at = excluded.updated_at",
                (
                    data.external_id,
                    customer_id,
                    data.ordered_at,
                    data.amount_cents,
                    data.currency,
                    data.description,
                    now,
                    now,
                ),
            )
            stored = list(
                await conn.execute_fetchall(
                    f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE external_id = ?",
                    (data.external_id,),
                )
            )
        return order_json(stored[0]), not existing

    async def put_contract(
        self, customer_id: int, data: ContractInput
    ) -> tuple[dict[str, Any], bool]:
        now = iso(self._clock()) or ""
        async with self._db.transaction() as conn:
            customer_id = await live_customer_id(conn, customer_id)
            existing = list(
                await conn.execute_fetchall(
                    "SELECT id FROM contracts WHERE external_id = ?", (data.external_id,)
                )
            )
            await conn.execute(
                "INSERT INTO contracts (external_id, customer_id, product, starts_on, ends_on,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (external_id) DO UPDATE SET customer_id = excluded.customer_id,"
                " product = excluded.product, starts_on = excluded.starts_on,"
                " ends_on = excluded.ends_on, updated_at = excluded.updated_at",
                (
                    data.external_id,
                    customer_id,
                    data.product,
                    data.starts_on,
                    data.ends_on,
                    now,
                    now,
                ),
            )
            stored = list(
                await conn.execute_fetchall(
                    f"SELECT {', '.join(CONTRACT_COLUMNS)} FROM contracts WHERE external_id = ?",
                    (data.external_id,),
                )
            )
        return contract_json(stored[0]), not existing

    async def of_customer(self, customer_id: int) -> dict[str, Any]:
        """The customer's orders (newest first, at most 200), contracts and value."""
        now = self._clock()
        async with self._db.reading() as conn:
            orders = await conn.execute_fetchall(
                f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE customer_id = ?"
                " ORDER BY ordered_at DESC, id DESC LIMIT 200",
                (customer_id,),
            )
            contracts = await conn.execute_fetchall(
                f"SELECT {', '.join(CONTRACT_COLUMNS)} FROM contracts WHERE customer_id = ?"
                " ORDER BY starts_on DESC, id DESC",
                (customer_id,),
            )
            value = await customer_value(conn, [customer_id], now)
        return {
            "orders": [order_json(r) for r in orders],
            "contracts": [contract_json(r) for r in contracts],
            "value": value[customer_id],
        }

    async def values(self, customer_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        async with self._db.reading() as conn:
            return await customer_value(conn, customer_ids, self._clock())


__all__ = [
    "CONTRACT_END_SQL",
    "ContractInput",
    "Erp",
    "OrderInput",
    "contract_end_date",
    "customer_value",
    "today_of",
    "year_ago",
]

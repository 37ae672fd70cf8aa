"""The customers page's queries: a filtered, searched, sorted page with a count, the bulk
actions on a selection, the consent history and the other customers sharing a number.

The page is an offset page in one of :data:`SORTS`. Sorting by name or last contact walks the
partial indexes of migration 1600 (live customers only), so the first page of a million
customers reads a few dozen index entries. The count stops at :data:`COUNT_CAP` (``total``
is then a lower bound and ``total_capped`` true): an exact count of a million rows costs a
full scan on every page turn, which no list needs.

A search (``q``) goes through the full-text index (:mod:`callcenter.store.search`, names,
companies, emails, notes, transcripts and other channels' interactions) and keeps its best
:data:`SEARCH_HITS` customers, on which the filters then apply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from callcenter.errors import ConflictError, NotFoundError, ValidationError
from callcenter.model.records import iso
from callcenter.store import search
from callcenter.store.customers import check_user, load_customers
from callcenter.store.database import Database
from callcenter.store.segments import CustomerFilter, compile_filter

COUNT_CAP = 10_000
SEARCH_HITS = 1000
MAX_SELECTION = 500
SORTS: dict[str, str] = {
    "id": "c.id",
    "-id": "c.id DESC",
    "name": "c.name, c.id",
    "-name": "c.name DESC, c.id DESC",
    "last_contact": "c.last_contact_at, c.id",
    "-last_contact": "c.last_contact_at DESC, c.id DESC",
}


@dataclass(frozen=True, slots=True)
class BrowsePage:
    items: list[dict[str, Any]]
    total: int
    total_capped: bool
    offset: int
    limit: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "total": self.total,
            "total_capped": self.total_capped,
            "offset": self.offset,
            "limit": self.limit,
        }


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CustomerBrowser:
    """Read and bulk-change customers for the customers page."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def page(
        self,
        where: CustomerFilter,
        *,
        text: str | None = None,
        sort: str = "id",
        offset: int = 0,
        limit: int = 50,
    ) -> BrowsePage:
        if sort not in SORTS:
            raise ValidationError("sort", f"expected one of {', '.join(SORTS)}")
        clauses, params = compile_filter(where, now=self._clock())
        clauses.append("c.merged_into IS NULL")
        async with self._db.reading() as conn:
            if text is not None:
                hits = await search.search(conn, text, limit=SEARCH_HITS)
                ids = [hit.customer_id for hit in hits]
                if not ids:
                    return BrowsePage([], 0, False, offset, limit)
                clauses.append(f"c.id IN ({_marks(ids)})")
                params += ids
            condition = " AND ".join(clauses)
            rows = await conn.execute_fetchall(
                f"SELECT c.id FROM customers c WHERE {condition}"
                f" ORDER BY {SORTS[sort]} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            page_ids = [int(row[0]) for row in rows]
            if offset == 0 and len(page_ids) < limit:
                total, capped = len(page_ids), False
            else:
                counted = list(
                    await conn.execute_fetchall(
                        f"SELECT COUNT(*) FROM (SELECT 1 FROM customers c WHERE {condition}"
                        " LIMIT ?)",
                        [*params, COUNT_CAP + 1],
                    )
                )
                total = int(counted[0][0])
                capped = total > COUNT_CAP
                total = min(total, COUNT_CAP)
            items = await load_customers(conn, page_ids)
        return BrowsePage(items, total, capped, offset, limit)

    # --- bulk actions ----------------------------------------------------------------------

    async def _live(self, conn: Any, ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, tags JSON) of the live customers among ``ids``."""
        rows = await conn.execute_fetchall(
            f"SELECT id, tags FROM customers WHERE merged_into IS NULL AND id IN ({_marks(ids)})",
            list(ids),
        )
        return [(int(row[0]), str(row[1])) for row in rows]

    async def tag(self, ids: Sequence[int], tag: str, *, remove: bool = False) -> int:
        """Add (or remove) ``tag`` on each live customer; returns how many changed."""
        now = iso(self._clock())
        changed: list[tuple[str, str | None, int]] = []
        async with self._db.transaction() as conn:
            for customer_id, tags_json in await self._live(conn, ids):
                tags = list(json.loads(tags_json))
                if remove and tag in tags:
                    tags.remove(tag)
                elif not remove and tag not in tags:
                    tags.append(tag)
                else:
                    continue
                changed.append((_dumps(tags), now, customer_id))
            await conn.executemany(
                "UPDATE customers SET tags = ?, updated_at = ?, is_stub = FALSE WHERE id = ?",
                changed,
            )
        return len(changed)

    async def set_owner(self, ids: Sequence[int], owner: str | None) -> int:
        async with self._db.transaction() as conn:
            await check_user(conn, owner, "owner")
            cursor = await conn.execute(
                "UPDATE customers SET owner = ?, updated_at = ?"
                f" WHERE merged_into IS NULL AND id IN ({_marks(ids)})",
                [owner, iso(self._clock()), *ids],
            )
            count = cursor.rowcount
            await cursor.close()
        return int(count)

    async def add_to_campaign(self, campaign_id: int, ids: Sequence[int]) -> dict[str, int]:
        """One pending attempt per customer (their first phone) not yet in the campaign.
        Customers without a phone, with do-not-call, or whose number is in already are
        skipped (counted)."""
        now = iso(self._clock())
        async with self._db.transaction() as conn:
            found = list(
                await conn.execute_fetchall(
                    "SELECT state, priority FROM campaigns WHERE id = ?", (campaign_id,)
                )
            )
            if not found:
                raise NotFoundError(f"no campaign {campaign_id}")
            state, priority = str(found[0][0]), int(found[0][1])
            if state == "finished":
                raise ConflictError(f"campaign {campaign_id} is finished")
            rows = list(
                await conn.execute_fetchall(
                    "SELECT c.id, c.do_not_call, (SELECT p.e164 FROM customer_phones p"
                    " WHERE p.customer_id = c.id ORDER BY p.position LIMIT 1) FROM customers c"
                    f" WHERE c.merged_into IS NULL AND c.id IN ({_marks(ids)}) ORDER BY c.id",
                    list(ids),
                )
            )
            present = {
                str(row[0])
                for row in await conn.execute_fetchall(
                    "SELECT number FROM campaign_attempts WHERE campaign_id = ?", (campaign_id,)
                )
            }
            counted = list(
                await conn.execute_fetchall(
                    "SELECT COUNT(*) FROM campaign_attempts WHERE campaign_id = ?", (campaign_id,)
                )
            )
            serial = int(counted[0][0])
            added: list[tuple[Any, ...]] = []
            skipped = 0
            for customer_id, do_not_call, number in rows:
                if number is None or bool(do_not_call) or number in present:
                    skipped += 1
                    continue
                present.add(str(number))
                serial += 1
                added.append(
                    (
                        f"c{campaign_id}-{serial}",
                        campaign_id,
                        int(customer_id),
                        str(number),
                        priority,
                        now,
                    )
                )
            await conn.executemany(
                "INSERT INTO campaign_attempts (attempt_id, campaign_id, customer_id, number,"
                " state, priority, tries, dials, updated_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?, 0, 0, ?)",
                added,
            )
        return {"added": len(added), "skipped": skipped + len(ids) - len(rows)}

    async def selection(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The live customers among ``ids``, in that order (for the CSV of a selection)."""
        async with self._db.reading() as conn:
            found = await load_customers(conn, ids)
        return [c for c in found if c["merged_into"] is None]

    # --- one customer ----------------------------------------------------------------------

    async def consent_history(self, customer_id: int) -> list[dict[str, Any]]:
        """Who changed which consent flag (or do-not-call) and when, newest first."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT field, old_value, new_value, changed_by, changed_at FROM consent_changes"
                " WHERE customer_id = ? ORDER BY changed_at DESC, id DESC LIMIT 200",
                (customer_id,),
            )
        return [
            {
                "field": row[0],
                "old_value": bool(row[1]),
                "new_value": bool(row[2]),
                "changed_by": row[3],
                "changed_at": row[4],
            }
            for row in rows
        ]

    async def same_number(self, customer_id: int) -> list[dict[str, Any]]:
        """Other live customers having one of this customer's numbers (merge candidates),
        each with the shared numbers."""
        async with self._db.reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT DISTINCT o.customer_id, o.e164 FROM customer_phones p"
                " JOIN customer_phones o ON o.e164 = p.e164 AND o.customer_id <> p.customer_id"
                " JOIN customers c ON c.id = o.customer_id AND c.merged_into IS NULL"
                " WHERE p.customer_id = ? ORDER BY o.customer_id LIMIT 100",
                (customer_id,),
            )
            shared: dict[int, list[str]] = {}
            for other, e164 in rows:
                shared.setdefault(int(other), []).append(str(e164))
            found = await load_customers(conn, list(shared))
        return [{**c, "shared_numbers": shared[c["id"]]} for c in found]


__all__ = ["COUNT_CAP", "MAX_SELECTION", "SORTS", "BrowsePage", "CustomerBrowser"]

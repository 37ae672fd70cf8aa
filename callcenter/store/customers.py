"""Customers: who they are, how to reach them, and which logged calls were theirs.

A customer is a person or a company with any number of phones, emails and addresses. Phone
numbers keep the text as entered (``number``) and an E.164 form (``e164``) made by the CRM's
:class:`PhoneNumbers` (``phonenumbers`` with the configured default region); every lookup goes
through the ``(e164, customer_id)`` index, never a scan.

Invariants:

- A number may belong to several customers (a family landline, a company switchboard): a
  lookup returns all of them.
- Every logged inbound or outbound call with a real (valid) number is linked to a customer:
  :meth:`Customers.link_calls` runs inside the call log's insert transaction, links the call to
  whoever has the caller's number (inbound) or the called number (outbound), and creates a
  *stub* customer for an unknown number.
- Merging moves everything of one record to the kept one (phones, emails, addresses, calls,
  notes, dispositions, callbacks, tickets, tags, custom fields); the other row stays as a
  tombstone with ``merged_into`` set, and disappears from lookups, lists and search.
- The full-text index (:mod:`callcenter.store.search`) is updated in the same transaction as
  every change to names, companies or emails.

Rows come back as dicts in the public JSON shape (:func:`customer_json`).
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import aiosqlite

from callcenter.errors import ConflictError, NotFoundError, StoreError, ValidationError
from callcenter.model.records import iso
from callcenter.store import search
from callcenter.store.database import Database
from callcenter.store.segments import CustomerFilter, compile_filter

MAX_IN = 500
"""Most values bound in one ``IN (...)`` list."""


class Kind(enum.Enum):
    PERSON = "person"
    COMPANY = "company"


class PhoneNumbers(Protocol):
    """How the store turns what Asterisk or a user typed into E.164 (see ``crm.phones``)."""

    def lookup_keys(self, raw: str) -> tuple[str, ...]:
        """Every E.164 reading of ``raw`` worth looking up, most plausible first."""

    def stub_number(self, raw: str) -> str | None:
        """The E.164 form if ``raw`` is a real, valid number (worth a stub customer)."""


# The input value objects are named tuples: the CSV import validates rows in worker processes
# and ships them back in bulk, and tuples pickle several times faster than dataclasses.


class Phone(NamedTuple):
    number: str
    e164: str
    type: str = "main"

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "e164": self.e164, "type": self.type}


class Email(NamedTuple):
    address: str
    type: str = "main"

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "type": self.type}


class Address(NamedTuple):
    type: str = "main"
    street: str = ""
    postcode: str = ""
    city: str = ""
    region: str = ""
    country: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self._asdict())


class Consent(NamedTuple):
    may_call: bool = True
    may_record: bool = False
    marketing: bool = False


class CustomerInput(NamedTuple):
    """A validated new customer (``crm.customers.parse_customer`` builds these).
    ``custom`` is never mutated (the shared default is safe)."""

    kind: Kind = Kind.PERSON
    name: str = ""
    company: str = ""
    language: str | None = None
    region: str | None = None
    time_zone: str | None = None
    tags: tuple[str, ...] = ()
    custom: Mapping[str, Any] = {}
    owner: str | None = None
    consent: Consent = Consent()
    do_not_call: bool = False
    phones: tuple[Phone, ...] = ()
    emails: tuple[Email, ...] = ()
    addresses: tuple[Address, ...] = ()


PATCHABLE = (
    "kind",
    "name",
    "company",
    "language",
    "region",
    "time_zone",
    "tags",
    "custom",
    "owner",
    "may_call",
    "may_record",
    "marketing",
    "do_not_call",
)

CONSENT_FIELDS = ("may_call", "may_record", "marketing", "do_not_call")


@dataclass(frozen=True, slots=True)
class CustomerPatch:
    """Validated changes: ``values`` maps names from :data:`PATCHABLE` to new values; a list
    given (not None) replaces the customer's whole list."""

    values: Mapping[str, Any] = field(default_factory=dict)
    phones: tuple[Phone, ...] | None = None
    emails: tuple[Email, ...] | None = None
    addresses: tuple[Address, ...] | None = None


@dataclass(frozen=True, slots=True)
class CustomerPage:
    items: list[dict[str, Any]]
    next_after: int | None
    """The id to continue after, or None on the last page."""


@dataclass(frozen=True, slots=True)
class Lookup:
    keys: tuple[str, ...]
    """The E.164 readings tried, most plausible first."""
    e164: str | None
    """The reading that matched (None if nothing did)."""
    customers: list[dict[str, Any]]


@dataclass
class ImportBatchResult:
    """What :meth:`Customers.import_batch` did with each row (by the caller's row numbers)."""

    imported: list[tuple[int, int]] = field(default_factory=list)
    """(row, new customer id)"""
    duplicates: list[tuple[int, int, str]] = field(default_factory=list)
    """(row, existing customer id, the shared E.164 number): skipped."""
    stubs_completed: list[tuple[int, int]] = field(default_factory=list)
    """(row, stub id): the row was imported and the stub with its number merged into it."""
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    """(row, field, reason): refused by the store (an owner who is not a user)."""


# --- rows <-> JSON ---------------------------------------------------------------------------

CUSTOMER_COLUMNS = (
    "id",
    "kind",
    "name",
    "company",
    "language",
    "region",
    "time_zone",
    "tags",
    "custom",
    "owner",
    "may_call",
    "may_record",
    "marketing",
    "do_not_call",
    "is_stub",
    "merged_into",
    "created_at",
    "updated_at",
    "last_contact_at",
)
SELECT_CUSTOMER = "SELECT " + ", ".join(f"c.{name}" for name in CUSTOMER_COLUMNS)


@dataclass
class _Children:
    phones: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)


def customer_json(row: Sequence[Any], children: _Children | None = None) -> dict[str, Any]:
    """A ``customers`` row (:data:`CUSTOMER_COLUMNS` order) as the public JSON object."""
    data = dict(zip(CUSTOMER_COLUMNS, row, strict=True))
    kids = children or _Children()
    return {
        "id": int(data["id"]),
        "kind": data["kind"],
        "name": data["name"],
        "company": data["company"],
        "language": data["language"],
        "region": data["region"],
        "time_zone": data["time_zone"],
        "tags": json.loads(data["tags"]),
        "custom": json.loads(data["custom"]),
        "owner": data["owner"],
        "consent": {
            "may_call": bool(data["may_call"]),
            "may_record": bool(data["may_record"]),
            "marketing": bool(data["marketing"]),
        },
        "do_not_call": bool(data["do_not_call"]),
        "is_stub": bool(data["is_stub"]),
        "merged_into": data["merged_into"],
        "phones": kids.phones,
        "emails": kids.emails,
        "addresses": kids.addresses,
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
        "last_contact_at": data["last_contact_at"],
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in range(len(values)))


def chunks(values: Sequence[Any], size: int = MAX_IN) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def load_children(conn: aiosqlite.Connection, ids: Sequence[int]) -> dict[int, _Children]:
    """Phones, emails and addresses of these customers, in one query."""
    found: dict[int, _Children] = {i: _Children() for i in ids}
    for chunk in chunks(list(ids), MAX_IN // 3):
        marks = _marks(chunk)
        rows = await conn.execute_fetchall(
            "SELECT 'p', customer_id, position, number, e164, type, '', '', ''"
            f" FROM customer_phones WHERE customer_id IN ({marks})"
            " UNION ALL SELECT 'e', customer_id, position, address, type, '', '', '', ''"
            f" FROM customer_emails WHERE customer_id IN ({marks})"
            " UNION ALL SELECT 'a', customer_id, position, type, street, postcode, city,"
            f" region, country FROM customer_addresses WHERE customer_id IN ({marks})"
            " ORDER BY 1, 2, 3",
            [*chunk, *chunk, *chunk],
        )
        for row in rows:
            kids = found[int(row[1])]
            if row[0] == "p":
                kids.phones.append({"number": row[3], "e164": row[4], "type": row[5]})
            elif row[0] == "e":
                kids.emails.append({"address": row[3], "type": row[4]})
            else:
                kids.addresses.append(Address(*row[3:9]).to_dict())
    return found


async def load_customers(conn: aiosqlite.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Full customer objects in the order of ``ids`` (missing ids are left out)."""
    if not ids:
        return []
    rows: list[Any] = []
    for chunk in chunks(list(ids)):
        rows += await conn.execute_fetchall(
            f"{SELECT_CUSTOMER} FROM customers c WHERE c.id IN ({_marks(chunk)})", chunk
        )
    children = await load_children(conn, [int(row[0]) for row in rows])
    by_id = {int(row[0]): customer_json(row, children[int(row[0])]) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


async def customer_row(conn: aiosqlite.Connection, customer_id: int) -> Sequence[Any]:
    rows = list(
        await conn.execute_fetchall(
            f"{SELECT_CUSTOMER} FROM customers c WHERE c.id = ?", (customer_id,)
        )
    )
    if not rows:
        raise NotFoundError(f"no customer {customer_id}")
    return rows[0]


async def live_customer_id(conn: aiosqlite.Connection, customer_id: int) -> int:
    """The customer's id, or the record it was merged into (interactions follow a merge)."""
    row = customer_row_data(await customer_row(conn, customer_id))
    merged_into = row["merged_into"]
    return customer_id if merged_into is None else int(merged_into)


def customer_row_data(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(CUSTOMER_COLUMNS, row, strict=True))


async def check_user(conn: aiosqlite.Connection, username: str | None, field_name: str) -> None:
    """``username`` must be an active user (owners and assignees are users)."""
    if username is None:
        return
    rows = await conn.execute_fetchall(
        "SELECT 1 FROM users WHERE username = ? AND active = ?", (username, True)
    )
    if not list(rows):
        raise ValidationError(field_name, f"no active user named {username!r}")


def _rowid(rowid: int | None) -> int:
    if rowid is None:  # pragma: no cover - an INSERT always sets one
        raise StoreError("insert returned no row id")
    return rowid


def _child_rows(
    customer_id: int, data: CustomerInput | CustomerPatch, start: int = 0
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    phones = [
        (customer_id, start + i, p.number, p.e164, p.type) for i, p in enumerate(data.phones or ())
    ]
    emails = [(customer_id, start + i, e.address, e.type) for i, e in enumerate(data.emails or ())]
    addresses = [
        (customer_id, start + i, a.type, a.street, a.postcode, a.city, a.region, a.country)
        for i, a in enumerate(data.addresses or ())
    ]
    return phones, emails, addresses


_INSERT_PHONE = (
    "INSERT INTO customer_phones (customer_id, position, number, e164, type) VALUES (?, ?, ?, ?, ?)"
)
_INSERT_EMAIL = (
    "INSERT INTO customer_emails (customer_id, position, address, type) VALUES (?, ?, ?, ?)"
)
_INSERT_ADDRESS = (
    "INSERT INTO customer_addresses"
    " (customer_id, position, type, street, postcode, city, region, country)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CUSTOMER = (
    "INSERT INTO customers (id, kind, name, company, language, region, time_zone, tags, custom,"
    " owner, may_call, may_record, marketing, do_not_call, is_stub, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _customer_values(
    customer_id: int | None, data: CustomerInput, now: str, *, stub: bool = False
) -> tuple[Any, ...]:
    return (
        customer_id,
        data.kind.value,
        data.name,
        data.company,
        data.language,
        data.region,
        data.time_zone,
        _dumps(list(data.tags)) if data.tags else "[]",
        _dumps(dict(data.custom)) if data.custom else "{}",
        data.owner,
        data.consent.may_call,
        data.consent.may_record,
        data.consent.marketing,
        data.do_not_call,
        stub,
        now,
        now,
    )


async def _insert_children(
    conn: aiosqlite.Connection,
    phones: list[tuple[Any, ...]],
    emails: list[tuple[Any, ...]],
    addresses: list[tuple[Any, ...]],
) -> None:
    if phones:
        await conn.executemany(_INSERT_PHONE, phones)
    if emails:
        await conn.executemany(_INSERT_EMAIL, emails)
    if addresses:
        await conn.executemany(_INSERT_ADDRESS, addresses)


def _stub_name(name: str, number: str) -> str:
    """Caller ID names worth keeping: not empty, not the number again, not a placeholder."""
    cleaned = name.strip()
    if not cleaned or cleaned.strip("<>").lower() in {"unknown", "anonymous", "restricted"}:
        return ""
    if not any(ch.isalpha() for ch in cleaned) or cleaned == number:
        return ""
    return cleaned


class Customers:
    """Repository of customers, their contact data, caller lookup, stubs and merges."""

    def __init__(
        self, db: Database, numbers: PhoneNumbers, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._numbers = numbers
        self._clock = clock

    def _now(self) -> str:
        stamp = iso(self._clock())
        assert stamp is not None
        return stamp

    # --- create / read / update ------------------------------------------------------------

    async def create(self, data: CustomerInput) -> dict[str, Any]:
        now = self._now()
        async with self._db.transaction() as conn:
            await check_user(conn, data.owner, "owner")
            cursor = await conn.execute(_INSERT_CUSTOMER, _customer_values(None, data, now))
            customer_id = _rowid(cursor.lastrowid)
            await cursor.close()
            await _insert_children(conn, *_child_rows(customer_id, data))
            await search.put_customers(
                conn,
                [(customer_id, data.name, data.company, " ".join(e.address for e in data.emails))],
            )
            [created] = await load_customers(conn, [customer_id])
        return created

    async def get(self, customer_id: int) -> dict[str, Any]:
        async with self._db.reading() as conn:
            found = await load_customers(conn, [customer_id])
        if not found:
            raise NotFoundError(f"no customer {customer_id}")
        return found[0]

    async def get_many(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        async with self._db.reading() as conn:
            return await load_customers(conn, ids)

    async def update(
        self, customer_id: int, patch: CustomerPatch, *, changed_by: str = "system"
    ) -> dict[str, Any]:
        """Apply ``patch``. A stub someone edits becomes a real customer (``is_stub`` false);
        a merged record cannot be changed (:class:`ConflictError`: change the kept one).
        Every consent flag and do-not-call that changes value is recorded in
        ``consent_changes`` with ``changed_by`` and the time."""
        unknown = set(patch.values) - set(PATCHABLE)
        if unknown:
            raise ValidationError(sorted(unknown)[0], "not a field that can be changed")
        now = self._now()
        async with self._db.transaction() as conn:
            row = customer_row_data(await customer_row(conn, customer_id))
            if row["merged_into"] is not None:
                raise ConflictError(
                    f"customer {customer_id} was merged into {row['merged_into']}; change that"
                )
            if "owner" in patch.values:
                await check_user(conn, patch.values["owner"], "owner")
            assignments = ["updated_at = ?", "is_stub = ?"]
            params: list[Any] = [now, False]
            for name, value in patch.values.items():
                assignments.append(f"{name} = ?")
                if name == "kind":
                    value = Kind(value).value
                elif name == "tags":
                    value = _dumps(list(value))
                elif name == "custom":
                    value = _dumps(dict(value))
                params.append(value)
            params.append(customer_id)
            await conn.execute(
                f"UPDATE customers SET {', '.join(assignments)} WHERE id = ?", params
            )
            consent = [
                (customer_id, name, bool(row[name]), bool(patch.values[name]), changed_by, now)
                for name in CONSENT_FIELDS
                if name in patch.values and bool(patch.values[name]) != bool(row[name])
            ]
            if consent:
                await conn.executemany(
                    "INSERT INTO consent_changes (customer_id, field, old_value, new_value,"
                    " changed_by, changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    consent,
                )
            for table, given in (
                ("customer_phones", patch.phones),
                ("customer_emails", patch.emails),
                ("customer_addresses", patch.addresses),
            ):
                if given is not None:
                    await conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (customer_id,))
            await _insert_children(conn, *_child_rows(customer_id, patch))
            await search.reindex_customers(conn, [customer_id])
            [updated] = await load_customers(conn, [customer_id])
        return updated

    async def query(
        self, where: CustomerFilter, *, limit: int, after: int | None = None
    ) -> CustomerPage:
        """Live (not merged) customers matching ``where``, by id."""
        clauses, params = compile_filter(where, now=self._clock())
        clauses.append("c.merged_into IS NULL")
        if after is not None:
            clauses.append("c.id > ?")
            params.append(after)
        sql = f"SELECT c.id FROM customers c WHERE {' AND '.join(clauses)} ORDER BY c.id LIMIT ?"
        params.append(limit + 1)
        async with self._db.reading() as conn:
            ids = [int(row[0]) for row in await conn.execute_fetchall(sql, params)]
            items = await load_customers(conn, ids[:limit])
        return CustomerPage(items, items[-1]["id"] if len(ids) > limit else None)

    async def pages(self, *, size: int = 1000) -> AsyncIterator[list[dict[str, Any]]]:
        """Every live customer, a page at a time (for CSV export); the lock is released
        between pages, so an export of a million customers does not stall the server."""
        after = 0
        while True:
            async with self._db.reading() as conn:
                rows = await conn.execute_fetchall(
                    "SELECT c.id FROM customers c WHERE c.merged_into IS NULL AND c.id > ?"
                    " ORDER BY c.id LIMIT ?",
                    (after, size),
                )
                page = await load_customers(conn, [int(row[0]) for row in rows])
            if not page:
                return
            yield page
            after = page[-1]["id"]

    # --- caller lookup ---------------------------------------------------------------------

    async def lookup(self, number: str) -> Lookup:
        """The customers having ``number`` in whatever form it comes (``+4930…``, ``004930…``,
        ``030 …``, digits only). The first reading of the number that matches anyone decides;
        all customers sharing that number are returned, by id."""
        keys = self._numbers.lookup_keys(number)
        if not keys:
            return Lookup(keys, None, [])
        async with self._db.snapshot() as conn:
            matches = await _match(conn, keys)
            for key in keys:
                if key in matches:
                    return Lookup(keys, key, await load_customers(conn, matches[key]))
        return Lookup(keys, None, [])

    async def search(self, text: str, *, limit: int) -> list[dict[str, Any]]:
        """Full-text search; each customer carries ``matched``: ``customer`` or ``note``."""
        async with self._db.reading() as conn:
            hits = await search.search(conn, text, limit=limit)
            found = await load_customers(conn, [hit.customer_id for hit in hits])
        matched = {hit.customer_id: hit.matched for hit in hits}
        return [
            {**customer, "matched": matched[customer["id"]]}
            for customer in found
            if customer["merged_into"] is None
        ]

    # --- calls -----------------------------------------------------------------------------

    async def link_calls(self, conn: aiosqlite.Connection, call_ids: Sequence[str]) -> int:
        """Link the given logged calls that have no customer yet (the call log's linker: runs
        in its insert transaction). Inbound calls go by the caller's number, outbound ones by
        the called number; internal calls and numbers that are not real (extensions,
        ``anonymous``) stay unlinked. An unknown real number gets a stub customer, named
        after the caller ID name if there is one. Returns how many links were made.

        Idempotent: a call linked before, or blanked by an erasure, is left alone, so the
        call log may hand over a batch that contains duplicates."""
        pending: list[tuple[str, str, str, str]] = []
        for chunk in chunks(list(call_ids)):
            rows = await conn.execute_fetchall(
                "SELECT l.call_id, l.direction, l.caller_number, l.caller_name,"
                " l.called_number, l.started_at FROM call_log l"
                f" WHERE l.call_id IN ({_marks(chunk)})"
                " AND l.direction IN ('inbound', 'outbound')"
                " AND NOT EXISTS (SELECT 1 FROM customer_calls x WHERE x.call_id = l.call_id)",
                chunk,
            )
            for call_id, direction, caller, caller_name, called, started_at in rows:
                number = caller if direction == "inbound" else called
                name = caller_name if direction == "inbound" else ""
                if number:
                    pending.append((call_id, number, name, started_at))
        if not pending:
            return 0
        keys_by_call = {
            call_id: self._numbers.lookup_keys(number) for call_id, number, _, _ in pending
        }
        matches = await _match(conn, sorted({k for keys in keys_by_call.values() for k in keys}))
        now = self._now()
        links: list[tuple[int, str, str]] = []
        for call_id, number, name, started_at in pending:
            owners = next((matches[k] for k in keys_by_call[call_id] if k in matches), None)
            if owners is None:
                e164 = self._numbers.stub_number(number)
                if e164 is None:
                    continue
                stub = await _create_stub(conn, number, e164, _stub_name(name, number), now)
                owners = matches[e164] = [stub]
            links += [(customer_id, call_id, started_at) for customer_id in owners]
        if links:
            await conn.executemany(
                "INSERT INTO customer_calls (customer_id, call_id, started_at) VALUES (?, ?, ?)"
                " ON CONFLICT (customer_id, call_id) DO NOTHING",
                links,
            )
            await conn.executemany(
                "UPDATE customers SET last_contact_at = ? WHERE id = ?"
                " AND (last_contact_at IS NULL OR last_contact_at < ?)",
                [(started_at, customer_id, started_at) for customer_id, _, started_at in links],
            )
        return len(links)

    async def ensure_for_number(self, number: str, name: str = "") -> list[int]:
        """The customers having ``number``; a new stub if none and the number is real; empty
        for numbers that are not (for a screen pop that wants a record to write notes on)."""
        keys = self._numbers.lookup_keys(number)
        async with self._db.transaction() as conn:
            matches = await _match(conn, keys)
            for key in keys:
                if key in matches:
                    return matches[key]
            e164 = self._numbers.stub_number(number)
            if e164 is None:
                return []
            return [await _create_stub(conn, number, e164, _stub_name(name, number), self._now())]

    # --- merge -----------------------------------------------------------------------------

    async def merge(self, keep_id: int, other_id: int) -> dict[str, Any]:
        """Move everything of ``other_id`` to ``keep_id`` and mark ``other_id`` merged."""
        if keep_id == other_id:
            raise ValidationError("other", "cannot merge a customer into itself")
        async with self._db.transaction() as conn:
            await merge_into(conn, keep_id, other_id, self._now())
            [kept] = await load_customers(conn, [keep_id])
        return kept

    # --- bulk import -----------------------------------------------------------------------

    async def import_batch(self, rows: Sequence[tuple[int, CustomerInput]]) -> ImportBatchResult:
        """Insert a batch of imported rows in one transaction, deduplicating by E.164 number:
        a row sharing a number with an existing customer (or an earlier row) is skipped as a
        duplicate; a row whose numbers belong only to stubs is imported and the stubs merged
        into it (their calls and notes join the real record). A row naming an owner who is
        not an active user is rejected."""
        result = ImportBatchResult()
        if not rows:
            return result
        now = self._now()
        async with self._db.transaction() as conn:
            numbers = sorted({p.e164 for _, data in rows for p in data.phones})
            existing = await _match_with_stub_flag(conn, numbers)
            owners = sorted({data.owner for _, data in rows if data.owner is not None})
            known_owners = await _active_users(conn, owners)
            next_id = await _next_customer_id(conn)
            customers: list[tuple[Any, ...]] = []
            phones: list[tuple[Any, ...]] = []
            emails: list[tuple[Any, ...]] = []
            addresses: list[tuple[Any, ...]] = []
            documents: list[search.CustomerDocument] = []
            stub_merges: list[tuple[int, int, int]] = []
            seen: dict[str, int] = {}
            for row_number, data in rows:
                if data.owner is not None and data.owner not in known_owners:
                    result.rejected.append(
                        (row_number, "owner", f"no active user named {data.owner!r}")
                    )
                    continue
                duplicate = _duplicate_of(data, existing, seen)
                if duplicate is not None:
                    result.duplicates.append((row_number, *duplicate))
                    continue
                customer_id = next_id
                next_id += 1
                for phone in data.phones:
                    seen.setdefault(phone.e164, customer_id)
                customers.append(_customer_values(customer_id, data, now))
                kids = _child_rows(customer_id, data)
                phones += kids[0]
                emails += kids[1]
                addresses += kids[2]
                documents.append(
                    (customer_id, data.name, data.company, " ".join(e.address for e in data.emails))
                )
                result.imported.append((row_number, customer_id))
                stubs = {s for p in data.phones for s, _ in existing.get(p.e164, [])}
                stub_merges += [(row_number, customer_id, stub) for stub in sorted(stubs)]
            if customers:
                await conn.executemany(_INSERT_CUSTOMER, customers)
                await _insert_children(conn, phones, emails, addresses)
                await search.put_customers(conn, documents)
            for row_number, customer_id, stub in stub_merges:
                await merge_into(conn, customer_id, stub, now, prefer_other=False)
                result.stubs_completed.append((row_number, stub))
        return result


def _duplicate_of(
    data: CustomerInput, existing: Mapping[str, list[tuple[int, bool]]], seen: Mapping[str, int]
) -> tuple[int, str] | None:
    """(customer id, number) of a real customer or an earlier row sharing a number."""
    for phone in data.phones:
        for customer_id, is_stub in existing.get(phone.e164, []):
            if not is_stub:
                return customer_id, phone.e164
        if phone.e164 in seen:
            return seen[phone.e164], phone.e164
    return None


async def _match(conn: aiosqlite.Connection, keys: Sequence[str]) -> dict[str, list[int]]:
    """E.164 number -> ids of the live customers having it (index-only lookups)."""
    found: dict[str, list[int]] = {}
    for chunk in chunks(list(keys)):
        rows = await conn.execute_fetchall(
            "SELECT p.e164, p.customer_id FROM customer_phones p"
            " JOIN customers c ON c.id = p.customer_id"
            f" WHERE p.e164 IN ({_marks(chunk)}) AND c.merged_into IS NULL"
            " ORDER BY p.e164, p.customer_id",
            chunk,
        )
        for e164, customer_id in rows:
            owners = found.setdefault(str(e164), [])
            if int(customer_id) not in owners:
                owners.append(int(customer_id))
    return found


async def _match_with_stub_flag(
    conn: aiosqlite.Connection, keys: Sequence[str]
) -> dict[str, list[tuple[int, bool]]]:
    found: dict[str, list[tuple[int, bool]]] = {}
    for chunk in chunks(list(keys)):
        rows = await conn.execute_fetchall(
            "SELECT p.e164, p.customer_id, c.is_stub FROM customer_phones p"
            " JOIN customers c ON c.id = p.customer_id"
            f" WHERE p.e164 IN ({_marks(chunk)}) AND c.merged_into IS NULL",
            chunk,
        )
        for e164, customer_id, is_stub in rows:
            found.setdefault(str(e164), []).append((int(customer_id), bool(is_stub)))
    return found


async def _active_users(conn: aiosqlite.Connection, names: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for chunk in chunks(list(names)):
        rows = await conn.execute_fetchall(
            f"SELECT username FROM users WHERE active = ? AND username IN ({_marks(chunk)})",
            [True, *chunk],
        )
        known.update(str(row[0]) for row in rows)
    return known


async def _next_customer_id(conn: aiosqlite.Connection) -> int:
    """Ids for a batch are handed out here, under the write lock of its transaction."""
    rows = list(await conn.execute_fetchall("SELECT COALESCE(MAX(id), 0) FROM customers"))
    return int(rows[0][0]) + 1


async def _create_stub(
    conn: aiosqlite.Connection, number: str, e164: str, name: str, now: str
) -> int:
    cursor = await conn.execute(
        _INSERT_CUSTOMER, _customer_values(None, CustomerInput(name=name), now, stub=True)
    )
    stub_id = _rowid(cursor.lastrowid)
    await cursor.close()
    await conn.execute(_INSERT_PHONE, (stub_id, 0, number, e164, "main"))
    await search.put_customers(conn, [(stub_id, name, "", "")])
    return stub_id


def _merged_fields(
    keep: dict[str, Any], other: dict[str, Any], prefer_other: bool
) -> dict[str, Any]:
    """The kept record's fields after absorbing ``other``.

    A stub yields to a real record: when ``keep`` is a stub and ``other`` is not, the other's
    values win (``prefer_other``). Otherwise the kept values win and empty ones are filled
    in. Tags are united, custom fields combined (the winner's keys first). Consent of two real
    records: the more restrictive (may_* only if both allow; do-not-call if either says so).
    """
    keep_stub, other_stub = bool(keep["is_stub"]), bool(other["is_stub"])
    winner, loser = (other, keep) if prefer_other else (keep, other)
    merged: dict[str, Any] = {}
    for name in ("kind", "name", "company", "language", "region", "time_zone", "owner"):
        merged[name] = winner[name] if winner[name] not in (None, "") else loser[name]
    tags = json.loads(winner["tags"])
    tags += [t for t in json.loads(loser["tags"]) if t not in tags]
    merged["tags"] = _dumps(tags)
    merged["custom"] = _dumps({**json.loads(loser["custom"]), **json.loads(winner["custom"])})
    if keep_stub != other_stub:
        real = other if keep_stub else keep
        for name in ("may_call", "may_record", "marketing", "do_not_call"):
            merged[name] = bool(real[name])
    else:
        for name in ("may_call", "may_record", "marketing"):
            merged[name] = bool(keep[name]) and bool(other[name])
        merged["do_not_call"] = bool(keep["do_not_call"]) or bool(other["do_not_call"])
    merged["is_stub"] = keep_stub and other_stub
    contacts = [c for c in (keep["last_contact_at"], other["last_contact_at"]) if c]
    merged["last_contact_at"] = max(contacts) if contacts else None
    return merged


async def merge_into(
    conn: aiosqlite.Connection,
    keep_id: int,
    other_id: int,
    now: str,
    *,
    prefer_other: bool | None = None,
) -> None:
    """Merge ``other_id`` into ``keep_id`` inside the caller's transaction (see
    :meth:`Customers.merge`). Phones and emails the kept record already has are not
    duplicated; records earlier merged into ``other_id`` now point at ``keep_id``."""
    keep = customer_row_data(await customer_row(conn, keep_id))
    other = customer_row_data(await customer_row(conn, other_id))
    for row in (keep, other):
        if row["merged_into"] is not None:
            raise ConflictError(
                f"customer {row['id']} was already merged into {row['merged_into']}"
            )
    if prefer_other is None:
        prefer_other = bool(keep["is_stub"]) and not bool(other["is_stub"])
    fields = _merged_fields(keep, other, prefer_other)
    await conn.execute(
        f"UPDATE customers SET {', '.join(f'{name} = ?' for name in fields)}, updated_at = ?"
        " WHERE id = ?",
        [*fields.values(), now, keep_id],
    )
    already = {
        "customer_phones": "e164 NOT IN (SELECT e164 FROM customer_phones WHERE customer_id = ?)",
        "customer_emails": "LOWER(address) NOT IN"
        " (SELECT LOWER(address) FROM customer_emails WHERE customer_id = ?)",
        "customer_addresses": None,
    }
    for table, not_yet_kept in already.items():
        rows = list(
            await conn.execute_fetchall(
                f"SELECT COALESCE(MAX(position), -1) FROM {table} WHERE customer_id = ?",
                (keep_id,),
            )
        )
        offset = int(rows[0][0]) + 1
        sql = f"UPDATE {table} SET customer_id = ?, position = position + ? WHERE customer_id = ?"
        params: list[Any] = [keep_id, offset, other_id]
        if not_yet_kept is not None:
            sql += f" AND {not_yet_kept}"
            params.append(keep_id)
        await conn.execute(sql, params)
        await conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (other_id,))
    for table in (
        "notes",
        "dispositions",
        "callbacks",
        "tickets",
        "channel_interactions",
        "consent_changes",
        "orders",
        "contracts",
    ):
        await conn.execute(
            f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (keep_id, other_id)
        )
    await conn.execute(
        "INSERT INTO customer_calls (customer_id, call_id, started_at)"
        " SELECT ?, call_id, started_at FROM customer_calls WHERE customer_id = ?"
        " ON CONFLICT (customer_id, call_id) DO NOTHING",
        (keep_id, other_id),
    )
    await conn.execute("DELETE FROM customer_calls WHERE customer_id = ?", (other_id,))
    await conn.execute(
        "UPDATE customers SET merged_into = ?, updated_at = ? WHERE id = ? OR merged_into = ?",
        (keep_id, now, other_id, other_id),
    )
    await search.drop_customers(conn, [other_id])
    await search.reindex_customers(conn, [keep_id])


__all__ = [
    "PATCHABLE",
    "Address",
    "Consent",
    "CustomerInput",
    "CustomerPage",
    "CustomerPatch",
    "Customers",
    "Email",
    "ImportBatchResult",
    "Kind",
    "Lookup",
    "Phone",
    "PhoneNumbers",
]

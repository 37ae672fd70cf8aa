"""Customers in the store: contact data, caller lookup, stubs from the call log, merge,
search, segments and the bulk-import batch - on real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.crm.customers import parse_customer, parse_patch
from callcenter.crm.phones import PhoneNormalizer
from callcenter.errors import NotFoundError
from callcenter.model.records import Direction
from callcenter.store import (
    Accounts,
    CallLog,
    ConflictError,
    CustomerFilter,
    Customers,
    Database,
    Interactions,
    Role,
    Segments,
    TicketKind,
    ValidationError,
)

NUMBERS = PhoneNormalizer("DE")
NOW = 1714550400.0  # 2024-05-01T08:00:00Z
DAY = 86400.0


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def customers(db: Database, clock: list[float]) -> Customers:
    return Customers(db, NUMBERS, clock=lambda: clock[0])


@pytest.fixture
def call_log(db: Database, customers: Customers) -> CallLog:
    return CallLog(db, linker=customers.link_calls)


@pytest.fixture
def interactions(db: Database, clock: list[float]) -> Interactions:
    return Interactions(db, clock=lambda: clock[0])


async def create(customers: Customers, **body: Any) -> dict[str, Any]:
    return await customers.create(parse_customer(body, NUMBERS))


def rows(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as raw:
        return raw.execute(sql, params).fetchall()


# --- create / read / update ------------------------------------------------------------------


async def test_create_returns_the_public_shape(customers: Customers) -> None:
    created = await create(
        customers,
        name="Anna Müller",
        company="ACME GmbH",
        language="de",
        region="de",
        time_zone="Europe/Berlin",
        tags=["vip", "vip", "reseller"],
        custom={"contract": "A-17", "seats": 12},
        consent={"may_record": True},
        phones=["030 123456", {"number": "+49 151 12345678", "type": "mobile"}],
        emails=["anna@example.com"],
        addresses=[{"street": "Unter den Linden 1", "postcode": "10117", "city": "Berlin"}],
    )
    assert created["id"] == 1
    assert created["phones"] == [
        {"number": "030 123456", "e164": "+4930123456", "type": "main"},
        {"number": "+49 151 12345678", "e164": "+4915112345678", "type": "mobile"},
    ]
    assert created["emails"] == [{"address": "anna@example.com", "type": "main"}]
    assert created["addresses"][0]["city"] == "Berlin"
    assert created["tags"] == ["vip", "reseller"]
    assert created["custom"] == {"contract": "A-17", "seats": 12}
    assert created["consent"] == {"may_call": True, "may_record": True, "marketing": False}
    assert created["region"] == "DE"
    assert created["is_stub"] is False
    assert created["created_at"] == "2024-05-01T08:00:00Z"
    assert await customers.get(1) == created


async def test_owner_must_be_a_user(db: Database, customers: Customers) -> None:
    with pytest.raises(ValidationError) as info:
        await create(customers, name="X", owner="ghost")
    assert info.value.field == "owner"
    await Accounts(db).add_user("alice", Role.AGENT, "h", extension=None, now=NOW)
    assert (await create(customers, name="X", owner="Alice"))["owner"] == "alice"


async def test_update_replaces_only_what_is_given(customers: Customers, clock: list[float]) -> None:
    created = await create(customers, name="Anna", phones=["030 123456"], tags=["a"])
    clock[0] += 60
    patch = parse_patch(
        {"company": "ACME", "consent": {"marketing": True}, "phones": ["040 999888"]}, NUMBERS
    )
    updated = await customers.update(created["id"], patch)
    assert updated["name"] == "Anna"
    assert updated["company"] == "ACME"
    assert updated["tags"] == ["a"]
    assert updated["consent"]["marketing"] is True
    assert updated["consent"]["may_call"] is True
    assert [p["e164"] for p in updated["phones"]] == ["+4940999888"]
    assert updated["updated_at"] == "2024-05-01T08:01:00Z"
    assert (await customers.lookup("030 123456")).customers == []
    with pytest.raises(NotFoundError):
        await customers.update(999, patch)


# --- caller lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "asked", ["+4930123456", "004930123456", "030 123456", "030123456", "4930123456"]
)
async def test_lookup_finds_national_and_e164_forms(customers: Customers, asked: str) -> None:
    await create(customers, name="Berlin", phones=["+49 30 123456"])
    await create(customers, name="Hamburg", phones=["040 123456"])
    found = await customers.lookup(asked)
    assert found.e164 == "+4930123456"
    assert [c["name"] for c in found.customers] == ["Berlin"]


async def test_a_shared_number_returns_every_candidate(customers: Customers) -> None:
    first = await create(customers, name="Anna", phones=["030 555 0100"])
    second = await create(customers, name="Ben", phones=["+49305550100"])
    await create(customers, name="Other", phones=["030 555 0101"])
    found = await customers.lookup("0049 30 5550100")
    assert [c["id"] for c in found.customers] == [first["id"], second["id"]]


async def test_lookup_of_unknown_or_bogus_numbers(customers: Customers) -> None:
    await create(customers, name="Anna", phones=["030 123456"])
    assert (await customers.lookup("040 000000")).customers == []
    nothing = await customers.lookup("anonymous")
    assert (nothing.keys, nothing.customers) == ((), [])


async def test_lookup_uses_the_phone_index(db_path: Path, customers: Customers) -> None:
    await create(customers, name="Anna", phones=["030 123456"])
    plan = rows(
        db_path,
        "EXPLAIN QUERY PLAN SELECT p.e164, p.customer_id FROM customer_phones p"
        " JOIN customers c ON c.id = p.customer_id"
        " WHERE p.e164 IN (?, ?) AND c.merged_into IS NULL",
        "+4930123456",
        "+49123",
    )
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING COVERING INDEX customer_phones_e164" in details
    assert "SCAN" not in details


# --- stubs and call linking ----------------------------------------------------------------------


async def test_the_call_log_links_calls_and_creates_stubs(
    customers: Customers, call_log: CallLog, make_call: Any, db_path: Path
) -> None:
    known = await create(customers, name="Anna", phones=["030 123456"])
    await call_log.add_many(
        [
            make_call("in-known", caller_number="+4930123456"),
            make_call("in-new", caller_number="040 999888", caller_name="Bob Bauer"),
            make_call("in-new-again", started_at=NOW + 60, caller_number="+4940999888"),
            make_call("in-anon", caller_number="anonymous", caller_name="anonymous"),
            make_call("in-ext", caller_number="2001"),
            make_call(
                "out", direction=Direction.OUTBOUND, caller_number="2001", called_number="030123456"
            ),
            make_call("internal", direction=Direction.INTERNAL, caller_number="+4930123456"),
        ]
    )
    stub = (await customers.lookup("+4940999888")).customers
    assert [(c["name"], c["is_stub"]) for c in stub] == [("Bob Bauer", True)]
    assert stub[0]["phones"] == [{"number": "040 999888", "e164": "+4940999888", "type": "main"}]
    links = rows(db_path, "SELECT call_id, customer_id FROM customer_calls ORDER BY call_id")
    assert links == [
        ("in-known", known["id"]),
        ("in-new", stub[0]["id"]),
        ("in-new-again", stub[0]["id"]),
        ("out", known["id"]),
    ]
    assert rows(db_path, "SELECT COUNT(*) FROM customers") == [(2,)]
    assert stub[0]["last_contact_at"] == "2024-05-01T08:01:00Z"


async def test_linking_is_idempotent(
    customers: Customers, call_log: CallLog, make_call: Any, db_path: Path
) -> None:
    await call_log.add(make_call("c1", caller_number="040 999888"))
    await call_log.add(make_call("c1", caller_number="040 999888"))
    await call_log.add_many([make_call("c1", caller_number="040 999888")] * 3)
    assert rows(db_path, "SELECT COUNT(*) FROM customers") == [(1,)]
    assert rows(db_path, "SELECT COUNT(*) FROM customer_calls") == [(1,)]


async def test_a_failing_linker_never_costs_the_call(
    db: Database, make_call: Any, db_path: Path
) -> None:
    async def broken(conn: Any, call_ids: Any) -> int:
        await conn.execute("INSERT INTO customers (id) VALUES (NULL)")  # violates NOT NULL
        return 0

    log = CallLog(db, linker=broken)
    assert await log.add_many([make_call("c1"), make_call("c2")]) == 2
    assert rows(db_path, "SELECT COUNT(*) FROM call_log") == [(2,)]
    assert rows(db_path, "SELECT COUNT(*) FROM customers") == [(0,)]


async def test_ensure_for_number(customers: Customers) -> None:
    [stub] = await customers.ensure_for_number("040 999888", "<unknown>")
    assert await customers.ensure_for_number("+4940999888") == [stub]
    assert (await customers.get(stub))["name"] == ""
    assert await customers.ensure_for_number("2001") == []


# --- merge ---------------------------------------------------------------------------------------


async def test_merge_moves_everything_to_the_kept_record(
    customers: Customers,
    call_log: CallLog,
    interactions: Interactions,
    make_call: Any,
    db_path: Path,
) -> None:
    await call_log.add(make_call("c1", caller_number="040 999888", caller_name="Bob"))
    [stub] = (await customers.lookup("040 999888")).customers
    await interactions.add_note(stub["id"], author="ann", body="called about invoice 42")
    await interactions.add_ticket(
        stub["id"], kind=TicketKind.COMPLAINT, subject="late", created_by="ann", calls=["c1"]
    )
    real = await create(
        customers,
        name="Bob Bauer",
        tags=["vip"],
        phones=["+49 40 999888", "030 111111"],
        emails=["bob@example.com"],
        consent={"may_record": True},
    )
    merged = await customers.merge(real["id"], stub["id"])
    assert merged["name"] == "Bob Bauer"
    assert merged["is_stub"] is False
    assert [p["e164"] for p in merged["phones"]] == ["+4940999888", "+4930111111"]
    assert merged["consent"]["may_record"] is True
    assert merged["last_contact_at"] == "2024-05-01T08:00:00Z"
    timeline = await interactions.timeline(real["id"])
    assert sorted(e["type"] for e in timeline) == ["call", "note", "ticket"]
    tombstone = await customers.get(stub["id"])
    assert tombstone["merged_into"] == real["id"]
    assert tombstone["phones"] == []
    assert [c["id"] for c in (await customers.lookup("040 999888")).customers] == [real["id"]]
    assert [c["id"] for c in await customers.search("invoice", limit=5)] == [real["id"]]
    # A new call from the number goes to the kept record; notes to the tombstone follow.
    await call_log.add(make_call("c2", started_at=NOW + 99, caller_number="+4940999888"))
    assert rows(db_path, "SELECT customer_id FROM customer_calls WHERE call_id = 'c2'") == [
        (real["id"],)
    ]
    note = await interactions.add_note(stub["id"], author="ann", body="later")
    assert note["customer_id"] == real["id"]
    with pytest.raises(ConflictError):
        await customers.merge(real["id"], stub["id"])
    with pytest.raises(ValidationError):
        await customers.merge(real["id"], real["id"])


async def test_merging_two_real_records_keeps_the_stricter_consent(customers: Customers) -> None:
    a = await create(customers, name="A", tags=["x"], consent={"marketing": True})
    b = await create(customers, name="", company="B Ltd", tags=["y", "x"], do_not_call=True)
    merged = await customers.merge(a["id"], b["id"])
    assert merged["name"] == "A"
    assert merged["company"] == "B Ltd"
    assert merged["tags"] == ["x", "y"]
    assert merged["consent"]["marketing"] is False
    assert merged["do_not_call"] is True


# --- search --------------------------------------------------------------------------------------


async def test_search_over_names_companies_emails_and_notes(
    customers: Customers, interactions: Interactions
) -> None:
    anna = await create(customers, name="Anna Müller", emails=["anna@firma.example"])
    acme = await create(customers, name="Zed", company="ACME Rohrbau")
    await interactions.add_note(acme["id"], author="x", body="Wants a quote for the Heizung")

    async def names(text: str) -> list[str]:
        return [c["name"] for c in await customers.search(text, limit=10)]

    assert await names("muller") == ["Anna Müller"]
    assert await names("MÜLL") == ["Anna Müller"]
    assert await names("firma") == ["Anna Müller"]
    assert await names("rohrbau") == ["Zed"]
    assert await names("heizung") == ["Zed"]
    assert await names("anna zed") == []
    assert await names('"; DROP TABLE customers; --') == []
    assert await names("") == []
    await customers.update(anna["id"], parse_patch({"name": "Anna Schmidt"}, NUMBERS))
    assert await names("muller") == []
    assert await names("schmidt") == ["Anna Schmidt"]
    [hit] = await customers.search("heizung", limit=10)
    assert hit["matched"] == "note"


async def test_the_index_is_rebuilt_if_missing(db_path: Path, customers: Customers) -> None:
    await create(customers, name="Anna Müller")
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TABLE customer_search")
    again = await Database.open(db_path)
    try:
        found = await Customers(again, NUMBERS).search("muller", limit=5)
    finally:
        await again.close()
    assert [c["name"] for c in found] == ["Anna Müller"]


# --- segments ------------------------------------------------------------------------------------


async def test_segments_no_contact_for_90_days_and_an_open_complaint(
    db: Database,
    customers: Customers,
    call_log: CallLog,
    interactions: Interactions,
    clock: list[float],
    make_call: Any,
) -> None:
    quiet = await create(customers, name="Quiet", phones=["030 111111"], tags=["vip"])
    recent = await create(customers, name="Recent", phones=["030 222222"])
    await create(customers, name="Quiet, no complaint", phones=["030 333333"])
    await call_log.add(make_call("old", started_at=NOW, caller_number="030 111111"))
    for customer in (quiet, recent):
        await interactions.add_ticket(
            customer["id"], kind=TicketKind.COMPLAINT, subject="noise", created_by="x"
        )
    clock[0] = NOW + 100 * DAY
    await call_log.add(make_call("new", started_at=clock[0], caller_number="030 222222"))
    segments = Segments(db, clock=lambda: clock[0])
    where = CustomerFilter.from_mapping({"no_contact_days": 90, "open_ticket": "complaint"})
    segment = await segments.create("lapsed complainers", where, created_by="sue")
    page = await customers.query((await segments.get(segment.id)).filter, limit=10)
    assert [c["name"] for c in page.items] == ["Quiet"]
    vip = await customers.query(CustomerFilter(tag="vip"), limit=10)
    assert [c["name"] for c in vip.items] == ["Quiet"]
    with pytest.raises(ConflictError):
        await segments.create("lapsed complainers", where, created_by="sue")
    with pytest.raises(ValidationError) as info:
        CustomerFilter.from_mapping({"no_contact_days": "soon"})
    assert info.value.field == "no_contact_days"


async def test_customer_pages(customers: Customers) -> None:
    for i in range(5):
        await create(customers, name=f"c{i}")
    first = await customers.query(CustomerFilter(), limit=2)
    assert [c["name"] for c in first.items] == ["c0", "c1"]
    second = await customers.query(CustomerFilter(), limit=2, after=first.next_after)
    assert [c["name"] for c in second.items] == ["c2", "c3"]
    last = await customers.query(CustomerFilter(), limit=2, after=second.next_after)
    assert ([c["name"] for c in last.items], last.next_after) == (["c4"], None)
    pages = [[c["name"] for c in page] async for page in customers.pages(size=2)]
    assert pages == [["c0", "c1"], ["c2", "c3"], ["c4"]]


# --- bulk import ---------------------------------------------------------------------------------


async def test_import_batch_dedupes_by_phone_and_completes_stubs(
    customers: Customers, call_log: CallLog, make_call: Any
) -> None:
    existing = await create(customers, name="Existing", phones=["030 111111"])
    await call_log.add(make_call("c1", caller_number="040 999888"))
    [stub] = (await customers.lookup("040 999888")).customers
    batch = [
        (2, parse_customer({"name": "Dup of existing", "phones": ["+4930111111"]}, NUMBERS)),
        (3, parse_customer({"name": "New", "phones": ["089 123456"]}, NUMBERS)),
        (4, parse_customer({"name": "Dup of row 3", "phones": ["0049 89 123456"]}, NUMBERS)),
        (5, parse_customer({"name": "Stub owner", "phones": ["040 999888"]}, NUMBERS)),
        (6, parse_customer({"name": "No phone"}, NUMBERS)),
        (7, parse_customer({"name": "Bad owner", "owner": "ghost"}, NUMBERS)),
    ]
    result = await customers.import_batch(batch)
    new_ids = dict(result.imported)
    assert sorted(new_ids) == [3, 5, 6]
    assert result.duplicates == [(2, existing["id"], "+4930111111"), (4, new_ids[3], "+4989123456")]
    assert result.stubs_completed == [(5, stub["id"])]
    assert result.rejected == [(7, "owner", "no active user named 'ghost'")]
    [owner] = (await customers.lookup("040 999888")).customers
    assert (owner["id"], owner["name"], owner["is_stub"]) == (new_ids[5], "Stub owner", False)
    assert (await customers.get(stub["id"]))["merged_into"] == new_ids[5]
    assert [c["name"] for c in await customers.search("stub owner", limit=5)] == ["Stub owner"]

"""CSV import and export: mapping, bad rows reported by row number while good rows land,
dedupe by normalised phone, the CLI with its progress bar, and the export round trip."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import multiprocessing
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter import cli
from callcenter.crm.csv_export import CUSTOMER_COLUMNS, cell, customer_row, encode_rows
from callcenter.crm.csv_import import (
    CsvCustomers,
    ImportSummary,
    import_customers,
    parse_mapping,
)
from callcenter.crm.phones import PhoneNormalizer
from callcenter.store import CustomerFilter, Customers, Database, ValidationError

NUMBERS = PhoneNormalizer("DE")

GOOD_AND_BAD = (
    "Full Name,Company,Phone,Mobile,E-Mail,Tags,VIP flag,Fax\n"
    "Anna Müller,ACME,030 123456,,anna@example.com,vip;de,,\n"  # row 2
    "Ben,,not a number,,,,,\n"  # row 3: bad phone
    "Clara,,0049 40 999888,0151 12345678,clara@,,,\n"  # row 4: bad email
    ",,,,,,,\n"  # row 5: blank, skipped
    "David,,+49 40 999888,,,,,\n"  # row 6: fine
    "Emma,,,,,bad\u0001tag,,\n"  # row 7: bad tag
    'Franz,,089 123456,,,,,"ignored\nfax"\n'  # rows 8-9: a quoted cell over two lines
    "Greta,,+4930123456,,,,,\n"  # row 10: duplicate of row 2
    "Hans,too,many,cells,,,,,,\n"  # row 11: width
    "Ida,,,,,,,\n"  # row 12: fine (name only)
)
MAPPING = ["Full Name=name", "Mobile=phone.mobile", "E-Mail=email", "VIP flag="]


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


async def run(db: Database, text: str, mapping: list[str], **kwargs: Any) -> ImportSummary:
    reader = CsvCustomers(io.BytesIO(text.encode("utf-8")), NUMBERS, mapping=parse_mapping(mapping))
    return await import_customers(reader, Customers(db, NUMBERS), **kwargs)


async def test_good_rows_land_and_bad_rows_are_reported_by_row(db: Database) -> None:
    summary = await run(db, GOOD_AND_BAD, MAPPING, batch_size=2)
    result = summary.to_dict()
    assert result["errors"] == [
        {"row": 3, "reason": "Phone: not a phone number (numbers without + are read as DE)"},
        {"row": 4, "reason": "E-Mail: not an email address"},
        {
            "row": 7,
            "reason": "Tags: 1-64 letters, digits, spaces and . : / + & - (not starting with one)",
        },
        {"row": 11, "reason": "has 10 cells, the header has 8"},
    ]
    assert result["duplicate_rows"] == [{"row": 10, "customer_id": 1, "phone": "+4930123456"}]
    assert (result["rows"], result["imported"], result["duplicates"], result["failed"]) == (
        9,
        4,
        1,
        4,
    )
    assert result["ignored_columns"] == ["VIP flag", "Fax"]
    customers = Customers(db, NUMBERS)
    page = await customers.query(CustomerFilter(), limit=10)
    assert [c["name"] for c in page.items] == ["Anna Müller", "David", "Franz", "Ida"]
    anna = page.items[0]
    assert anna["company"] == "ACME"
    assert anna["tags"] == ["vip", "de"]
    assert anna["emails"] == [{"address": "anna@example.com", "type": "main"}]


async def test_columns_typed_lists_consent_custom_and_address(db: Database) -> None:
    text = (
        "name;phones;emails;may_record;do_not_call;custom.contract;street;city;country\n"
        "Anna;mobile:0151 12345678|work:030 123456;a@example.com|b@example.com;yes;0;"
        "A-17;Hauptstr. 1;Berlin;DE\n"
        "Ben;030 555;;maybe;;;;;\n"
    )
    summary = await run(db, text, [])
    assert summary.errors == [(3, "may_record: expected true/false, yes/no or 1/0")]
    [anna] = (await Customers(db, NUMBERS).query(CustomerFilter(), limit=5)).items
    assert [(p["type"], p["e164"]) for p in anna["phones"]] == [
        ("mobile", "+4915112345678"),
        ("work", "+4930123456"),
    ]
    assert [e["address"] for e in anna["emails"]] == ["a@example.com", "b@example.com"]
    assert anna["consent"]["may_record"] is True
    assert anna["do_not_call"] is False
    assert anna["custom"] == {"contract": "A-17"}
    assert anna["addresses"] == [
        {
            "type": "main",
            "street": "Hauptstr. 1",
            "postcode": "",
            "city": "Berlin",
            "region": "",
            "country": "DE",
        }
    ]


async def test_not_utf8_and_formula_prefix(db: Database) -> None:
    raw = b"name,company\n" + b"Bad \xff byte,x\n" + b"'=Ann,'+Co\n"
    reader = CsvCustomers(io.BytesIO(raw), NUMBERS)
    summary = await import_customers(reader, Customers(db, NUMBERS))
    assert summary.errors == [(2, "name: not valid UTF-8 text")]
    [ann] = (await Customers(db, NUMBERS).query(CustomerFilter(), limit=5)).items
    assert (ann["name"], ann["company"]) == ("=Ann", "+Co")


@pytest.mark.parametrize(
    ("mapping", "header", "message"),
    [
        (["Name=nope"], "Name\n", "'nope' is not a customer field"),
        (["Missing=name"], "Name\n", "no column 'Missing' in the header"),
        (["A=name", "B=name"], "A,B\n", "more than one column maps to 'name'"),
        ([], "Foo,Bar\n", "no column maps to a customer field"),
        (["justtext"], "Name\n", "expected COLUMN=FIELD"),
    ],
)
def test_bad_mappings(mapping: list[str], header: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CsvCustomers(io.BytesIO(header.encode()), NUMBERS, mapping=parse_mapping(mapping))


def test_empty_file() -> None:
    with pytest.raises(ValidationError, match="empty"):
        CsvCustomers(io.BytesIO(b""), NUMBERS)


async def test_worker_processes_give_the_same_result(db_path: Path, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        db = await Database.open(db_path)
        try:
            summary = await run(db, GOOD_AND_BAD, MAPPING, batch_size=3, workers=pool, depth=2)
        finally:
            await db.close()
    assert (summary.imported, summary.duplicates, summary.failed) == (4, 1, 4)
    assert sorted(row for row, _ in summary.errors) == [3, 4, 7, 11]


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(f"[db]\npath = '{tmp_path / 'cc.db'}'\n", encoding="utf-8")
    return path


def test_cli_import_prints_a_summary_and_a_progress_bar(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "customers.csv"
    source.write_text(GOOD_AND_BAD, encoding="utf-8")
    maps = [arg for item in MAPPING for arg in ("--map", item)]
    args = ["import", "customers", str(source), *maps, "--workers", "0", "--config", str(config)]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[:2] == [
        "9 rows: 4 imported (0 completing stub customers), 1 duplicates skipped, 4 failed",
        "ignored columns: VIP flag, Fax",
    ]
    assert "row 3: Phone: not a phone number" in out
    assert "row 10: duplicate of customer 1 (+4930123456)" in out
    assert "100.0% |" in err and "rows/s" in err
    with sqlite3.connect(tmp_path / "cc.db") as raw:
        assert raw.execute("SELECT COUNT(*) FROM customers").fetchone() == (4,)
        audit = raw.execute("SELECT actor, action, details FROM audit_log").fetchall()
    assert audit[0][0].startswith("cli") and audit[0][1] == "customers.import"
    assert json.loads(audit[0][2])["imported"] == 4


def test_cli_import_usage_errors(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "c.csv"
    source.write_text("Name\nAnn\n", encoding="utf-8")
    base = ["import", "customers", "--config", str(config), "--no-progress"]
    assert cli.main([*base, str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main([*base, str(source), "--map", "Name=nope"]) == 2
    assert "--map: 'nope' is not a customer field" in capsys.readouterr().err
    assert cli.main([*base, str(source), "--map", "Other=name"]) == 2
    assert "no column 'Other'" in capsys.readouterr().err


def test_progress_bar_without_a_terminal() -> None:
    out = io.StringIO()
    now = [0.0]
    bar = cli.ProgressBar(out, 1000, clock=lambda: now[0])
    for done in range(0, 1001, 50):
        now[0] += 1
        bar.update(done, done // 10)
    bar.update(1000, 100, final=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 12  # one per 10 %, and the final line
    assert lines[-1].startswith("100.0% |")


# --- export ------------------------------------------------------------------------------------


def test_cells_are_defused_but_phone_numbers_stay() -> None:
    assert [cell(v) for v in ("=1+1", "@SUM(A1)", "+49 30 123", "-5", "-x", None, True)] == [
        "'=1+1",
        "'@SUM(A1)",
        "+49 30 123",
        "-5",
        "'-x",
        "",
        "true",
    ]


async def test_export_reimports_to_the_same_customers(db: Database, db_path: Path) -> None:
    await run(db, GOOD_AND_BAD, MAPPING)
    customers = Customers(db, NUMBERS)
    exported = encode_rows(
        [list(CUSTOMER_COLUMNS)]
        + [customer_row(c) async for page in customers.pages() for c in page]
    )
    header = next(csv.reader(io.StringIO(exported.decode())))
    assert header == list(CUSTOMER_COLUMNS)
    other = await Database.open(db_path.with_name("other.db"))
    try:
        reader = CsvCustomers(io.BytesIO(exported), NUMBERS)
        summary = await import_customers(reader, Customers(other, NUMBERS))
        assert summary.failed == 0
        assert reader.summary.ignored_columns == [
            "id",
            "is_stub",
            "created_at",
            "updated_at",
            "last_contact_at",
            "custom",
        ]
        again = await Customers(other, NUMBERS).query(CustomerFilter(), limit=10)
    finally:
        await other.close()
    before = (await customers.query(CustomerFilter(), limit=10)).items
    keys = ("name", "company", "tags", "phones", "emails", "consent", "addresses")
    assert [{k: c[k] for k in keys} for c in again.items] == [
        {k: c[k] for k in keys} for c in before
    ]

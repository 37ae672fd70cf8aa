"""Campaign call lists uploaded as CSV.

UTF-8 (a BOM is fine) with a header row; the delimiter (``,``, ``;`` or tab) is detected from
the header as for the customer import. Columns, by header name (case-insensitive):

- ``phone`` (or ``number``), required: any form a person writes, normalised to E.164;
- ``customer_id``, optional: the customer the number belongs to; without it the number is
  looked up among the customers (do-not-call and consent are then theirs);
- ``priority``, optional integer, added to the campaign's priority.

Rows are numbered as lines of the file (the header is row 1). A bad row is reported with its
number and the reason and left out; the good rows make the list. A number repeated in the
file is called once (the store keeps the first).
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field

from callcenter.crm.csv_import import detect_delimiter
from callcenter.crm.phones import PhoneNormalizer
from callcenter.errors import NotFoundError, ValidationError
from callcenter.store.campaigns import ListEntry
from callcenter.store.customers import Customers

MAX_ROWS = 100_000
_PHONE_HEADERS = ("phone", "number")


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    number: str
    customer_id: int | None
    priority: int


@dataclass
class CallList:
    entries: list[ListEntry] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)

    def rejected_dicts(self) -> list[dict[str, object]]:
        return [{"row": row, "error": reason} for row, reason in self.rejected]


def _parse(text: str, phones: PhoneNormalizer) -> tuple[list[_Row], list[tuple[int, str]]]:
    text = text.removeprefix("\ufeff")
    header_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=detect_delimiter(header_line))
    header = [name.strip().lower() for name in next(reader, [])]
    phone_column = next((header.index(h) for h in _PHONE_HEADERS if h in header), None)
    if phone_column is None:
        raise ValidationError("source", "the CSV header needs a phone (or number) column")
    id_column = header.index("customer_id") if "customer_id" in header else None
    priority_column = header.index("priority") if "priority" in header else None
    rows: list[_Row] = []
    rejected: list[tuple[int, str]] = []
    line = reader.line_num
    for values in reader:
        row_line, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) + len(rejected) >= MAX_ROWS:
            raise ValidationError("source", f"more than {MAX_ROWS} rows")
        try:
            rows.append(_row(row_line, values, phones, phone_column, id_column, priority_column))
        except ValueError as exc:
            rejected.append((row_line, str(exc)))
    return rows, rejected


def _row(
    line: int,
    values: list[str],
    phones: PhoneNormalizer,
    phone_column: int,
    id_column: int | None,
    priority_column: int | None,
) -> _Row:
    def cell(column: int | None) -> str:
        return values[column].strip() if column is not None and column < len(values) else ""

    raw = cell(phone_column)
    number = phones.e164(raw) if raw else None
    if number is None:
        raise ValueError(f"phone: not a phone number: {raw[:40]!r}")
    customer_id = None
    if cell(id_column):
        if not cell(id_column).isdigit():
            raise ValueError("customer_id: expected a whole number")
        customer_id = int(cell(id_column))
    priority = 0
    if cell(priority_column):
        try:
            priority = int(cell(priority_column))
        except ValueError:
            raise ValueError("priority: expected an integer") from None
    return _Row(line, number, customer_id, priority)


async def entries_from_csv(text: str, phones: PhoneNormalizer, customers: Customers) -> CallList:
    """The call list of a CSV file (parsed in a worker thread: a big file must not stall the
    event loop). Raises ValidationError when no row is usable."""
    rows, rejected = await asyncio.to_thread(_parse, text, phones)
    result = CallList(rejected=rejected)
    for row in rows:
        customer_id = row.customer_id
        if customer_id is not None:
            try:
                await customers.get(customer_id)
            except NotFoundError:
                result.rejected.append((row.line, f"customer_id: no customer {customer_id}"))
                continue
        else:
            found = (await customers.lookup(row.number)).customers
            customer_id = int(found[0]["id"]) if found else None
        result.entries.append(ListEntry(row.number, customer_id, row.priority))
    result.rejected.sort()
    if not result.entries:
        first = f": row {result.rejected[0][0]}: {result.rejected[0][1]}" if result.rejected else ""
        raise ValidationError("source", f"the CSV has no usable row{first}")
    return result

"""Importing customers from CSV: column mapping, per-row validation, dedupe, batches.

The file is UTF-8 (a BOM is fine) with a header row; the delimiter is detected from the header
(``,``, ``;`` or tab) unless given. Each column maps to a customer field; by default a column
whose header is a field name (case-insensitive) maps to it, others are ignored (and listed in
the summary). ``--map "Full Name=name"`` / ``?map=Full Name=name`` maps explicitly; mapping a
column to nothing (``"Fax="``) ignores it. Fields:

    name company kind language region time_zone owner do_not_call
    may_call may_record marketing                        true/false, yes/no, 1/0; empty: default
    tags                                                 separated by ";" or "|"
    phone, phone.<type> (phone.mobile, phone.work ...)   one number
    phones                                               "mobile:+4917…;work:030 …" or "030 …;…"
    email, email.<type>, emails                          likewise
    street postcode city address_region country          one address
    custom.<key>                                         a custom field (text)

Rows are numbered as lines of the file (the header is row 1; a quoted field spanning lines
counts from the line where its row starts). A bad row is reported with its number and the
reason and skipped; the good rows are imported. Rows sharing a normalised (E.164) phone
number with an existing customer or an earlier row are skipped as duplicates; rows whose
numbers only belong to stub customers complete those stubs (see ``Customers.import_batch``).

Parsing is blocking and runs in a worker thread, one batch at a time, while the previous batch
is written in one transaction (``executemany``): the event loop is never blocked for long and
a file of any size needs memory for two batches only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import IO, Any

from callcenter.crm.customers import address as customer_address
from callcenter.crm.customers import build_customer, email, parse_field, phone, plain_text
from callcenter.crm.customers import item_type as item_type_of
from callcenter.crm.phones import PhoneNormalizer
from callcenter.store import (
    CustomerInput,
    Customers,
    Email,
    ImportBatchResult,
    Phone,
    ValidationError,
)

BATCH = 5000
MAX_REPORTED = 1000
"""At most this many errors and duplicates are listed (all are counted)."""
SCALARS = (
    "name",
    "company",
    "kind",
    "language",
    "region",
    "time_zone",
    "owner",
    "do_not_call",
    "may_call",
    "may_record",
    "marketing",
    "tags",
)
CONSENT = ("may_call", "may_record", "marketing")
_PLAIN = frozenset({"name", "company"})
ADDRESS_PARTS = {
    "street": "street",
    "postcode": "postcode",
    "city": "city",
    "address_region": "region",
    "country": "country",
}
LISTS = ("phone", "phones", "email", "emails")
_TYPED = re.compile(r"^(phone|email)\.([a-z][a-z0-9_-]{0,31})$")
_CUSTOM = re.compile(r"^custom\.([A-Za-z_][A-Za-z0-9_.-]{0,63})$")
_TYPED_ITEM = re.compile(r"^([a-z][a-z0-9_-]{0,31}):(.+)$")
_LIST_SEPARATOR = re.compile(r"[;|]")
_TRUE = {"true", "yes", "y", "1", "x"}
_FALSE = {"false", "no", "n", "0"}
_FORMULA_ESCAPE = re.compile(r"^'(?=[=+\-@\t\r])")


def is_field(name: str) -> bool:
    return (
        name in SCALARS
        or name in ADDRESS_PARTS
        or name in LISTS
        or bool(_TYPED.match(name) or _CUSTOM.match(name))
    )


def parse_mapping(items: Sequence[str], *, source: str = "--map") -> dict[str, str]:
    """``["Full Name=name", "Fax="]`` -> {"Full Name": "name", "Fax": ""}."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        column, target = column.strip(), target.strip()
        if not sep or not column:
            raise ValidationError(source, f"expected COLUMN=FIELD, got {item!r}")
        if target and not is_field(target):
            raise ValidationError(source, f"{target!r} is not a customer field")
        mapping[column] = target
    return mapping


def resolve_columns(
    header: Sequence[str], mapping: Mapping[str, str], *, source: str = "--map"
) -> tuple[list[str | None], list[str]]:
    """The field of each column (None: ignored) and the names of the ignored columns."""
    missing = [column for column in mapping if column not in header]
    if missing:
        raise ValidationError(source, f"no column {missing[0]!r} in the header")
    fields: list[str | None] = []
    ignored: list[str] = []
    for column in header:
        target = mapping[column] if column in mapping else column.strip().lower()
        if target and is_field(target):
            fields.append(target)
        else:
            fields.append(None)
            ignored.append(column)
    taken = [f for f in fields if f is not None and not f.startswith(("phone", "email"))]
    twice = sorted({f for f in taken if taken.count(f) > 1})
    if twice:
        raise ValidationError(source, f"more than one column maps to {twice[0]!r}")
    if all(f is None for f in fields):
        raise ValidationError(source, "no column maps to a customer field")
    return fields, ignored


@dataclass
class ImportSummary:
    rows: int = 0
    """Data rows read (blank lines not counted)."""
    imported: int = 0
    duplicates: int = 0
    stubs_completed: int = 0
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    duplicate_rows: list[tuple[int, int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def fail(self, row: int, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append((row, reason))

    def add(self, result: ImportBatchResult) -> None:
        self.imported += len(result.imported)
        self.stubs_completed += len(result.stubs_completed)
        self.duplicates += len(result.duplicates)
        room = MAX_REPORTED - len(self.duplicate_rows)
        self.duplicate_rows += result.duplicates[: max(room, 0)]
        for row, name, reason in result.rejected:
            self.fail(row, f"{name}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "stubs_completed": self.stubs_completed,
            "failed": self.failed,
            "errors": [{"row": row, "reason": reason} for row, reason in sorted(self.errors)],
            "duplicate_rows": [
                {"row": row, "customer_id": customer_id, "phone": phone}
                for row, customer_id, phone in self.duplicate_rows
            ],
            "ignored_columns": self.ignored_columns,
            "errors_truncated": self.failed > len(self.errors),
        }


class _CountingReader(io.RawIOBase):
    """Counts the bytes the text layer has pulled (for the progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def detect_delimiter(line: str) -> str:
    """The delimiter of a CSV file from its header line: the most frequent of , ; and tab."""
    counts = {sep: line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


@dataclass(frozen=True, slots=True)
class RowRules:
    """What :func:`validate_rows` needs (small and picklable: it goes to worker processes)."""

    header: tuple[str, ...]
    columns: tuple[str | None, ...]
    region: str

    @property
    def mapped(self) -> list[tuple[int, str, str]]:
        """(index, column, field) of the columns that map to a field."""
        return [
            (i, column, target)
            for i, (column, target) in enumerate(zip(self.header, self.columns, strict=True))
            if target is not None
        ]


RawRows = list[tuple[int, list[str]]]
Checked = tuple[list[tuple[int, CustomerInput]], list[tuple[int, str]]]


class CsvCustomers:
    """Reads a CSV byte stream a batch of raw rows at a time (blocking: run
    :meth:`next_rows` in a worker thread). Rows that are not even CSV rows of the header's
    width go to ``summary`` here; the rest are checked by :func:`validate_rows`."""

    def __init__(
        self,
        stream: IO[bytes],
        numbers: PhoneNormalizer,
        *,
        mapping: Mapping[str, str] | None = None,
        delimiter: str | None = None,
        source: str = "--map",
    ) -> None:
        self._counter = _CountingReader(stream)
        text = io.TextIOWrapper(
            io.BufferedReader(self._counter, 1 << 16),
            encoding="utf-8-sig",
            errors="replace",
            newline="",
        )
        first = text.readline()
        if not first.strip():
            raise ValidationError("file", "empty: expected a header row")
        self.delimiter = delimiter or detect_delimiter(first)
        self._reader = csv.reader(itertools.chain([first], text), delimiter=self.delimiter)
        header = next(self._reader)
        columns, ignored = resolve_columns(header, mapping or {}, source=source)
        self.rules = RowRules(tuple(header), tuple(columns), numbers.region)
        self.summary = ImportSummary(ignored_columns=ignored)
        self._line = self._reader.line_num
        #: Told of each row refused while reading (number, reason, cells), if set.
        self.on_reject: Callable[[int, str, list[str]], None] | None = None

    def _refuse(self, row: int, reason: str, cells: list[str]) -> None:
        self.summary.fail(row, reason)
        if self.on_reject is not None:
            self.on_reject(row, reason, cells)

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    def next_rows(self, size: int = BATCH) -> RawRows:
        """Up to ``size`` non-blank rows of the right width, with their row numbers; empty at
        the end of the file."""
        batch: RawRows = []
        width = len(self.rules.columns)
        while len(batch) < size:
            try:
                cells = next(self._reader)
            except StopIteration:
                break
            except csv.Error as exc:
                row, self._line = self._line + 1, self._reader.line_num
                self.summary.rows += 1
                self._refuse(row, f"not valid CSV: {exc}", [])
                continue
            row, self._line = self._line + 1, self._reader.line_num
            if not any(cells) or not "".join(cells).strip():
                continue
            self.summary.rows += 1
            if len(cells) != width:
                self._refuse(row, f"has {len(cells)} cells, the header has {width}", cells)
                continue
            batch.append((row, cells))
        return batch

    def next_batch(self, size: int = BATCH) -> list[tuple[int, CustomerInput]]:
        """Up to ``size`` rows read and checked (bad ones go to ``summary``), in this thread;
        empty at the end of the file."""
        while True:
            raw = self.next_rows(size)
            if not raw:
                return []
            valid, errors = validate_rows(self.rules, raw)
            self.record(errors)
            if valid:
                return valid

    def record(self, errors: list[tuple[int, str]]) -> None:
        for row, reason in errors:
            self.summary.fail(row, reason)


def validate_rows(rules: RowRules, rows: RawRows) -> Checked:
    """Turn raw rows into customers; (valid rows, (row, reason) of the bad ones). Pure and
    picklable, so it can run in a worker process."""
    numbers = PhoneNormalizer(rules.region, cache_size=0)
    valid: list[tuple[int, CustomerInput]] = []
    errors: list[tuple[int, str]] = []
    mapped = rules.mapped
    for row, cells in rows:
        try:
            valid.append((row, _customer(mapped, numbers, cells)))
        except ValidationError as exc:
            errors.append((row, f"{exc.field}: {exc.reason}"))
    return valid, errors


def _customer(
    mapped: list[tuple[int, str, str]], numbers: PhoneNormalizer, cells: list[str]
) -> CustomerInput:
    values: dict[str, Any] = {}
    phones: list[Phone] = []
    emails: list[Email] = []
    address: dict[str, str] = {}
    consent: dict[str, bool] = {}
    custom: dict[str, str] = {}
    for index, column, target in mapped:
        value = cells[index].strip()
        if not value:
            continue
        if value[0] == "'":
            value = _FORMULA_ESCAPE.sub("", value)
        try:
            if "\ufffd" in value:
                raise ValidationError(column, "not valid UTF-8 text")
            if target in CONSENT:
                consent[target] = _flag(value)
            elif target in _PLAIN:
                values[target] = plain_text(target, value)
            elif target in SCALARS:
                values[target] = parse_field(target, _scalar(target, value), numbers)
            elif target in ADDRESS_PARTS:
                address[ADDRESS_PARTS[target]] = value
            elif custom_key := _CUSTOM.match(target):
                custom[custom_key.group(1)] = value
            elif target[0] == "p":
                for number, kind in _list_items(target, value):
                    phones.append(phone(number, kind, numbers, column))
            else:
                for text, kind in _list_items(target, value):
                    emails.append(email(text, kind, column))
        except ValidationError as exc:
            raise ValidationError(column, exc.reason) from None
    if phones:
        values["phones"] = tuple(phones)
    if emails:
        values["emails"] = tuple(emails)
    if address:
        values["addresses"] = (customer_address(address, "main", "address"),)
    if custom:
        values["custom"] = parse_field("custom", custom, numbers)
    if consent:
        values["consent"] = consent
    return build_customer(values)


def _list_items(target: str, value: str) -> list[tuple[str, str]]:
    """(text, type) of a ``phone``/``phone.TYPE``/``phones`` (or email) cell."""
    kind, _, item_type = target.partition(".")
    if not kind.endswith("s"):
        return [(value, item_type or "main")]
    items: list[tuple[str, str]] = []
    for item in _LIST_SEPARATOR.split(value):
        item = item.strip()
        if not item:
            continue
        typed = _TYPED_ITEM.match(item)
        if typed:
            items.append((typed.group(2).strip(), item_type_of(typed.group(1), "type")))
        else:
            items.append((item, "main"))
    return items


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValidationError("", "expected true/false, yes/no or 1/0")


def _scalar(target: str, value: str) -> Any:
    """A cell as the JSON value :func:`parse_field` expects."""
    if target == "do_not_call":
        return _flag(value)
    if target == "tags":
        return [tag.strip() for tag in _LIST_SEPARATOR.split(value) if tag.strip()]
    if target == "kind":
        return value.lower()
    return value


async def import_customers(
    reader: CsvCustomers,
    customers: Customers,
    *,
    batch_size: int = BATCH,
    progress: Callable[[CsvCustomers], None] | None = None,
    workers: Executor | None = None,
    depth: int = 2,
) -> ImportSummary:
    """Read, check and write the reader's rows in batches, keeping up to ``depth`` batches
    being checked while one is written. Raw rows are read in a thread; they are checked in
    that thread too, or in ``workers`` (a process pool: checking, mostly phone numbers, is
    the CPU-heavy part). Batches are written in file order, so "the first row wins" holds
    for duplicates. Returns the summary (also ``reader.summary``)."""
    loop = asyncio.get_running_loop()
    # One file, one reader: reads take turns (the lock is FIFO, so batches keep file order).
    reading = asyncio.Lock()

    async def read_and_check() -> Checked:
        if workers is None:
            async with reading:
                return await asyncio.to_thread(reader.next_batch, batch_size), []
        async with reading:
            raw = await asyncio.to_thread(reader.next_rows, batch_size)
        if not raw:
            return [], []
        return await loop.run_in_executor(workers, validate_rows, reader.rules, raw)

    pending: deque[asyncio.Future[Checked]] = deque()
    try:
        pending.append(asyncio.ensure_future(read_and_check()))
        while pending:
            valid, errors = await pending.popleft()
            reader.record(errors)
            if not valid and not errors:
                break
            while len(pending) < depth:
                pending.append(asyncio.ensure_future(read_and_check()))
            if valid:
                reader.summary.add(await customers.import_batch(valid))
            if progress is not None:
                progress(reader)
    finally:
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return reader.summary

"""CSV imports as batches that run in the background: customers, interactions, orders and
contracts, each upload one batch with live progress (bytes read, rows done, errors so far)
and its rejected rows kept with their reasons for download.

Mapping: each column maps to a field of the kind or to nothing. The automatic mapping (the
default the import page shows) is the one the command line and ``POST /api/import/customers``
use: a column whose header, lower-cased (spaces as ``_``), is a field's name maps to it.

Customers go through :mod:`callcenter.crm.csv_import` (dedupe by phone number, stubs
completed). Interactions, orders and contracts name their customer by ``customer_id`` or by
``phone`` (a number that belongs to exactly one customer) and are idempotent by
``external_id``: an interaction seen before is a duplicate, an order or contract seen before
is updated. Rows are written one transaction per row (a few hundred a second), the reading and
parsing happen in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from callcenter.crm.csv_import import (
    ADDRESS_PARTS,
    LISTS,
    SCALARS,
    CsvCustomers,
    _CountingReader,
    detect_delimiter,
    is_field,
    validate_rows,
)
from callcenter.crm.phones import PhoneNormalizer
from callcenter.errors import NotFoundError, StoreError, ValidationError
from callcenter.store import Customers
from callcenter.store.channels import Channel, ChannelInteractions, Direction, InteractionInput
from callcenter.store.erp import ContractInput, Erp, OrderInput
from callcenter.store.imports import ImportBatches

log = logging.getLogger(__name__)

KINDS = ("customers", "interactions", "orders", "contracts")
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "interactions": (
        "customer_id",
        "phone",
        "external_id",
        "channel",
        "direction",
        "subject",
        "body",
        "occurred_at",
    ),
    "orders": (
        "customer_id",
        "phone",
        "external_id",
        "ordered_at",
        "amount",
        "currency",
        "description",
    ),
    "contracts": ("customer_id", "phone", "external_id", "product", "starts_on", "ends_on"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "interactions": ("channel", "direction", "occurred_at"),
    "orders": ("external_id", "ordered_at", "amount"),
    "contracts": ("external_id", "product", "starts_on"),
}
CUSTOMER_FIELDS = (
    *SCALARS,
    *ADDRESS_PARTS,
    *LISTS,
    "phone.mobile",
    "phone.work",
    "phone.home",
    "email.work",
    "email.home",
)
BATCH = 1000
MAX_TEXT = 10_000


def fields_of(kind: str) -> tuple[str, ...]:
    return CUSTOMER_FIELDS if kind == "customers" else ROW_FIELDS[kind]


def _is_field(kind: str, name: str) -> bool:
    return is_field(name) if kind == "customers" else name in ROW_FIELDS[kind]


def auto_mapping(kind: str, header: list[str]) -> dict[str, str]:
    """``{column: field or ""}``: what an import does without a mapping."""
    mapping: dict[str, str] = {}
    for column in header:
        name = column.strip().lower()
        if kind != "customers":
            name = name.replace(" ", "_")
        mapping[column] = name if _is_field(kind, name) else ""
    return mapping


def check_mapping(kind: str, header: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """The mapping for every column (missing ones: the automatic choice), checked."""
    for column, target in mapping.items():
        if column not in header:
            raise ValidationError("mapping", f"no column {column!r} in the header")
        if target and not _is_field(kind, target):
            raise ValidationError("mapping", f"{target!r} is not a field of {kind}")
    full = {**auto_mapping(kind, header), **mapping}
    if kind != "customers":
        targets = [t for t in full.values() if t]
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ValidationError("mapping", f"more than one column maps to {twice[0]!r}")
        missing = [f for f in REQUIRED[kind] if f not in targets]
        if missing:
            raise ValidationError("mapping", f"no column maps to {missing[0]!r} (required)")
        if "customer_id" not in targets and "phone" not in targets:
            raise ValidationError("mapping", "map a column to customer_id or phone")
    return full


def preview(kind: str, head: bytes) -> dict[str, Any]:
    """Header, delimiter, automatic mapping and up to 5 sample rows of a file's first bytes."""
    if kind not in KINDS:
        raise ValidationError("kind", f"expected one of {', '.join(KINDS)}")
    text = head.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise ValidationError("file", "empty: expected a header row")
    delimiter = detect_delimiter(first)
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # cut mid-row
    rows = list(itertools.islice(csv.reader(lines, delimiter=delimiter), 6))
    header = rows[0] if rows else []
    return {
        "kind": kind,
        "header": header,
        "delimiter": delimiter,
        "mapping": auto_mapping(kind, header),
        "fields": list(fields_of(kind)),
        "required": list(REQUIRED.get(kind, ())),
        "sample": rows[1:],
    }


# --- parsing rows of interactions, orders, contracts ---------------------------------------


def _text(row: Mapping[str, str], key: str, limit: int = 200, required: bool = False) -> str:
    value = row.get(key, "").strip()
    if required and not value:
        raise ValidationError(key, "required")
    if len(value) > limit:
        raise ValidationError(key, f"longer than {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValidationError(key, "control characters are not allowed")
    return value


def _moment(row: Mapping[str, str], key: str) -> str:
    value = _text(row, key, 64, required=True)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(key, "expected ISO 8601, e.g. 2024-05-01T09:00:00Z") from None
    if not 1900 <= moment.year <= 9998:
        raise ValidationError(key, "year out of range")
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _day(row: Mapping[str, str], key: str, required: bool) -> str | None:
    value = _text(row, key, 32, required=required)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise ValidationError(key, "expected a date YYYY-MM-DD") from None


def cents(value: object, key: str = "amount") -> int:
    """``"12.50"``, ``"12,50"``, ``12.5`` -> 1250."""
    text = str(value).strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(key, "expected an amount such as 129.90") from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 13:
        raise ValidationError(key, "expected an amount such as 129.90")
    return int((amount * 100).to_integral_value())


def currency_of(value: str) -> str:
    code = (value or "EUR").strip().upper()
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        raise ValidationError("currency", "expected a 3-letter code such as EUR")
    return code


def parse_interaction(row: Mapping[str, str]) -> InteractionInput:
    try:
        channel = Channel(row.get("channel", "").strip().lower())
    except ValueError:
        raise ValidationError(
            "channel", "expected email, meeting, letter, chat or social"
        ) from None
    try:
        direction = Direction(row.get("direction", "").strip().lower())
    except ValueError:
        raise ValidationError("direction", "expected inbound or outbound") from None
    subject = _text(row, "subject", 500)
    body = _text(row, "body", MAX_TEXT)
    if not subject and not body:
        raise ValidationError("subject", "give a subject or a body (or both)")
    return InteractionInput(
        channel=channel,
        direction=direction,
        subject=subject,
        body=body,
        occurred_at=_moment(row, "occurred_at"),
        external_id=_text(row, "external_id") or None,
    )


def parse_order(row: Mapping[str, str]) -> OrderInput:
    return OrderInput(
        external_id=_text(row, "external_id", required=True),
        ordered_at=_moment(row, "ordered_at"),
        amount_cents=cents(_text(row, "amount", 32, required=True)),
        currency=currency_of(row.get("currency", "")),
        description=_text(row, "description", 1000),
    )


def parse_contract(row: Mapping[str, str]) -> ContractInput:
    starts = _day(row, "starts_on", True)
    ends = _day(row, "ends_on", False)
    assert starts is not None
    if ends is not None and ends < starts:
        raise ValidationError("ends_on", "before starts_on")
    return ContractInput(
        external_id=_text(row, "external_id", required=True),
        product=_text(row, "product", 200, required=True),
        starts_on=starts,
        ends_on=ends,
    )


PARSERS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "interactions": parse_interaction,
    "orders": parse_order,
    "contracts": parse_contract,
}


# --- running -------------------------------------------------------------------------------


@dataclass
class Progress:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("bytes_read", "rows", "imported", "updated", "duplicates", "failed"), 0
        )
    )
    rejects: list[tuple[int, str, list[str]]] = field(default_factory=list)

    def reject(self, row: int, reason: str, cells: list[str]) -> None:
        self.counts["failed"] += 1
        self.rejects.append((row, reason, cells))

    def take(self) -> list[tuple[int, str, list[str]]]:
        taken, self.rejects = self.rejects, []
        return taken


class ImportRunner:
    """Starts imports as named background tasks; each writes its progress to its batch after
    every batch of rows. On shutdown running imports are cancelled and marked failed."""

    def __init__(
        self,
        batches: ImportBatches,
        customers: Customers,
        channels: ChannelInteractions,
        erp: Erp,
        numbers: PhoneNormalizer,
    ) -> None:
        self.batches = batches
        self._customers = customers
        self._channels = channels
        self._erp = erp
        self._numbers = numbers
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.batch_size = BATCH
        #: Awaited between batches (tests slow an import down to watch its progress).
        self.between_batches: Callable[[], Awaitable[None]] | None = None

    async def start(
        self,
        kind: str,
        file: IO[bytes],
        size: int,
        *,
        filename: str,
        user: str,
        mapping: Mapping[str, str],
        delimiter: str | None,
    ) -> dict[str, Any]:
        """Check the header and mapping (ValidationError before anything starts), create
        the batch and start it; ``file`` (at offset 0) is the task's to close."""
        if kind not in KINDS:
            raise ValidationError("kind", f"expected one of {', '.join(KINDS)}")
        counter = _CountingReader(file)
        text = io.TextIOWrapper(
            io.BufferedReader(counter, 1 << 16), encoding="utf-8-sig", errors="replace", newline=""
        )
        first = await asyncio.to_thread(text.readline)
        if not first.strip():
            raise ValidationError("file", "empty: expected a header row")
        delimiter = delimiter or detect_delimiter(first)
        header = next(csv.reader([first], delimiter=delimiter))
        full = check_mapping(kind, header, mapping)
        await asyncio.to_thread(file.seek, 0)
        if kind == "customers":
            reader = await asyncio.to_thread(
                CsvCustomers,
                file,
                self._numbers,
                mapping=full,
                delimiter=delimiter,
                source="mapping",
            )
            job: Callable[[int], Awaitable[None]] = lambda b: self._customers_job(b, reader)  # noqa: E731
        else:
            job = lambda b: self._rows_job(b, kind, file, full, delimiter)  # noqa: E731
        batch_id = await self.batches.start(kind, filename, user, size, full)
        task = asyncio.create_task(self._run(batch_id, job, file), name=f"import-{batch_id}")
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(batch_id, None))
        return await self.batches.get(batch_id)

    async def _run(
        self, batch_id: int, job: Callable[[int], Awaitable[None]], file: IO[bytes]
    ) -> None:
        try:
            await job(batch_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.batches.progress(
                        batch_id, {}, state="failed", error="interrupted: the server stopped"
                    )
                )
            raise
        except (StoreError, ValidationError, OSError, UnicodeError, csv.Error) as exc:
            log.warning("import %d failed: %s", batch_id, exc)
            batch = await self.batches.get(batch_id)
            await self.batches.progress(batch_id, batch, state="failed", error=str(exc))
        finally:
            await asyncio.to_thread(file.close)

    async def wait(self, batch_id: int) -> None:
        task = self._tasks.get(batch_id)
        if task is not None:
            await asyncio.wait([task])

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _pause(self) -> None:
        if self.between_batches is not None:
            await self.between_batches()

    async def _customers_job(self, batch_id: int, reader: CsvCustomers) -> None:
        progress = Progress()
        reader.on_reject = progress.reject
        summary = reader.summary
        while True:
            raw = await asyncio.to_thread(reader.next_rows, self.batch_size)
            if not raw:
                break
            cells_of = dict(raw)
            valid, errors = await asyncio.to_thread(validate_rows, reader.rules, raw)
            for row, reason in errors:
                summary.fail(row, reason)
                progress.reject(row, reason, cells_of[row])
            if valid:
                result = await self._customers.import_batch(valid)
                summary.add(result)
                for row, name, reason in result.rejected:
                    progress.reject(row, f"{name}: {reason}", cells_of[row])
                for row, customer_id, number in result.duplicates:
                    progress.rejects.append(
                        (
                            row,
                            f"duplicate: {number} belongs to customer {customer_id}",
                            cells_of[row],
                        )
                    )
            progress.counts.update(
                bytes_read=reader.bytes_read,
                rows=summary.rows,
                imported=summary.imported,
                updated=summary.stubs_completed,
                duplicates=summary.duplicates,
                failed=summary.failed,
            )
            await self.batches.progress(batch_id, progress.counts, progress.take())
            await self._pause()
        await self.batches.progress(batch_id, progress.counts, progress.take(), state="done")

    async def _customer_of(self, row: Mapping[str, str]) -> int:
        text = row.get("customer_id", "").strip()
        if text:
            if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**62:
                raise ValidationError("customer_id", "expected a customer id")
            await self._customers.get(int(text))
            return int(text)
        number = row.get("phone", "").strip()
        if not number:
            raise ValidationError("customer_id", "give customer_id or phone")
        found = await self._customers.lookup(number)
        if not found.customers:
            raise ValidationError("phone", f"no customer has {number}")
        if len(found.customers) > 1:
            ids = ", ".join(str(c["id"]) for c in found.customers[:5])
            raise ValidationError("phone", f"{number} belongs to several customers ({ids})")
        return int(found.customers[0]["id"])

    async def _put(self, kind: str, data: Any, customer_id: int, user: str) -> bool:
        if kind == "interactions":
            _, created = await self._channels.add(customer_id, data, author=user)
        elif kind == "orders":
            _, created = await self._erp.put_order(customer_id, data)
        else:
            _, created = await self._erp.put_contract(customer_id, data)
        return created

    async def _rows_job(
        self,
        batch_id: int,
        kind: str,
        file: IO[bytes],
        mapping: Mapping[str, str],
        delimiter: str,
    ) -> None:
        batch = await self.batches.get(batch_id)
        user = str(batch["created_by"])
        counter = _CountingReader(file)
        text = io.TextIOWrapper(
            io.BufferedReader(counter, 1 << 16), encoding="utf-8-sig", errors="replace", newline=""
        )
        reader = csv.reader(text, delimiter=delimiter)
        header = await asyncio.to_thread(next, reader)
        targets = [mapping.get(column, "") for column in header]
        parse = PARSERS[kind]
        progress = Progress()
        line = reader.line_num

        def next_rows() -> list[tuple[int, list[str]]]:
            nonlocal line
            out: list[tuple[int, list[str]]] = []
            while len(out) < self.batch_size:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    progress.counts["rows"] += 1
                    progress.reject(line + 1, f"not valid CSV: {exc}", [])
                    line = reader.line_num
                    continue
                row, line = line + 1, reader.line_num
                if "".join(cells).strip():
                    out.append((row, cells))
            return out

        while True:
            rows = await asyncio.to_thread(next_rows)
            if not rows:
                break
            for row, cells in rows:
                progress.counts["rows"] += 1
                if len(cells) != len(header):
                    progress.reject(
                        row, f"has {len(cells)} cells, the header has {len(header)}", cells
                    )
                    continue
                values = {t: c for t, c in zip(targets, cells, strict=True) if t}
                try:
                    data = parse(values)
                    customer_id = await self._customer_of(values)
                    created = await self._put(kind, data, customer_id, user)
                except ValidationError as exc:
                    progress.reject(row, str(exc), cells)
                    continue
                except NotFoundError as exc:
                    progress.reject(row, f"customer_id: {exc}", cells)
                    continue
                if created:
                    progress.counts["imported"] += 1
                elif kind == "interactions":
                    progress.counts["duplicates"] += 1
                else:
                    progress.counts["updated"] += 1
            progress.counts["bytes_read"] = counter.count
            await self.batches.progress(batch_id, progress.counts, progress.take())
            await self._pause()
        progress.counts["bytes_read"] = counter.count
        await self.batches.progress(batch_id, progress.counts, progress.take(), state="done")

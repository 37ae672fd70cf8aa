"""Customers and the call log as CSV (UTF-8, comma-separated, header row).

The customer columns are the import's field names, so an export can be imported elsewhere
(``phones``: ``type:number;…``, ``emails``: ``address;…``, the first address only; custom
fields as one JSON column, which the import ignores).

Cells that a spreadsheet would run as a formula (starting with ``=``, ``@``, tab or CR, or
``+``/``-`` followed by anything but a phone number) get a leading ``'``; the importer strips
it again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from callcenter.store.calllog import CALL_LOG_COLUMNS

CUSTOMER_COLUMNS = (
    "id",
    "kind",
    "name",
    "company",
    "language",
    "region",
    "time_zone",
    "owner",
    "tags",
    "phones",
    "emails",
    "street",
    "postcode",
    "city",
    "address_region",
    "country",
    "may_call",
    "may_record",
    "marketing",
    "do_not_call",
    "is_stub",
    "created_at",
    "updated_at",
    "last_contact_at",
    "custom",
)
CALL_COLUMNS = CALL_LOG_COLUMNS  # the call log's own columns, in its order
_PHONE_LIKE = re.compile(r"^[+-][\d\s()./-]*$")


def cell(value: Any) -> str:
    """One CSV cell: None is empty, booleans are true/false, formulas are defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    first = text[:1]
    if first in ("=", "@", "\t", "\r") or (first in ("+", "-") and not _PHONE_LIKE.match(text)):
        return "'" + text
    return text


def customer_row(customer: Mapping[str, Any]) -> list[str]:
    address = customer["addresses"][0] if customer["addresses"] else {}
    consent = customer["consent"]
    values = {
        **customer,
        "tags": ";".join(customer["tags"]),
        "phones": ";".join(f"{p['type']}:{p['number']}" for p in customer["phones"]),
        "emails": ";".join(e["address"] for e in customer["emails"]),
        "street": address.get("street"),
        "postcode": address.get("postcode"),
        "city": address.get("city"),
        "address_region": address.get("region"),
        "country": address.get("country"),
        "may_call": consent["may_call"],
        "may_record": consent["may_record"],
        "marketing": consent["marketing"],
        "custom": json.dumps(customer["custom"], ensure_ascii=False) if customer["custom"] else "",
    }
    return [cell(values[column]) for column in CUSTOMER_COLUMNS]


def call_row(call: Mapping[str, Any]) -> list[str]:
    values = {
        **call,
        "agents_offered": ";".join(call["agents_offered"]),
        "transfers": json.dumps(call["transfers"], ensure_ascii=False) if call["transfers"] else "",
    }
    return [cell(values[column]) for column in CALL_COLUMNS]


def encode_rows(rows: Iterable[Iterable[Any]]) -> bytes:
    """CSV lines (CRLF, as RFC 4180 says) as UTF-8: the one writer of every export, each
    value through :func:`cell` (formulas defused; an already defused cell stays as it is)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")

"""Customer input: the public JSON shape checked and turned into the store's types.

``POST /api/customers``, ``PATCH /api/customers/{id}`` and the CSV import all go through
:func:`parse_customer` / :func:`parse_patch`, so the rules are the same everywhere. Every
error is a :class:`ValidationError` naming the field as a path (``phones[1].number``) and why.

The shape (all keys optional, but a customer needs a name, a company, a phone or an email)::

    {"kind": "person" | "company", "name", "company", "language": "de", "region": "DE",
     "time_zone": "Europe/Berlin", "tags": ["vip"], "custom": {"contract": "A-17"},
     "owner": "alice", "consent": {"may_call", "may_record", "marketing"},
     "do_not_call": false,
     "phones": [{"number": "030 1234567", "type": "work"}],   # or just "030 1234567"
     "emails": [{"address": "a@example.com", "type": "main"}],  # or just the address
     "addresses": [{"type", "street", "postcode", "city", "region", "country"}]}

Read-only keys of a customer as returned by the API (``id``, ``is_stub``, ``merged_into``,
``created_at``, ...) are ignored on input, so a client can send back what it read; a phone's
``e164`` is always recomputed from ``number``.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from callcenter.crm.phones import PhoneNormalizer
from callcenter.store import (
    Address,
    Consent,
    CustomerInput,
    CustomerPatch,
    Email,
    Kind,
    Phone,
    ValidationError,
)
from callcenter.store.accounts import normalize_username
from callcenter.store.segments import TAG

MAX_NAME = 200
MAX_ITEMS = 20
MAX_TAGS = 50
MAX_CUSTOM_KEYS = 50
MAX_CUSTOM_VALUE = 1000
READ_ONLY = frozenset(
    {"id", "is_stub", "merged_into", "created_at", "updated_at", "last_contact_at", "timeline"}
)
FIELDS = frozenset(
    {
        "kind",
        "name",
        "company",
        "language",
        "region",
        "time_zone",
        "tags",
        "custom",
        "owner",
        "consent",
        "do_not_call",
        "phones",
        "emails",
        "addresses",
    }
)
CONSENT_KEYS = ("may_call", "may_record", "marketing")
ADDRESS_KEYS = ("type", "street", "postcode", "city", "region", "country")
_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_REGION = re.compile(r"^[A-Z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def parse_customer(body: Mapping[str, Any], numbers: PhoneNormalizer) -> CustomerInput:
    """A new customer from the JSON shape."""
    _known_keys(body)
    return build_customer(
        {key: parse_field(key, body[key], numbers) for key in FIELDS if key in body}
    )


def build_customer(values: dict[str, Any]) -> CustomerInput:
    """A new customer from values already checked by :func:`parse_field` (by field name)."""
    consent = values.pop("consent", None)
    if consent is not None:
        values["consent"] = Consent(**consent)
    data = CustomerInput(**values)
    if not (data.name or data.company or data.phones or data.emails):
        raise ValidationError("name", "a customer needs a name, a company, a phone or an email")
    return data


def parse_patch(body: Mapping[str, Any], numbers: PhoneNormalizer) -> CustomerPatch:
    """Changes to a customer: only the keys given; a list given replaces the whole list;
    ``consent`` may give some of its flags."""
    _known_keys(body)
    values: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    for key in FIELDS:
        if key not in body:
            continue
        value = parse_field(key, body[key], numbers)
        if key == "consent":
            values.update(value)
        elif key in ("phones", "emails", "addresses"):
            lists[key] = value
        elif key == "kind":
            values[key] = value.value
        else:
            values[key] = value
    if not values and not lists:
        raise ValidationError("body", "nothing to change")
    return CustomerPatch(values=values, **lists)


def _known_keys(body: Mapping[str, Any]) -> None:
    for key in body:
        if key not in FIELDS and key not in READ_ONLY:
            raise ValidationError(str(key), "unknown field")


def parse_field(key: str, value: Any, numbers: PhoneNormalizer) -> Any:
    """One field of the JSON shape, checked (``consent`` as a dict of the flags given)."""
    if key == "kind":
        if value not in ("person", "company"):
            raise ValidationError(key, "expected person or company")
        return Kind(value)
    if key in ("name", "company"):
        return _text(key, value, MAX_NAME, allow_empty=True)
    if key == "language":
        return _optional_pattern(key, value, _LANGUAGE, "a language tag such as de or pt-BR")
    if key == "region":
        if isinstance(value, str):
            value = value.upper()
        return _optional_pattern(key, value, _REGION, "a two-letter country code such as DE")
    if key == "time_zone":
        return _time_zone(value)
    if key == "tags":
        return _tags(value)
    if key == "custom":
        return _custom(value)
    if key == "owner":
        return None if value is None else normalize_username(_text(key, value, 64))
    if key == "consent":
        return _consent(value)
    if key == "do_not_call":
        return _boolean(key, value)
    if key == "phones":
        return tuple(_phone(i, item, numbers) for i, item in enumerate(_items(key, value)))
    if key == "emails":
        return tuple(_email(i, item) for i, item in enumerate(_items(key, value)))
    if key == "addresses":
        return tuple(_address(i, item) for i, item in enumerate(_items(key, value)))
    raise ValidationError(key, "unknown field")  # pragma: no cover - FIELDS is checked first


def plain_text(key: str, value: str) -> str:
    """A name or company given as text (the CSV import's shortcut past :func:`parse_field`)."""
    return _text(key, value, MAX_NAME, allow_empty=True)


def _text(key: str, value: Any, max_len: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(key, "expected a string")
    text = value.strip()
    if not text and not allow_empty:
        raise ValidationError(key, "must not be empty")
    if len(text) > max_len:
        raise ValidationError(key, f"longer than {max_len} characters")
    if _CONTROL.search(text):
        raise ValidationError(key, "contains control characters")
    return text


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(key, "expected true or false")
    return value


def _optional_pattern(key: str, value: Any, pattern: re.Pattern[str], what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise ValidationError(key, f"expected {what}")
    return value


def _time_zone(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value and ".." not in value and len(value) <= 64:
        try:
            zoneinfo.ZoneInfo(value)
            return value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise ValidationError("time_zone", "expected an IANA time zone such as Europe/Berlin")


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValidationError("tags", "expected a list of strings")
    if len(value) > MAX_TAGS:
        raise ValidationError("tags", f"more than {MAX_TAGS} tags")
    tags: list[str] = []
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not TAG.match(tag.strip()):
            raise ValidationError(
                f"tags[{i}]", "1-64 letters, digits, spaces and . : / + & - (not starting with one)"
            )
        if tag.strip() not in tags:
            tags.append(tag.strip())
    return tuple(tags)


def _custom(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("custom", "expected an object")
    if len(value) > MAX_CUSTOM_KEYS:
        raise ValidationError("custom", f"more than {MAX_CUSTOM_KEYS} fields")
    for key, item in value.items():
        if not _CUSTOM_KEY.match(key):
            raise ValidationError(f"custom.{key}", "field names are 1-64 letters, digits, _ . -")
        if isinstance(item, str) and len(item) > MAX_CUSTOM_VALUE:
            raise ValidationError(f"custom.{key}", f"longer than {MAX_CUSTOM_VALUE} characters")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValidationError(f"custom.{key}", "expected a string, number, boolean or null")
    return dict(value)


def _consent(value: Any) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise ValidationError("consent", "expected an object")
    flags: dict[str, bool] = {}
    for key, flag in value.items():
        if key not in CONSENT_KEYS:
            raise ValidationError(f"consent.{key}", f"unknown (known: {', '.join(CONSENT_KEYS)})")
        flags[key] = _boolean(f"consent.{key}", flag)
    return flags


def _items(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(key, "expected a list")
    if len(value) > MAX_ITEMS:
        raise ValidationError(key, f"more than {MAX_ITEMS} entries")
    return value


def _item_type(key: str, item: Mapping[str, Any]) -> str:
    kind = item.get("type", "main")
    if not isinstance(kind, str) or not _TYPE.match(kind):
        raise ValidationError(f"{key}.type", "1-32 lower-case letters, digits, _ or -")
    return kind


def _phone(i: int, item: Any, numbers: PhoneNormalizer) -> Phone:
    key = f"phones[{i}]"
    if isinstance(item, str):
        item = {"number": item}
    if not isinstance(item, dict):
        raise ValidationError(key, "expected an object with number and type, or a string")
    for name in item:
        if name not in ("number", "type", "e164"):
            raise ValidationError(f"{key}.{name}", "unknown field")
    return phone(item.get("number"), _item_type(key, item), numbers, f"{key}.number")


def phone(number: Any, kind: str, numbers: PhoneNormalizer, key: str) -> Phone:
    """A phone with its E.164 form; ``kind`` must be checked already."""
    text = _text(key, number, 64)
    e164 = numbers.e164(text)
    if e164 is None:
        raise ValidationError(
            key, f"not a phone number (numbers without + are read as {numbers.region})"
        )
    return Phone(text, e164, kind)


def _email(i: int, item: Any) -> Email:
    key = f"emails[{i}]"
    if isinstance(item, str):
        item = {"address": item}
    if not isinstance(item, dict):
        raise ValidationError(key, "expected an object with address and type, or a string")
    for name in item:
        if name not in ("address", "type"):
            raise ValidationError(f"{key}.{name}", "unknown field")
    return email(item.get("address"), _item_type(key, item), f"{key}.address")


def email(address: Any, kind: str, key: str) -> Email:
    text = _text(key, address, 254)
    if not _EMAIL.match(text):
        raise ValidationError(key, "not an email address")
    return Email(text, kind)


def item_type(kind: str, key: str) -> str:
    return _item_type(key, {"type": kind})


def _address(i: int, item: Any) -> Address:
    key = f"addresses[{i}]"
    if not isinstance(item, dict):
        raise ValidationError(key, "expected an object")
    for name in item:
        if name not in ADDRESS_KEYS:
            raise ValidationError(f"{key}.{name}", f"unknown (known: {', '.join(ADDRESS_KEYS)})")
    return address(item, _item_type(key, item), key)


def address(item: Mapping[str, Any], kind: str, key: str) -> Address:
    parts = {
        name: _text(f"{key}.{name}", value, MAX_NAME, allow_empty=True)
        for name, value in item.items()
        if name != "type"
    }
    if not any(parts.values()):
        raise ValidationError(key, "an address needs at least one of its parts")
    return Address(kind, **parts)

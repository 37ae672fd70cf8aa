"""Phone numbers: whatever Asterisk or a user sends, turned into E.164 with ``phonenumbers``.

Asterisk hands us the caller ID as the trunk delivers it: ``+4930123456``, ``004930123456``,
``030 123456``, ``4930123456`` or ``30123456``. All of them are the same Berlin number for a
call center in Germany. The rules, with the configured default region R:

- a leading ``+`` (or R's international prefix, ``00`` in most of Europe) is international;
- anything else is first read as a national number of R (``030 …``, and a number without its
  trunk prefix such as ``30123456``);
- a bare string of digits is also read as international without the ``+`` (``4930123456``),
  and that reading comes first when the digits start with R's own country code (``49…``
  for DE: a trunk that drops the ``+``), since a national number written without its trunk
  prefix is rare in a caller ID.

:meth:`PhoneNormalizer.lookup_keys` returns every plausible E.164 reading, valid numbers
first, so a lookup can try them all in one index query. :meth:`PhoneNormalizer.e164` is the
stored form for a number a user typed (it must be at least a *possible* number);
:meth:`PhoneNormalizer.stub_number` accepts only *valid* numbers, so extensions (``2001``) and
placeholders (``anonymous``) never become customers.

Parsing costs ~15 µs; results are cached (bounded) because the same callers call again.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat
from phonenumbers import timezone as number_timezone

from callcenter.errors import ConfigError

_VISUAL = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"^\d+$")
MAX_LENGTH = 40
CACHE_SIZE = 65536


class PhoneNormalizer:
    """Implements the store's ``PhoneNumbers`` protocol for one default region."""

    def __init__(self, default_region: str, *, cache_size: int = CACHE_SIZE) -> None:
        region = default_region.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(
                "crm.default_region", f"not a region phonenumbers knows: {default_region!r}"
            )
        self.region = region
        self._country_code = str(phonenumbers.country_code_for_region(region))
        self._readings = functools.lru_cache(maxsize=cache_size)(self._compute_readings)

    def lookup_keys(self, raw: str) -> tuple[str, ...]:
        return tuple(e164 for e164, _ in self._ranked(raw))

    def stub_number(self, raw: str) -> str | None:
        return next(
            (e164 for e164, number in self._readings(raw) if phonenumbers.is_valid_number(number)),
            None,
        )

    def e164(self, raw: str) -> str | None:
        """The stored form of a number a user typed or imported: the first reading that is
        valid, else the first that is possible, else None. Not cached (stored numbers are
        mostly distinct) and it stops at the first valid reading: a bulk import pays for one
        parse per number."""
        fallback: str | None = None
        readings = self._reading_texts(raw)
        for reading, region in readings:
            try:
                number = phonenumbers.parse(reading, region)
            except NumberParseException:
                continue
            if not phonenumbers.is_possible_number(number):
                continue
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            if len(readings) == 1 or phonenumbers.is_valid_number(number):
                return e164
            fallback = fallback or e164
        return fallback

    def _ranked(self, raw: str) -> tuple[tuple[str, PhoneNumber], ...]:
        """The readings, valid ones first (checked only when there is a choice: validity is
        the expensive part, and a bulk import mostly has one reading per number)."""
        readings = self._readings(raw)
        if len(readings) < 2:
            return readings
        return tuple(sorted(readings, key=lambda item: not phonenumbers.is_valid_number(item[1])))

    def _reading_texts(self, raw: str) -> list[tuple[str, str | None]]:
        """What to hand ``phonenumbers.parse``, in the order of the rules above."""
        text = raw.strip()
        if not text or len(text) > MAX_LENGTH:
            return []
        if text[:4].lower() == "tel:":
            text = text[4:]
        compact = _VISUAL.sub("", text)
        readings: list[tuple[str, str | None]] = [(compact, self.region)]
        if _DIGITS.match(compact) and not compact.startswith("0"):
            international = ("+" + compact, None)
            if compact.startswith(self._country_code):
                readings.insert(0, international)
            else:
                readings.append(international)
        return readings

    def _compute_readings(self, raw: str) -> tuple[tuple[str, PhoneNumber], ...]:
        """Distinct possible readings of ``raw`` as (E.164, parsed)."""
        found: dict[str, PhoneNumber] = {}
        for reading, region in self._reading_texts(raw):
            try:
                number = phonenumbers.parse(reading, region)
            except NumberParseException:
                continue
            if phonenumbers.is_possible_number(number):
                found.setdefault(phonenumbers.format_number(number, PhoneNumberFormat.E164), number)
        return tuple(found.items())


@functools.lru_cache(maxsize=CACHE_SIZE)
def time_zones_of(e164: str) -> tuple[str, ...]:
    """The IANA time zones where the number may ring, from its country and area code
    (``+4930…`` -> ``("Europe/Berlin",)``; a US number of an area code that spans two zones
    gives both, and the calling window must then be open in both). Empty when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return ()
    zones = number_timezone.time_zones_for_number(number)
    return tuple(z for z in zones if z != number_timezone.UNKNOWN_TIMEZONE)

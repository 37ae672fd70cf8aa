"""When a campaign may call a number: the campaign's schedule and the callee's local time.

Two clocks decide, and a number is callable at an instant only when both allow it:

- **The campaign's schedule**, read on the campaign's own clock (``CallingRules.time_zone``,
  the centre's zone): first and last day (both inclusive), daily hours and weekdays. This is
  when the centre works the campaign; a scheduled campaign starts and stops by itself because
  nothing is callable outside it.
- **The callee's calling window**, read on the callee's local clock: daily hours (default
  08:00-21:00) and weekdays. The zone is an IANA name resolved outside the model (from the
  number's region with ``phonenumbers``, or from the customer's record); a callee without a
  known zone is judged on the campaign's clock. A number whose region spans several zones
  (``phonenumbers`` lists them all, e.g. for a non-geographic mobile number) may be given as
  a tuple of zones: it is callable only when the window is open on *every* one of them.

Times of day are half-open, ``[start, end)``: with the default window 21:00:00 is already too
late. Daily hours never wrap midnight (``start < end``); ``None`` hours mean the whole day.

Daylight saving time is handled by construction, not by arithmetic: an instant is converted to
each zone and its *wall clock* is compared with the rules, so a spring-forward day simply has
no 02:30 in Berlin (an hour shorter) and a fall-back day has 02:30 twice (both are inside a
02:00-03:00 window). Never add hours to local times to find when a window opens:
:func:`next_open` instead visits every instant where the answer can change (a wall clock
reaching a boundary of the rules in either fold, local midnight, a UTC-offset transition)
and returns the first one where both clocks allow the call. Zones that switch at midnight
(America/Havana, America/Santiago) and pairs of zones far apart (Asia/Seoul against a campaign
run from America/Los_Angeles, whose weekdays differ for part of each day) need nothing special.

Every instant given to or returned by this module is an aware ``datetime``; results are UTC.
Weekdays are ``datetime.weekday()`` numbers: Monday is 0, Sunday is 6.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

EVERY_DAY: frozenset[int] = frozenset(range(7))
MONDAY_TO_FRIDAY: frozenset[int] = frozenset(range(5))
MONDAY_TO_SATURDAY: frozenset[int] = frozenset(range(6))

# How far :func:`next_open` looks ahead when the campaign has no last day. A year covers every
# combination of both zones' DST seasons; rules that never open within it never open.
HORIZON = timedelta(days=400)

_DAY = timedelta(days=1)
_MIDNIGHT = time(0)


@dataclass(frozen=True, slots=True)
class DailyHours:
    """Local wall-clock hours ``[start, end)`` of one day; naive times, ``start < end``."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("daily hours are wall-clock times without a zone")
        if not self.start < self.end:
            raise ValueError(f"daily hours must not wrap midnight: {self.start}-{self.end}")

    def __contains__(self, wall: time) -> bool:
        return self.start <= wall < self.end


DEFAULT_CALLEE_HOURS = DailyHours(time(8), time(21))


@dataclass(frozen=True, slots=True)
class CallingRules:
    """A campaign's calling rules. ``time_zone`` is the campaign's clock and the default for
    callees of unknown zone; dates, ``campaign_hours`` and ``campaign_days`` are read on it,
    ``callee_hours`` and ``callee_days`` on the callee's clock."""

    time_zone: str = "UTC"
    first_day: date | None = None
    last_day: date | None = None
    campaign_hours: DailyHours | None = None
    campaign_days: frozenset[int] = EVERY_DAY
    callee_hours: DailyHours | None = DEFAULT_CALLEE_HOURS
    callee_days: frozenset[int] = EVERY_DAY

    def __post_init__(self) -> None:
        zone(self.time_zone)  # raises for an unknown campaign zone: a configuration error
        for days in (self.campaign_days, self.callee_days):
            if not days <= EVERY_DAY:
                raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday): {sorted(days)}")
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise ValueError("the campaign's last day is before its first day")


class WindowState(enum.Enum):
    """Why a number is (not) callable now; the first failing rule, campaign before callee."""

    OPEN = "open"
    NOT_STARTED = "not_started"  # before the campaign's first day
    ENDED = "ended"  # after the campaign's last day: it never opens again
    CAMPAIGN_CLOSED = "campaign_closed"  # outside the campaign's days or hours
    CALLEE_CLOSED = "callee_closed"  # outside the callee's local calling window


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` when the system's tz database lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


CalleeZone = str | tuple[str, ...] | None
"""An IANA zone name, several (the window must be open on all), or ``None`` (unknown)."""


def callee_zones(rules: CallingRules, names: CalleeZone) -> tuple[ZoneInfo, ...]:
    """The callee's clocks: ``names``, or the campaign's zone for an unknown or invalid one
    (an invalid name is logged: a data problem upstream, not a reason to stop dialing)."""
    wanted = (names,) if isinstance(names, str) else names or ()
    zones: list[ZoneInfo] = []
    for name in wanted:
        try:
            zones.append(zone(name))
        except ValueError:
            log.warning("unknown callee time zone %r: using the campaign's", name)
    return tuple(dict.fromkeys(zones)) or (zone(rules.time_zone),)


def campaign_state(rules: CallingRules, now: datetime) -> WindowState:
    """The campaign's own schedule at ``now``, whoever is called (for starting and stopping a
    scheduled campaign, and for the campaign page)."""
    wall = _wall(now, zone(rules.time_zone))
    if rules.first_day is not None and wall.date() < rules.first_day:
        return WindowState.NOT_STARTED
    if rules.last_day is not None and wall.date() > rules.last_day:
        return WindowState.ENDED
    if not _allows(rules.campaign_hours, rules.campaign_days, wall):
        return WindowState.CAMPAIGN_CLOSED
    return WindowState.OPEN


def window_state(rules: CallingRules, time_zone: CalleeZone, now: datetime) -> WindowState:
    """Whether a callee in ``time_zone`` (``None``: unknown) may be called at ``now``."""
    state = campaign_state(rules, now)
    if state is not WindowState.OPEN:
        return state
    for tz in callee_zones(rules, time_zone):
        if not _allows(rules.callee_hours, rules.callee_days, _wall(now, tz)):
            return WindowState.CALLEE_CLOSED
    return WindowState.OPEN


def is_callable(rules: CallingRules, time_zone: CalleeZone, now: datetime) -> bool:
    return window_state(rules, time_zone, now) is WindowState.OPEN


def next_open(rules: CallingRules, time_zone: CalleeZone, now: datetime) -> datetime | None:
    """The first instant at or after ``now`` when the callee may be called (``now`` itself
    when open), in UTC; ``None`` when that never happens again (the campaign is over, or the
    rules never overlap within :data:`HORIZON`). Use it to schedule retries and callbacks:
    ``next_open(rules, tz, failed_at + delay)``."""
    now = now.astimezone(UTC)
    campaign = zone(rules.time_zone)
    return _first(rules, campaign, callee_zones(rules, time_zone), now)


def campaign_next_open(rules: CallingRules, now: datetime) -> datetime | None:
    """The first instant at or after ``now`` when the campaign's own schedule is open."""
    return _first(rules, zone(rules.time_zone), (), now.astimezone(UTC))


# --- internals ------------------------------------------------------------------------------


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants must be aware datetimes (UTC)")
    return instant.astimezone(tz)


def _allows(hours: DailyHours | None, days: frozenset[int], wall: datetime) -> bool:
    if wall.weekday() not in days:
        return False
    return hours is None or wall.time() in hours


def _open(
    rules: CallingRules, campaign: ZoneInfo, callees: tuple[ZoneInfo, ...], at: datetime
) -> bool:
    wall = at.astimezone(campaign)
    day = wall.date()
    if rules.first_day is not None and day < rules.first_day:
        return False
    if rules.last_day is not None and day > rules.last_day:
        return False
    if not _allows(rules.campaign_hours, rules.campaign_days, wall):
        return False
    return all(_allows(rules.callee_hours, rules.callee_days, at.astimezone(tz)) for tz in callees)


def _first(
    rules: CallingRules, campaign: ZoneInfo, callees: tuple[ZoneInfo, ...], now: datetime
) -> datetime | None:
    """The first instant at or after ``now`` open on every clock (no callee clocks: only the
    campaign's schedule)."""
    if _open(rules, campaign, callees, now):
        return now
    wall_day = now.astimezone(campaign).date()
    if rules.last_day is not None and wall_day > rules.last_day:
        return None
    lo = now
    if rules.first_day is not None and wall_day < rules.first_day:
        # Skip the days before the campaign starts; a day early covers any offset.
        start = datetime.combine(rules.first_day, _MIDNIGHT, tzinfo=campaign) - _DAY
        lo = max(lo, start.astimezone(UTC))
    stop = now + HORIZON
    if rules.last_day is not None:
        after = datetime.combine(rules.last_day + 2 * _DAY, _MIDNIGHT, tzinfo=campaign)
        stop = min(stop, after.astimezone(UTC))
    clocks: list[tuple[ZoneInfo, tuple[time, ...]]] = [(campaign, _boundaries(rules, True))]
    clocks.extend((tz, _boundaries(rules, False)) for tz in callees)
    while lo < stop:
        hi = min(lo + _DAY, stop)
        points = sorted({p for tz, times in clocks for p in _change_points(tz, times, lo, hi)})
        for point in points:
            if point > now and _open(rules, campaign, callees, point):
                return point
        lo = hi
    return None


def _boundaries(rules: CallingRules, campaign: bool) -> tuple[time, ...]:
    hours = rules.campaign_hours if campaign else rules.callee_hours
    if hours is None:
        return (_MIDNIGHT,)
    return (_MIDNIGHT, hours.start, hours.end)


def _change_points(
    tz: ZoneInfo, times: tuple[time, ...], lo: datetime, hi: datetime
) -> Iterator[datetime]:
    """Every instant in ``[lo, hi)`` where a rule on ``tz``'s wall clock can change its answer:
    the wall clock reaching one of ``times`` (a repeated hour reaches them twice, hence both
    folds) and the UTC-offset transitions (where the wall clock jumps over or back across a
    boundary). Extra instants are harmless: each is only a place to look."""
    first = lo.astimezone(tz).date() - _DAY
    last = hi.astimezone(tz).date() + _DAY
    day = first
    while day <= last:
        for wall in times:
            for fold in (0, 1):
                point = datetime.combine(day, wall, tzinfo=tz).replace(fold=fold).astimezone(UTC)
                if lo <= point < hi:
                    yield point
        day += _DAY
    yield from _transitions(tz, lo, hi)


def _transitions(tz: ZoneInfo, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """UTC-offset changes of ``tz`` in ``[lo, hi)``, to the second, found by bisection on
    six-hour steps (no zone changes its offset twice within six hours)."""

    def offset(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, tz).utcoffset()

    a = math.floor(lo.timestamp())
    end = math.ceil(hi.timestamp())
    while a < end:
        b = min(a + 6 * 3600, end)
        if offset(a) != offset(b):
            left, right = a, b  # offset(left) != offset(right): the change is in (left, right]
            while right - left > 1:
                mid = (left + right) // 2
                if offset(mid) == offset(left):
                    left = mid
                else:
                    right = mid
            point = datetime.fromtimestamp(right, UTC)
            if lo <= point < hi:
                yield point
        a = b

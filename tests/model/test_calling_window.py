"""Calling windows on the callee's clock and the campaign's: time zones, DST days, dates."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from callcenter.model.calling_window import (
    MONDAY_TO_FRIDAY,
    CallingRules,
    DailyHours,
    WindowState,
    campaign_next_open,
    campaign_state,
    is_callable,
    next_open,
    window_state,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


BERLIN = CallingRules(time_zone="Europe/Berlin")
NEW_YORK = CallingRules(time_zone="America/New_York")
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("rules", "opens", "closes"),
    [
        # An ordinary day: CEST (+2) in Berlin, EDT (-4) in New York.
        (BERLIN, utc(2024, 6, 12, 6), utc(2024, 6, 12, 19)),
        (NEW_YORK, utc(2024, 6, 12, 12), utc(2024, 6, 13, 1)),
        # Berlin springs forward 2024-03-31 02:00 CET -> 03:00 CEST: 08:00 is 06:00 UTC that
        # day, 07:00 UTC the day before.
        (BERLIN, utc(2024, 3, 30, 7), utc(2024, 3, 30, 20)),
        (BERLIN, utc(2024, 3, 31, 6), utc(2024, 3, 31, 19)),
        # Berlin falls back 2024-10-27 03:00 CEST -> 02:00 CET.
        (BERLIN, utc(2024, 10, 26, 6), utc(2024, 10, 26, 19)),
        (BERLIN, utc(2024, 10, 27, 7), utc(2024, 10, 27, 20)),
        # New York springs forward 2024-03-10, falls back 2024-11-03 (at 02:00 local).
        (NEW_YORK, utc(2024, 3, 9, 13), utc(2024, 3, 10, 2)),
        (NEW_YORK, utc(2024, 3, 10, 12), utc(2024, 3, 11, 1)),
        (NEW_YORK, utc(2024, 11, 2, 12), utc(2024, 11, 3, 1)),
        (NEW_YORK, utc(2024, 11, 3, 13), utc(2024, 11, 4, 2)),
    ],
)
def test_default_window_is_8_to_21_local_on_dst_days(
    rules: CallingRules, opens: datetime, closes: datetime
) -> None:
    assert not is_callable(rules, None, opens - SECOND)
    assert is_callable(rules, None, opens)
    assert is_callable(rules, None, closes - SECOND)
    assert window_state(rules, None, closes) is WindowState.CALLEE_CLOSED
    assert next_open(rules, None, opens - timedelta(hours=5)) == opens
    assert next_open(rules, None, closes) == opens + timedelta(days=1) + (
        # the next morning is an hour later/earlier in UTC when the offset changes overnight
        _offset_shift(rules, opens)
    )


def _offset_shift(rules: CallingRules, day: datetime) -> timedelta:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(rules.time_zone)
    today = day.astimezone(tz).utcoffset()
    tomorrow = (day + timedelta(days=1)).astimezone(tz).utcoffset()
    assert today is not None and tomorrow is not None
    return today - tomorrow


def test_the_callees_clock_decides_not_the_campaigns() -> None:
    at = utc(2024, 6, 12, 6, 30)  # 08:30 in Berlin, 02:30 in New York, 15:30 in Seoul
    assert is_callable(BERLIN, None, at)
    assert is_callable(BERLIN, "Europe/Berlin", at)
    assert window_state(BERLIN, "America/New_York", at) is WindowState.CALLEE_CLOSED
    assert is_callable(BERLIN, "Asia/Seoul", at)
    assert next_open(BERLIN, "America/New_York", at) == utc(2024, 6, 12, 12)


def test_unknown_callee_zone_falls_back_to_the_campaign_zone() -> None:
    at = utc(2024, 6, 12, 6, 30)
    assert is_callable(BERLIN, "Mars/Olympus_Mons", at) == is_callable(BERLIN, None, at)
    assert is_callable(BERLIN, "", at)


def test_a_number_spanning_several_zones_waits_for_all_of_them() -> None:
    # A US number phonenumbers cannot place between New York and Los Angeles: 08:00 in LA
    # (15:00 UTC) to 21:00 in New York (01:00 UTC).
    both = ("America/New_York", "America/Los_Angeles")
    assert next_open(BERLIN, both, utc(2024, 6, 12, 12)) == utc(2024, 6, 12, 15)
    assert is_callable(BERLIN, both, utc(2024, 6, 13, 0, 59))
    assert window_state(BERLIN, both, utc(2024, 6, 13, 1)) is WindowState.CALLEE_CLOSED
    assert is_callable(BERLIN, ("America/New_York", "Nowhere/X"), utc(2024, 6, 12, 12))
    assert is_callable(BERLIN, (), utc(2024, 6, 12, 12)) == is_callable(
        BERLIN, None, utc(2024, 6, 12, 12)
    )


def test_seoul_callees_of_a_los_angeles_campaign_have_one_hour_a_day() -> None:
    # The centre works 09:00-17:00 Pacific on weekdays; Seoul callees may be called 08-21 on
    # their weekdays. 16:00-17:00 in LA (PDT, -7) is 08:00-09:00 the next day in Seoul (+9).
    rules = CallingRules(
        time_zone="America/Los_Angeles",
        campaign_hours=DailyHours(time(9), time(17)),
        campaign_days=MONDAY_TO_FRIDAY,
        callee_days=MONDAY_TO_FRIDAY,
    )
    monday = utc(2024, 6, 3, 12)  # 05:00 Monday in LA
    assert window_state(rules, "Asia/Seoul", monday) is WindowState.CAMPAIGN_CLOSED
    assert next_open(rules, "Asia/Seoul", monday) == utc(2024, 6, 3, 23)
    assert window_state(rules, "Asia/Seoul", utc(2024, 6, 3, 22)) is WindowState.CALLEE_CLOSED
    assert not is_callable(rules, "Asia/Seoul", utc(2024, 6, 4, 0))  # 17:00 in LA
    # Friday afternoon in LA is Saturday morning in Seoul: next chance is Monday in LA.
    friday = utc(2024, 6, 7, 0)
    assert next_open(rules, "Asia/Seoul", friday) == utc(2024, 6, 10, 23)
    # Same campaign, callees in Los Angeles: the campaign's hours are the limit.
    assert next_open(rules, "America/Los_Angeles", monday) == utc(2024, 6, 3, 16)


def test_los_angeles_callees_of_a_seoul_campaign() -> None:
    rules = CallingRules(time_zone="Asia/Seoul", campaign_hours=DailyHours(time(9), time(18)))
    # Seoul 09-18 is 00-09 UTC; LA 08-21 PDT is 15-04 UTC: overlap 00:00-04:00 UTC.
    at = utc(2024, 6, 3, 5)
    assert window_state(rules, "America/Los_Angeles", at) is WindowState.CALLEE_CLOSED
    assert next_open(rules, "America/Los_Angeles", at) == utc(2024, 6, 4, 0)
    # In winter LA is on PST (-8): the overlap shrinks to 00:00-05:00 UTC... and moves.
    assert is_callable(rules, "America/Los_Angeles", utc(2024, 12, 3, 4, 30))
    assert not is_callable(rules, "America/Los_Angeles", utc(2024, 6, 3, 4, 30))


def test_weeks_between_the_us_and_eu_dst_changes() -> None:
    # A Berlin campaign 09-17 calling New York (08-21): NY opens at 14:00 Berlin time, except
    # between the US change (2024-03-10) and the EU change (2024-03-31), when it is 13:00.
    rules = CallingRules(time_zone="Europe/Berlin", campaign_hours=DailyHours(time(9), time(17)))
    ny = "America/New_York"
    assert next_open(rules, ny, utc(2024, 3, 4)) == utc(2024, 3, 4, 13)  # 14:00 CET
    assert next_open(rules, ny, utc(2024, 3, 11)) == utc(2024, 3, 11, 12)  # 13:00 CET
    assert next_open(rules, ny, utc(2024, 4, 1)) == utc(2024, 4, 1, 12)  # 14:00 CEST


def test_a_window_inside_the_skipped_hour_never_opens_that_day() -> None:
    rules = CallingRules(time_zone="Europe/Berlin", callee_hours=DailyHours(time(2), time(3)))
    # 2024-03-31 has no 02:xx in Berlin: the next 02:00 is on April 1st (CEST, 00:00 UTC).
    assert next_open(rules, None, utc(2024, 3, 30, 23)) == utc(2024, 4, 1, 0)
    assert not any(
        is_callable(rules, None, utc(2024, 3, 31, 0) + m * 60 * SECOND) for m in range(120)
    )


def test_a_window_inside_the_repeated_hour_opens_twice() -> None:
    rules = CallingRules(time_zone="Europe/Berlin", callee_hours=DailyHours(time(2), time(2, 30)))
    # 2024-10-27: 02:00-02:30 CEST is 00:00-00:30 UTC, 02:00-02:30 CET is 01:00-01:30 UTC.
    assert next_open(rules, None, utc(2024, 10, 26, 23)) == utc(2024, 10, 27, 0)
    assert not is_callable(rules, None, utc(2024, 10, 27, 0, 30))
    assert next_open(rules, None, utc(2024, 10, 27, 0, 30)) == utc(2024, 10, 27, 1)
    assert is_callable(rules, None, utc(2024, 10, 27, 1, 29))
    assert next_open(rules, None, utc(2024, 10, 27, 1, 30)) == utc(2024, 10, 28, 1)


def test_a_zone_that_skips_midnight_starts_its_day_at_one() -> None:
    # America/Havana springs forward at 00:00: Sunday 2024-03-10 begins at 01:00 CDT (05:00 UTC).
    rules = CallingRules(time_zone="America/Havana", callee_hours=None, callee_days=frozenset({6}))
    assert next_open(rules, None, utc(2024, 3, 9, 17)) == utc(2024, 3, 10, 5)
    assert not is_callable(rules, None, utc(2024, 3, 10, 5) - SECOND)


def test_campaign_dates_are_inclusive_days_on_the_campaign_clock() -> None:
    rules = CallingRules(
        time_zone="Europe/Berlin", first_day=date(2024, 6, 10), last_day=date(2024, 6, 14)
    )
    before = utc(2024, 6, 1, 12)
    assert campaign_state(rules, before) is WindowState.NOT_STARTED
    assert window_state(rules, None, before) is WindowState.NOT_STARTED
    assert campaign_next_open(rules, before) == utc(2024, 6, 9, 22)  # Berlin midnight
    assert next_open(rules, None, before) == utc(2024, 6, 10, 6)
    # Without campaign hours, New York callees are callable from Berlin's first midnight
    # (18:00 the evening before in New York).
    assert next_open(rules, "America/New_York", before) == utc(2024, 6, 9, 22)
    assert is_callable(rules, None, utc(2024, 6, 14, 18, 59))
    # New York callees on the last day: NY's evening is after midnight in Berlin.
    assert is_callable(rules, "America/New_York", utc(2024, 6, 14, 21, 59))
    assert not is_callable(rules, "America/New_York", utc(2024, 6, 14, 22))
    after = utc(2024, 6, 14, 22)  # June 15th in Berlin
    assert campaign_state(rules, after) is WindowState.ENDED
    assert next_open(rules, None, after) is None
    assert campaign_next_open(rules, after) is None


def test_weekdays_of_the_callee() -> None:
    rules = CallingRules(time_zone="Europe/Berlin", callee_days=MONDAY_TO_FRIDAY)
    saturday = utc(2024, 6, 15, 10)
    assert window_state(rules, None, saturday) is WindowState.CALLEE_CLOSED
    assert next_open(rules, None, saturday) == utc(2024, 6, 17, 6)  # Monday 08:00 CEST


def test_rules_that_never_overlap_never_open() -> None:
    rules = CallingRules(
        time_zone="UTC",
        campaign_hours=DailyHours(time(0), time(1)),
        callee_hours=DailyHours(time(12), time(13)),
    )
    assert next_open(rules, None, utc(2024, 6, 1)) is None


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        DailyHours(time(21), time(8))
    with pytest.raises(ValueError):
        CallingRules(time_zone="Nowhere/Special")
    with pytest.raises(ValueError):
        CallingRules(callee_days=frozenset({7}))
    with pytest.raises(ValueError):
        CallingRules(first_day=date(2024, 2, 1), last_day=date(2024, 1, 1))
    with pytest.raises(ValueError):
        is_callable(BERLIN, None, datetime(2024, 6, 1, 12))


@pytest.mark.parametrize(
    ("campaign_zone", "callee_zone", "start"),
    [
        ("Europe/Berlin", "America/New_York", utc(2024, 3, 29, 3, 17)),
        ("America/New_York", "Europe/Berlin", utc(2024, 10, 26, 13, 41)),
        ("America/Los_Angeles", "Asia/Seoul", utc(2024, 11, 1, 22, 5)),
        ("Europe/Berlin", ("America/Chicago", "America/Denver"), utc(2024, 3, 9, 6, 59)),
    ],
)
def test_next_open_agrees_with_a_minute_by_minute_scan(
    campaign_zone: str, callee_zone: str | tuple[str, ...], start: datetime
) -> None:
    rules = CallingRules(
        time_zone=campaign_zone,
        campaign_hours=DailyHours(time(9), time(17, 30)),
        campaign_days=MONDAY_TO_FRIDAY,
        callee_days=frozenset({0, 1, 2, 3, 4, 5}),
    )
    rng = random.Random(start.timestamp())
    for _ in range(6):
        now = start + timedelta(minutes=rng.randrange(4 * 24 * 60))
        expected = next(
            (
                now + timedelta(minutes=m)
                for m in range(8 * 24 * 60)
                if is_callable(rules, callee_zone, now + timedelta(minutes=m))
            ),
            None,
        )
        assert next_open(rules, callee_zone, now) == expected

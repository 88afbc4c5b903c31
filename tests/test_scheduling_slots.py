"""Slot maths with controlled time: DST spring-forward and fall-back, leads, and the trigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsletter.scheduling.slots import (
    SlotTrigger,
    assemble_time,
    cron_trigger,
    next_assemble,
    next_slot,
    previous_slot,
    slots_between,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def in_utc(slots: list[datetime]) -> list[datetime]:
    return [s.astimezone(UTC) for s in slots]


def aps_fires(expr: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """What APScheduler's own CronTrigger (built with the zone) fires in (start, end]."""
    trigger = cron_trigger(expr, zone)
    out: list[datetime] = []
    now = start + timedelta(seconds=1)
    while True:
        fire = trigger.get_next_fire_time(None, now)
        if fire is None or fire > end:
            return out
        if not out or fire.astimezone(UTC) > out[-1]:
            out.append(fire.astimezone(UTC))
            now = fire + timedelta(seconds=1)
        else:  # CronTrigger repeats itself after the fall-back hour; step past it
            now = now + timedelta(minutes=1)


# -- fall-back: the repeated hour fires once, at its first occurrence ---------------------------


@pytest.mark.parametrize(
    ("expr", "zone", "day", "expected"),
    [
        ("30 1 * * *", LONDON, utc(2026, 10, 25), utc(2026, 10, 25, 0, 30)),  # 01:30 BST
        ("30 1 * * sun", LONDON, utc(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        ("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30)),  # 01:30 EDT
        ("30 1 * * sun", NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30)),
    ],
)
def test_fall_back_fires_once(expr: str, zone: ZoneInfo, day: datetime, expected: datetime) -> None:
    found = in_utc(slots_between(expr, zone, day - timedelta(hours=1), day + timedelta(hours=23)))
    assert found == [expected]
    # APScheduler's CronTrigger fires that wall time twice (one real hour apart): we do not.
    aps = aps_fires(expr, zone, day - timedelta(hours=1), day + timedelta(hours=23))
    assert aps == [expected, expected + timedelta(hours=1)]


def test_fall_back_neighbouring_days_keep_their_local_time() -> None:
    found = slots_between("30 1 * * *", NEW_YORK, utc(2026, 10, 30), utc(2026, 11, 4))
    assert [s.strftime("%m-%d %H:%M %z") for s in found] == [
        "10-30 01:30 -0400",
        "10-31 01:30 -0400",
        "11-01 01:30 -0400",
        "11-02 01:30 -0500",
        "11-03 01:30 -0500",
    ]


# -- spring-forward: the missing wall time is not skipped, it shifts by the gap ----------------


@pytest.mark.parametrize(
    ("expr", "zone", "day", "expected_utc", "expected_local"),
    [
        ("30 1 * * *", LONDON, utc(2026, 3, 29), utc(2026, 3, 29, 1, 30), "02:30 +0100"),
        ("30 1 * * sun", LONDON, utc(2026, 3, 29), utc(2026, 3, 29, 1, 30), "02:30 +0100"),
        ("30 2 * * *", NEW_YORK, utc(2026, 3, 8, 4), utc(2026, 3, 8, 7, 30), "03:30 -0400"),
        ("30 2 * * sun", NEW_YORK, utc(2026, 3, 8, 4), utc(2026, 3, 8, 7, 30), "03:30 -0400"),
    ],
)
def test_spring_forward_gap_is_not_skipped(
    expr: str, zone: ZoneInfo, day: datetime, expected_utc: datetime, expected_local: str
) -> None:
    found = slots_between(expr, zone, day - timedelta(hours=1), day + timedelta(hours=23))
    assert in_utc(found) == [expected_utc]
    assert found[0].strftime("%H:%M %z") == expected_local
    # Same instant as APScheduler's CronTrigger with the zone.
    assert aps_fires(expr, zone, day - timedelta(hours=1), day + timedelta(hours=23)) == [
        expected_utc
    ]


@pytest.mark.parametrize("zone", [LONDON, NEW_YORK])
@pytest.mark.parametrize("expr", ["0 7 * * wed", "0 8 * * sun", "30 1 * * *", "30 2 * * *"])
def test_a_whole_year_matches_apscheduler_except_the_doubled_fall_back_run(
    expr: str, zone: ZoneInfo
) -> None:
    start, end = utc(2026, 1, 1), utc(2027, 1, 1)
    ours = in_utc(slots_between(expr, zone, start, end))
    aps = aps_fires(expr, zone, start, end)
    extra = sorted(set(aps) - set(ours))
    assert set(ours) <= set(aps)
    # The only difference: the second pass through the repeated fall-back hour.
    assert all(
        e.date() in (datetime(2026, 10, 25).date(), datetime(2026, 11, 1).date()) for e in extra
    )
    # Never doubled: one slot per local date, and (daily) none skipped.
    dates = [s.astimezone(zone).date() for s in ours]
    assert len(dates) == len(set(dates))
    if expr.endswith("* * *"):
        assert len(ours) == 365


def test_weekly_sunday_slots_stay_at_eight_local_all_year() -> None:
    found = slots_between("0 8 * * sun", LONDON, utc(2026, 1, 1), utc(2027, 1, 1))
    assert len(found) == 52
    assert {s.strftime("%a %H:%M") for s in found} == {"Sun 08:00"}
    assert {s.utcoffset() for s in found} == {timedelta(0), timedelta(hours=1)}


# -- the assemble lead is real elapsed time, computed from the slot instant ---------------------


def test_lead_across_spring_forward_is_three_real_hours() -> None:
    slot = next_slot("0 3 * * sun", LONDON, utc(2026, 3, 28))
    assert slot.strftime("%Y-%m-%d %H:%M %z") == "2026-03-29 03:00 +0100"
    at = assemble_time(slot, timedelta(hours=3))
    assert slot.astimezone(UTC) - at.astimezone(UTC) == timedelta(hours=3)
    assert at.strftime("%Y-%m-%d %H:%M %z") == "2026-03-28 23:00 +0000"  # 4 wall-clock hours


def test_lead_across_fall_back_is_three_real_hours() -> None:
    slot = next_slot("0 3 * * sun", LONDON, utc(2026, 10, 24))
    at = assemble_time(slot, timedelta(hours=3))
    assert slot.astimezone(UTC) - at.astimezone(UTC) == timedelta(hours=3)
    assert at.strftime("%H:%M %z") == "01:00 +0100"  # 2 wall-clock hours before 03:00 GMT


def test_default_sunday_lead_on_the_spring_forward_day() -> None:
    at, slot = next_assemble("0 8 * * sun", LONDON, timedelta(hours=3), utc(2026, 3, 28))
    assert slot.astimezone(UTC) == utc(2026, 3, 29, 7)
    assert at.astimezone(UTC) == utc(2026, 3, 29, 4)


def test_next_assemble_skips_to_the_following_slot_once_its_time_passed() -> None:
    at, slot = next_assemble("0 8 * * sun", LONDON, timedelta(hours=3), utc(2026, 11, 22, 6))
    assert slot.astimezone(UTC) == utc(2026, 11, 29, 8)
    assert at.astimezone(UTC) == utc(2026, 11, 29, 5)


# -- previous / next ------------------------------------------------------------------------------


def test_previous_and_next_slot_boundaries() -> None:
    slot = utc(2026, 11, 22, 8)
    assert previous_slot("0 8 * * sun", LONDON, slot) == slot
    assert previous_slot("0 8 * * sun", LONDON, slot - timedelta(seconds=1)) == utc(2026, 11, 15, 8)
    assert next_slot("0 8 * * sun", LONDON, slot) == utc(2026, 11, 29, 8)
    assert next_slot("0 8 * * sun", LONDON, slot, inclusive=True) == slot
    assert previous_slot("0 7 1 1 *", LONDON, utc(2026, 11, 22)) == utc(2026, 1, 1, 7)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        next_slot("0 8 * * sun", LONDON, datetime(2026, 11, 22, 8))


# -- the APScheduler trigger uses the same instants ----------------------------------------------


def test_slot_trigger_send_and_assemble_fire_times() -> None:
    send = SlotTrigger("0 8 * * sun", LONDON)
    assemble = SlotTrigger("0 8 * * sun", LONDON, -timedelta(hours=3))
    now = utc(2026, 3, 25)
    assert send.get_next_fire_time(None, now) == utc(2026, 3, 29, 7)
    assert assemble.get_next_fire_time(None, now) == utc(2026, 3, 29, 4)
    # After a fire, the next one is the following week, even if the scheduler woke up late.
    fired = utc(2026, 3, 29, 7)
    assert send.get_next_fire_time(fired, fired + timedelta(minutes=5)) == utc(2026, 4, 5, 7)
    # A missed fire is still reported (the scheduler applies misfire_grace_time to it).
    assert send.get_next_fire_time(utc(2026, 3, 22, 8), utc(2026, 3, 29, 7, 30)) == utc(
        2026, 3, 29, 7
    )


def test_slot_trigger_fires_once_in_the_fall_back_hour() -> None:
    trigger = SlotTrigger("30 1 * * *", NEW_YORK)
    first = trigger.get_next_fire_time(None, utc(2026, 11, 1, 4))
    assert first == utc(2026, 11, 1, 5, 30)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert second == utc(2026, 11, 2, 6, 30)

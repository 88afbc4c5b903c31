"""Slot time maths: when each edition is due to send and to assemble, daylight-saving correct.

A slot is an instant. It is computed from the edition's cron expression read as *wall-clock*
time in the edition's IANA zone, then mapped to an instant with one rule (PEP 495 ``fold=0``):

* a wall time that happens twice (the fall-back hour) fires **once**, at its first
  occurrence. APScheduler 3.11's ``CronTrigger`` fires twice there (measured); we do not,
  because one slot is one issue (`<date>-<edition>`).
* a wall time that does not exist (the spring-forward gap) is **not skipped**: it fires shifted
  forward by the length of the gap (02:30 in New York on the spring-forward day fires at
  03:30 EDT), exactly as APScheduler's ``CronTrigger`` does.

The assemble time of a slot is the slot instant minus ``assemble_lead`` in real elapsed time, so
a 3 h lead before 07:00 on a DST-change day is still 3 real hours before the real instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

# Wider than any UTC offset change, so a wall-clock search window always covers the instant.
_DST_MARGIN = timedelta(hours=3)
_STEP = timedelta(seconds=1)
_LOOKBACKS = (
    timedelta(hours=2),
    timedelta(days=2),
    timedelta(days=9),
    timedelta(days=33),
    timedelta(days=367),
    timedelta(days=1470),
)


@lru_cache(maxsize=64)
def _wall_trigger(expr: str) -> CronTrigger:
    # The cron is evaluated in UTC, which has no DST: the fire times are pure wall-clock values.
    return CronTrigger.from_crontab(expr, timezone=UTC)


def cron_trigger(expr: str, zone: ZoneInfo) -> CronTrigger:
    """APScheduler's own trigger for a schedule, built with the edition's zone (for reference)."""
    return CronTrigger.from_crontab(expr, timezone=zone)


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """Map a naive wall-clock time in ``zone`` to a UTC instant (first occurrence; gap shifts)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _walls(expr: str, start: datetime) -> Iterator[datetime]:
    """Naive wall-clock fire times of ``expr`` at or after the naive ``start``."""
    trigger = _wall_trigger(expr)
    now = start.replace(tzinfo=UTC)
    while True:
        fire = trigger.get_next_fire_time(None, now)
        if fire is None:
            return
        yield fire.replace(tzinfo=None)
        now = fire + _STEP


def _local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()}: a time zone is required")
    return value.astimezone(UTC)


def next_slot(expr: str, zone: ZoneInfo, after: datetime, *, inclusive: bool = False) -> datetime:
    """The first slot strictly after ``after`` (or at it, if ``inclusive``), in ``zone``."""
    after = _aware(after)
    best: datetime | None = None
    best_wall: datetime | None = None
    for wall in _walls(expr, _local_wall(after, zone) - _DST_MARGIN):
        if best_wall is not None and wall > best_wall + 2 * _DST_MARGIN:
            break
        instant = wall_to_instant(wall, zone)
        due = instant > after or (inclusive and instant == after)
        if due and (best is None or instant < best):
            best, best_wall = instant, wall
    if best is None:
        raise ValueError(f"{expr!r}: the schedule never fires again")
    return best.astimezone(zone)


def slots_between(expr: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in ``(start, end]``, oldest first, each once, in ``zone``."""
    start, end = _aware(start), _aware(end)
    limit = _local_wall(end, zone) + _DST_MARGIN
    found: set[datetime] = set()
    for wall in _walls(expr, _local_wall(start, zone) - _DST_MARGIN):
        if wall > limit:
            break
        instant = wall_to_instant(wall, zone)
        if start < instant <= end:
            found.add(instant)
    return [slot.astimezone(zone) for slot in sorted(found)]


def previous_slot(expr: str, zone: ZoneInfo, at: datetime) -> datetime | None:
    """The most recent slot at or before ``at`` (None if none in the last four years)."""
    at = _aware(at)
    for lookback in _LOOKBACKS:
        found = slots_between(expr, zone, at - lookback, at)
        if found:
            return found[-1]
    return None


def assemble_time(slot: datetime, lead: timedelta) -> datetime:
    """When the issue for ``slot`` is assembled: ``lead`` real time before the slot instant."""
    zone = slot.tzinfo
    return (_aware(slot) - lead).astimezone(zone)


def next_assemble(
    expr: str, zone: ZoneInfo, lead: timedelta, after: datetime
) -> tuple[datetime, datetime]:
    """The next assemble time strictly after ``after`` and the slot it prepares."""
    slot = next_slot(expr, zone, _aware(after) + lead)
    return assemble_time(slot, lead), slot


class SlotTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger firing at each slot plus ``offset`` (e.g. ``-assemble_lead``).

    It delegates to :func:`next_slot`, so the scheduler and the catch-up logic agree on every
    instant, and the fall-back hour never doubles a run.
    """

    __slots__ = ("expr", "offset", "timezone")

    def __init__(self, expr: str, timezone: ZoneInfo, offset: timedelta = timedelta(0)) -> None:
        cron_trigger(expr, timezone)  # validates the expression with the edition's zone
        self.expr = expr
        self.timezone = timezone
        self.offset = offset

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = now
        if previous_fire_time is not None:
            # Like CronTrigger: resume right after the previous fire, so misfires are seen.
            start = min(now, previous_fire_time + timedelta(microseconds=1))
        slot = next_slot(self.expr, self.timezone, _aware(start) - self.offset, inclusive=True)
        # In UTC: a zone-aware time in a repeated hour never compares equal across zones (PEP 495).
        return slot.astimezone(UTC) + self.offset

    def __getstate__(self) -> dict[str, Any]:
        return {"expr": self.expr, "timezone": self.timezone.key, "offset": self.offset}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.expr = state["expr"]
        self.timezone = ZoneInfo(state["timezone"])
        self.offset = state["offset"]

    def __str__(self) -> str:
        shift = f", offset={self.offset}" if self.offset else ""
        return f"slot[{self.expr} {self.timezone.key}{shift}]"

    def __repr__(self) -> str:
        return f"<SlotTrigger ({self})>"

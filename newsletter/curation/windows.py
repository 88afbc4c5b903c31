"""Issue slots and windows, computed from the configured edition schedules.

An issue at slot S covers news published after the previous slot of *either* edition, up to
and including S: the window ``(previous, S]``. Slots come from each edition's cron expression
evaluated in its own IANA time zone, so they follow daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache

from newsletter.config import EditionConfig, Settings
from newsletter.errors import InputError
from newsletter.models import EDITIONS, Edition, Window, issue_id

_LOOKBACK = timedelta(days=8)
_MAX_LOOKBACK = timedelta(days=800)


@dataclass(frozen=True)
class IssueSlot:
    """Where an issue sits in time: its slot, window, id and running number."""

    edition: Edition
    slot: datetime
    window: Window
    id: str
    number: int | None


@lru_cache(maxsize=64)
def _trigger(schedule: str, timezone: str) -> object:
    from apscheduler.triggers.cron import CronTrigger

    # Built WITH the edition's zone: a CronTrigger without one uses the host's zone.
    return CronTrigger.from_crontab(schedule, timezone=timezone)


def _next_at_or_after(edition: EditionConfig, at: datetime) -> datetime | None:
    trigger = _trigger(edition.schedule, edition.timezone)
    fire: datetime | None = trigger.get_next_fire_time(None, at)  # type: ignore[attr-defined]
    return fire


def _fires_between(edition: EditionConfig, start: datetime, end: datetime) -> list[datetime]:
    """Every slot of the edition in ``[start, end)``."""
    out: list[datetime] = []
    fire = _next_at_or_after(edition, start)
    while fire is not None and fire < end:
        out.append(fire)
        fire = _next_at_or_after(edition, fire + timedelta(microseconds=1))
    return out


def next_slot(cfg: Settings, edition: Edition, at: datetime) -> datetime:
    """The first slot of ``edition`` at or after ``at`` (in the edition's time zone)."""
    _require_aware(at)
    fire = _next_at_or_after(cfg.editions[edition], at)
    if fire is None:
        raise InputError(f"editions.{edition}.schedule: no slot after {at.isoformat()}")
    return fire


def previous_slot(cfg: Settings, before: datetime) -> datetime | None:
    """The latest slot of either edition strictly before ``before``, or None if none exists."""
    _require_aware(before)
    span = _LOOKBACK
    while span <= _MAX_LOOKBACK:
        found = [
            fires[-1]
            for name in EDITIONS
            if (fires := _fires_between(cfg.editions[name], before - span, before))
        ]
        if found:
            return max(found)
        span *= 4
    return None


def issue_number(cfg: Settings, slot: datetime) -> int | None:
    """How many slots of both editions fall from ``site.first_issue`` up to ``slot`` inclusive.

    None when ``site.first_issue`` is not set or is after the slot.
    """
    first = cfg.site.first_issue
    if first is None:
        return None
    count = 0
    for name in EDITIONS:
        edition = cfg.editions[name]
        start = datetime.combine(first, time(0), tzinfo=edition.zone)
        count += len(_fires_between(edition, start, slot + timedelta(microseconds=1)))
    return count or None


def issue_slot(cfg: Settings, edition: Edition, at: datetime) -> IssueSlot:
    """The slot an assemble run at ``at`` is for, its window, id and number."""
    slot = next_slot(cfg, edition, at)
    previous = previous_slot(cfg, slot)
    start = previous if previous is not None else slot - timedelta(days=7)
    zone = cfg.editions[edition].zone
    local = slot.astimezone(zone)
    return IssueSlot(
        edition=edition,
        slot=local,
        window=Window(start=start.astimezone(zone), end=local),
        id=issue_id(local, edition),
        number=issue_number(cfg, slot),
    )


def parse_at(value: str) -> datetime:
    """Parse an ISO 8601 date-time that carries an offset; anything else is an InputError."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"--at: not an ISO 8601 date-time (got {value!r})") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(
            f"--at: {value!r} has no UTC offset and is ambiguous; add one, e.g. +00:00"
        )
    return at


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(f"{at.isoformat()}: time without a UTC offset is ambiguous")

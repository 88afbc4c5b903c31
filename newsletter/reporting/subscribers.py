"""The subscribers overview: counts by status and edition, weekly growth, one person's record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select

from newsletter.store.tables import (
    consents,
    engagement,
    issue_counts,
    sends,
    subscribers,
    suppressions,
)

PAGE_SIZE = 25


@dataclass(frozen=True)
class Week:
    start: datetime
    signups: int = 0
    confirmations: int = 0
    """Double opt-in confirmations (consent records of action "confirm")."""
    unsubscribes: int = 0
    bounces: int = 0
    complaints: int = 0


@dataclass(frozen=True)
class Overview:
    by_status: dict[str, int]
    by_edition: dict[str, int]
    weeks: list[Week]
    total: int


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _week_start(value: datetime) -> datetime:
    day = value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def overview(conn: Connection, *, weeks: int = 12, now: datetime | None = None) -> Overview:
    """Counts by status, active readers per edition, and the last ``weeks`` weeks of growth."""
    s = subscribers.c
    by_status = {
        str(status): int(n)
        for status, n in conn.execute(select(s.status, func.count()).group_by(s.status))
    }
    active = s.status == "active"
    row = conn.execute(
        select(
            func.count().filter(s.wants_midweek.is_(True), s.wants_sunday.is_(False)),
            func.count().filter(s.wants_sunday.is_(True), s.wants_midweek.is_(False)),
            func.count().filter(s.wants_midweek.is_(True), s.wants_sunday.is_(True)),
        ).where(active)
    ).one()
    by_edition = {"midweek only": int(row[0]), "sunday only": int(row[1]), "both": int(row[2])}
    now = now or datetime.now(UTC)
    first = _week_start(now) - timedelta(weeks=weeks - 1)
    buckets: dict[datetime, dict[str, int]] = {first + timedelta(weeks=i): {} for i in range(weeks)}

    def add(stamps: Sequence[Any], what: str) -> None:
        for (stamp,) in stamps:
            aware = _aware(stamp)
            if aware is None:
                continue
            key = _week_start(aware)
            if key in buckets:
                buckets[key][what] = buckets[key].get(what, 0) + 1

    add(conn.execute(select(s.created_at).where(s.created_at >= first)).all(), "signups")
    c = consents.c
    add(
        conn.execute(select(c.at).where(c.action == "confirm", c.at >= first)).all(),
        "confirmations",
    )
    add(
        conn.execute(select(s.unsubscribed_at).where(s.unsubscribed_at >= first)).all(),
        "unsubscribes",
    )
    p = suppressions.c
    for reason, what in (("bounce", "bounces"), ("spamreport", "complaints")):
        add(
            conn.execute(
                select(p.created_at).where(p.reason == reason, p.created_at >= first)
            ).all(),
            what,
        )
    return Overview(
        by_status=by_status,
        by_edition=by_edition,
        weeks=[Week(start=k, **v) for k, v in sorted(buckets.items())],
        total=sum(by_status.values()),
    )


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int


def search(conn: Connection, query: str, page: int = 1, size: int = PAGE_SIZE) -> Page:
    """Subscribers whose address or name contains ``query`` (case-insensitive), by address."""
    s = subscribers.c
    cond = []
    q = query.strip().lower()
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cond.append(
            or_(s.email.like(like, escape="\\"), func.lower(s.name).like(like, escape="\\"))
        )
    total = int(
        conn.execute(select(func.count()).select_from(subscribers).where(*cond)).scalar_one()
    )
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    rows = conn.execute(
        select(s.id, s.email, s.name, s.status, s.wants_midweek, s.wants_sunday, s.created_at)
        .where(*cond)
        .order_by(s.email)
        .limit(size)
        .offset((page - 1) * size)
    )
    return Page([dict(r._mapping) for r in rows], page, pages, total)


@dataclass
class Person:
    subscriber: dict[str, Any]
    sends: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    suppressed: dict[str, Any] | None = None


def person(conn: Connection, subscriber_id: int) -> Person | None:
    """One subscriber: status, editions, consent records, what they were sent and when."""
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    if row is None:
        return None
    found = Person(subscriber=dict(row._mapping))
    email = row.email
    found.sends = [
        dict(r._mapping)
        for r in conn.execute(
            select(sends.c.issue_id, sends.c.status, sends.c.created_at, sends.c.updated_at)
            .where(sends.c.subscriber_id == subscriber_id)
            .order_by(sends.c.created_at.desc())
            .limit(100)
        )
    ]
    e = engagement.c
    found.events = [
        {**dict(r._mapping), "at": datetime.fromtimestamp(r.ts, UTC)}
        for r in conn.execute(
            select(e.issue_id, e.kind, e.detail, e.machine, e.url, e.ts)
            .where(e.email == email)
            .order_by(e.ts.desc())
            .limit(100)
        )
    ]
    found.consents = [
        dict(r._mapping)
        for r in conn.execute(
            select(consents)
            .where(or_(consents.c.subscriber_id == subscriber_id, consents.c.email == email))
            .order_by(consents.c.at, consents.c.id)
        )
    ]
    sup = conn.execute(select(suppressions).where(suppressions.c.email == email)).first()
    found.suppressed = dict(sup._mapping) if sup is not None else None
    return found


def glance(conn: Connection, issue_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per issue: delivered, clickers (suspected bots included) and complaints, in one query
    of the per-issue counters (no scan, however large the issues)."""
    if not issue_ids:
        return {}
    c = issue_counts.c
    out: dict[str, dict[str, int]] = {}
    rows = conn.execute(
        select(c.issue_id, c.name, c.value).where(
            c.issue_id.in_(list(issue_ids)), c.name.in_(("delivered", "clicks", "spamreport"))
        )
    )
    for issue_id, name, value in rows:
        out.setdefault(issue_id, {})["click" if name == "clicks" else name] = int(value)
    return out

"""Queries behind the public web routes: unsubscribe, preferences and provider events.

SQLAlchemy Core against :mod:`newsletter.store.tables`; every function takes an open
connection (the caller owns the transaction) and works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.store.bulk import bulk_insert
from newsletter.store.engagement import engagement_row, insert_engagement
from newsletter.store.tables import events, sends, subscribers, suppressions

# Provider event name → the subscriber status it leads to.
STATUS_FOR_EVENT: dict[str, str] = {
    "bounce": "bounced",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}
# Provider event name → the suppression reason it records.
SUPPRESS_FOR_EVENT: dict[str, str] = {
    "bounce": "bounce",
    "dropped": "dropped",
    "spamreport": "spamreport",
}
# Events that confirm the provider accepted or delivered a message of the ledger.
LEDGER_EVENTS = frozenset({"processed", "delivered"})
# A later status never gives way to an earlier, weaker one (a complaint outranks a bounce).
_RANK = {"active": 0, "unsubscribed": 1, "bounced": 2, "complained": 3}


@dataclass(frozen=True)
class SubscriberRow:
    """The fields of a subscriber the web pages need."""

    id: int
    email: str
    name: str | None
    status: str
    wants_midweek: bool
    wants_sunday: bool


@dataclass(frozen=True)
class EventOutcome:
    """What recording one provider event did."""

    event: str
    new: bool
    subscriber_id: int | None = None
    status_changed: bool = False
    suppressed: bool = False
    ledger_updated: bool = False


def utcnow() -> datetime:
    return datetime.now(UTC)


def _insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert a row unless it collides with a unique key; True when a row was added."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table).values(**values).on_conflict_do_nothing()
        return bool(conn.execute(lite).rowcount)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        # With RETURNING (implicit for serial keys) psycopg reports rowcount -1: ask for rows.
        pg = (
            postgresql.insert(table)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(*table.primary_key.columns)
        )
        return conn.execute(pg).first() is not None
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def _row(row: Any) -> SubscriberRow:
    return SubscriberRow(
        id=int(row.id),
        email=row.email,
        name=row.name,
        status=row.status,
        wants_midweek=bool(row.wants_midweek),
        wants_sunday=bool(row.wants_sunday),
    )


_COLUMNS = (
    subscribers.c.id,
    subscribers.c.email,
    subscribers.c.name,
    subscribers.c.status,
    subscribers.c.wants_midweek,
    subscribers.c.wants_sunday,
)


def get_subscriber(conn: Connection, subscriber_id: int) -> SubscriberRow | None:
    """The subscriber with this id, or None."""
    row = conn.execute(select(*_COLUMNS).where(subscribers.c.id == subscriber_id)).first()
    return _row(row) if row is not None else None


def find_subscriber(conn: Connection, email: str) -> SubscriberRow | None:
    """The subscriber with this address (addresses are stored lower-cased), or None."""
    norm = email.strip().lower()
    row = conn.execute(select(*_COLUMNS).where(subscribers.c.email == norm)).first()
    return _row(row) if row is not None else None


def unsubscribe(conn: Connection, subscriber_id: int, *, now: datetime | None = None) -> bool:
    """Mark an active subscriber ``unsubscribed``; True if it changed (idempotent)."""
    now = now or utcnow()
    result = conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id, subscribers.c.status == "active")
        .values(status="unsubscribed", unsubscribed_at=now, updated_at=now)
    )
    return bool(result.rowcount)


def set_preferences(
    conn: Connection,
    subscriber_id: int,
    *,
    midweek: bool,
    sunday: bool,
    now: datetime | None = None,
) -> SubscriberRow | None:
    """Save which editions a subscriber wants.

    Choosing no edition unsubscribes. Choosing one or both re-activates a subscriber who had
    unsubscribed (their own signed link says so), but never one who bounced or complained.
    """
    now = now or utcnow()
    current = get_subscriber(conn, subscriber_id)
    if current is None:
        return None
    values: dict[str, Any] = {
        "wants_midweek": midweek,
        "wants_sunday": sunday,
        "updated_at": now,
    }
    if not (midweek or sunday):
        if current.status == "active":
            values.update(status="unsubscribed", unsubscribed_at=now)
    elif current.status == "unsubscribed":
        values.update(status="active", unsubscribed_at=None)
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))
    return get_subscriber(conn, subscriber_id)


def set_status_by_email(
    conn: Connection, email: str, status: str, *, now: datetime | None = None
) -> int | None:
    """Raise a subscriber's status to ``status`` (never lowers it); returns the id if changed."""
    now = now or utcnow()
    current = find_subscriber(conn, email)
    if current is None or _RANK.get(current.status, 0) >= _RANK[status]:
        return None
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "unsubscribed":
        values["unsubscribed_at"] = now
    conn.execute(update(subscribers).where(subscribers.c.id == current.id).values(**values))
    return current.id


def add_suppression(
    conn: Connection,
    email: str,
    reason: str,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Suppress an address (kept lower-cased); True if it was not suppressed before."""
    values = {
        "email": email.strip().lower(),
        "reason": reason[:40],
        "source": source[:100] if source else None,
        "created_at": now or utcnow(),
    }
    return _insert_ignore(conn, suppressions, values)


def is_suppressed(conn: Connection, email: str) -> bool:
    """True if the address is on the suppression list."""
    norm = email.strip().lower()
    return (
        conn.execute(select(suppressions.c.email).where(suppressions.c.email == norm)).first()
        is not None
    )


def record_event(
    conn: Connection,
    provider: str,
    provider_event_id: str,
    event: str,
    *,
    payload: Mapping[str, Any],
    email: str | None = None,
    issue_id: str | None = None,
    subscriber_id: int | None = None,
    occurred_at: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Store a provider event once; False when the same event id was recorded before."""
    values = {
        "provider": provider,
        "provider_event_id": provider_event_id[:200],
        "event": event[:40],
        "email": email.strip().lower()[:320] if email else None,
        "issue_id": issue_id[:40] if issue_id else None,
        "subscriber_id": subscriber_id,
        "occurred_at": occurred_at,
        "received_at": now or utcnow(),
        "payload": json.dumps(payload, sort_keys=True, ensure_ascii=False),
    }
    return _insert_ignore(conn, events, values)


def confirm_ledger(
    conn: Connection,
    issue_id: str,
    email: str,
    *,
    message_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Reflect a processed/delivered event in the send ledger.

    The provider has the message, so a ``queued`` or ``uncertain`` row becomes ``sent``; a
    ``sent`` row stays ``sent`` and gains the provider's message id if it had none.
    """
    now = now or utcnow()
    norm = email.strip().lower()
    row = conn.execute(
        select(sends.c.id, sends.c.status, sends.c.provider_message_id).where(
            sends.c.issue_id == issue_id, sends.c.email == norm
        )
    ).first()
    if row is None:
        return False
    values: dict[str, Any] = {}
    if row.status in ("queued", "uncertain"):
        values["status"] = "sent"
    if message_id and not row.provider_message_id:
        values["provider_message_id"] = message_id[:200]
    if not values:
        return False
    values["updated_at"] = now
    conn.execute(update(sends).where(sends.c.id == row.id).values(**values))
    return True


def _event_id(provider: str, event: Mapping[str, Any]) -> str:
    raw = event.get("sg_event_id")
    if isinstance(raw, str) and raw:
        return raw
    # Without an id, the event's own content identifies it (a retry resends the same bytes).
    digest = hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256:{digest}"


def _occurred(event: Mapping[str, Any]) -> datetime | None:
    stamp = event.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def apply_provider_event(
    conn: Connection,
    event: Mapping[str, Any],
    *,
    provider: str = "sendgrid",
    now: datetime | None = None,
) -> EventOutcome:
    """Record one provider event (once) and apply its effect; see :func:`apply_provider_events`."""
    return apply_provider_events(conn, [event], provider=provider, now=now)[0]


def apply_provider_events(
    conn: Connection,
    batch: Sequence[Mapping[str, Any]],
    *,
    provider: str = "sendgrid",
    now: datetime | None = None,
) -> list[EventOutcome]:
    """Record a batch of provider events (each id once) and apply their effects.

    bounce → ``bounced`` + suppression (a temporary ``blocked`` bounce is only recorded);
    dropped → suppression; spamreport → ``complained`` + suppression; unsubscribe and
    group_unsubscribe → ``unsubscribed``; processed/delivered → the ledger row is confirmed.
    An event id seen before (a provider retry) changes nothing. A few statements per batch,
    plus one per event that changes a subscriber: a 1000-event batch stays well under a second.
    """
    now = now or utcnow()
    parsed = [_parse(provider, event) for event in batch]
    emails = sorted({p.email for p in parsed if p.email})
    subs: dict[str, SubscriberRow] = {}
    for chunk in _chunks(emails, 500):
        for row in conn.execute(select(*_COLUMNS).where(subscribers.c.email.in_(chunk))):
            subs[row.email] = _row(row)

    rows: dict[str, dict[str, Any]] = {}
    for p in parsed:
        if p.event_id in rows:
            continue  # the same id twice in one batch
        sub = subs.get(p.email or "")
        rows[p.event_id] = {
            "provider": provider,
            "provider_event_id": p.event_id,
            "event": p.name[:40],
            "email": p.email[:320] if p.email else None,
            "issue_id": p.issue_id[:40] if p.issue_id else None,
            "subscriber_id": sub.id if sub else None,
            "occurred_at": p.occurred_at,
            "received_at": now,
            "payload": json.dumps(p.raw, sort_keys=True, ensure_ascii=False, default=str),
        }
    inserted = _insert_events(conn, list(rows.values()))
    # The report's rows, only for ids stored just now (a retried event counts once).
    stamp = int(now.timestamp())
    first: dict[str, _Parsed] = {}
    for p in parsed:
        first.setdefault(p.event_id, p)
    facts = [
        fact
        for event_id, p in first.items()
        if event_id in inserted
        and (
            fact := engagement_row(
                p.raw,
                email=p.email,
                issue_id=p.issue_id,
                subscriber_id=sub.id if (sub := subs.get(p.email or "")) else None,
                now=stamp,
            )
        )
        is not None
    ]
    insert_engagement(conn, facts)

    outcomes: list[EventOutcome] = []
    confirm: dict[str, dict[str, str | None]] = {}
    done: set[str] = set()
    for p in parsed:
        sub = subs.get(p.email or "")
        sid = sub.id if sub else None
        new = p.event_id in inserted and p.event_id not in done
        done.add(p.event_id)
        if not new or p.email is None:
            outcomes.append(EventOutcome(event=p.name, new=new, subscriber_id=sid))
            continue
        soft_bounce = p.name == "bounce" and p.bounce_type == "blocked"
        status_changed = suppressed = False
        if p.name in STATUS_FOR_EVENT and not soft_bounce:
            changed = set_status_by_email(conn, p.email, STATUS_FOR_EVENT[p.name], now=now)
            status_changed = changed is not None
        if p.name in SUPPRESS_FOR_EVENT and not soft_bounce:
            suppressed = add_suppression(
                conn, p.email, SUPPRESS_FOR_EVENT[p.name], source=f"{provider}:{p.name}", now=now
            )
        if p.name in LEDGER_EVENTS and p.issue_id:
            confirm.setdefault(p.issue_id, {}).setdefault(p.email, p.message_id)
        outcomes.append(
            EventOutcome(
                event=p.name,
                new=True,
                subscriber_id=sid,
                status_changed=status_changed,
                suppressed=suppressed,
            )
        )
    confirmed: set[tuple[str, str]] = set()
    for issue_id, by_email in confirm.items():
        confirmed |= _confirm_many(conn, issue_id, by_email, now=now)
    return [
        _with_ledger(o, p, confirmed) if o.new and p.issue_id and p.email else o
        for o, p in zip(outcomes, parsed, strict=True)
    ]


@dataclass(frozen=True)
class _Parsed:
    raw: Mapping[str, Any]
    event_id: str
    name: str
    email: str | None
    issue_id: str | None
    occurred_at: datetime | None
    bounce_type: str
    message_id: str | None


def _parse(provider: str, event: Mapping[str, Any]) -> _Parsed:
    email_raw = event.get("email")
    issue_raw = event.get("issue_id")
    message = event.get("sg_message_id")
    return _Parsed(
        raw=event,
        event_id=_event_id(provider, event)[:200],
        name=str(event.get("event") or "unknown"),
        email=email_raw.strip().lower()
        if isinstance(email_raw, str) and email_raw.strip()
        else None,
        issue_id=str(issue_raw) if issue_raw not in (None, "") else None,
        occurred_at=_occurred(event),
        bounce_type=str(event.get("type", "")).lower(),
        # SendGrid's per-recipient id starts with the X-Message-Id of the request.
        message_id=message.split(".")[0] if isinstance(message, str) and message else None,
    )


def _with_ledger(
    outcome: EventOutcome, p: _Parsed, confirmed: set[tuple[str, str]]
) -> EventOutcome:
    if p.name in LEDGER_EVENTS and (p.issue_id, p.email) in confirmed:
        return replace(outcome, ledger_updated=True)
    return outcome


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert event rows, skipping ids already stored; returns the ids actually inserted."""
    if not rows:
        return set()
    provider = rows[0]["provider"]
    known: set[str] = set()
    ids = [r["provider_event_id"] for r in rows]
    # PostgreSQL needs no look-up: ON CONFLICT DO NOTHING RETURNING says what was new (and
    # the look-up's IN list can get a sequential scan on a table whose statistics are stale).
    lookup = ids if conn.dialect.name != "postgresql" else []
    for chunk in _chunks(lookup, 500):
        known.update(
            conn.execute(
                select(events.c.provider_event_id).where(
                    events.c.provider == provider, events.c.provider_event_id.in_(chunk)
                )
            ).scalars()
        )
    # Sorted, so that two overlapping batches take the unique-key locks in the same order.
    fresh = sorted(
        (r for r in rows if r["provider_event_id"] not in known),
        key=lambda r: str(r["provider_event_id"]),
    )
    if not fresh:
        return set()
    if conn.dialect.name not in ("sqlite", "postgresql"):
        return {r["provider_event_id"] for r in fresh if _insert_ignore(conn, events, r)}
    if conn.dialect.name == "sqlite":
        # Writers are serialised (BEGIN IMMEDIATE): nobody can insert these ids between the
        # look-up above and this insert, so every fresh row is inserted; no RETURNING needed.
        bulk_insert(conn, events, fresh, conflict=["provider", "provider_event_id"])
        return {r["provider_event_id"] for r in fresh}
    # One statement for the batch; RETURNING names the rows really inserted (a concurrent
    # retry of the same event loses the race and is left out).
    result = bulk_insert(
        conn,
        events,
        fresh,
        conflict=["provider", "provider_event_id"],
        returning=[events.c.provider_event_id],
    )
    return set(result.scalars()) if result is not None else set()


def _confirm_many(
    conn: Connection, issue_id: str, by_email: Mapping[str, str | None], *, now: datetime
) -> set[tuple[str, str]]:
    """Confirm the ledger rows of one issue for these addresses (see :func:`confirm_ledger`)."""
    changed: set[tuple[str, str]] = set()
    emails = sorted(by_email)
    for chunk in _chunks(emails, 500):
        pending = conn.execute(
            select(sends.c.id, sends.c.email, sends.c.status, sends.c.provider_message_id).where(
                sends.c.issue_id == issue_id,
                sends.c.email.in_(chunk),
                or_(
                    sends.c.status.in_(("queued", "uncertain")),
                    sends.c.provider_message_id.is_(None),
                ),
            )
        ).all()
        to_sent = [r.id for r in pending if r.status in ("queued", "uncertain")]
        if to_sent:
            conn.execute(
                update(sends).where(sends.c.id.in_(to_sent)).values(status="sent", updated_at=now)
            )
        for r in pending:
            message_id = by_email.get(r.email)
            if r.provider_message_id is None and message_id:
                conn.execute(
                    update(sends)
                    .where(sends.c.id == r.id)
                    .values(provider_message_id=message_id[:200], updated_at=now)
                )
                changed.add((issue_id, r.email))
            elif r.status in ("queued", "uncertain"):
                changed.add((issue_id, r.email))
    return changed

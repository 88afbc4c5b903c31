"""Queries behind the public web routes: unsubscribe, preferences and provider events.

SQLAlchemy Core against :mod:`newsletter.store.tables`; every function takes an open
connection (the caller owns the transaction) and works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

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
    """Record one provider event (once) and apply its effect on subscribers and the ledger.

    bounce → ``bounced`` + suppression (a temporary ``blocked`` bounce is only recorded);
    dropped → suppression; spamreport → ``complained`` + suppression; unsubscribe and
    group_unsubscribe → ``unsubscribed``; processed/delivered → the ledger row is confirmed.
    A replay of an event id already seen changes nothing.
    """
    now = now or utcnow()
    name = str(event.get("event") or "unknown")
    email_raw = event.get("email")
    email = email_raw.strip().lower() if isinstance(email_raw, str) and email_raw.strip() else None
    issue_raw = event.get("issue_id")
    issue_id = str(issue_raw) if issue_raw not in (None, "") else None
    subscriber = find_subscriber(conn, email) if email else None
    new = record_event(
        conn,
        provider,
        _event_id(provider, event),
        name,
        payload=event,
        email=email,
        issue_id=issue_id,
        subscriber_id=subscriber.id if subscriber else None,
        occurred_at=_occurred(event),
        now=now,
    )
    if not new or email is None:
        return EventOutcome(
            event=name, new=new, subscriber_id=subscriber.id if subscriber else None
        )

    soft_bounce = name == "bounce" and str(event.get("type", "")).lower() == "blocked"
    status_changed = suppressed = ledger_updated = False
    if name in STATUS_FOR_EVENT and not soft_bounce:
        status_changed = (
            set_status_by_email(conn, email, STATUS_FOR_EVENT[name], now=now) is not None
        )
    if name in SUPPRESS_FOR_EVENT and not soft_bounce:
        suppressed = add_suppression(
            conn, email, SUPPRESS_FOR_EVENT[name], source=f"{provider}:{name}", now=now
        )
    if name in LEDGER_EVENTS and issue_id:
        message = event.get("sg_message_id")
        ledger_updated = confirm_ledger(
            conn,
            issue_id,
            email,
            message_id=message.split(".")[0] if isinstance(message, str) else None,
            now=now,
        )
    return EventOutcome(
        event=name,
        new=True,
        subscriber_id=subscriber.id if subscriber else None,
        status_changed=status_changed,
        suppressed=suppressed,
        ledger_updated=ledger_updated,
    )

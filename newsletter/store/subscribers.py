"""Subscriber queries: add, unsubscribe, purge, bulk import (upsert), list, stats."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, Engine, and_, delete, func, select, update

from newsletter.models import EDITIONS, Edition
from newsletter.store._sql import as_utc, upsert, utcnow, write_tx
from newsletter.store.signups import erase_person
from newsletter.store.tables import SUBSCRIBER_STATUSES, events, sends, subscribers, suppressions

SubscriberStatus = Literal["active", "unsubscribed", "bounced", "complained", "pending"]


class BadAddress(ValueError):
    """An address email-validator refuses; the message is the reason."""


# Plain ASCII dot-atom addresses: the local part needs no more checking than this, and
# the domain is checked by email-validator once per distinct domain (the costly part of
# validating 100,000 rows). Anything else takes the full path.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE = re.compile(rf"^({_ATEXT}(?:\.{_ATEXT})*)@([a-z0-9.-]+)$")


@functools.lru_cache(maxsize=4096)
def _domain_ok(domain: str) -> bool:
    try:
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def normalise_email(raw: str) -> str:
    """Validate (syntax only, no DNS) and normalise an address to lower case."""
    value = raw.strip()
    if not value:
        raise BadAddress("email is empty")
    lowered = value.lower()
    simple = _SIMPLE.match(lowered)
    if (
        simple
        and len(simple.group(1)) <= 64
        and len(lowered) <= 254
        and _domain_ok(simple.group(2))
    ):
        return lowered
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise BadAddress(f"invalid email {value!r}: {exc}") from None


def parse_editions(raw: str | Iterable[str] | None) -> tuple[bool, bool]:
    """``midweek``, ``sunday``, ``midweek;sunday`` (or ``,``); empty means both."""
    parts: list[str]
    if raw is None:
        parts = []
    elif isinstance(raw, str):
        parts = [p for p in raw.replace(",", ";").split(";")]
    else:
        parts = list(raw)
    names = {p.strip().lower() for p in parts if p.strip()}
    unknown = names - set(EDITIONS)
    if unknown:
        raise ValueError(
            f"unknown edition {sorted(unknown)[0]!r} (expected midweek, sunday or midweek;sunday)"
        )
    if not names:
        return True, True
    return "midweek" in names, "sunday" in names


def editions_text(wants_midweek: bool, wants_sunday: bool) -> str:
    """The CSV form of a subscriber's editions."""
    return ";".join(e for e, on in (("midweek", wants_midweek), ("sunday", wants_sunday)) if on)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One subscriber as stored."""

    id: int
    email: str
    name: str | None
    wants_midweek: bool
    wants_sunday: bool
    status: str
    source: str | None
    created_at: datetime
    updated_at: datetime
    unsubscribed_at: datetime | None

    @property
    def editions(self) -> str:
        return editions_text(self.wants_midweek, self.wants_sunday)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "editions": self.editions,
            "status": self.status,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "unsubscribed_at": self.unsubscribed_at.isoformat() if self.unsubscribed_at else None,
        }


def _row(r: Sequence[object]) -> Subscriber:
    m = r._mapping  # type: ignore[attr-defined]
    return Subscriber(
        id=m["id"],
        email=m["email"],
        name=m["name"],
        wants_midweek=bool(m["wants_midweek"]),
        wants_sunday=bool(m["wants_sunday"]),
        status=m["status"],
        source=m["source"],
        created_at=as_utc(m["created_at"]),  # type: ignore[arg-type]
        updated_at=as_utc(m["updated_at"]),  # type: ignore[arg-type]
        unsubscribed_at=as_utc(m["unsubscribed_at"]),
    )


def get_subscriber(engine: Engine, email: str) -> Subscriber | None:
    """The subscriber with this address (any case), or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(subscribers).where(subscribers.c.email == email.strip().lower())
        ).first()
    return _row(row) if row is not None else None


def add_subscriber(
    engine: Engine,
    email: str,
    name: str | None = None,
    editions: str | Iterable[str] | None = None,
    *,
    source: str = "cli",
    resubscribe: bool = False,
) -> tuple[Subscriber, bool]:
    """Add one subscriber or update their name/editions; returns (subscriber, created).

    An address that unsubscribed, bounced or complained stays that way, unless
    ``resubscribe`` is given for an unsubscribed one (they asked to come back); a pending
    (never confirmed) one becomes active. Each addition appends a ``cli`` consent record.
    """
    address = normalise_email(email)
    midweek, sunday = parse_editions(editions)
    now = utcnow()
    with write_tx(engine) as conn:
        existing = conn.execute(
            select(subscribers.c.id, subscribers.c.status).where(subscribers.c.email == address)
        ).first()
        if existing is None:
            conn.execute(
                subscribers.insert().values(
                    email=address,
                    name=name or None,
                    wants_midweek=midweek,
                    wants_sunday=sunday,
                    status="active",
                    source=source,
                    created_at=now,
                    updated_at=now,
                )
            )
            created = True
            record_cli_consent(conn, address, source=source, at=now)
        else:
            values: dict[str, object] = {
                "wants_midweek": midweek,
                "wants_sunday": sunday,
                "updated_at": now,
            }
            if name:
                values["name"] = name
            if resubscribe and existing.status == "unsubscribed":
                values["status"] = "active"
                values["unsubscribed_at"] = None
                record_cli_consent(conn, address, source=source, at=now)
            elif existing.status == "pending":
                # An operator adding an address that signed up but never confirmed vouches
                # for it (recorded as a cli consent).
                values["status"] = "active"
                record_cli_consent(conn, address, source=source, at=now)
            conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(values))
            created = False
        row = conn.execute(select(subscribers).where(subscribers.c.email == address)).one()
    return _row(row), created


def record_cli_consent(conn: Connection, email: str, *, source: str, at: datetime) -> None:
    """The consent record of an address added (or brought back) by an operator."""
    from newsletter.store.signups import Consent, record_consent

    record_consent(
        conn, Consent(email=email, at=at, action="cli", source="cli", method="cli", detail=source)
    )


def set_status(engine: Engine, email: str, status: SubscriberStatus) -> Subscriber | None:
    """Change a subscriber's status (``unsubscribed`` records when); None if unknown."""
    if status not in SUBSCRIBER_STATUSES:
        raise ValueError(f"unknown subscriber status {status!r}")
    address = email.strip().lower()
    now = utcnow()
    values: dict[str, object] = {"status": status, "updated_at": now}
    if status == "unsubscribed":
        values["unsubscribed_at"] = now
    with write_tx(engine) as conn:
        conn.execute(update(subscribers).where(subscribers.c.email == address).values(values))
        row = conn.execute(select(subscribers).where(subscribers.c.email == address)).first()
    return _row(row) if row is not None else None


def unsubscribe(engine: Engine, email: str) -> Subscriber | None:
    """Unsubscribe (the row stays, so a later import cannot bring the address back)."""
    current = get_subscriber(engine, email)
    if current is None or current.status != "active":
        return current
    return set_status(engine, email, "unsubscribed")


def purge(engine: Engine, email: str) -> bool:
    """Erase a person's data (GDPR): the subscriber row, their address in the ledger and events.

    Ledger rows stay (anonymised) so the send counts of past issues remain true; a
    subscriber with no ledger rows is deleted outright.
    """
    address = email.strip().lower()
    with write_tx(engine) as conn:
        sid = conn.execute(
            select(subscribers.c.id).where(subscribers.c.email == address)
        ).scalar_one_or_none()
        conn.execute(delete(suppressions).where(suppressions.c.email == address))
        conn.execute(update(events).where(events.c.email == address).values(email=None))
        erase_person(conn, address)
        if sid is None:
            return False
        has_ledger = conn.execute(
            select(func.count()).select_from(sends).where(sends.c.subscriber_id == sid)
        ).scalar_one()
        if not has_ledger:
            conn.execute(delete(subscribers).where(subscribers.c.id == sid))
            return True
        placeholder = f"purged-{sid}@purged.invalid"
        conn.execute(update(sends).where(sends.c.subscriber_id == sid).values(email=placeholder))
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == sid)
            .values(
                email=placeholder,
                name=None,
                status="unsubscribed",
                source="purged",
                unsubscribed_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return True


def add_suppression(engine: Engine, email: str, reason: str, source: str | None = None) -> None:
    """Never send to this address again (bounce, complaint, manual block)."""
    address = email.strip().lower()
    with write_tx(engine) as conn:
        stmt = upsert(conn, suppressions).values(
            email=address, reason=reason, source=source, created_at=utcnow()
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["email"]))


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A validated row ready to upsert."""

    email: str
    name: str | None
    wants_midweek: bool
    wants_sunday: bool


@dataclass
class ImportCounts:
    """What a bulk upsert did."""

    added: int = 0
    updated: int = 0
    kept_inactive: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.added + self.updated + self.kept_inactive


def upsert_rows(engine: Engine, rows: Sequence[ImportRow], *, source: str) -> ImportCounts:
    """Insert new addresses and update name/editions of active ones, in one transaction.

    Unsubscribed, bounced and complained subscribers are left exactly as they are.
    """
    counts = ImportCounts()
    if not rows:
        return counts
    now = utcnow()
    emails = [r.email for r in rows]
    with write_tx(engine) as conn:
        known = dict(
            conn.execute(
                select(subscribers.c.email, subscribers.c.status).where(
                    subscribers.c.email.in_(emails)
                )
            ).all()
        )
        added: list[str] = []
        for email in emails:
            status = known.get(email)
            if status is None:
                counts.added += 1
                added.append(email)
            elif status == "active":
                counts.updated += 1
            else:
                counts.kept_inactive += 1
        stmt = upsert(conn, subscribers)
        stmt = stmt.on_conflict_do_update(
            index_elements=["email"],
            set_={
                "name": func.coalesce(stmt.excluded.name, subscribers.c.name),
                "wants_midweek": stmt.excluded.wants_midweek,
                "wants_sunday": stmt.excluded.wants_sunday,
                "updated_at": stmt.excluded.updated_at,
            },
            where=subscribers.c.status == "active",
        )
        conn.execute(
            stmt,
            [
                {
                    "email": r.email,
                    "name": r.name,
                    "wants_midweek": r.wants_midweek,
                    "wants_sunday": r.wants_sunday,
                    "status": "active",
                    "source": source,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in rows
            ],
        )
        record_import_consents(conn, added, source=source, at=now)
    return counts


def record_import_consents(
    conn: Connection, emails: Sequence[str], *, source: str, at: datetime
) -> None:
    """Consent records (method ``import``, with the file name) for newly imported addresses."""
    from newsletter.store.signups import Consent, record_consents

    detail = source.removeprefix("import:")
    record_consents(
        conn,
        [
            Consent(
                email=e, at=at, action="import", source="import", method="import", detail=detail
            )
            for e in emails
        ],
    )


def iter_subscribers(
    engine: Engine, *, status: str | None = None, page: int = 5000
) -> Iterator[Subscriber]:
    """Every subscriber (optionally of one status) in id order, page by page (keyset)."""
    last = 0
    while True:
        query = select(subscribers).where(subscribers.c.id > last)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(subscribers.c.id).limit(page)).all()
        if not rows:
            return
        for r in rows:
            yield _row(r)
        last = rows[-1].id


def stats(engine: Engine) -> dict[str, object]:
    """Counts by status, active subscribers per edition, and suppressions."""
    with engine.connect() as conn:
        by_status = {s: 0 for s in SUBSCRIBER_STATUSES}
        for status, n in conn.execute(
            select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
        ):
            by_status[status] = n
        active = subscribers.c.status == "active"
        midweek = conn.execute(
            select(func.count()).where(and_(active, subscribers.c.wants_midweek.is_(True)))
        ).scalar_one()
        sunday = conn.execute(
            select(func.count()).where(and_(active, subscribers.c.wants_sunday.is_(True)))
        ).scalar_one()
        suppressed = conn.execute(select(func.count()).select_from(suppressions)).scalar_one()
    editions: dict[Edition, int] = {"midweek": midweek, "sunday": sunday}
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "active_by_edition": editions,
        "suppressed": suppressed,
    }

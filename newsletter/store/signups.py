"""Signup queries: confirmation tokens (hashes only), consent records, rate-limit hits, purges.

Functions taking a Connection leave the transaction to the caller (the signup flow runs a
whole request in one). Consent records are append-only: nothing here updates one; they are
deleted only with the person's data (:func:`erase_person`) or with a never-confirmed
signup that expired (:func:`purge_expired`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, select, text, update

from newsletter.store._sql import as_utc, utcnow, write_tx
from newsletter.store.tables import consents, rate_hits, sends, signup_tokens, subscribers

# Rate-limit hits older than this are never counted again (the per-address week).
HIT_RETENTION = timedelta(days=8)
# An expired link still names its address this long, so its page can offer a fresh link.
EXPIRED_TOKEN_GRACE = timedelta(days=7)


def hash_token(token: str) -> str:
    """The stored form of a confirmation token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def address_key(email: str) -> str:
    """The rate-limit key of an address (hashed: the hits table holds no addresses)."""
    return "addr:" + hashlib.sha256(email.lower().encode()).hexdigest()[:40]


def ip_key(ip: str) -> str:
    """The rate-limit key of a client IP address."""
    return "ip:" + ip[:90]


def serialise(conn: Connection, key: str) -> None:
    """Make concurrent transactions about ``key`` take turns (check-then-insert limits).

    SQLite writers already take turns (``BEGIN IMMEDIATE``); PostgreSQL gets a transaction
    advisory lock on the key's hash.
    """
    if conn.dialect.name == "postgresql":
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": digest})


def hits_since(conn: Connection, key: str, since: datetime) -> int:
    """How many hits ``key`` has had after ``since``."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(rate_hits)
            .where(rate_hits.c.key == key, rate_hits.c.at > since)
        ).scalar_one()
    )


def add_hit(conn: Connection, key: str, at: datetime) -> None:
    """Count one hit for ``key``."""
    conn.execute(insert(rate_hits).values(key=key, at=at))


@dataclass(frozen=True, slots=True)
class Consent:
    """One consent record."""

    email: str
    at: datetime
    action: str
    source: str
    method: str
    ip: str | None = None
    user_agent: str | None = None
    text_version: str | None = None
    detail: str | None = None
    subscriber_id: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "source": self.source,
            "method": self.method,
            "text_version": self.text_version,
            "detail": self.detail,
        }


def record_consent(conn: Connection, consent: Consent) -> None:
    """Append one consent record."""
    conn.execute(insert(consents).values(**_consent_values(consent)))


def record_consents(conn: Connection, records: Sequence[Consent]) -> None:
    """Append many consent records in one statement."""
    if records:
        conn.execute(insert(consents), [_consent_values(c) for c in records])


def _consent_values(c: Consent) -> dict[str, object]:
    return {
        "email": c.email,
        "subscriber_id": c.subscriber_id,
        "at": c.at,
        "action": c.action,
        "ip": c.ip[:64] if c.ip else None,
        "user_agent": c.user_agent[:300] if c.user_agent else None,
        "source": c.source,
        "method": c.method,
        "text_version": c.text_version,
        "detail": c.detail[:200] if c.detail else None,
    }


def consents_for(conn: Connection, email: str) -> list[Consent]:
    """Every consent record of an address, oldest first."""
    rows = conn.execute(
        select(consents).where(consents.c.email == email.lower()).order_by(consents.c.id)
    ).all()
    return [
        Consent(
            email=r.email,
            at=as_utc(r.at),  # type: ignore[arg-type]
            action=r.action,
            source=r.source,
            method=r.method,
            ip=r.ip,
            user_agent=r.user_agent,
            text_version=r.text_version,
            detail=r.detail,
            subscriber_id=r.subscriber_id,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class PendingToken:
    """A stored confirmation link (its hash) and the choices made with it."""

    id: int
    email: str
    name: str | None
    wants_midweek: bool
    wants_sunday: bool
    source: str
    text_version: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


def store_token(
    conn: Connection,
    token_hash: str,
    *,
    email: str,
    name: str | None,
    midweek: bool,
    sunday: bool,
    source: str,
    text_version: str | None,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Keep the hash of a new confirmation token with the editions it will set."""
    conn.execute(
        insert(signup_tokens).values(
            token_hash=token_hash,
            email=email,
            name=name,
            wants_midweek=midweek,
            wants_sunday=sunday,
            source=source,
            text_version=text_version,
            created_at=now,
            expires_at=now + ttl,
        )
    )


def find_token(conn: Connection, token_hash: str) -> PendingToken | None:
    """The stored token with this hash, or None."""
    r = conn.execute(select(signup_tokens).where(signup_tokens.c.token_hash == token_hash)).first()
    if r is None:
        return None
    return PendingToken(
        id=r.id,
        email=r.email,
        name=r.name,
        wants_midweek=bool(r.wants_midweek),
        wants_sunday=bool(r.wants_sunday),
        source=r.source,
        text_version=r.text_version,
        created_at=as_utc(r.created_at),  # type: ignore[arg-type]
        expires_at=as_utc(r.expires_at),  # type: ignore[arg-type]
        used_at=as_utc(r.used_at),
    )


def use_token(conn: Connection, token_id: int, now: datetime) -> bool:
    """Mark a token used; False if it already was (a replay, or a concurrent confirm)."""
    result = conn.execute(
        update(signup_tokens)
        .where(signup_tokens.c.id == token_id, signup_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)


def retire_tokens(conn: Connection, email: str, now: datetime) -> None:
    """Mark every outstanding token of an address used (after it confirmed with one of them).

    An older link left in the mailbox must not bring the address back after a later
    unsubscribe.
    """
    conn.execute(
        update(signup_tokens)
        .where(signup_tokens.c.email == email, signup_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )


def erase_person(conn: Connection, email: str) -> None:
    """Delete an address's consent records, tokens and rate-limit hits (GDPR purge)."""
    address = email.strip().lower()
    conn.execute(delete(consents).where(consents.c.email == address))
    conn.execute(delete(signup_tokens).where(signup_tokens.c.email == address))
    conn.execute(delete(rate_hits).where(rate_hits.c.key == address_key(address)))


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """What :func:`purge_expired` removed."""

    pending: int = 0
    tokens: int = 0
    hits: int = 0

    def to_json(self) -> dict[str, int]:
        return {"pending": self.pending, "tokens": self.tokens, "hits": self.hits}


def purge_expired(engine: Engine, ttl: timedelta, now: datetime | None = None) -> PurgeCounts:
    """Remove never-confirmed signups older than ``ttl``, dead tokens and old rate hits.

    A pending subscriber is removed with its consent records once no unexpired token is
    left for it (it never agreed to anything we could act on); used and expired tokens go
    :data:`EXPIRED_TOKEN_GRACE` after expiry; rate hits go after :data:`HIT_RETENTION`.
    """
    now = now or utcnow()
    cutoff = now - ttl
    with write_tx(engine) as conn:
        live_token = exists().where(
            and_(signup_tokens.c.email == subscribers.c.email, signup_tokens.c.expires_at > now)
        )
        in_ledger = exists().where(sends.c.subscriber_id == subscribers.c.id)
        stale = conn.execute(
            select(subscribers.c.id, subscribers.c.email).where(
                subscribers.c.status == "pending",
                subscribers.c.created_at < cutoff,
                ~live_token,
                ~in_ledger,
            )
        ).all()
        emails = [r.email for r in stale]
        for chunk in _chunks(emails, 500):
            conn.execute(delete(consents).where(consents.c.email.in_(chunk)))
            conn.execute(delete(subscribers).where(subscribers.c.email.in_(chunk)))
        tokens = conn.execute(
            delete(signup_tokens).where(
                signup_tokens.c.expires_at < now - EXPIRED_TOKEN_GRACE,
            )
        ).rowcount
        hits = conn.execute(delete(rate_hits).where(rate_hits.c.at < now - HIT_RETENTION)).rowcount
    return PurgeCounts(pending=len(emails), tokens=int(tokens or 0), hits=int(hits or 0))


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def pending_signup(conn: Connection, email: str, now: datetime) -> PendingToken | None:
    """The newest unexpired, unused token of an address (for ``subscribers show``)."""
    r = conn.execute(
        select(signup_tokens.c.token_hash)
        .where(
            signup_tokens.c.email == email.lower(),
            signup_tokens.c.used_at.is_(None),
            signup_tokens.c.expires_at > now,
        )
        .order_by(signup_tokens.c.id.desc())
        .limit(1)
    ).first()
    return find_token(conn, r.token_hash) if r is not None else None

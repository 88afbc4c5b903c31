"""The signup flow: request (rate limits, pending row, token, consent) and confirmation.

Each step is one database transaction and returns what to email (a :class:`MailJob`) or
nothing; the caller sends it after answering, so the answer is the same, and as fast, for
every prior state of the address. Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, delete, insert, select, update

from newsletter.config import SignupConfig
from newsletter.signup.tokens import new_token, plausible_token
from newsletter.store._sql import upsert, utcnow, write_tx
from newsletter.store.signups import (
    Consent,
    PendingToken,
    add_hit,
    address_key,
    find_token,
    hash_token,
    hits_since,
    ip_key,
    record_consent,
    retire_tokens,
    serialise,
    store_token,
    use_token,
)
from newsletter.store.tables import subscribers, suppressions

WEEK = timedelta(days=7)
Channel = Literal["form", "api"]


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """A signup that passed the traps: a syntactically valid, normalised address."""

    email: str
    name: str | None
    midweek: bool
    sunday: bool
    channel: str  # form | api
    ip: str
    user_agent: str
    placement: str | None = None  # the optional "source" field: where the form was


@dataclass(frozen=True, slots=True)
class MailJob:
    """An email the flow decided to send: a confirmation link, "already subscribed", welcome."""

    kind: Literal["confirm", "already", "welcome"]
    email: str
    token: str | None = None
    subscriber_id: int | None = None


def request_signup(
    engine: Engine, cfg: SignupConfig, req: SignupRequest, now: datetime | None = None
) -> MailJob | None:
    """Record a signup request; the email to send, or None when a limit says "send nothing".

    Per IP: ``rate_per_ip`` requests per ``rate_window``. Per address: one email per
    ``address_interval`` and ``address_per_week`` per week. An unknown address becomes a
    ``pending`` subscriber; unsubscribed, bounced and complained ones keep their status until
    they confirm; an active one gets a "you're already subscribed" email (``notify_active``).
    """
    now = now or utcnow()
    with write_tx(engine) as conn:
        by_ip = ip_key(req.ip)
        serialise(conn, by_ip)
        if hits_since(conn, by_ip, now - cfg.rate_window) >= cfg.rate_per_ip:
            return None
        add_hit(conn, by_ip, now)
        row = conn.execute(
            select(subscribers.c.id, subscribers.c.status).where(subscribers.c.email == req.email)
        ).first()
        status = row.status if row is not None else None
        if status == "active" and not cfg.notify_active:
            return None
        by_address = address_key(req.email)
        serialise(conn, by_address)
        if (
            hits_since(conn, by_address, now - cfg.address_interval) >= 1
            or hits_since(conn, by_address, now - WEEK) >= cfg.address_per_week
        ):
            return None
        add_hit(conn, by_address, now)
        if status == "active":
            assert row is not None
            return MailJob("already", req.email, subscriber_id=int(row.id))
        if row is None:
            stmt = upsert(conn, subscribers).values(
                email=req.email,
                name=req.name,
                wants_midweek=req.midweek,
                wants_sunday=req.sunday,
                status="pending",
                source=f"signup:{req.channel}",
                created_at=now,
                updated_at=now,
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["email"]))
        elif status == "pending":
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == row.id)
                .values(
                    name=req.name,
                    wants_midweek=req.midweek,
                    wants_sunday=req.sunday,
                    updated_at=now,
                )
            )
        token = new_token()
        store_token(
            conn,
            hash_token(token),
            email=req.email,
            name=req.name,
            midweek=req.midweek,
            sunday=req.sunday,
            source=req.channel,
            text_version=cfg.consent_text_version,
            now=now,
            ttl=cfg.confirm_ttl,
        )
        record_consent(
            conn,
            Consent(
                email=req.email,
                at=now,
                action="signup",
                source=req.channel,
                method="double-opt-in",
                ip=req.ip,
                user_agent=req.user_agent,
                text_version=cfg.consent_text_version,
                detail=req.placement,
                subscriber_id=int(row.id) if row is not None else None,
            ),
        )
    return MailJob("confirm", req.email, token=token)


ConfirmState = Literal["confirmed", "used", "expired", "invalid"]


@dataclass(frozen=True, slots=True)
class ConfirmOutcome:
    """What a confirmation did; ``welcome`` when the address was not active before."""

    state: ConfirmState
    email: str | None = None
    subscriber_id: int | None = None
    welcome: bool = False


def look_up(engine: Engine, token: str | None, now: datetime | None = None) -> ConfirmOutcome:
    """What confirming ``token`` would do, changing nothing (the GET page)."""
    now = now or utcnow()
    if not plausible_token(token):
        return ConfirmOutcome("invalid")
    assert token is not None
    with engine.connect() as conn:
        row = find_token(conn, hash_token(token))
    return ConfirmOutcome(_state(row, now), email=row.email if row is not None else None)


def _state(row: PendingToken | None, now: datetime) -> ConfirmState:
    if row is None:
        return "invalid"
    if row.used_at is not None:
        return "used"
    if row.expires_at <= now:
        return "expired"
    return "confirmed"


def confirm(
    engine: Engine,
    token: str | None,
    *,
    ip: str,
    user_agent: str,
    now: datetime | None = None,
) -> ConfirmOutcome:
    """Confirm a signup: the address becomes active with the editions chosen at signup.

    Lifts a suppression (the person asked again and proved the mailbox); retires every other
    outstanding link of the address; appends a ``confirm`` consent record. A used, expired or
    unknown token changes nothing.
    """
    now = now or utcnow()
    if not plausible_token(token):
        return ConfirmOutcome("invalid")
    assert token is not None
    with write_tx(engine) as conn:
        row = find_token(conn, hash_token(token))
        state = _state(row, now)
        if row is None or state != "confirmed":
            return ConfirmOutcome(state, email=row.email if row is not None else None)
        if not use_token(conn, row.id, now):
            return ConfirmOutcome("used", email=row.email)
        current = conn.execute(
            select(subscribers.c.id, subscribers.c.status).where(subscribers.c.email == row.email)
        ).first()
        values: dict[str, object] = {
            "status": "active",
            "wants_midweek": row.wants_midweek,
            "wants_sunday": row.wants_sunday,
            "unsubscribed_at": None,
            "updated_at": now,
        }
        if row.name:
            values["name"] = row.name
        if current is None:
            result = conn.execute(
                insert(subscribers).values(
                    email=row.email, source=f"signup:{row.source}", created_at=now, **values
                )
            )
            sid = int(result.inserted_primary_key[0])  # type: ignore[index]
        else:
            sid = int(current.id)
            conn.execute(update(subscribers).where(subscribers.c.id == sid).values(values))
        conn.execute(delete(suppressions).where(suppressions.c.email == row.email))
        retire_tokens(conn, row.email, now)
        record_consent(
            conn,
            Consent(
                email=row.email,
                at=now,
                action="confirm",
                source=row.source,
                method="double-opt-in",
                ip=ip,
                user_agent=user_agent,
                text_version=row.text_version,
                subscriber_id=sid,
            ),
        )
    was_active = current is not None and current.status == "active"
    return ConfirmOutcome("confirmed", email=row.email, subscriber_id=sid, welcome=not was_active)


def resend(
    engine: Engine,
    cfg: SignupConfig,
    token: str | None,
    *,
    ip: str,
    user_agent: str,
    now: datetime | None = None,
) -> MailJob | None:
    """A fresh link for an expired, unused one (same address and editions; limits apply)."""
    now = now or utcnow()
    if not plausible_token(token):
        return None
    assert token is not None
    with engine.connect() as conn:
        row = find_token(conn, hash_token(token))
    if row is None or _state(row, now) != "expired":
        return None
    request = SignupRequest(
        email=row.email,
        name=row.name,
        midweek=row.wants_midweek,
        sunday=row.wants_sunday,
        channel=row.source,
        ip=ip,
        user_agent=user_agent,
        placement="resend",
    )
    return request_signup(engine, cfg, request, now)

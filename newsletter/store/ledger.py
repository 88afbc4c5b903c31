"""The send ledger: who was queued, posted, sent, failed or left uncertain for an issue.

Protocol (see newsletter/delivery/dispatcher.py for the why):

1. ``claim_batch``: one INSERT ... SELECT puts the next audience members in the ledger as
   ``queued`` under a fresh batch id. The unique (issue_id, subscriber_id) makes a second
   claim of the same person impossible, whoever runs it.
2. ``mark_posted``: commits ``posted_at`` right before the request. Only rows still
   ``queued`` and unposted are taken, so a batch a recovering process took away is skipped.
3. ``mark_sent`` / ``mark_batch`` (``failed``, ``uncertain``, ``deferred``) / ``unmark_posted``
   (transient error: the provider certainly did nothing) — one UPDATE per batch.
   ``deferred`` rows (transient refusals past the retry budget) are certainly unsent: the
   send, or its next run, moves them back into a new batch with ``requeue``.
4. ``recover``: at start, ``queued`` rows never posted are released (deleted, so the audience
   query picks them up again); ``queued`` rows that may have been posted become ``uncertain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    and_,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)

from newsletter.store._sql import upsert, utcnow, write_tx
from newsletter.store.tables import LEDGER_STATUSES, events, sends, subscribers, suppressions


class Claimed(NamedTuple):
    """One audience member claimed in a batch (a tuple: built by the thousand per batch)."""

    subscriber_id: int
    email: str
    name: str | None


def _edition_column(edition: str):  # type: ignore[no-untyped-def]
    if edition == "midweek":
        return subscribers.c.wants_midweek
    if edition == "sunday":
        return subscribers.c.wants_sunday
    raise ValueError(f"unknown edition {edition!r}")


def _eligible(issue_id: str, edition: str):  # type: ignore[no-untyped-def]
    """Active, subscribed to the edition, not suppressed, not yet in this issue's ledger."""
    return and_(
        subscribers.c.status == "active",
        _edition_column(edition).is_(True),
        ~exists().where(suppressions.c.email == subscribers.c.email),
        ~exists().where(
            and_(sends.c.issue_id == issue_id, sends.c.subscriber_id == subscribers.c.id)
        ),
    )


def audience_remaining(engine: Engine, issue_id: str, edition: str) -> int:
    """How many eligible subscribers are not yet in the ledger for this issue."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(subscribers).where(_eligible(issue_id, edition))
            ).scalar_one()
        )


def suppressed_count(engine: Engine, edition: str) -> int:
    """Active subscribers of the edition whose address is on the suppression list."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(
                    suppressions.join(subscribers, subscribers.c.email == suppressions.c.email)
                )
                .where(subscribers.c.status == "active", _edition_column(edition).is_(True))
            ).scalar_one()
        )


def audience_left_after(engine: Engine, issue_id: str, edition: str, after_id: int) -> bool:
    """Whether any eligible subscriber with id > ``after_id`` is not yet in the ledger."""
    with engine.connect() as conn:
        row = conn.execute(
            select(subscribers.c.id)
            .where(subscribers.c.id > after_id, _eligible(issue_id, edition))
            .limit(1)
        ).first()
    return row is not None


def first_audience(engine: Engine, issue_id: str, edition: str, limit: int) -> list[Claimed]:
    """The first eligible subscribers (for a dry run's sample), without claiming them."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(subscribers.c.id, subscribers.c.email, subscribers.c.name)
            .where(_eligible(issue_id, edition))
            .order_by(subscribers.c.id)
            .limit(limit)
        ).all()
    return [Claimed._make(r) for r in rows]


def claim_batch(
    engine: Engine, issue_id: str, edition: str, after_id: int, limit: int, batch_id: str
) -> list[Claimed]:
    """Queue the next ``limit`` eligible subscribers with id > ``after_id`` under ``batch_id``.

    Returns the members this call actually claimed, in id order (empty when none are left).
    """
    now = utcnow()
    with write_tx(engine) as conn:
        source = (
            select(
                literal(issue_id, String),
                subscribers.c.id,
                subscribers.c.email,
                literal("queued", String),
                literal(batch_id, String),
                literal(0, Integer),
                literal(now, DateTime(timezone=True)),
                literal(now, DateTime(timezone=True)),
            )
            .where(subscribers.c.id > after_id, _eligible(issue_id, edition))
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        stmt = (
            upsert(conn, sends)
            .from_select(
                [
                    "issue_id",
                    "subscriber_id",
                    "email",
                    "status",
                    "batch",
                    "attempts",
                    "created_at",
                    "updated_at",
                ],
                source,
            )
            .on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
        )
        conn.execute(stmt)
        rows = _batch_members(conn, batch_id)
    return rows


def _batch_members(conn: Connection, batch_id: str) -> list[Claimed]:
    rows = conn.execute(
        select(sends.c.subscriber_id, sends.c.email, subscribers.c.name)
        .join(subscribers, subscribers.c.id == sends.c.subscriber_id)
        .where(sends.c.batch == batch_id)
        .order_by(sends.c.subscriber_id)
    ).all()
    return [Claimed._make(r) for r in rows]


def queued_members(engine: Engine, batch_id: str) -> list[Claimed]:
    """The batch's rows that are still queued (what a post may now send)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(sends.c.subscriber_id, sends.c.email, subscribers.c.name)
            .join(subscribers, subscribers.c.id == sends.c.subscriber_id)
            .where(sends.c.batch == batch_id, sends.c.status == "queued")
            .order_by(sends.c.subscriber_id)
        ).all()
    return [Claimed._make(r) for r in rows]


def mark_posted(engine: Engine, batch_id: str) -> int:
    """Record that the batch is about to be posted (committed before the request).

    Returns how many rows were taken: 0 means another process released or settled the
    batch in the meantime, and it must not be posted.
    """
    now = utcnow()
    with write_tx(engine) as conn:
        result = conn.execute(
            update(sends)
            .where(
                sends.c.batch == batch_id, sends.c.status == "queued", sends.c.posted_at.is_(None)
            )
            .values(posted_at=now, attempts=sends.c.attempts + 1, updated_at=now)
        )
    return int(result.rowcount)


def unmark_posted(engine: Engine, batch_id: str, error: str) -> None:
    """The provider certainly did nothing (transient error): the batch is unposted again."""
    with write_tx(engine) as conn:
        conn.execute(
            update(sends)
            .where(sends.c.batch == batch_id, sends.c.status == "queued")
            .values(posted_at=None, last_error=error[:2000], updated_at=utcnow())
        )


def mark_sent(engine: Engine, batch_id: str, message_id: str | None) -> int:
    """The provider accepted the batch (also corrects rows a recovery marked uncertain)."""
    with write_tx(engine) as conn:
        result = conn.execute(
            update(sends)
            .where(sends.c.batch == batch_id, sends.c.status.in_(("queued", "uncertain")))
            .values(
                status="sent",
                provider_message_id=message_id,
                last_error=None,
                updated_at=utcnow(),
            )
        )
    return int(result.rowcount)


def mark_batch(engine: Engine, batch_id: str, status: str, error: str | None) -> int:
    """Settle a queued batch as ``failed`` or ``uncertain`` with the reason."""
    if status not in LEDGER_STATUSES:
        raise ValueError(f"unknown ledger status {status!r}")
    with write_tx(engine) as conn:
        result = conn.execute(
            update(sends)
            .where(sends.c.batch == batch_id, sends.c.status == "queued")
            .values(status=status, last_error=(error or "")[:2000] or None, updated_at=utcnow())
        )
    return int(result.rowcount)


def settle_emails(
    engine: Engine,
    batch_id: str,
    outcomes: dict[str, tuple[str, str | None]],
    message_id: str | None = None,
) -> None:
    """Settle some rows of a batch one by one: email → (status, reason).

    Status ``queued`` means "certainly not sent, post again": the row is unposted.
    """
    now = utcnow()
    with write_tx(engine) as conn:
        for email, (status, reason) in outcomes.items():
            where = (sends.c.batch == batch_id, sends.c.email == email)
            if status == "queued":
                values: dict[str, object] = {"posted_at": None, "last_error": reason}
            elif status == "sent":
                values = {"status": "sent", "provider_message_id": message_id, "last_error": None}
            else:
                values = {"status": status, "last_error": (reason or "")[:2000] or None}
            conn.execute(
                update(sends)
                .where(*where, sends.c.status.in_(("queued", "uncertain")))
                .values(updated_at=now, **values)
            )


def release_batch(engine: Engine, batch_id: str) -> int:
    """Drop a batch's never-posted queued rows so a later run picks those people again."""
    with write_tx(engine) as conn:
        result = conn.execute(
            delete(sends).where(
                sends.c.batch == batch_id, sends.c.status == "queued", sends.c.posted_at.is_(None)
            )
        )
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What ``recover`` found from an earlier, interrupted run."""

    released: int
    uncertain: int


def recover(engine: Engine, issue_id: str) -> Recovery:
    """Settle rows a killed run left ``queued``.

    Never posted → released (they will be claimed and sent again: nobody has them).
    Maybe posted → ``uncertain`` (the request may have reached the provider; resending
    could give a second copy, so only ``--resend-uncertain`` does that).
    """
    now = utcnow()
    with write_tx(engine) as conn:
        released = conn.execute(
            delete(sends).where(
                sends.c.issue_id == issue_id,
                sends.c.status == "queued",
                sends.c.posted_at.is_(None),
            )
        ).rowcount
        uncertain = conn.execute(
            update(sends)
            .where(
                sends.c.issue_id == issue_id,
                sends.c.status == "queued",
                sends.c.posted_at.is_not(None),
            )
            .values(
                status="uncertain",
                last_error="interrupted while the request was in flight",
                updated_at=now,
            )
        ).rowcount
    return Recovery(int(released), int(uncertain))


def recover_batch(engine: Engine, batch_id: str) -> Recovery:
    """``recover`` for one batch whose sender is presumed lost (a Celery worker that died).

    Safe even if the sender is alive after all: it then finds nothing to post
    (``mark_posted`` takes no row) or corrects ``uncertain`` to ``sent`` (``mark_sent``).
    """
    now = utcnow()
    with write_tx(engine) as conn:
        released = conn.execute(
            delete(sends).where(
                sends.c.batch == batch_id, sends.c.status == "queued", sends.c.posted_at.is_(None)
            )
        ).rowcount
        uncertain = conn.execute(
            update(sends)
            .where(
                sends.c.batch == batch_id,
                sends.c.status == "queued",
                sends.c.posted_at.is_not(None),
            )
            .values(
                status="uncertain",
                last_error="the worker posting this batch stopped answering",
                updated_at=now,
            )
        ).rowcount
    return Recovery(int(released), int(uncertain))


def open_batches(engine: Engine, issue_id: str) -> dict[str, int]:
    """Batches of an issue that still have ``queued`` rows: batch id → how many."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(sends.c.batch, func.count())
            .where(sends.c.issue_id == issue_id, sends.c.status == "queued")
            .group_by(sends.c.batch)
        ).all()
    return {str(batch): int(n) for batch, n in rows}


def requeue(engine: Engine, issue_id: str, status: str, limit: int, batch_id: str) -> list[Claimed]:
    """Move up to ``limit`` rows of one status into a new queued batch.

    ``uncertain`` for ``--resend-uncertain``; ``deferred`` for the retries of a send.
    """
    if status not in ("uncertain", "deferred"):
        raise ValueError(f"cannot requeue {status!r} rows")
    now = utcnow()
    with write_tx(engine) as conn:
        ids = (
            conn.execute(
                select(sends.c.id)
                .where(sends.c.issue_id == issue_id, sends.c.status == status)
                .order_by(sends.c.subscriber_id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        conn.execute(
            update(sends)
            .where(sends.c.id.in_(ids), sends.c.status == status)
            .values(status="queued", batch=batch_id, posted_at=None, updated_at=now)
        )
        return _batch_members(conn, batch_id)


def requeue_uncertain(engine: Engine, issue_id: str, limit: int, batch_id: str) -> list[Claimed]:
    """Move up to ``limit`` uncertain rows into a new queued batch (``--resend-uncertain``)."""
    return requeue(engine, issue_id, "uncertain", limit, batch_id)


CONFIRMING_EVENTS = ("processed", "delivered")
"""Provider events proving the provider accepted a message (the webhook records them)."""


def reconcile_uncertain(engine: Engine, issue_id: str) -> int:
    """Uncertain rows the provider's recorded events confirm become ``sent``; returns how many.

    The webhook confirms rows as events arrive; this pass also catches events recorded while
    the row was not yet (or no longer) uncertain, e.g. before a crash was recovered.
    """
    confirmed = exists().where(
        events.c.issue_id == issue_id,
        events.c.email == sends.c.email,
        events.c.event.in_(CONFIRMING_EVENTS),
    )
    with write_tx(engine) as conn:
        result = conn.execute(
            update(sends)
            .where(sends.c.issue_id == issue_id, sends.c.status == "uncertain", confirmed)
            .values(
                status="sent",
                last_error="reconciled: confirmed by the provider's events",
                updated_at=utcnow(),
            )
        )
    return int(result.rowcount)


def newest_uncertain_post(engine: Engine, issue_id: str) -> datetime | None:
    """When the most recent uncertain row was posted (or last touched), or None if none is."""
    with engine.connect() as conn:
        value = conn.execute(
            select(func.max(func.coalesce(sends.c.posted_at, sends.c.updated_at))).where(
                sends.c.issue_id == issue_id, sends.c.status == "uncertain"
            )
        ).scalar_one_or_none()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns the aggregate of a DateTime as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def counts(engine: Engine, issue_id: str) -> dict[str, int]:
    """Ledger rows of an issue by status."""
    result = {s: 0 for s in LEDGER_STATUSES}
    with engine.connect() as conn:
        for status, n in conn.execute(
            select(sends.c.status, func.count())
            .where(sends.c.issue_id == issue_id)
            .group_by(sends.c.status)
        ):
            result[status] = int(n)
    return result


def sent_emails(engine: Engine, issue_id: str) -> Sequence[str]:
    """Addresses the ledger records as sent for an issue (for tests and audits)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(sends.c.email).where(sends.c.issue_id == issue_id, sends.c.status == "sent")
            ).scalars()
        )


def emails_with_status(engine: Engine, issue_id: str, status: str) -> list[str]:
    """Addresses in the ledger of an issue with one status."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(sends.c.email).where(sends.c.issue_id == issue_id, sends.c.status == status)
            ).scalars()
        )


__all__ = [
    "CONFIRMING_EVENTS",
    "Claimed",
    "Recovery",
    "audience_left_after",
    "audience_remaining",
    "claim_batch",
    "counts",
    "emails_with_status",
    "first_audience",
    "mark_batch",
    "mark_posted",
    "mark_sent",
    "newest_uncertain_post",
    "open_batches",
    "queued_members",
    "reconcile_uncertain",
    "recover",
    "recover_batch",
    "release_batch",
    "requeue",
    "requeue_uncertain",
    "sent_emails",
    "settle_emails",
    "suppressed_count",
    "unmark_posted",
]

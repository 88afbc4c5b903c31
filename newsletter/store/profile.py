"""One address's whole record, for ``newsletter subscribers show``: status, consents, sends."""

from __future__ import annotations

from sqlalchemy import Engine, select

from newsletter.store._sql import as_utc, utcnow
from newsletter.store.signups import consents_for, pending_signup
from newsletter.store.subscribers import editions_text
from newsletter.store.tables import sends, subscribers


def subscriber_profile(engine: Engine, email: str) -> dict[str, object] | None:
    """The subscriber (any status, pending too) with consent records and sends; None if unknown.

    An address with only consent records or an outstanding signup (no row yet) is shown too.
    """
    address = email.strip().lower()
    now = utcnow()
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.email == address)).first()
        consents = consents_for(conn, address)
        pending = pending_signup(conn, address, now)
        sent = (
            conn.execute(
                select(sends.c.issue_id, sends.c.status, sends.c.updated_at)
                .where(sends.c.subscriber_id == row.id)
                .order_by(sends.c.id)
            ).all()
            if row is not None
            else []
        )
    if row is None and not consents and pending is None:
        return None
    created = as_utc(row.created_at) if row is not None else None
    return {
        "email": address,
        "status": row.status if row is not None else "pending",
        "name": row.name if row is not None else None,
        "editions": editions_text(bool(row.wants_midweek), bool(row.wants_sunday))
        if row is not None
        else "",
        "source": row.source if row is not None else None,
        "created_at": created.isoformat() if created else None,
        "pending_signup": {
            "created_at": pending.created_at.isoformat(),
            "expires_at": pending.expires_at.isoformat(),
            "editions": editions_text(pending.wants_midweek, pending.wants_sunday),
        }
        if pending is not None
        else None,
        "consents": [c.to_json() for c in consents],
        "sends": [
            {"issue_id": s.issue_id, "status": s.status, "at": as_utc(s.updated_at).isoformat()}  # type: ignore[union-attr]
            for s in sent
        ],
    }

"""The issues table: one row per issue id, its status and the last send report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from newsletter.store._sql import as_utc, upsert, utcnow, write_tx
from newsletter.store.tables import issues


def upsert_issue(engine: Engine, issue_id: str, edition: str, slot: datetime, status: str) -> None:
    """Create the issue's row or update its edition, slot and status."""
    now = utcnow()
    with write_tx(engine) as conn:
        stmt = upsert(conn, issues).values(
            id=issue_id, edition=edition, slot=slot, status=status, created_at=now, updated_at=now
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "edition": stmt.excluded.edition,
                    "slot": stmt.excluded.slot,
                    "status": stmt.excluded.status,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )


def set_issue_status(engine: Engine, issue_id: str, status: str) -> None:
    """Change the stored status (``sent`` also records when)."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "sent":
        values["sent_at"] = now
    with write_tx(engine) as conn:
        conn.execute(update(issues).where(issues.c.id == issue_id).values(values))


def save_report(engine: Engine, issue_id: str, report: dict[str, Any]) -> None:
    """Store the latest send report (JSON) on the issue's row."""
    with write_tx(engine) as conn:
        conn.execute(
            update(issues)
            .where(issues.c.id == issue_id)
            .values(report=json.dumps(report, sort_keys=True), updated_at=utcnow())
        )


def get_issue(engine: Engine, issue_id: str) -> dict[str, Any] | None:
    """The stored row of an issue as a dict (report parsed), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(issues).where(issues.c.id == issue_id)).first()
    if row is None:
        return None
    data = dict(row._mapping)
    for key in ("slot", "created_at", "updated_at", "sent_at"):
        data[key] = as_utc(data[key])
    data["report"] = json.loads(data["report"]) if data["report"] else None
    return data

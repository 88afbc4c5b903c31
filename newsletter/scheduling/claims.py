"""Slot claims in the store (``slot_runs``): who runs which step of which slot, exactly once.

A step (``assemble`` or ``send``) of a slot is claimed by INSERTing its row; the unique
constraint on ``(issue_id, step)`` makes a second process's INSERT fail, which we read as
"someone else has it". A row can be taken over only by a compare-and-set UPDATE that names
the status and the owner token it saw, so two processes can never both win:

* ``held`` and ``failed`` rows are re-claimable (a late approval, a retry within grace);
* a ``claimed`` row whose owner stopped confirming it is alive (``claimed_at``, refreshed by
  a heartbeat, older than the lease) is re-claimable: its process died. The send itself is
  also protected by the send ledger, so a re-claim after a crash never sends twice;
* ``done`` and ``missed`` rows are final.

While a row is ``claimed``, ``claimed_at`` is the owner's last heartbeat; ``finished_at`` is
set when the step ends. Each claim gets a fresh owner token (host:pid:random).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.config import Settings
from newsletter.store.db import open_store
from newsletter.store.tables import slot_runs

Step = Literal["assemble", "send"]
RunStatus = Literal["claimed", "done", "failed", "held", "missed"]
FINAL: tuple[RunStatus, ...] = ("done", "missed")


def process_name() -> str:
    """``host:pid``: who owns a claim, for humans reading ``newsletter status``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes: everything is stored in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class SlotRun:
    """One row of ``slot_runs``."""

    issue_id: str
    edition: str
    slot: datetime
    step: str
    status: str
    owner: str
    detail: str | None
    claimed_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SlotRun:
        m = row._mapping
        return cls(
            issue_id=m["issue_id"],
            edition=m["edition"],
            slot=_utc(m["slot"]),
            step=m["step"],
            status=m["status"],
            owner=m["owner"],
            detail=m["detail"],
            claimed_at=_utc(m["claimed_at"]),
            finished_at=_utc(m["finished_at"]) if m["finished_at"] is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "edition": self.edition,
            "slot": self.slot.isoformat(),
            "step": self.step,
            "status": self.status,
            "owner": self.owner,
            "detail": self.detail,
            "claimed_at": self.claimed_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class Claim:
    """A step we hold: finish it (done/failed/held) and keep it alive while it runs."""

    def __init__(self, store: SlotStore, run: SlotRun, token: str, previous: SlotRun | None):
        self.store = store
        self.run = run
        self.token = token
        self.previous = previous
        """The row as it was before we took it (None if we inserted it)."""

    @property
    def issue_id(self) -> str:
        return self.run.issue_id

    def heartbeat(self, now: datetime) -> bool:
        """Confirm we are alive; False if the claim was lost (our lease expired and was taken)."""
        return self.store._set(self, {"claimed_at": _utc(now)})

    def finish(self, status: RunStatus, detail: str | None, now: datetime) -> bool:
        """Record the outcome; False if someone else holds the row now."""
        values: dict[str, Any] = {"status": status, "detail": detail, "finished_at": _utc(now)}
        return self.store._set(self, values)


class SlotStore:
    """Claims and history of slot steps in ``slot_runs``."""

    def __init__(self, engine: Engine, lease: timedelta = timedelta(minutes=10)) -> None:
        self.engine = engine
        self.lease = lease

    @classmethod
    def open(cls, cfg: Settings) -> SlotStore:
        return cls(open_store(cfg), cfg.scheduling.lease)

    def get(self, issue_id: str, step: Step) -> SlotRun | None:
        query = select(slot_runs).where(
            and_(slot_runs.c.issue_id == issue_id, slot_runs.c.step == step)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return SlotRun.from_row(row) if row is not None else None

    def runs(self, edition: str | None = None, limit: int = 50) -> list[SlotRun]:
        """The latest rows, newest slot first."""
        query = select(slot_runs).order_by(slot_runs.c.slot.desc(), slot_runs.c.id.desc())
        if edition is not None:
            query = query.where(slot_runs.c.edition == edition)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).fetchall()
        return [SlotRun.from_row(r) for r in rows]

    def expired(self, run: SlotRun, now: datetime) -> bool:
        """A ``claimed`` row whose owner has not confirmed it is alive within the lease."""
        return run.status == "claimed" and run.claimed_at < _utc(now) - self.lease

    def claim(
        self,
        issue_id: str,
        edition: str,
        slot: datetime,
        step: Step,
        now: datetime,
        *,
        reclaim: Iterable[str] = (),
        status: RunStatus = "claimed",
        detail: str | None = None,
    ) -> Claim | None:
        """Take the step, or return None if another process has it (or it is final).

        ``reclaim`` lists the statuses that may be taken over (besides an expired claim).
        With ``status="missed"`` the row is written as final straight away.
        """
        token = f"{process_name()}:{uuid.uuid4().hex[:8]}"
        now = _utc(now)
        finished = now if status != "claimed" else None
        values = {
            "issue_id": issue_id,
            "edition": edition,
            "slot": _utc(slot),
            "step": step,
            "status": status,
            "owner": token,
            "detail": detail,
            "claimed_at": now,
            "finished_at": finished,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(slot_runs).values(**values))
        except IntegrityError:
            pass
        else:
            return Claim(self, self._as_run(values), token, None)
        seen = self.get(issue_id, step)
        if seen is None or seen.status in FINAL:
            return None
        if seen.status not in set(reclaim) and not self.expired(seen, now):
            return None
        # Compare-and-set on the exact row we saw: only one process can win this.
        stmt = (
            update(slot_runs)
            .where(
                and_(
                    slot_runs.c.issue_id == issue_id,
                    slot_runs.c.step == step,
                    slot_runs.c.status == seen.status,
                    slot_runs.c.owner == seen.owner,
                )
            )
            .values(status=status, owner=token, claimed_at=now, finished_at=finished)
        )
        if detail is not None:
            stmt = stmt.values(detail=detail)
        with self.engine.begin() as conn:
            won = conn.execute(stmt).rowcount == 1
        if not won:
            return None
        values["detail"] = detail if detail is not None else seen.detail
        return Claim(self, self._as_run(values), token, seen)

    def _set(self, claim: Claim, values: dict[str, Any]) -> bool:
        stmt = (
            update(slot_runs)
            .where(
                and_(
                    slot_runs.c.issue_id == claim.run.issue_id,
                    slot_runs.c.step == claim.run.step,
                    slot_runs.c.owner == claim.token,
                    slot_runs.c.status == "claimed",
                )
            )
            .values(**values)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    @staticmethod
    def _as_run(values: dict[str, Any]) -> SlotRun:
        return SlotRun(
            issue_id=values["issue_id"],
            edition=values["edition"],
            slot=values["slot"],
            step=values["step"],
            status=values["status"],
            owner=values["owner"],
            detail=values["detail"],
            claimed_at=values["claimed_at"],
            finished_at=values["finished_at"],
        )

"""Engagement rows: one narrow row per provider event of an issue, what the report adds up.

Written next to the raw ``events`` row (same transaction, only for event ids seen for the
first time, so a provider retry never counts twice) and by the own click redirect.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert

from newsletter.store.tables import engagement
from newsletter.tracking.urls import normalise_url

MAX_ISSUE_ID = 40


def bounce_kind(event: Mapping[str, Any]) -> str:
    """hard, soft or blocked, from SendGrid's ``type`` and SMTP ``status``.

    SendGrid marks a block list or policy refusal ``type: blocked``; a 4.x.x status on a
    ``bounce`` is temporary (soft); anything else is a hard bounce.
    """
    kind = str(event.get("type", "")).lower()
    if kind == "blocked":
        return "blocked"
    if str(event.get("status", "")).startswith("4"):
        return "soft"
    return "hard"


def _ts(event: Mapping[str, Any], default: int) -> int:
    stamp = event.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 0 < stamp < 1e11:
        return int(stamp)
    return default


def engagement_row(
    event: Mapping[str, Any],
    *,
    email: str | None,
    issue_id: str | None,
    subscriber_id: int | None,
    now: int | None = None,
) -> dict[str, Any] | None:
    """The engagement row of one provider event, or None when it concerns no issue."""
    if not email or not issue_id or len(issue_id) > MAX_ISSUE_ID:
        return None
    name = str(event.get("event") or "unknown")[:24]
    url = event.get("url")
    return {
        "issue_id": issue_id,
        "email": email[:320],
        "subscriber_id": subscriber_id,
        "kind": name,
        "detail": bounce_kind(event) if name == "bounce" else None,
        "machine": bool(event.get("sg_machine_open")) if name == "open" else False,
        "flag": None,
        "url": normalise_url(url) if name == "click" and isinstance(url, str) else None,
        "ts": _ts(event, int(time.time()) if now is None else now),
        "source": "sendgrid",
    }


def insert_engagement(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert engagement rows (one executemany); returns how many."""
    if rows:
        conn.execute(insert(engagement), list(rows))
    return len(rows)


def record_own_click(
    conn: Connection,
    *,
    issue_id: str,
    email: str,
    subscriber_id: int | None,
    url: str,
    head: bool = False,
    now: int | None = None,
) -> None:
    """A click through our own redirect; a HEAD request (a link scanner) is flagged."""
    insert_engagement(
        conn,
        [
            {
                "issue_id": issue_id[:MAX_ISSUE_ID],
                "email": email.strip().lower()[:320],
                "subscriber_id": subscriber_id,
                "kind": "click",
                "detail": None,
                "machine": False,
                "flag": "head" if head else None,
                "url": normalise_url(url),
                "ts": int(time.time()) if now is None else now,
                "source": "own",
            }
        ],
    )

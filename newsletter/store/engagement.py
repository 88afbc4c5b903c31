"""Engagement rows: one narrow row per provider event of an issue, and their summaries.

Written next to the raw ``events`` row (same transaction, only for event ids seen for the
first time, so a provider retry never counts twice) and by the own click redirect. Each new
row also updates ``engagement_people`` (one row per issue and recipient) and ``click_links``
(one per issue, recipient and link) with atomic upserts that add to counters, so the report
reads about one row per recipient instead of every event, and two concurrent batches on
PostgreSQL never lose an increment.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.sql.elements import ColumnElement

from newsletter.store.bulk import bulk_insert
from newsletter.store.tables import click_links, engagement, engagement_people, issue_counts
from newsletter.tracking.urls import CANARY_PATH, normalise_url

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
    """Insert engagement rows (one executemany) and fold them into the summaries."""
    if rows:
        bulk_insert(conn, engagement, rows)
        summarise(conn, rows)
    return len(rows)


COUNTERS = (
    "processed", "delivered", "deferred", "bounce_hard", "bounce_soft", "bounce_blocked",
    "dropped", "spamreport", "unsubscribe", "resubscribe", "open_human", "open_machine", "clicks",
)  # fmt: skip
_COUNTER_OF = {
    "processed": "processed",
    "delivered": "delivered",
    "deferred": "deferred",
    "dropped": "dropped",
    "spamreport": "spamreport",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
    "group_resubscribe": "resubscribe",
    "click": "clicks",
}


def _counter(row: Mapping[str, Any]) -> str | None:
    kind = row["kind"]
    if kind == "bounce":
        return f"bounce_{row['detail'] or 'hard'}"
    if kind == "open":
        return "open_machine" if row["machine"] else "open_human"
    return _COUNTER_OF.get(kind)


def summarise(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add new engagement rows to ``engagement_people`` and ``click_links`` (upserts)."""
    people: dict[tuple[str, str], dict[str, Any]] = {}
    links: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["issue_id"], row["email"])
        person = people.get(key)
        if person is None:
            person = people[key] = {
                "issue_id": key[0], "email": key[1], **dict.fromkeys(COUNTERS, 0),
                "delivered_ts": None, "first_click": None, "last_click": None, "bot_sign": 0,
            }  # fmt: skip
        counter = _counter(row)
        if counter is None:
            continue
        person[counter] += 1
        ts = row["ts"]
        if counter == "delivered":
            old = person["delivered_ts"]
            person["delivered_ts"] = ts if old is None else min(old, ts)
        elif counter == "clicks":
            url = row["url"] or ""
            first = person["first_click"]
            person["first_click"] = ts if first is None else min(first, ts)
            person["last_click"] = max(person["last_click"] or ts, ts)
            if row["flag"] or url.endswith(CANARY_PATH):
                person["bot_sign"] = 1
            link = links.get((*key, url))
            if link is None:
                links[(*key, url)] = {
                    "issue_id": key[0], "email": key[1], "url": url, "clicks": 1, "first_ts": ts,
                }  # fmt: skip
            else:
                link["clicks"] += 1
                link["first_ts"] = min(link["first_ts"], ts)
    if people:
        _upsert_people(conn, sorted(people.values(), key=lambda p: (p["issue_id"], p["email"])))
    if links:
        _upsert_links(
            conn, sorted(links.values(), key=lambda r: (r["issue_id"], r["email"], r["url"]))
        )


def _least(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    # SQLite's scalar min() is NULL if either is; PostgreSQL's LEAST skips NULLs: coalesce both.
    pick = func.least if conn.dialect.name == "postgresql" else func.min
    return func.coalesce(pick(a, b), a, b)


def _greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    pick = func.greatest if conn.dialect.name == "postgresql" else func.max
    return func.coalesce(pick(a, b), a, b)


def _upsert_people(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add to each recipient's row; count a recipient in ``issue_counts`` when a counter first
    goes above 0 (the row returned equals the increment: this transaction made it so)."""
    t = engagement_people.c

    def values(stmt: Any) -> dict[str, Any]:
        new = stmt.excluded
        out: dict[str, Any] = {name: t[name] + new[name] for name in COUNTERS}
        out["delivered_ts"] = _least(conn, t.delivered_ts, new.delivered_ts)
        out["first_click"] = _least(conn, t.first_click, new.first_click)
        out["last_click"] = _greatest(conn, t.last_click, new.last_click)
        out["bot_sign"] = _greatest(conn, t.bot_sign, new.bot_sign)
        return out

    after: list[tuple[Any, ...]]
    if conn.dialect.name == "sqlite":
        # Writers are serialised (BEGIN IMMEDIATE): read the rows as they are, add in Python,
        # and write without RETURNING (sqlite3's executemany cannot return rows).
        before: dict[tuple[str, str], tuple[Any, ...]] = {}
        for issue_id in sorted({r["issue_id"] for r in rows}):
            emails = [r["email"] for r in rows if r["issue_id"] == issue_id]
            for start in range(0, len(emails), 500):
                query = select(t.email, *(t[n] for n in COUNTERS)).where(
                    t.issue_id == issue_id, t.email.in_(emails[start : start + 500])
                )
                for email, *old in conn.execute(query):
                    before[(issue_id, email)] = tuple(old)
        bulk_insert(conn, engagement_people, rows, conflict=["issue_id", "email"], set_=values)
        zero = (0,) * len(COUNTERS)
        after = [
            (
                r["issue_id"],
                r["email"],
                *(
                    o + r[n]
                    for o, n in zip(
                        before.get((r["issue_id"], r["email"]), zero), COUNTERS, strict=True
                    )
                ),
            )
            for r in rows
        ]
    else:
        returned = bulk_insert(
            conn,
            engagement_people,
            rows,
            conflict=["issue_id", "email"],
            set_=values,
            returning=[t.issue_id, t.email, *(t[n] for n in COUNTERS)],
        )
        assert returned is not None
        after = [tuple(row) for row in returned]
    delta = {(r["issue_id"], r["email"]): r for r in rows}
    counts: dict[tuple[str, str], int] = {}
    bounces = ("bounce_hard", "bounce_soft", "bounce_blocked")
    for row in after:
        issue_id, email, *values_after = row
        added = delta[(issue_id, email)]
        now = dict(zip(COUNTERS, values_after, strict=True))
        for name in COUNTERS:
            step = added[name]
            if step:
                counts[(issue_id, f"{name}_n")] = counts.get((issue_id, f"{name}_n"), 0) + step
                if now[name] == step:
                    counts[(issue_id, name)] = counts.get((issue_id, name), 0) + 1
        step = sum(added[b] for b in bounces)
        if step and sum(now[b] for b in bounces) == step:
            counts[(issue_id, "bounced")] = counts.get((issue_id, "bounced"), 0) + 1
    if counts:
        bulk_insert(
            conn,
            issue_counts,
            [{"issue_id": i, "name": n, "value": v} for (i, n), v in sorted(counts.items())],
            conflict=["issue_id", "name"],
            set_=lambda stmt: {"value": issue_counts.c.value + stmt.excluded.value},
        )


def _upsert_links(conn: Connection, rows: list[dict[str, Any]]) -> None:
    t = click_links.c
    bulk_insert(
        conn,
        click_links,
        rows,
        conflict=["issue_id", "email", "url"],
        set_=lambda stmt: {
            "clicks": t.clicks + stmt.excluded.clicks,
            "first_ts": _least(conn, t.first_ts, stmt.excluded.first_ts),
        },
    )


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

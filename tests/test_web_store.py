"""The web routes' store queries (newsletter/store/events.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from web_support import add_send, add_subscriber, db, pg, subscriber

from newsletter.store import events as store
from newsletter.store import tables

__all__ = ["db", "pg"]


def test_unsubscribe_is_idempotent(db: sa.Engine) -> None:
    sid = add_subscriber(db, "ada@example.com")
    with db.begin() as conn:
        assert store.unsubscribe(conn, sid) is True
    first = subscriber(db, sid)
    assert first["status"] == "unsubscribed" and first["unsubscribed_at"] is not None
    with db.begin() as conn:
        assert store.unsubscribe(conn, sid) is False
    assert subscriber(db, sid)["unsubscribed_at"] == first["unsubscribed_at"]


def test_preferences_save_and_resubscribe(db: sa.Engine) -> None:
    sid = add_subscriber(db, "bob@example.com")
    with db.begin() as conn:
        row = store.set_preferences(conn, sid, midweek=False, sunday=True)
    assert row is not None and (row.wants_midweek, row.wants_sunday, row.status) == (
        False,
        True,
        "active",
    )
    with db.begin() as conn:
        row = store.set_preferences(conn, sid, midweek=False, sunday=False)
    assert row is not None and row.status == "unsubscribed"
    with db.begin() as conn:
        row = store.set_preferences(conn, sid, midweek=True, sunday=False)
    assert row is not None and row.status == "active" and row.wants_midweek
    assert subscriber(db, sid)["unsubscribed_at"] is None


def test_preferences_never_revive_a_bounced_address(db: sa.Engine) -> None:
    sid = add_subscriber(db, "gone@example.com", status="bounced")
    with db.begin() as conn:
        row = store.set_preferences(conn, sid, midweek=True, sunday=True)
    assert row is not None and row.status == "bounced"


def test_events_are_recorded_once_and_mapped(db: sa.Engine) -> None:
    bounced = add_subscriber(db, "bounce@example.com")
    spam = add_subscriber(db, "spam@example.com")
    unsub = add_subscriber(db, "unsub@example.com")
    blocked = add_subscriber(db, "blocked@example.com")
    batch = [
        {
            "event": "bounce",
            "email": "Bounce@Example.com",
            "sg_event_id": "e1",
            "timestamp": 1764000000,
        },
        {"event": "spamreport", "email": "spam@example.com", "sg_event_id": "e2"},
        {"event": "group_unsubscribe", "email": "unsub@example.com", "sg_event_id": "e3"},
        {
            "event": "dropped",
            "email": "nobody@example.com",
            "sg_event_id": "e4",
            "reason": "Invalid",
        },
        {"event": "bounce", "type": "blocked", "email": "blocked@example.com", "sg_event_id": "e5"},
    ]
    with db.begin() as conn:
        outcomes = [store.apply_provider_event(conn, e) for e in batch]
    assert all(o.new for o in outcomes)
    assert subscriber(db, bounced)["status"] == "bounced"
    assert subscriber(db, spam)["status"] == "complained"
    assert subscriber(db, unsub)["status"] == "unsubscribed"
    assert subscriber(db, blocked)["status"] == "active"  # a temporary block is not a bounce
    with db.connect() as conn:
        assert store.is_suppressed(conn, "bounce@example.com")
        assert store.is_suppressed(conn, "spam@example.com")
        assert store.is_suppressed(conn, "nobody@example.com")
        assert not store.is_suppressed(conn, "blocked@example.com")
        stored = conn.execute(sa.select(sa.func.count()).select_from(tables.events)).scalar_one()
    assert stored == 5

    with db.begin() as conn:  # SendGrid retries: the same ids change nothing
        again = [store.apply_provider_event(conn, e) for e in batch]
    assert not any(o.new for o in again)
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.events)).scalar_one() == 5


def test_a_complaint_outranks_a_later_bounce(db: sa.Engine) -> None:
    sid = add_subscriber(db, "c@example.com")
    with db.begin() as conn:
        store.apply_provider_event(
            conn, {"event": "spamreport", "email": "c@example.com", "sg_event_id": "a"}
        )
        store.apply_provider_event(
            conn, {"event": "bounce", "email": "c@example.com", "sg_event_id": "b"}
        )
    assert subscriber(db, sid)["status"] == "complained"


def test_delivered_confirms_theadd_send(db: sa.Engine) -> None:
    sid = add_subscriber(db, "led@example.com")
    add_send(db, "2026-11-22-sunday", sid, "led@example.com", "uncertain")
    event = {
        "event": "delivered",
        "email": "led@example.com",
        "issue_id": "2026-11-22-sunday",
        "sg_event_id": "d1",
        "sg_message_id": "MSGID123.filter0001.16648.5515E0B88.0",
    }
    with db.begin() as conn:
        outcome = store.apply_provider_event(conn, event)
    assert outcome.ledger_updated
    with db.connect() as conn:
        row = conn.execute(sa.select(tables.sends)).one()
    assert row.status == "sent" and row.provider_message_id == "MSGID123"


def test_event_without_id_is_deduplicated_by_content(db: sa.Engine) -> None:
    event = {"event": "processed", "email": "x@example.com", "timestamp": 1764000000}
    with db.begin() as conn:
        assert store.apply_provider_event(conn, event).new
        assert not store.apply_provider_event(conn, dict(event)).new


@pytest.mark.postgres
def test_concurrent_replays_record_each_event_once(pg: sa.Engine) -> None:
    db = pg  # concurrent writers are a PostgreSQL case (SQLite serialises writers)
    sid = add_subscriber(db, "race@example.com")
    batch = [
        {"event": "bounce", "email": "race@example.com", "sg_event_id": "race-1"},
        *(
            {"event": "open", "email": "race@example.com", "sg_event_id": f"o-{i}"}
            for i in range(200)
        ),
    ]
    barrier = threading.Barrier(4)
    new_counts: list[int] = []

    def deliver() -> None:
        barrier.wait()
        with db.begin() as conn:
            outcomes = store.apply_provider_events(conn, batch)
        new_counts.append(sum(o.new for o in outcomes))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(new_counts) == len(batch)  # every event counted new exactly once overall
    with db.connect() as conn:
        assert conn.execute(
            sa.select(sa.func.count()).select_from(tables.events)
        ).scalar_one() == len(batch)
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(tables.suppressions)).scalar_one()
            == 1
        )
    assert subscriber(db, sid)["status"] == "bounced"

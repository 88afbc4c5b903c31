"""The store on SQLite and PostgreSQL: schema, subscribers, suppressions, ledger, issues."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from newsletter.config import load_config
from newsletter.store import issues_repo, ledger, tables
from newsletter.store import subscribers as subs
from newsletter.store.db import (
    create_engine_for,
    current_revision,
    normalise_url,
    open_store,
    upgrade,
)
from tests.store_fixtures import migrations_head, seed

SUNDAY = "2026-11-22-sunday"


def _issue(engine: Engine, issue_id: str = SUNDAY, edition: str = "sunday") -> None:
    issues_repo.upsert_issue(
        engine, issue_id, edition, datetime(2026, 11, 22, 8, tzinfo=UTC), "approved"
    )


def test_migrations_create_every_table_and_are_idempotent(engine: Engine) -> None:
    upgrade(engine)  # a second run is a no-op
    assert current_revision(engine) == migrations_head()
    names = set(inspect(engine).get_table_names())
    assert set(tables.metadata.tables) <= names
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    eng = create_engine_for(f"sqlite:///{tmp_path / 'x' / 'a.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    eng.dispose()


def test_url_mapping_and_open_store(tmp_path: Path, config_path: Path) -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    cfg = load_config(config_path)
    eng = open_store(cfg)
    assert current_revision(eng) == migrations_head()
    eng.dispose()


def test_email_unique_case_insensitively(engine: Engine) -> None:
    sub, created = subs.add_subscriber(engine, "Ada.Lovelace@Example.COM", "Ada Lovelace")
    assert created and sub.email == "ada.lovelace@example.com"
    again, created = subs.add_subscriber(engine, "ada.lovelace@example.com", None, "sunday")
    assert not created and again.id == sub.id and again.name == "Ada Lovelace"
    assert (again.wants_midweek, again.wants_sunday) == (False, True)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(
            insert(tables.subscribers).values(
                email="ada.lovelace@example.com",
                wants_midweek=True,
                wants_sunday=True,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )


def test_bad_addresses_and_editions_are_refused(engine: Engine) -> None:
    with pytest.raises(subs.BadAddress):
        subs.add_subscriber(engine, "not-an-address")
    with pytest.raises(ValueError, match="unknown edition"):
        subs.add_subscriber(engine, "a@example.com", editions="weekly")


def test_unsubscribe_keeps_row_and_import_never_resurrects(engine: Engine) -> None:
    subs.add_subscriber(engine, "gone@example.com", "Gone")
    assert subs.unsubscribe(engine, "GONE@example.com").status == "unsubscribed"  # type: ignore[union-attr]
    subs.set_status(engine, "gone@example.com", "unsubscribed")
    subs.add_subscriber(engine, "bounced@example.com")
    subs.set_status(engine, "bounced@example.com", "bounced")
    counts = subs.upsert_rows(
        engine,
        [
            subs.ImportRow("gone@example.com", "New Name", True, True),
            subs.ImportRow("bounced@example.com", None, True, True),
            subs.ImportRow("new@example.com", "New", False, True),
        ],
        source="test",
    )
    assert (counts.added, counts.updated, counts.kept_inactive) == (1, 0, 2)
    gone = subs.get_subscriber(engine, "gone@example.com")
    assert gone is not None and gone.status == "unsubscribed" and gone.name == "Gone"
    assert subs.get_subscriber(engine, "bounced@example.com").status == "bounced"  # type: ignore[union-attr]
    # An explicit resubscribe brings back an unsubscribed address, never a bounced one.
    back, _ = subs.add_subscriber(engine, "gone@example.com", resubscribe=True)
    assert back.status == "active"
    still, _ = subs.add_subscriber(engine, "bounced@example.com", resubscribe=True)
    assert still.status == "bounced"


def test_purge_erases_personal_data(engine: Engine) -> None:
    subs.add_subscriber(engine, "never@example.com", "Never Sent")
    assert subs.purge(engine, "never@example.com")
    assert subs.get_subscriber(engine, "never@example.com") is None
    sub, _ = subs.add_subscriber(engine, "sent@example.com", "Was Sent")
    _issue(engine)
    claimed = ledger.claim_batch(engine, SUNDAY, "sunday", 0, 10, "b1")
    assert [c.email for c in claimed] == ["sent@example.com"]
    assert subs.purge(engine, "sent@example.com")
    assert subs.get_subscriber(engine, "sent@example.com") is None
    assert ledger.emails_with_status(engine, SUNDAY, "queued") == [
        f"purged-{sub.id}@purged.invalid"
    ]
    assert not subs.purge(engine, "nobody@example.com")


def test_ledger_unique_per_issue_and_subscriber(engine: Engine) -> None:
    seed(engine, 3)
    _issue(engine)
    first = ledger.claim_batch(engine, SUNDAY, "sunday", 0, 10, "b1")
    assert len(first) == 3
    # A second claim (another sender, or the same one restarted) finds nobody left.
    assert ledger.claim_batch(engine, SUNDAY, "sunday", 0, 10, "b2") == []
    sid = first[0].subscriber_id
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(tables.sends).values(
                issue_id=SUNDAY,
                subscriber_id=sid,
                email="x",
                status="queued",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )


def test_audience_query(engine: Engine) -> None:
    seed(engine, 5, start=0)  # both editions
    seed(engine, 3, start=100, edition="midweek")
    seed(engine, 2, start=200, edition="sunday")
    seed(engine, 2, start=300, status="unsubscribed")
    seed(engine, 1, start=400, status="bounced")
    seed(engine, 1, start=500, status="complained")
    subs.add_suppression(engine, "USER1@example.com", "bounce", "test")
    subs.add_suppression(engine, "user201@example.com", "spamreport", "test")
    _issue(engine)
    _issue(engine, "2026-11-18-midweek", "midweek")
    assert ledger.audience_remaining(engine, SUNDAY, "sunday") == 5 - 1 + 2 - 1
    assert ledger.audience_remaining(engine, "2026-11-18-midweek", "midweek") == 5 - 1 + 3
    assert ledger.suppressed_count(engine, "sunday") == 2
    # Already in the ledger for this issue → no longer in its audience; other issues unaffected.
    got = ledger.claim_batch(engine, SUNDAY, "sunday", 0, 2, "b1")
    assert [c.email for c in got] == ["user0@example.com", "user2@example.com"]
    assert ledger.audience_remaining(engine, SUNDAY, "sunday") == 3
    assert ledger.audience_remaining(engine, "2026-11-18-midweek", "midweek") == 7
    rest = ledger.claim_batch(engine, SUNDAY, "sunday", got[-1].subscriber_id, 100, "b2")
    assert [c.email for c in rest] == [
        "user3@example.com",
        "user4@example.com",
        "user200@example.com",
    ]
    assert ledger.audience_remaining(engine, SUNDAY, "sunday") == 0


def test_posting_protocol_and_recovery(engine: Engine) -> None:
    seed(engine, 6)
    _issue(engine)
    a = ledger.claim_batch(engine, SUNDAY, "sunday", 0, 2, "a")
    b = ledger.claim_batch(engine, SUNDAY, "sunday", a[-1].subscriber_id, 2, "b")
    c = ledger.claim_batch(engine, SUNDAY, "sunday", b[-1].subscriber_id, 2, "c")
    assert ledger.mark_posted(engine, "a") == 2
    assert ledger.mark_sent(engine, "a", "m1") == 2
    assert ledger.mark_posted(engine, "b") == 2  # posted, then "killed"
    assert ledger.mark_posted(engine, "c") == 2
    ledger.unmark_posted(engine, "c", "429")  # the provider certainly did nothing
    found = ledger.recover(engine, SUNDAY)
    assert (found.released, found.uncertain) == (2, 2)
    counts = ledger.counts(engine, SUNDAY)
    assert (counts["sent"], counts["uncertain"], counts["queued"]) == (2, 2, 0)
    # The released batch is gone: its owner must not post it, and the people are claimable.
    assert ledger.mark_posted(engine, "c") == 0
    assert [m.email for m in ledger.claim_batch(engine, SUNDAY, "sunday", 0, 10, "d")] == [
        m.email for m in c
    ]
    # --resend-uncertain moves uncertain rows into a new queued batch.
    again = ledger.requeue_uncertain(engine, SUNDAY, 10, "e")
    assert [m.email for m in again] == [m.email for m in b]
    assert ledger.counts(engine, SUNDAY)["uncertain"] == 0


def test_issue_rows_and_reports(engine: Engine) -> None:
    _issue(engine)
    issues_repo.set_issue_status(engine, SUNDAY, "sent")
    issues_repo.save_report(engine, SUNDAY, {"sent": 3})
    row = issues_repo.get_issue(engine, SUNDAY)
    assert row is not None and row["status"] == "sent" and row["report"] == {"sent": 3}
    assert row["sent_at"] is not None and row["slot"] == datetime(2026, 11, 22, 8, tzinfo=UTC)
    _issue(engine)  # upsert again
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.issues)).scalar_one() == 1


def test_stats_and_iteration(engine: Engine) -> None:
    seed(engine, 4)
    seed(engine, 2, start=10, edition="midweek")
    seed(engine, 1, start=20, status="unsubscribed")
    subs.add_suppression(engine, "user0@example.com", "bounce")
    data = subs.stats(engine)
    assert data["total"] == 7
    assert data["by_status"] == {
        "active": 6, "unsubscribed": 1, "bounced": 0, "complained": 0, "pending": 0
    }  # fmt: skip
    assert data["active_by_edition"] == {"midweek": 6, "sunday": 4}
    assert data["suppressed"] == 1
    assert len(list(subs.iter_subscribers(engine, page=2))) == 7
    assert len(list(subs.iter_subscribers(engine, status="active", page=3))) == 6


_ALPHABET = st.sampled_from(
    [*"aZ0.-_+@'!#`~{}|=?^$%&*/ ", "ä", "xn--", "..", "@@", "com", "localhost", "1", "-a", "a-"]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_ALPHABET, min_size=1, max_size=14).map("".join))
def test_fast_address_check_agrees_with_email_validator(value: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    try:
        expected: str | None = validate_email(
            value.strip(), check_deliverability=False
        ).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = subs.normalise_email(value)
    except subs.BadAddress:
        got = None
    assert got == expected

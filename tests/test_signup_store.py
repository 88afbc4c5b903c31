"""The store side of signup: schema, audience, consents on import, purges, races (SQLite + PG)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_fixtures import seed

from newsletter.config import SignupConfig
from newsletter.signup import SignupRequest, confirm, request_signup
from newsletter.store import ledger, tables
from newsletter.store import subscribers as subs
from newsletter.store.importer import import_csv
from newsletter.store.profile import subscriber_profile
from newsletter.store.signups import address_key, consents_for, purge_expired

CFG = SignupConfig()


def _request(address: str, ip: str = "10.0.0.1") -> SignupRequest:
    return SignupRequest(address, "Ann", True, True, "api", ip, "pytest")


def test_migration_creates_the_signup_tables(engine: sa.Engine) -> None:
    names = set(sa.inspect(engine).get_table_names())
    assert {"consents", "signup_tokens", "rate_hits"} <= names


def test_pending_subscribers_are_never_in_an_audience(engine: sa.Engine) -> None:
    seed(engine, 3)
    for i in range(4):
        request_signup(engine, CFG, _request(f"pending{i}@example.com", f"10.0.0.{i}"))
    with engine.connect() as conn:
        pending = conn.execute(
            sa.select(sa.func.count()).where(tables.subscribers.c.status == "pending")
        ).scalar_one()
    assert pending == 4
    for edition in ("midweek", "sunday"):
        assert ledger.audience_remaining(engine, "2026-11-22-sunday", edition) == 3
        members = ledger.first_audience(engine, "2026-11-22-sunday", edition, 100)
        assert all(not m.email.startswith("pending") for m in members)
    stats = subs.stats(engine)
    assert stats["by_status"]["pending"] == 4  # type: ignore[index]


def test_import_records_consent_with_the_file_name(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "autumn-list.csv"
    path.write_text("email,name\nann@example.com,Ann\nbob@example.com,\n", encoding="utf-8")
    import_csv(engine, path)
    import_csv(engine, path)  # re-import: the addresses are not new, no second record
    with engine.connect() as conn:
        records = consents_for(conn, "ann@example.com")
    assert [(c.action, c.method, c.source, c.detail) for c in records] == [
        ("import", "import", "import", "autumn-list.csv")
    ]


def test_purge_erases_consents_tokens_and_limits(engine: sa.Engine) -> None:
    job = request_signup(engine, CFG, _request("gone@example.com"))
    assert job is not None
    assert confirm(engine, job.token, ip="10.0.0.2", user_agent="t").state == "confirmed"
    assert subs.purge(engine, "gone@example.com")
    with engine.connect() as conn:
        assert consents_for(conn, "gone@example.com") == []
        for table, column in (
            (tables.signup_tokens, tables.signup_tokens.c.email),
            (tables.subscribers, tables.subscribers.c.email),
        ):
            assert not conn.execute(sa.select(table).where(column == "gone@example.com")).first()
        key = address_key("gone@example.com")
        assert not conn.execute(
            sa.select(tables.rate_hits).where(tables.rate_hits.c.key == key)
        ).first()
    assert subscriber_profile(engine, "gone@example.com") is None


def test_purge_expired_removes_only_dead_pending_signups(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=80)
    request_signup(engine, CFG, _request("stale@example.com", "10.0.0.1"), old)
    request_signup(engine, CFG, _request("fresh@example.com", "10.0.0.2"), now)
    # Pending for long, but asked again recently: its new link is still live.
    request_signup(engine, CFG, _request("again@example.com", "10.0.0.3"), old)
    request_signup(engine, CFG, _request("again@example.com", "10.0.0.4"), now)
    kept = request_signup(engine, CFG, _request("kept@example.com", "10.0.0.5"), old)
    assert kept is not None
    confirm(engine, kept.token, ip="1", user_agent="t", now=old + timedelta(hours=1))
    counts = purge_expired(engine, CFG.confirm_ttl, now)
    assert counts.pending == 1
    with engine.connect() as conn:
        left = dict(
            conn.execute(sa.select(tables.subscribers.c.email, tables.subscribers.c.status)).all()
        )
        assert consents_for(conn, "stale@example.com") == []
    assert left == {
        "fresh@example.com": "pending",
        "again@example.com": "pending",
        "kept@example.com": "active",
    }
    later = purge_expired(engine, CFG.confirm_ttl, now + timedelta(days=20))
    assert later.hits > 0 and later.tokens > 0


@pytest.mark.parametrize("threads", [12])
def test_concurrent_signups_of_one_address_send_one_email(engine: sa.Engine, threads: int) -> None:
    jobs: list[object] = []
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def go(i: int) -> None:
        barrier.wait()
        job = request_signup(engine, CFG, _request("race@example.com", f"10.9.0.{i}"))
        with lock:
            jobs.append(job)

    workers = [threading.Thread(target=go, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(1 for j in jobs if j is not None) == 1
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(tables.subscribers).where(tables.subscribers.c.email == "race@example.com")
        ).all()
    assert len(rows) == 1


def test_concurrent_signups_from_one_ip_respect_the_limit(engine: sa.Engine) -> None:
    threads, results = 30, []
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def go(i: int) -> None:
        barrier.wait()
        job = request_signup(engine, CFG, _request(f"ip{i}@example.com", "10.7.7.7"))
        with lock:
            results.append(job)

    workers = [threading.Thread(target=go, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(1 for j in results if j is not None) == CFG.rate_per_ip


def test_scheduler_job_purges(tmp_path: Path) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler
    from conftest import write_config

    from newsletter.config import load_config
    from newsletter.scheduling.maintenance import add_maintenance_jobs, purge_signups
    from newsletter.store import open_store

    cfg = load_config(write_config(tmp_path), env={})
    engine = open_store(cfg)
    request_signup(
        engine, CFG, _request("stale@example.com"), datetime.now(UTC) - timedelta(days=4)
    )
    sched = BackgroundScheduler()
    add_maintenance_jobs(sched, cfg)
    [job] = sched.get_jobs()
    assert job.id == "signup-purge" and job.func is purge_signups
    purge_signups(cfg)
    assert subs.get_subscriber(engine, "stale@example.com") is None

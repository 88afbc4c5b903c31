"""Fixtures and helpers for the store and delivery tests (SQLite and PostgreSQL).

Import the fixtures into a test module: ``from store_fixtures import db_url, engine``.
PostgreSQL at 127.0.0.1:5432 (database ``test``, user postgres) gets one fresh schema per
test session, dropped at the end; its tests skip only when the server is unreachable.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, insert, text

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.delivery.base import BatchResult, OutgoingIssue, ProviderError, Recipient
from newsletter.models import IssuePlan, Window
from newsletter.store import tables
from newsletter.store.db import create_engine_for, upgrade

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers."""
    try:
        eng = create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:
        return f"PostgreSQL at 127.0.0.1:5432/test unreachable: {type(exc).__name__}"
    return None


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A URL whose search_path is a fresh, uniquely named schema, dropped afterwards.

    Skips the test when PostgreSQL is unreachable (checked once per session).
    """
    global _PG_REASON
    if _PG_REASON is None:
        _PG_REASON = pg_unreachable() or ""
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


_PG_REASON: str | None = None


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema (dropped after the session)."""
    with pg_schema("t_store") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty store."""
    eng = create_engine_for(db_url)
    upgrade(eng)
    clear(eng)
    yield eng
    clear(eng)
    eng.dispose()


def seed(
    engine: Engine,
    n: int,
    *,
    start: int = 0,
    edition: str | None = None,
    status: str = "active",
    domain: str = "example.com",
) -> list[str]:
    """Insert ``n`` subscribers quickly; returns their addresses."""
    now = datetime.now(UTC)
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "email": f"user{i}@{domain}",
                "name": f"User {i}",
                "wants_midweek": edition in (None, "midweek"),
                "wants_sunday": edition in (None, "sunday"),
                "status": status,
                "source": "test",
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(tables.subscribers), rows)
    return [r["email"] for r in rows]  # type: ignore[misc]


def make_issue(
    cfg: Settings,
    *,
    edition: str = "sunday",
    status: str = "approved",
    day: str = "2026-11-22",
    render: bool = True,
) -> str:
    """Write an issue.json (and email.html/email.txt) to the config's archive."""
    slot = datetime.fromisoformat(f"{day}T08:00:00+00:00")
    issue_id = f"{day}-{edition}"
    plan = IssuePlan(
        id=issue_id,
        edition=edition,  # type: ignore[arg-type]
        slot=slot,
        window=Window(start=slot - timedelta(days=4), end=slot),
        subject="The week in AI",
        preheader="Top stories",
        status=status,  # type: ignore[arg-type]
    )
    archive = Archive(cfg.archive_dir)
    archive.save_plan(plan)
    if render:
        archive.write_text(
            issue_id,
            "email.html",
            '<p>Hi %first_name%</p><a href="%unsubscribe_url%">unsubscribe</a>',
        )
        archive.write_text(
            issue_id, "email.txt", "Hi %first_name%\nunsubscribe: %unsubscribe_url%\n"
        )
    return issue_id


class FakeProvider:
    """A real Provider that records every batch and raises injected failures.

    ``script`` is a list of exceptions (or None for success) consumed one per call; when it
    runs out every call succeeds.
    """

    name = "fake"

    def __init__(self, script: Sequence[Exception | None] = (), max_batch_size: int = 1000) -> None:
        self.max_batch_size = max_batch_size
        self.script = list(script)
        self.calls: list[list[str]] = []
        self.delivered: list[Recipient] = []
        self.issues: list[OutgoingIssue] = []
        self.lock = threading.Lock()
        self.closed = False

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        with self.lock:
            self.calls.append([r.email for r in recipients])
            step = self.script.pop(0) if self.script else None
            if step is not None:
                if (
                    isinstance(step, ProviderError)
                    and type(step).__name__ == "ProviderUncertainError"
                ):
                    self.delivered.extend(recipients)  # it did go out; we just never heard
                raise step
            self.delivered.extend(recipients)
            self.issues.append(issue)
        return BatchResult(status_code=202, message_id=f"msg-{len(self.calls)}")

    def close(self) -> None:
        self.closed = True

    def preview_payload(
        self, issue: OutgoingIssue, recipients: Sequence[Recipient]
    ) -> dict[str, object]:
        return {"subject": issue.subject, "to": [r.email for r in recipients]}


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def dumps(data: object) -> str:
    return json.dumps(data)


def migrations_head() -> str:
    """The newest packaged migration (the chain grows as branches add theirs)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from newsletter.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head

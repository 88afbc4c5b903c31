"""Engines and migrations: one SQLAlchemy URL for SQLite (default) or PostgreSQL.

SQLite connections get WAL mode, a busy timeout and foreign keys on every connect, and
write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout
instead of failing with "database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from newsletter.config import Settings
from newsletter.errors import ConfigError, NewsletterError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_upgraded: set[str] = set()
_upgrade_lock = threading.Lock()


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` / ``postgres://`` onto the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" event below issues BEGIN itself.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_folder(db: Path) -> None:
    """Create the database file's folder (one level: a mistyped deeper path is an error)."""
    folder = db.parent
    if folder.is_dir():
        return
    if not folder.parent.is_dir():
        raise ConfigError(f"storage.url: folder {folder.parent} does not exist (for {db})")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"storage.url: cannot create {folder} ({exc.strerror})") from None


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """An Engine for a SQLAlchemy URL; SQLite gets WAL, busy_timeout and foreign keys."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"storage.url: not a database URL ({url!r})") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            _sqlite_folder(Path(db))
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the packaged Alembic migrations up to ``revision`` (no alembic.ini needed)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise NewsletterError(f"database {_safe(engine)}: {_first_line(exc)}") from None


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(cfg: Settings, *, migrate: bool = True) -> Engine:
    """The Engine for ``storage.url``, migrated to the latest schema (once per process)."""
    engine = create_engine_for(cfg.storage_url)
    if migrate:
        key = str(engine.url)
        with _upgrade_lock:
            if key not in _upgraded:
                upgrade(engine)
                _upgraded.add(key)
    return engine


def _safe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__

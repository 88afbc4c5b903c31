"""Shared pieces of the web tests: a project with an archive, a database and signing keys."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import write_config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.archive import Archive, dump_json
from newsletter.config import Secrets, Settings, load_config
from newsletter.models import IssuePlan, NewsItem, Story, Window
from newsletter.personalization import sign_token
from newsletter.store import tables
from newsletter.store.db import create_engine_for
from tests.store_fixtures import pg_schema

SECRET_KEY = "test-secret-key-0123456789"

EMAIL_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="supported-color-schemes" content="light dark">
<title>{subject}</title>
<style>
body {{ margin: 0; background: #f4f1ea; color: #1d1d1f; font-family: Georgia, serif; }}
.wrap {{ max-width: 600px; margin: 0 auto; background: #ffffff; padding: 24px; }}
h1 {{ font-size: 26px; margin: 0 0 12px; }}
a {{ color: #1f5fbf; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #111111 !important; color: #eeeeee !important; }}
  .wrap {{ background: #1e1e1e !important; }}
  a {{ color: #8ab4f8 !important; }}
}}
</style></head>
<body><div class="preheader" style="display:none">{preheader}</div>
<div class="wrap" id="wrap">
<p>Hi %first_name%,</p>
<h1 id="top-story"><a href="https://example.com/story">Top story headline</a></h1>
<p>Summary of the story.</p>
<p><a href="%unsubscribe_url%" id="unsub">Unsubscribe</a> ·
<a href="%preferences_url%">Preferences</a></p>
</div></body></html>
"""
EMAIL_TXT = "Hi %first_name%,\n\nTop story headline\nhttps://example.com/story\n\nUnsubscribe: %unsubscribe_url%\n"
CHECKS = [
    {"name": "size", "status": "pass", "detail": "31 KB (Gmail clips at 102 KB)"},
    {"name": "preheader", "status": "pass", "detail": "hidden preheader present"},
    {"name": "subject length", "status": "warn", "detail": "subject is 71 characters"},
]


def make_plan(issue_id: str = "2026-11-22-sunday", status: str = "draft") -> IssuePlan:
    """A small valid plan with one story."""
    slot = datetime(2026, 11, 22, 8, tzinfo=UTC)
    item = NewsItem(
        id="story-1",
        title="Top story headline",
        url="https://example.com/story",
        source="Example News",
        published_at=slot - timedelta(days=1),
        score=8.5,
        summary="Summary of the story.",
    )
    edition = "midweek" if issue_id.endswith("midweek") else "sunday"
    return IssuePlan(
        id=issue_id,
        edition=edition,
        slot=slot,
        window=Window(start=slot - timedelta(days=7), end=slot),
        subject=f"The week in AI <{issue_id}>",
        preheader="Top story headline, and more",
        status=status,  # type: ignore[arg-type]
        number=42,
        stories=[Story(item=item)],
    )


def write_issue(
    archive: Archive,
    issue_id: str = "2026-11-22-sunday",
    status: str = "draft",
    rendered: bool = True,
) -> IssuePlan:
    """Save a plan and, when ``rendered``, the files the render step writes."""
    plan = make_plan(issue_id, status)
    archive.save_plan(plan)
    if rendered:
        html = EMAIL_HTML.format(subject=plan.subject, preheader=plan.preheader)
        archive.write_text(issue_id, "email.html", html)
        archive.write_text(issue_id, "web.html", html.replace("Hi %first_name%", "Web version"))
        archive.write_text(issue_id, "email.txt", EMAIL_TXT)
        archive.write_text(issue_id, "checks.json", dump_json(CHECKS))
    return plan


@dataclass
class KeyPair:
    """An ECDSA P-256 key pair like SendGrid's event webhook verification key."""

    private: ec.EllipticCurvePrivateKey
    public_b64: str

    @classmethod
    def generate(cls) -> KeyPair:
        private = ec.generate_private_key(ec.SECP256R1())
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private=private, public_b64=base64.b64encode(der).decode())

    def sign(self, body: bytes, timestamp: str) -> str:
        """Sign as SendGrid does: ECDSA-SHA256 over timestamp + payload, base64 DER."""
        sig = self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(sig).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp)
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": self.sign(body, ts),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }


def project(folder: Path, public_key: str | None = None, **sections: Any) -> Settings:
    """A config in ``folder`` (own archive and SQLite file), optionally with a webhook key."""
    delivery: dict[str, Any] = {
        "provider": "outbox",
        "outbox": {"dir": str(folder / "outbox")},
        "sendgrid": {"host": "https://api.sendgrid.com", "event_public_key": public_key},
    }
    return load_config(write_config(folder, delivery=delivery, **sections), env={})


def secrets(
    key: str | None = SECRET_KEY, user: str | None = None, password: str | None = None
) -> Secrets:
    env = {}
    if key:
        env["NEWSLETTER_SECRET_KEY"] = key
    if user:
        env["NEWSLETTER_EDITOR_USER"] = user
    if password:
        env["NEWSLETTER_EDITOR_PASSWORD"] = password
    return Secrets.from_env(env)


def sqlite_engine(folder: Path) -> sa.Engine:
    """The store on SQLite in ``folder`` (the schema the app runs on)."""
    engine = create_engine_for(f"sqlite:///{folder / 'web.db'}")
    tables.metadata.create_all(engine)
    return engine


def postgres_engine() -> Iterator[sa.Engine]:
    """An engine on a fresh schema of the test database; the schema is dropped after."""
    with pg_schema("web") as url:
        engine = create_engine_for(url)
        tables.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def add_subscriber(
    engine: sa.Engine,
    email: str,
    *,
    name: str | None = "Ada Lovelace",
    status: str = "active",
    midweek: bool = True,
    sunday: bool = True,
) -> int:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(tables.subscribers).values(
                email=email.lower(),
                name=name,
                status=status,
                wants_midweek=midweek,
                wants_sunday=sunday,
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


def add_send(engine: sa.Engine, issue_id: str, sid: int, email: str, status: str) -> None:
    """A send-ledger row (and its issue) for ``sid`` with ``status``."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.issues).values(
                id=issue_id,
                edition="sunday",
                slot=now,
                status="sending",
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            sa.insert(tables.sends).values(
                issue_id=issue_id,
                subscriber_id=sid,
                email=email,
                status=status,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
        )


def subscriber(engine: sa.Engine, sid: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(tables.subscribers).where(tables.subscribers.c.id == sid)
        ).one()
        return dict(row._mapping)


def token(sid: int, email: str, key: str = SECRET_KEY) -> str:
    return sign_token(key.encode(), sid, email)


def events_json(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events), separators=(",", ":")).encode()


@pytest.fixture
def pg() -> Iterator[sa.Engine]:
    """PostgreSQL only (a unique schema per test); skips when it is unreachable."""
    yield from postgres_engine()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The database on SQLite and on PostgreSQL (a unique schema per test)."""
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path)
        yield engine
        engine.dispose()
        return
    yield from postgres_engine()

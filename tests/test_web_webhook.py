"""SendGrid's signed event webhook: signature, freshness, de-duplication, effects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from web_support import (
    KeyPair,
    add_send,
    add_subscriber,
    db,
    events_json,
    project,
    secrets,
    subscriber,
)

from newsletter.store import tables
from newsletter.web import create_app, startup_warnings

__all__ = ["db"]
URL = "/webhooks/sendgrid"


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def client(tmp_path: Path, db: sa.Engine, keys: KeyPair) -> TestClient:
    cfg = project(tmp_path, public_key=keys.public_b64)
    return TestClient(create_app(cfg, secrets(), engine=db))


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_valid_batch_is_applied_once(client: TestClient, db: sa.Engine, keys: KeyPair) -> None:
    ada = add_subscriber(db, "ada@example.com")
    bob = add_subscriber(db, "bob@example.com")
    cy = add_subscriber(db, "cy@example.com")
    add_send(db, "2026-11-22-sunday", cy, "cy@example.com", "sent")
    body = events_json(
        {
            "email": "ada@example.com",
            "event": "bounce",
            "sg_event_id": "ev-1",
            "type": "bounce",
            "timestamp": 1764000000,
        },
        {
            "email": "bob@example.com",
            "event": "spamreport",
            "sg_event_id": "ev-2",
            "issue_id": "2026-11-22-sunday",
        },
        {
            "email": "cy@example.com",
            "event": "delivered",
            "sg_event_id": "ev-3",
            "issue_id": "2026-11-22-sunday",
            "sg_message_id": "abc.filter1",
        },
        {
            "email": "stranger@example.com",
            "event": "dropped",
            "sg_event_id": "ev-4",
            "reason": "Bounced Address",
        },
    )
    res = client.post(URL, content=body, headers=keys.headers(body))
    assert res.status_code == 200, res.text
    assert res.json() == {"received": 4, "new": 4, "duplicate": 0, "ignored": 0}
    assert subscriber(db, ada)["status"] == "bounced"
    assert subscriber(db, bob)["status"] == "complained"
    assert subscriber(db, cy)["status"] == "active"
    assert _count(db, tables.suppressions) == 3
    with db.connect() as conn:
        send = conn.execute(sa.select(tables.sends)).one()
    assert send.status == "sent" and send.provider_message_id == "abc"

    # SendGrid retries the same events (a fresh signature and timestamp): no double effect.
    res = client.post(URL, content=body, headers=keys.headers(body))
    assert res.status_code == 200 and res.json()["duplicate"] == 4
    assert _count(db, tables.events) == 4 and _count(db, tables.suppressions) == 3


def test_unsubscribe_event(client: TestClient, db: sa.Engine, keys: KeyPair) -> None:
    sid = add_subscriber(db, "ada@example.com")
    body = events_json({"email": "ada@example.com", "event": "unsubscribe", "sg_event_id": "u-1"})
    assert client.post(URL, content=body, headers=keys.headers(body)).status_code == 200
    row = subscriber(db, sid)
    assert row["status"] == "unsubscribed" and row["unsubscribed_at"] is not None


def test_altered_body_is_refused(client: TestClient, db: sa.Engine, keys: KeyPair) -> None:
    sid = add_subscriber(db, "ada@example.com")
    body = events_json({"email": "ada@example.com", "event": "delivered", "sg_event_id": "x"})
    headers = keys.headers(body)
    forged = body.replace(b"delivered", b"spamreport")
    assert client.post(URL, content=forged, headers=headers).status_code == 403
    # Re-serialising the same JSON changes the bytes: only the raw body is trusted.
    spaced = body.replace(b",", b", ")
    assert client.post(URL, content=spaced, headers=headers).status_code == 403
    assert subscriber(db, sid)["status"] == "active" and _count(db, tables.events) == 0


def test_signature_from_another_key_is_refused(client: TestClient, db: sa.Engine) -> None:
    body = events_json({"email": "ada@example.com", "event": "bounce", "sg_event_id": "y"})
    other = KeyPair.generate()
    assert client.post(URL, content=body, headers=other.headers(body)).status_code == 403
    assert _count(db, tables.events) == 0


def test_stale_and_future_timestamps_are_refused(
    client: TestClient, db: sa.Engine, keys: KeyPair
) -> None:
    body = events_json({"email": "ada@example.com", "event": "bounce", "sg_event_id": "z"})
    now = int(datetime.now(UTC).timestamp())
    for stamp in (now - 600, now + 600):
        res = client.post(URL, content=body, headers=keys.headers(body, timestamp=stamp))
        assert res.status_code == 403 and "timestamp" in res.text
    assert (
        client.post(URL, content=body, headers=keys.headers(body, timestamp=now - 60)).status_code
        == 200
    )


def test_missing_or_garbled_headers_are_refused(
    client: TestClient, db: sa.Engine, keys: KeyPair
) -> None:
    body = events_json({"email": "ada@example.com", "event": "bounce", "sg_event_id": "w"})
    good = keys.headers(body)
    assert client.post(URL, content=body).status_code == 403
    for drop in (
        "X-Twilio-Email-Event-Webhook-Signature",
        "X-Twilio-Email-Event-Webhook-Timestamp",
    ):
        headers = {k: v for k, v in good.items() if k != drop}
        assert client.post(URL, content=body, headers=headers).status_code == 403
    for bad in ("not base64!", "AAAA", ""):
        headers = {**good, "X-Twilio-Email-Event-Webhook-Signature": bad}
        assert client.post(URL, content=body, headers=headers).status_code == 403
    headers = {**good, "X-Twilio-Email-Event-Webhook-Timestamp": "yesterday"}
    assert client.post(URL, content=body, headers=headers).status_code == 403
    assert _count(db, tables.events) == 0


def test_signed_but_not_an_array(client: TestClient, keys: KeyPair) -> None:
    for body in (b'{"event": "bounce"}', b"not json", "caf\u00e9".encode("latin-1")):
        res = client.post(URL, content=body, headers=keys.headers(body))
        assert res.status_code in (400, 403)


def test_no_public_key_configured(tmp_path: Path) -> None:
    cfg = project(tmp_path, public_key=None)
    client = TestClient(create_app(cfg, secrets(), engine=sa.create_engine("sqlite://")))
    res = client.post(URL, content=b"[]")
    assert res.status_code == 503 and "event_public_key" in res.text
    assert any("event_public_key" in w for w in startup_warnings(cfg, secrets(key=None)))
    assert any("NEWSLETTER_SECRET_KEY" in w for w in startup_warnings(cfg, secrets(key=None)))


def test_invalid_public_key_configured(tmp_path: Path) -> None:
    cfg = project(tmp_path, public_key="bm90IGEga2V5")
    client = TestClient(create_app(cfg, secrets(), engine=sa.create_engine("sqlite://")))
    res = client.post(URL, content=b"[]", headers={"X-Twilio-Email-Event-Webhook-Signature": "x"})
    assert res.status_code == 503 and "not a valid key" in res.text
    assert any("not a valid key" in w for w in startup_warnings(cfg, secrets()))


def test_pem_formatted_key_is_accepted(tmp_path: Path, keys: KeyPair) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\n" + keys.public_b64 + "\n-----END PUBLIC KEY-----\n"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    tables.metadata.create_all(engine)
    client = TestClient(create_app(project(tmp_path, public_key=pem), secrets(), engine=engine))
    body = events_json({"email": "q@example.com", "event": "processed", "sg_event_id": "p"})
    assert client.post(URL, content=body, headers=keys.headers(body)).status_code == 200

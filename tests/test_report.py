"""The engagement report from realistically signed SendGrid batches: every figure checked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from report_support import (
    ALSO_URL,
    GUIDE_URL,
    ISSUE,
    STORY2_URL,
    STORY_URL,
    T,
    ev,
    history,
    setup_project,
)
from web_support import KeyPair, db, events_json, secrets

from newsletter.archive import Archive
from newsletter.reporting import build_report, recent_alerts
from newsletter.store import tables
from newsletter.web import create_app

__all__ = ["db"]
URL = "/webhooks/sendgrid"


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return KeyPair.generate()


def _post(client: TestClient, keys: KeyPair, events: list[dict[str, object]]) -> dict[str, int]:
    body = events_json(*events)
    res = client.post(URL, content=body, headers=keys.headers(body))
    assert res.status_code == 200, res.text
    result: dict[str, int] = res.json()
    return result


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_figure_of_the_report(tmp_path: Path, db: sa.Engine, keys: KeyPair) -> None:
    cfg, _ = setup_project(tmp_path, keys, db)
    client = TestClient(create_app(cfg, secrets(), engine=db))
    events = history()
    first = _post(client, keys, events[:20])
    second = _post(client, keys, events[20:])
    assert first["new"] + second["new"] == len(events)
    # SendGrid retries the whole history: nothing counts twice.
    again = _post(client, keys, events)
    assert again == {"received": len(events), "new": 0, "duplicate": len(events), "ignored": 0}
    # A forged batch (someone else's key) is refused and changes nothing.
    forged = KeyPair.generate()
    body = events_json(ev(0, "spamreport", T + 9999), ev(1, "click", T + 999, url=STORY_URL))
    before = _count(db, tables.engagement)
    assert client.post(URL, content=body, headers=forged.headers(body)).status_code == 403
    assert _count(db, tables.engagement) == before

    plan = Archive(cfg.archive_dir).load_plan(ISSUE)
    with db.connect() as conn:
        r = build_report(conn, cfg, plan)
    assert (r.audience, r.sent, r.delivered, r.deferred, r.dropped) == (10, 10, 8, 1, 1)
    assert r.bounced.model_dump() == {"hard": 1, "soft": 0, "blocked": 1, "total": 2}
    assert r.complained == 1 and r.complaint_rate == pytest.approx(1 / 8)
    assert r.bounce_rate == pytest.approx(2 / 10)
    assert r.unsubscribed == 1 and r.unsubscribe_rate == pytest.approx(1 / 8)
    assert r.resubscribed == 1
    assert r.opens.model_dump() == {
        "unique_human": 2,
        "unique_machine": 2,
        "total": 5,
        "rate": pytest.approx(2 / 8),
        "rate_uses": "unique_human / delivered",
    }
    c = r.clicks
    assert (c.unique_clickers, c.total) == (4, 5)
    # s4 (canary + story), s5 (3 s after delivery), s6 (four links in three seconds)
    assert (c.suspected_bots, c.suspected_bot_clickers) == (7, 3)
    assert c.rate == pytest.approx(4 / 8)
    links = {
        (link.kind, link.item_id or link.slug): (link.unique, link.total) for link in c.by_link
    }
    assert links == {
        ("story", "story-1"): (1, 2),
        ("guide", "ai-agents"): (1, 1),
        ("also", "story-1"): (1, 1),
        ("other", None): (1, 1),
    }
    by_url = {link.url: link for link in c.by_link}
    assert by_url[GUIDE_URL].label == "AI agents, explained"
    assert by_url[ALSO_URL].label.startswith("Other")
    assert STORY2_URL not in by_url  # only a bot clicked it
    # first clicks per hour: s0 story (twice, counted once), s1 guide, s2 also; s3 at hour 2
    assert c.timeline[0] == 3 and c.timeline[2] == 1 and sum(c.timeline) == 4
    assert [(s.key, s.unique) for s in r.stories] == [("story-1", 2), ("story-2", 0)]
    assert [(g.key, g.unique) for g in r.guides] == [("ai-agents", 1)]
    # The webhook raised both alerts once and mailed them to the editors (outbox provider).
    alerts = {a.kind: a for a in recent_alerts(db)}
    assert set(alerts) == {"complaints", "bounces"}
    assert alerts["complaints"].mailed_at is not None
    mailed = list((tmp_path / "outbox").rglob("*.eml"))
    assert len(mailed) == 2
    assert any(b"complaint rate 12.50%" in p.read_bytes() for p in mailed)


def test_bad_events_are_skipped_and_the_rest_applied(
    tmp_path: Path, db: sa.Engine, keys: KeyPair
) -> None:
    cfg, _ = setup_project(tmp_path, keys, db)
    client = TestClient(create_app(cfg, secrets(), engine=db))
    good = [ev(0, "delivered", T), ev(1, "delivered", T)]
    nested = "[" * 5000 + '"x"' + "]" * 5000  # past Python's recursion limit
    parts = [json.dumps(good[0])]
    parts.append('{"event":"click","email":"s2@example.com","url":"\\ud800","sg_event_id":"bad1"}')
    parts.append(
        '{"event":"click","email":"s3@example.com","url":"a\\u0000b","sg_event_id":"bad2"}'
    )
    parts.append('{"event": "open", "email": "s4@example.com", "deep": ' + nested + "}")
    parts.append(json.dumps(good[1]))
    parts.append("17")
    body = ("[" + ",".join(parts) + "]").encode()
    res = client.post(URL, content=body, headers=keys.headers(body))
    assert res.status_code == 200, res.text
    assert res.json() == {"received": 2, "new": 2, "duplicate": 0, "ignored": 4}
    with db.connect() as conn:
        kinds = conn.execute(sa.select(tables.engagement.c.email)).scalars().all()
    assert sorted(kinds) == ["s0@example.com", "s1@example.com"]


def test_oversized_body_is_refused_without_buffering(
    tmp_path: Path, db: sa.Engine, keys: KeyPair
) -> None:
    """A 300 MB POST without Content-Length is cut off at the cap, straight on the ASGI app."""
    cfg, _ = setup_project(tmp_path, keys, db)
    app = create_app(cfg, secrets(), engine=db)
    headers = [(k.lower().encode(), v.encode()) for k, v in keys.headers(b"[]").items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": URL, "raw_path": URL.encode(), "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "root_path": "",
    }  # fmt: skip
    chunk = b" " * (1024 * 1024)
    read = 0
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < 300}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert read <= 11  # stopped right after the 10 MB cap, never buffering 300 MB
    client = TestClient(app)
    big = {**keys.headers(b"[]"), "Content-Length": "300000000"}
    assert client.post(URL, content=b"[]", headers=big).status_code in (400, 413)


def test_overview_counts_confirmations_and_shows_consents(db: sa.Engine) -> None:
    """A confirmed signup is counted in its week and its consent records are on the person."""
    from datetime import UTC, datetime

    from newsletter.reporting.subscribers import overview, person
    from newsletter.store.tables import consents, subscribers

    engine = db
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    with engine.begin() as conn:
        sid = conn.execute(
            sa.insert(subscribers).values(
                email="ada@example.com", name="Ada", status="active", created_at=now, updated_at=now
            )
        ).inserted_primary_key[0]
        for action in ("signup", "confirm"):
            conn.execute(
                sa.insert(consents).values(
                    email="ada@example.com",
                    subscriber_id=sid,
                    at=now,
                    action=action,
                    source="form",
                    method="double-opt-in",
                    text_version="2026-12-01",
                )
            )
    with engine.connect() as conn:
        weeks = overview(conn, now=now).weeks
        assert weeks[-1].signups == 1 and weeks[-1].confirmations == 1
        record = person(conn, sid)
    assert record is not None
    assert [c["action"] for c in record.consents] == ["signup", "confirm"]

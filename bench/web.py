"""Web app timings: event webhook batches, one-click unsubscribe, the editor's issue page.

Run with ``python -m bench web``. In-process through Starlette's TestClient (no network), on
SQLite and, when reachable, PostgreSQL (a throw-away schema of the ``test`` database).
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from newsletter.archive import Archive, dump_json
from newsletter.config import Secrets, load_config
from newsletter.models import IssuePlan, NewsItem, Story, Window
from newsletter.personalization import sign_token
from newsletter.store import tables
from newsletter.web import create_app

RESULTS = Path(__file__).resolve().parent / "results"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KEY = "bench-secret-key"
BATCH = 1000
SUBSCRIBERS = 2000


@contextmanager
def _engine(kind: str, folder: Path) -> Iterator[sa.Engine | None]:
    if kind == "sqlite":
        engine = sa.create_engine(
            f"sqlite:///{folder / 'bench.db'}", connect_args={"check_same_thread": False}
        )
        tables.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError:
        yield None
        return
    engine = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    tables.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _seed(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "email": f"user{i}@example.com",
            "name": None,
            "status": "active",
            "wants_midweek": True,
            "wants_sunday": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(1, SUBSCRIBERS + 1)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.subscribers), rows)


def _plan() -> IssuePlan:
    slot = datetime(2026, 11, 22, 8, tzinfo=UTC)
    item = NewsItem(
        id="story",
        title="Story",
        url="https://example.com/s",
        source="Example",
        published_at=slot - timedelta(days=1),
        score=8,
        summary="Summary.",
    )
    return IssuePlan(
        id="2026-11-22-sunday",
        edition="sunday",
        slot=slot,
        window=Window(start=slot - timedelta(days=7), end=slot),
        subject="Subject",
        preheader="Preheader",
        stories=[Story(item=item)] * 10,
    )


def _timed(fn: Callable[[], Any], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def run_one(kind: str) -> list[dict[str, Any]] | None:
    with tempfile.TemporaryDirectory() as tmp, _engine(kind, Path(tmp)) as engine:
        if engine is None:
            return None
        folder = Path(tmp)
        private = ec.generate_private_key(ec.SECP256R1())
        public = base64.b64encode(
            private.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()
        (folder / "config.yaml").write_text(
            json.dumps(
                {
                    "archive": {"dir": str(folder / "issues")},
                    "delivery": {"sendgrid": {"event_public_key": public}},
                }
            )
        )
        cfg = load_config(folder / "config.yaml", env={})
        archive = Archive(cfg.archive_dir)
        archive.save_plan(_plan())
        archive.write_text(
            "2026-11-22-sunday", "email.html", "<html><head></head><body>x</body></html>"
        )
        archive.write_text("2026-11-22-sunday", "checks.json", dump_json([]))
        _seed(engine)
        secrets = Secrets.from_env({"NEWSLETTER_SECRET_KEY": KEY})
        client = TestClient(create_app(cfg, secrets, engine=engine), base_url="http://127.0.0.1")

        kinds = ["processed", "delivered", "open", "bounce", "click"]
        events = [
            {
                "email": f"user{i % SUBSCRIBERS + 1}@example.com",
                "event": kinds[i % len(kinds)],
                "sg_event_id": f"ev-{i}",
                "issue_id": "2026-11-22-sunday",
                "timestamp": 1764000000 + i,
            }
            for i in range(BATCH)
        ]
        body = json.dumps(events).encode()

        def post() -> None:
            stamp = str(int(time.time()))
            sig = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            res = client.post(
                "/webhooks/sendgrid",
                content=body,
                headers={
                    "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
                    "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                },
            )
            assert res.status_code == 200, res.text

        first = _timed(post, 1)
        replay = _timed(post, 3)
        ids = iter(range(1, SUBSCRIBERS + 1))

        def unsubscribe() -> None:
            sid = next(ids)
            t = sign_token(KEY.encode(), sid, f"user{sid}@example.com")
            assert (
                client.post(
                    f"/unsubscribe?t={t}", data={"List-Unsubscribe": "One-Click"}
                ).status_code
                == 200
            )

        unsub = _timed(unsubscribe, 200)
        page = _timed(lambda: client.get("/issues/2026-11-22-sunday/edit"), 50)
        return [
            {
                "db": kind,
                "what": f"webhook, {BATCH} new events",
                "ms": first * 1000,
                "per_s": BATCH / first,
            },
            {
                "db": kind,
                "what": f"webhook, {BATCH} replayed events",
                "ms": replay * 1000,
                "per_s": BATCH / replay,
            },
            {
                "db": kind,
                "what": "one-click unsubscribe POST",
                "ms": unsub * 1000,
                "per_s": 1 / unsub,
            },
            {"db": kind, "what": "editor issue page GET", "ms": page * 1000, "per_s": 1 / page},
        ]


def main() -> None:
    rows: list[dict[str, Any]] = []
    for kind in ("sqlite", "postgresql"):
        got = run_one(kind)
        if got is None:
            print(f"bench web: {kind} not reachable, skipped")
            continue
        rows.extend(got)
    lines = ["| database | what | ms per call | per second |", "|---|---|---:|---:|"]
    lines += [f"| {r['db']} | {r['what']} | {r['ms']:.1f} | {r['per_s']:,.0f} |" for r in rows]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web.md").write_text("# Web app\n\n" + table + "\n", encoding="utf-8")
    (RESULTS / "web.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

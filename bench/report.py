"""Report timings: signed 1,000-event webhook batches, and the report of a very large issue.

Run with ``python -m bench report``. Ingest goes through the real app (signature check,
per-event validation, dedupe, engagement rows) on SQLite and, when reachable, PostgreSQL.
The large report builds an issue with ``BENCH_REPORT_RECIPIENTS`` recipients (default 1M)
and about three events per recipient (3M) with bulk SQL, then times ``build_report`` and the
``newsletter report --json`` command. Targets: >= 5,000 events/s ingest, report < 2 s.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings, load_config
from newsletter.models import GuideCard, GuideRef, IssuePlan, NewsItem, Story, Window
from newsletter.reporting import build_report
from newsletter.store import tables
from newsletter.store.db import create_engine_for, upgrade
from newsletter.web import create_app

RESULTS = Path(__file__).resolve().parent / "results"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ISSUE = "2026-11-22-sunday"
SLOT = datetime(2026, 11, 22, 8, tzinfo=UTC)
BATCH = 1000
BATCHES = int(os.environ.get("BENCH_REPORT_BATCHES", "20"))
RUNS = 3
SUBSCRIBERS = 5000
RECIPIENTS = int(os.environ.get("BENCH_REPORT_RECIPIENTS", "1000000"))
STORIES = 10


@contextmanager
def _engine(kind: str, folder: Path) -> Iterator[sa.Engine | None]:
    if kind == "sqlite":
        engine = create_engine_for(f"sqlite:///{folder / 'bench.db'}")
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
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = create_engine_for(url)
    tables.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _plan() -> IssuePlan:
    stories = []
    for k in range(STORIES):
        guide = None
        if k % 3 == 0:
            guide = GuideRef(
                slug=f"guide-{k}", title=f"Guide {k}", url=f"https://almanac.example/g/{k}",
                reason="shares topics",
            )  # fmt: skip
        item = NewsItem(
            id=f"story-{k}", title=f"Story {k}", url=f"https://news.example/story-{k}",
            source="News", published_at=SLOT - timedelta(days=1), score=8, summary="s",
        )  # fmt: skip
        stories.append(Story(item=item, guide=guide))
    cards = [
        GuideCard(slug=s.guide.slug, title=s.guide.title, url=s.guide.url, level="Beginner")
        for s in stories
        if s.guide
    ]
    return IssuePlan(
        id=ISSUE, edition="sunday", slot=SLOT,
        window=Window(start=SLOT - timedelta(days=7), end=SLOT), subject="Bench",
        preheader="Bench issue with ten stories and a few guides", status="sent",
        stories=stories, guides=cards,
    )  # fmt: skip


def _config(folder: Path, public: str, url: str) -> Settings:
    (folder / "config.yaml").write_text(
        json.dumps(
            {
                "archive": {"dir": str(folder / "issues")},
                "storage": {"url": url},
                "delivery": {"sendgrid": {"event_public_key": public}},
            }
        )
    )
    cfg = load_config(folder / "config.yaml", env={})
    Archive(cfg.archive_dir).save_plan(_plan())
    return cfg


def _keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def _batches(count: int = BATCHES, first: int = 0) -> list[bytes]:
    """``count`` batches of 1,000 events, ids from ``first * 1000`` (every run new events)."""
    kinds = ["processed", "delivered", "delivered", "open", "open", "click", "click", "deferred"]
    out = []
    n = first * BATCH
    for _ in range(count):
        events: list[dict[str, Any]] = []
        for _ in range(BATCH):
            kind = kinds[n % len(kinds)]
            event: dict[str, Any] = {
                "email": f"user{n % SUBSCRIBERS + 1}@example.com",
                "event": kind,
                "sg_event_id": f"ev-{n}",
                "sg_message_id": f"m{n % SUBSCRIBERS}.filter0001.1.0",
                "issue_id": ISSUE,
                "timestamp": int(SLOT.timestamp()) + n,
                "category": ["sunday"],
            }
            if kind == "open":
                event["sg_machine_open"] = n % 3 == 0
            if kind == "click":
                event["url"] = f"https://news.example/story-{n % STORIES}?utm_source=almanac"
            events.append(event)
            n += 1
        out.append(json.dumps(events, separators=(",", ":")).encode())
    return out


def ingest(kind: str) -> dict[str, Any] | None:
    """Events per second through the signed webhook, 1,000 events per POST."""
    with tempfile.TemporaryDirectory() as tmp, _engine(kind, Path(tmp)) as engine:
        if engine is None:
            return None
        private, public = _keys()
        cfg = _config(Path(tmp), public, str(engine.url))
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(tables.subscribers),
                [
                    {
                        "email": f"user{i}@example.com",
                        "name": None,
                        "wants_midweek": True,
                        "wants_sunday": True,
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(1, SUBSCRIBERS + 1)
                ],
            )
            # The ledger of the issue: processed/delivered events confirm its rows.
            conn.execute(
                sa.insert(tables.issues).values(
                    id=ISSUE, edition="sunday", slot=SLOT, status="sent", created_at=now,
                    updated_at=now,
                )
            )  # fmt: skip
            conn.execute(
                sa.insert(tables.sends),
                [
                    {"issue_id": ISSUE, "subscriber_id": i, "email": f"user{i}@example.com",
                     "status": "sent", "attempts": 1, "created_at": now, "updated_at": now}
                    for i in range(1, SUBSCRIBERS + 1)
                ],
            )  # fmt: skip
        client = TestClient(create_app(cfg, Secrets.from_env({}), engine=engine))

        def post(body: bytes) -> None:
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
            assert res.status_code == 200 and res.json()["new"] == BATCH, res.text

        post(_batches(1, first=10_000)[0])  # warm-up: connections, statement caches
        runs = []
        for run in range(RUNS):
            bodies = _batches(BATCHES, first=run * BATCHES)
            start = time.perf_counter()
            for body in bodies:
                post(body)
            runs.append(time.perf_counter() - start)
        total = BATCH * BATCHES
        runs.sort()
        return {
            "db": kind,
            "events": total,
            "runs": len(runs),
            "s_median": round(runs[len(runs) // 2], 3),
            "per_s_median": round(total / runs[len(runs) // 2]),
            "per_s_best": round(total / runs[0]),
            "per_s_worst": round(total / runs[-1]),
        }


def _generate_sqlite(engine: sa.Engine, n: int) -> float:
    """Bulk-insert an issue's ledger, ~3 events per recipient, and the summaries ingest keeps.

    Recipient ``i`` has a deterministic history (so the summaries can be written directly,
    without sorting 3M rows): processed if i <= 0.8 n; delivered, or bounced for the last
    1.5 %; a human open for i % 10 < 4 (twice if i % 20 == 0), a machine open for
    4 <= i % 10 < 7; 1 to 3 clicks on distinct stories if i % 5 == 0 (200k clickers), a
    scanner's first click 3 s after delivery if i % 1000 == 5; a complaint if
    i % 2000 == 7, an unsubscribe if i % 500 == 3.
    """
    t = int(SLOT.timestamp())
    start = time.perf_counter()
    d = n - n * 15 // 1000
    seq = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
    email = "'u' || i || '@example.com'"
    deliv_ts = f"{t} + i % 900"
    first = f"(CASE WHEN i % 1000 = 5 THEN {deliv_ts} + 3 ELSE {t} + 600 + i % 250000 END)"
    nclicks = f"(CASE WHEN i % 5 = 0 AND i <= {d} THEN 1 + i % 3 ELSE 0 END)"
    plain = sa.create_engine(engine.url)  # no foreign-key pragma: the bulk rows skip subscribers
    with plain.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size = -400000")
        conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
        for index in ("ix_engagement_issue_kind", "ix_engagement_email"):
            conn.exec_driver_sql(f"DROP INDEX {index}")
        conn.exec_driver_sql(
            "INSERT INTO issues (id, edition, slot, status, created_at, updated_at) "
            f"VALUES ('{ISSUE}', 'sunday', '2026-11-22 08:00:00', 'sent', "
            "'2026-11-22 08:00:00', '2026-11-22 08:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO sends (issue_id, subscriber_id, email, status, attempts, created_at, "
            f"updated_at) {seq} SELECT '{ISSUE}', i, {email}, 'sent', 1, "
            "'2026-11-22 08:00:00', '2026-11-22 08:00:00' FROM n"
        )
        ins = (
            "INSERT INTO engagement (issue_id, email, subscriber_id, kind, detail, machine, "
            f"flag, url, ts, source) {seq} "
        )
        rows = f"'{ISSUE}', {email}, i"
        conn.exec_driver_sql(
            ins + f"SELECT {rows}, 'processed', NULL, 0, NULL, NULL, {t}, 'sendgrid' "
            f"FROM n WHERE i <= {n * 86 // 100}"
        )
        conn.exec_driver_sql(
            ins + f"SELECT {rows}, CASE WHEN i <= {d} THEN 'delivered' ELSE 'bounce' END, "
            f"CASE WHEN i <= {d} THEN NULL WHEN i % 5 = 0 THEN 'blocked' ELSE 'hard' END, "
            f"0, NULL, NULL, {deliv_ts}, 'sendgrid' FROM n"
        )
        conn.exec_driver_sql(
            ins + f"SELECT {rows}, 'open', NULL, i % 10 >= 4, NULL, NULL, {t} + 120 + i % 90000, "
            f"'sendgrid' FROM n WHERE i <= {d} AND i % 10 < 7"
        )
        conn.exec_driver_sql(
            ins + f"SELECT {rows}, 'open', NULL, 0, NULL, NULL, {t} + 7200 + i % 90000, "
            f"'sendgrid' FROM n WHERE i <= {d} AND i % 20 = 0"
        )
        for j in range(3):
            conn.exec_driver_sql(
                ins + f"SELECT {rows}, 'click', NULL, 0, NULL, 'https://news.example/story-' "
                f"|| ((i + {j}) % {STORIES}), {first} + {60 * j}, 'sendgrid' FROM n "
                f"WHERE {nclicks} > {j}"
            )
        conn.exec_driver_sql(
            ins + f"SELECT {rows}, CASE WHEN i % 2000 = 7 THEN 'spamreport' ELSE 'unsubscribe' "
            f"END, NULL, 0, NULL, NULL, {t} + 9000, 'sendgrid' FROM n "
            f"WHERE i <= {d} AND (i % 2000 = 7 OR i % 500 = 3)"
        )
        conn.exec_driver_sql("CREATE INDEX ix_engagement_issue_kind ON engagement (issue_id, kind)")
        conn.exec_driver_sql("CREATE INDEX ix_engagement_email ON engagement (email)")
        # The summaries ingest keeps (store/engagement.py), for the same histories.
        conn.exec_driver_sql(
            "INSERT INTO engagement_people (issue_id, email, processed, delivered, deferred, "
            "bounce_hard, bounce_soft, bounce_blocked, dropped, spamreport, unsubscribe, "
            "resubscribe, open_human, open_machine, clicks, delivered_ts, first_click, "
            f"last_click, bot_sign) {seq} SELECT '{ISSUE}', {email}, i <= {n * 86 // 100}, "
            f"i <= {d}, 0, i > {d} AND i % 5 != 0, 0, i > {d} AND i % 5 = 0, 0, "
            f"i <= {d} AND i % 2000 = 7, i <= {d} AND i % 500 = 3 AND i % 2000 != 7, 0, "
            f"CASE WHEN i > {d} THEN 0 ELSE (i % 10 < 4) + (i % 20 = 0) END, "
            f"i <= {d} AND i % 10 >= 4 AND i % 10 < 7, {nclicks}, "
            f"CASE WHEN i <= {d} THEN {deliv_ts} END, "
            f"CASE WHEN {nclicks} > 0 THEN {first} END, "
            f"CASE WHEN {nclicks} > 0 THEN {first} + 60 * ({nclicks} - 1) END, 0 FROM n"
        )
        for j in range(3):
            conn.exec_driver_sql(
                f"INSERT INTO click_links (issue_id, email, url, clicks, first_ts) {seq} "
                f"SELECT '{ISSUE}', {email}, 'https://news.example/story-' || "
                f"((i + {j}) % {STORIES}), 1, {first} + {60 * j} FROM n WHERE {nclicks} > {j}"
            )
        sums = ", ".join(
            f"SUM({c} > 0), SUM({c})"
            for c in (
                "processed", "delivered", "deferred", "bounce_hard", "bounce_soft",
                "bounce_blocked", "dropped", "spamreport", "unsubscribe", "resubscribe",
                "open_human", "open_machine", "clicks",
            )
        )  # fmt: skip
        row = conn.exec_driver_sql(
            f"SELECT {sums}, SUM(bounce_hard + bounce_soft + bounce_blocked > 0) "
            f"FROM engagement_people WHERE issue_id = '{ISSUE}'"
        ).one()
        names = [
            f"{c}{suffix}"
            for c in (
                "processed", "delivered", "deferred", "bounce_hard", "bounce_soft",
                "bounce_blocked", "dropped", "spamreport", "unsubscribe", "resubscribe",
                "open_human", "open_machine", "clicks",
            )
            for suffix in ("", "_n")
        ] + ["bounced"]  # fmt: skip
        conn.execute(
            sa.insert(tables.issue_counts),
            [
                {"issue_id": ISSUE, "name": k, "value": int(v or 0)}
                for k, v in zip(names, row, strict=True)
            ],
        )
        conn.exec_driver_sql("ANALYZE")
    plain.dispose()
    return time.perf_counter() - start


def check_generator(n: int = 3000) -> bool:
    """The bulk-written summaries equal what ingest makes of the same engagement rows."""
    from newsletter.store.engagement import insert_engagement

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bulk = create_engine_for(f"sqlite:///{folder / 'bulk.db'}")
        upgrade(bulk)
        _, public = _keys()
        cfg = _config(folder, public, str(bulk.url))
        _generate_sqlite(bulk, n)
        again = create_engine_for(f"sqlite:///{folder / 'ingest.db'}")
        upgrade(again)
        cols = [c.name for c in tables.engagement.c if c.name != "id"]
        with bulk.connect() as src, again.begin() as dst:
            rows = [dict(r._mapping) for r in src.execute(sa.select(*tables.engagement.c[*cols]))]
            insert_engagement(dst, rows)
        with bulk.connect() as a, again.connect() as b:
            # The ledger is the same by construction: compare what the events make.
            skip = {"audience", "sent", "bounce_rate"}
            ra = build_report(a, cfg, _plan(), now=SLOT).model_dump(exclude=skip)
            rb = build_report(b, cfg, _plan(), now=SLOT).model_dump(exclude=skip)
        bulk.dispose()
        again.dispose()
        if ra != rb:
            diff = {k: (ra[k], rb[k]) for k in ra if ra[k] != rb[k]}
            print(f"generator check failed: {str(diff)[:800]}", file=sys.stderr)
        return bool(ra == rb)


def large_report() -> dict[str, Any]:
    """``build_report`` and ``newsletter report --json`` on a RECIPIENTS-recipient issue."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = create_engine_for(f"sqlite:///{folder / 'report.db'}")
        upgrade(engine)  # the migrated schema, as ``newsletter report`` expects it
        _, public = _keys()
        cfg = _config(folder, public, str(engine.url))
        generated = _generate_sqlite(engine, RECIPIENTS)
        with engine.connect() as conn:
            events = conn.execute(sa.text("SELECT count(*) FROM engagement")).scalar_one()
        times = []
        report = None
        for _ in range(3):
            start = time.perf_counter()
            with engine.connect() as conn:
                report = build_report(conn, cfg, _plan())
            times.append(time.perf_counter() - start)
        assert report is not None
        cli = _cli(folder)
        engine.dispose()
        return {
            "recipients": RECIPIENTS,
            "events": int(events),
            "generate_s": round(generated, 1),
            "build_report_s": round(min(times), 3),
            "cli_s": cli,
            "delivered": report.delivered,
            "unique_clickers": report.clicks.unique_clickers,
            "suspected_bot_clickers": report.clicks.suspected_bot_clickers,
        }


def _cli(folder: Path, runs: int = 3) -> list[float] | None:
    """Wall times of ``newsletter report <id> --json`` in fresh processes (start-up included)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "newsletter",
                "--config",
                str(folder / "config.yaml"),
                "report",
                ISSUE,
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(round(time.perf_counter() - start, 3))
        if res.returncode != 0:
            print(f"newsletter report failed: {res.stderr.strip()[:300]}", file=sys.stderr)
            return None
    return sorted(times)


def main() -> None:
    load_before = os.getloadavg()
    consistent = check_generator()
    print(f"generator check (bulk summaries == ingest summaries): {consistent}")
    rows = [r for kind in ("sqlite", "postgres") if (r := ingest(kind)) is not None]
    for r in rows:
        print(
            f"ingest {r['db']}: {r['events']} events x {r['runs']} runs: median "
            f"{r['per_s_median']}/s (best {r['per_s_best']}, worst {r['per_s_worst']})"
        )
    big = large_report()
    print(f"report: {big}")
    RESULTS.mkdir(exist_ok=True)
    data = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "ingest": rows,
        "report": big,
        "generator_consistent": consistent,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "targets": {"ingest_per_s": 5000, "report_s": 2.0},
    }
    (RESULTS / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# Report benchmarks",
        "",
        f"`python -m bench report` on {platform.platform()}, Python {platform.python_version()}; "
        "2 cores shared with other jobs (1-minute load average "
        f"{data['load_average_before_after'][0]} before, {data['load_average_before_after'][1]} "
        "after).",
        "",
        f"Generator check (the bulk-written summaries equal what ingest makes of the same events): "
        f"{'passed' if consistent else 'FAILED'}.",
        "",
        "## Ingest: signed webhook batches of 1,000 events (target >= 5,000 events/s)",
        "",
        "Each run posts 20 new batches after a warm-up batch; three runs per database.",
        "",
        "| db | events per run | median s | median events/s | best | worst |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r['db']} | {r['events']} | {r['s_median']} | {r['per_s_median']} | "
            f"{r['per_s_best']} | {r['per_s_worst']} |"
            for r in rows
        ],
        "",
        f"## Report of one issue: {big['recipients']:,} recipients, {big['events']:,} events "
        "(SQLite; target < 2 s)",
        "",
        f"- data generation (bulk SQL, indexes built after): {big['generate_s']} s",
        f"- `build_report` (best of 3): {big['build_report_s']} s",
        f"- `newsletter report --json` in a fresh process (start-up, config, plan, query, JSON), "
        f"three runs: {big['cli_s']} s",
        f"- delivered {big['delivered']:,}, unique clickers {big['unique_clickers']:,}, "
        f"suspected bot clickers {big['suspected_bot_clickers']:,}",
        "",
    ]
    (RESULTS / "report.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()

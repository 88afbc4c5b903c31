"""Delivery you can trust, measured: a real 30 s outage, a resend after reconciliation, a CSV
with a bad byte. ``python -m bench delivery_trust`` (about a minute).

1. ``outage``: 20,000 recipients in batches of 1000 on 4 threads through the real SendGrid
   provider to the SendGrid stand-in (``tests/fakes``), which answers 503 to everything for
   the first 30 s. Default retry settings (``max_attempts`` 6, ``retry_window`` 30 min).
   Counted: delivered once, duplicates, deferred/failed, and how long the send took.
2. ``resend``: 10,000 recipients; 4 batches of 1000 end ``uncertain`` although the provider
   accepted them (the answer was lost); ``processed`` events arrive for 70 % of those through
   the webhook's store function, and ``--resend-uncertain`` runs (``reconcile_after`` 2 s).
   Counted: reconciled, resent, second copies.
3. ``import``: a 10,001-row CSV with one invalid UTF-8 byte in the middle. Counted: rows kept.

Results: bench/results/delivery_trust.md and delivery_trust.json.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ISSUE_ID = "2026-11-22-sunday"


def _config(folder: Path, **delivery: Any) -> Path:
    import yaml

    base = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    base["storage"]["url"] = f"sqlite:///{folder / 'trust.db'}"
    base["archive"]["dir"] = str(folder / "issues")
    base["delivery"].update(delivery)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path


def _seed(engine: Any, n: int) -> list[str]:
    from sqlalchemy import insert

    from newsletter.store.tables import subscribers

    now = datetime.now(UTC)
    rows = [
        {
            "email": f"reader{i}@example.org",
            "name": f"Reader {i}",
            "wants_midweek": True,
            "wants_sunday": True,
            "status": "active",
            "source": "bench",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(subscribers), rows)
    return [str(r["email"]) for r in rows]


def _issue(cfg: Any) -> None:
    from newsletter.archive import Archive
    from newsletter.models import IssuePlan, Window

    slot = datetime(2026, 11, 22, 8, tzinfo=UTC)
    archive = Archive(cfg.archive_dir)
    archive.save_plan(
        IssuePlan(
            id=ISSUE_ID,
            edition="sunday",
            slot=slot,
            window=Window(start=datetime(2026, 11, 18, tzinfo=UTC), end=slot),
            subject="The week in AI",
            preheader="Bench",
            status="approved",
        )
    )
    archive.write_text(
        ISSUE_ID, "email.html", '<p>Hi %first_name%</p><a href="%unsubscribe_url%">x</a>'
    )
    archive.write_text(ISSUE_ID, "email.txt", "Hi %first_name%\n%unsubscribe_url%\n")


def outage(folder: Path, n: int = 20_000, down_s: float = 30.0) -> dict[str, Any]:
    from newsletter.config import Secrets, load_config
    from newsletter.delivery.dispatcher import send_issue
    from newsletter.store.db import open_store
    from tests.fakes.sendgrid_server import FakeSendGrid

    with FakeSendGrid(validate=False) as server:
        cfg = load_config(
            _config(
                folder,
                provider="sendgrid",
                batch_size=1000,
                concurrency=4,
                sendgrid={"host": server.url, "sandbox_mode": False, "timeout": 10},
            )
        )
        engine = open_store(cfg)
        audience = _seed(engine, n)
        engine.dispose()
        _issue(cfg)
        server.outage(down_s, 503)
        secrets = Secrets(sendgrid_api_key=server.api_key, secret_key="bench-key")  # type: ignore[arg-type]
        started = time.perf_counter()
        report = send_issue(cfg, secrets, ISSUE_ID, log=lambda m: None)
        elapsed = time.perf_counter() - started
        copies = Counter(server.recipients())
    return {
        "recipients": n,
        "outage_s": down_s,
        "delivered_once": sum(1 for e in audience if copies[e] == 1),
        "duplicates": sum(1 for n_ in copies.values() if n_ > 1),
        "missing": sum(1 for e in audience if copies[e] == 0),
        "status": report.status,
        "deferred": report.deferred,
        "failed": report.failed,
        "send_s": round(elapsed, 1),
    }


def resend(folder: Path, n: int = 10_000, confirmed_share: float = 0.7) -> dict[str, Any]:
    from newsletter.config import Secrets, load_config
    from newsletter.delivery.base import ProviderUncertainError
    from newsletter.delivery.dispatcher import send_issue
    from newsletter.store import ledger
    from newsletter.store.db import open_store
    from newsletter.store.events import apply_provider_events
    from tests.store_fixtures import FakeProvider

    cfg = load_config(_config(folder, batch_size=1000, concurrency=1, reconcile_after="2s"))
    engine = open_store(cfg)
    _seed(engine, n)
    _issue(cfg)
    lost = ProviderUncertainError("no answer after the request was sent")
    provider = FakeProvider([None, lost, None, lost, lost, None, lost])
    secrets = Secrets(secret_key="bench-key")  # type: ignore[arg-type]
    first = send_issue(cfg, secrets, ISSUE_ID, provider=provider, engine=engine, log=lambda m: None)
    uncertain = ledger.emails_with_status(engine, ISSUE_ID, "uncertain")
    confirmed = uncertain[: int(len(uncertain) * confirmed_share)]
    stamp = int(time.time())
    events = [
        {
            "event": "processed",
            "email": e,
            "issue_id": ISSUE_ID,
            "sg_event_id": f"b{i}",
            "timestamp": stamp,
        }
        for i, e in enumerate(confirmed)
    ]
    # The events land after the crash was recovered, as SendGrid's do (seconds to minutes).
    with engine.begin() as conn:
        apply_provider_events(conn, events)
    before = len(provider.delivered)
    again = send_issue(
        cfg,
        secrets,
        ISSUE_ID,
        provider=provider,
        engine=engine,
        resend_uncertain=True,
        log=lambda m: None,
    )
    copies = Counter(r.email for r in provider.delivered)
    engine.dispose()
    return {
        "recipients": n,
        "uncertain_after_crash": first.uncertain,
        "confirmed_by_events": len(confirmed),
        "resent": len(provider.delivered) - before,
        "second_copies": sum(1 for c in copies.values() if c > 1),
        "second_copies_of_confirmed": sum(1 for e in confirmed if copies[e] > 1),
        "final_status": again.status,
        "final_sent": again.sent,
    }


def csv_import(folder: Path, n: int = 10_001) -> dict[str, Any]:
    from newsletter.config import load_config
    from newsletter.store.db import open_store
    from newsletter.store.importer import import_csv

    rows = [f"reader{i}@example.org,Reader {i},sunday\n".encode() for i in range(n)]
    rows[n // 2] = b"bad\xffbyte@example.org,Broken,sunday\n"
    path = folder / "big.csv"
    path.write_bytes(b"email,name,editions\n" + b"".join(rows))
    cfg = load_config(_config(folder))
    cfg.storage.url = f"sqlite:///{folder / 'import.db'}"
    engine = open_store(cfg)
    report = import_csv(engine, path)
    engine.dispose()
    return {
        "rows": n,
        "good_rows": n - 1,
        "kept": report.added,
        "problems": [x.replace(str(folder) + "/", "") for x in report.problems],
    }


def main() -> None:
    """Run the three scenarios and write bench/results/delivery_trust.md and .json."""
    sys.path.insert(0, str(ROOT))
    results: dict[str, Any] = {
        "meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
    }
    for name, fn in (("outage", outage), ("resend", resend), ("import", csv_import)):
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = fn(Path(tmp))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "delivery_trust.json").write_text(json.dumps(results, indent=2) + "\n")
    o, r, i = results["outage"], results["resend"], results["import"]
    md = [
        "# Delivery you can trust",
        "",
        f"Measured {results['meta']['when']} (Python {results['meta']['python']}).",
        "",
        f"- **Outage**: {o['recipients']:,} recipients, SendGrid stand-in down {o['outage_s']:.0f} s: "
        f"{o['delivered_once']:,} delivered exactly once, {o['duplicates']} duplicates, "
        f"{o['missing']} missing, {o['deferred']} deferred, {o['failed']} failed; "
        f"status {o['status']}, send took {o['send_s']} s.",
        f"- **Resend after reconciliation**: {r['uncertain_after_crash']:,} uncertain (all in fact "
        f"accepted), {r['confirmed_by_events']:,} confirmed by events, {r['resent']:,} resent, "
        f"{r['second_copies_of_confirmed']} second copies of confirmed recipients "
        f"({r['second_copies']} second copies in all: the unconfirmed rows the provider had "
        f"accepted but never reported); final status {r['final_status']}.",
        f"- **CSV import**: {i['rows']:,} rows with one invalid byte in the middle: "
        f"{i['kept']:,} of {i['good_rows']:,} good rows kept; reported: {i['problems']}.",
        "",
    ]
    (RESULTS / "delivery_trust.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()

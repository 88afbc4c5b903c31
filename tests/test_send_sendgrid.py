"""A real send through the SendGrid provider to the validating SendGrid stand-in, with faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, write_config

from newsletter.config import Secrets, Settings, load_config
from newsletter.delivery.dispatcher import send_issue
from newsletter.store import ledger
from newsletter.store.db import open_store
from tests.fakes import sendgrid_server as fakes
from tests.store_fixtures import make_issue, seed


def _cfg(tmp_path: Path, url: str, **delivery: object) -> Settings:
    values: dict[str, object] = {
        "provider": "sendgrid",
        "batch_size": 25,
        "concurrency": 1,
        "max_attempts": 6,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
        "sendgrid": {"host": url, "sandbox_mode": False, "timeout": 5},
    }
    values.update(delivery)
    return load_config(write_config(tmp_path, delivery=values))


def _exactly_once(
    cfg: Settings, issue_id: str, accepted: list[str], audience: list[str]
) -> dict[str, int]:
    copies = Counter(accepted)
    assert not {e: n for e, n in copies.items() if n > 1}, "second copies"
    engine = open_store(cfg)
    try:
        sent = set(ledger.emails_with_status(engine, issue_id, "sent"))
        failed = set(ledger.emails_with_status(engine, issue_id, "failed"))
        uncertain = set(ledger.emails_with_status(engine, issue_id, "uncertain"))
        queued = ledger.counts(engine, issue_id)["queued"]
    finally:
        engine.dispose()
    assert queued == 0
    assert sent | failed | uncertain == set(audience)
    assert sent <= set(copies) and not failed & set(copies)
    assert set(audience) - set(copies) <= failed | uncertain
    return {"sent": len(sent), "failed": len(failed), "uncertain": len(uncertain)}


def test_faults_in_process(tmp_path: Path) -> None:
    delays: list[float] = []
    with fakes.FakeSendGrid() as server:
        cfg = _cfg(tmp_path, server.url)
        engine = open_store(cfg)
        audience = seed(engine, 200)
        engine.dispose()
        issue_id = make_issue(cfg)
        server.script(
            fakes.Fault.rate_limited(7),  # batch 1: retried after Retry-After: 7
            fakes.Fault.server_error(503),  # batch 1: retried
            fakes.Fault.drop_after_body(deliver=True),  # batch 1: accepted, answer lost
            fakes.Fault.too_large(),  # batch 2: 413, failed
        )
        report = send_issue(
            cfg,
            Secrets(sendgrid_api_key=server.api_key, secret_key="k" * 32),  # type: ignore[arg-type]
            issue_id,
            progress=False,
            sleep=delays.append,
            log=lambda m: None,
        )
        accepted = server.recipients()
    counts = _exactly_once(cfg, issue_id, accepted, audience)
    # Retry-After: 7 honoured, plus this thread's own share of jitter (no thundering herd).
    assert any(7.0 <= d <= 10.5 for d in delays)
    assert counts == {"sent": 150, "failed": 25, "uncertain": 25}
    # Recipients to look at (the 413 batch, the lost answer): partial, not sent.
    assert (report.sent, report.failed, report.uncertain, report.status) == (
        150,
        25,
        25,
        "partial",
    )
    assert any("413" in e for e in report.errors)


def test_auth_failure_stops_then_resumes(tmp_path: Path) -> None:
    with fakes.FakeSendGrid() as server:
        cfg = _cfg(tmp_path, server.url)
        engine = open_store(cfg)
        audience = seed(engine, 60)
        engine.dispose()
        issue_id = make_issue(cfg)
        from newsletter.errors import NewsletterError

        with pytest.raises(NewsletterError, match="401"):
            send_issue(
                cfg,
                Secrets(sendgrid_api_key="SG.wrong", secret_key="k" * 32),  # type: ignore[arg-type]
                issue_id,
                progress=False,
                log=lambda m: None,
            )
        report = send_issue(
            cfg,
            Secrets(sendgrid_api_key=server.api_key, secret_key="k" * 32),  # type: ignore[arg-type]
            issue_id,
            progress=False,
            log=lambda m: None,
        )
        accepted = server.recipients()
    assert report.status == "sent" and report.sent == 60
    assert _exactly_once(cfg, issue_id, accepted, audience)["sent"] == 60


def test_cli_send_with_random_faults_delivers_exactly_once(tmp_path: Path) -> None:
    faults = [
        fakes.Fault.rate_limited(0),
        fakes.Fault.server_error(502),
        fakes.Fault.drop_before_body(),
        fakes.Fault.drop_after_body(deliver=True),
        fakes.Fault.drop_after_body(deliver=False),
    ]
    with fakes.FakeSendGrid(fault_rate=0.3, random_faults=faults, seed=11) as server:
        cfg = _cfg(tmp_path, server.url, concurrency=3, batch_size=20)
        engine = open_store(cfg)
        audience = seed(engine, 300)
        engine.dispose()
        issue_id = make_issue(cfg)
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
            SENDGRID_API_KEY=server.api_key,
            NEWSLETTER_SECRET_KEY="k" * 32,
        )
        env.pop("NEWSLETTER_CONFIG", None)
        report: dict[str, object] = {}
        for _ in range(3):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "newsletter",
                    "--config",
                    str(cfg.source),
                    "send",
                    issue_id,
                    "--json",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode in (0, 3), proc.stderr
            report = json.loads(proc.stdout)
            if report["status"] in ("sent", "partial"):
                break
        accepted = server.recipients()
    # Exit 3 and "partial" exactly when some recipients are left to look at.
    to_look_at = report["failed"] + report["uncertain"] + report["deferred"]
    assert report["status"] == ("partial" if to_look_at else "sent")
    assert proc.returncode == (3 if to_look_at else 0)
    counts = _exactly_once(cfg, issue_id, accepted, audience)
    assert counts["sent"] == report["sent"] and counts["uncertain"] == report["uncertain"]

"""Nothing lost, nothing doubled: outages, reconciliation before a resend, ids vs folders.

Real HTTP to the SendGrid stand-in for the outages, the real webhook event path for the
reconciliation (on SQLite and PostgreSQL), the real CLI for exit codes and refusals.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import write_config
from sqlalchemy import Engine

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings, load_config
from newsletter.delivery import dispatcher
from newsletter.delivery.base import ProviderUncertainError
from newsletter.delivery.dispatcher import send_issue
from newsletter.store import ledger
from newsletter.store.db import open_store
from newsletter.store.events import apply_provider_events
from tests.cli_support import run_cli
from tests.fakes import sendgrid_server as fakes
from tests.store_fixtures import FakeProvider, make_issue, seed

SECRETS = Secrets(secret_key="k" * 32)  # type: ignore[arg-type]


def _sendgrid_cfg(tmp_path: Path, url: str, **delivery: object) -> Settings:
    values: dict[str, object] = {
        "provider": "sendgrid",
        "batch_size": 50,
        "concurrency": 4,
        "max_attempts": 3,
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.4,
        "sendgrid": {"host": url, "sandbox_mode": False, "timeout": 5},
    }
    values.update(delivery)
    return load_config(write_config(tmp_path, delivery=values))


def _copies(server: fakes.FakeSendGrid) -> Counter[str]:
    return Counter(server.recipients())


def test_outage_then_recovery_delivers_everyone_once_in_the_same_send(tmp_path: Path) -> None:
    """A 3 s outage (scaled down from 30 s) inside a 60 s retry window: all delivered once."""
    with fakes.FakeSendGrid() as server:
        cfg = _sendgrid_cfg(tmp_path, server.url, retry_window="60s")
        engine = open_store(cfg)
        audience = seed(engine, 600)
        engine.dispose()
        issue_id = make_issue(cfg)
        server.outage(3.0, 503)
        secrets = Secrets(sendgrid_api_key=server.api_key, secret_key="k" * 32)  # type: ignore[arg-type]
        report = send_issue(cfg, secrets, issue_id, log=lambda m: None)
        copies = _copies(server)
    assert report.status == "sent"
    assert (report.sent, report.failed, report.deferred, report.uncertain) == (600, 0, 0, 0)
    assert sorted(copies) == sorted(audience) and set(copies.values()) == {1}


def test_outage_longer_than_the_window_ends_partial_and_the_rerun_delivers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the retry window: deferred (never failed), exit 3, and a re-run sends each once."""
    with fakes.FakeSendGrid() as server:
        cfg = _sendgrid_cfg(tmp_path, server.url, retry_window="1s")
        engine = open_store(cfg)
        audience = seed(engine, 300)
        engine.dispose()
        issue_id = make_issue(cfg)
        monkeypatch.setenv("SENDGRID_API_KEY", server.api_key)
        monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 32)
        server.outage(60.0, 429, retry_after=0.2)
        code, out, err = run_cli(capsys, "--config", str(cfg.source), "send", issue_id, "--json")
        first = json.loads(out)
        assert code == 3, err
        assert first["status"] == "partial" and first["failed"] == 0
        assert first["deferred"] == 300 - first["sent"] and first["deferred"] > 0
        assert Archive(cfg.archive_dir).load_plan(issue_id).status == "partial"
        server.outage(0.0)  # the provider is back
        code, out, err = run_cli(capsys, "--config", str(cfg.source), "send", issue_id, "--json")
        second = json.loads(out)
        copies = _copies(server)
    assert code == 0, err
    assert second["status"] == "sent" and second["sent"] == 300 and second["deferred"] == 0
    assert sorted(copies) == sorted(audience) and set(copies.values()) == {1}


def _events(issue_id: str, emails: list[str]) -> list[dict[str, object]]:
    now = int(datetime.now(UTC).timestamp())
    return [
        {
            "event": "processed",
            "email": email,
            "issue_id": issue_id,
            "sg_event_id": f"ev-{issue_id}-{email}",
            "timestamp": now,
        }
        for email in emails
    ]


def test_uncertain_rows_are_reconciled_by_events_before_a_resend(
    tmp_path: Path, engine: Engine
) -> None:
    """Accepted-but-unanswered batches confirmed by late events are not resent: 0 duplicates."""
    cfg = load_config(
        write_config(
            tmp_path,
            delivery={"batch_size": 20, "concurrency": 1, "reconcile_after": "2s"},
        )
    )
    audience = seed(engine, 100)
    issue_id = make_issue(cfg)
    lost = ProviderUncertainError("no answer after the request was sent")
    provider = FakeProvider([None, lost, lost, None, lost])  # 60 uncertain, all accepted
    report = send_issue(cfg, SECRETS, issue_id, provider=provider, engine=engine, log=print)
    assert report.status == "partial" and report.uncertain == 60
    uncertain = ledger.emails_with_status(engine, issue_id, "uncertain")
    confirmed_late, never_heard = uncertain[:45], uncertain[45:]

    # The provider's events arrive while the resend waits for delivery.reconcile_after.
    def webhook() -> None:
        time.sleep(0.5)
        with engine.begin() as conn:
            apply_provider_events(conn, _events(issue_id, confirmed_late))

    thread = threading.Thread(target=webhook)
    thread.start()
    again = send_issue(
        cfg,
        SECRETS,
        issue_id,
        provider=provider,
        engine=engine,
        resend_uncertain=True,
        log=lambda m: None,
    )
    thread.join()
    assert again.reconciled == 45
    resent = [r.email for r in provider.delivered[100:]]
    assert sorted(resent) == sorted(never_heard)  # only the unconfirmed went again
    # Of the accepted copies, none is a second one for anybody the events had confirmed.
    copies = Counter(r.email for r in provider.delivered)
    assert [e for e in confirmed_late if copies[e] > 1] == []
    assert again.status == "sent" and again.sent == 100 and again.uncertain == 0
    assert set(ledger.sent_emails(engine, issue_id)) == set(audience)


def test_events_recorded_before_the_resend_reconcile_without_waiting(
    tmp_path: Path, engine: Engine
) -> None:
    """Events already in the store confirm uncertain rows even when the webhook missed them."""
    cfg = load_config(
        write_config(
            tmp_path, delivery={"batch_size": 10, "concurrency": 1, "reconcile_after": "0s"}
        )
    )
    seed(engine, 10)
    issue_id = make_issue(cfg)
    lost = ProviderUncertainError("connection reset after the body")
    provider = FakeProvider([lost])
    send_issue(cfg, SECRETS, issue_id, provider=provider, engine=engine, log=lambda m: None)
    emails = ledger.emails_with_status(engine, issue_id, "uncertain")
    # Recorded in the events table only (as if the row had not been uncertain back then).
    from sqlalchemy import insert

    from newsletter.store.tables import events

    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(events),
            [
                {
                    "provider": "sendgrid",
                    "provider_event_id": f"e{i}",
                    "event": "delivered",
                    "email": email,
                    "issue_id": issue_id,
                    "received_at": now,
                    "payload": "{}",
                }
                for i, email in enumerate(emails[:7])
            ],
        )
    again = send_issue(
        cfg,
        SECRETS,
        issue_id,
        provider=provider,
        engine=engine,
        resend_uncertain=True,
        log=lambda m: None,
    )
    assert again.reconciled == 7
    assert sorted(r.email for r in provider.delivered[10:]) == sorted(emails[7:])


# --- the folder is the issue id ------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    provider = FakeProvider()
    monkeypatch.setattr(dispatcher, "resolve_provider", lambda cfg, secrets, name: provider)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "cli-test-key")
    return provider


def _edit_id(cfg: Settings, folder: str, new_id: str) -> None:
    path = cfg.archive_dir / folder / "issue.json"
    data = json.loads(path.read_text())
    data["id"] = new_id
    path.write_text(json.dumps(data))


def test_an_edited_id_is_refused_and_editing_it_back_sends_nobody_twice(
    config_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(config_path)
    engine = open_store(cfg)
    seed(engine, 30)
    engine.dispose()
    issue_id = make_issue(cfg)
    code, _, err = run_cli(capsys, "--config", str(config_path), "send", issue_id)
    assert code == 0 and len(fake.delivered) == 30
    _edit_id(cfg, issue_id, "2026-11-29-sunday")
    code, _, err = run_cli(capsys, "--config", str(config_path), "send", issue_id)
    assert code == 2 and len(fake.delivered) == 30
    line = err.strip().splitlines()[-1]
    assert "does not match its folder" in line and "issue.json" in line
    _edit_id(cfg, issue_id, issue_id)
    code, _, err = run_cli(capsys, "--config", str(config_path), "send", issue_id)
    assert code == 0 and len(fake.delivered) == 30  # nobody got a second copy


def test_a_copied_folder_with_a_stale_id_is_refused_and_overwrites_nothing(
    config_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    cfg = load_config(config_path)
    engine = open_store(cfg)
    seed(engine, 12)
    engine.dispose()
    original = make_issue(cfg)
    copy = "2026-11-29-sunday"
    shutil.copytree(cfg.archive_dir / original, cfg.archive_dir / copy)
    before = (cfg.archive_dir / original / "issue.json").read_bytes()
    code, _, err = run_cli(capsys, "--config", str(config_path), "send", copy)
    assert code == 2 and "does not match its folder" in err and fake.delivered == []
    assert (cfg.archive_dir / original / "issue.json").read_bytes() == before
    plans, problems = Archive(cfg.archive_dir).scan()
    assert [p.id for p in plans] == [original] and len(problems) == 1


# --- the send refuses what it must not send -------------------------------------------------


def test_failed_checks_block_the_send_unless_overridden_with_a_reason(
    config_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(config_path)
    engine = open_store(cfg)
    seed(engine, 5)
    engine.dispose()
    issue_id = make_issue(cfg)
    checks = [
        {"name": "size", "status": "pass", "detail": "40 KB"},
        {"name": "links", "status": "fail", "detail": "2 broken links"},
    ]
    Archive(cfg.archive_dir).write_text(issue_id, "checks.json", json.dumps(checks))
    code, _, err = run_cli(capsys, "--config", str(config_path), "send", issue_id)
    assert code == 1 and "pre-send checks failed (links: 2 broken links)" in err
    assert fake.delivered == []
    code, _, err = run_cli(
        capsys, "--config", str(config_path), "send", issue_id, "--override-checks", " "
    )
    assert code == 2 and "--override-checks" in err and fake.delivered == []
    code, out, err = run_cli(
        capsys,
        "--config",
        str(config_path),
        "send",
        issue_id,
        "--json",
        "--override-checks",
        "links checked by hand",
    )
    report = json.loads(out)
    assert code == 0 and len(fake.delivered) == 5
    assert report["override_reason"] == "links checked by hand"
    assert report["checks_overridden"] == ["links: 2 broken links"]
    assert "override reason: links checked by hand" in err


def test_a_subject_with_a_line_break_is_refused_before_sending(
    config_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(config_path)
    engine = open_store(cfg)
    seed(engine, 3)
    engine.dispose()
    issue_id = make_issue(cfg)
    path = cfg.archive_dir / issue_id / "issue.json"
    data = json.loads(path.read_text())
    data["subject"] = "Hello\r\nBcc: everyone@example.com"
    path.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "--config", str(config_path), "send", issue_id)
    assert code == 2 and "subject: must be one line" in err and fake.delivered == []


def test_test_to_reports_a_refused_address_as_failed(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsletter.delivery.base import BatchResult

    class Refusing(FakeProvider):
        def send_batch(self, issue, recipients):  # type: ignore[no-untyped-def]
            super().send_batch(issue, recipients)
            return BatchResult(rejected={"b@example.com": "550 mailbox unavailable"})

    provider = Refusing()
    monkeypatch.setattr(dispatcher, "resolve_provider", lambda cfg, secrets, name: provider)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "cli-test-key")
    cfg = load_config(config_path)
    issue_id = make_issue(cfg)
    code, out, _ = run_cli(
        capsys,
        "--config",
        str(config_path),
        "send",
        issue_id,
        "--json",
        "--test-to",
        "a@example.com,b@example.com",
    )
    report = json.loads(out)
    assert code == 3 and (report["sent"], report["failed"]) == (1, 1)
    assert "550 mailbox unavailable" in report["errors"][0]

"""``newsletter send``: options, output and exit codes (with a recording provider)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.delivery import dispatcher
from newsletter.store.db import open_store
from tests.cli_support import run_cli
from tests.store_fixtures import FakeProvider, make_issue, seed


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    provider = FakeProvider()
    monkeypatch.setattr(dispatcher, "resolve_provider", lambda cfg, secrets, name: provider)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "cli-test-key")
    return provider


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), *args)


def test_send_json_dry_run_and_test_to(
    config_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(config_path)
    engine = open_store(cfg)
    seed(engine, 7)
    engine.dispose()
    issue_id = make_issue(cfg)
    code, out, err = run(capsys, config_path, "send", issue_id, "--dry-run")
    assert code == 0 and "dry run via fake: 7 recipients" in err
    assert json.loads(out) == {
        "subject": "The week in AI",
        "to": ["user0@example.com", "user1@example.com"],
    }
    code, out, _ = run(
        capsys, config_path, "send", issue_id, "--test-to", "a@example.com, b@example.com"
    )
    assert code == 0 and [r.email for r in fake.delivered] == ["a@example.com", "b@example.com"]
    code, out, _ = run(capsys, config_path, "send", issue_id, "--json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "sent" and report["sent"] == 7
    assert (cfg.archive_dir / issue_id / "send.json").is_file()
    code, _, err = run(capsys, config_path, "send", issue_id)
    assert code == 0 and "7 sent (0 now, 7 before)" in err


def test_send_refusals_are_one_line(
    config_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(config_path)
    draft = make_issue(cfg, status="draft")
    code, _, err = run(capsys, config_path, "send", draft)
    assert code == 1 and err.strip() == (
        f"error: {draft}: cannot send an issue that is draft (approve it first)"
    )
    code, _, err = run(capsys, config_path, "send", draft, "--provider", "carrier-pigeon")
    assert code == 2 and "--provider: must be one of sendgrid, smtp, outbox" in err
    code, _, err = run(capsys, config_path, "send", "not-an-id")
    assert code == 2 and "not an issue id" in err

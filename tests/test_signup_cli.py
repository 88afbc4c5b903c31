"""``newsletter signup snippet``, ``subscribers show``, ``remove --purge``; signup to first issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from signup_support import SignupSite

from newsletter.config import Secrets, load_config
from newsletter.delivery.outbox import delivered
from newsletter.store.db import open_store
from newsletter.web import create_app
from tests.cli_support import run_cli
from tests.store_fixtures import make_issue

KEY = "cli-signup-key"


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), *args)


@pytest.fixture
def site(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignupSite:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY)
    cfg = load_config(config_path)
    engine = open_store(cfg)
    app = create_app(cfg, Secrets.from_env(), engine=engine)
    client = TestClient(app, base_url="http://127.0.0.1")
    return SignupSite(cfg, client, engine, cfg.path(cfg.delivery.outbox.dir), KEY)


def test_snippet_posts_to_subscribe(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config_path, "signup", "snippet", "--source", "guide:openai")
    assert code == 0
    assert 'action="https://almanac.example/newsletter/subscribe"' in out
    assert 'method="post"' in out and 'name="website"' in out and 'name="email"' in out
    assert 'value="guide:openai"' in out and "<script" not in out


def test_show_pending_then_active_then_purged(
    config_path: Path, site: SignupSite, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        site.client.post(
            "/api/subscribe",
            json={"email": "Ann@Example.com", "editions": ["sunday"], "source": "guide"},
            headers={"User-Agent": "Firefox/140"},
        ).status_code
        == 202
    )
    code, out, _ = run(capsys, config_path, "subscribers", "show", "ann@example.com", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["status"] == "pending" and shown["pending_signup"]
    [consent] = shown["consents"]
    assert {k: consent[k] for k in ("ip", "user_agent", "source", "method", "text_version")} == {
        "ip": "testclient",
        "user_agent": "Firefox/140",
        "source": "api",
        "method": "double-opt-in",
        "text_version": site.cfg.signup.consent_text_version,
    }
    site.client.post("/confirm", data={"t": site.token("ann@example.com")})
    code, out, _ = run(capsys, config_path, "subscribers", "show", "ann@example.com", "--json")
    shown = json.loads(out)
    assert shown["status"] == "active" and shown["editions"] == "sunday"
    assert [c["action"] for c in shown["consents"]] == ["signup", "confirm"]
    code, _, err = run(capsys, config_path, "subscribers", "show", "ann@example.com")
    assert code == 0 and "double-opt-in" in err + _
    code, _, _ = run(capsys, config_path, "subscribers", "remove", "ann@example.com", "--purge")
    assert code == 0
    code, _, err = run(capsys, config_path, "subscribers", "show", "ann@example.com")
    assert code == 2 and "no such subscriber" in err


def test_a_new_reader_signs_up_confirms_and_gets_the_next_issue(
    config_path: Path, site: SignupSite, capsys: pytest.CaptureFixture[str]
) -> None:
    issue_id = make_issue(site.cfg)
    for address in ("reader@example.com", "waiting@example.com"):
        assert site.form(address).status_code == 202
    site.client.post("/confirm", data={"t": site.token("reader@example.com")})
    code, _, err = run(capsys, config_path, "send", issue_id)
    assert code == 0, err
    got = [d["email"] for d in delivered(site.outbox / issue_id)]
    assert got == ["reader@example.com"]  # the unconfirmed one gets nothing

"""Own click tracking (signed /r/<token>, never an open redirect), the canary, the payload."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_support import run_cli
from fastapi.testclient import TestClient
from report_support import GUIDE_URL, ISSUE, STORY_URL, history, setup_project
from report_support import plan as make_plan
from web_support import SECRET_KEY, KeyPair, db, events_json, project, secrets

from newsletter.archive import Archive
from newsletter.config import SendGridConfig, TrackingConfig
from newsletter.delivery.base import OutgoingIssue, Recipient
from newsletter.delivery.sendgrid import PayloadSettings, build_payload
from newsletter.personalization import RECIPIENT, recipient_values
from newsletter.rendering import render_plan
from newsletter.reporting import build_report
from newsletter.store.db import create_engine_for, upgrade
from newsletter.tracking import ClickTarget, normalise_url, sign_click, verify_click
from newsletter.web import create_app

__all__ = ["db"]


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return KeyPair.generate()


def test_normalise_url_drops_tracking_noise() -> None:
    assert (
        normalise_url("HTTPS://News.Example:443/a/?utm_source=x&b=2&a=1&nl_l=3#top")
        == "https://news.example/a?a=1&b=2"
    )
    assert normalise_url("https://news.example") == "https://news.example/"


def test_click_tokens_cannot_be_forged() -> None:
    key = b"k" * 32
    token = sign_click(key, ClickTarget(ISSUE, "https://news.example/a"))
    assert verify_click(key, token) == ClickTarget(ISSUE, "https://news.example/a")
    body, _, mac = token.partition(".")
    evil = sign_click(b"other", ClickTarget(ISSUE, "https://evil.example/"))
    assert verify_click(key, evil) is None
    assert verify_click(key, evil.split(".")[0] + "." + mac) is None
    assert verify_click(key, body) is None
    assert verify_click(key, "https://evil.example/") is None
    js = sign_click(key, ClickTarget(ISSUE, "javascript:alert(1)"))
    assert verify_click(key, js) is None


def test_own_redirect_records_clicks_and_flags_head(
    tmp_path: Path, db: sa.Engine, keys: KeyPair
) -> None:
    cfg, ids = setup_project(tmp_path, keys, db, tracking={"clicks": "own"})
    client = TestClient(create_app(cfg, secrets(), engine=db), follow_redirects=False)
    key = SECRET_KEY.encode()
    token = sign_click(key, ClickTarget(ISSUE, f"{GUIDE_URL}?utm_source=almanac"))
    person = recipient_values(key, "https://x", ids[0], "s0@example.com", None)[RECIPIENT]
    res = client.get(f"/r/{token}", params={"s": person})
    assert res.status_code == 302
    assert res.headers["location"] == f"{GUIDE_URL}?utm_source=almanac"
    assert client.head(f"/r/{token}", params={"s": person}).status_code == 302
    # Forged or tampered tokens never redirect anywhere.
    evil = sign_click(b"not-our-key", ClickTarget(ISSUE, "https://evil.example/"))
    assert client.get(f"/r/{evil}").status_code == 400
    assert "location" not in client.get(f"/r/{token[:-2]}xx").headers
    # Someone else's recipient token still redirects, but records nothing.
    assert client.get(f"/r/{token}", params={"s": f"{ids[1]}.forged"}).status_code == 302
    plan = Archive(cfg.archive_dir).load_plan(ISSUE)
    with db.connect() as conn:
        r = build_report(conn, cfg, plan)
    assert (r.clicks.unique_clickers, r.clicks.total, r.clicks.suspected_bots) == (0, 0, 2)
    # A human click from another reader is counted for the guide.
    other = recipient_values(key, "https://x", ids[2], "s2@example.com", None)[RECIPIENT]
    assert client.get(f"/r/{token}", params={"s": other}).status_code == 302
    with db.connect() as conn:
        r = build_report(conn, cfg, plan)
    assert [(x.kind, x.slug, x.unique) for x in r.clicks.by_link] == [("guide", "ai-agents", 1)]


def test_own_mode_render_routes_links_and_adds_a_canary(
    tmp_path: Path, keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET_KEY)
    cfg = project(tmp_path, public_key=keys.public_b64, tracking={"clicks": "own"})
    rendered = render_plan(cfg, make_plan(status="draft"))
    hrefs = re.findall(r'href="([^"]+)"', rendered.html)
    outbound = [h for h in hrefs if h.startswith("http")]
    base = str(cfg.web.public_url).rstrip("/")
    assert outbound and all(h.startswith((f"{base}/r/", f"{base}/unsubscribe")) for h in outbound)
    canary = [h for h in hrefs if "display:none" in rendered.html.split(h)[1][:40]]
    assert len(canary) == 1
    token = canary[0].removeprefix(f"{base}/r/").split("?")[0]
    assert verify_click(SECRET_KEY.encode(), token).canary  # type: ignore[union-attr]
    assert STORY_URL not in rendered.html and STORY_URL not in rendered.text
    assert f"{base}/r/" in rendered.text
    assert not [c for c in rendered.checks if c.name == "text-links" and c.status == "fail"]


def test_sendgrid_payload_sets_tracking() -> None:
    issue = OutgoingIssue(
        issue_id=ISSUE, edition="sunday", subject="s", html="<p>x</p>", text="x",
        sender_email="n@almanac.example", sender_name="Almanac",
    )  # fmt: skip
    r = [Recipient(email="a@example.com", name=None, values={}, headers={})]
    settings = PayloadSettings.from_config(SendGridConfig(), TrackingConfig())
    body = build_payload(issue, r, settings)
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": True, "enable_text": False},
        "open_tracking": {"enable": False},
    }
    own = PayloadSettings.from_config(SendGridConfig(), TrackingConfig(clicks="own", opens=True))
    body = build_payload(issue, r, own)
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["tracking_settings"]["open_tracking"] == {"enable": True}


def test_report_command_json(
    tmp_path: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'newsletter.db'}")
    upgrade(engine)
    cfg, _ = setup_project(tmp_path, keys, engine)
    client = TestClient(create_app(cfg, secrets(), engine=engine))
    body = events_json(*history())
    assert client.post("/webhooks/sendgrid", content=body, headers=keys.headers(body)).is_success
    capsys.readouterr()
    code, out, err = run_cli(
        capsys, "--config", str(tmp_path / "config.yaml"), "report", ISSUE, "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    for key in ("issue_id", "audience", "sent", "delivered", "deferred", "bounced", "dropped",
                "complained", "complaint_rate", "unsubscribed", "opens", "clicks"):  # fmt: skip
        assert key in data
    assert data["bounced"] == {"hard": 1, "soft": 0, "blocked": 1, "total": 2}
    assert data["clicks"]["unique_clickers"] == 4
    assert {"url", "kind", "label", "item_id", "slug", "unique", "total"} <= set(
        data["clicks"]["by_link"][0]
    )
    code, out, err = run_cli(capsys, "--config", str(tmp_path / "config.yaml"), "status")
    assert code == 0, err
    assert "ALERT complaints" in out and "ALERT bounces" in out
    code, out, _ = run_cli(capsys, "--config", str(tmp_path / "config.yaml"), "report", ISSUE)
    assert code == 0 and "unique human" in out and "suspected bots" in out
    engine.dispose()


def test_report_on_a_new_database_migrates_it(
    tmp_path: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project(tmp_path, public_key=keys.public_b64)
    Archive(cfg.archive_dir).save_plan(make_plan())
    capsys.readouterr()
    code, out, err = run_cli(
        capsys, "--config", str(tmp_path / "config.yaml"), "report", ISSUE, "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert (data["audience"], data["delivered"], data["clicks"]["total"]) == (0, 0, 0)

"""Editor pages: the issue list, the issue preview, Approve with CSRF, login rules."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import project, secrets, sqlite_engine, write_issue

from newsletter.archive import Archive
from newsletter.web import create_app

BASE = "http://127.0.0.1:8000"
ISSUE = "2026-11-22-sunday"


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    cfg = project(tmp_path)
    arch = Archive(cfg.archive_dir)
    write_issue(arch, ISSUE)
    write_issue(arch, "2026-11-18-midweek", status="sent")
    return arch


@pytest.fixture
def client(tmp_path: Path, archive: Archive) -> TestClient:
    cfg = project(tmp_path)
    return TestClient(create_app(cfg, secrets(), engine=sqlite_engine(tmp_path)), base_url=BASE)


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the issue page has an approve form with a CSRF token"
    return match.group(1)


def _status(archive: Archive, issue_id: str = ISSUE) -> str:
    return str(json.loads(archive.file(issue_id, "issue.json").read_text())["status"])


def test_list_shows_every_issue_with_checks(client: TestClient) -> None:
    res = client.get("/")
    assert res.status_code == 200
    html = res.text
    assert html.index("2026-11-22-sunday") < html.index("2026-11-18-midweek")  # newest first
    assert 'href="/issues/2026-11-22-sunday/edit"' in html
    assert "&lt;2026-11-22-sunday&gt;" in html  # the subject is escaped, never markup
    assert "<2026-11-22-sunday>" not in html
    assert "2 pass" in html and "1 warn" in html and "0 fail" in html
    assert ">draft<" in html and ">sent<" in html
    assert "script" not in res.headers["content-security-policy"]


def test_list_names_an_unreadable_issue_json(client: TestClient, archive: Archive) -> None:
    archive.file("2026-11-18-midweek", "issue.json").write_text("{not json", encoding="utf-8")
    html = client.get("/").text
    assert "2026-11-22-sunday" in html
    assert "Unreadable:" in html and "2026-11-18-midweek/issue.json" in html


def test_issue_page_shows_everything_an_editor_checks(client: TestClient) -> None:
    res = client.get(f"/issues/{ISSUE}/edit")
    assert res.status_code == 200
    html = res.text
    assert "Top story headline, and more" in html  # preheader
    assert f'src="/issues/{ISSUE}/preview/email.html?scheme=light&amp;v=1"' in html
    assert 'width="680"' in html
    assert "Hi Ada," in html and "%first_name%" not in html  # text part with sample values
    assert 'id="checks"' in html and "subject is 71 characters" in html
    assert "Approve for sending" in html
    assert "almanac_editor" in res.headers["set-cookie"]
    assert "samesite=strict" in res.headers["set-cookie"].lower()

    mobile = client.get(f"/issues/{ISSUE}/edit?view=mobile&scheme=dark").text
    assert 'width="375"' in mobile and "scheme=dark" in mobile
    assert client.get(f"/editor/issues/{ISSUE}").status_code == 200


def test_email_preview_fills_tokens_and_forces_dark(client: TestClient) -> None:
    light = client.get(f"/issues/{ISSUE}/preview/email.html")
    assert light.status_code == 200
    assert "%unsubscribe_url%" not in light.text and 'href="#"' in light.text
    assert "prefers-color-scheme: dark" in light.text
    assert "frame-ancestors 'self'" in light.headers["content-security-policy"]
    dark = client.get(f"/issues/{ISSUE}/preview/email.html?scheme=dark").text
    assert "prefers-color-scheme" not in dark
    assert '<meta name="color-scheme" content="dark">' in dark
    assert 'content="light dark"' not in dark


def test_issue_page_before_render(tmp_path: Path, client: TestClient, archive: Archive) -> None:
    write_issue(archive, "2026-11-25-midweek", rendered=False)
    html = client.get("/issues/2026-11-25-midweek/edit").text
    assert "Not rendered yet" in html and "<iframe" not in html
    assert "not rendered" in client.get("/").text
    assert client.get("/issues/2026-11-25-midweek/preview/email.html").status_code == 404


def test_approve_moves_draft_to_approved(client: TestClient, archive: Archive) -> None:
    token = _token(client.get(f"/issues/{ISSUE}/edit").text)
    res = client.post(
        f"/issues/{ISSUE}/approve",
        data={"csrf_token": token},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert res.status_code == 303
    assert _status(archive) == "approved"
    page = client.get(res.headers["location"]).text
    assert "Approved." in page and "Approve for sending" not in page
    assert "is <strong>approved</strong>" in page


def test_approve_without_token_is_refused(client: TestClient, archive: Archive) -> None:
    client.get(f"/issues/{ISSUE}/edit")  # has a session cookie, but posts no token
    assert client.post(f"/issues/{ISSUE}/approve").status_code == 403
    assert client.post(f"/issues/{ISSUE}/approve", data={"csrf_token": "forged"}).status_code == 403
    assert _status(archive) == "draft"


def test_approve_from_another_origin_is_refused(client: TestClient, archive: Archive) -> None:
    token = _token(client.get(f"/issues/{ISSUE}/edit").text)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/x"},
    ):
        res = client.post(f"/issues/{ISSUE}/approve", data={"csrf_token": token}, headers=headers)
        assert res.status_code == 403, headers
    assert _status(archive) == "draft"


def test_origin_of_the_public_url_is_accepted(client: TestClient, archive: Archive) -> None:
    # Behind a reverse proxy that rewrites Host, the browser's Origin is the public URL's.
    token = _token(client.get(f"/issues/{ISSUE}/edit").text)
    res = client.post(
        f"/issues/{ISSUE}/approve",
        data={"csrf_token": token},
        headers={"Origin": "https://almanac.example"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and _status(archive) == "approved"


def test_token_of_another_session_is_refused(
    tmp_path: Path, client: TestClient, archive: Archive
) -> None:
    token = _token(client.get(f"/issues/{ISSUE}/edit").text)
    other = TestClient(client.app, base_url=BASE)
    other.get(f"/issues/{ISSUE}/edit")
    assert other.post(f"/issues/{ISSUE}/approve", data={"csrf_token": token}).status_code == 403
    assert _status(archive) == "draft"


def test_approve_non_draft_is_a_conflict(client: TestClient, archive: Archive) -> None:
    page = client.get("/issues/2026-11-18-midweek/edit").text
    assert "Approve for sending" not in page and "is <strong>sent</strong>" in page
    token = _token(client.get(f"/issues/{ISSUE}/edit").text)
    res = client.post("/issues/2026-11-18-midweek/approve", data={"csrf_token": token})
    assert res.status_code == 409
    assert _status(archive, "2026-11-18-midweek") == "sent"


def test_unknown_and_malformed_issue_ids(client: TestClient) -> None:
    assert client.get("/issues/2026-01-01-sunday/edit").status_code == 404
    assert client.get("/issues/..%2f..%2fetc/edit").status_code == 404
    assert client.get("/issues/not-an-id").status_code == 404


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_login_required_beyond_loopback(tmp_path: Path, archive: Archive) -> None:
    cfg = project(tmp_path)
    app = create_app(
        cfg,
        secrets(user="editor", password="s3cret pass"),
        engine=sqlite_engine(tmp_path),
        bind_host="0.0.0.0",
    )
    client = TestClient(app, base_url="https://news.example")
    res = client.get("/")
    assert res.status_code == 401 and res.headers["www-authenticate"].startswith("Basic")
    assert client.get("/", headers=_basic("editor", "wrong")).status_code == 401
    assert client.get("/", headers=_basic("other", "s3cret pass")).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers=_basic("editor", "s3cret pass")).status_code == 200
    assert client.get(f"/issues/{ISSUE}/edit").status_code == 401
    assert client.post(f"/issues/{ISSUE}/approve").status_code == 401
    assert client.get(f"/issues/{ISSUE}/preview/email.html").status_code == 401
    # Public routes never ask for a login.
    assert client.get("/healthz").status_code == 200
    assert client.get("/issues/2026-11-18-midweek").status_code == 200
    assert client.get("/unsubscribe?t=1.x").status_code == 400
    assert client.post("/webhooks/sendgrid", content=b"[]").status_code == 503


def test_beyond_loopback_without_credentials_editor_pages_are_closed(
    tmp_path: Path, archive: Archive
) -> None:
    cfg = project(tmp_path)
    app = create_app(cfg, secrets(), engine=sqlite_engine(tmp_path), bind_host="0.0.0.0")
    client = TestClient(app, base_url="http://10.0.0.5:8000")
    res = client.get("/")
    assert res.status_code == 403 and "NEWSLETTER_EDITOR_USER" in res.text


def test_loopback_editor_pages_refuse_foreign_host_header(client: TestClient) -> None:
    # A DNS-rebinding page or a reverse proxy names another host: no open editor pages.
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 403
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/", headers={"Host": "[::1]:8000"}).status_code == 200


def test_view_in_browser_is_public_once_approved(tmp_path: Path, archive: Archive) -> None:
    cfg = project(tmp_path)
    app = create_app(cfg, secrets(user="editor", password="pw"), engine=sqlite_engine(tmp_path))
    client = TestClient(app, base_url=BASE)
    assert client.get(f"/issues/{ISSUE}").status_code == 404  # a draft is not public
    assert client.get(f"/issues/{ISSUE}", headers=_basic("editor", "pw")).status_code == 200
    res = client.get("/issues/2026-11-18-midweek")
    assert res.status_code == 200
    assert "Web version" in res.text and "%unsubscribe_url%" not in res.text
    assert "https://almanac.example/newsletter/unsubscribe" in res.text


def test_low_confidence_pairings_and_merges_are_flagged(
    client: TestClient, archive: Archive
) -> None:
    from newsletter.models import AlsoRef, GuideRef

    plan = archive.load_plan(ISSUE)
    story = plan.stories[0]
    unsure = GuideRef(
        slug="ai-safety",
        title="AI Safety",
        url="https://almanac.example/guides/ai-safety",
        reason="shares topics AI safety",
        confidence=0.55,
    )
    also = (AlsoRef(source="Wire", url="https://wire.example/a", id="story-1-wire"),)
    plan.stories = [
        story.model_copy(update={"guide": unsure, "also": also, "merge_confidence": 0.4})
    ]
    archive.save_plan(plan)
    html = client.get(f"/issues/{ISSUE}/edit").text
    assert "55% sure" in html and "check the pairing" in html
    assert "Same story: 40% sure" in html and "check the merge" in html
    sure = unsure.model_copy(update={"confidence": 0.97})
    plan.stories = [story.model_copy(update={"guide": sure, "also": also, "merge_confidence": 0.9})]
    archive.save_plan(plan)
    html = client.get(f"/issues/{ISSUE}/edit").text
    assert "97% sure" in html and "check the pairing" not in html and "check the merge" not in html

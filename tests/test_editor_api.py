"""The editor's JSON API: every field, stale versions (409), bad edits (422), the approval hash,
the audit log, overrides.json as curation feedback, test sends, and the origin rules."""

from __future__ import annotations

import base64
import json
from email import message_from_bytes
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from editor_support import EDITOR, ISSUE, story_ids, sunday_project
from fastapi.testclient import TestClient
from web_support import secrets, sqlite_engine

from newsletter.archive import Archive, dump_json
from newsletter.config import Settings
from newsletter.errors import StateError
from newsletter.web import create_app
from newsletter.workflow import approve_issue, content_hash, ensure_sendable

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return sunday_project(tmp_path)


@pytest.fixture
def archive(cfg: Settings) -> Archive:
    return Archive(cfg.archive_dir)


@pytest.fixture
def client(tmp_path: Path, cfg: Settings) -> TestClient:
    app = create_app(cfg, secrets(), engine=sqlite_engine(tmp_path))
    return TestClient(app, base_url=BASE)


def state(client: TestClient) -> dict[str, Any]:
    res = client.get(f"/api/issues/{ISSUE}")
    assert res.status_code == 200
    data: dict[str, Any] = res.json()
    return data


def patch(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return client.patch(f"/api/issues/{ISSUE}", json=body, headers=headers)


def test_get_answers_plan_version_hash_bench_and_checks(client: TestClient) -> None:
    data = state(client)
    assert data["plan"]["id"] == ISSUE and data["version"] == 1
    assert data["content_hash"].startswith("sha256:")
    in_issue = {s["item"]["id"] for s in data["plan"]["stories"]}
    in_issue |= {a["id"] for s in data["plan"]["stories"] for a in s["also"]}
    bench = data["bench"]
    assert bench and not {b["id"] for b in bench} & in_issue  # the bench is what is left out
    ranks = [b["rank"] for b in bench]
    assert ranks == sorted(ranks, reverse=True)  # best first
    assert all({"cluster", "score", "source"} <= set(b) for b in bench)
    choices = data["guide_choices"]["gemini-release-deepmind"]
    assert choices[0]["slug"] == "google-deepmind" and "Google" in choices[0]["reason"]
    rel = [c["relevance"] for c in choices]
    assert rel == sorted(rel, reverse=True)
    assert {c["name"] for c in data["checks"]} >= {"size", "subject-length"}


def test_subject_preheader_note_are_saved_and_rendered(
    client: TestClient, archive: Archive
) -> None:
    before_html = archive.read_text(ISSUE, "email.html")
    res = patch(
        client,
        {
            "version": 1,
            "subject": "Gemini 3.5, Anthropic's raise and Nvidia's quarter",
            "preheader": "Ten stories and eight guides for your Sunday: the week in AI, explained.",
            "note": "A big week. *Three* stories stand out.",
        },
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["version"] == 2 and body["status"] == "draft"
    assert set(body["changes"]) == {"subject", "preheader", "note"}
    plan = archive.load_plan(ISSUE)
    assert plan.subject == "Gemini 3.5, Anthropic's raise and Nvidia's quarter"
    assert plan.note == "A big week. *Three* stories stand out."
    html = archive.read_text(ISSUE, "email.html")
    assert html != before_html
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert unescape(title) == plan.subject
    assert "Ten stories and eight guides" in html  # the preheader is in the email
    checks = json.loads(archive.file(ISSUE, "checks.json").read_text())
    assert any(
        c["name"] == "subject-length" and f"{len(plan.subject)} characters" in c["detail"]
        for c in checks
    )
    assert "Ten stories and eight guides" in archive.read_text(ISSUE, "web.html")
    # Clearing the note: null or an empty string.
    assert patch(client, {"version": 2, "note": ""}).json()["changes"]["note"]["to"] is None
    assert archive.load_plan(ISSUE).note is None


def test_reorder_remove_and_add_from_the_bench(client: TestClient, archive: Archive) -> None:
    ids = story_ids(archive)
    data = state(client)
    extra = data["bench"][0]["id"]
    new_order = [ids[1], ids[0], *ids[2:-1], extra]  # swap two, drop the last, add one
    res = patch(client, {"version": 1, "stories": new_order})
    assert res.status_code == 200, res.text
    changes = res.json()["changes"]
    assert changes["added"] == [extra] and changes["removed"] == [ids[-1]]
    assert story_ids(archive) == new_order
    text = archive.read_text(ISSUE, "email.txt")
    first, second = (archive.load_plan(ISSUE).stories[k].item.title for k in (0, 1))
    assert text.index(first[:30]) < text.index(second[:30])  # the email follows the new order
    overrides = json.loads(archive.file(ISSUE, "overrides.json").read_text())
    assert overrides["pin"] == [extra] and overrides["exclude"] == [ids[-1]]
    after = state(client)
    assert ids[-1] in {b["id"] for b in after["bench"]}  # a removed story is back on the bench
    assert extra not in {b["id"] for b in after["bench"]}


def test_guide_swap_and_unpair_are_curation_feedback(client: TestClient, archive: Archive) -> None:
    res = patch(
        client,
        {
            "version": 1,
            "guides": {"gemini-release-deepmind": "reasoning-models", "copyright-ruling": None},
        },
    )
    assert res.status_code == 200, res.text
    plan = archive.load_plan(ISSUE)
    by_id = {s.item.id: s for s in plan.stories}
    swapped = by_id["gemini-release-deepmind"].guide
    assert swapped is not None and swapped.slug == "reasoning-models" and swapped.reason
    assert by_id["copyright-ruling"].guide is None
    slugs = [g.slug for g in plan.guides]
    assert "reasoning-models" in slugs and "google-deepmind" not in slugs
    assert "ai-regulation" not in slugs
    overrides = json.loads(archive.file(ISSUE, "overrides.json").read_text())
    assert overrides["guide"] == {
        "copyright-ruling": None,
        "gemini-release-deepmind": "reasoning-models",
    }
    assert "Reasoning Models" in archive.read_text(ISSUE, "email.html")


def test_merge_and_split(client: TestClient, archive: Archive) -> None:
    res = patch(client, {"version": 1, "merge": [["trainium-chip", "openai-aws-deal"]]})
    assert res.status_code == 200, res.text
    plan = archive.load_plan(ISSUE)
    ids = [s.item.id for s in plan.stories]
    assert "openai-aws-deal" not in ids
    trainium = next(s for s in plan.stories if s.item.id == "trainium-chip")
    assert "openai-aws-deal" in [a.id for a in trainium.also]
    res = patch(client, {"version": 2, "split": ["nvidia-q3-ft"]})
    assert res.status_code == 200, res.text
    ids = story_ids(archive)
    assert ids[ids.index("nvidia-q3-newsroom") + 1] == "nvidia-q3-ft"
    nvidia = next(s for s in archive.load_plan(ISSUE).stories if s.item.id == "nvidia-q3-newsroom")
    assert [a.id for a in nvidia.also] == ["nvidia-q3-reuters"]
    overrides = json.loads(archive.file(ISSUE, "overrides.json").read_text())
    assert overrides["merge"] == [["trainium-chip", "openai-aws-deal"]]
    assert overrides["split"] == [["nvidia-q3-newsroom", "nvidia-q3-ft"]]


def test_stale_version_is_409_with_what_changed(client: TestClient, archive: Archive) -> None:
    assert patch(client, {"version": 1, "subject": "First editor's subject"}).status_code == 200
    res = patch(client, {"version": 1, "subject": "Second editor's subject"})
    assert res.status_code == 409
    body = res.json()
    assert body["error"] == "stale" and body["version"] == 2 and body["your_version"] == 1
    assert body["changes"][0]["changes"]["subject"]["to"] == "First editor's subject"
    assert archive.load_plan(ISSUE).subject == "First editor's subject"  # nothing lost
    # A hand edit of issue.json makes every open page stale too.
    plan = archive.load_plan(ISSUE)
    plan.preheader = "Edited by hand in issue.json, a long enough preheader for the check."
    archive.save_plan(plan)
    res = patch(client, {"version": 2, "subject": "Third"})
    assert res.status_code == 409 and res.json()["version"] == 3
    assert res.json()["changes"][0]["action"] == "external-change"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"subject": "x" * 151}, "subject", "151 characters; the limit is 150"),
        ({"subject": "   "}, "subject", "must not be empty"),
        ({"subject": "two\r\nlines"}, "subject", "one line"),
        ({"preheader": "p" * 251}, "preheader", "limit is 250"),
        ({"note": "n" * 2001}, "note", "limit is 2000"),
        ({"stories": ["no-such-item"]}, "stories", "'no-such-item' is neither a story"),
        ({"stories": []}, "stories", "at least one story"),
        ({"stories": ["anthropic-funding", "anthropic-funding"]}, "stories", "listed twice"),
        ({"guides": {"no-such-item": "openai"}}, "guides.no-such-item", "not a story"),
        (
            {"guides": {"anthropic-funding": "no-such-guide"}},
            "guides.anthropic-funding",
            "unknown guide 'no-such-guide'",
        ),
        (
            {"guides": {"anthropic-funding": "nvidia"}},
            "guides.nvidia-q3-newsroom",
            "already paired",
        ),
        ({"merge": [["anthropic-funding", "anthropic-funding"]]}, "merge.0", "with itself"),
        ({"merge": [["anthropic-funding", "nope"]]}, "merge.0", "'nope' is not a story"),
        ({"split": ["anthropic-funding"]}, "split.0", "leads its story"),
        ({"split": ["nope"]}, "split.0", "not an item of any story"),
        ({"subjekt": "typo"}, "subjekt", "unknown field"),
        ({"stories": "anthropic-funding"}, "stories", "list"),
    ],
)
def test_bad_edits_are_422_naming_the_field(
    client: TestClient, archive: Archive, body: dict[str, Any], field: str, words: str
) -> None:
    before = archive.file(ISSUE, "issue.json").read_bytes()
    res = patch(client, {"version": 1, **body})
    assert res.status_code == 422, res.text
    data = res.json()
    assert data["field"] == field and words in data["message"], data
    assert archive.file(ISSUE, "issue.json").read_bytes() == before  # nothing half-applied
    assert state(client)["version"] == 1


def test_version_is_required(client: TestClient) -> None:
    res = patch(client, {"subject": "No version"})
    assert res.status_code == 422 and res.json()["field"] == "version"


def test_mutations_need_same_origin_json(client: TestClient, archive: Archive) -> None:
    before = archive.file(ISSUE, "issue.json").read_bytes()
    evil = patch(client, {"version": 1, "subject": "Pwned"}, Origin="https://evil.example")
    assert evil.status_code == 403 and "Cross-site" in evil.json()["message"]
    null = patch(client, {"version": 1, "subject": "Pwned"}, Origin="null")
    assert null.status_code == 403
    form = client.patch(
        f"/api/issues/{ISSUE}",
        content="version=1&subject=Pwned",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    plain = client.post(
        f"/api/issues/{ISSUE}/test",
        content=json.dumps({"to": [EDITOR]}),
        headers={"Content-Type": "text/plain", "Origin": BASE},
    )
    assert plain.status_code == 415
    assert archive.file(ISSUE, "issue.json").read_bytes() == before
    ok = patch(client, {"version": 1, "subject": "Same origin"}, Origin=BASE)
    assert ok.status_code == 200


def test_login_is_needed_beyond_loopback(tmp_path: Path, cfg: Settings) -> None:
    app = create_app(cfg, secrets(user="ed", password="pw"), engine=sqlite_engine(tmp_path))
    client = TestClient(app, base_url=BASE)
    assert client.get(f"/api/issues/{ISSUE}").status_code == 401
    assert patch(client, {"version": 1, "subject": "x"}).status_code == 401
    login = {"Authorization": "Basic " + base64.b64encode(b"ed:pw").decode()}
    authed = TestClient(app, base_url=BASE, headers=login)
    assert authed.get(f"/api/issues/{ISSUE}").status_code == 200
    assert patch(authed, {"version": 1, "subject": "By ed"}).status_code == 200
    history = authed.get(f"/api/issues/{ISSUE}/history").json()["history"]
    assert history[-1]["who"] == "ed"
    public = create_app(cfg, secrets(), engine=sqlite_engine(tmp_path), bind_host="0.0.0.0")
    assert TestClient(public, base_url=BASE).get(f"/api/issues/{ISSUE}").status_code == 403


def test_approval_hash_rule(client: TestClient, archive: Archive) -> None:
    plan = approve_issue(archive, ISSUE, who="ed")
    record = json.loads(archive.file(ISSUE, "approval.json").read_text())
    assert record["content_hash"] == content_hash(plan) and record["by"] == "ed"
    ensure_sendable(archive, archive.load_plan(ISSUE), require_record=True)
    # An edit after approval returns the issue to draft, and says so.
    res = patch(client, {"version": 1, "subject": "Changed after approval"})
    assert res.status_code == 200 and res.json()["returned_to_draft"] is True
    assert archive.load_plan(ISSUE).status == "draft"
    assert not archive.file(ISSUE, "approval.json").exists()
    actions = [h["action"] for h in archive.read_history(ISSUE)]
    assert actions == ["approve", "unapprove", "edit"]
    # Approve again, then change issue.json by hand while it stays "approved": no send.
    approve_issue(archive, ISSUE, who="ed")
    hand = archive.load_plan(ISSUE)
    hand.subject = "Sneaked in after approval"
    archive.save_plan(hand)
    with pytest.raises(StateError, match="changed after it was approved"):
        ensure_sendable(archive, archive.load_plan(ISSUE))
    # No approval record at all: the scheduler (require_record) refuses.
    archive.file(ISSUE, "approval.json").unlink()
    with pytest.raises(StateError, match="no approval record"):
        ensure_sendable(archive, archive.load_plan(ISSUE), require_record=True)


def test_failed_check_blocks_approval_unless_overridden(
    client: TestClient, archive: Archive
) -> None:
    checks = json.loads(archive.file(ISSUE, "checks.json").read_text())
    checks[0] = {"name": "size", "status": "fail", "detail": "130 KB: Gmail clips at 102 KB"}
    archive.write_text(ISSUE, "checks.json", dump_json(checks))
    with pytest.raises(StateError, match=r"pre-send checks failed.*size: 130 KB"):
        approve_issue(archive, ISSUE)
    assert archive.load_plan(ISSUE).status == "draft"
    approve_issue(archive, ISSUE, who="ed", override_checks="clipping is fine this week")
    assert archive.load_plan(ISSUE).status == "approved"
    last = archive.read_history(ISSUE)[-1]
    assert last["action"] == "approve" and last["override_checks"] == "clipping is fine this week"
    assert last["failed_checks"] == ["size: 130 KB: Gmail clips at 102 KB"]
    ensure_sendable(archive, archive.load_plan(ISSUE))  # the recorded override lets it through


def test_web_approve_button_approves_only_what_was_shown(
    client: TestClient, archive: Archive
) -> None:
    page = client.get(f"/issues/{ISSUE}/edit").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    shown = page.split('name="content_hash" value="')[1].split('"')[0]
    assert patch(client, {"version": 1, "subject": "Changed in another tab"}).status_code == 200
    res = client.post(
        f"/issues/{ISSUE}/approve",
        data={"csrf_token": token, "content_hash": shown},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert res.status_code == 409 and archive.load_plan(ISSUE).status == "draft"
    fresh = client.get(f"/issues/{ISSUE}/edit").text
    current = fresh.split('name="content_hash" value="')[1].split('"')[0]
    res = client.post(
        f"/issues/{ISSUE}/approve",
        data={"csrf_token": token, "content_hash": current},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert res.status_code == 303 and archive.load_plan(ISSUE).status == "approved"
    assert archive.read_history(ISSUE)[-1] == {
        **archive.read_history(ISSUE)[-1],
        "action": "approve",
        "who": "local",
    }


def test_form_fallback_saves_text_with_csrf(client: TestClient, archive: Archive) -> None:
    page = client.get(f"/issues/{ISSUE}/edit").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"version": "1", "subject": "From the form", "preheader": "p" * 50, "note": ""}
    refused = client.post(f"/issues/{ISSUE}/edit", data=form, headers={"Origin": BASE})
    assert refused.status_code == 403
    res = client.post(
        f"/issues/{ISSUE}/edit",
        data={**form, "csrf_token": token},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert res.status_code == 303 and archive.load_plan(ISSUE).subject == "From the form"


def test_test_send_goes_to_editors_only_and_is_logged(
    client: TestClient, cfg: Settings, archive: Archive
) -> None:
    stranger = client.post(f"/api/issues/{ISSUE}/test", json={"to": ["someone@example.com"]})
    assert stranger.status_code == 422 and "not in site.editors" in stranger.json()["message"]
    res = client.post(f"/api/issues/{ISSUE}/test", json={"to": [EDITOR]})
    assert res.status_code == 200, res.text
    assert res.json()["sent"] == 1
    folder = Path(cfg.delivery.outbox.dir) / ISSUE / "test"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 1
    msg = message_from_bytes(files[0].read_bytes())
    assert msg["To"] == EDITOR and msg["Subject"].startswith("[TEST] ")
    assert not (Path(cfg.delivery.outbox.dir) / ISSUE / "delivered.log").exists() or (
        EDITOR not in (Path(cfg.delivery.outbox.dir) / ISSUE / "delivered.log").read_text()
    )
    last = archive.read_history(ISSUE)[-1]
    assert last["action"] == "test" and last["to"] == [EDITOR] and last["who"] == "local"
    assert archive.load_plan(ISSUE).status == "draft"  # a test changes nothing


def test_test_sends_are_rate_limited(client: TestClient) -> None:
    codes = [
        client.post(f"/api/issues/{ISSUE}/test", json={"to": [EDITOR]}).status_code
        for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]


def test_history_lists_every_edit_test_and_approval(client: TestClient) -> None:
    patch(client, {"version": 1, "subject": "One"})
    patch(client, {"version": 2, "guides": {"anthropic-funding": None}})
    client.post(f"/api/issues/{ISSUE}/test", json={"to": [EDITOR]})
    history = client.get(f"/api/issues/{ISSUE}/history").json()["history"]
    assert [h["action"] for h in history] == ["edit", "edit", "test"]
    assert all(h["who"] == "local" and h["at"] for h in history)
    assert history[1]["changes"]["guides"] == {
        "anthropic-funding": {"from": "anthropic", "to": None}
    }
    assert client.get("/api/issues/2026-11-29-sunday/history").status_code == 404


def test_sent_issue_cannot_be_edited(client: TestClient, archive: Archive) -> None:
    archive.set_status(ISSUE, "sent")
    res = patch(client, {"version": 1, "subject": "Too late"})
    assert res.status_code == 409 and "can no longer be edited" in res.json()["message"]


def test_web_approve_with_failed_checks_needs_a_reason(
    client: TestClient, archive: Archive
) -> None:
    archive.write_text(
        ISSUE, "checks.json", dump_json([{"name": "size", "status": "fail", "detail": "130 KB"}])
    )
    page = client.get(f"/issues/{ISSUE}/edit").text
    assert 'name="override_checks"' in page and "1 check(s) failed" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "content_hash": content_hash(archive.load_plan(ISSUE))}
    refused = client.post(f"/issues/{ISSUE}/approve", data=form, follow_redirects=False)
    assert refused.status_code == 409 and "pre-send checks failed" in refused.text
    ok = client.post(
        f"/issues/{ISSUE}/approve",
        data={**form, "override_checks": "we accept the clipping"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and archive.load_plan(ISSUE).status == "approved"
    assert archive.read_history(ISSUE)[-1]["override_checks"] == "we accept the clipping"


def test_two_editors_saving_at_once_one_wins_one_gets_409(cfg: Settings, archive: Archive) -> None:
    import threading

    from newsletter.editing import Edit, StaleVersion, apply_edit

    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def save(name: str) -> None:
        barrier.wait()
        try:
            apply_edit(cfg, ISSUE, Edit(version=1, subject=f"By {name}"), who=name)
            outcomes[name] = "saved"
        except StaleVersion:
            outcomes[name] = "stale"

    threads = [threading.Thread(target=save, args=(n,)) for n in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["saved", "stale"]
    winner = next(n for n, o in outcomes.items() if o == "saved")
    assert archive.load_plan(ISSUE).subject == f"By {winner}"
    assert [h["who"] for h in archive.read_history(ISSUE)] == [winner]


def test_site_team_may_receive_test_copies(tmp_path: Path) -> None:
    cfg = sunday_project(tmp_path, site={"editors": [EDITOR], "team": ["Designer@Almanac.example"]})
    client = TestClient(create_app(cfg, secrets(), engine=sqlite_engine(tmp_path)), base_url=BASE)
    assert 'value="Designer@Almanac.example"' in client.get(f"/issues/{ISSUE}/edit").text
    res = client.post(f"/api/issues/{ISSUE}/test", json={"to": ["designer@almanac.example"]})
    assert res.status_code == 200 and res.json()["sent"] == 1


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    assert client.get("/api/issues/2026-11-29-sunday").status_code == 404
    assert client.get("/api/issues/..%2Fetc").status_code == 404
    res = client.patch("/api/issues/not-an-id", json={"version": 1, "subject": "x"})
    assert res.status_code == 404
    res = client.patch("/api/issues/2026-11-29-sunday", json={"version": 1, "subject": "x"})
    assert res.status_code == 404 and res.json()["error"] == "not_found"


def test_a_failed_render_leaves_everything_as_it_was(
    client: TestClient, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsletter.editing
    from newsletter.errors import NewsletterError

    def broken(*_: Any) -> Any:
        raise NewsletterError("templates/email/sunday.mjml.j2:3: template error: boom")

    approve_issue(archive, ISSUE, who="ed")
    before = archive.file(ISSUE, "issue.json").read_bytes()
    monkeypatch.setattr(newsletter.editing, "render_issue", broken)
    res = patch(client, {"version": 1, "subject": "Never saved"})
    assert res.status_code == 500 and "template error: boom" in res.json()["message"]
    assert archive.file(ISSUE, "issue.json").read_bytes() == before
    assert archive.load_plan(ISSUE).status == "approved"
    assert archive.file(ISSUE, "approval.json").is_file()
    assert [h["action"] for h in archive.read_history(ISSUE)] == ["approve"]
    assert state(client)["version"] == 1

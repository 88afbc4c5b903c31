"""Public signup over HTTP: identical answers, traps, limits, confirmation, tokens (SQLite + PG)."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from signup_support import SignupSite, make_site
from web_support import add_subscriber, db, write_issue  # noqa: F401  (db is a fixture)

from newsletter.archive import Archive
from newsletter.delivery.base import TRANSACTIONAL_CATEGORY, OutgoingIssue, Recipient
from newsletter.delivery.sendgrid import build_payload
from newsletter.signup import SignupRequest, confirm, request_signup
from newsletter.signup.mails import SignupMailer
from newsletter.store import tables

STATES = ("new", "pending", "active", "unsubscribed", "bounced", "complained", "plausible")
# Headers that legitimately differ between two answers.
VARYING = {"date", "content-length"}


@pytest.fixture
def site(tmp_path: Path, db: sa.Engine) -> SignupSite:  # noqa: F811
    return make_site(tmp_path, db)


def _prepare(site: SignupSite, state: str) -> str:
    """An address in ``state`` before the measured signup."""
    address = f"{state}@example.com"
    if state == "plausible":
        return "nobody.here@no-such-domain-4f9q2.com"
    if state == "pending":
        assert site.api(address).status_code == 202
    elif state != "new":
        add_subscriber(site.engine, address, status=state)
        if state in ("bounced", "complained"):
            with site.engine.begin() as conn:
                conn.execute(
                    sa.insert(tables.suppressions).values(
                        email=address, reason=state, created_at=datetime.now(UTC)
                    )
                )
    return address


def _shape(res: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in res.headers.items() if k.lower() not in VARYING}
    return res.status_code, res.content, headers


@pytest.mark.parametrize("channel", ["form", "api"])
def test_every_prior_state_gets_the_same_answer(site: SignupSite, channel: str) -> None:
    answers = {}
    for state in STATES:
        address = _prepare(site, state)
        res = site.form(address) if channel == "form" else site.api(address)
        answers[state] = _shape(res)
    first = answers["new"]
    assert first[0] == 202
    for state, shape in answers.items():
        assert shape == first, f"{state} answered differently"
    # ...while what happened behind the answer differs, as each state defines.
    assert site.row("new@example.com")["status"] == "pending"  # type: ignore[index]
    assert site.row("unsubscribed@example.com")["status"] == "unsubscribed"  # type: ignore[index]
    assert site.row("bounced@example.com")["status"] == "bounced"  # type: ignore[index]
    confirmed_to = {m["email"] for m in site.mails("confirm")}
    assert {"new@example.com", "unsubscribed@example.com", "bounced@example.com"} <= confirmed_to
    assert "complained@example.com" in confirmed_to
    assert "active@example.com" not in confirmed_to
    assert [m["email"] for m in site.mails("already")] == ["active@example.com"]
    # The pending address asked twice within 15 minutes: one confirmation only.
    assert [m["email"] for m in site.mails("confirm")].count("pending@example.com") == 1


def test_traps_answer_like_a_signup_and_send_nothing(site: SignupSite) -> None:
    normal = _shape(site.form("real@example.com"))
    before = site.sent_total()
    trapped = [
        site.form("bot1@example.com", website="https://spam.example"),  # honeypot
        site.form("bot2@example.com", ts=site.stamp(age=0.5)),  # faster than 3 s
        site.form("bot3@example.com", ts="1764000000.0.forged-signature"),  # not ours
        site.form("bot4@example.com", ts="garbage"),
    ]
    for res in trapped:
        assert _shape(res) == normal
    api_normal = _shape(site.api("real2@example.com"))
    assert _shape(site.api("bot5@example.com", website="x")) == api_normal  # honeypot in JSON
    assert site.sent_total() == before + 1 == 2
    for n in range(1, 6):
        assert site.row(f"bot{n}@example.com") is None
    assert not site.consents("bot1@example.com")


def test_syntax_errors_are_422_naming_the_field(site: SignupSite) -> None:
    res = site.api("not-an-address")
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == "email"
    assert site.api("a@example.com", name="x" * 201).json()["detail"][0]["field"] == "name"
    assert site.api("a@example.com", editions=[]).json()["detail"][0]["field"] == "editions"
    assert site.api("a@example.com", editions=["daily"]).status_code == 422
    bad_json = site.client.post(
        "/api/subscribe", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["field"] == "body"
    form = site.form("two@@example.com")
    assert form.status_code == 422
    assert 'aria-invalid="true" aria-describedby="email-error"' in form.text
    none_ticked = site.form("a@example.com", midweek=None, sunday=None)
    assert none_ticked.status_code == 422 and 'id="editions-error"' in none_ticked.text
    assert site.sent_total() == 0


def test_snippet_post_without_stamp_shows_the_filled_in_page(site: SignupSite) -> None:
    res = site.form("reader@example.com", ts=None, source="guide:microsoft")
    assert res.status_code == 200
    assert 'value="reader@example.com"' in res.text and "One more step" in res.text
    assert site.sent_total() == 0
    stamp = res.text.split('name="ts" value="')[1].split('"')[0]
    assert site.form("reader@example.com", ts=stamp, source="guide:microsoft").status_code == 202
    assert site.sent_total() == 1
    [consent] = site.consents("reader@example.com")
    assert (consent.source, consent.detail, consent.method) == (
        "form",
        "guide:microsoft",
        "double-opt-in",
    )


def test_one_ip_gets_at_most_rate_per_ip_emails(site: SignupSite) -> None:
    answers = {_shape(site.api(f"user{i}@example.com"))[:2] for i in range(100)}
    assert len(answers) == 1
    assert site.sent_total() == site.cfg.signup.rate_per_ip == 10


def test_per_address_limits_15_minutes_and_3_a_week(site: SignupSite) -> None:
    cfg = site.cfg.signup
    start = datetime.now(UTC) - timedelta(days=1)

    def ask(minutes: float, ip: str) -> bool:
        req = SignupRequest("limit@example.com", None, True, True, "api", ip, "test")
        return request_signup(site.engine, cfg, req, start + timedelta(minutes=minutes)) is not None

    sent = [ask(m, f"10.0.0.{i}") for i, m in enumerate([0, 5, 14, 16, 40, 60, 200])]
    assert sent == [True, False, False, True, True, False, False]


def test_challenge_hook_applies_to_form_and_api(tmp_path: Path, db: sa.Engine) -> None:  # noqa: F811
    site = make_site(tmp_path, db, challenge="signup_support:require_pow")
    assert site.api("nopow@example.com").status_code == 202
    assert site.form("nopow2@example.com").status_code == 202
    assert site.sent_total() == 0
    assert site.api("pow@example.com", pow="ok").status_code == 202
    assert site.form("pow2@example.com", pow="ok").status_code == 202
    assert site.sent_total() == 2


def test_cors_allows_only_configured_origins(tmp_path: Path, db: sa.Engine) -> None:  # noqa: F811
    site = make_site(tmp_path, db, allowed_origins=["https://guides.example"])
    pre = site.client.options("/api/subscribe", headers={"Origin": "https://guides.example"})
    assert pre.headers["access-control-allow-origin"] == "https://guides.example"
    evil = site.client.options("/api/subscribe", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    ok = site.client.post(
        "/api/subscribe",
        json={"email": "a@example.com"},
        headers={"Origin": "https://guides.example"},
    )
    bad = site.client.post(
        "/api/subscribe",
        json={"email": "b@example.com"},
        headers={"Origin": "https://evil.example"},
    )
    assert ok.status_code == bad.status_code == 202 and ok.content == bad.content
    assert [m["email"] for m in site.mails()] == ["a@example.com"]


def test_confirm_get_changes_nothing_post_confirms_replay_is_harmless(site: SignupSite) -> None:
    Archive(site.cfg.archive_dir)
    write_issue(Archive(site.cfg.archive_dir), "2026-11-18-midweek", status="sent")
    assert site.form("ada@example.com", name="Mallory <b>Evil</b>", sunday=None).status_code == 202
    msg = site.message("ada@example.com")
    raw = msg.as_string()
    assert "Mallory" not in raw and "Evil" not in raw
    assert msg["To"] == "ada@example.com"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    assert "<img" not in raw  # no tracking pixel
    token = site.token("ada@example.com")

    for _ in range(3):  # a mail scanner opening the link
        page = site.client.get(f"/confirm?t={token}")
        assert page.status_code == 200 and ">Confirm</button>" in page.text
    assert site.row("ada@example.com")["status"] == "pending"  # type: ignore[index]

    done = site.client.post("/confirm", data={"t": token})
    assert done.status_code == 200 and "Email preferences" in done.text
    assert 'action="preferences?t=' in done.text
    row = site.row("ada@example.com")
    assert row is not None and row["status"] == "active"
    assert (row["wants_midweek"], row["wants_sunday"]) == (True, False)
    assert row["name"] == "Mallory <b>Evil</b>"  # kept, escaped wherever shown
    welcome = site.message("ada@example.com", "welcome").get_body(("plain",))
    assert welcome is not None
    assert "https://almanac.example/newsletter/issues/2026-11-18-midweek" in welcome.get_content()

    replay = site.client.post("/confirm", data={"t": token})
    assert replay.status_code == 200 and "already been used" in replay.text
    assert len(site.mails("welcome")) == 1
    actions = [c.action for c in site.consents("ada@example.com")]
    assert actions == ["signup", "confirm"]


def test_unsubscribed_and_bounced_come_back_only_by_confirming(site: SignupSite) -> None:
    for state in ("unsubscribed", "bounced"):
        address = _prepare(site, state)
        assert site.api(address).status_code == 202
        assert site.row(address)["status"] == state  # type: ignore[index]
        site.client.post("/confirm", data={"t": site.token(address)})
        assert site.row(address)["status"] == "active"  # type: ignore[index]
    with site.engine.connect() as conn:
        left = conn.execute(sa.select(tables.suppressions.c.email)).scalars().all()
    assert "bounced@example.com" not in left


def test_old_link_cannot_resubscribe_after_unsubscribe(site: SignupSite) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    cfg = site.cfg.signup
    jobs = [
        request_signup(
            site.engine,
            cfg,
            SignupRequest("two@example.com", None, True, True, "api", "10.0.0.1", "t"),
            start + timedelta(minutes=m),
        )
        for m in (0, 20)
    ]
    first, second = (j.token for j in jobs if j is not None)
    assert confirm(site.engine, second, ip="1.1.1.1", user_agent="t").state == "confirmed"
    with site.engine.begin() as conn:
        conn.execute(sa.update(tables.subscribers).values(status="unsubscribed"))
    assert confirm(site.engine, first, ip="1.1.1.1", user_agent="t").state == "used"
    assert site.row("two@example.com")["status"] == "unsubscribed"  # type: ignore[index]


def test_expired_link_says_so_and_sends_a_fresh_one(site: SignupSite) -> None:
    past = datetime.now(UTC) - timedelta(hours=73)
    req = SignupRequest("late@example.com", None, True, False, "form", "10.0.0.9", "t")
    job = request_signup(site.engine, site.cfg.signup, req, past)
    assert job is not None and job.token is not None
    page = site.client.get(f"/confirm?t={job.token}")
    assert page.status_code == 410 and "expired" in page.text and "fresh link" in page.text
    post = site.client.post("/confirm", data={"t": job.token})
    assert post.status_code == 410
    assert site.row("late@example.com")["status"] == "pending"  # type: ignore[index]
    fresh = site.client.post("/confirm/resend", data={"t": job.token})
    assert fresh.status_code == 202
    site.client.post("/confirm", data={"t": site.token("late@example.com")})
    row = site.row("late@example.com")
    assert row is not None and row["status"] == "active" and row["wants_sunday"] is False


def _mutations(valid: str, rng: random.Random, n: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "-_"
    out: list[str] = []
    while len(out) < n:
        kind = len(out) % 5
        if kind == 0:  # forged: random, right shape
            cand = "".join(rng.choice(alphabet) for _ in range(43))
        elif kind == 1:  # tampered: one character changed
            i = rng.randrange(43)
            cand = valid[:i] + rng.choice(alphabet.replace(valid[i], "")) + valid[i + 1 :]
        elif kind == 2:  # truncated or extended
            cand = (
                valid[: rng.randrange(43)] if rng.random() < 0.5 else valid + rng.choice(alphabet)
            )
        elif kind == 3:  # case flipped, padded, or odd characters
            cand = rng.choice(
                [valid.swapcase(), valid + "=", " " + valid, valid.replace(valid[0], "%")]
            )
        else:  # two characters swapped
            i, j = sorted(rng.sample(range(43), 2))
            cand = valid[:i] + valid[j] + valid[i + 1 : j] + valid[i] + valid[j + 1 :]
        if cand != valid:
            out.append(cand)
    return out


def test_1000_token_mutations_accept_none(site: SignupSite) -> None:
    rng = random.Random(12)
    cfg = site.cfg.signup
    now = datetime.now(UTC)

    def signup(address: str, at: datetime) -> str:
        req = SignupRequest(address, None, True, True, "api", f"10.1.{rng.randrange(250)}.1", "t")
        job = request_signup(site.engine, cfg, req, at)
        assert job is not None and job.token is not None
        return job.token

    live = signup("target@example.com", now)
    expired = signup("expired@example.com", now - timedelta(hours=80))
    used = signup("used@example.com", now)
    assert confirm(site.engine, used, ip="1", user_agent="t").state == "confirmed"
    with site.engine.begin() as conn:  # so that a replay that worked would show
        conn.execute(
            sa.update(tables.subscribers)
            .where(tables.subscribers.c.email == "used@example.com")
            .values(status="unsubscribed")
        )
    attempts = _mutations(live, rng, 800) + [expired] * 100 + [used] * 100
    assert len(attempts) == 1000
    outcomes = [confirm(site.engine, t, ip="6.6.6.6", user_agent="t").state for t in attempts]
    assert outcomes.count("confirmed") == 0
    assert site.row("target@example.com")["status"] == "pending"  # type: ignore[index]
    assert site.row("expired@example.com")["status"] == "pending"  # type: ignore[index]
    assert site.row("used@example.com")["status"] == "unsubscribed"  # type: ignore[index]
    # A sample through HTTP as well: no page confirms.
    for t in attempts[::50]:
        res = site.client.post("/confirm", data={"t": t})
        assert res.status_code in (400, 410, 200) and "You're subscribed" not in res.text
    assert site.row("target@example.com")["status"] == "pending"  # type: ignore[index]
    # The real token still works, once.
    assert confirm(site.engine, live, ip="1", user_agent="t").state == "confirmed"


def test_confirm_post_from_another_site_is_refused(site: SignupSite) -> None:
    site.api("x@example.com")
    res = site.client.post(
        "/confirm",
        data={"t": site.token("x@example.com")},
        headers={"Origin": "https://evil.example"},
    )
    assert res.status_code == 403
    assert site.row("x@example.com")["status"] == "pending"  # type: ignore[index]


def test_sendgrid_payload_of_signup_mail_is_untracked(site: SignupSite) -> None:
    from newsletter.signup import MailJob

    issue, recipient = SignupMailer(site.cfg, _secrets()).compose(
        MailJob("confirm", "a@example.com", token="t" * 43)
    )
    assert TRANSACTIONAL_CATEGORY in issue.categories
    body = build_payload(issue, [recipient])
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["tracking_settings"]["open_tracking"]["enable"] is False
    plain = build_payload(
        OutgoingIssue("2026-11-22-sunday", "sunday", "s", "<p>x</p>", "x", "a@b.example", "A"),
        [Recipient("r@example.com", None, {}, {})],
    )
    assert "tracking_settings" not in plain


def _secrets() -> Any:
    from web_support import secrets

    return secrets()


def test_signup_works_without_a_secret_key(tmp_path: Path, db: sa.Engine) -> None:  # noqa: F811
    from fastapi.testclient import TestClient
    from web_support import project, secrets

    from newsletter.web import create_app

    cfg = project(tmp_path)
    client = TestClient(create_app(cfg, secrets(key=None), engine=db), base_url="http://127.0.0.1")
    site = SignupSite(cfg, client, db, cfg.path(cfg.delivery.outbox.dir))
    page = client.get("/subscribe")
    stamp = page.text.split('name="ts" value="')[1].split('"')[0]
    assert stamp.split(".")[1] == "3"  # the page's minimum time is signed into the stamp
    assert site.api("nokey@example.com").status_code == 202
    done = client.post("/confirm", data={"t": site.token("nokey@example.com")})
    assert done.status_code == 200 and "You're subscribed" in done.text
    assert "preferences?t=" not in done.text  # nothing to sign preference links with
    assert site.row("nokey@example.com")["status"] == "active"  # type: ignore[index]


def test_cli_add_of_a_pending_address_activates_it(site: SignupSite) -> None:
    from newsletter.store.subscribers import add_subscriber as cli_add

    site.api("p@example.com")
    sub, created = cli_add(site.engine, "p@example.com", source="cli")
    assert not created and sub.status == "active"
    assert [c.method for c in site.consents("p@example.com")] == ["double-opt-in", "cli"]

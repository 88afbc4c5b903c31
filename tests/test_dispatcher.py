"""The dispatcher with a recording provider and injected failures (no real waiting)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import write_config
from sqlalchemy import Engine

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings, load_config
from newsletter.delivery.audience import RecipientBuilder
from newsletter.delivery.base import (
    ProviderAuthError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
)
from newsletter.delivery.dispatcher import send_issue
from newsletter.delivery.ratelimit import TokenBucket
from newsletter.errors import IssueNotFoundError, NewsletterError, StateError
from newsletter.store import issues_repo, ledger
from newsletter.store import subscribers as subs
from newsletter.store.db import open_store
from tests.store_fixtures import FakeProvider, make_issue, seed

SECRETS = Secrets(secret_key="k" * 32)  # type: ignore[arg-type]


class Sleeps:
    """A fake sleep that records delays (and a clock that they advance)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self.lock:
            self.delays.append(seconds)
            self.now += seconds

    def clock(self) -> float:
        return self.now


def _cfg(tmp_path: Path, **delivery: object) -> Settings:
    values: dict[str, object] = {
        "batch_size": 10,
        "concurrency": 2,
        "max_attempts": 4,
        "retry_base_delay": 1,
        "retry_max_delay": 8,
    }
    values.update(delivery)
    return load_config(write_config(tmp_path, delivery=values))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, Engine]:
    cfg = _cfg(tmp_path)
    engine = open_store(cfg)
    yield cfg, engine
    engine.dispose()


def _send(cfg: Settings, issue_id: str, provider: FakeProvider, **kw: object):  # type: ignore[no-untyped-def]
    sleeps = kw.setdefault("sleep", Sleeps())
    if isinstance(sleeps, Sleeps):
        kw.setdefault("clock", sleeps.clock)
    return send_issue(
        cfg, SECRETS, issue_id, provider=provider, progress=False, log=lambda m: None, **kw
    )  # type: ignore[arg-type]


def test_sends_everyone_once_and_writes_report(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    emails = seed(engine, 45)
    seed(engine, 5, start=100, edition="midweek")
    subs.add_suppression(engine, "user3@example.com", "bounce")
    issue_id = make_issue(cfg)
    fake = FakeProvider()
    report = _send(cfg, issue_id, fake)
    got = sorted(r.email for r in fake.delivered)
    assert got == sorted(set(emails) - {"user3@example.com"})
    assert report.status == "sent" and report.sent == 44 and report.audience == 44
    assert (report.failed, report.uncertain, report.suppressed, report.already_sent) == (0, 0, 1, 0)
    assert report.batches == 5 and all(len(c) <= 10 for c in fake.calls)
    saved = json.loads(Archive(cfg.archive_dir).read_text(issue_id, "send.json"))
    assert {k: saved[k] for k in ("audience", "sent", "failed", "uncertain", "suppressed")} == {
        "audience": 44,
        "sent": 44,
        "failed": 0,
        "uncertain": 0,
        "suppressed": 1,
    }
    assert "duration_s" in saved and "already_sent" in saved
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "sent"
    row = issues_repo.get_issue(engine, issue_id)
    assert row is not None and row["status"] == "sent" and row["report"]["sent"] == 44
    # Every recipient carries signed links and the RFC 8058 headers.
    r = fake.delivered[0]
    assert r.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert r.headers["List-Unsubscribe"] == (
        f"<{r.values['%unsubscribe_url%']}>, <mailto:unsubscribe@almanac.example>"
    )
    assert r.values["%unsubscribe_url%"].startswith(
        "https://almanac.example/newsletter/unsubscribe?t="
    )
    # Running again: nothing to do, nobody gets a second copy.
    again = _send(cfg, issue_id, fake)
    assert again.already_sent == 44 and len(fake.delivered) == 44


def test_recipient_builder_matches_reference() -> None:
    b = RecipientBuilder(b"secret", "https://x.example/n/", None)
    for sid, email, name in [(1, "A@b.c", "Ada Lovelace"), (99, "z@y.x", None), (7, "q@q.q", "  ")]:
        assert b.values(sid, email, name) == b.reference_values(sid, email, name)
    assert b.recipient(1, "a@b.c", None).headers["List-Unsubscribe"].count("<") == 1


def test_transient_then_success_with_backoff(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 10)
    issue_id = make_issue(cfg)
    fake = FakeProvider([ProviderTransientError("503", 503), ProviderTransientError("503", 503)])
    sleeps = Sleeps()
    report = _send(cfg, issue_id, fake, sleep=sleeps)
    assert report.sent == 10 and report.failed == 0 and len(fake.calls) == 3
    assert len(sleeps.delays) == 2 and all(0 <= d <= 8 for d in sleeps.delays)
    # attempts are counted in the ledger
    from sqlalchemy import select

    from newsletter.store.tables import sends

    with engine.connect() as conn:
        assert set(conn.execute(select(sends.c.attempts)).scalars()) == {3}


def test_429_retry_after_is_honoured(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 5)
    issue_id = make_issue(cfg)
    fake = FakeProvider([ProviderTransientError("429 Too Many Requests", 429, retry_after=42.0)])
    sleeps = Sleeps()
    report = _send(cfg, issue_id, fake, sleep=sleeps)
    assert report.sent == 5
    # Longer than retry_max_delay, still honoured, plus a random share of it (no herd).
    assert len(sleeps.delays) == 1 and 42.0 <= sleeps.delays[0] <= 63.0


def test_retry_after_spreads_threads_instead_of_a_herd() -> None:
    """Many threads told `Retry-After: 1` at once come back at different times, none early."""
    from tenacity import RetryCallState

    from newsletter.delivery.poster import RetryWait

    waits = []
    for _ in range(50):
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.set_exception((ProviderTransientError, ProviderTransientError("429", 429, 1.0), None))
        waits.append(RetryWait(1.0, 60.0)(state))
    assert min(waits) >= 1.0 and max(waits) <= 2.0
    assert len({round(w, 3) for w in waits}) > 40  # spread, not one instant


def test_transient_exhaustion_defers_and_a_rerun_delivers(setup: tuple[Settings, Engine]) -> None:
    """Past the retry window the rows stay deferred (never failed): partial, then a re-run."""
    cfg, engine = setup
    cfg.delivery.retry_window = timedelta(seconds=30)
    seed(engine, 10)  # exactly one batch
    issue_id = make_issue(cfg)
    fake = FakeProvider([ProviderTransientError("500", 500)] * 1000)
    report = _send(cfg, issue_id, fake)
    assert (report.sent, report.failed, report.deferred) == (0, 0, 10)
    assert report.status == "partial" and "deferred after" in report.errors[0]
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "partial"
    assert len(fake.calls) > cfg.delivery.max_attempts  # retried again within the window
    again = _send(cfg, issue_id, FakeProvider())
    assert again.status == "sent" and again.sent == 10 and again.deferred == 0
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "sent"


def test_outage_within_the_window_delivers_everyone_once(setup: tuple[Settings, Engine]) -> None:
    """A provider down for longer than max_attempts covers: the same send still delivers all."""
    cfg, engine = setup
    emails = seed(engine, 40)
    issue_id = make_issue(cfg)
    fake = FakeProvider([ProviderTransientError("503", 503)] * 25)
    report = _send(cfg, issue_id, fake)
    assert report.status == "sent" and (report.sent, report.deferred) == (40, 0)
    assert sorted(r.email for r in fake.delivered) == sorted(emails)


def test_rejected_batch_fails_and_the_rest_continue(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 30)
    issue_id = make_issue(cfg)
    cfg.delivery.concurrency = 1
    fake = FakeProvider([None, ProviderRejectedError("400: personalizations invalid", 400)])
    report = _send(cfg, issue_id, fake)
    assert (report.sent, report.failed) == (20, 10)
    assert "personalizations invalid" in report.errors[0]
    failed = ledger.emails_with_status(engine, issue_id, "failed")
    assert sorted(failed) == sorted(fake.calls[1])


def test_auth_error_stops_and_a_later_run_resumes(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 50)
    issue_id = make_issue(cfg)
    cfg.delivery.concurrency = 1
    fake = FakeProvider([None, ProviderAuthError("401: bad API key", 401)])
    with pytest.raises(NewsletterError, match="send stopped: 401: bad API key"):
        _send(cfg, issue_id, fake)
    counts = ledger.counts(engine, issue_id)
    assert counts["sent"] == 10 and counts["queued"] == 0 and counts["failed"] == 0
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "sending"
    fixed = FakeProvider()
    report = _send(cfg, issue_id, fixed)
    assert report.status == "sent" and report.sent == 50 and report.already_sent == 10
    assert len(fixed.delivered) == 40
    assert not set(fake.calls[0]) & {r.email for r in fixed.delivered}


def test_uncertain_is_not_resent_unless_asked(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 20)
    issue_id = make_issue(cfg)
    cfg.delivery.concurrency = 1
    fake = FakeProvider([ProviderUncertainError("connection reset after the body was sent")])
    report = _send(cfg, issue_id, fake)
    assert (report.sent, report.uncertain) == (10, 10)
    again = _send(cfg, issue_id, FakeProvider())
    assert again.uncertain == 10 and again.sent_this_run == 0
    resend = FakeProvider()
    final = _send(cfg, issue_id, resend, resend_uncertain=True)
    assert sorted(r.email for r in resend.delivered) == sorted(fake.calls[0])
    assert (final.sent, final.uncertain, final.status) == (20, 0, "sent")


def test_resume_after_a_crash(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 30)
    issue_id = make_issue(cfg)
    issues_repo.upsert_issue(
        engine, issue_id, "sunday", Archive(cfg.archive_dir).load_plan(issue_id).slot, "sending"
    )
    # A killed run left: one batch sent, one posted (outcome unknown), one never posted.
    a = ledger.claim_batch(engine, issue_id, "sunday", 0, 10, "a")
    ledger.mark_posted(engine, "a")
    ledger.mark_sent(engine, "a", "m")
    b = ledger.claim_batch(engine, issue_id, "sunday", a[-1].subscriber_id, 10, "b")
    ledger.mark_posted(engine, "b")
    ledger.claim_batch(engine, issue_id, "sunday", b[-1].subscriber_id, 10, "c")
    Archive(cfg.archive_dir).set_status(issue_id, "sending")
    fake = FakeProvider()
    report = _send(cfg, issue_id, fake)
    assert (report.recovered_released, report.recovered_uncertain) == (10, 10)
    assert len(fake.delivered) == 10 and not {r.email for r in fake.delivered} & {
        m.email for m in a + b
    }
    assert (report.sent, report.uncertain, report.already_sent) == (20, 10, 10)


def test_stop_event_leaves_a_resumable_ledger(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 100)
    issue_id = make_issue(cfg)
    stop = threading.Event()

    class Stopping(FakeProvider):
        def send_batch(self, issue, recipients):  # type: ignore[no-untyped-def]
            if len(self.calls) == 2:
                stop.set()  # as SIGTERM would
            return super().send_batch(issue, recipients)

    first = Stopping()
    report = _send(cfg, issue_id, first, stop=stop)
    assert report.interrupted and report.status == "sending" and report.queued == 0
    second = FakeProvider()
    final = _send(cfg, issue_id, second)
    assert final.status == "sent" and final.sent == 100
    emails = [r.email for r in first.delivered] + [r.email for r in second.delivered]
    assert len(emails) == len(set(emails)) == 100


def test_rate_limit_is_shared_token_bucket() -> None:
    sleeps = Sleeps()
    bucket = TokenBucket(100, clock=sleeps.clock, sleep=sleeps)
    for _ in range(5):
        bucket.acquire(100)
    # 500 messages at 100/s with a 100-message burst: 4 seconds of waiting in all.
    assert sum(sleeps.delays) == pytest.approx(4.0)
    assert TokenBucket(0).acquire(10**6) == 0


def test_rate_limit_applies_to_sends(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    cfg.delivery.rate_limit = 10
    seed(engine, 50)
    issue_id = make_issue(cfg)
    sleeps = Sleeps()
    report = _send(cfg, issue_id, FakeProvider(), sleep=sleeps, clock=sleeps.clock)
    assert report.sent == 50 and sum(sleeps.delays) == pytest.approx(4.0)


def test_status_rules(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 3)
    draft = make_issue(cfg, status="draft")
    with pytest.raises(StateError, match="draft"):
        _send(cfg, draft, FakeProvider())
    cancelled = make_issue(cfg, status="cancelled", day="2026-11-29")
    with pytest.raises(StateError, match="cancelled"):
        _send(cfg, cancelled, FakeProvider())
    unrendered = make_issue(cfg, day="2026-12-06", render=False)
    with pytest.raises(IssueNotFoundError, match="run `newsletter render 2026-12-06-sunday`"):
        _send(cfg, unrendered, FakeProvider())
    with pytest.raises(IssueNotFoundError):
        _send(cfg, "2026-12-13-sunday", FakeProvider())


def test_dry_run_writes_nothing(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 12)
    issue_id = make_issue(cfg)
    fake = FakeProvider()
    report = _send(cfg, issue_id, fake, dry_run=True)
    assert report.dry_run and report.audience == 12 and fake.calls == []
    assert report.sample == {
        "subject": "The week in AI",
        "to": ["user0@example.com", "user1@example.com"],
    }
    assert sum(ledger.counts(engine, issue_id).values()) == 0
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "approved"
    assert not Archive(cfg.archive_dir).file(issue_id, "send.json").exists()


def test_test_to_sends_outside_the_ledger_for_any_status(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 3)
    issue_id = make_issue(cfg, status="draft")
    fake = FakeProvider()
    report = _send(cfg, issue_id, fake, test_to=("Editor@Almanac.example", "user1@example.com"))
    assert report.test and report.sent == 2
    assert fake.issues[0].subject == "[TEST] The week in AI" and fake.issues[0].test
    assert [r.email for r in fake.delivered] == ["editor@almanac.example", "user1@example.com"]
    assert sum(ledger.counts(engine, issue_id).values()) == 0
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "draft"


def test_missing_secret_key_is_one_clear_line(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 1)
    issue_id = make_issue(cfg)
    with pytest.raises(NewsletterError, match="NEWSLETTER_SECRET_KEY is not set"):
        send_issue(
            cfg, Secrets(), issue_id, provider=FakeProvider(), progress=False, log=lambda m: None
        )


def test_postgres_send(engine: Engine, tmp_path: Path) -> None:
    """The same send on each database of the store fixture."""
    cfg = _cfg(tmp_path)
    seed(engine, 35)
    issue_id = make_issue(cfg)
    fake = FakeProvider([ProviderTransientError("503", 503)])
    report = _send(cfg, issue_id, fake, engine=engine)
    assert report.sent == 35 and report.status == "sent"
    assert len({r.email for r in fake.delivered}) == len(fake.delivered) == 35


@dataclass
class PartialResult:
    """A BatchResult naming some recipients (the providers' per-recipient outcomes)."""

    message_id: str | None = "m"
    status_code: int | None = 250
    rejected: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    uncertain: dict[str, str] = field(default_factory=dict)


def test_per_recipient_outcomes(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    emails = seed(engine, 10)
    issue_id = make_issue(cfg)
    calls: list[list[str]] = []

    class Partial(FakeProvider):
        def send_batch(self, issue, recipients):  # type: ignore[no-untyped-def]
            calls.append([r.email for r in recipients])
            if len(calls) == 1:
                return PartialResult(
                    rejected={emails[0]: "550 mailbox unavailable"},
                    uncertain={emails[1]: "connection lost during DATA"},
                    deferred={emails[2]: "451 try later", emails[3]: "451 try later"},
                )
            return PartialResult()

    sleeps = Sleeps()
    report = _send(cfg, issue_id, Partial(), sleep=sleeps)
    assert calls[1] == [emails[2], emails[3]] and len(calls) == 2 and len(sleeps.delays) == 1
    assert (report.sent, report.failed, report.uncertain) == (8, 1, 1)
    assert ledger.emails_with_status(engine, issue_id, "failed") == [emails[0]]
    assert ledger.emails_with_status(engine, issue_id, "uncertain") == [emails[1]]
    assert "1 rejected (e.g. 550 mailbox unavailable)" in report.errors[0]


def test_resend_uncertain_does_not_loop_on_a_flaky_provider(setup: tuple[Settings, Engine]) -> None:
    cfg, engine = setup
    seed(engine, 10)
    issue_id = make_issue(cfg)
    _send(cfg, issue_id, FakeProvider([ProviderUncertainError("reset")]))
    flaky = FakeProvider([ProviderUncertainError("reset")] * 50)
    report = _send(cfg, issue_id, flaky, resend_uncertain=True)
    assert len(flaky.calls) == 1 and report.uncertain == 10

"""The dispatcher: send one approved issue to its audience exactly once.

How "nobody gets two copies" holds, even when the process is killed at any instruction:

* Each batch is written to the ledger as ``queued`` (one transaction, unique per issue and
  subscriber) before anything is posted, so two senders can never claim the same person.
* Right before each request, ``posted_at`` is set and committed. A transient error (429,
  5xx, connection refused: the provider certainly did nothing) clears it again.
* On start, a ``queued`` row with no ``posted_at`` provably never reached the provider: it
  is released and sent again. A ``queued`` row with ``posted_at`` may have been accepted
  (the kill came between the request and the ``sent`` update): it becomes ``uncertain``,
  is reported, and is resent only with ``--resend-uncertain``. The uncertain set is at most
  the batches in flight when the process died (``concurrency`` × ``batch_size``).
* A batch is posted only if ``mark_posted`` took its rows; a concurrent recovery that
  released or settled them makes the owner skip the batch.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from newsletter.archive import Archive, dump_json
from newsletter.config import Secrets, Settings
from newsletter.delivery.audience import RecipientBuilder
from newsletter.delivery.backends import dispatcher_class
from newsletter.delivery.base import (
    OutgoingIssue,
    Provider,
    ProviderAuthError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
    Recipient,
)
from newsletter.delivery.factory import check_credentials, make_provider
from newsletter.delivery.gate import require_checks_passed
from newsletter.delivery.poster import DEV_SECRET_KEY, Log, RetryWait, secret_key
from newsletter.delivery.threads import Dispatcher
from newsletter.errors import InputError, NewsletterError, StateError
from newsletter.models import IssuePlan
from newsletter.store import issues_repo, ledger
from newsletter.store.db import open_store
from newsletter.store.subscribers import BadAddress, get_subscriber, normalise_email

REPORT_FILE = "send.json"
log = logging.getLogger("newsletter.delivery")


class SendReport(BaseModel):
    """The outcome of a send (``issues/<id>/send.json``); ledger totals for the issue."""

    issue_id: str
    provider: str
    status: str
    audience: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    deferred: int = 0
    """Transiently refused until the retry window ran out: the next run retries them."""
    reconciled: int = 0
    """Uncertain rows the provider's events confirmed as sent before a resend."""
    suppressed: int = 0
    already_sent: int = 0
    queued: int = 0
    sent_this_run: int = 0
    batches: int = 0
    recovered_released: int = 0
    recovered_uncertain: int = 0
    duration_s: float = 0.0
    dry_run: bool = False
    test: bool = False
    interrupted: bool = False
    stopped: str | None = None
    errors: list[str] = Field(default_factory=list)
    checks_overridden: list[str] = Field(default_factory=list)
    override_reason: str | None = None
    sample: dict[str, Any] | None = None

    @property
    def to_look_at(self) -> int:
        """Recipients that did not certainly get the issue (failed, uncertain, deferred)."""
        return self.failed + self.uncertain + self.deferred


def resolve_provider(cfg: Settings, secrets: Secrets, name: str | None) -> Provider:
    """Build a provider by name with the providers' factory."""
    return make_provider(cfg, secrets, name)


def outgoing_issue(
    cfg: Settings, plan: IssuePlan, html: str, text: str, *, test: bool = False
) -> OutgoingIssue:
    """The shared part of every message of an issue."""
    subject = f"[TEST] {plan.subject}" if test else plan.subject
    if any(ch in subject for ch in "\r\n\x00"):
        raise InputError(f"{plan.id}: subject: must be one line (it contains a line break)")
    return OutgoingIssue(
        issue_id=plan.id,
        edition=plan.edition,
        subject=subject,
        html=html,
        text=text,
        sender_email=cfg.site.sender.email,
        sender_name=cfg.site.sender.name,
        reply_to=cfg.site.reply_to,
        categories=(plan.edition,),
        test=test,
        list_name=cfg.editions[plan.edition].title if plan.edition in cfg.editions else None,
    )


class _ProviderPool:
    """One provider per sending thread when we build them (SMTP connections are not shared)."""

    def __init__(self, make: Callable[[], Provider] | None, shared: Provider | None) -> None:
        self._make = make
        self._shared = shared
        self._local = threading.local()
        self._all: list[Provider] = []
        self._lock = threading.Lock()

    def get(self) -> Provider:
        if self._shared is not None:
            return self._shared
        provider: Provider | None = getattr(self._local, "provider", None)
        if provider is None:
            assert self._make is not None
            provider = self._make()
            self._local.provider = provider
            with self._lock:
                self._all.append(provider)
        return provider

    def close(self) -> None:
        for provider in self._all:
            with contextlib.suppress(Exception):  # never hide the send's own outcome
                provider.close()


class _Signals:
    """SIGTERM / Ctrl-C set ``stop`` (a second Ctrl-C interrupts at once)."""

    def __init__(self, stop: threading.Event, log: Log) -> None:
        self.stop = stop
        self.log = log
        self.saved: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.log("stopping: finishing the batches in flight (the send can be resumed)")
        self.stop.set()

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)


class SendProgress(Protocol):
    """What the send reports its progress to (the CLI's progress bar, or nothing)."""

    def start(self, total: int) -> None:
        """The number of recipients this run expects to settle."""

    def advance(self, n: int) -> None:
        """``n`` more recipients were settled."""


def _log_default(message: str) -> None:
    log.warning("%s", message)


def _finish(
    archive: Archive, engine: Engine, report: SendReport, *, write: bool = True
) -> SendReport:
    if write:
        data = report.model_dump(mode="json")
        archive.write_text(report.issue_id, REPORT_FILE, dump_json(data))
        issues_repo.save_report(engine, report.issue_id, data)
    return report


def _fill_counts(report: SendReport, engine: Engine, edition: str) -> int:
    """Ledger totals into the report; returns how many eligible people are not yet queued."""
    c = ledger.counts(engine, report.issue_id)
    remaining = ledger.audience_remaining(engine, report.issue_id, edition)
    report.sent = c["sent"]
    report.failed = c["failed"]
    report.uncertain = c["uncertain"]
    report.deferred = c["deferred"]
    report.queued = c["queued"]
    report.suppressed = ledger.suppressed_count(engine, edition)
    report.audience = sum(c.values()) - c["suppressed"] + remaining
    return remaining


def send_test(
    cfg: Settings,
    secrets: Secrets,
    plan: IssuePlan,
    html: str,
    text: str,
    provider: Provider,
    addresses: Iterable[str],
    engine: Engine,
    log: Log,
) -> SendReport:
    """Send the issue (subject prefixed "[TEST] ") to a few addresses, outside the ledger."""
    started = time.perf_counter()
    key = secret_key(secrets, provider.name, log)
    builder = RecipientBuilder(key, cfg.web.public_url, cfg.delivery.unsubscribe_mailto)
    recipients: list[Recipient] = []
    seen: set[str] = set()
    for raw in addresses:
        try:
            email = normalise_email(raw)
        except BadAddress as exc:
            raise InputError(f"--test-to: {exc}") from None
        if email in seen:
            continue
        seen.add(email)
        sub = get_subscriber(engine, email)
        recipients.append(builder.recipient(sub.id if sub else 0, email, sub.name if sub else None))
    issue = outgoing_issue(cfg, plan, html, text, test=True)
    report = SendReport(issue_id=plan.id, provider=provider.name, status=plan.status, test=True)
    report.audience = len(recipients)
    for start in range(0, len(recipients), max(1, provider.max_batch_size)):
        chunk = recipients[start : start + provider.max_batch_size]
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(cfg.delivery.max_attempts),
                wait=RetryWait(cfg.delivery.retry_base_delay, cfg.delivery.retry_max_delay),
                retry=retry_if_exception_type(ProviderTransientError),
                reraise=True,
            ):
                with attempt:
                    result = provider.send_batch(issue, chunk)
            # A provider may refuse some addresses of an accepted batch (an SMTP 5xx to one
            # RCPT): those were not sent, whatever happened to the rest.
            refused = {**result.rejected, **result.deferred, **result.uncertain}
            report.sent += sum(1 for r in chunk if r.email not in refused)
            report.failed += len(refused)
            report.errors.extend(f"{email}: {why}" for email, why in refused.items())
        except ProviderAuthError as exc:
            raise NewsletterError(f"{provider.name}: {exc}") from None
        except (ProviderRejectedError, ProviderTransientError, ProviderUncertainError) as exc:
            report.failed += len(chunk)
            report.errors.append(str(exc))
        report.batches += 1
    report.duration_s = round(time.perf_counter() - started, 3)
    return report


def send_issue(
    cfg: Settings,
    secrets: Secrets,
    issue_id: str,
    *,
    provider: str | Provider | None = None,
    dry_run: bool = False,
    test_to: Sequence[str] = (),
    resend_uncertain: bool = False,
    override_checks: str | None = None,
    progress: SendProgress | bool | None = None,
    engine: Engine | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    log: Log | None = None,
) -> SendReport:
    """Send an approved issue to its audience (or resume a send); see the module docstring.

    ``provider`` is a name (``sendgrid``, ``smtp``, ``outbox``) or a Provider instance.
    ``progress`` receives the expected total and each settled batch (False/None: nothing).
    An issue whose pre-send checks failed is refused unless ``override_checks`` gives a
    reason (recorded in the report). ``sleep``/``clock`` are injectable so tests never wait
    for real backoff. The report's ``status`` is ``sent``, or ``partial`` when recipients
    are left to look at (failed, uncertain or deferred: ``newsletter send`` exits 3).
    """
    try:
        return _send_issue(
            cfg,
            secrets,
            issue_id,
            provider=provider,
            dry_run=dry_run,
            test_to=test_to,
            resend_uncertain=resend_uncertain,
            override_checks=override_checks,
            progress=progress if not isinstance(progress, bool) else None,
            engine=engine,
            sleep=sleep,
            clock=clock,
            stop=stop,
            log=log or _log_default,
        )
    except SQLAlchemyError as exc:
        # The ledger is consistent (every step is one transaction): a rerun resumes.
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise NewsletterError(
            f"{issue_id}: database error during the send ({text[0] if text else type(exc).__name__}); "
            "run the send again to resume"
        ) from None


def reconcile_before_resend(
    cfg: Settings,
    engine: Engine,
    issue_id: str,
    *,
    sleep: Callable[[float], None],
    stop: threading.Event,
    log: Log,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Confirm uncertain rows from the provider's events before any is resent.

    Waits until the newest uncertain row was posted ``delivery.reconcile_after`` ago (events
    arrive late), then marks the rows that a processed/delivered event confirms as ``sent``.
    Returns how many uncertain rows became sent since the call began (webhook included).
    """
    before = ledger.counts(engine, issue_id)["uncertain"]
    if not before:
        return 0
    ledger.reconcile_uncertain(engine, issue_id)
    wait_for = cfg.delivery.reconcile_after.total_seconds()
    newest = ledger.newest_uncertain_post(engine, issue_id)
    if newest is not None:
        left = wait_for - (now() - newest).total_seconds()
        if left > 0:
            log(
                f"{issue_id}: waiting {left:.0f}s for the provider's events before resending "
                f"(delivery.reconcile_after is {wait_for:.0f}s)"
            )
        # Counted by what was slept, not by the clock: an injected sleep (tests) ends it too.
        while left > 0 and not stop.is_set():
            step = min(left, 1.0)
            sleep(step)
            left = min(left - step, wait_for - (now() - newest).total_seconds())
    ledger.reconcile_uncertain(engine, issue_id)
    after = ledger.counts(engine, issue_id)["uncertain"]
    reconciled = max(0, before - after)
    log(f"{issue_id}: {reconciled} of {before} uncertain recipients confirmed by events")
    return reconciled


def _send_issue(
    cfg: Settings,
    secrets: Secrets,
    issue_id: str,
    *,
    provider: str | Provider | None,
    dry_run: bool,
    test_to: Sequence[str],
    resend_uncertain: bool,
    override_checks: str | None,
    progress: SendProgress | None,
    engine: Engine | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    stop: threading.Event | None,
    log: Log,
) -> SendReport:
    started = time.perf_counter()
    archive = Archive(cfg.archive_dir)
    plan = archive.load_plan(issue_id)  # refuses an issue.json whose id is not its folder
    own_engine = engine is None
    engine = engine or open_store(cfg)

    if isinstance(provider, str) or provider is None:
        name = provider or cfg.delivery.provider

        def make() -> Provider:
            return resolve_provider(cfg, secrets, name)

        pool = _ProviderPool(make, None)
    else:
        pool = _ProviderPool(None, provider)
    if not dry_run and (isinstance(provider, str) or provider is None):
        check_credentials(cfg, secrets, provider)
    try:
        if test_to:
            html = archive.read_text(issue_id, "email.html")
            text = archive.read_text(issue_id, "email.txt")
            return send_test(cfg, secrets, plan, html, text, pool.get(), test_to, engine, log)
        if plan.status in ("draft", "cancelled"):
            hint = " (approve it first)" if plan.status == "draft" else ""
            raise StateError(f"{issue_id}: cannot send an issue that is {plan.status}{hint}")
        if plan.status == "sent" and not resend_uncertain:
            first = pool.get() if not dry_run else None
            report = SendReport(
                issue_id=issue_id,
                provider=first.name if first else str(provider or cfg.delivery.provider),
                status="sent",
            )
            _fill_counts(report, engine, plan.edition)
            report.already_sent = report.sent
            return report
        overridden = require_checks_passed(archive, issue_id, override_checks)
        html = archive.read_text(issue_id, "email.html")
        text = archive.read_text(issue_id, "email.txt")
        issue = outgoing_issue(cfg, plan, html, text)
        if dry_run:
            return _dry_run(cfg, secrets, plan, issue, engine, provider, pool, log, started)
        if overridden:
            log(
                f"{issue_id}: sending despite failed checks ({'; '.join(overridden)[:300]}): "
                f"override reason: {override_checks}"
            )

        first = pool.get()
        key = secret_key(secrets, first.name, log)
        builder = RecipientBuilder(key, cfg.web.public_url, cfg.delivery.unsubscribe_mailto)
        batch_size = max(1, min(cfg.delivery.batch_size, first.max_batch_size))

        issues_repo.upsert_issue(engine, plan.id, plan.edition, plan.slot, "sending")
        recovered = ledger.recover(engine, issue_id)
        if recovered.uncertain:
            log(
                f"{issue_id}: {recovered.uncertain} recipients were in flight when an earlier "
                "run stopped: marked uncertain (resend them with --resend-uncertain)"
            )
        already = ledger.counts(engine, issue_id)["sent"]
        if plan.status != "sending":
            archive.set_status(issue_id, "sending")
        report = SendReport(issue_id=issue_id, provider=first.name, status="sending")
        report.already_sent = already
        report.recovered_released = recovered.released
        report.recovered_uncertain = recovered.uncertain
        report.checks_overridden = overridden
        report.override_reason = override_checks if overridden else None

        stop_event = stop or threading.Event()
        with _Signals(stop_event, log):
            to_resend = 0
            if resend_uncertain:
                report.reconciled = reconcile_before_resend(
                    cfg, engine, issue_id, sleep=sleep, stop=stop_event, log=log
                )
                to_resend = ledger.counts(engine, issue_id)["uncertain"]
            if progress is not None:
                # The count costs a pass over the audience: only a progress display needs it.
                c = ledger.counts(engine, issue_id)
                total = ledger.audience_remaining(engine, issue_id, plan.edition)
                progress.start(total + to_resend + c["deferred"])
            dispatcher = dispatcher_class(cfg)(
                cfg,
                engine,
                issue,
                builder,
                pool.get,
                batch_size=batch_size,
                resend_uncertain=to_resend,
                sleep=sleep,
                clock=clock,
                stop=stop_event,
                log=log,
                on_progress=progress.advance if progress is not None else None,
            )
            if not stop_event.is_set():
                dispatcher.run(cfg.delivery.concurrency)

        remaining = _fill_counts(report, engine, plan.edition)
        report.batches = dispatcher.batches
        report.sent_this_run = max(0, report.sent - already)
        report.errors = dispatcher.errors
        report.interrupted = stop_event.is_set() and dispatcher.fatal is None
        report.stopped = dispatcher.fatal
        report.duration_s = round(time.perf_counter() - started, 3)
        done = (
            dispatcher.fatal is None
            and not report.interrupted
            and report.queued == 0
            and remaining == 0
        )
        if done:
            # Everyone was tried; "partial" when some did not certainly get it: a re-run
            # retries the deferred, --resend-uncertain the uncertain, the report names them.
            report.status = "partial" if report.to_look_at else "sent"
            archive.set_status(issue_id, "partial" if report.to_look_at else "sent")
            issues_repo.set_issue_status(engine, issue_id, report.status)
        _finish(archive, engine, report)
        if dispatcher.fatal is not None:
            raise NewsletterError(
                f"{issue_id}: send stopped: {dispatcher.fatal} "
                f"({report.sent} sent; run `newsletter send {issue_id}` again to resume)"
            )
        return report
    finally:
        pool.close()
        if own_engine:
            engine.dispose()


def _dry_run(
    cfg: Settings,
    secrets: Secrets,
    plan: IssuePlan,
    issue: OutgoingIssue,
    engine: Engine,
    provider: str | Provider | None,
    pool: _ProviderPool,
    log: Log,
    started: float,
) -> SendReport:
    """Audience size and one sample payload; writes nothing."""
    prov: Provider | None
    try:
        prov = pool.get()
    except NewsletterError as exc:
        log(f"dry run: provider unavailable ({exc}); showing the generic sample")
        prov = None
    name = prov.name if prov else str(provider or cfg.delivery.provider)
    key = secrets.secret_key.get_secret_value().encode() if secrets.secret_key else DEV_SECRET_KEY
    builder = RecipientBuilder(key, cfg.web.public_url, cfg.delivery.unsubscribe_mailto)
    report = SendReport(issue_id=plan.id, provider=name, status=plan.status, dry_run=True)
    report.audience = ledger.audience_remaining(engine, plan.id, plan.edition)
    report.already_sent = ledger.counts(engine, plan.id)["sent"]
    report.suppressed = ledger.suppressed_count(engine, plan.edition)
    members = ledger.first_audience(engine, plan.id, plan.edition, 2)
    recipients = builder.recipients(members)
    preview = getattr(prov, "preview_payload", None)
    if recipients and callable(preview):
        report.sample = preview(issue, recipients)
    elif recipients:
        report.sample = {
            "subject": issue.subject,
            "from": {"email": issue.sender_email, "name": issue.sender_name},
            "recipients": [
                {
                    "email": r.email,
                    "name": r.name,
                    "values": dict(r.values),
                    "headers": dict(r.headers),
                }
                for r in recipients
            ],
            "html_bytes": len(issue.html.encode()),
            "text_bytes": len(issue.text.encode()),
        }
    report.duration_s = round(time.perf_counter() - started, 3)
    return report


__all__ = [
    "Dispatcher",
    "SendProgress",
    "SendReport",
    "outgoing_issue",
    "reconcile_before_resend",
    "resolve_provider",
    "send_issue",
    "send_test",
]

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
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import FrameType
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from newsletter.archive import Archive, dump_json
from newsletter.config import Secrets, Settings
from newsletter.delivery.audience import RecipientBuilder
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
from newsletter.delivery.poster import (
    DEV_SECRET_KEY,
    BatchOutcome,
    BatchPoster,
    Log,
    RetryWait,
    secret_key,
)
from newsletter.delivery.ratelimit import TokenBucket
from newsletter.errors import InputError, NewsletterError, StateError
from newsletter.models import IssuePlan
from newsletter.store import issues_repo, ledger
from newsletter.store.db import open_store
from newsletter.store.ledger import Claimed
from newsletter.store.subscribers import BadAddress, get_subscriber, normalise_email

REPORT_FILE = "send.json"
MAX_ERRORS = 50


class SendReport(BaseModel):
    """The outcome of a send (``issues/<id>/send.json``); ledger totals for the issue."""

    issue_id: str
    provider: str
    status: str
    audience: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
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
    sample: dict[str, Any] | None = None


def resolve_provider(cfg: Settings, secrets: Secrets, name: str | None) -> Provider:
    """Build a provider by name with the providers' factory."""
    return make_provider(cfg, secrets, name)


def outgoing_issue(
    cfg: Settings, plan: IssuePlan, html: str, text: str, *, test: bool = False
) -> OutgoingIssue:
    """The shared part of every message of an issue."""
    subject = f"[TEST] {plan.subject}" if test else plan.subject
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


class Dispatcher:
    """One send of one issue. Use :func:`send_issue`."""

    def __init__(
        self,
        cfg: Settings,
        engine: Engine,
        issue: OutgoingIssue,
        builder: RecipientBuilder,
        provider_for_thread: Callable[[], Provider],
        *,
        batch_size: int,
        resend_uncertain: int,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        stop: threading.Event,
        log: Log,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.issue = issue
        self.builder = builder
        self.provider_for_thread = provider_for_thread
        self.batch_size = batch_size
        # How many uncertain rows to resend: those found at the start, never the ones this
        # run leaves uncertain again (a flaky provider must not loop forever).
        self.resend_left = resend_uncertain
        self.stop = stop
        self.log = log
        self.on_progress = on_progress
        bucket = TokenBucket(cfg.delivery.rate_limit, clock=clock, sleep=sleep)
        self.poster = BatchPoster(cfg, engine, issue, builder, bucket, sleep=sleep, stop=stop)
        self.errors: list[str] = []
        self.batches = 0
        self.sent_now = 0
        self.fatal: str | None = None

    def deliver(self, batch_id: str, members: Sequence[Claimed]) -> BatchOutcome:
        """Post one claimed batch on this thread's provider (see :class:`BatchPoster`)."""
        return self.poster.post(self.provider_for_thread(), batch_id, members)

    # --- the producer, on the calling thread -------------------------------------------

    def _next_batch(self, after: int) -> tuple[str, list[Claimed], bool]:
        """The next batch: uncertain rows to resend first (if asked), then new audience."""
        batch_id = uuid.uuid4().hex
        if self.resend_left > 0:
            members = ledger.requeue_uncertain(
                self.engine, self.issue.issue_id, min(self.batch_size, self.resend_left), batch_id
            )
            self.resend_left = max(0, self.resend_left - len(members)) if members else 0
            if members:
                return batch_id, members, True
        for _ in range(3):
            members = ledger.claim_batch(
                self.engine,
                self.issue.issue_id,
                self.issue.edition,
                after,
                self.batch_size,
                batch_id,
            )
            if members:
                return batch_id, members, False
            # Nothing claimed: either nobody is left, or a concurrent sender won every row.
            if not ledger.audience_left_after(
                self.engine, self.issue.issue_id, self.issue.edition, after
            ):
                break
        return batch_id, [], False

    def _settle(self, outcome: BatchOutcome) -> None:
        if outcome.status == "sent":
            self.sent_now += outcome.size
        if outcome.error:
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(f"batch {outcome.batch_id[:8]}: {outcome.error}")
            self.log(f"batch {outcome.batch_id[:8]} ({outcome.size} recipients): {outcome.error}")
        if outcome.status in ("auth", "crash", "config") and self.fatal is None:
            self.fatal = outcome.error
            self.stop.set()
        if self.on_progress is not None and outcome.status not in ("released", "skipped", "auth"):
            self.on_progress(outcome.size)

    def run(self, concurrency: int) -> None:
        """Claim batches and post them on ``concurrency`` threads until none are left."""
        after = 0
        in_flight: set[Future[BatchOutcome]] = set()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send") as pool:
            try:
                while not self.stop.is_set():
                    batch_id, members, resent = self._next_batch(after)
                    if not members:
                        break
                    if not resent:
                        after = max(after, members[-1].subscriber_id)
                    while len(in_flight) >= concurrency:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        for fut in done:
                            self._settle(fut.result())
                    if self.stop.is_set():
                        ledger.release_batch(self.engine, batch_id)
                        break
                    self.batches += 1
                    in_flight.add(pool.submit(self.deliver, batch_id, members))
            finally:
                for fut in in_flight:
                    self._settle(fut.result())


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


def _progress_bar(total: int, enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from newsletter.cli.common import console

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "–/s")

    return Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


def _log_default(message: str) -> None:
    from newsletter.cli.common import console

    console.print(message, markup=False, soft_wrap=True)


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
                    provider.send_batch(issue, chunk)
            report.sent += len(chunk)
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
    progress: bool = True,
    engine: Engine | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    log: Log | None = None,
) -> SendReport:
    """Send an approved issue to its audience (or resume a send); see the module docstring.

    ``provider`` is a name (``sendgrid``, ``smtp``, ``outbox``) or a Provider instance.
    ``sleep``/``clock`` are injectable so tests never wait for real backoff.
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
            progress=progress,
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


def _send_issue(
    cfg: Settings,
    secrets: Secrets,
    issue_id: str,
    *,
    provider: str | Provider | None,
    dry_run: bool,
    test_to: Sequence[str],
    resend_uncertain: bool,
    progress: bool,
    engine: Engine | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    stop: threading.Event | None,
    log: Log,
) -> SendReport:
    started = time.perf_counter()
    archive = Archive(cfg.archive_dir)
    plan = archive.load_plan(issue_id)
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
        html = archive.read_text(issue_id, "email.html")
        text = archive.read_text(issue_id, "email.txt")
        issue = outgoing_issue(cfg, plan, html, text)
        if dry_run:
            return _dry_run(cfg, secrets, plan, issue, engine, provider, pool, log, started)

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

        stop_event = stop or threading.Event()
        # The count costs a pass over the audience: only the progress bar needs it up front.
        total = ledger.audience_remaining(engine, issue_id, plan.edition) if progress else 0
        to_resend = ledger.counts(engine, issue_id)["uncertain"] if resend_uncertain else 0
        total += to_resend
        with _Signals(stop_event, log), _progress_bar(total, progress) as bar:
            task = bar.add_task("send", total=total or None)
            backend: type[Dispatcher] = Dispatcher
            if cfg.delivery.backend == "celery":
                from newsletter.delivery.celery_send import CeleryDispatcher

                backend = CeleryDispatcher
            dispatcher = backend(
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
                on_progress=lambda n: bar.advance(task, n),
            )
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
            report.status = "sent"
            archive.set_status(issue_id, "sent")
            issues_repo.set_issue_status(engine, issue_id, "sent")
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
    "SendReport",
    "outgoing_issue",
    "resolve_provider",
    "send_issue",
    "send_test",
]

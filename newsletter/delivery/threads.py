"""The thread backend: claim batches on the calling thread, post them on a thread pool.

:class:`Dispatcher` is also the base of the Celery backend
(:mod:`newsletter.delivery.celery_send`): both share how the next batch is chosen (uncertain
rows to resend, new audience, deferred rows to retry) and how outcomes are settled.

Transient refusals (429, 5xx, connection refused) are never final. A batch retries
``delivery.max_attempts`` times with jittered backoff; if the provider still refuses, its rows
become ``deferred`` (certainly unsent) and the dispatcher queues them again after a pause,
until ``delivery.retry_window`` has passed since the send started. What is still deferred
then stays so: the issue ends ``partial`` and the next run of the send retries them.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.delivery.audience import RecipientBuilder
from newsletter.delivery.base import OutgoingIssue, Provider
from newsletter.delivery.poster import BatchOutcome, BatchPoster, Log, spread
from newsletter.delivery.ratelimit import TokenBucket
from newsletter.store import ledger
from newsletter.store.ledger import Claimed

MAX_ERRORS = 50
MAX_PAUSE = 1.0
"""The longest single sleep while waiting to retry deferred rows (a stop is noticed sooner)."""

ProgressFn = Callable[[int], None]
"""Called with the number of recipients each settled batch accounts for."""


class Dispatcher:
    """One send of one issue on a thread pool. Use :func:`newsletter.delivery.send_issue`."""

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
        on_progress: ProgressFn | None,
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
        self.sleep = sleep
        self._clock = clock
        self.skew = 0.0  # time slept that the clock did not see (an injected sleep)
        self.stop = stop
        self.log = log
        self.on_progress = on_progress
        self.deadline = clock() + cfg.delivery.retry_window.total_seconds()
        self.retry_at = clock()  # deferred rows of an earlier run are retried at once
        self.rng = random.Random()
        bucket = TokenBucket(cfg.delivery.rate_limit, clock=clock, sleep=sleep)
        self.poster = BatchPoster(
            cfg,
            engine,
            issue,
            builder,
            bucket,
            sleep=sleep,
            stop=stop,
            clock=self.clock,
            deadline=self.deadline,
        )
        self.errors: list[str] = []
        self.batches = 0
        self.sent_now = 0
        self.retried = 0
        self.fatal: str | None = None

    def deliver(self, batch_id: str, members: Sequence[Claimed]) -> BatchOutcome:
        """Post one claimed batch on this thread's provider (see :class:`BatchPoster`)."""
        return self.poster.post(self.provider_for_thread(), batch_id, members)

    # --- the producer, on the calling thread -------------------------------------------

    def _next_batch(self, after: int) -> tuple[str, list[Claimed], bool]:
        """The next batch: uncertain rows to resend (if asked), new audience, deferred rows.

        Returns ``(batch_id, members, requeued)``; ``requeued`` batches do not move the
        audience cursor ``after``.
        """
        batch_id = uuid.uuid4().hex
        if self.resend_left > 0:
            members = ledger.requeue(
                self.engine,
                self.issue.issue_id,
                "uncertain",
                min(self.batch_size, self.resend_left),
                batch_id,
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
        if self.retry_wait() == 0.0:
            members = ledger.requeue(
                self.engine, self.issue.issue_id, "deferred", self.batch_size, batch_id
            )
            if members:
                self.retried += len(members)
                return batch_id, members, True
        return batch_id, [], False

    def retry_wait(self) -> float | None:
        """Seconds until deferred rows may be retried: 0 now, None when there is nothing to
        retry or the retry window is over."""
        now = self.clock()
        if now >= self.deadline or self.stop.is_set():
            return None
        if not ledger.counts(self.engine, self.issue.issue_id)["deferred"]:
            return None
        return max(0.0, min(self.retry_at, self.deadline) - now)

    def clock(self) -> float:
        """The send's clock, also advanced by the pauses an injected sleep skipped."""
        return self._clock() + self.skew

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds`` (at most MAX_PAUSE at a time, so a stop is seen soon)."""
        step = min(seconds, MAX_PAUSE)
        if step > 0 and not self.stop.is_set():
            before = self._clock()
            self.sleep(step)
            self.skew += max(0.0, step - (self._clock() - before))

    def _settle(self, outcome: BatchOutcome) -> None:
        if outcome.status == "sent":
            self.sent_now += outcome.size
        if outcome.status == "deferred":
            # Give the provider time before the rows come round again; jittered per batch so
            # that deferred batches do not return together.
            hint = outcome.retry_after or 0.0
            pause = max(hint, self.cfg.delivery.retry_max_delay / 2)
            self.retry_at = max(self.retry_at, self.clock() + spread(pause, 0.0, self.rng))
        if outcome.error:
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(f"batch {outcome.batch_id[:8]}: {outcome.error}")
            self.log(f"batch {outcome.batch_id[:8]} ({outcome.size} recipients): {outcome.error}")
        if outcome.status in ("auth", "crash", "config") and self.fatal is None:
            self.fatal = outcome.error
            self.stop.set()
        if self.on_progress is not None and outcome.status in ("sent", "failed", "uncertain"):
            self.on_progress(outcome.size)

    def run(self, concurrency: int) -> None:
        """Claim batches and post them on ``concurrency`` threads until none are left."""
        after = 0
        in_flight: set[Future[BatchOutcome]] = set()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send") as pool:
            try:
                while not self.stop.is_set():
                    batch_id, members, requeued = self._next_batch(after)
                    if not members:
                        if in_flight:  # their outcomes may defer rows to retry: look again
                            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                            for fut in done:
                                self._settle(fut.result())
                            continue
                        pause = self.retry_wait()
                        if pause is None:
                            break
                        self.pause(pause)
                        continue
                    if not requeued:
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


__all__ = ["MAX_ERRORS", "Dispatcher", "ProgressFn"]

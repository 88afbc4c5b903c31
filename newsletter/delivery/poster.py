"""Post one claimed batch and record its outcome in the ledger: the step every backend shares.

The thread dispatcher and the Celery workers both call :class:`BatchPoster`, so retries,
``posted_at`` bookkeeping and the mapping of provider errors to ledger states live in one place
(the guarantees are described in :mod:`newsletter.delivery.dispatcher`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from newsletter.config import Secrets, Settings
from newsletter.delivery.audience import RecipientBuilder
from newsletter.delivery.base import (
    BatchResult,
    OutgoingIssue,
    Provider,
    ProviderAuthError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
    Recipient,
)
from newsletter.delivery.ratelimit import RateLimiter
from newsletter.errors import ConfigError
from newsletter.store import ledger
from newsletter.store.ledger import Claimed

DEV_SECRET_KEY = b"almanac-outbox-dev-key"  # only for the outbox provider, with a warning
Log = Callable[[str], None]


class _Interrupted(Exception):
    """Raised inside a retry wait when the send is stopping."""


@dataclass
class BatchOutcome:
    """What became of one claimed batch (the result of :meth:`BatchPoster.post`)."""

    batch_id: str
    size: int
    status: str  # sent | failed | uncertain | deferred | skipped | released | auth | crash
    error: str | None = None
    retry_after: float | None = None
    """For ``deferred``: the provider's last Retry-After hint, in seconds."""


def spread(hint: float, base: float, rng: random.Random) -> float:
    """A wait of at least ``hint``, plus up to half of it again (and ``base``) at random.

    Every thread throttled at once gets the same Retry-After: waiting exactly that long would
    send them all back together (a thundering herd), so each draws its own extra wait.
    """
    return hint + rng.uniform(0, max(base, hint / 2))


class RetryWait:
    """Exponential backoff with full jitter; never shorter than the provider's hint."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.rng = rng or random.Random()
        self.jitter = wait_random_exponential(multiplier=base, max=cap)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None and hint > 0:
            return spread(float(hint), self.base, self.rng)
        return float(self.jitter(state))


class _StopAt(stop_base):
    """Stop retrying once the send's retry window is over."""

    def __init__(self, poster: BatchPoster) -> None:
        self.poster = poster

    def __call__(self, retry_state: RetryCallState) -> bool:
        deadline = self.poster.deadline
        return deadline is not None and self.poster.clock() >= deadline


class BatchPoster:
    """Posts one claimed batch with retries and records the outcome in the ledger.

    The one place that does "post and record": the thread backend calls it on its sending
    threads, the Celery backend in each ``send_batch`` task. It holds no per-batch state,
    so one poster serves every thread of a process.
    """

    def __init__(
        self,
        cfg: Settings,
        engine: Engine,
        issue: OutgoingIssue,
        builder: RecipientBuilder,
        bucket: RateLimiter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.issue = issue
        self.builder = builder
        self.bucket = bucket
        self.sleep = sleep
        self.stop = stop or threading.Event()
        self.clock = clock
        # Past the send's retry window a transient refusal defers the batch at once.
        self.deadline = deadline
        self.wait = RetryWait(cfg.delivery.retry_base_delay, cfg.delivery.retry_max_delay)

    def _pause(self, seconds: float) -> None:
        if self.stop.is_set():
            raise _Interrupted
        self.sleep(seconds)
        if self.stop.is_set():
            raise _Interrupted

    def post(self, provider: Provider, batch_id: str, members: Sequence[Claimed]) -> BatchOutcome:
        """Post one claimed batch with retries and settle it in the ledger."""
        if self.stop.is_set():
            return BatchOutcome(batch_id, ledger.release_batch(self.engine, batch_id), "released")
        recipients = self.builder.recipients(members)
        last_error: str | None = None
        partial: list[bool] = []  # non-empty once a result named some recipients
        notes: list[str] = []

        def attempt() -> BatchResult | None:
            nonlocal recipients, last_error
            self.bucket.acquire(len(recipients))
            taken = ledger.mark_posted(self.engine, batch_id)
            if taken == 0:
                return None
            if taken != len(recipients):
                recipients = self.builder.recipients(ledger.queued_members(self.engine, batch_id))
            try:
                result = provider.send_batch(self.issue, recipients)
            except ProviderTransientError as exc:
                last_error = str(exc)
                ledger.unmark_posted(self.engine, batch_id, last_error)
                raise
            deferred = self._settle_partial(batch_id, recipients, result, partial, notes)
            if deferred is not None:
                partial.append(True)
            if deferred:
                # Certainly not sent (e.g. an SMTP 4xx): post just those again after a wait.
                recipients = deferred
                raise ProviderTransientError(f"{len(deferred)} recipients deferred")
            return result

        retrying = Retrying(
            stop=stop_after_attempt(self.cfg.delivery.max_attempts) | _StopAt(self),
            wait=self.wait,
            retry=retry_if_exception_type(ProviderTransientError),
            sleep=self._pause,
            reraise=True,
        )
        try:
            result = retrying(attempt)
        except _Interrupted:
            return BatchOutcome(batch_id, ledger.release_batch(self.engine, batch_id), "released")
        except ProviderTransientError as exc:
            # Never final: the rows are certainly unsent and retried later in the retry window
            # (or by the next run of the send).
            msg = f"deferred after {retrying.statistics.get('attempt_number', 1)} attempts: {exc}"
            n = ledger.mark_batch(self.engine, batch_id, "deferred", msg)
            return BatchOutcome(batch_id, n, "deferred", msg, getattr(exc, "retry_after", None))
        except ProviderRejectedError as exc:
            msg = f"rejected: {exc}"
            return BatchOutcome(
                batch_id, ledger.mark_batch(self.engine, batch_id, "failed", msg), "failed", msg
            )
        except ProviderAuthError as exc:
            ledger.unmark_posted(self.engine, batch_id, str(exc))
            released = ledger.release_batch(self.engine, batch_id)
            return BatchOutcome(batch_id, released, "auth", str(exc))
        except ProviderUncertainError as exc:
            msg = f"outcome unknown: {exc}"
            return BatchOutcome(
                batch_id,
                ledger.mark_batch(self.engine, batch_id, "uncertain", msg),
                "uncertain",
                msg,
            )
        except Exception as exc:  # a provider bug: the request may have gone out
            msg = f"outcome unknown ({type(exc).__name__}: {exc})"
            n = ledger.mark_batch(self.engine, batch_id, "uncertain", msg)
            return BatchOutcome(batch_id, n, "crash", msg)
        if result is None:
            return BatchOutcome(batch_id, 0, "skipped")
        if partial:
            return BatchOutcome(batch_id, len(members), "sent", "; ".join(notes) or None)
        n = ledger.mark_sent(self.engine, batch_id, result.message_id)
        return BatchOutcome(batch_id, n, "sent")

    def _settle_partial(
        self,
        batch_id: str,
        recipients: list[Recipient],
        result: BatchResult,
        partial: list[bool],
        notes: list[str],
    ) -> list[Recipient] | None:
        """Apply per-recipient outcomes (providers that can refuse some addresses only).

        Returns None for a clean result of a batch never split (the caller marks it sent in
        one UPDATE); otherwise settles every row of this attempt by address and returns the
        deferred recipients (to post again).
        """
        rejected: dict[str, str] = dict(getattr(result, "rejected", None) or {})
        deferred: dict[str, str] = dict(getattr(result, "deferred", None) or {})
        uncertain: dict[str, str] = dict(getattr(result, "uncertain", None) or {})
        if not (rejected or deferred or uncertain or partial):
            return None
        outcomes: dict[str, tuple[str, str | None]] = {}
        for email, reason in rejected.items():
            outcomes[email] = ("failed", f"rejected: {reason}")
        for email, reason in uncertain.items():
            outcomes[email] = ("uncertain", f"outcome unknown: {reason}")
        for email, reason in deferred.items():
            outcomes[email] = ("queued", f"deferred: {reason}")
        named = set(outcomes)
        for r in recipients:
            if r.email not in named:
                outcomes[r.email] = ("sent", None)
        ledger.settle_emails(self.engine, batch_id, outcomes, result.message_id)
        if rejected:
            notes.append(f"{len(rejected)} rejected (e.g. {next(iter(rejected.values()))})")
        if uncertain:
            notes.append(f"{len(uncertain)} uncertain")
        return [r for r in recipients if r.email in deferred]


def secret_key(secrets: Secrets, provider_name: str, log: Log) -> bytes:
    if secrets.secret_key is not None:
        return secrets.secret_key.get_secret_value().encode()
    if provider_name == "outbox":
        log("warning: NEWSLETTER_SECRET_KEY is not set; outbox links use a development key")
        return DEV_SECRET_KEY
    raise ConfigError(
        "NEWSLETTER_SECRET_KEY is not set: unsubscribe links cannot be signed (set it in the environment)"
    )


__all__ = [
    "DEV_SECRET_KEY",
    "BatchOutcome",
    "BatchPoster",
    "Log",
    "RetryWait",
    "secret_key",
    "spread",
]

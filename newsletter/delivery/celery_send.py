"""The sender's side of the Celery backend: claim batches here, post them on workers.

``newsletter send`` with ``delivery.backend: celery`` runs :class:`CeleryDispatcher` in place
of the thread pool. Everything before and after (recovery of an earlier run, status rules,
``send.json``) is the same code as the thread backend's.

* Batches are claimed in the ledger exactly as the thread backend does (one transaction,
  ``queued``, before anything is posted); one ``send_batch`` task per claimed batch, at
  most ``delivery.celery.max_in_flight`` enqueued and unfinished at a time.
* Completion is read from the ledger (a batch is done when none of its rows is ``queued``)
  and each task's outcome (errors, a fatal 401) from the result backend.
* Ctrl-C / SIGTERM: no more batches are enqueued and the enqueued ones not yet posted are
  released (their tasks then find nothing to do); batches being posted finish on the
  workers. The ledger stays resumable, as with threads.
* A worker that dies mid-batch never answers. While it posts a batch a worker beats every
  ``heartbeat_interval`` (10 s) in the result backend; a started batch whose beats stop for
  ``heartbeat_timeout`` (45 s) is given up: rows never posted are released (and claimed again
  in new batches), rows maybe posted become ``uncertain``. So a dead worker is noticed within
  a minute, not after ``stall_timeout``. If the worker was only slow, its late post finds
  nothing to take or corrects the rows to ``sent``. Tasks never started are covered by the
  stall rule: when no batch has finished for ``stall_timeout`` seconds, every batch in flight
  is given up the same way; a second stall in a row stops the send (no workers?).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from newsletter.delivery.celery_app import TASK_NAME, make_app, task_message
from newsletter.delivery.factory import PROVIDER_NAMES
from newsletter.delivery.poster import BatchOutcome
from newsletter.delivery.threads import Dispatcher
from newsletter.errors import ConfigError, NewsletterError
from newsletter.store import ledger

RESULT_GRACE = 5.0
"""Seconds to wait for a task's result once the ledger shows its batch settled."""

_OUTCOME_FIELDS = {f.name for f in fields(BatchOutcome)}


@dataclass
class _Flight:
    result: Any  # celery AsyncResult
    size: int
    settled_at: float | None = None
    beat: object = None  # the worker's last heartbeat counter, and when it changed (our clock)
    beat_seen: float | None = None


def safe_url(url: str) -> str:
    """The URL without its password (for messages)."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


class CeleryDispatcher(Dispatcher):
    """One send of one issue through Celery workers (see the module docstring)."""

    def run(self, concurrency: int) -> None:
        """Claim batches and have workers post them until none are left (or a stop)."""
        conf = self.cfg.delivery.celery
        # Workers retry transient refusals until the send's retry window ends (wall clock:
        # they run on other machines).
        self.wall_deadline = time.time() + max(0.0, self.deadline - self.clock())
        self._rescan = False
        provider = self.provider_for_thread().name
        if provider not in PROVIDER_NAMES:
            raise ConfigError(
                f"delivery.backend: celery sends through a named provider "
                f"({', '.join(PROVIDER_NAMES)}), not {provider!r}"
            )
        app = make_app(self.cfg)
        self._check_broker(app)
        task = app.tasks[TASK_NAME]
        stall = conf.stall_timeout or conf.task_time_limit
        in_flight: dict[str, _Flight] = {}
        after = 0
        exhausted = False
        cancelled = False
        stalls = 0
        last_progress = time.monotonic()
        try:
            while True:
                while (
                    not self.stop.is_set() and not exhausted and len(in_flight) < conf.max_in_flight
                ):
                    batch_id, members, resent = self._next_batch(after)
                    if not members:
                        exhausted = True
                        break
                    if not resent:
                        after = max(after, members[-1].subscriber_id)
                    message = task_message(
                        self.cfg, self.issue, batch_id, provider, self.wall_deadline
                    )
                    try:
                        result = task.apply_async(
                            args=[message], queue=conf.queue, task_id=batch_id
                        )
                    except Exception as exc:
                        ledger.release_batch(self.engine, batch_id)
                        self._fail(f"cannot enqueue on {safe_url(conf.broker_url)}: {exc}")
                        break
                    self.batches += 1
                    in_flight[batch_id] = _Flight(result, len(members))
                if self.stop.is_set() and not cancelled:
                    cancelled = True
                    for batch_id in in_flight:  # not yet posted: the task will find nothing
                        ledger.release_batch(self.engine, batch_id)
                if not in_flight:
                    pause = self.retry_wait()  # deferred rows to retry in the window?
                    if pause is None:
                        break
                    self.pause(pause)
                    exhausted = False
                    continue
                now = time.monotonic()
                try:
                    progressed = self._collect(in_flight, cancelled, now)
                except SQLAlchemyError:
                    raise
                except Exception as exc:  # the result backend went away
                    url = safe_url(conf.result_backend or conf.broker_url)
                    self._fail(f"lost the result backend {url}: {exc}")
                    self._give_up(in_flight, "its outcome could not be read")
                    continue
                if self._rescan:  # rows of a dead worker's batch were released: claim again
                    self._rescan = False
                    after, exhausted = 0, False
                if progressed:
                    last_progress = now
                    stalls = 0
                elif now - last_progress >= stall:
                    stalls += 1
                    self._give_up(in_flight, f"no worker finished it in {stall:.0f}s")
                    after, exhausted, last_progress = 0, False, now
                    if stalls >= 2:
                        self._fail(
                            f"no batch finished in {stall:.0f}s twice in a row: is a worker "
                            f"running on queue {conf.queue!r} (`newsletter worker`)?"
                        )
                else:
                    time.sleep(conf.poll_interval)
        finally:
            for flight in in_flight.values():
                with contextlib.suppress(Exception):
                    flight.result.forget()

    def _check_broker(self, app: Any) -> None:
        url = self.cfg.delivery.celery.broker_url
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=5)
        except Exception as exc:
            raise NewsletterError(
                f"delivery.celery.broker_url: cannot reach {safe_url(url)} ({exc})"
            ) from None

    def _fail(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
            self.log(message)
        self.stop.set()

    def _collect(self, in_flight: dict[str, _Flight], cancelled: bool, now: float) -> bool:
        """Settle the batches that finished; True when at least one did."""
        still_open = ledger.open_batches(self.engine, self.issue.issue_id)
        done: list[BatchOutcome] = []
        for batch_id, flight in list(in_flight.items()):
            outcome: BatchOutcome | None = None
            if flight.result.ready():
                outcome = self._outcome(batch_id, flight)
            elif batch_id in still_open and self._worker_died(flight, now):
                rec = ledger.recover_batch(self.engine, batch_id)
                timeout = self.cfg.delivery.celery.heartbeat_timeout
                outcome = BatchOutcome(
                    batch_id,
                    rec.uncertain,
                    "lost",
                    f"its worker stopped answering (no heartbeat for {timeout:.0f}s): "
                    f"{rec.uncertain} uncertain, {rec.released} released",
                )
                self._rescan = self._rescan or rec.released > 0
            elif batch_id not in still_open:
                if cancelled:
                    outcome = BatchOutcome(batch_id, 0, "released")
                elif flight.settled_at is None:
                    flight.settled_at = now
                elif now - flight.settled_at >= RESULT_GRACE:
                    outcome = BatchOutcome(batch_id, flight.size, "settled")
            if outcome is not None:
                del in_flight[batch_id]
                with contextlib.suppress(Exception):
                    flight.result.forget()  # also ends the wait for a result still to come
                done.append(outcome)
        for outcome in done:
            self._settle(outcome)
        return bool(done)

    def _worker_died(self, flight: _Flight, now: float) -> bool:
        """True when a started batch's heartbeats stopped for ``heartbeat_timeout``."""
        try:
            state = flight.result.state
            info = flight.result.info if state == "PROGRESS" else None
        except Exception:  # the result backend hiccuped: judge at the next poll
            return False
        if state != "PROGRESS" or not isinstance(info, dict):
            return False
        beat = info.get("beat")
        if beat != flight.beat or flight.beat_seen is None:
            flight.beat, flight.beat_seen = beat, now
            return False
        return now - flight.beat_seen >= self.cfg.delivery.celery.heartbeat_timeout

    def _outcome(self, batch_id: str, flight: _Flight) -> BatchOutcome:
        value = flight.result.get(timeout=5, propagate=False)
        failed = flight.result.failed()
        if failed or not isinstance(value, dict):
            # The task raised (a database error on the worker, a bug): its rows are settled
            # like a lost batch's, and the send stops.
            rec = ledger.recover_batch(self.engine, batch_id)
            reason = f"{type(value).__name__}: {value}" if failed else repr(value)
            return BatchOutcome(batch_id, rec.uncertain, "crash", f"worker error ({reason})")
        outcome = BatchOutcome(**{k: v for k, v in value.items() if k in _OUTCOME_FIELDS})
        if outcome.status == "config":
            ledger.recover_batch(self.engine, batch_id)
        return outcome

    def _give_up(self, in_flight: dict[str, _Flight], reason: str) -> None:
        """Settle every batch in flight as lost (see the module docstring)."""
        for batch_id in list(in_flight):
            rec = ledger.recover_batch(self.engine, batch_id)
            with contextlib.suppress(Exception):
                in_flight.pop(batch_id).result.forget()
            error = None
            if rec.uncertain or rec.released:
                error = f"{reason}: {rec.uncertain} uncertain, {rec.released} released"
            self._settle(BatchOutcome(batch_id, rec.uncertain, "lost", error))


__all__ = ["CeleryDispatcher", "safe_url"]

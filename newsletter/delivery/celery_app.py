"""The optional Celery backend's app and its one task, ``newsletter.send_batch``.

Only the sender (``newsletter send`` with ``delivery.backend: celery``, see
:mod:`newsletter.delivery.celery_send`) and ``newsletter worker`` import this module; Celery
itself (``pip install 'almanac-newsletter[celery]'``) is imported here and nowhere else.

Why the exactly-once guarantee survives Celery's at-least-once delivery:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
  the task returned, so a worker that dies mid-task leaves it to be delivered again (after the
  broker's visibility timeout). A task delivered twice does no harm: the ledger decides.
  Its rows are either already settled, released, or carry ``posted_at`` — and
  :func:`newsletter.store.ledger.mark_posted` takes only unposted ``queued`` rows, atomically,
  so at most one delivery ever posts a batch. A batch a dead worker posted stays ``queued``
  with ``posted_at`` until the sender gives it up as lost and marks it ``uncertain``.
* Each message carries the rendered issue (html + text, tens of KB), so workers need the
  database but not the archive: nothing to share between machines but the config.
* Recipients are rebuilt on the worker from the ledger rows of the batch (the message names
  the batch, not the people), then the same :class:`~newsletter.delivery.poster.BatchPoster`
  as the thread backend posts and records them.
* JSON only, for messages and results (no pickle from the network).

The rate limit (``delivery.rate_limit``) holds for all workers together: it is kept in Redis
(:class:`~newsletter.delivery.ratelimit.RedisRateLimit`, key ``newsletter:rate:<queue>``).
With ``delivery.celery.shared_rate_limit: false`` (or a broker other than Redis) it is a token
bucket per worker process, and N worker processes may send N × rate_limit per second.

``task_time_limit`` is enforced by Celery only in a prefork pool; ``newsletter worker`` runs a
threads (or solo) pool, where a batch is bounded by ``delivery.max_attempts``, the retry
delays and the provider's own timeouts. The sender uses the limit to size the broker's
visibility timeout and, by default, its stall timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from newsletter.config import Secrets, Settings, load_config
from newsletter.delivery.audience import RecipientBuilder
from newsletter.delivery.base import OutgoingIssue, Provider
from newsletter.delivery.poster import BatchOutcome, BatchPoster, secret_key
from newsletter.delivery.ratelimit import RateLimiter, RedisRateLimit, TokenBucket
from newsletter.errors import ConfigError, NewsletterError

TASK_NAME = "newsletter.send_batch"
MESSAGE_VERSION = 1


def require_celery() -> None:
    """Fail with one clear line when Celery is not installed."""
    try:
        import celery  # noqa: F401
    except ImportError:
        raise ConfigError(
            "delivery.backend: celery needs Celery: pip install 'almanac-newsletter[celery]'"
        ) from None


def store_fingerprint(cfg: Settings) -> str:
    """A short digest of the storage URL: sender and worker must share one database."""
    return hashlib.sha256(cfg.storage_url.encode()).hexdigest()[:16]


def visibility_timeout(cfg: Settings) -> float:
    """How long a task may stay unacknowledged before the broker redelivers it.

    Longer than any task can run (twice the time limit), so a live worker's task is not
    delivered a second time; a dead worker's tasks come back after it.
    """
    return max(2 * cfg.delivery.celery.task_time_limit, 60.0)


def make_app(cfg: Settings) -> Any:
    """The Celery app for this config, with the ``send_batch`` task registered."""
    require_celery()
    from celery import Celery

    conf = cfg.delivery.celery
    app = Celery(
        "newsletter",
        broker=conf.broker_url,
        backend=conf.result_backend or conf.broker_url,
        set_as_current=False,
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=conf.queue,
        task_time_limit=conf.task_time_limit,
        result_expires=max(3600, int(conf.task_time_limit) * 4),
        broker_transport_options={"visibility_timeout": visibility_timeout(cfg)},
        result_backend_transport_options={"visibility_timeout": visibility_timeout(cfg)},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=False,  # no shared pidbox keys; nothing uses it
        worker_redirect_stdouts=False,
        enable_utc=True,
    )
    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(
        _send_batch_task
    )
    return app


def task_message(
    cfg: Settings,
    issue: OutgoingIssue,
    batch_id: str,
    provider: str,
    deadline: float | None = None,
) -> dict[str, Any]:
    """The JSON body of one ``send_batch`` task (``deadline``: end of the retry window, epoch)."""
    data = asdict(issue)
    data["categories"] = list(issue.categories)
    return {
        "v": MESSAGE_VERSION,
        "batch_id": batch_id,
        "provider": provider,
        "store": store_fingerprint(cfg),
        "issue": data,
        "deadline": deadline,
    }


class _WorkerState:
    """What one worker process keeps between tasks: config, engine, rate limit, providers."""

    def __init__(self, cfg: Settings) -> None:
        from newsletter.store.db import open_store

        self.cfg = cfg
        self.secrets = Secrets.from_env()
        self.engine = open_store(cfg)
        self.bucket: RateLimiter = TokenBucket(cfg.delivery.rate_limit)
        conf = cfg.delivery.celery
        redis_broker = conf.broker_url.startswith(("redis://", "rediss://"))
        if cfg.delivery.rate_limit > 0 and conf.shared_rate_limit and redis_broker:
            import redis

            self.bucket = RedisRateLimit(
                redis.Redis.from_url(conf.broker_url),
                f"newsletter:rate:{conf.queue}",
                cfg.delivery.rate_limit,
            )
        self.local = threading.local()
        self.builders: dict[str, RecipientBuilder] = {}

    def provider(self, name: str) -> Provider:
        """One provider per worker thread and name (SMTP connections are not shared)."""
        from newsletter.delivery.factory import make_provider

        cache: dict[str, Provider] = self.local.__dict__.setdefault("providers", {})
        if name not in cache:
            cache[name] = make_provider(self.cfg, self.secrets, name)
        return cache[name]

    def builder(self, provider_name: str) -> RecipientBuilder:
        if provider_name not in self.builders:
            key = secret_key(self.secrets, provider_name, lambda _m: None)
            d = self.cfg
            self.builders[provider_name] = RecipientBuilder(
                key, d.web.public_url, d.delivery.unsubscribe_mailto
            )
        return self.builders[provider_name]


_state: _WorkerState | None = None
_state_lock = threading.Lock()
_worker_cfg: Settings | None = None


def _worker_state() -> _WorkerState:
    global _state
    with _state_lock:
        if _state is None:
            _state = _WorkerState(_worker_cfg or load_config())
        return _state


def run_batch(message: dict[str, Any]) -> dict[str, Any]:
    """The body of the ``send_batch`` task: post the batch named in ``message`` once.

    Returns the :class:`BatchOutcome` as a dict (the sender reads it from the result backend).
    """
    batch_id = str(message.get("batch_id", ""))
    if message.get("v") != MESSAGE_VERSION:
        return asdict(BatchOutcome(batch_id, 0, "config", "message version not understood"))
    state = _worker_state()
    if message.get("store") != store_fingerprint(state.cfg):
        return asdict(
            BatchOutcome(
                batch_id,
                0,
                "config",
                f"worker {socket.gethostname()} uses another storage.url than the sender "
                "(every machine needs the same config)",
            )
        )
    from newsletter.store import ledger

    data = dict(message["issue"])
    data["categories"] = tuple(data.get("categories") or ())
    issue = OutgoingIssue(**data)
    members = ledger.queued_members(state.engine, batch_id)
    if not members:  # settled, released or recovered already: a late or repeated delivery
        return asdict(BatchOutcome(batch_id, 0, "skipped"))
    name = str(message["provider"])
    deadline = message.get("deadline")
    poster = BatchPoster(
        state.cfg,
        state.engine,
        issue,
        state.builder(name),
        state.bucket,
        clock=time.time,
        deadline=float(deadline) if isinstance(deadline, int | float) else None,
    )
    outcome = poster.post(state.provider(name), batch_id, members)
    return asdict(outcome)


class Heartbeat:
    """Beats in the result backend while a task runs, so the sender can tell a dead worker.

    Every ``interval`` seconds the task's state is stored as ``PROGRESS`` with a growing
    ``beat`` counter. The sender notes when the counter last changed (on its own clock, so
    machines' clocks need not agree); a started batch whose beats stop for
    ``heartbeat_timeout`` is given up as lost (:mod:`newsletter.delivery.celery_send`).
    The thread is stopped and joined before the task returns, so the final result is never
    overwritten.
    """

    def __init__(self, app: Any, task_id: str | None, interval: float) -> None:
        self.app = app
        self.task_id = task_id
        self.interval = interval
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        beat = 0
        while not self.done.is_set():
            beat += 1
            # A missed beat is harmless; the next one may get through.
            with contextlib.suppress(Exception):
                self.app.backend.store_result(
                    self.task_id, {"beat": beat, "worker": socket.gethostname()}, "PROGRESS"
                )
            self.done.wait(self.interval)

    def __enter__(self) -> Heartbeat:
        if self.task_id:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()


def _send_batch_task(task: Any, message: dict[str, Any]) -> dict[str, Any]:
    interval = _worker_state().cfg.delivery.celery.heartbeat_interval
    with Heartbeat(task.app, getattr(task.request, "id", None), interval):
        return run_batch(message)


def run_worker(
    cfg: Settings,
    *,
    concurrency: int = 1,
    pool: str = "threads",
    loglevel: str = "INFO",
    config_path: Path | None = None,
) -> None:
    """Run a Celery worker for this config's queue in this process (until stopped).

    SIGTERM or Ctrl-C is a warm shutdown: the tasks in progress finish first.
    """
    global _worker_cfg
    if pool not in ("threads", "solo"):
        raise ConfigError(f"--pool: must be threads or solo (got {pool!r})")
    _worker_cfg = cfg
    if config_path is not None:
        os.environ["NEWSLETTER_CONFIG"] = str(config_path)
    app = make_app(cfg)
    # Fail early with one line when the database is unreachable.
    try:
        _worker_state()
    except Exception as exc:
        raise NewsletterError(f"worker: cannot open the store ({exc})") from None
    node = f"newsletter-{os.getpid()}@{socket.gethostname()}"
    argv = [
        "worker",
        f"--pool={pool}",
        f"--concurrency={1 if pool == 'solo' else max(1, concurrency)}",
        f"--queues={cfg.delivery.celery.queue}",
        f"--hostname={node}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    try:
        app.worker_main(argv=argv)
    finally:
        if _state is not None:
            _state.engine.dispose()


__all__ = [
    "TASK_NAME",
    "Heartbeat",
    "make_app",
    "require_celery",
    "run_batch",
    "run_worker",
    "store_fingerprint",
    "task_message",
    "visibility_timeout",
]

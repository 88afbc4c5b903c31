"""The Celery backend with real workers (subprocesses) on the real Redis at 127.0.0.1:6379.

Each test has its own queue name (a uuid) and deletes only its own Redis keys; every worker
is terminated in a ``finally``, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, write_config

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings, load_config
from newsletter.delivery.dispatcher import send_issue
from newsletter.delivery.outbox import delivered
from newsletter.errors import ConfigError, NewsletterError
from newsletter.store import issues_repo, ledger
from newsletter.store.db import open_store
from tests.store_fixtures import clear, make_issue, seed

REDIS_URL = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AUDIENCE = 200
BATCH = 20
TASK_ID = re.compile(r"newsletter\.send_batch\[([0-9a-f]{32})\] received")
KILLER = ROOT / "tests" / "fakes" / "celery_worker.py"


def _unavailable() -> str | None:
    try:
        import celery  # noqa: F401
        import redis
    except ImportError as exc:
        return f"celery[redis] is not installed ({exc.name})"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} is unreachable ({type(exc).__name__})"
    return None


def _cleanup(queue: str, batch_ids: list[str]) -> None:
    """Delete this test's keys only: its queue, its bindings, its results, its unacked."""
    import redis

    r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    for key in r.scan_iter(match=f"*{queue}*"):
        r.delete(key)
    for batch_id in batch_ids:
        r.delete(f"celery-task-meta-{batch_id}")
    for tag, raw in r.hscan_iter("unacked"):
        with contextlib.suppress(ValueError, TypeError):
            _message, _exchange, routing_key = json.loads(raw)
            if routing_key == queue:
                r.hdel("unacked", tag)
                r.zrem("unacked_index", tag)
    r.close()


@pytest.fixture
def queue() -> Iterator[str]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    yield f"newsletter-test-{uuid.uuid4().hex[:12]}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["NEWSLETTER_SECRET_KEY"] = "test-secret-key-for-the-celery-test"
    env.pop("NEWSLETTER_CONFIG", None)
    return env


def _setup(tmp_path: Path, queue: str, url: str | None = None) -> tuple[Settings, Path, str]:
    sections: dict[str, dict[str, object]] = {
        "delivery": {
            "backend": "celery",
            "batch_size": BATCH,
            "max_attempts": 3,
            "celery": {
                "broker_url": REDIS_URL,
                "queue": queue,
                "task_time_limit": 30,
                "stall_timeout": 3,
                "heartbeat_interval": 0.2,
                "heartbeat_timeout": 1.5,
                "max_in_flight": 4,
                "poll_interval": 0.05,
            },
        }
    }
    if url is not None:
        sections["storage"] = {"url": url}
    config = write_config(tmp_path, **sections)
    cfg = load_config(config)
    engine = open_store(cfg)
    clear(engine)
    seed(engine, AUDIENCE)
    engine.dispose()
    return cfg, config, make_issue(cfg)


class Workers:
    """Worker subprocesses, each logging to its own file; all stopped on exit."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, concurrency: int, *, kill_at: int | None = None, delay: float = 0.0
    ) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"worker-{len(self.procs)}.log"
        prefix = [sys.executable, "-m", "newsletter"]
        if kill_at is not None or delay:
            prefix = [sys.executable, str(KILLER), "--delay", str(delay)]
            prefix += ["--kill-at", str(kill_at)] if kill_at is not None else []
            prefix += ["--"]
        cmd = [*prefix, "worker", "--config", str(self.config), "-c", str(concurrency)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        return proc

    def task_ids(self) -> set[str]:
        """Every task the workers received (their results are this test's keys)."""
        ids: set[str] = set()
        for log in self.tmp_path.glob("worker-*.log"):
            ids.update(TASK_ID.findall(log.read_text(errors="replace")))
        return ids

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@contextlib.contextmanager
def workers(tmp_path: Path, config: Path, cfg: Settings, queue: str) -> Iterator[Workers]:
    pool = Workers(tmp_path, config)
    try:
        yield pool
    finally:
        pool.stop()
        _cleanup(queue, sorted(pool.task_ids()))


def _send(config: Path, issue_id: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "newsletter", "send", issue_id, "--config", str(config)]
    return subprocess.Popen(
        [*cmd, "--json"], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, dict[str, object], str]:
    out, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert out, f"no report (exit {proc.returncode}):\n{text[-3000:]}"
    return proc.returncode, json.loads(out), text


def _received(cfg: Settings, issue_id: str) -> Counter[str]:
    folder = cfg.path(cfg.delivery.outbox.dir) / issue_id
    return Counter(entry["email"] for entry in delivered(folder))


@pytest.mark.celery
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_workers_send_everyone_exactly_once(
    tmp_path: Path, queue: str, database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_schema_url") if database == "postgres" else None
    cfg, config, issue_id = _setup(tmp_path, queue, url)
    with workers(tmp_path, config, cfg, queue) as pool:
        pool.start(2)
        pool.start(2)
        code, report, err = _finish(_send(config, issue_id))
    assert code == 0, err[-3000:]
    received = _received(cfg, issue_id)
    audience = {f"user{i}@example.com" for i in range(AUDIENCE)}
    assert set(received) == audience and set(received.values()) == {1}
    engine = open_store(cfg)
    try:
        counts = ledger.counts(engine, issue_id)
    finally:
        engine.dispose()
    assert counts["sent"] == AUDIENCE and sum(counts.values()) == AUDIENCE
    assert report["status"] == "sent" and report["batches"] == AUDIENCE // BATCH
    saved = json.loads(Archive(cfg.archive_dir).read_text(issue_id, "send.json"))
    for key in ("audience", "sent", "sent_this_run"):
        assert saved[key] == report[key] == AUDIENCE
    assert (saved["failed"], saved["uncertain"], saved["queued"]) == (0, 0, 0)
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "sent"


@pytest.mark.celery
def test_a_worker_killed_mid_batch_never_causes_a_second_copy(tmp_path: Path, queue: str) -> None:
    cfg, config, issue_id = _setup(tmp_path, queue)
    with workers(tmp_path, config, cfg, queue) as pool:
        # The only worker at first: it sends one batch, then dies inside the second one,
        # after the provider took it and before the ledger heard.
        doomed = pool.start(1, kill_at=1)
        sender = _send(config, issue_id)
        try:
            assert doomed.wait(timeout=30) == -signal.SIGKILL
            pool.start(2)
            code, report, err = _finish(sender)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.communicate(timeout=10)
        assert code == 3, err[-3000:]  # 3: done, some recipients are uncertain
        assert "its worker stopped answering (no heartbeat for 2s)" in err
        again_code, again, again_err = _finish(_send(config, issue_id))
    received = _received(cfg, issue_id)
    assert not {e: n for e, n in received.items() if n > 1}, "second copies"
    engine = open_store(cfg)
    try:
        sent = set(ledger.emails_with_status(engine, issue_id, "sent"))
        uncertain = set(ledger.emails_with_status(engine, issue_id, "uncertain"))
        counts = ledger.counts(engine, issue_id)
    finally:
        engine.dispose()
    audience = {f"user{i}@example.com" for i in range(AUDIENCE)}
    assert counts["queued"] == 0 and counts["failed"] == 0
    assert sent | uncertain == audience and not sent & uncertain
    assert sent <= set(received) and audience - set(received) <= uncertain
    # The dead worker's one batch in flight, and nothing else, is uncertain (it did arrive).
    assert len(uncertain) == BATCH and uncertain <= set(received)
    assert report["status"] == "partial" and report["queued"] == 0
    assert (report["sent"], report["uncertain"]) == (AUDIENCE - BATCH, BATCH)
    assert again_code == 3, again_err[-3000:]
    assert again["already_sent"] == AUDIENCE - BATCH and again["uncertain"] == BATCH


@pytest.mark.celery
def test_sigterm_stops_enqueueing_and_the_send_resumes(tmp_path: Path, queue: str) -> None:
    cfg, config, issue_id = _setup(tmp_path, queue)
    log = cfg.path(cfg.delivery.outbox.dir) / issue_id / "delivered.log"
    with workers(tmp_path, config, cfg, queue) as pool:
        pool.start(2, delay=0.3)
        sender = _send(config, issue_id)
        try:
            deadline = time.monotonic() + 30
            while not log.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            sender.send_signal(signal.SIGTERM)
            code, report, err = _finish(sender)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.communicate(timeout=10)
        assert code == 130, err[-3000:]
        assert report["interrupted"] and report["status"] == "sending"
        # Batches being posted finished on the worker; the others were released.
        assert report["queued"] == 0 and report["uncertain"] == 0
        assert 0 < report["sent"] < AUDIENCE
        final_code, final, final_err = _finish(_send(config, issue_id))
    assert final_code == 0, final_err[-3000:]
    assert final["status"] == "sent" and final["sent"] == AUDIENCE
    received = _received(cfg, issue_id)
    assert len(received) == AUDIENCE and set(received.values()) == {1}


def test_config_defaults_to_threads_and_validates_celery_keys(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    assert cfg.delivery.backend == "threads"
    assert cfg.delivery.celery.broker_url == "redis://127.0.0.1:6379/0"
    assert cfg.delivery.celery.queue == "newsletter-send"
    bad = write_config(tmp_path, delivery={"backend": "rq"})
    with pytest.raises(ConfigError, match=r"delivery\.backend: must be one of"):
        load_config(bad)
    typo = write_config(tmp_path, delivery={"celery": {"brokr_url": "redis://x"}})
    with pytest.raises(ConfigError, match=r"delivery\.celery\.brokr_url: unknown key"):
        load_config(typo)


def test_unreachable_broker_is_one_clear_line(tmp_path: Path) -> None:
    pytest.importorskip("celery", reason="celery[redis] is not installed")
    cfg = load_config(
        write_config(
            tmp_path,
            delivery={
                "backend": "celery",
                "celery": {"broker_url": "redis://:hunter2@127.0.0.1:1/0"},
            },
        )
    )
    engine = open_store(cfg)
    seed(engine, 3)
    issue_id = make_issue(cfg)
    try:
        with pytest.raises(NewsletterError, match="cannot reach redis://") as err:
            send_issue(cfg, Secrets(), issue_id, progress=False, engine=engine, log=lambda m: None)
        assert "hunter2" not in str(err.value)
        assert ledger.counts(engine, issue_id)["queued"] == 0
    finally:
        engine.dispose()


@pytest.fixture
def worker_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The worker's per-process state, reset around the test (run_batch runs in-process)."""
    from newsletter.delivery import celery_app

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-for-the-celery-test")
    monkeypatch.setattr(celery_app, "_state", None)
    try:
        yield
    finally:
        if celery_app._state is not None:
            celery_app._state.engine.dispose()
        celery_app._state = None
        celery_app._worker_cfg = None


def test_a_task_delivered_again_never_posts_again(tmp_path: Path, worker_state: None) -> None:
    from newsletter.delivery import celery_app
    from newsletter.delivery.dispatcher import outgoing_issue

    cfg = load_config(write_config(tmp_path, delivery={"batch_size": 10}))
    celery_app._worker_cfg = cfg
    engine = open_store(cfg)
    try:
        seed(engine, 15)
        issue_id = make_issue(cfg)
        archive = Archive(cfg.archive_dir)
        issue = outgoing_issue(
            cfg,
            archive.load_plan(issue_id),
            archive.read_text(issue_id, "email.html"),
            archive.read_text(issue_id, "email.txt"),
        )
        plan = archive.load_plan(issue_id)
        issues_repo.upsert_issue(engine, issue_id, plan.edition, plan.slot, "sending")
        ledger.claim_batch(engine, issue_id, "sunday", 0, 10, "b1")
        # What the broker carries: JSON, so the round trip is part of the test.
        message = json.loads(json.dumps(celery_app.task_message(cfg, issue, "b1", "outbox")))
        assert celery_app.run_batch(message) == {
            "batch_id": "b1",
            "size": 10,
            "status": "sent",
            "error": None,
            "retry_after": None,
        }
        assert celery_app.run_batch(message)["status"] == "skipped"
        assert sorted(_received(cfg, issue_id).values()) == [1] * 10
        # A batch a dead worker posted: a redelivery leaves it for the sender to give up.
        members = ledger.claim_batch(engine, issue_id, "sunday", 10, 10, "b2")
        ledger.mark_posted(engine, "b2")
        again = json.loads(json.dumps(celery_app.task_message(cfg, issue, "b2", "outbox")))
        assert celery_app.run_batch(again)["status"] == "skipped"
        assert len(_received(cfg, issue_id)) == 10
        assert ledger.recover_batch(engine, "b2") == ledger.Recovery(0, len(members))
        # A worker configured with another database refuses the task.
        other = dict(message, store="0" * 16)
        refused = celery_app.run_batch(other)
        assert refused["status"] == "config" and "storage.url" in refused["error"]
        assert ledger.counts(engine, issue_id) == {
            **dict.fromkeys(ledger.counts(engine, issue_id), 0),
            "sent": 10,
            "uncertain": 5,
        }
    finally:
        engine.dispose()


@pytest.mark.celery
def test_redis_rate_limit_is_shared_by_every_worker(queue: str) -> None:
    import redis

    from newsletter.delivery.ratelimit import RedisRateLimit

    client = redis.Redis.from_url(REDIS_URL)
    key = f"newsletter:rate:{queue}"
    waits: list[float] = []
    try:
        # Two workers' limiters on one key: 100/s with a burst of 100, whoever asks.
        first = RedisRateLimit(client, key, 100, sleep=waits.append)
        second = RedisRateLimit(client, key, 100, sleep=waits.append)
        assert first.acquire(100) == 0.0
        assert second.acquire(100) == pytest.approx(1.0, abs=0.25)
        assert first.acquire(50) == pytest.approx(1.5, abs=0.25)
        assert len(waits) == 2 and 0 < client.pttl(key) <= 3600  # expires when idle
        assert RedisRateLimit(client, key, 0).acquire(10**6) == 0.0
    finally:
        client.delete(key)
        client.close()


def test_workers_choose_the_shared_rate_limit(tmp_path: Path) -> None:
    pytest.importorskip("redis", reason="celery[redis] is not installed")
    from newsletter.delivery.celery_app import _WorkerState
    from newsletter.delivery.ratelimit import RedisRateLimit, TokenBucket

    for shared, kind in ((True, RedisRateLimit), (False, TokenBucket)):
        delivery = {"rate_limit": 50, "celery": {"queue": "q", "shared_rate_limit": shared}}
        state = _WorkerState(load_config(write_config(tmp_path, delivery=delivery)))
        try:
            assert isinstance(state.bucket, kind)
        finally:
            state.engine.dispose()

"""Housekeeping jobs of the scheduler: expired signups and old rate-limit hits are purged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from newsletter.config import Settings
from newsletter.scheduling.logs import log_event

PURGE_EVERY = timedelta(hours=1)


def purge_signups(cfg: Settings) -> None:
    """Remove pending signups older than ``signup.confirm_ttl`` (a job: logs, never raises)."""
    from newsletter.store.db import open_store
    from newsletter.store.signups import purge_expired

    try:
        counts = purge_expired(open_store(cfg), cfg.signup.confirm_ttl)
    except Exception as exc:
        log_event("signup.purge.error", level=40, reason=f"{type(exc).__name__}: {exc}")
        return
    log_event("signup.purge", **counts.to_json())


def add_maintenance_jobs(sched: Any, cfg: Settings) -> None:
    """Add the housekeeping jobs to an APScheduler scheduler."""
    from apscheduler.triggers.interval import IntervalTrigger

    sched.add_job(
        purge_signups,
        IntervalTrigger(seconds=int(PURGE_EVERY.total_seconds()), timezone="UTC"),
        args=[cfg],
        id="signup-purge",
        name="purge expired signups",
        replace_existing=True,
    )

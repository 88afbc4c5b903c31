"""The adapters between the scheduler and the real stage functions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import Secrets, load_config
from newsletter.errors import NewsletterError
from newsletter.scheduling import Notice, SlotRunner
from newsletter.scheduling.logs import JsonFormatter, KeyValueFormatter
from newsletter.scheduling.pipeline import (
    RealSteps,
    SendInterrupted,
    read_alerts,
    real_render,
    render_failures,
    summarize,
)
from newsletter.scheduling.runner import human
from tests.conftest import write_config


@dataclass
class Check:
    name: str
    status: str
    detail: str


@dataclass
class Rendered:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]


def test_render_failures() -> None:
    assert render_failures(None) == []
    assert render_failures(Rendered([Check("size", "warn", "99 KB")])) == []
    bad = Rendered([Check("size", "fail", "130 KB: Gmail clips at 102 KB")])
    assert render_failures(bad) == ["size: 130 KB: Gmail clips at 102 KB"]


def test_real_render_raises_on_a_failed_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import newsletter.rendering as rendering

    bad = Rendered([Check("html-lang", "fail", "<html> has no lang attribute")])
    monkeypatch.setattr(rendering, "render_issue", lambda cfg, iid: bad, raising=False)
    cfg = load_config(write_config(tmp_path))
    with pytest.raises(NewsletterError, match="html-lang: <html> has no lang"):
        real_render(cfg, "2026-11-22-sunday")


class Report:
    def __init__(self, status: str, interrupted: bool = False, errors: list[str] | None = None):
        self.data = {"status": status, "audience": 3, "sent": 2, "failed": 0, "duration_s": 0.5}
        self.status, self.interrupted, self.errors = status, interrupted, errors or []

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return self.data


def test_summarize_counts_only() -> None:
    assert summarize(Report("sent")) == "sent: audience=3, sent=2, failed=0"


@pytest.mark.parametrize(
    ("report", "error"),
    [
        (Report("sent"), None),
        (Report("sending", interrupted=True), SendInterrupted),
        (Report("sending", errors=["provider refused credentials"]), NewsletterError),
    ],
)
def test_real_send_reads_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, report: Report, error: type[Exception] | None
) -> None:
    import newsletter.delivery as delivery

    seen: dict[str, Any] = {}

    def fake_send(cfg: Any, secrets: Any, iid: str, **kwargs: Any) -> Report:
        seen.update(kwargs)
        return report

    monkeypatch.setattr(delivery, "send_issue", fake_send, raising=False)
    cfg = load_config(write_config(tmp_path))
    stop = threading.Event()
    steps = RealSteps(Secrets(), stop)
    if error is None:
        assert steps.send(cfg, "2026-11-22-sunday").startswith("sent:")
    else:
        with pytest.raises(error):
            steps.send(cfg, "2026-11-22-sunday")
    assert seen["stop"] is stop and seen["progress"] is False


def test_runner_shares_its_stop_event_with_the_real_send(tmp_path: Path) -> None:
    runner = SlotRunner(load_config(write_config(tmp_path)))
    send = runner.pipeline.send
    assert getattr(send, "__self__", None) is not None
    assert send.__self__.stop is runner.stop  # type: ignore[attr-defined]


def test_real_notify_records_the_alert_even_without_editors(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, site={"editors": []}))
    slot = datetime(2026, 11, 22, 8, tzinfo=UTC)
    notice = Notice("missed", "sunday", "2026-11-22-sunday", slot, "missed it", "https://x/y")
    RealSteps(Secrets()).notify(cfg, notice)
    [alert] = read_alerts(cfg)
    assert alert["kind"] == "missed" and alert["issue_id"] == "2026-11-22-sunday"


def test_log_formats() -> None:
    import json
    import logging

    record = logging.LogRecord("newsletter.scheduling", logging.INFO, "", 0, "send.done", (), None)
    record.fields = {"issue": "2026-11-22-sunday", "detail": "sent: sent=3", "at": datetime(2026, 11, 22, 8, tzinfo=UTC)}  # fmt: skip
    line = KeyValueFormatter().format(record)
    assert line.endswith(
        'INFO send.done issue=2026-11-22-sunday detail="sent: sent=3" at=2026-11-22T08:00:00+00:00'
    )
    data = json.loads(JsonFormatter().format(record))
    assert data["event"] == "send.done" and data["issue"] == "2026-11-22-sunday"
    assert data["at"] == "2026-11-22T08:00:00+00:00"


def test_human_durations() -> None:
    assert human(timedelta(hours=1)) == "1h"
    assert human(timedelta(minutes=90)) == "1h30m"
    assert human(timedelta(seconds=45)) == "45s"

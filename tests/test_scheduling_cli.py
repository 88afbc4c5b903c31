"""``newsletter schedule list | run``, ``status`` and ``approve``; SIGTERM stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.archive import Archive
from newsletter.config import load_config
from newsletter.scheduling import Notice, SlotRunner, SlotStore
from newsletter.scheduling.pipeline import record_alert
from tests.cli_support import run_cli as cli
from tests.conftest import ROOT, write_config
from tests.scheduling_support import SUPPORT_FILE, FakePipeline, lines

SLOT = datetime(2026, 11, 22, 8, tzinfo=UTC)
IID = "2026-11-22-sunday"


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, site={"first_issue": "2026-11-19"})


def test_schedule_list_json_in_zone_and_utc(
    capsys: pytest.CaptureFixture[str], cfg_path: Path
) -> None:
    code, out, _ = cli(capsys, "--config", str(cfg_path), "schedule", "list", "--json", "--now", "2026-03-25T00:00:00Z", "--count", "2")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    sunday = next(e for e in data["editions"] if e["edition"] == "sunday")
    assert sunday["timezone"] == "Europe/London"
    assert sunday["next_send"] == {"local": "2026-03-29T08:00:00+01:00", "utc": "2026-03-29T07:00:00+00:00"}  # fmt: skip
    assert sunday["next_assemble"]["utc"] == "2026-03-29T04:00:00+00:00"
    assert [s["issue_id"] for s in sunday["slots"]] == ["2026-03-29-sunday", "2026-04-05-sunday"]
    midweek = next(e for e in data["editions"] if e["edition"] == "midweek")
    assert midweek["next_send"]["utc"] == "2026-03-25T07:00:00+00:00"


def test_schedule_list_human(capsys: pytest.CaptureFixture[str], cfg_path: Path) -> None:
    code, out, _ = cli(capsys, "--config", str(cfg_path), "schedule", "list", "--now", "2026-11-22T00:00:00+00:00")  # fmt: skip
    assert code == 0
    assert "sunday: 0 8 * * sun Europe/London" in out
    assert (
        "2026-11-22-sunday  assemble 2026-11-22T05:00:00+00:00  send 2026-11-22T08:00:00+00:00"
        in out
    )


@pytest.mark.parametrize(
    "args",
    [
        ("schedule", "list", "--now", "2026-11-22T08:00"),
        ("schedule", "list", "--now", "yesterday"),
        ("schedule", "run", "--now", "2026-11-22T08:00:00Z"),
    ],
)
def test_bad_now_is_bad_input(
    capsys: pytest.CaptureFixture[str], cfg_path: Path, args: tuple[str, ...]
) -> None:
    code, _, err = cli(capsys, "--config", str(cfg_path), *args)
    assert code == 2
    assert "--now" in err and "Traceback" not in err


def test_run_once_when_nothing_is_due(capsys: pytest.CaptureFixture[str], cfg_path: Path) -> None:
    code, out, _ = cli(capsys, "--config", str(cfg_path), "schedule", "run", "--once", "--json", "--now", "2026-11-22T04:00:00Z")  # fmt: skip
    assert code == 0
    assert json.loads(out) == []


def test_approve(capsys: pytest.CaptureFixture[str], cfg_path: Path, tmp_path: Path) -> None:
    cfg = load_config(cfg_path)
    FakePipeline(tmp_path / "fx").assemble(cfg, "sunday", SLOT)
    code, _, err = cli(capsys, "--config", str(cfg_path), "approve", IID)
    assert code == 0 and err.strip() == f"{IID}: approved (slot 2026-11-22T08:00:00+00:00)"
    assert Archive(cfg.archive_dir).load_plan(IID).status == "approved"
    assert cli(capsys, "--config", str(cfg_path), "approve", IID)[0] == 0  # no-op
    Archive(cfg.archive_dir).set_status(IID, "sent")
    code, _, err = cli(capsys, "--config", str(cfg_path), "approve", IID)
    assert code == 1 and "cannot approve an issue that is sent" in err
    assert cli(capsys, "--config", str(cfg_path), "approve", "2026-11-29-sunday")[0] == 2


def test_status_shows_runs_issues_report_and_alerts(
    capsys: pytest.CaptureFixture[str], cfg_path: Path, tmp_path: Path
) -> None:
    cfg = load_config(cfg_path)
    fake = FakePipeline(tmp_path / "fx")
    runner = SlotRunner(cfg, pipeline=fake.pipeline())
    runner.run_due(SLOT - timedelta(hours=3), ["sunday"])
    runner.run_due(SLOT, ["sunday"])  # held: not approved
    Archive(cfg.archive_dir).write_text(IID, "send.json", json.dumps({"sent": 3, "failed": 0}))
    record_alert(cfg, Notice("held", "sunday", IID, SLOT, "held for approval", "https://x/y"))
    code, out, _ = cli(capsys, "--config", str(cfg_path), "status", "--json", "--now", "2026-11-22T08:10:00Z")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    sunday = next(e for e in data["editions"] if e["edition"] == "sunday")
    assert [(r["step"], r["status"]) for r in sunday["last_runs"]] == [("send", "held"), ("assemble", "done")]  # fmt: skip
    assert sunday["next_send"]["utc"] == "2026-11-29T08:00:00+00:00"
    assert data["issues"] == [{"id": IID, "edition": "sunday", "slot": "2026-11-22T08:00:00+00:00", "status": "draft"}]  # fmt: skip
    assert data["last_send_report"] == {"issue_id": IID, "report": {"sent": 3, "failed": 0}}
    assert data["alerts"][-1]["kind"] == "held"
    code, out, _ = cli(capsys, "--config", str(cfg_path), "status")
    assert code == 0 and f"{IID} send: held" in out and "last send report" in out


def test_sigterm_lets_the_send_in_flight_finish(tmp_path: Path) -> None:
    """A real scheduler process: its start-up catch-up sends; SIGTERM arrives mid-send."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    path = write_config(
        tmp_path,
        site={"first_issue": "2026-01-04"},
        editions={
            # due every minute: the most recent slot is always inside the grace window
            "sunday": {"schedule": "* * * * *", "timezone": "UTC", "auto_approve": True},
            "midweek": {"schedule": "0 7 1 1 *", "timezone": "UTC"},
        },
        scheduling={"log_json": True},
    )
    effects = tmp_path / "effects"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(SUPPORT_FILE), "serve", str(path), str(effects), "1.5"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not lines(effects / "send-start.log") and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        assert lines(effects / "send-start.log"), (
            proc.stderr.read() if proc.poll() is not None else ""
        )  # type: ignore[union-attr]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(lines(effects / "send.log")) == 1  # the send in flight finished
    cfg = load_config(path)
    iid = lines(effects / "send.log")[0].split()[0]
    assert iid.startswith(now.date().isoformat()) or iid.endswith("-sunday")
    run = SlotStore.open(cfg).get(iid, "send")
    assert run is not None and run.status == "done"
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "scheduler.start" in names and names[-1] == "scheduler.stopped"
    assert "scheduler.stopping" in names
    outcome = next(e for e in events if e["event"] == "job.outcome" and e.get("step") == "send")
    assert outcome["issue"] == iid and outcome["outcome"] == "done" and outcome["job"] == "catch-up"

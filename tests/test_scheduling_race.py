"""Two real scheduler processes on one database: one issue and one send per slot, never two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.config import Settings, load_config
from newsletter.scheduling import SlotStore
from newsletter.store.tables import slot_runs
from tests.conftest import ROOT, write_config
from tests.scheduling_support import SUPPORT_FILE as SUPPORT
from tests.scheduling_support import lines
from tests.store_fixtures import pg_schema

SLOT = datetime(2026, 11, 22, 8, tzinfo=UTC)


def race(cfg_path: Path, effects: Path, now: datetime, tag: str) -> list[list[dict[str, str]]]:
    """Start two processes, release them at the same moment, return each one's outcomes."""
    go = effects / f"go-{tag}"
    ready = effects / "ready.log"
    before = len(lines(ready))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        str(SUPPORT),
        "run-due",
        str(cfg_path),
        str(effects),
        now.isoformat(),
        str(go),
    ]
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(lines(ready)) < before + 2 and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.02)
        go.parent.mkdir(parents=True, exist_ok=True)
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def check_exactly_once(cfg: Settings, cfg_path: Path, effects: Path) -> None:
    # Round 1: both wake at slot − lead: one assembles, the other sees the claim.
    first = race(cfg_path, effects, SLOT - timedelta(hours=3), "assemble")
    statuses = sorted(o["status"] for r in first for o in r if o["edition"] == "sunday")
    assert statuses in (["busy", "done"], ["done", "skipped"])
    # midweek's last slot (Wed 18th) was never sent: exactly one process records it missed
    missed = sorted(o["status"] for r in first for o in r if o["edition"] == "midweek")
    assert missed in (["busy", "missed"], ["missed", "skipped"])
    assert len(lines(effects / "assemble.log")) == 1
    # Round 2: both wake at the slot (auto_approve): one sends, the other does not.
    second = race(cfg_path, effects, SLOT + timedelta(seconds=1), "send")
    sends = sorted(
        o["status"] for r in second for o in r if o["step"] == "send" and o["edition"] == "sunday"
    )
    assert sends in (["busy", "done"], ["done", "skipped"])
    assert len(lines(effects / "assemble.log")) == 1
    assert len(lines(effects / "send.log")) == 1
    assert len(lines(effects / "send-start.log")) == 1
    engine = SlotStore.open(cfg).engine
    with engine.connect() as conn:
        rows = conn.execute(select(slot_runs.c.step, slot_runs.c.status)).fetchall()
    engine.dispose()
    assert sorted(tuple(r) for r in rows) == [
        ("assemble", "done"),
        ("send", "done"),
        ("send", "missed"),
    ]
    notices = [json.loads(x) for x in lines(effects / "notify.log")]
    assert sorted(n["kind"] for n in notices) == ["draft", "missed"]  # each exactly once


def config_for(tmp_path: Path, url: str | None = None) -> tuple[Settings, Path]:
    sections: dict[str, dict[str, object]] = {
        "site": {"first_issue": "2026-11-16"},
        "editions": {
            "sunday": {"schedule": "0 8 * * sun", "auto_approve": True},
            "midweek": {"schedule": "0 7 * * wed"},
        },
    }
    if url:
        sections["storage"] = {"url": url}
    path = write_config(tmp_path, **sections)
    cfg = load_config(path)
    # create the tables before the race (migrations are not the race)
    SlotStore.open(cfg).engine.dispose()
    return cfg, path


def test_two_processes_on_sqlite(tmp_path: Path) -> None:
    cfg, path = config_for(tmp_path)
    check_exactly_once(cfg, path, tmp_path / "effects")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema("sched") as url:
        yield url


@pytest.mark.postgres
def test_two_processes_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    cfg, path = config_for(tmp_path, pg_url)
    check_exactly_once(cfg, path, tmp_path / "effects")

"""A recording fake pipeline for the scheduler tests, usable in-process and from subprocesses.

Every effect is appended as one line to ``<effects>/<step>.log`` (O_APPEND, so lines from two
processes never mix), which is how the race tests count assembles and sends across processes.

Run as a script: ``python scheduling_support.py run-due CONFIG EFFECTS NOW GO_FILE`` waits for
GO_FILE, then calls ``run_due`` once; ``serve CONFIG EFFECTS`` runs the real scheduler loop.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from newsletter.archive import Archive
from newsletter.config import Settings, load_config
from newsletter.models import Edition, IssuePlan, Window, issue_id
from newsletter.scheduling import Notice, Pipeline

SUPPORT_FILE = Path(__file__).resolve()


def append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


@dataclass
class FakePipeline:
    """Writes a minimal issue.json on assemble, marks it sent on send, records every call."""

    effects: Path
    delay: float = 0.0
    fail: dict[str, int] = field(default_factory=dict)  # step -> how many calls fail first
    # Sends that end partial first: True = some deferred (retry), False = only failed/uncertain.
    partial: list[bool] = field(default_factory=list)

    def _maybe_fail(self, step: str) -> None:
        left = self.fail.get(step, 0)
        if left:
            self.fail[step] = left - 1
            raise RuntimeError(f"{step} exploded on purpose")

    def assemble(self, cfg: Settings, edition: Edition, slot: datetime) -> str:
        append(self.effects / "assemble.log", f"{issue_id(slot, edition)} {os.getpid()}")
        time.sleep(self.delay)
        self._maybe_fail("assemble")
        iid = issue_id(slot, edition)
        plan = IssuePlan(
            id=iid,
            edition=edition,
            slot=slot,
            window=Window(start=slot - timedelta(days=3), end=slot),
            subject=f"{edition} {slot.date()}",
            preheader="test",
        )
        Archive(cfg.archive_dir).save_plan(plan)
        return iid

    def render(self, cfg: Settings, iid: str) -> None:
        append(self.effects / "render.log", f"{iid} {os.getpid()}")
        self._maybe_fail("render")

    def send(self, cfg: Settings, iid: str) -> str:
        archive = Archive(cfg.archive_dir)
        status = archive.load_plan(iid).status
        if status not in ("approved", "sending", "partial"):
            raise RuntimeError(f"{iid} is {status}, not approved")
        append(self.effects / "send-start.log", f"{iid} {os.getpid()}")
        time.sleep(self.delay)
        self._maybe_fail("send")
        if self.partial:
            from newsletter.scheduling.pipeline import SendPartial

            retry = self.partial.pop(0)
            archive.set_status(iid, "partial")
            raise SendPartial(f"{iid}: send ended partial: deferred={int(retry)}", retry=retry)
        archive.set_status(iid, "sent")
        append(self.effects / "send.log", f"{iid} {os.getpid()}")
        return "sent: 3 recipients"

    def notify(self, cfg: Settings, notice: Notice) -> None:
        append(self.effects / "notify.log", json.dumps(notice.as_dict()))

    def notices(self, kind: str | None = None) -> list[dict[str, str]]:
        found = [json.loads(x) for x in lines(self.effects / "notify.log")]
        return [n for n in found if kind is None or n["kind"] == kind]

    def pipeline(self) -> Pipeline:
        return Pipeline(
            assemble=self.assemble, render=self.render, send=self.send, notify=self.notify
        )


def _main(argv: list[str]) -> int:
    from newsletter.scheduling import SlotRunner, run_due, run_scheduler
    from newsletter.scheduling.logs import setup_logging

    mode, config, effects = argv[0], Path(argv[1]), Path(argv[2])
    cfg = load_config(config)
    if mode == "run-due":
        now, go = datetime.fromisoformat(argv[3]), Path(argv[4])
        append(effects / "ready.log", str(os.getpid()))
        while not go.exists():
            time.sleep(0.01)
        fake = FakePipeline(effects, delay=0.3)
        outcomes = run_due(cfg, now, pipeline=fake.pipeline())
        print(json.dumps([o.as_dict() for o in outcomes]))
        return 0
    if mode == "serve":
        setup_logging(json_lines=True)
        fake = FakePipeline(effects, delay=float(argv[3]) if len(argv) > 3 else 1.0)
        run_scheduler(SlotRunner(cfg, pipeline=fake.pipeline()))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

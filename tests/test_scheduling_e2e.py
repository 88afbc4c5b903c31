"""End to end: the scheduler assembles, renders and sends the sample issue through the outbox.

Time is controlled with ``newsletter schedule run --once --now ...``: the same ``run_due`` the
APScheduler jobs call, at slot − lead and then at the slot of the sample Sunday issue.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from newsletter.archive import Archive
from newsletter.config import Settings, load_config
from newsletter.scheduling import SlotStore
from newsletter.store.tables import subscribers
from tests.cli_support import run_cli
from tests.conftest import write_config

IID = "2026-11-22-sunday"
SUBSCRIBERS = ["ada@example.com", "grace@example.org", "linus@example.net"]
EDITOR = "editor@almanac.example"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    return 0, out


def subscribe(cfg: Settings, addresses: list[str], *, named: bool = False) -> None:
    """Active subscribers to both editions (named after their address's local part if asked)."""
    now = datetime.now(UTC)
    with SlotStore.open(cfg).engine.begin() as conn:
        for address in addresses:
            name = address.split("@")[0].title() if named else None
            conn.execute(
                insert(subscribers).values(
                    email=address, name=name, wants_midweek=True, wants_sunday=True,
                    status="active", source="test", created_at=now, updated_at=now,
                )
            )  # fmt: skip


def emls(folder: Path) -> dict[str, str]:
    """Outbox messages: path relative to the outbox -> text body."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(("plain",))  # type: ignore[attr-defined]
        text = body.get_content() if body is not None else ""
        found[str(path.relative_to(folder))] = f"Subject: {msg['Subject']}\n{text}"
    return found


def test_scheduler_sends_the_sample_issue_through_the_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path,
        site={"first_issue": "2026-11-19", "editors": [EDITOR]},
        editions={"sunday": {"auto_approve": True}},
        delivery={"provider": "outbox"},
    )
    cfg = load_config(path)
    subscribe(cfg, SUBSCRIBERS, named=True)
    outbox = tmp_path / "outbox"

    # slot − lead: the draft is assembled, rendered, and a [TEST] copy goes to the editor
    _, out = cli(capsys, "--config", str(path), "schedule", "run", "--once", "--json", "--now", "2026-11-22T05:00:00Z")  # fmt: skip
    assert [(o["step"], o["status"]) for o in json.loads(out)] == [("assemble", "done")]
    archive = Archive(cfg.archive_dir)
    assert archive.load_plan(IID).status == "draft"
    for name in ("email.html", "email.txt", "web.html", "checks.json"):
        assert archive.file(IID, name).is_file()
    drafts = emls(outbox)
    assert len(drafts) == 2 and all(Path(name).name.startswith(EDITOR) for name in drafts)
    test_copy = next(t for n, t in drafts.items() if n.startswith(f"{IID}/test/"))
    assert "[TEST]" in test_copy
    alert = next(t for n, t in drafts.items() if "alert" in n)
    assert f"/issues/{IID}/edit" in alert

    # the slot: auto-approved and sent to every subscriber once
    _, out = cli(capsys, "--config", str(path), "schedule", "run", "--once", "--json", "--now", "2026-11-22T08:00:05Z")  # fmt: skip
    assert [(o["step"], o["status"]) for o in json.loads(out)] == [("send", "done")]
    assert archive.load_plan(IID).status == "sent"
    sent = emls(outbox)
    for address in SUBSCRIBERS:
        assert len([n for n in sent if Path(n).name.startswith(address)]) == 1
    assert archive.file(IID, "send.json").is_file()

    # a second run (another scheduler, a restart) sends nothing more
    _, out = cli(capsys, "--config", str(path), "schedule", "run", "--once", "--json", "--now", "2026-11-22T08:20:00Z")  # fmt: skip
    assert [(o["step"], o["status"]) for o in json.loads(out)] == [("send", "skipped")]
    assert emls(outbox) == sent


def test_two_real_schedulers_send_the_sample_issue_once(tmp_path: Path) -> None:
    """Two `newsletter schedule run --once` processes at the slot, real pipeline, one outbox."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    path = write_config(
        tmp_path,
        site={"first_issue": "2026-11-19", "editors": []},
        editions={"sunday": {"auto_approve": True}},
        delivery={"provider": "outbox"},
    )
    cfg = load_config(path)
    subscribe(cfg, SUBSCRIBERS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "newsletter", "--config", str(path), "schedule", "run", "--once", "--json", "--now", "2026-11-22T08:00:01Z"]  # fmt: skip
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    statuses = sorted(o["status"] for r in results for o in r if o["step"] == "send")
    assert statuses in (["busy", "done"], ["done", "skipped"])
    sent = emls(tmp_path / "outbox")
    for address in SUBSCRIBERS:
        assert len([n for n in sent if Path(n).name.startswith(address)]) == 1
    assert Archive(cfg.archive_dir).load_plan(IID).status == "sent"


def test_sigterm_mid_send_then_restart_resumes_exactly_once(tmp_path: Path) -> None:
    """SIGTERM while the real send is under way: the batches in flight finish, the step is
    recorded as interrupted, and the next run within grace resumes the ledger: everyone once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    audience = [f"reader{n:02d}@example.com" for n in range(12)]
    path = write_config(
        tmp_path,
        site={"first_issue": "2026-11-19", "editors": []},
        editions={"sunday": {"auto_approve": True}},
        delivery={"provider": "outbox", "batch_size": 1, "concurrency": 1, "rate_limit": 2},
    )
    cfg = load_config(path)
    subscribe(cfg, audience)
    outbox = tmp_path / "outbox" / IID
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "newsletter", "--config", str(path), "schedule", "run", "--once", "--json"]  # fmt: skip
    proc = subprocess.Popen(
        [*base, "--now", "2026-11-22T08:00:01Z"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(outbox.glob("*.eml")) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    [first] = json.loads(out)
    assert proc.returncode == 1, err
    assert (first["step"], first["status"]) == ("send", "failed")
    assert "interrupted" in first["detail"]
    assert len(list(outbox.glob("*.eml"))) < len(audience)

    # the restart, still within the grace window, resumes the send
    done = subprocess.run(
        [*base, "--now", "2026-11-22T08:10:00Z"], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [(o["step"], o["status"]) for o in json.loads(done.stdout)] == [("send", "done")]
    names = [p.name for p in outbox.glob("*.eml")]
    for address in audience:
        assert len([n for n in names if n.startswith(address + "-")]) == 1
    assert Archive(cfg.archive_dir).load_plan(IID).status == "sent"

"""The scheduler sends exactly the approved version: a changed issue.json, a missing approval
record and a failed check (for auto_approve) stop the send and alert the editors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.archive import Archive, dump_json
from newsletter.config import Settings, load_config
from newsletter.scheduling import SlotRunner
from newsletter.workflow import approve_issue
from tests.conftest import write_config
from tests.scheduling_support import FakePipeline, lines

SLOT = datetime(2026, 11, 22, 8, tzinfo=UTC)
IID = "2026-11-22-sunday"
FAILED = [{"name": "size", "status": "fail", "detail": "130 KB: Gmail clips at 102 KB"}]


def at(minutes: float) -> datetime:
    return SLOT + timedelta(minutes=minutes)


def make_cfg(tmp_path: Path, **sunday: Any) -> Settings:
    return load_config(
        write_config(
            tmp_path,
            site={"first_issue": "2026-11-16"},
            editions={"sunday": {"schedule": "0 8 * * sun", **sunday}},
        )
    )


@pytest.fixture
def fake(tmp_path: Path) -> FakePipeline:
    return FakePipeline(tmp_path / "effects")


def test_changed_after_approval_is_not_sent(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path)
    runner = SlotRunner(cfg, pipeline=fake.pipeline())
    runner.run_due(at(-180), ["sunday"])
    archive = Archive(cfg.archive_dir)
    approve_issue(archive, IID, who="ed")
    plan = archive.load_plan(IID)
    plan.subject = "Changed after approval"
    archive.save_plan(plan)  # still "approved" in issue.json, but not what was approved
    [outcome] = runner.run_due(at(0), ["sunday"])
    assert outcome.status == "failed" and "changed after it was approved" in (outcome.detail or "")
    assert lines(fake.effects / "send.log") == []
    assert fake.notices("failed")
    # Approving the new content lets the next check send it, once.
    approve_issue(archive, IID, who="ed")
    [outcome] = runner.run_due(at(5), ["sunday"])
    assert outcome.status == "done" and len(lines(fake.effects / "send.log")) == 1
    assert archive.read_history(IID)[-1]["action"] == "send"


def test_approved_by_hand_without_a_record_is_not_sent(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path)
    runner = SlotRunner(cfg, pipeline=fake.pipeline())
    runner.run_due(at(-180), ["sunday"])
    Archive(cfg.archive_dir).set_status(IID, "approved")  # a hand edit of issue.json
    [outcome] = runner.run_due(at(0), ["sunday"])
    assert outcome.status == "failed" and "no approval record" in (outcome.detail or "")
    assert lines(fake.effects / "send.log") == []


def test_auto_approve_refuses_a_failed_check(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path, auto_approve=True)
    runner = SlotRunner(cfg, pipeline=fake.pipeline())
    runner.run_due(at(-180), ["sunday"])
    archive = Archive(cfg.archive_dir)
    archive.write_text(IID, "checks.json", dump_json(FAILED))
    [outcome] = runner.run_due(at(0), ["sunday"])
    assert outcome.status == "failed" and "pre-send checks failed" in (outcome.detail or "")
    assert archive.load_plan(IID).status == "draft"
    assert lines(fake.effects / "send.log") == []


def test_an_override_recorded_at_approval_lets_the_send_through(
    tmp_path: Path, fake: FakePipeline
) -> None:
    cfg = make_cfg(tmp_path)
    runner = SlotRunner(cfg, pipeline=fake.pipeline())
    runner.run_due(at(-180), ["sunday"])
    archive = Archive(cfg.archive_dir)
    archive.write_text(IID, "checks.json", dump_json(FAILED))
    approve_issue(archive, IID, who="ed", override_checks="known clipping, accepted")
    [outcome] = runner.run_due(at(0), ["sunday"])
    assert outcome.status == "done" and len(lines(fake.effects / "send.log")) == 1

"""The scheduler's decisions with controlled time, a recording fake pipeline and real SQLite."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.archive import Archive
from newsletter.config import Settings, load_config
from newsletter.scheduling import SlotRunner, SlotStore, build_scheduler
from newsletter.workflow import approve_issue
from tests.conftest import write_config
from tests.scheduling_support import FakePipeline, lines

SLOT = datetime(2026, 11, 22, 8, tzinfo=UTC)  # Sunday 08:00 Europe/London (GMT)
IID = "2026-11-22-sunday"


def at(minutes: float) -> datetime:
    """Minutes relative to the Sunday slot."""
    return SLOT + timedelta(minutes=minutes)


def make_cfg(tmp_path: Path, **sunday: Any) -> Settings:
    """Sunday 08:00 London; first_issue keeps last week's slot out of the picture."""
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


def runner_for(cfg: Settings, fake: FakePipeline) -> SlotRunner:
    return SlotRunner(cfg, pipeline=fake.pipeline())


def status_of(cfg: Settings, step: str = "send") -> str | None:
    run = SlotStore.open(cfg).get(IID, step)  # type: ignore[arg-type]
    return run.status if run else None


def test_nothing_before_the_lead(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path)
    assert runner_for(cfg, fake).run_due(at(-181), ["sunday"]) == []
    assert lines(fake.effects / "assemble.log") == []


def test_assemble_at_lead_makes_a_draft_and_tells_the_editors(
    tmp_path: Path, fake: FakePipeline
) -> None:
    cfg = make_cfg(tmp_path)
    runner = runner_for(cfg, fake)
    [outcome] = runner.run_due(at(-180), ["sunday"])
    assert (outcome.step, outcome.status, outcome.issue_id) == ("assemble", "done", IID)
    assert Archive(cfg.archive_dir).load_plan(IID).status == "draft"
    [draft] = fake.notices("draft")
    assert draft["preview_url"] == f"https://almanac.example/newsletter/issues/{IID}/edit"
    assert len(lines(fake.effects / "render.log")) == 1
    # Later checks before the slot do nothing more.
    assert [o.status for o in runner.run_due(at(-60), ["sunday"])] == ["skipped"]
    assert len(lines(fake.effects / "assemble.log")) == 1
    assert len(fake.notices("draft")) == 1


def test_hold_then_late_approval_within_grace_sends_once(
    tmp_path: Path, fake: FakePipeline
) -> None:
    cfg = make_cfg(tmp_path)
    runner = runner_for(cfg, fake)
    runner.run_due(at(-180), ["sunday"])
    assert [o.status for o in runner.run_due(at(0), ["sunday"])] == ["held"]
    assert [o.status for o in runner.run_due(at(5), ["sunday"])] == ["held"]
    assert len(fake.notices("held")) == 1  # alerted once, not at every re-check
    assert status_of(cfg) == "held"
    approve_issue(Archive(cfg.archive_dir), IID)
    [sent] = runner.run_due(at(35), ["sunday"])
    assert (sent.step, sent.status) == ("send", "done")
    assert runner.run_due(at(40), ["sunday"])[0].status == "skipped"
    assert lines(fake.effects / "send.log") == [lines(fake.effects / "send.log")[0]]
    assert Archive(cfg.archive_dir).load_plan(IID).status == "sent"
    assert status_of(cfg) == "done"


def test_approval_after_grace_is_never_sent_late(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path)
    runner = runner_for(cfg, fake)
    runner.run_due(at(-180), ["sunday"])
    runner.run_due(at(0), ["sunday"])
    approve_issue(Archive(cfg.archive_dir), IID)
    [missed] = runner.run_due(at(61), ["sunday"])
    assert missed.status == "missed"
    assert f"newsletter send {IID}" in missed.detail
    assert lines(fake.effects / "send.log") == []
    assert len(fake.notices("missed")) == 1
    assert runner.run_due(at(70), ["sunday"])[0].status == "skipped"
    assert len(fake.notices("missed")) == 1


def test_auto_approve_sends_at_the_slot(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path, auto_approve=True)
    runner = runner_for(cfg, fake)
    runner.run_due(at(-180), ["sunday"])
    [sent] = runner.run_due(at(0), ["sunday"])
    assert sent.status == "done"
    assert Archive(cfg.archive_dir).load_plan(IID).status == "sent"
    assert len(lines(fake.effects / "send.log")) == 1
    assert fake.notices("held") == []


def test_restart_inside_grace_assembles_and_sends_the_missed_slot(
    tmp_path: Path, fake: FakePipeline
) -> None:
    """The scheduler was down at slot − lead and at the slot; it starts 40 minutes late."""
    cfg = make_cfg(tmp_path, auto_approve=True)
    outcomes = runner_for(cfg, fake).run_due(at(40), ["sunday"])
    assert [(o.step, o.status) for o in outcomes] == [("send", "done")]
    assert len(lines(fake.effects / "assemble.log")) == 1
    assert len(lines(fake.effects / "send.log")) == 1
    assert status_of(cfg, "assemble") == "done"


def test_restart_inside_grace_sends_an_issue_approved_while_down(
    tmp_path: Path, fake: FakePipeline
) -> None:
    cfg = make_cfg(tmp_path)
    runner_for(cfg, fake).run_due(at(-180), ["sunday"])
    approve_issue(Archive(cfg.archive_dir), IID)
    # a new process (new runner) after a crash
    assert runner_for(cfg, fake).run_due(at(59), ["sunday"])[0].status == "done"
    assert len(lines(fake.effects / "send.log")) == 1


def test_restart_outside_grace_records_missed_and_alerts(
    tmp_path: Path, fake: FakePipeline
) -> None:
    cfg = make_cfg(tmp_path, auto_approve=True)
    runner_for(cfg, fake).run_due(at(-180), ["sunday"])
    [missed] = runner_for(cfg, fake).run_due(at(61), ["sunday"])
    assert missed.status == "missed"
    assert lines(fake.effects / "send.log") == []
    assert status_of(cfg) == "missed"
    assert len(fake.notices("missed")) == 1


def test_grace_is_configurable(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = load_config(
        write_config(
            tmp_path,
            site={"first_issue": "2026-11-16"},
            scheduling={"misfire_grace": "2h"},
            editions={"sunday": {"auto_approve": True}},
        )
    )
    assert runner_for(cfg, fake).run_due(at(100), ["sunday"])[0].status == "done"


def test_failed_step_is_recorded_alerted_and_retried(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path, auto_approve=True)
    fake.fail = {"render": 1, "send": 1}
    runner = runner_for(cfg, fake)
    [failed] = runner.run_due(at(-180), ["sunday"])
    assert failed.status == "failed" and "render exploded on purpose" in failed.detail
    run = SlotStore.open(cfg).get(IID, "assemble")
    assert run is not None and run.status == "failed" and "exploded" in (run.detail or "")
    assert len(fake.notices("failed")) == 1
    # the next check retries the assemble (the issue exists now: only the render is redone)
    assert runner.run_due(at(-175), ["sunday"])[0].status == "done"
    [send_failed] = runner.run_due(at(0), ["sunday"])
    assert send_failed.status == "failed"
    assert status_of(cfg) == "failed"
    [sent] = runner.run_due(at(5), ["sunday"])
    assert sent.status == "done"
    assert len(lines(fake.effects / "send.log")) == 1
    assert len(lines(fake.effects / "assemble.log")) == 1


def test_cancelled_issue_is_not_sent(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path, auto_approve=True)
    runner = runner_for(cfg, fake)
    runner.run_due(at(-180), ["sunday"])
    Archive(cfg.archive_dir).set_status(IID, "cancelled")
    assert runner.run_due(at(0), ["sunday"])[0].status == "skipped"
    assert lines(fake.effects / "send.log") == []


def test_assemble_that_makes_another_issue_fails(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = make_cfg(tmp_path)
    pipeline = fake.pipeline()
    wrong = type(pipeline)(
        assemble=lambda c, e, s: "2026-11-29-sunday",
        render=pipeline.render,
        send=pipeline.send,
        notify=pipeline.notify,
    )
    [outcome] = SlotRunner(cfg, pipeline=wrong).run_due(at(-180), ["sunday"])
    assert outcome.status == "failed" and "expected 2026-11-22-sunday" in outcome.detail


def test_both_editions_and_first_issue(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = load_config(write_config(tmp_path, site={"first_issue": "2026-11-20"}))
    outcomes = runner_for(cfg, fake).run_due(at(-180))
    # midweek's last slot (Wed 18th) is before first_issue: not reported missed
    assert [(o.edition, o.step, o.status) for o in outcomes] == [("sunday", "assemble", "done")]
    (tmp_path / "b").mkdir()
    cfg2 = load_config(write_config(tmp_path / "b", site={"first_issue": "2026-01-04"}))
    outcomes = runner_for(cfg2, FakePipeline(tmp_path / "e2")).run_due(at(-180))
    assert ("midweek", "send", "missed") in [(o.edition, o.step, o.status) for o in outcomes]


# -- claims ---------------------------------------------------------------------------------------


def test_claim_is_exclusive_and_a_dead_owner_expires(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    store = SlotStore.open(cfg)
    first = store.claim(IID, "sunday", SLOT, "send", at(0))
    assert first is not None
    assert store.claim(IID, "sunday", SLOT, "send", at(1)) is None  # alive: someone else has it
    assert store.claim(IID, "sunday", SLOT, "send", at(1), reclaim=("held",)) is None
    taken = store.claim(
        IID, "sunday", SLOT, "send", at(0) + cfg.scheduling.lease + timedelta(seconds=1)
    )
    assert taken is not None and taken.previous is not None and taken.previous.status == "claimed"
    # the old owner lost it: its heartbeat and its finish change nothing
    assert first.heartbeat(at(12)) is False
    assert first.finish("done", "late", at(12)) is False
    assert taken.finish("done", "ok", at(12)) is True
    run = store.get(IID, "send")
    assert run is not None and (run.status, run.detail) == ("done", "ok")
    assert store.claim(IID, "sunday", SLOT, "send", at(100), reclaim=("held", "failed")) is None


def test_heartbeat_keeps_a_claim_alive(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    store = SlotStore.open(cfg)
    claim = store.claim(IID, "sunday", SLOT, "send", at(0))
    assert claim is not None and claim.heartbeat(at(9))
    assert store.claim(IID, "sunday", SLOT, "send", at(15)) is None  # 6 min since the heartbeat


# -- the APScheduler process ------------------------------------------------------------------------


def test_scheduler_jobs_are_rebuilt_from_config(tmp_path: Path, fake: FakePipeline) -> None:
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    cfg = make_cfg(tmp_path)
    runner = SlotRunner(cfg, pipeline=fake.pipeline(), clock=lambda: at(-600))
    sched = build_scheduler(runner, BackgroundScheduler)
    sched.start(paused=True)
    try:
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == {
            "midweek-assemble", "midweek-send", "sunday-assemble", "sunday-send",
            "recheck", "catch-up", "signup-purge",
        }  # fmt: skip
        for job in jobs.values():
            assert job.misfire_grace_time == 3600 and job.coalesce and job.max_instances == 1
        assert isinstance(sched._jobstores["default"], MemoryJobStore)
        assert (
            str(jobs["sunday-assemble"].trigger)
            == "slot[0 8 * * sun Europe/London, offset=-1 day, 21:00:00]"
        )
    finally:
        sched.shutdown(wait=False)


def test_a_failing_job_is_recorded_and_the_scheduler_survives(
    tmp_path: Path, fake: FakePipeline
) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    cfg = make_cfg(tmp_path, auto_approve=True)
    fake.fail = {"assemble": 100}
    runner = SlotRunner(cfg, pipeline=fake.pipeline(), clock=lambda: at(10))
    sched = build_scheduler(runner, BackgroundScheduler)
    sched.start()
    try:
        deadline = time.monotonic() + 30
        while status_of(cfg) != "failed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status_of(cfg) == "failed"
        assert sched.running
        runner.job(None, "recheck")  # a job never raises, even when its steps fail
        assert sched.get_job("sunday-send") is not None
    finally:
        sched.shutdown(wait=True)
    assert len(fake.notices("failed")) >= 1


# -- daylight saving through the whole decision ----------------------------------------------------


def dst_cfg(tmp_path: Path, schedule: str, zone: str, first: str) -> Settings:
    return load_config(
        write_config(
            tmp_path,
            site={"first_issue": first},
            editions={"sunday": {"schedule": schedule, "timezone": zone, "auto_approve": True}},
        )
    )


def test_fall_back_repeated_hour_sends_once(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = dst_cfg(tmp_path, "30 1 * * *", "America/New_York", "2026-11-01")
    runner = runner_for(cfg, fake)
    first_pass = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    [sent] = runner.run_due(first_pass, ["sunday"])
    assert (sent.issue_id, sent.status) == ("2026-11-01-sunday", "done")
    # 01:30 EST, one real hour later: the same wall time again, but not a new slot
    again = runner.run_due(first_pass + timedelta(hours=1), ["sunday"])
    assert [(o.issue_id, o.step, o.status) for o in again] == [("2026-11-01-sunday", "send", "skipped")]  # fmt: skip
    assert len(lines(fake.effects / "send.log")) == 1


def test_spring_forward_gap_slot_is_sent_not_skipped(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = dst_cfg(tmp_path, "30 2 * * *", "America/New_York", "2026-03-08")
    runner = runner_for(cfg, fake)
    before = datetime(2026, 3, 8, 7, 29, tzinfo=UTC)  # 03:29 EDT: the shifted slot is 03:30 EDT
    assert [o.step for o in runner.run_due(before, ["sunday"])] == ["assemble"]
    [sent] = runner.run_due(before + timedelta(minutes=1), ["sunday"])
    assert (sent.issue_id, sent.status) == ("2026-03-08-sunday", "done")


def test_assemble_lead_across_spring_forward(tmp_path: Path, fake: FakePipeline) -> None:
    cfg = dst_cfg(tmp_path, "0 3 * * sun", "Europe/London", "2026-03-29")
    runner = runner_for(cfg, fake)
    lead_at = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 3 real hours before 03:00 BST (02:00Z)
    assert runner.run_due(lead_at - timedelta(seconds=1), ["sunday"]) == []
    [made] = runner.run_due(lead_at, ["sunday"])
    assert (made.issue_id, made.step, made.status) == ("2026-03-29-sunday", "assemble", "done")


def test_partial_send_alerts_the_editors_and_retries_the_deferred(
    tmp_path: Path, fake: FakePipeline
) -> None:
    """A send with recipients to look at is not "done, sent": editors hear, deferred retried."""
    cfg = make_cfg(tmp_path, auto_approve=True)
    fake.partial = [True, False]
    runner = runner_for(cfg, fake)
    assert runner.run_due(at(-180), ["sunday"])[0].status == "done"  # assembled
    [first] = runner.run_due(at(0), ["sunday"])
    assert first.status == "failed" and "partial" in first.detail  # deferred: retried later
    assert len(fake.notices("partial")) == 1 and not fake.notices("failed")
    renders = len(lines(fake.effects / "render.log"))
    [second] = runner.run_due(at(5), ["sunday"])
    assert second.status == "done" and "partial" in second.detail  # only failed left: final
    assert len(fake.notices("partial")) == 2
    assert len(lines(fake.effects / "render.log")) == renders  # a partial issue keeps its files
    assert runner.run_due(at(10), ["sunday"])[0].status == "skipped"

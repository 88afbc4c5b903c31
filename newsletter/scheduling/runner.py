"""What the scheduler does at each fire, and the APScheduler process around it.

:func:`run_due` is the whole decision, idempotent and safe to call at any time from any number
of processes: for each edition it looks at the most recent due slot (send it, hold it, or record
it missed) and at the next slot (assemble its draft once slot − assemble_lead has come). Every
APScheduler job, the start-up catch-up and the periodic re-check simply call it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.models import Edition, issue_id
from newsletter.scheduling.claims import FINAL, Claim, RunStatus, SlotStore
from newsletter.scheduling.logs import log_event
from newsletter.scheduling.maintenance import add_maintenance_jobs
from newsletter.scheduling.pipeline import (
    Notice,
    NoticeKind,
    Pipeline,
    SendInterrupted,
    SendPartial,
    preview_url,
)
from newsletter.scheduling.slots import SlotTrigger, assemble_time, next_slot, previous_slot

HOLD_APPROVAL = "waiting for approval"
HOLD_DRAFT = "waiting for the draft (another scheduler is assembling it)"
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What one step did: ``done``, ``held``, ``failed``, ``missed``, ``busy`` or ``skipped``."""

    edition: str
    issue_id: str
    step: str
    status: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def human(span: timedelta) -> str:
    """``1h``, ``90m``, ``45s``, ``1h30m``: how config durations are written."""
    seconds = int(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, NewsletterError) else text


class SlotRunner:
    """Runs the due steps of each edition through a :class:`Pipeline`, claiming each in the store."""

    def __init__(
        self,
        cfg: Settings,
        *,
        pipeline: Pipeline | None = None,
        store: SlotStore | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.cfg = cfg
        self.stop = threading.Event()
        """Set on shutdown: a running send finishes its batches in flight and stops."""
        self.pipeline = pipeline or Pipeline.real(stop=self.stop)
        self.store = store or SlotStore.open(cfg)
        self.clock = clock
        self.archive = Archive(cfg.archive_dir)
        self._locks = {name: threading.Lock() for name in cfg.editions}

    # -- the decision -------------------------------------------------------------------------

    def run_due(
        self, now: datetime | None = None, editions: Sequence[Edition] | None = None
    ) -> list[Outcome]:
        """Do whatever is due at ``now`` for each edition; never raises for a failed step."""
        now = (now or self.clock()).astimezone(UTC)
        outcomes: list[Outcome] = []
        for edition in editions or list(self.cfg.editions):
            if self.stop.is_set():  # shutting down: start nothing new
                break
            with self._locks[edition]:
                outcomes += self._edition_due(edition, now)
        return outcomes

    def _edition_due(self, edition: Edition, now: datetime) -> list[Outcome]:
        ed = self.cfg.editions[edition]
        out: list[Outcome] = []
        last = previous_slot(ed.schedule, ed.zone, now)
        if last is not None and self._wanted(last):
            out.append(self.send_step(edition, last, now))
        upcoming = next_slot(ed.schedule, ed.zone, now)
        if self.stop.is_set():
            return out
        if now >= assemble_time(upcoming, ed.assemble_lead) and self._wanted(upcoming):
            out.append(self.assemble_step(edition, upcoming, now))
        return out

    def _wanted(self, slot: datetime) -> bool:
        first = self.cfg.site.first_issue
        return first is None or slot.date() >= first

    # -- steps --------------------------------------------------------------------------------

    def assemble_step(self, edition: Edition, slot: datetime, now: datetime) -> Outcome:
        """Assemble and render the draft of ``slot`` once, then send the editors a test copy."""
        iid = issue_id(slot, edition)
        seen = self.store.get(iid, "assemble")
        if seen is not None and seen.status in FINAL:
            return Outcome(edition, iid, "assemble", "skipped", f"already {seen.status}")
        claim = self.store.claim(iid, edition, slot, "assemble", now, reclaim=("failed",))
        if claim is None:
            return Outcome(edition, iid, "assemble", "busy", "claimed by another scheduler")
        log_event("assemble.start", edition=edition, issue=iid, slot=slot, owner=claim.token)
        with self._alive(claim):
            try:
                if not self.archive.exists(iid):
                    made = self.pipeline.assemble(self.cfg, edition, slot)
                    if made != iid:
                        raise NewsletterError(f"assemble made {made}, expected {iid}")
                status = self.archive.load_plan(iid).status
                if status in ("draft", "approved"):
                    self.pipeline.render(self.cfg, iid)
            except Exception as exc:
                return self._failed(claim, edition, slot, "assemble", exc)
            self._finish(claim, "done", f"draft ready ({status})", self.clock())
        log_event("assemble.done", edition=edition, issue=iid, status=status)
        if status == "draft":
            text = f"The draft of {iid} is ready for review: {preview_url(self.cfg, iid)}"
            self._notify("draft", edition, iid, slot, text)
        return Outcome(edition, iid, "assemble", "done", status)

    def send_step(self, edition: Edition, slot: datetime, now: datetime) -> Outcome:
        """Send the issue of a due slot once (approved or auto-approved), or hold, or miss it."""
        ed = self.cfg.editions[edition]
        grace = self.cfg.scheduling.misfire_grace
        iid = issue_id(slot, edition)
        seen = self.store.get(iid, "send")
        if seen is not None and seen.status in FINAL:
            return Outcome(edition, iid, "send", "skipped", f"already {seen.status}")
        if now - slot.astimezone(UTC) > grace:
            return self._missed(edition, slot, now, grace)
        claim = self.store.claim(iid, edition, slot, "send", now, reclaim=("held", "failed"))
        if claim is None:
            return Outcome(edition, iid, "send", "busy", "claimed by another scheduler")
        log_event("send.start", edition=edition, issue=iid, slot=slot, owner=claim.token)
        with self._alive(claim):
            try:
                ready = self._ensure_draft(edition, slot, now)
                if ready == "busy":
                    self._finish(claim, "held", HOLD_DRAFT, now)
                    return Outcome(edition, iid, "send", "held", HOLD_DRAFT)
                if ready != "done":
                    raise NewsletterError(f"{iid}: no issue to send (assemble {ready})")
                plan = self.archive.load_plan(iid)
                if plan.status in ("sent", "cancelled"):
                    self._finish(claim, "done", f"nothing to send: issue is {plan.status}", now)
                    return Outcome(edition, iid, "send", "skipped", f"issue is {plan.status}")
                if plan.status == "draft":
                    if not ed.auto_approve:
                        return self._hold(claim, edition, slot, now)
                    from newsletter.workflow import approve_issue

                    # A failed pre-send check blocks auto-approval too (StateError: alert).
                    approve_issue(self.archive, iid, who="scheduler (auto_approve)")
                    log_event("send.auto_approved", edition=edition, issue=iid)
                if plan.status not in ("sending", "partial"):  # a resumed send keeps its files
                    self.pipeline.render(self.cfg, iid)
                from newsletter.workflow import ensure_sendable

                # What goes out is what was approved: same content hash, no unexcused failure.
                ensure_sendable(self.archive, self.archive.load_plan(iid), require_record=True)
                summary = self.pipeline.send(self.cfg, iid)
                from newsletter.workflow import now_iso

                self.archive.append_history(
                    iid, {"at": now_iso(), "who": "scheduler", "action": "send", "detail": summary}
                )
            except SendPartial as exc:
                return self._partial(claim, edition, slot, exc)
            except Exception as exc:
                return self._failed(claim, edition, slot, "send", exc)
            self._finish(claim, "done", summary, self.clock())
        log_event("send.done", edition=edition, issue=iid, detail=summary)
        return Outcome(edition, iid, "send", "done", summary)

    def _finish(self, claim: Claim, status: RunStatus, detail: str | None, at: datetime) -> None:
        if not claim.finish(status, detail, at):
            # Our lease ran out and another scheduler took the step over; the ledger keeps
            # the send itself exactly-once, so this is worth a warning, not a failure.
            log_event(
                "claim.lost", level=30, issue=claim.issue_id, step=claim.run.step, status=status
            )

    def _ensure_draft(self, edition: Edition, slot: datetime, now: datetime) -> str:
        seen = self.store.get(issue_id(slot, edition), "assemble")
        if seen is not None and seen.status == "done":
            return "done"
        outcome = self.assemble_step(edition, slot, now)
        return "done" if outcome.status in ("done", "skipped") else outcome.status

    def _hold(self, claim: Claim, edition: Edition, slot: datetime, now: datetime) -> Outcome:
        iid = claim.issue_id
        before = claim.previous
        first = before is None or before.status != "held" or before.detail != HOLD_APPROVAL
        self._finish(claim, "held", HOLD_APPROVAL, now)
        log_event("send.held", edition=edition, issue=iid, first=first)
        if first:
            grace = self.cfg.scheduling.misfire_grace
            text = (
                f"{iid} is due but not approved, so it is held. Approve it within {human(grace)} of "
                f"the slot (`newsletter approve {iid}` or {preview_url(self.cfg, iid)}) and it "
                "goes out at the next check."
            )
            self._notify("held", edition, iid, slot, text)
        return Outcome(edition, iid, "send", "held", HOLD_APPROVAL)

    def _missed(self, edition: Edition, slot: datetime, now: datetime, grace: timedelta) -> Outcome:
        iid = issue_id(slot, edition)
        text = (
            f"{iid} was not sent within {human(grace)} of its slot; it will not be sent late "
            f"automatically. Send it by hand with `newsletter send {iid}` if it should still go."
        )
        claim = self.store.claim(
            iid,
            edition,
            slot,
            "send",
            now,
            reclaim=("held", "failed"),
            status="missed",
            detail=text,
        )
        if claim is None:
            return Outcome(edition, iid, "send", "busy", "claimed by another scheduler")
        log_event("send.missed", level=30, edition=edition, issue=iid, slot=slot)
        self._notify("missed", edition, iid, slot, text)
        return Outcome(edition, iid, "send", "missed", text)

    def _failed(
        self, claim: Claim, edition: Edition, slot: datetime, step: str, exc: Exception
    ) -> Outcome:
        reason = _reason(exc)
        self._finish(claim, "failed", reason, self.clock())
        if isinstance(exc, SendInterrupted):  # a clean shutdown, not something to alert about
            log_event(f"{step}.interrupted", level=30, issue=claim.issue_id, reason=reason)
            return Outcome(edition, claim.issue_id, step, "failed", reason)
        log_event(f"{step}.failed", level=40, edition=edition, issue=claim.issue_id, reason=reason)
        before = claim.previous
        if before is None or before.status != "failed" or before.detail != reason:
            text = f"{step} of {claim.issue_id} failed: {reason}. It is retried at the next check."
            self._notify("failed", edition, claim.issue_id, slot, text)
        return Outcome(edition, claim.issue_id, step, "failed", reason)

    def _partial(self, claim: Claim, edition: Edition, slot: datetime, exc: SendPartial) -> Outcome:
        """The send finished with recipients to look at: alert the editors (once per outcome).

        While some are deferred the slot stays retryable (``failed``): the next check sends
        to them again; otherwise it is ``done`` and the report names who to look at.
        """
        reason = _reason(exc)
        status: RunStatus = "failed" if exc.retry else "done"
        self._finish(claim, status, reason, self.clock())
        log_event("send.partial", level=30, edition=edition, issue=claim.issue_id, reason=reason)
        before = claim.previous
        if before is None or before.detail != reason:
            more = " Deferred recipients are retried at the next check." if exc.retry else ""
            self._notify("partial", edition, claim.issue_id, slot, f"{reason}.{more}")
        return Outcome(edition, claim.issue_id, "send", status, reason)

    def _notify(self, kind: NoticeKind, edition: str, iid: str, slot: datetime, text: str) -> None:
        notice = Notice(kind, edition, iid, slot, text, preview_url(self.cfg, iid))
        try:
            self.pipeline.notify(self.cfg, notice)
        except Exception as exc:  # telling the editors must never undo the step itself
            log_event("notify.failed", level=40, kind=kind, issue=iid, reason=_reason(exc))
        else:
            log_event("notify.sent", kind=kind, issue=iid)

    @contextmanager
    def _alive(self, claim: Claim) -> Iterator[None]:
        """Refresh the claim's heartbeat while the step runs (so no one takes it over)."""
        stop = threading.Event()
        every = max(self.store.lease.total_seconds() / 3, 0.05)

        def beat() -> None:
            while not stop.wait(every):
                if not claim.heartbeat(self.clock()):
                    log_event("claim.lost", level=30, issue=claim.issue_id, step=claim.run.step)
                    return

        thread = threading.Thread(target=beat, name=f"heartbeat-{claim.issue_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    # -- APScheduler --------------------------------------------------------------------------

    def job(self, edition: Edition | None, kind: str) -> None:
        """An APScheduler job: run what is due; log every outcome; never raise."""
        names = [edition] if edition else None
        log_event("job.start", job=kind, edition=edition)
        try:
            outcomes = self.run_due(None, names)
        except Exception as exc:
            log_event("job.error", level=40, job=kind, edition=edition, reason=_reason(exc))
            return
        for o in outcomes:
            level = 40 if o.status == "failed" else 30 if o.status == "missed" else 20
            log_event(
                "job.outcome", level=level, job=kind, edition=o.edition, issue=o.issue_id,
                step=o.step, outcome=o.status, detail=o.detail or None,
            )  # fmt: skip
        log_event("job.end", job=kind, edition=edition, steps=len(outcomes))


def run_due(
    cfg: Settings,
    now: datetime | None = None,
    *,
    pipeline: Pipeline | None = None,
    store: SlotStore | None = None,
    editions: Sequence[Edition] | None = None,
) -> list[Outcome]:
    """Do whatever is due at ``now`` (default: the real time) once; the scheduler's catch-up."""
    runner = SlotRunner(cfg, pipeline=pipeline, store=store)
    return runner.run_due(now, editions)


def build_scheduler(runner: SlotRunner, scheduler_cls: Any = None) -> Any:
    """A BlockingScheduler (memory job store only) with each edition's jobs rebuilt from config."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    cfg = runner.cfg
    sched = (scheduler_cls or BlockingScheduler)(
        timezone=UTC,
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(cfg.scheduling.misfire_grace.total_seconds()),
        },
    )
    for edition, ed in cfg.editions.items():
        sched.add_job(
            runner.job,
            SlotTrigger(ed.schedule, ed.zone, -ed.assemble_lead),
            args=[edition, "assemble"],
            id=f"{edition}-assemble",
            name=f"{edition}: assemble the draft",
            replace_existing=True,
        )
        sched.add_job(
            runner.job,
            SlotTrigger(ed.schedule, ed.zone),
            args=[edition, "send"],
            id=f"{edition}-send",
            name=f"{edition}: send",
            replace_existing=True,
        )
    sched.add_job(
        runner.job,
        IntervalTrigger(seconds=max(1, int(cfg.scheduling.recheck.total_seconds())), timezone=UTC),
        args=[None, "recheck"],
        id="recheck",
        name="re-check held, failed and missed slots",
        replace_existing=True,
    )
    sched.add_job(
        runner.job,
        args=[None, "catch-up"],
        id="catch-up",
        name="catch up at start",
        next_run_time=utcnow(),  # the scheduler itself runs on the real clock
        replace_existing=True,
    )
    add_maintenance_jobs(sched, cfg)
    return sched


def run_once(runner: SlotRunner, now: datetime | None = None) -> list[Outcome]:
    """``schedule run --once``: do what is due, then return; SIGTERM / Ctrl-C finish cleanly.

    The first signal sets ``runner.stop``: a send in progress finishes its batches in flight
    (the ledger resumes the rest next time) and no new step starts.
    """

    def stop(signum: int, _frame: FrameType | None) -> None:
        if runner.stop.is_set():
            raise KeyboardInterrupt
        log_event("run.stopping", reason="signal")
        runner.stop.set()

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return runner.run_due(now)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_scheduler(runner: SlotRunner, *, install_signals: bool = True) -> None:
    """Run in the foreground until SIGTERM or Ctrl-C; the step in flight finishes first."""
    sched = build_scheduler(runner)

    def stop(signum: int, _frame: FrameType | None) -> None:
        runner.stop.set()
        raise SystemExit(0)

    if install_signals:
        signal.signal(signal.SIGTERM, stop)
    log_event("scheduler.start", editions=",".join(runner.cfg.editions))
    now = utcnow()
    for edition, ed in runner.cfg.editions.items():
        slot = next_slot(ed.schedule, ed.zone, now)
        log_event(
            "edition.next",
            edition=edition,
            schedule=f"{ed.schedule} {ed.timezone}",
            assemble=assemble_time(slot, ed.assemble_lead),
            send=slot,
            auto_approve=ed.auto_approve,
        )
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        runner.stop.set()
        log_event("scheduler.stopping", reason="signal")
    finally:
        if sched.running:
            sched.shutdown(wait=True)
        log_event("scheduler.stopped")

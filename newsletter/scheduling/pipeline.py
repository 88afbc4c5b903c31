"""The steps the scheduler drives, behind one injectable :class:`Pipeline`.

The default pipeline calls the real stage functions; tests pass recording fakes with the same
shape. The stages are imported where they run: ``newsletter status`` and ``schedule list`` import
this package and should not pay for loading the curation and delivery stacks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any, Literal

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings
from newsletter.errors import NewsletterError
from newsletter.models import Edition
from newsletter.scheduling.logs import log_event

NoticeKind = Literal["draft", "held", "missed", "failed", "sent", "partial"]
ALERTS_FILE = "alerts.jsonl"


@dataclass(frozen=True)
class Notice:
    """Something the editors must hear about (a draft to look at, a hold, a miss, a failure)."""

    kind: NoticeKind
    edition: str
    issue_id: str
    slot: datetime
    message: str
    preview_url: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edition": self.edition,
            "issue_id": self.issue_id,
            "slot": self.slot.isoformat(),
            "message": self.message,
            "preview_url": self.preview_url,
        }


AssembleFn = Callable[[Settings, Edition, datetime], str]
"""Assemble the issue of the slot; returns its id."""
RenderFn = Callable[[Settings, str], None]
"""Render the issue; raises if rendering or a pre-send check failed."""
SendFn = Callable[[Settings, str], str]
"""Send an approved issue; returns a one-line summary of the send report."""
NotifyFn = Callable[[Settings, Notice], None]
"""Tell the editors (a test copy of a draft, or an alert)."""


class SendInterrupted(NewsletterError):
    """The send stopped early on shutdown; the ledger lets the next run resume it."""


class SendPartial(NewsletterError):
    """The send finished with recipients to look at (failed, uncertain or deferred).

    ``retry`` is True while some are deferred: the next check runs the send again for them.
    """

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def preview_url(cfg: Settings, issue_id: str) -> str:
    """The editors' preview page of an issue (``newsletter serve``; its Approve button is there)."""
    return f"{cfg.web.public_url.rstrip('/')}/issues/{issue_id}/edit"


def real_assemble(cfg: Settings, edition: Edition, slot: datetime) -> str:
    """``newsletter.curation.assemble_issue`` for the slot; returns the issue id."""
    from newsletter.curation import assemble_issue

    result = assemble_issue(cfg, edition, slot)
    return str(result.plan.id)


def render_failures(result: Any) -> list[str]:
    """The failed pre-send checks reported by a render result (empty when all passed)."""
    if result is None:
        return []
    for attr in ("ok", "passed"):
        value = getattr(result, attr, None)
        if isinstance(value, bool) and not value:
            found = getattr(result, "failures", None) or ["a pre-send check failed"]
            return [_check_text(f) for f in found]
    failures = getattr(result, "failures", None) or getattr(result, "failed", None)
    if isinstance(failures, bool):
        return ["a pre-send check failed"] if failures else []
    if failures:
        return [_check_text(f) for f in failures]
    return []


def _check_text(check: Any) -> str:
    name, detail = getattr(check, "name", None), getattr(check, "detail", None)
    return f"{name}: {detail}" if name and detail else str(check)


def real_render(cfg: Settings, issue_id: str) -> None:
    """``newsletter.rendering.render_issue``; a failed check raises."""
    from newsletter.rendering import render_issue
    from newsletter.workflow import checks_overridden

    result = render_issue(cfg, issue_id)
    failed = render_failures(result)
    # An editor who approved with --override-checks REASON has accepted these failures.
    if failed and not checks_overridden(Archive(cfg.archive_dir), issue_id):
        raise NewsletterError(f"{issue_id}: pre-send checks failed: {'; '.join(failed)}")


_COUNTS = ("audience", "sent", "failed", "uncertain", "deferred", "suppressed", "already_sent")


def summarize(report: Any) -> str:
    """One line from a send report (counts, not addresses)."""
    if report is None:
        return "sent"
    data = report.model_dump(mode="json") if hasattr(report, "model_dump") else None
    if isinstance(data, dict):
        counts = {k: data[k] for k in _COUNTS if isinstance(data.get(k), int)}
        if counts:
            return f"{data.get('status', 'sent')}: " + ", ".join(
                f"{k}={v}" for k, v in counts.items()
            )
    text = str(report).splitlines()[0] if str(report) else "sent"
    return text[:300]


def _send_log(message: str) -> None:
    log_event("send.progress", message=message)


@dataclass
class RealSteps:
    """The real send and notify steps, bound to the secrets from the environment.

    ``stop`` is set on shutdown: the dispatcher then finishes the batches in flight and
    returns early, and the ledger lets the next run resume the send.
    """

    secrets: Secrets = field(default_factory=Secrets.from_env)
    stop: threading.Event = field(default_factory=threading.Event)

    def send(self, cfg: Settings, issue_id: str) -> str:
        from newsletter.archive import Archive
        from newsletter.delivery import send_issue
        from newsletter.workflow import read_approval

        # Failed checks an editor overrode when approving (with a reason) may go out.
        record = read_approval(Archive(cfg.archive_dir), issue_id) or {}
        override = record.get("override_checks")
        report = send_issue(
            cfg,
            self.secrets,
            issue_id,
            progress=False,
            stop=self.stop,
            log=_send_log,
            override_checks=str(override) if override else None,
        )
        summary = summarize(report)
        if getattr(report, "interrupted", False):
            raise SendInterrupted(
                f"{issue_id}: send interrupted ({summary}); it resumes on restart"
            )
        if getattr(report, "status", "sent") == "partial":
            errors = "; ".join(getattr(report, "errors", None) or [])[:300]
            raise SendPartial(
                f"{issue_id}: send ended {summary}{' - ' + errors if errors else ''}",
                retry=bool(getattr(report, "deferred", 0)),
            )
        if getattr(report, "status", "sent") != "sent":
            errors = "; ".join(getattr(report, "errors", None) or [])[:300]
            raise NewsletterError(
                f"{issue_id}: send ended {summary}{' - ' + errors if errors else ''}"
            )
        return summary

    def notify(self, cfg: Settings, notice: Notice) -> None:
        """Record the notice in ``alerts.jsonl`` and mail it to the editors.

        A draft notice also sends the editors a [TEST] copy of the issue itself.
        """
        record_alert(cfg, notice)
        editors = tuple(cfg.site.editors)
        if not editors:
            return
        email_editors(cfg, self.secrets, notice)
        if notice.kind == "draft":
            from newsletter.delivery import send_issue

            send_issue(
                cfg, self.secrets, notice.issue_id, test_to=editors, progress=False, log=_send_log
            )


def email_editors(cfg: Settings, secrets: Secrets, notice: Notice) -> None:
    """Mail a short alert with the preview link to ``site.editors`` (outside the ledger)."""
    from newsletter.delivery import make_provider
    from newsletter.delivery.base import OutgoingIssue, Recipient

    titles = {
        "draft": "draft ready for review",
        "held": "held: not approved",
        "missed": "MISSED its slot",
        "failed": "a scheduled step failed",
        "sent": "sent",
        "partial": "sent, with recipients to look at",
    }
    subject = f"[{cfg.site.name}] {notice.issue_id}: {titles[notice.kind]}"
    text = f"{notice.message}\n\nPreview and approve: {notice.preview_url}\n"
    html = (
        f"<p>{escape(notice.message)}</p>"
        f'<p><a href="{escape(notice.preview_url)}">Preview and approve</a></p>'
    )
    issue = OutgoingIssue(
        issue_id=f"{notice.issue_id}-{notice.kind}-alert",
        edition=notice.edition,
        subject=subject,
        html=html,
        text=text,
        sender_email=cfg.site.sender.email,
        sender_name=cfg.site.sender.name,
        categories=("editor-alert",),
        test=True,
    )
    recipients = [Recipient(email=e, name=None, values={}, headers={}) for e in cfg.site.editors]
    provider = make_provider(cfg, secrets)
    try:
        provider.send_batch(issue, recipients)
    finally:
        provider.close()


def record_alert(cfg: Settings, notice: Notice) -> None:
    """Append the notice to ``<archive>/alerts.jsonl`` (what ``newsletter status`` shows)."""
    path = Archive(cfg.archive_dir).root / ALERTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"at": datetime.now(UTC).isoformat(), **notice.as_dict()}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def read_alerts(cfg: Settings, limit: int = 10) -> list[dict[str, Any]]:
    """The latest notices, newest last."""
    path = cfg.archive_dir / ALERTS_FILE
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines()[-limit:]:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


@dataclass(frozen=True)
class Pipeline:
    """The four callables the scheduler drives; :meth:`real` gives the production ones."""

    assemble: AssembleFn
    render: RenderFn
    send: SendFn
    notify: NotifyFn

    @classmethod
    def real(cls, secrets: Secrets | None = None, stop: threading.Event | None = None) -> Pipeline:
        """The production steps; ``stop`` (set on shutdown) ends a send after its batches."""
        steps = RealSteps(secrets or Secrets.from_env(), stop or threading.Event())
        return cls(assemble=real_assemble, render=real_render, send=steps.send, notify=steps.notify)

"""The steps the scheduler drives, behind one injectable :class:`Pipeline`.

The default pipeline calls the real stage functions (imported when first used, so this module
imports even before a stage exists); tests pass recording fakes with the same shape.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from newsletter.archive import Archive
from newsletter.config import Secrets, Settings
from newsletter.errors import NewsletterError
from newsletter.models import Edition

NoticeKind = Literal["draft", "held", "missed", "failed", "sent"]
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


def preview_url(cfg: Settings, issue_id: str) -> str:
    """The editors' preview page of an issue (its Approve button is there)."""
    return f"{cfg.web.public_url.rstrip('/')}/issues/{issue_id}"


def _stage(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise NewsletterError(f"{module}.{name} is not available in this build") from None


def real_assemble(cfg: Settings, edition: Edition, slot: datetime) -> str:
    """``newsletter.curation.assemble_issue`` for the slot; returns the issue id."""
    result = _stage("newsletter.curation", "assemble_issue")(cfg, edition, slot)
    return str(result.plan.id)


def render_failures(result: Any) -> list[str]:
    """The failed pre-send checks reported by a render result (empty when all passed)."""
    if result is None:
        return []
    for attr in ("ok", "passed"):
        value = getattr(result, attr, None)
        if isinstance(value, bool) and not value:
            return [
                str(f) for f in getattr(result, "failures", None) or ["a pre-send check failed"]
            ]
    failures = getattr(result, "failures", None) or getattr(result, "failed", None)
    if isinstance(failures, bool):
        return ["a pre-send check failed"] if failures else []
    if failures:
        return [str(f) for f in failures]
    return []


def real_render(cfg: Settings, issue_id: str) -> None:
    """``newsletter.rendering.render_issue``; a failed check raises."""
    result = _stage("newsletter.rendering", "render_issue")(cfg, issue_id)
    failed = render_failures(result)
    if failed:
        raise NewsletterError(f"{issue_id}: pre-send checks failed: {'; '.join(failed)}")


def summarize(report: Any) -> str:
    """One line from a send report (counts, not addresses)."""
    if report is None:
        return "sent"
    data = report.model_dump(mode="json") if hasattr(report, "model_dump") else None
    if isinstance(data, dict):
        counts = {
            k: v for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if counts:
            return "sent: " + ", ".join(f"{k}={v}" for k, v in counts.items())
    text = str(report).splitlines()[0] if str(report) else "sent"
    return text[:300]


@dataclass
class RealSteps:
    """The real send and notify steps, bound to the secrets from the environment."""

    secrets: Secrets = field(default_factory=Secrets.from_env)

    def send(self, cfg: Settings, issue_id: str) -> str:
        send_issue = _stage("newsletter.delivery", "send_issue")
        return summarize(send_issue(cfg, self.secrets, issue_id, progress=False))

    def notify(self, cfg: Settings, notice: Notice) -> None:
        """Record the notice in ``alerts.jsonl``; a draft goes to the editors as a [TEST] copy."""
        record_alert(cfg, notice)
        editors = tuple(cfg.site.editors)
        if notice.kind == "draft" and editors:
            send_issue = _stage("newsletter.delivery", "send_issue")
            send_issue(cfg, self.secrets, notice.issue_id, test_to=editors, progress=False)


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
    def real(cls, secrets: Secrets | None = None) -> Pipeline:
        steps = RealSteps(secrets or Secrets.from_env())
        return cls(assemble=real_assemble, render=real_render, send=steps.send, notify=steps.notify)

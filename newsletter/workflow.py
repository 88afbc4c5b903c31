"""Editorial state changes of an issue (draft → approved → sending → sent, or cancelled).

Approval means *this exact content*: approving records the content hash of the plan that was
reviewed in ``issues/<id>/approval.json``, and :func:`ensure_sendable` (called by the send
command and the scheduler before anything goes out) refuses an issue whose content no longer
matches it, or whose pre-send checks failed without an explicit, logged override. An edit
after approval returns the issue to ``draft`` (:func:`return_to_draft`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from newsletter.archive import Archive, dump_json, write_atomic
from newsletter.errors import InputError, StateError
from newsletter.models import IssuePlan

APPROVAL_FILE = "approval.json"
CHECKS_FILE = "checks.json"
SENDABLE_STATUSES = ("approved", "sending", "partial", "sent")


def now_iso() -> str:
    """The current time as ISO 8601 UTC, second precision (for audit records)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def content_hash(plan: IssuePlan) -> str:
    """``sha256:…`` of everything a reader gets from the plan (all of issue.json but status).

    The status is left out so that approving, sending and finishing do not change the hash.
    """
    data = plan.model_dump(mode="json")
    data.pop("status", None)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_approval(archive: Archive, issue_id: str) -> dict[str, Any] | None:
    """The approval record (content_hash, at, by, override_checks), or None."""
    path = archive.file(issue_id, APPROVAL_FILE)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{path}: not valid JSON (approve the issue again)") from None
    if not isinstance(data, dict) or not isinstance(data.get("content_hash"), str):
        raise InputError(f"{path}: content_hash: missing (approve the issue again)")
    return data


def failed_checks(archive: Archive, issue_id: str) -> list[str]:
    """``name: detail`` of each failed pre-send check in checks.json (none when not rendered)."""
    path = archive.file(issue_id, CHECKS_FILE)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [f"{CHECKS_FILE}: unreadable (render the issue again)"]
    items = data.get("checks", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [f"{CHECKS_FILE}: unreadable (render the issue again)"]
    return [
        f"{item.get('name')}: {item.get('detail')}"
        for item in items
        if isinstance(item, dict) and str(item.get("status", "")).lower() == "fail"
    ]


def approve_issue(
    archive: Archive,
    issue_id: str,
    *,
    who: str = "local",
    override_checks: str | None = None,
) -> IssuePlan:
    """Move a ``draft`` to ``approved`` and record the hash of the content approved.

    A failed pre-send check (checks.json) blocks approval unless ``override_checks`` gives a
    reason, which is recorded and logged. Approving an approved issue whose content is
    unchanged is a no-op; if its content changed, the new content is approved.
    """
    plan = archive.load_plan(issue_id)
    digest = content_hash(plan)
    if plan.status == "approved":
        record = read_approval(archive, issue_id)
        if record is not None and record["content_hash"] == digest:
            return plan
    elif plan.status != "draft":
        raise StateError(f"{issue_id}: cannot approve an issue that is {plan.status}")
    reason = (override_checks or "").strip() or None
    failures = failed_checks(archive, issue_id)
    if failures and reason is None:
        raise StateError(
            f"{issue_id}: pre-send checks failed ({'; '.join(failures)}): fix them, or approve "
            "with --override-checks REASON"
        )
    record = {
        "content_hash": digest,
        "at": now_iso(),
        "by": who,
        "override_checks": reason if failures else None,
        "failed_checks": failures,
    }
    write_atomic(archive.file(issue_id, APPROVAL_FILE), dump_json(record))
    plan.status = "approved"
    archive.save_plan(plan)
    entry: dict[str, Any] = {"at": record["at"], "who": who, "action": "approve", "hash": digest}
    if failures:
        entry["override_checks"] = reason
        entry["failed_checks"] = failures
    archive.append_history(issue_id, entry)
    return plan


def return_to_draft(archive: Archive, plan: IssuePlan, *, who: str, reason: str) -> IssuePlan:
    """An approved plan that is being changed goes back to ``draft`` (logged).

    The caller saves ``plan``; the approval record is removed here.
    """
    if plan.status != "approved":
        return plan
    plan.status = "draft"
    withdraw_approval(archive, plan.id, who=who, reason=reason)
    return plan


def withdraw_approval(archive: Archive, issue_id: str, *, who: str, reason: str) -> None:
    """Remove the approval record of ``issue_id`` and log why (the issue is a draft again)."""
    archive.file(issue_id, APPROVAL_FILE).unlink(missing_ok=True)
    archive.append_history(
        issue_id, {"at": now_iso(), "who": who, "action": "unapprove", "reason": reason}
    )


def verify_approved_content(archive: Archive, plan: IssuePlan, *, require_record: bool) -> None:
    """Raise :class:`StateError` unless ``plan`` is the content that was approved.

    ``require_record``: an issue without an approval record (approved before records existed,
    or by hand in issue.json) is refused too.
    """
    record = read_approval(archive, plan.id)
    if record is None:
        if require_record:
            raise StateError(
                f"{plan.id}: no approval record: approve it (`newsletter approve {plan.id}`)"
            )
        return
    if record["content_hash"] != content_hash(plan):
        raise StateError(
            f"{plan.id}: issue.json changed after it was approved ({record.get('at')}): "
            f"review it and approve it again (`newsletter approve {plan.id}`)"
        )


def ensure_sendable(
    archive: Archive,
    plan: IssuePlan,
    *,
    override_checks: str | None = None,
    require_record: bool = False,
) -> None:
    """The gate every real send passes: approved content unchanged, and no failed check.

    Raises :class:`StateError` naming what is wrong. A failed check is let through when the
    approval recorded an override reason, or ``override_checks`` gives one now (the caller
    logs it). Test sends and dry runs do not call this.
    """
    verify_approved_content(archive, plan, require_record=require_record)
    failures = failed_checks(archive, plan.id)
    if not failures:
        return
    record = read_approval(archive, plan.id)
    overridden = (override_checks or "").strip() or (record or {}).get("override_checks")
    if not overridden:
        raise StateError(
            f"{plan.id}: pre-send checks failed ({'; '.join(failures)}): fix them, or use "
            "--override-checks REASON"
        )


def checks_overridden(archive: Archive, issue_id: str) -> bool:
    """True when the approval of ``issue_id`` recorded an override of failed checks."""
    try:
        record = read_approval(archive, issue_id)
    except InputError:
        return False
    return bool(record and record.get("override_checks"))

"""Editorial state changes of an issue (draft → approved → sending → sent, or cancelled)."""

from __future__ import annotations

from newsletter.archive import Archive
from newsletter.errors import StateError
from newsletter.models import IssuePlan


def approve_issue(archive: Archive, issue_id: str) -> IssuePlan:
    """Move a ``draft`` to ``approved``; approving an approved issue is a no-op."""
    plan = archive.load_plan(issue_id)
    if plan.status == "approved":
        return plan
    if plan.status != "draft":
        raise StateError(f"{issue_id}: cannot approve an issue that is {plan.status}")
    return archive.set_status(issue_id, "approved")

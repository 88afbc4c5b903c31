"""The pre-send gate: an issue whose checks failed is not sent without a stated reason."""

from __future__ import annotations

import json

from newsletter.archive import Archive
from newsletter.errors import StateError

CHECKS_FILE = "checks.json"


def failed_checks(archive: Archive, issue_id: str) -> list[str]:
    """``name: detail`` for each failed check in ``issues/<id>/checks.json``.

    A missing file means the issue was not rendered (the send stops on the missing email
    files); an unreadable one counts as a failure, since nothing proves the checks passed.
    """
    path = archive.file(issue_id, CHECKS_FILE)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data["checks"] if isinstance(data, dict) else data
        return [
            f"{item.get('name', '?')}: {item.get('detail', '')}".strip()
            for item in items
            if isinstance(item, dict) and str(item.get("status", "")).lower() == "fail"
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [f"{CHECKS_FILE} is unreadable"]


def require_checks_passed(
    archive: Archive, issue_id: str, override_reason: str | None
) -> list[str]:
    """Refuse (StateError) an issue with failed checks unless an override reason is given.

    Returns the failures that were overridden (for the send report and the log).
    """
    failures = failed_checks(archive, issue_id)
    if failures and not (override_reason and override_reason.strip()):
        raise StateError(
            f"{issue_id}: pre-send checks failed ({'; '.join(failures)[:300]}); fix and render "
            "again, or send with --override-checks REASON"
        )
    return failures


__all__ = ["CHECKS_FILE", "failed_checks", "require_checks_passed"]

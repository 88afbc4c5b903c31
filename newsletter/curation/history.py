"""What earlier issues featured: those items are never featured again."""

from __future__ import annotations

from datetime import datetime

from newsletter.archive import Archive


def featured_ids(archive: Archive, *, exclude_issue: str, before: datetime) -> frozenset[str]:
    """Ids featured (as a story or under ``also``) in issues whose slot is before ``before``.

    The issue being (re)assembled is ignored, and so are cancelled issues: they never went out.
    """
    ids: set[str] = set()
    for plan in archive.plans():
        if plan.id == exclude_issue or plan.status == "cancelled" or plan.slot >= before:
            continue
        for story in plan.stories:
            ids.add(story.item.id)
            ids.update(ref.id for ref in story.also)
    return frozenset(ids)

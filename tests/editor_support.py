"""The sample Sunday issue, assembled and rendered from the repo's content, for editor tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from web_support import project

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.curation import assemble_issue
from newsletter.rendering import render_issue

ISSUE = "2026-11-22-sunday"
ASSEMBLE_AT = datetime(2026, 11, 22, 5, tzinfo=UTC)
EDITOR = "editors@almanac.example"


def sunday_project(folder: Path, **sections: Any) -> Settings:
    """A project on the sample content with the Sunday issue of 2026-11-22 assembled and rendered."""
    cfg = project(folder, **sections)
    plan = assemble_issue(cfg, "sunday", ASSEMBLE_AT).plan
    assert plan.id == ISSUE
    render_issue(cfg, ISSUE)
    return cfg


def story_ids(archive: Archive, issue_id: str = ISSUE) -> list[str]:
    return [s.item.id for s in archive.load_plan(issue_id).stories]

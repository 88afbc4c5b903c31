"""Shared helpers for the rendering tests: realistic Sunday and Midweek plans in an archive."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from newsletter.archive import Archive
from newsletter.config import Settings, load_config
from newsletter.models import IssuePlan
from newsletter.rendering.sample import sample_plan
from newsletter.sources import load_content
from tests.conftest import write_config

SUNDAY_SLOT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
MIDWEEK_SLOT = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)


def make_plans(cfg: Settings) -> tuple[IssuePlan, IssuePlan]:
    """A Sunday plan (10 stories, guide cards) and a Midweek plan (6 stories)."""
    catalog = load_content(cfg).catalog
    sunday = sample_plan(catalog, "sunday", SUNDAY_SLOT, number=47)
    midweek = sample_plan(catalog, "midweek", MIDWEEK_SLOT, number=None)
    return sunday, midweek


def project(folder: Path, **sections: dict[str, object]) -> tuple[Settings, Archive]:
    """A config in ``folder`` with its own archive holding the Sunday and Midweek plans."""
    cfg = load_config(write_config(folder, **sections), env={})
    archive = Archive(cfg.archive_dir)
    for plan in make_plans(cfg):
        archive.save_plan(plan)
    return cfg, archive

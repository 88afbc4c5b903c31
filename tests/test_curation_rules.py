"""Curation rules beyond the basics: late duplicates, the focus path, overrides errors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import write_config

from newsletter.archive import Archive
from newsletter.config import load_config
from newsletter.curation import assemble_issue, issue_slot
from newsletter.curation import candidates as candidates_module
from newsletter.errors import InputError

SUNDAY = datetime.fromisoformat("2026-11-22T05:00:00+00:00")
MIDWEEK = datetime.fromisoformat("2026-11-18T05:00:00+00:00")

LATE_DUPLICATE = {
    "id": "cowork-exfil-late",
    "title": "Microsoft patches Copilot Cowork flaw that let attackers pull files",
    "url": "https://engadget.example/copilot-cowork-flaw",
    "source": "Engadget",
    "published_at": "2026-11-18T09:00:00+00:00",
    "score": 9,
    "summary": "Microsoft fixed the Copilot Cowork vulnerability that allowed file "
    "exfiltration through hidden instructions in a shared document.",
    "topics": ["Microsoft", "Copilot", "Prompt Injection"],
}


def _with_late_duplicate(content: Path) -> None:
    with (content / "news.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(LATE_DUPLICATE) + "\n")


def test_late_duplicate_of_a_sent_story_is_not_featured(tmp_path: Path, content_copy: Path) -> None:
    _with_late_duplicate(content_copy)
    (tmp_path / "a").mkdir()
    alone = load_config(write_config(tmp_path / "a"))
    fresh = assemble_issue(alone, "sunday", SUNDAY, content_dir=content_copy).plan
    assert "cowork-exfil-late" in {s.item.id for s in fresh.stories}

    (tmp_path / "b").mkdir()
    cfg = load_config(write_config(tmp_path / "b"))
    mid = assemble_issue(cfg, "midweek", MIDWEEK, content_dir=content_copy).plan
    assert "cowork-exfil-ars" in {s.item.id for s in mid.stories}
    sunday = assemble_issue(cfg, "sunday", SUNDAY, content_dir=content_copy).plan
    assert "cowork-exfil-late" not in {s.item.id for s in sunday.stories}


def test_focus_path_matches_on_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    full_cfg = load_config(write_config(tmp_path))
    full = assemble_issue(full_cfg, "sunday", SUNDAY).plan
    monkeypatch.setattr(candidates_module, "FULL_LIMIT", 5)
    (tmp_path / "focus").mkdir()
    focus_cfg = load_config(write_config(tmp_path / "focus"))
    focused = assemble_issue(focus_cfg, "sunday", SUNDAY).plan
    assert [s.item.id for s in focused.stories] == [s.item.id for s in full.stories]
    nvidia = next(s for s in focused.stories if s.item.id.startswith("nvidia-q3"))
    assert len(nvidia.also) == 2


def test_schedules_are_not_hard_coded(tmp_path: Path) -> None:
    cfg = load_config(
        write_config(
            tmp_path,
            editions={
                "midweek": {"schedule": "30 6 * * thu", "timezone": "America/New_York"},
                "sunday": {"schedule": "0 8 * * sun", "timezone": "Europe/London"},
            },
        )
    )
    slot = issue_slot(cfg, "sunday", SUNDAY)
    # Thursday 06:30 in New York is 11:30 UTC (EST).
    assert slot.window.start == datetime.fromisoformat("2026-11-19T11:30:00+00:00")
    mid = issue_slot(cfg, "midweek", MIDWEEK)
    assert mid.id == "2026-11-19-midweek"
    assert mid.slot.utcoffset() is not None and mid.slot.utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]


def test_bad_overrides_file_is_one_clear_line(config_path: Path) -> None:
    cfg = load_config(config_path)
    archive = Archive(cfg.archive_dir)
    archive.write_text("2026-11-22-sunday", "overrides.json", '{"pin": "not-a-list"}')
    with pytest.raises(InputError, match=r"overrides\.json: pin: must be a list"):
        assemble_issue(cfg, "sunday", SUNDAY)
    archive.write_text("2026-11-22-sunday", "overrides.json", "{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        assemble_issue(cfg, "sunday", SUNDAY)


def test_unknown_and_conflicting_overrides_warn(config_path: Path) -> None:
    cfg = load_config(config_path)
    result = assemble_issue(
        cfg, "sunday", SUNDAY, pins=["farm-robots"], excludes=["farm-robots", "ghost"]
    )
    assert "farm-robots" not in {s.item.id for s in result.plan.stories}
    assert any("both pinned and excluded" in w for w in result.warnings)
    assert any("'ghost' is not in the content" in w for w in result.warnings)


def test_pin_outside_window_and_from_history(config_path: Path) -> None:
    cfg = load_config(config_path)
    mid = assemble_issue(cfg, "midweek", MIDWEEK).plan
    featured = mid.stories[0].item.id
    result = assemble_issue(cfg, "sunday", SUNDAY, pins=[featured, "early-week-anthropic"])
    ids = {s.item.id for s in result.plan.stories}
    assert {featured, "early-week-anthropic"} <= ids
    assert any("outside the window" in w for w in result.warnings)
    assert any("earlier issue" in w for w in result.warnings)

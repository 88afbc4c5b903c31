"""`newsletter assemble` / `pair`: the plan file, rules, determinism, refusals, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import ROOT, write_config

from newsletter.archive import Archive
from newsletter.config import Settings, load_config
from newsletter.curation import assemble_issue
from newsletter.errors import StateError

SUNDAY = datetime.fromisoformat("2026-11-22T05:00:00+00:00")
MIDWEEK = datetime.fromisoformat("2026-11-18T05:00:00+00:00")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args], capture_output=True, text=True, env=env
    )


def test_plan_contract_and_guide_once(cfg: Settings) -> None:
    result = assemble_issue(cfg, "sunday", SUNDAY)
    plan = result.plan
    assert result.path == cfg.archive_dir / "2026-11-22-sunday" / "issue.json"
    data = json.loads(result.path.read_text(encoding="utf-8"))
    for key in ("id", "edition", "slot", "window", "subject", "preheader", "status", "stories"):
        assert key in data
    assert data["inputs_digest"].startswith("sha256:")
    assert 0 < len(plan.stories) <= cfg.editions["sunday"].max_stories
    slugs = [s.guide.slug for s in plan.stories if s.guide]
    assert len(slugs) == len(set(slugs))
    assert [g.slug for g in plan.guides] == slugs
    for story in plan.stories:
        assert plan.window.start < story.item.published_at <= plan.window.end
        assert story.item.score >= cfg.editions["sunday"].min_score
    sources = [s.item.source for s in plan.stories]
    assert max(sources.count(s) for s in sources) <= cfg.curation.source_cap


def test_deterministic_and_digest_changes(cfg: Settings, content_copy: Path) -> None:
    first = assemble_issue(cfg, "sunday", SUNDAY, content_dir=content_copy)
    before = first.path.read_bytes()
    again = assemble_issue(cfg, "sunday", SUNDAY, content_dir=content_copy)
    assert again.path.read_bytes() == before
    news = content_copy / "news.jsonl"
    lines = news.read_text(encoding="utf-8").splitlines()
    edited = [
        line.replace('"score": 4', '"score": 4.5') if "farm-robots" in line else line
        for line in lines
    ]
    news.write_text("\n".join(edited) + "\n", encoding="utf-8")
    changed = assemble_issue(cfg, "sunday", SUNDAY, content_dir=content_copy)
    assert changed.plan.inputs_digest != first.plan.inputs_digest


def test_history_excludes_earlier_stories(tmp_path: Path) -> None:
    # A long Sunday max and a wide window so the two issues overlap in candidates.
    cfg = load_config(write_config(tmp_path))
    mid = assemble_issue(cfg, "midweek", MIDWEEK).plan
    featured = {s.item.id for s in mid.stories} | {a.id for s in mid.stories for a in s.also}

    sunday = assemble_issue(cfg, "sunday", SUNDAY).plan
    assert not featured & {s.item.id for s in sunday.stories}
    # Force a clash: widen the Sunday window by cutting the midweek schedule to monthly.
    cfg2 = load_config(
        write_config(tmp_path, editions={"midweek": {"schedule": "0 7 1 1 *"}}),
    )
    wide = assemble_issue(cfg2, "sunday", SUNDAY).plan
    assert wide.window.start <= mid.window.start  # covers the whole midweek window
    assert not featured & {s.item.id for s in wide.stories}
    assert not featured & {a.id for s in wide.stories for a in s.also}


def test_pins_excludes_flags_and_overrides(cfg: Settings) -> None:
    base = assemble_issue(cfg, "sunday", SUNDAY).plan
    top = base.stories[0].item.id
    low = "ai-art-exhibit"  # score 2: below min_score
    result = assemble_issue(cfg, "sunday", SUNDAY, pins=[low, "no-such-id"], excludes=[top])
    ids = [s.item.id for s in result.plan.stories]
    assert low in ids and top not in ids
    assert any("no-such-id" in w for w in result.warnings)
    archive = Archive(cfg.archive_dir)
    archive.write_text(
        base.id, "overrides.json", json.dumps({"pin": ["farm-robots"], "exclude": [low]})
    )
    again = assemble_issue(cfg, "sunday", SUNDAY).plan
    ids = [s.item.id for s in again.stories]
    assert "farm-robots" in ids and low not in ids


def test_max_stories_and_min_score(tmp_path: Path) -> None:
    cfg = load_config(
        write_config(tmp_path, editions={"sunday": {"max_stories": 3, "min_score": 7}})
    )
    plan = assemble_issue(cfg, "sunday", SUNDAY).plan
    assert len(plan.stories) == 3
    assert all(s.item.score >= 7 for s in plan.stories)


def test_source_cap(tmp_path: Path) -> None:
    cfg = load_config(
        write_config(tmp_path, curation={"source_cap": 1}, editions={"sunday": {"min_score": 0}})
    )
    plan = assemble_issue(cfg, "sunday", SUNDAY).plan
    sources = [s.item.source for s in plan.stories]
    assert len(sources) == len(set(sources))


def test_refuses_past_draft_unless_force(cfg: Settings) -> None:
    plan = assemble_issue(cfg, "sunday", SUNDAY).plan
    Archive(cfg.archive_dir).set_status(plan.id, "approved")
    with pytest.raises(StateError):
        assemble_issue(cfg, "sunday", SUNDAY)
    forced = assemble_issue(cfg, "sunday", SUNDAY, force=True)
    assert forced.plan.status == "draft"


def test_cli_assemble_end_to_end(config_path: Path) -> None:
    proc = run_cli(
        "assemble", "--edition", "sunday", "--at", "2026-11-22T05:00:00+00:00",
        "--config", str(config_path), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["plan"]["id"] == "2026-11-22-sunday"
    human = run_cli(
        "assemble", "--edition", "sunday", "--at", "2026-11-22T05:00:00+00:00",
        "--config", str(config_path),
    )  # fmt: skip
    assert human.returncode == 0
    assert "2026-11-22-sunday" in human.stderr and "subject:" in human.stderr
    plan_path = config_path.parent / "issues" / "2026-11-22-sunday" / "issue.json"
    data = json.loads(plan_path.read_text(encoding="utf-8"))
    data["status"] = "sent"
    plan_path.write_text(json.dumps(data), encoding="utf-8")
    refused = run_cli(
        "assemble", "--edition", "sunday", "--at", "2026-11-22T05:00:00+00:00",
        "--config", str(config_path),
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    naive = run_cli(
        "assemble",
        "--edition",
        "sunday",
        "--at",
        "2026-11-22T05:00:00",
        "--config",
        str(config_path),
    )
    assert naive.returncode == 2 and "offset" in naive.stderr
    assert "Traceback" not in naive.stderr + refused.stderr


def test_cli_pair_json_shape(config_path: Path) -> None:
    proc = run_cli("pair", "--config", str(config_path), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    ids = [
        json.loads(line)["id"]
        for line in (ROOT / "content" / "news.jsonl").read_text().splitlines()
    ]
    assert [r["id"] for r in rows] == ids
    for r in rows:
        assert set(r) == {
            "id",
            "guide",
            "relevance",
            "confidence",
            "cluster",
            "cluster_confidence",
            "reason",
        }
        assert r["guide"] is None or isinstance(r["guide"], str)
        assert isinstance(r["relevance"], float)
        assert 0.0 <= r["confidence"] <= 1.0
        # A decision and its confidence agree: a guide above one half, "none" likewise.
        assert r["confidence"] >= 0.5
        alone = r["cluster"] == r["id"] and r["cluster_confidence"] is None
        assert alone or 0.0 < r["cluster_confidence"] <= 1.0


def test_cli_pins_and_content_dir(config_path: Path, content_copy: Path) -> None:
    proc = run_cli(
        "assemble", "--edition", "midweek", "--at", "2026-11-18T05:00:00+00:00",
        "--content", str(content_copy), "--pin", "ai-hiring-survey", "--exclude", "deepseek-paper",
        "--pin", "no-such-item", "--config", str(config_path), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    ids = [s["item"]["id"] for s in plan["stories"]]
    assert "ai-hiring-survey" in ids and "deepseek-paper" not in ids
    assert "no-such-item" in proc.stderr and "warning" in proc.stderr


def test_cli_reports_content_problems_and_goes_on(config_path: Path, content_copy: Path) -> None:
    with (content_copy / "news.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    proc = run_cli(
        "assemble", "--edition", "sunday", "--at", "2026-11-22T05:00:00+00:00",
        "--content", str(content_copy), "--config", str(config_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "news.jsonl:77:" in proc.stderr


def test_cli_pair_human_table_and_usage_errors(config_path: Path) -> None:
    proc = run_cli("pair", "--config", str(config_path))
    assert proc.returncode == 0, proc.stderr
    assert "shares topics" in proc.stderr
    bad = run_cli("assemble", "--edition", "monthly", "--config", str(config_path))
    assert bad.returncode == 2
    garbage = run_cli(
        "assemble", "--edition", "sunday", "--at", "next tuesday", "--config", str(config_path)
    )
    assert garbage.returncode == 2 and "ISO 8601" in garbage.stderr


def test_same_bytes_whatever_the_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "2"):
        folder = tmp_path / seed
        folder.mkdir()
        config = write_config(folder)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-m", "newsletter", "assemble", "--edition", "sunday",
             "--at", "2026-11-22T05:00:00+00:00", "--config", str(config)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outputs.append((folder / "issues" / "2026-11-22-sunday" / "issue.json").read_bytes())
    assert outputs[0] == outputs[1]

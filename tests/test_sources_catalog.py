"""load_content: configured paths, globs and content folders; check-content on the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.sources import load_content
from tests.conftest import CONTENT, DATA, ROOT, write_config

FEEDS = DATA / "feeds"


def test_configured_sample_content_loads_cleanly(tmp_path: Path) -> None:
    result = load_content(load_config(write_config(tmp_path)))
    assert len(result.catalog.news) == 76
    assert len(result.catalog.guides) == 16
    assert result.problems == []
    assert [(s.kind, s.items, s.problems) for s in result.sources] == [("jsonl", 76, 0)]


def test_first_definition_wins_across_files(tmp_path: Path) -> None:
    news = [str(CONTENT / "news.jsonl"), str(DATA / "bad_news.jsonl")]
    result = load_content(load_config(write_config(tmp_path, content={"news": news})))
    assert len(result.catalog.news) == 76
    assert [p.line for p in result.problems] == list(range(1, 13))
    eight = result.problems[7]
    assert eight.reason.startswith("duplicate id 'msft-openai-amended': ")
    assert eight.reason.endswith("news.jsonl line 1 already defines it")


def test_missing_files_and_empty_globs_are_reported_once(tmp_path: Path) -> None:
    news = [
        str(CONTENT / "*.jsonl"),
        str(CONTENT / "news.jsonl"),  # the same file again: loaded once
        "nothing-here/*.jsonl",
        "missing.jsonl",
    ]
    result = load_content(load_config(write_config(tmp_path, content={"news": news})))
    assert len(result.catalog.news) == 76
    assert [p.reason for p in result.problems] == ["no files match this pattern", "file not found"]
    assert len(result.sources) == 2


def test_content_folder_reads_news_jsonl_first_then_jsonl_then_feeds(
    tmp_path: Path, content_copy: Path
) -> None:
    shutil.copy(DATA / "bad_news.jsonl", content_copy / "bad_news.jsonl")
    for name in ("wire.rss", "labnotes.atom", "digest.json"):
        shutil.copy(FEEDS / name, content_copy / name)
    (content_copy / "notes.txt").write_text("not news", encoding="utf-8")
    cfg = load_config(write_config(tmp_path))

    result = load_content(cfg, content_copy)

    names = [Path(s.origin).name for s in result.sources]
    assert names == ["news.jsonl", "bad_news.jsonl", "digest.json", "labnotes.atom", "wire.rss"]
    assert len(result.catalog.news) == 76 + 0 + 2 + 2 + 2
    assert len(result.catalog.guides) == 16
    dup = next(p for p in result.problems if p.line == 8)
    assert "news.jsonl line 1 already defines it" in dup.reason
    assert len(result.problems) == 12 + 4 + 2 + 5


def test_content_folder_that_does_not_exist_is_one_problem(tmp_path: Path) -> None:
    result = load_content(load_config(write_config(tmp_path)), tmp_path / "nope")
    assert result.catalog.news == () and result.catalog.guides == ()
    assert [p.reason for p in result.problems] == ["content folder not found"]


def test_content_folder_without_guides_reports_it(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    shutil.copy(CONTENT / "news.jsonl", folder / "news.jsonl")
    result = load_content(load_config(write_config(tmp_path)), folder)
    assert len(result.catalog.news) == 76
    assert [p.reason for p in result.problems] == ["guides folder not found"]


# --- newsletter check-content -----------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


def test_check_content_prints_counts_and_problems(tmp_path: Path, content_copy: Path) -> None:
    shutil.copy(DATA / "bad_news.jsonl", content_copy / "bad_news.jsonl")
    config = write_config(tmp_path)
    done = run_cli("check-content", "--config", str(config), "--content", "content", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "loaded 76 news items and 16 guides; 12 problems" in done.stderr
    assert "content/bad_news.jsonl:1: invalid JSON (the object is cut off)" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_content_json(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = run_cli("check-content", "--config", str(config), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["news"], data["guides"], data["problems"]) == (76, 16, [])


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_check_content_exits_2_when_nothing_loads(tmp_path: Path, json_flag: list[str]) -> None:
    config = write_config(tmp_path)
    done = run_cli(
        "check-content", "--config", str(config), "--content", "nope", *json_flag, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "content folder not found" in done.stderr + done.stdout


def test_feed_files_by_glob_and_by_sniffing(tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    shutil.copy(FEEDS / "wire.rss", folder / "wire.rss")
    shutil.copy(FEEDS / "labnotes.atom", folder / "labnotes.txt")  # no telling extension
    news = [str(folder / "*.rss"), str(folder / "labnotes.txt")]
    result = load_content(load_config(write_config(tmp_path, content={"news": news})))
    assert [(s.kind, s.items) for s in result.sources] == [("feed", 2), ("feed", 2)]
    assert len(result.catalog.news) == 4

"""`newsletter render` and `newsletter preview` as a user runs them (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.archive import Archive
from tests.conftest import ROOT
from tests.render_support import project


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NEWSLETTER_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("render-cli")
    project(path)
    return path


def test_render_writes_files_and_exits_0(folder: Path) -> None:
    proc = run("render", "2026-11-22-sunday", "--config", str(folder / "config.yaml"), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "checks: 21 pass, 0 warn, 0 fail" in proc.stderr
    for name in ("email.html", "email.txt", "web.html", "checks.json"):
        assert (folder / "issues" / "2026-11-22-sunday" / name).is_file()
    assert (folder / "issues" / "index.html").is_file()


def test_render_json(folder: Path) -> None:
    proc = run(
        "render",
        "2026-11-18-midweek",
        "--json",
        "--config",
        str(folder / "config.yaml"),
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True and data["issue_id"] == "2026-11-18-midweek"
    assert Path(data["files"]["email_html"]).is_file()
    stored = json.loads(Path(data["files"]["checks_json"]).read_text(encoding="utf-8"))
    assert stored == data["checks"]
    assert all(set(c) == {"name", "status", "detail"} for c in stored)


def test_failed_check_exits_1_with_one_line_per_failure(tmp_path: Path) -> None:
    _, archive = project(tmp_path)
    plan = archive.load_plan("2026-11-18-midweek")
    plan.preheader = ""
    archive.save_plan(plan)
    proc = run("render", plan.id, "--config", str(tmp_path / "config.yaml"), cwd=tmp_path)
    assert proc.returncode == 1
    fails = [line for line in proc.stderr.splitlines() if line.strip().startswith("FAIL")]
    assert len(fails) == 2, proc.stderr  # hidden preheader and its length
    assert any("preheader-length" in line for line in fails)
    assert (tmp_path / "issues" / plan.id / "checks.json").is_file()  # files written anyway
    proc = run("render", plan.id, "--json", "--config", str(tmp_path / "config.yaml"), cwd=tmp_path)
    assert proc.returncode == 1 and json.loads(proc.stdout)["ok"] is False


def test_unknown_issue_exits_2(folder: Path) -> None:
    proc = run("render", "2026-01-01-sunday", "--config", str(folder / "config.yaml"), cwd=folder)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no such issue" in proc.stderr
    proc = run("preview", "../etc", "--config", str(folder / "config.yaml"), cwd=folder)
    assert proc.returncode == 2 and "not an issue id" in proc.stderr


def test_preview_prints_paths_and_checks(folder: Path) -> None:
    proc = run("preview", "2026-11-22-sunday", "--config", str(folder / "config.yaml"), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "web.html" in proc.stderr and "pass size:" in proc.stderr
    assert Archive(folder / "issues").exists("2026-11-22-sunday")


def test_help() -> None:
    for cmd in ("render", "preview"):
        proc = run(cmd, "--help", cwd=ROOT)
        assert proc.returncode == 0 and "--config" in proc.stdout


def test_sent_issue_is_not_re_rendered(tmp_path: Path) -> None:
    _, archive = project(tmp_path)
    archive.set_status("2026-11-18-midweek", "sent")
    proc = run(
        "render", "2026-11-18-midweek", "--config", str(tmp_path / "config.yaml"), cwd=tmp_path
    )
    assert proc.returncode == 1 and "is sent" in proc.stderr
    assert not (tmp_path / "issues" / "2026-11-18-midweek" / "email.html").exists()

"""``newsletter edit`` does what the web editor does, through the same function; ``approve``
refuses failed checks unless ``--override-checks REASON``; ``send`` refuses changed content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import run_cli
from editor_support import ISSUE, story_ids, sunday_project

from newsletter.archive import Archive, dump_json
from newsletter.config import Settings


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return sunday_project(tmp_path)


@pytest.fixture
def config(tmp_path: Path, cfg: Settings) -> str:
    return str(tmp_path / "config.yaml")


def test_edit_every_option(
    capsys: pytest.CaptureFixture[str], cfg: Settings, config: str, tmp_path: Path
) -> None:
    archive = Archive(cfg.archive_dir)
    ids = story_ids(archive)
    note = tmp_path / "note.md"
    note.write_text("This week: **agents** everywhere.\n", encoding="utf-8")
    code, out, err = run_cli(
        capsys, "--config", config, "edit", ISSUE, "--json",
        "--subject", "Agents everywhere",
        "--preheader", "The week in AI: agents, chips and a ruling, with guides to go deeper.",
        "--note-file", str(note),
        "--order", ",".join([ids[2], ids[0], ids[1], *ids[3:]]),
        "--guide", "gemini-release-deepmind=reasoning-models",
        "--guide", "copyright-ruling=none",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["version"] == 2 and result["status"] == "draft"
    assert set(result["changes"]) == {"subject", "preheader", "note", "order", "guides"}
    plan = archive.load_plan(ISSUE)
    assert plan.subject == "Agents everywhere" and plan.note == "This week: **agents** everywhere."
    assert [s.item.id for s in plan.stories][:3] == [ids[2], ids[0], ids[1]]
    overrides = json.loads(archive.file(ISSUE, "overrides.json").read_text())
    assert overrides["guide"] == {
        "copyright-ruling": None,
        "gemini-release-deepmind": "reasoning-models",
    }
    history = archive.read_history(ISSUE)
    assert history[-1]["action"] == "edit" and history[-1]["who"].startswith("cli")
    assert "<title>Agents everywhere</title>" in archive.read_text(ISSUE, "email.html")

    code, _, err = run_cli(
        capsys, "--config", config, "edit", ISSUE, "--merge", "trainium-chip,openai-aws-deal",
        "--split", "nvidia-q3-ft",
    )  # fmt: skip
    assert code == 0 and "version 3" in err
    code, _, err = run_cli(capsys, "--config", config, "edit", ISSUE, "--note-file", "-")
    assert code == 0 and archive.load_plan(ISSUE).note is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--subject", "x" * 151), "subject: is 151 characters; the limit is 150"),
        (("--guide", "anthropic-funding"), "--guide: expected ITEM_ID=SLUG"),
        (("--guide", "anthropic-funding=nope"), "guides.anthropic-funding: unknown guide 'nope'"),
        (("--order", "nope"), "stories: 'nope' is neither a story"),
        (("--merge", "a"), "--merge: expected two item ids"),
        (("--note-file", "missing.md"), "--note-file: missing.md: cannot read"),
        ((), "nothing to change"),
    ],
)
def test_bad_edit_is_exit_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], config: str, args: tuple[str, ...], words: str
) -> None:
    code, _, err = run_cli(capsys, "--config", config, "edit", ISSUE, *args)
    assert code == 2 and words in " ".join(err.split()), err


def test_stale_version_is_refused(capsys: pytest.CaptureFixture[str], config: str) -> None:
    assert run_cli(capsys, "--config", config, "edit", ISSUE, "--subject", "A")[0] == 0
    code, _, err = run_cli(
        capsys, "--config", config, "edit", ISSUE, "--version", "1", "--subject", "B"
    )
    assert code == 1 and "version 1 is stale (now 2)" in err


def test_approve_refuses_failed_checks_without_a_reason(
    capsys: pytest.CaptureFixture[str], cfg: Settings, config: str
) -> None:
    archive = Archive(cfg.archive_dir)
    checks = json.loads(archive.file(ISSUE, "checks.json").read_text())
    checks.append({"name": "links", "status": "fail", "detail": "1 javascript: link"})
    archive.write_text(ISSUE, "checks.json", dump_json(checks))
    code, _, err = run_cli(capsys, "--config", config, "approve", ISSUE)
    assert code == 1 and "pre-send checks failed (links: 1 javascript: link)" in err
    assert "--override-checks" in err and archive.load_plan(ISSUE).status == "draft"
    code, _, err = run_cli(capsys, "--config", config, "approve", ISSUE, "--override-checks", " ")
    assert code == 2
    code, _, err = run_cli(
        capsys, "--config", config, "approve", ISSUE, "--override-checks", "false positive"
    )
    assert code == 0 and archive.load_plan(ISSUE).status == "approved"
    entry = archive.read_history(ISSUE)[-1]
    assert entry["action"] == "approve" and entry["override_checks"] == "false positive"


def test_send_refuses_content_changed_after_approval(
    capsys: pytest.CaptureFixture[str], cfg: Settings, config: str
) -> None:
    archive = Archive(cfg.archive_dir)
    assert run_cli(capsys, "--config", config, "approve", ISSUE)[0] == 0
    plan = archive.load_plan(ISSUE)
    plan.subject = "Changed by hand after approval"
    archive.save_plan(plan)
    code, _, err = run_cli(capsys, "--config", config, "send", ISSUE, "--no-progress")
    assert code == 1 and "issue.json changed after it was approved" in err
    assert archive.load_plan(ISSUE).status == "approved"  # nothing sent, nothing changed
    assert not (Path(cfg.delivery.outbox.dir) / ISSUE / "delivered.log").exists()
    # Editing it through the editor returns it to draft, as the web editor does.
    code, _, err = run_cli(capsys, "--config", config, "edit", ISSUE, "--subject", "Reviewed")
    assert code == 0 and "a draft again" in err
    assert archive.load_plan(ISSUE).status == "draft"

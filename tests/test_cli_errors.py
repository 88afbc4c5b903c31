"""Bad input on every command: one `error:` line naming the file/line/key, exit 2 (bad input)
or 1 (failed), no traceback, and nothing lost."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import write_config

from tests.cli_support import run_cli as run

IID = "2026-11-22-sunday"
KEY = "cli-errors-test-key"


def one_error(err: str) -> str:
    """The single `error:` line of a failed command (and no traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert len(lines[lines.index(errors[0]) :]) == 1, err
    return errors[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", KEY)
    return write_config(tmp_path)


@pytest.fixture
def assembled(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, err = run(capsys, "--config", str(project), "assemble", "--edition", "sunday", "--at", "2026-11-20T08:00:00Z")  # fmt: skip
    assert code == 0, err
    return project.parent / "issues" / IID / "issue.json"


def test_error_text_with_brackets_is_printed_verbatim(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--config", str(project), "render", "[bold]x[/bold]")
    assert code == 2
    assert "'[bold]x[/bold]': not an issue id" in one_error(err)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("assemble", "--edition", "weekly", "--at", "2026-11-22T08:00:00Z"), "'--edition'"),
        (("subscribers", "add", "a@example.com", "--edition", "x"), "No such option: --edition"),
        (("render",), "Missing argument 'issue_id'"),
        (("bogus",), "No such command 'bogus'"),
        (("serve", "--port", "99999"), "'--port'"),
        (("assemble", "--edition", "sunday", "--content", "/nonexistent"), "does not exist"),
        (("pair", "--content", "/nonexistent"), "does not exist"),
        (("assemble", "--edition", "sunday", "--at", "notadate"), "--at: not an ISO 8601"),
        (("assemble", "--edition", "sunday", "--at", "2026-11-22T08:00:00"), "no UTC offset"),
        (("status", "--now", "garbage"), "--now: not an ISO 8601"),
        (("schedule", "list", "--now", "garbage"), "--now: not an ISO 8601"),
        (("render", "../../etc/passwd"), "not an issue id"),
        (("render", IID), f"{IID}/issue.json: no such issue"),
        (("send", IID), f"{IID}/issue.json: no such issue"),
        (("approve", IID), f"{IID}/issue.json: no such issue"),
    ],
)
def test_usage_and_argument_errors_are_one_line_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    code, _, err = run(capsys, "--config", str(project), *args)
    assert code == 2
    assert expected in one_error(err)
    assert not (project.parent / "issues" / IID).exists()


def test_send_of_a_draft_fails_and_unknown_provider_is_bad_input(
    assembled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(assembled.parents[2] / "config.yaml")
    code, _, err = run(capsys, "--config", config, "send", IID)
    assert code == 1 and "approve it first" in one_error(err)
    code, _, err = run(capsys, "--config", config, "send", IID, "--provider", "nope")
    assert code == 2 and "--provider: must be one of" in one_error(err)
    assert json.loads(assembled.read_text(encoding="utf-8"))["status"] == "draft"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda text: text[:40], "Invalid JSON"),
        (lambda text: text.replace('"status": "draft"', '"status": "bogus"'), "status:"),
        (lambda text: text.replace("{", '{"extra_key": 1, ', 1), "extra_key:"),
    ],
)
def test_damaged_issue_json_is_named_and_kept(
    assembled: Path, capsys: pytest.CaptureFixture[str], damage: object, expected: str
) -> None:
    config = str(assembled.parents[2] / "config.yaml")
    text = assembled.read_text(encoding="utf-8")
    assert '"status": "draft"' in text
    broken = damage(text)  # type: ignore[operator]
    assembled.write_text(broken, encoding="utf-8")
    for command in ("render", "send", "approve"):
        code, _, err = run(capsys, "--config", config, command, IID)
        line = one_error(err)
        assert code == 2 and str(assembled) in line and expected in line
    code, _, err = run(capsys, "--config", config, "status", "--json")
    assert code == 0 and f"warning: {assembled}" in err
    assert assembled.read_text(encoding="utf-8") == broken


def test_bad_config_stops_before_work(
    tmp_path: Path,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "absent.yaml"), "config")
    assert code == 2 and "absent.yaml: config file not found" in one_error(err)
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: [\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(broken), "config")
    assert code == 2 and "broken.yaml:2: not valid YAML" in one_error(err)
    monkeypatch.setenv("NEWSLETTER_DELIVERY__BATCH_SIZE", "abc")
    code, _, err = run(capsys, "--config", str(project), "config")
    assert code == 2 and "NEWSLETTER_DELIVERY__BATCH_SIZE: delivery.batch_size" in one_error(err)


def test_storage_errors(
    tmp_path: Path,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "no" / "such" / "x.db"
    monkeypatch.setenv("NEWSLETTER_STORAGE__URL", f"sqlite:///{missing}")
    code, _, err = run(capsys, "--config", str(project), "subscribers", "stats")
    assert code == 2 and "storage.url: folder" in one_error(err)
    assert not (tmp_path / "no").exists()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("NEWSLETTER_STORAGE__URL", f"postgresql://postgres@127.0.0.1:{port}/x")
    for args in (("subscribers", "stats"), ("db", "upgrade"), ("status",)):
        code, _, err = run(capsys, "--config", str(project), *args)
        assert code == 1 and f"127.0.0.1:{port}" in one_error(err)


def test_bad_csv(tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"email,name\nok@example.com,\xff\xfe\nfine@example.com,F\n")
    code, _, err = run(capsys, "--config", str(project), "subscribers", "import", str(latin))
    # A bad byte costs its row (file:line), the rest is kept; a bad header stops (exit 2).
    assert code == 0 and f"{latin}:2: not valid UTF-8 (byte 0xff" in err and "1 added" in err
    latin_header = tmp_path / "latin-header.csv"
    latin_header.write_bytes(b"e\xe9mail,name\n")
    code, _, err = run(capsys, "--config", str(project), "subscribers", "import", str(latin_header))
    assert code == 2 and f"{latin_header}:1: unreadable header" in one_error(err)
    headless = tmp_path / "headless.csv"
    headless.write_text("name,first\nx,y\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(project), "subscribers", "import", str(headless))
    assert code == 2 and f"{headless}:1: the header" in one_error(err)


def test_send_before_render_is_bad_input_and_keeps_the_status(
    assembled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(assembled.parents[2] / "config.yaml")
    code, _, err = run(capsys, "--config", config, "approve", IID)
    assert code == 0, err
    code, _, err = run(capsys, "--config", config, "send", IID)
    assert code == 2 and f"{IID}/email.html: not found" in one_error(err)
    assert json.loads(assembled.read_text(encoding="utf-8"))["status"] == "approved"


def test_an_unexpected_failure_is_one_line_exit_1(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsletter.cli.common as common

    def boom(path: object = None) -> None:
        raise RuntimeError("boom [x]\nsecond line")

    monkeypatch.delenv("NEWSLETTER_DEBUG", raising=False)
    monkeypatch.setattr(common, "load_config", boom)
    code, _, err = run(capsys, "--config", str(project), "config")
    line = one_error(err)
    assert code == 1 and "unexpected RuntimeError: boom [x] (set NEWSLETTER_DEBUG=1" in line
    assert "second line" not in err


def test_send_without_sendgrid_key_stops_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forgotten SENDGRID_API_KEY is bad configuration: exit 2, issue still approved."""
    from newsletter.archive import Archive
    from newsletter.config import load_config
    from tests.store_fixtures import make_issue

    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k")
    config = write_config(tmp_path)
    cfg = load_config(config)
    issue_id = make_issue(cfg)
    code, _, err = run(capsys, "send", issue_id, "--provider", "sendgrid", "--config", str(config))
    assert code == 2
    assert "SENDGRID_API_KEY is not set" in err
    assert Archive(cfg.archive_dir).load_plan(issue_id).status == "approved"

"""Every bad config is one line naming the key (or file:line), exit 2; never "unexpected"."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import write_config

from tests.cli_support import run_cli

BAD: list[tuple[str, str, str]] = [
    # (YAML snippet merged into the config, words the one line must contain, the key)
    (
        "editions: {sunday: {assemble_lead: 1.0e+20}}",
        "at most a year",
        "editions.sunday.assemble_lead",
    ),
    ("editions: {sunday: {assemble_lead: -3600}}", "at least 0s", "editions.sunday.assemble_lead"),
    ("editions: {sunday: {assemble_lead: 30d}}", "at most 6d", "editions.sunday.assemble_lead"),
    ("editions: {sunday: {schedule: '0 7 31 2 *'}}", "never fires", "editions.sunday.schedule"),
    ("scheduling: {lease: -5}", "at least 5s", "scheduling.lease"),
    ("scheduling: {recheck: 0s}", "at least 1s", "scheduling.recheck"),
    ("scheduling: {misfire_grace: .inf}", "at most a year", "scheduling.misfire_grace"),
    ("storage: {url: 'mysql://db/x'}", "sqlite:/// or postgresql://", "storage.url"),
    ("delivery: {retry_window: 5y}", "must be a duration", "delivery.retry_window"),
    ("delivery: {reconcile_after: -1m}", "must be a duration", "delivery.reconcile_after"),
    ("delivery: {max_attempts: 100000}", "at most 100", "delivery.max_attempts"),
    ("delivery: {sendgrid: {timeout: 1e300}}", "at most 600", "delivery.sendgrid.timeout"),
    ("curation: {recency_half_life: 0s}", "more than 0s", "curation.recency_half_life"),
    (
        "delivery: {celery: {heartbeat_interval: 30, heartbeat_timeout: 40}}",
        "at least twice heartbeat_interval",
        "delivery.celery",
    ),
]


def _config(tmp_path: Path, snippet: str) -> Path:
    path = write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    for section, values in yaml.safe_load(snippet).items():
        merged = data.setdefault(section, {})
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("snippet", "words", "key"), BAD)
def test_bad_values_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snippet: str, words: str, key: str
) -> None:
    config = _config(tmp_path, snippet)
    code, _, err = run_cli(capsys, "--config", str(config), "config")
    lines = [line for line in err.strip().splitlines() if line]
    assert code == 2, err
    assert len(lines) == 1 and words in lines[0] and key in lines[0], lines
    assert "unexpected" not in err.lower()


def test_a_latin1_file_and_a_numeric_key_are_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"site:\n  name: Caf\xe9 Almanac\n")
    code, _, err = run_cli(capsys, "--config", str(latin), "config")
    assert code == 2 and f"{latin}:2: not UTF-8 (byte 0xe9)" in err
    numeric = tmp_path / "numeric.yaml"
    numeric.write_text("site:\n  name: x\n1: oops\n")
    code, _, err = run_cli(capsys, "--config", str(numeric), "config")
    assert code == 2 and f"{numeric}: 1: keys must be names" in err
    nested = tmp_path / "nested.yaml"
    nested.write_text("delivery:\n  2: x\n")
    code, _, err = run_cli(capsys, "--config", str(nested), "config")
    assert code == 2 and "delivery.2: keys must be names" in err


def test_a_bad_environment_override_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    monkeypatch.setenv("NEWSLETTER_SCHEDULING__LEASE", "-10m")
    code, _, err = run_cli(capsys, "--config", str(config), "config")
    assert code == 2 and "NEWSLETTER_SCHEDULING__LEASE" in err and "scheduling.lease" in err


@pytest.mark.parametrize(
    "token", ["²³.abc", "١٢.abc", "\U0001d7d9.abc", "1" * 40 + ".abc", "\ud800.x", "12.\ud800"]
)
def test_unicode_digits_in_tokens_are_refused_not_crashed(token: str) -> None:
    from newsletter.personalization import token_subscriber_id, verify_token

    sid = token_subscriber_id(token)
    assert sid is None or not verify_token(b"k", token, sid, "a@example.com")

"""Config: defaults, environment overrides, and one-line errors that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.config import Secrets, load_config
from newsletter.errors import ConfigError
from tests.conftest import write_config


def test_repo_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parent.parent / "config.yaml", env={})
    assert cfg.editions["sunday"].max_stories == 10
    assert cfg.editions["midweek"].assemble_lead == timedelta(hours=3)


def test_bad_value_names_file_key_and_reason(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, editions={"sunday": {"schedule": "0 8 * * sun", "max_stories": 0}}
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: editions.sunday.max_stories: must be at least 1 (got 0)"


def test_environment_overrides_one_nested_key(config_path: Path) -> None:
    cfg = load_config(config_path, env={"NEWSLETTER_EDITIONS__SUNDAY__MAX_STORIES": "4"})
    assert cfg.editions["sunday"].max_stories == 4
    assert cfg.editions["sunday"].schedule == "0 8 * * sun"


def test_bad_environment_value_names_the_variable(config_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_DELIVERY__PROVIDER: delivery.provider: "):
        load_config(config_path, env={"NEWSLETTER_DELIVERY__PROVIDER": "carrier-pigeon"})


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"editions": {"sunday": {"schedule": "99 * * * *"}}},
            "editions.sunday.schedule: is not a cron",
        ),
        (
            {"editions": {"sunday": {"schedule": "0 8 * * sun", "timezone": "Mars/Olympus"}}},
            "editions.sunday.timezone: is not an IANA time zone",
        ),
        (
            {"delivery": {"batch_size": 5000}},
            "delivery.batch_size: must be at most 1000 (got 5000)",
        ),
        ({"delivery": {"api_key": "SG.secret"}}, "delivery.api_key: unknown key"),
        (
            {"editions": {"sunday": {"schedule": "0 8 * * sun", "assemble_lead": "soon"}}},
            "editions.sunday.assemble_lead: must be a duration",
        ),
        (
            {"site": {"sender": {"email": "not-an-address"}}},
            "site.sender.email: is not a valid email",
        ),
    ],
)
def test_bad_keys_are_located(tmp_path: Path, sections: dict[str, object], expected: str) -> None:
    path = write_config(tmp_path, **sections)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("site:\n  name: [unclosed\nstorage: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: not valid YAML"):
        load_config(path, env={})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", env={})


def test_secrets_come_from_the_environment_only(config_path: Path) -> None:
    secrets = Secrets.from_env({"SENDGRID_API_KEY": "SG.x", "NEWSLETTER_SECRET_KEY": "k"})
    assert secrets.sendgrid_api_key is not None
    assert "SG.x" not in repr(secrets)
    cfg = load_config(config_path, env={"NEWSLETTER_SECRET_KEY": "k"})
    assert "secret_key" not in cfg.model_dump_json()


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = write_config(tmp_path, storage={"url": "sqlite:///data/nl.db"}, archive={"dir": "arch"})
    cfg = load_config(path, env={})
    assert cfg.storage_url == f"sqlite:///{tmp_path / 'data/nl.db'}"
    assert cfg.archive_dir == tmp_path / "arch"

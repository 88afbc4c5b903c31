"""Shared fixtures: paths to the sample content and a throw-away project folder."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from newsletter.config import Settings, load_config
from newsletter.models import NewsItem

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"

# Fixtures of the fake SendGrid server and of the store (SQLite and PostgreSQL engines, ...).
pytest_plugins = ["tests.fakes.fixtures", "tests.store_fixtures"]


def news_item(key: str, title: str, summary: str, source: str, at: datetime) -> NewsItem:
    """A news item with no topics, at a URL of its own."""
    return NewsItem(
        id=key,
        title=title,
        summary=summary,
        url=f"https://news.example/{key}",
        source=source,
        published_at=at,
        score=5,
    )


def write_config(folder: Path, **sections: dict[str, object]) -> Path:
    """Write a config.yaml in ``folder`` based on the repo's, with sections replaced/merged."""
    base = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    base["content"]["news"] = [str(CONTENT / "*.jsonl")]
    base["content"]["guides"] = str(CONTENT / "guides")
    base["curation"]["training"] = [str(CONTENT / "labelled" / "*")]
    base["storage"]["url"] = f"sqlite:///{folder / 'newsletter.db'}"
    base["archive"]["dir"] = str(folder / "issues")
    base["delivery"]["outbox"]["dir"] = str(folder / "outbox")
    for name, values in sections.items():
        if isinstance(base.get(name), dict) and isinstance(values, dict):
            base[name] = {**base[name], **values}
        else:
            base[name] = values
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A config.yaml in a temporary folder: sample content, its own archive, db and outbox."""
    return write_config(tmp_path)


@pytest.fixture
def cfg(config_path: Path) -> Settings:
    return load_config(config_path)


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample content."""
    dest = tmp_path / "content"
    shutil.copytree(CONTENT, dest)
    return dest

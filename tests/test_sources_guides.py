"""Guides: Markdown with YAML front matter; every bad file is one located problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.sources import GuideError, load_guides, parse_guide
from tests.conftest import CONTENT

GOOD = """---
slug: {slug}
title: "A guide"
level: Beginner
url: https://almanac.example/guides/{slug}
updated_at: 2026-11-17
topics: [Microsoft, 2026]
tldr: >-
  One sentence.
takeaways:
  - first
author: Someone          # unknown keys are ignored
---
## Body

Text with --- inside a line.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_sample_guides_load_without_problems() -> None:
    batch = load_guides(CONTENT / "guides")
    assert len(batch.guides) == 16
    assert batch.problems == []
    assert [g.slug for g in batch.guides] == sorted(g.slug for g in batch.guides)
    microsoft = next(g for g in batch.guides if g.slug == "microsoft")
    assert microsoft.level == "Beginner"
    assert microsoft.body.startswith("## Why Microsoft is everywhere in AI")


def test_a_good_guide_with_extras_and_a_bom(tmp_path: Path) -> None:
    text = GOOD.format(slug="alpha").replace("Beginner", "beginner").replace("\n", "\r\n")
    write(tmp_path, "alpha.md", "\ufeff" + text)
    batch = load_guides(tmp_path)
    assert batch.problems == []
    (guide,) = batch.guides
    assert guide.topics == ("Microsoft", "2026")
    assert guide.level == "Beginner"
    assert guide.tldr == "One sentence."
    assert "Text with --- inside a line." in guide.body


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("# no front matter\n", "no front matter: the file must start with a '---' line", None),
        ("---\nslug: x\n", "front matter is not closed", None),
        (GOOD.replace("level: Beginner", "level: Expert"), "level must be one of", None),
        (GOOD.replace("level: Beginner\n", ""), "missing required field: level", None),
        (GOOD.replace("https://almanac", "javascript://almanac"), "url scheme must be", None),
        (
            GOOD.replace("updated_at: 2026-11-17", "updated_at: soon"),
            "updated_at is not a date",
            None,
        ),
        (GOOD.replace('title: "A guide"', 'title: "unclosed'), "invalid YAML in front matter", 3),
        (GOOD.replace("slug: {slug}", "slug: other"), "must equal the file name", None),
        (
            GOOD.replace("topics: [Microsoft, 2026]", "topics: {a: 1}"),
            "topics must be a list",
            None,
        ),
        ("---\n- a\n- b\n---\nbody\n", "front matter must be 'key: value' lines (got a list)", 2),
        (GOOD.replace("2026-11-17", "2026-13-45"), "invalid value in front matter: month", None),
        # PyYAML versions word (and place) a nesting error differently: any line of the front
        # matter will do, the reason and the file are what matter.
        ("---\n" + "[" * 5000 + "\n---\n", "invalid YAML in front matter", range(2, 4)),
        ("---\n---\nbody\n", "missing required fields: slug, title, level, url, updated_at", None),
    ],
)
def test_bad_guides_are_reported_and_skipped(
    tmp_path: Path, text: str, words: str, line: int | range | None
) -> None:
    write(tmp_path, "good.md", GOOD.format(slug="good"))
    bad = write(tmp_path, "bad.md", text.replace("{slug}", "bad"))
    batch = load_guides(tmp_path)
    assert [g.slug for g in batch.guides] == ["good"]
    (problem,) = batch.problems
    assert problem.path.endswith("bad.md")
    assert Path(problem.path).name == bad.name
    assert words in problem.reason, problem.reason
    if isinstance(line, range):
        assert problem.line in line, problem
    else:
        assert problem.line == line
    assert "\n" not in str(problem)


def test_invalid_utf8_guide_is_one_problem(tmp_path: Path) -> None:
    write(tmp_path, "bad.md", GOOD.format(slug="bad").encode() + b"\xff")
    (problem,) = load_guides(tmp_path).problems
    assert "not valid UTF-8" in problem.reason


def test_missing_guides_folder_is_one_problem(tmp_path: Path) -> None:
    batch = load_guides(tmp_path / "nope")
    assert batch.guides == []
    assert [p.reason for p in batch.problems] == ["guides folder not found"]


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.text(alphabet=list(":-[]{}!&*#|>'\"\n 0123456789sluglevetdaw"), max_size=200),
    )
)
def test_random_guide_text_never_raises(text: str) -> None:
    try:
        guide = parse_guide("---\n" + text + "\n---\nbody\n", "random")
    except GuideError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert guide.slug == "random"


def test_parsed_guides_are_cached_until_a_file_changes(tmp_path: Path) -> None:
    import os
    import shutil

    from conftest import CONTENT

    from newsletter.sources import load_guides, load_guides_cached

    folder = tmp_path / "guides"
    shutil.copytree(CONTENT / "guides", folder)
    cache = tmp_path / "cache"
    first = load_guides_cached(folder, cache)
    assert [g.slug for g in first.guides] == [g.slug for g in load_guides(folder).guides]
    assert len(list(cache.glob("parsed-guides-*.pickle"))) == 1
    again = load_guides_cached(folder, cache)
    assert again.guides == first.guides
    path = folder / "openai.md"
    text = path.read_text(encoding="utf-8").replace('title: "', 'title: "Edited ', 1)
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    edited = load_guides_cached(folder, cache)
    title = next(g.title for g in edited.guides if g.slug == "openai")
    assert title.startswith("Edited")
    (folder / "nvidia.md").unlink()
    assert "nvidia" not in {g.slug for g in load_guides_cached(folder, cache).guides}

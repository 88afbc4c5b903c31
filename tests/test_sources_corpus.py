"""The loaders over feedparser's own test feeds (tests/data/feedparser, BSD-2, see its README).

No traceback, no hang, and every entry feedparser reads with a title or text, an http(s) link
and a date with an offset is loaded. Figures: ``python -m tests.feed_corpus FOLDER``.
"""

from __future__ import annotations

import pytest

from tests.conftest import DATA
from tests.feed_corpus import CorpusResult, run_corpus

CORPUS = DATA / "feedparser"


@pytest.fixture(scope="module")
def corpus() -> CorpusResult:
    return run_corpus(CORPUS)


def test_every_file_loads_without_a_traceback(corpus: CorpusResult) -> None:
    assert len(corpus.files) >= 600
    assert corpus.parsed > 300
    # Each file is a few KB: even on a loaded machine none should take seconds (a hang, or
    # an entity expanded without limit, would).
    assert corpus.slowest().seconds < 10
    for result in corpus.files:
        assert all(reason and "\n" not in reason for reason in result.reasons), result.path


def test_every_complete_entry_is_loaded(corpus: CorpusResult) -> None:
    assert corpus.eligible >= 25
    missing = [(f.path.name, n, why) for f in corpus.files for n, why in f.missing]
    assert missing == []
    assert corpus.loaded >= corpus.eligible


def test_script_bodies_never_become_text(corpus: CorpusResult) -> None:
    from newsletter.config import ContentConfig
    from newsletter.sources import parse_xml_feed

    crazy = sorted((CORPUS / "wellformed" / "sanitize").glob("*crazy*"))
    assert len(crazy) >= 10
    for path in crazy:
        data = path.read_bytes().replace(
            b"</feed>",
            b"<entry><id>tag:x,2026:1</id><link href='https://x.example/1'/>"
            b"<issued>2026-11-13T09:00:00Z</issued></entry></feed>",
        )
        batch = parse_xml_feed(data, path.name, ContentConfig())
        text = repr([(i.title, i.summary, i.source) for i in batch.items])
        assert "executeMe" not in text and "am_i_javascript" not in text, path.name

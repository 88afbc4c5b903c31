"""Stories of several reports: the two-report check and the calibrated merge confidence."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from newsletter.curation.clustering import cluster_items
from newsletter.curation.model import ClusteringModel, Linear, load_model
from newsletter.curation.story_training import TWO_REPORT_THRESHOLD
from newsletter.models import NewsItem

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


def test_the_shown_confidence_is_the_calibrated_one() -> None:
    three = [report(1, "Wire"), report(2, "Daily"), report(3, "Weekly")]
    raw = cluster_items(three, max_gap=GAP, clustering=flat(0.6))
    assert raw[0].confidence == 0.6  # no calibration: the weakest mean itself
    shown = cluster_items(three, max_gap=GAP, clustering=flat(0.6, calibrated=True))
    assert shown[0].confidence == round(1 / (1 + math.exp(-3.0)), 4)  # bias 1 + corroborated 2


def test_the_shipped_calibration_trusts_corroboration_and_never_falls_with_the_mean() -> None:
    clustering = load_model().clustering
    assert clustering.merge_confidence is not None
    assert clustering.two_report_threshold == TWO_REPORT_THRESHOLD
    for mean in (0.3, 0.6, 0.95):
        assert clustering.confidence(mean, 3) > clustering.confidence(mean, 2)
        assert clustering.confidence(mean, 2) <= clustering.confidence(min(mean + 0.1, 1.0), 2)

"""Curation: windows, clustering and pairing quality on labels.json, selection rules, subject."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import DATA, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Settings, load_config
from newsletter.curation import (
    cluster_items,
    issue_slot,
    make_preheader,
    make_subject,
    pair_catalog,
)
from newsletter.curation.subject import PREHEADER_MAX, PREHEADER_MIN, SUBJECT_MAX
from newsletter.sources import load_content

LABELS = json.loads((DATA / "labels.json").read_text(encoding="utf-8"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_windows_both_editions(cfg: Settings) -> None:
    sunday = issue_slot(cfg, "sunday", at("2026-11-22T05:00:00+00:00"))
    assert sunday.id == "2026-11-22-sunday"
    assert sunday.slot == at("2026-11-22T08:00:00+00:00")
    assert sunday.window.start == at("2026-11-18T07:00:00+00:00")
    midweek = issue_slot(cfg, "midweek", at("2026-11-17T12:00:00+00:00"))
    assert midweek.id == "2026-11-18-midweek"
    assert midweek.window.start == at("2026-11-15T08:00:00+00:00")
    assert midweek.window.end == at("2026-11-18T07:00:00+00:00")
    # A slot exactly at `at` is that slot, not the next one.
    assert issue_slot(cfg, "sunday", at("2026-11-22T08:00:00+00:00")).id == sunday.id


def test_windows_across_dst(cfg: Settings) -> None:
    # Clocks go back on 2026-10-25 in London: the slot stays 08:00 local (07:00 UTC before).
    before = issue_slot(cfg, "sunday", at("2026-10-20T00:00:00+00:00"))
    assert before.slot == at("2026-10-25T08:00:00+00:00")  # GMT again on that Sunday
    summer = issue_slot(cfg, "midweek", at("2026-10-20T00:00:00+00:00"))
    assert summer.slot == at("2026-10-21T07:00:00+01:00")
    assert before.window.start == summer.slot
    spring = issue_slot(cfg, "sunday", at("2026-03-28T00:00:00+00:00"))
    assert spring.slot == at("2026-03-29T08:00:00+01:00")


def test_issue_number_counts_both_editions(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, site={"first_issue": "2026-11-15"}))
    assert issue_slot(cfg, "sunday", at("2026-11-15T00:00:00+00:00")).number == 1
    assert issue_slot(cfg, "midweek", at("2026-11-16T00:00:00+00:00")).number == 2
    assert issue_slot(cfg, "sunday", at("2026-11-16T00:00:00+00:00")).number == 3


def _pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in itertools.combinations(sorted(groups), 2) if groups[a] == groups[b]}


def test_clustering_precision_recall(cfg: Settings) -> None:
    """In-sample (the shipped model learned from this corpus): a floor, not a result."""
    news = load_content(cfg).catalog.news
    clusters = cluster_items(news, max_gap=cfg.curation.cluster_max_gap)
    predicted = {m.id: c.representative.id for c in clusters for m in c.members}
    truth = {i.id: i.id for i in news}
    for group in LABELS["clusters"]:
        for member in group:
            truth[member] = group[0]
    pred, true = _pairs(predicted), _pairs(truth)
    precision = len(pred & true) / len(pred)
    recall = len(pred & true) / len(true)
    # Two reports standing alone need a near-certain pair (the two-report check), so the
    # floor trades recall for precision: leave-guides-out gave P 0.835 → 0.924, R 0.863 → 0.830.
    assert precision >= 0.9 and recall >= 0.75, (precision, recall)
    # Representative: highest score, then earliest.
    by_rep = {c.representative.id: c for c in clusters}
    assert "msft-openai-reuters" in by_rep
    assert {a.id for a in by_rep["msft-openai-reuters"].also} == {
        "msft-openai-amended",
        "msft-openai-verge",
    }


def test_pairing_accuracy(cfg: Settings) -> None:
    """In-sample too; tests/test_curation_model.py scores content the model never saw."""
    rows = pair_catalog(cfg, load_content(cfg).catalog)
    correct = sum(r.guide == LABELS["pairs"][r.id] for r in rows)
    assert correct / len(rows) >= 0.9, correct / len(rows)
    for r in rows:
        if r.guide is not None:
            assert r.reason.startswith(("shares topics", "about the same subject"))


def test_pairing_uses_aliases(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    catalog = load_content(cfg).catalog
    from newsletter.curation import GuideIndex

    matcher = GuideIndex(catalog.guides, {"chatgpt": "OpenAI"}).features.topics
    topics = matcher.item_topics([i for i in catalog.news if i.id == "openai-chatgpt-groups"])
    names = {matcher.names[c] for c in topics.indices}
    assert "OpenAI" in names


titles = (
    st.lists(
        st.sampled_from(
            ["word", "Microsoft", "日本語データ", "🚀", "👩\u200d💻", "é", "&<>", " ", "a"]
        ),
        min_size=1,
        max_size=60,
    )
    .map("".join)
    .filter(lambda t: bool(t.strip()))
)


@settings(max_examples=200, deadline=None)
@given(st.lists(titles, min_size=0, max_size=5), st.integers(min_value=0, max_value=12))
def test_subject_and_preheader_bounds(ts: list[str], n_guides: int) -> None:
    subject = make_subject(ts, "Call Me Almanac Sunday: a quiet week in AI")
    pre = make_preheader(ts, n_guides, "Sunday", "Call Me Almanac")
    assert 0 < len(subject) <= SUBJECT_MAX
    assert PREHEADER_MIN <= len(pre) <= PREHEADER_MAX
    assert "\u200d…" not in subject
    # Deterministic.
    assert subject == make_subject(ts, "Call Me Almanac Sunday: a quiet week in AI")


def test_subject_never_cuts_a_headline() -> None:
    long = "Microsoft and OpenAI rewrite their partnership terms, loosening Azure exclusivity today"
    assert make_subject([long], "x") == "x"  # too long, no shorter phrasing: the fallback
    assert make_subject([long, "Nvidia beats forecasts"], "x") == "Nvidia beats forecasts"


def test_chunked_tfidf_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from newsletter.curation import text

    rng = random.Random(7)
    words = ["alpha", "beta", "Gamma", "delta", "the", "and", "zeta", "Nvidia", "NVIDIA"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 8))) for _ in range(3000)]
    whole = text.tfidf(texts)
    monkeypatch.setattr(text, "_CHUNK_DOCS", 101)
    chunked = text.tfidf(texts)
    assert whole.shape == chunked.shape
    assert abs(whole - chunked).max() == 0

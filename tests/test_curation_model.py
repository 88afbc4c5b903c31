"""The learned curation model: reproducible from the repo, honest on content it never saw,
shaped by the editor's corrections, and never crashing on a valid catalogue."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import CONTENT, news_item, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.archive import Archive
from newsletter.config import Settings, load_config
from newsletter.curation import assemble_issue, cluster_items, curate, issue_slot
from newsletter.curation.evaluate import score
from newsletter.curation.labelled import load_labelled
from newsletter.curation.learning import train_model
from newsletter.curation.model import SHIPPED_MODEL, dump_model, load_model
from newsletter.curation.pairing import GuideIndex
from newsletter.curation.training import train
from newsletter.models import Catalog, Guide, NewsItem, Overrides
from tests.cli_support import run_cli

SUNDAY = datetime.fromisoformat("2026-11-22T05:00:00+00:00")
LABELLED = CONTENT / "labelled"


def test_shipped_model_reproduces_from_the_repo(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path))
    result = train_model(cfg, tmp_path / "model.json", corrections=False)
    assert (tmp_path / "model.json").read_bytes() == SHIPPED_MODEL.read_bytes()
    assert [line.split()[0] for line in result.model.trained_on] == ["corpus-a", "corpus-b"]
    # Same inputs, same bytes: training is deterministic.
    assert dump_model(train(result.sets, aliases=cfg.curation.topic_aliases)) == dump_model(
        result.model
    )


@pytest.mark.parametrize(
    ("trained", "scored"), [("corpus-a", "corpus-b"), ("corpus-b", "corpus-a")]
)
def test_quality_on_a_set_it_never_saw(cfg: Settings, trained: str, scored: str) -> None:
    """Floors from cross-set validation (bench/results/curation.md has the figures)."""
    model = train([load_labelled(LABELLED / trained)], aliases=cfg.curation.topic_aliases)
    result = score(model, load_labelled(LABELLED / scored), aliases=cfg.curation.topic_aliases)
    assert result.pairing_accuracy >= 0.9, result.errors
    assert result.cluster_precision >= 0.85, result.errors
    assert result.cluster_recall >= 0.75, result.errors


def _story(plan_stories: list, item_id: str):  # type: ignore[no-untyped-def]
    return next(s for s in plan_stories if item_id in {s.item.id, *(a.id for a in s.also)})


def test_guide_correction_changes_the_next_assemble(cfg: Settings) -> None:
    archive = Archive(cfg.archive_dir)
    first = assemble_issue(cfg, "sunday", SUNDAY).plan
    story = next(s for s in first.stories if s.guide is not None)
    assert story.guide is not None and story.guide.confidence is not None
    assert 0.5 <= story.guide.confidence <= 1.0
    assert story.guide.context  # the guide line that explains the story
    other = next(g for g in load_config_guides(cfg) if g != story.guide.slug)
    archive.save_overrides(first.id, Overrides(guide={story.item.id: other}))
    second = assemble_issue(cfg, "sunday", SUNDAY).plan
    changed = _story(second.stories, story.item.id)
    assert changed.guide is not None and changed.guide.slug == other
    assert changed.guide.reason == "chosen by an editor"
    assert changed.guide.confidence == 1.0
    assert sum(s.guide is not None and s.guide.slug == other for s in second.stories) == 1
    assert second.inputs_digest != first.inputs_digest
    archive.save_overrides(first.id, Overrides(guide={story.item.id: None}))
    third = assemble_issue(cfg, "sunday", SUNDAY).plan
    assert _story(third.stories, story.item.id).guide is None


def load_config_guides(cfg: Settings) -> list[str]:
    return sorted(p.stem for p in Path(cfg.path(cfg.content.guides)).glob("*.md"))


def test_merge_and_split_corrections(cfg: Settings) -> None:
    archive = Archive(cfg.archive_dir)
    first = assemble_issue(cfg, "sunday", SUNDAY).plan
    merged = next(s for s in first.stories if s.also)
    assert merged.merge_confidence is not None and 0 < merged.merge_confidence <= 1
    lead, other = merged.item.id, merged.also[0].id
    singles = [s.item.id for s in first.stories if not s.also][:2]
    archive.save_overrides(first.id, Overrides(split=((lead, other),), merge=(tuple(singles),)))
    second = assemble_issue(cfg, "sunday", SUNDAY).plan
    ids_of = {s.item.id: {s.item.id, *(a.id for a in s.also)} for s in second.stories}
    assert not any({lead, other} <= members for members in ids_of.values())
    joined = [m for m in ids_of.values() if set(singles) <= m]
    assert joined, "the editor's merge made one story"
    story = _story(second.stories, singles[0])
    assert story.merge_confidence == 1.0


def test_corrections_are_training_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    cfg = load_config(config)
    plan = assemble_issue(cfg, "sunday", SUNDAY).plan
    item = plan.stories[0].item.id
    Archive(cfg.archive_dir).save_overrides(plan.id, Overrides(guide={item: "ai-safety"}))
    code, out, err = run_cli(capsys, "curation", "train", "--config", str(config), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["trained_on"][-1].startswith("archive corrections sha256:")
    assert report["examples"]["items"] == 76 + 90 + 1
    assert 0 < report["merge_threshold"] <= report["two_report_threshold"] < 1
    assert Path(report["path"]) == tmp_path / "curation-model.json"
    assert Path(report["path"]).read_bytes() != SHIPPED_MODEL.read_bytes()
    # The trained model is the one curation now uses.
    assert load_model(cfg.path(cfg.curation.model)).trained_on == tuple(report["trained_on"])


def test_eval_cli_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    labels = LABELLED / "corpus-b" / "labels.json"
    code, out, err = run_cli(
        capsys, "curation", "eval", "--config", str(config), "--labels", str(labels), "--json"
    )
    assert code == 0, err
    (result,) = json.loads(out)["sets"]
    assert result["items"] == 90
    assert 0.9 <= result["pairing_accuracy"] <= 1.0
    assert {"cluster_precision", "cluster_recall", "errors"} <= set(result)
    bad = tmp_path / "labels.json"
    bad.write_text('{"pairs": {"x": 3}}', encoding="utf-8")
    code, out, err = run_cli(
        capsys, "curation", "eval", "--config", str(config), "--labels", str(bad)
    )
    assert code == 2
    assert err.count("\n") == 1 and "labels.json: pairs: must map item ids" in err


def test_eval_cv_reports_held_out_figures_and_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.curation import story_training

    # What is printed, not the figures: two deals of the threshold folds are enough (the
    # bench uses the shipped ten).
    monkeypatch.setattr(story_training, "SEARCH_SHUFFLES", 2)
    config = write_config(tmp_path)
    code, out, err = run_cli(capsys, "curation", "eval", "--config", str(config), "--cv", "--json")
    assert code == 0, err
    cv = json.loads(out)["cross_validation"]
    assert len(cv["leave_guides_out"]) == 9  # three shuffles of the guides into thirds
    for row in cv["leave_guides_out"]:
        assert 0.0 <= row["pairing_accuracy"] <= 1.0 and row["items"] > 0
    assert [r["trained_on"] for r in cv["cross_set"]] == [["corpus-b"], ["corpus-a"]]
    kinds = {r["decision"] for r in cv["calibration"]}
    assert kinds == {"pairing", "merge"}
    for row in cv["calibration"]:
        low, high = (float(x) for x in row["confidence"].split("-"))
        assert low <= row["stated"] <= high and 0.0 <= row["right"] <= 1.0 and row["count"] > 0
    code, out, err = run_cli(capsys, "curation", "eval", "--config", str(config), "--cv")
    assert code == 0, err
    shown = out + err  # tables go to the console (stderr), JSON to stdout
    assert "score corpus-b" in shown and "held-out decision" in shown and "share right" in shown
    assert "thresholds" in shown


def test_held_out_clustering_at_other_thresholds_is_consistent() -> None:
    """The threshold sweep re-scores the very models of the split table: at each split's
    learned thresholds it gives that split's figures, and recall never rises with a
    threshold (the linkage only stops earlier, the two-report check only splits more)."""
    from newsletter.curation.evaluate import cross_validate
    from newsletter.curation.story_training import SEARCH_POINTS

    sets = [load_labelled(LABELLED / n) for n in ("corpus-a", "corpus-b")]
    cv = cross_validate(sets, seeds=(0,), operating_points=SEARCH_POINTS)
    by_point = {
        (r["merge_threshold"], r["two_report_threshold"]): r for r in cv["operating_points"]
    }
    for k, split in enumerate(cv["leave_guides_out"]):
        learned = (split["merge_threshold"], split["two_report_threshold"])
        assert learned in by_point, learned
        counts = (split["pairs_found"], split["pairs_predicted"], split["pairs_true"])
        assert tuple(by_point[learned]["splits"][k]) == counts  # type: ignore[index]
    recall = {p: float(r["pooled_recall"]) for p, r in by_point.items()}  # type: ignore[arg-type]
    for m, t in SEARCH_POINTS:
        stricter = [(mm, tt) for mm, tt in SEARCH_POINTS if mm >= m and tt >= t]
        assert all(recall[p] <= recall[(m, t)] for p in stricter)
    assert recall[(0.1, 0.1)] > recall[(0.5, 0.95)]  # the sweep does change the clustering


def test_training_learns_its_thresholds_from_held_out_subjects() -> None:
    """The shipped thresholds are what the shipped data chooses, not constants: best recall
    at precision ≥ 0.95 over folds that hold out whole guides' stories."""
    from newsletter.curation.story_training import (
        SEARCH_PRECISION,
        _story_fold,
        choose_thresholds,
        learn_thresholds,
        threshold_search,
    )

    sets = [load_labelled(LABELLED / n) for n in ("corpus-a", "corpus-b")]
    shipped = load_model().clustering
    learned = learn_thresholds(sets, timedelta(hours=72), dropout=True)
    assert learned == (shipped.merge_threshold, shipped.two_report_threshold)
    counts = threshold_search(sets, timedelta(hours=72))
    assert choose_thresholds(counts, SEARCH_PRECISION) == learned
    found, merged, _ = counts[learned]
    assert found / merged >= SEARCH_PRECISION
    # A guide's stories share one fold, so each fold is about subjects the model never saw.
    corpus = sets[0]
    folds = _story_fold(corpus, 5, by_guide=True)
    by_guide: dict[str, set[int]] = {}
    for item, slug in corpus.pairs.items():
        if slug is not None and item in folds:
            by_guide.setdefault(slug, set()).add(folds[item])
    assert all(len(f) == 1 for f in by_guide.values()), by_guide


def test_thresholds_are_chosen_for_recall_at_the_precision_asked() -> None:
    from newsletter.curation.story_training import choose_thresholds

    counts = {
        (0.2, 0.75): (19, 20, 20),  # precision 0.95, recall 0.95
        (0.2, 0.9): (18, 18, 20),  # precision 1, recall 0.9
        (0.3, 0.9): (19, 19, 20),  # precision 1, recall 0.95: ties the first, and stricter
        (0.1, 0.5): (20, 30, 20),  # all found, but a third of the merges wrong
    }
    assert choose_thresholds(counts) == (0.3, 0.9)
    assert choose_thresholds(counts, precision=0.6) == (0.1, 0.5)
    assert choose_thresholds({(0.2, 0.5): (1, 4, 2), (0.4, 0.9): (1, 2, 2)}) == (0.4, 0.9)


@pytest.mark.parametrize(
    ("title", "summary", "topics"),
    [
        (
            "ミストラル、大型モデルに匹敵するオープンウェイトモデルを公開",
            "Mistral's new Apache-licensed open-weight model, in Japanese coverage.",
            ("Mistral", "Open Weights"),
        ),
        (
            "Mistral veröffentlicht offenes Modell, das viel größere Systeme herausfordert",
            "Das Pariser Start-up Mistral stellt ein neues Modell unter Apache-Lizenz vor.",
            ("Mistral",),
        ),
        ("ミストラルの新モデル", "", ("Mistral", "Open Weights")),
    ],
)
def test_other_languages_pair_and_merge_with_their_english_reports(
    cfg: Settings, title: str, summary: str, topics: tuple[str, ...]
) -> None:
    """A headline in Japanese or German whose summary or topics carry the names."""
    catalog = _catalog(cfg)
    english = next(i for i in catalog.news if i.id == "mistral-new-model")
    other = english.model_copy(
        update={
            "id": "mistral-other-language",
            "title": title,
            "summary": summary,
            "topics": topics,
            "source": "Nikkei",
            "published_at": english.published_at + timedelta(hours=5),
        }
    )
    index = GuideIndex(catalog.guides, cfg.curation.topic_aliases)
    en, foreign = index.best([english, other])
    assert foreign.guide is not None and foreign.guide == en.guide
    clusters = cluster_items([*catalog.news, other], max_gap=cfg.curation.cluster_max_gap)
    home = next(c for c in clusters if other.id in {m.id for m in c.members})
    assert english.id in {m.id for m in home.members}


def _catalog(cfg: Settings) -> Catalog:
    from newsletter.sources import load_content

    return load_content(cfg).catalog


words = st.text(
    alphabet=st.sampled_from(list("abcdefghij KLMNOP-.,0123456789éß日本")), min_size=1, max_size=80
).filter(lambda t: bool(t.strip()))
start = datetime(2026, 11, 15, tzinfo=UTC)


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    n_guides = draw(st.integers(min_value=0, max_value=4))
    guides = [
        Guide(
            slug=f"g{k}",
            title=draw(words),
            level="Beginner",
            url=f"https://almanac.example/guides/g{k}",
            updated_at=start.date(),
            topics=tuple(draw(st.lists(words, max_size=3))),
            tldr=draw(words),
            takeaways=tuple(draw(st.lists(words, max_size=3))),
            body=draw(st.text(max_size=300)),
        )
        for k in range(n_guides)
    ]
    n_items = draw(st.integers(min_value=0, max_value=12))
    items = [
        NewsItem(
            id=f"i{k}",
            title=draw(words),
            url=f"https://news.example/{k}",
            source=draw(st.sampled_from(["A", "B", "C"])),
            published_at=start + timedelta(hours=draw(st.integers(min_value=0, max_value=160))),
            score=float(draw(st.integers(min_value=0, max_value=10))),
            summary=draw(st.text(max_size=200)),
            topics=tuple(draw(st.lists(words, max_size=3))),
        )
        for k in range(n_items)
    ]
    return Catalog(news=tuple(items), guides=tuple(guides))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(catalogs())
def test_curation_never_crashes_on_a_valid_catalogue(cfg: Settings, catalog: Catalog) -> None:
    slot = issue_slot(cfg, "sunday", datetime(2026, 11, 22, 5, tzinfo=UTC))
    plan, _ = curate(cfg, catalog, slot)
    slugs = [s.guide.slug for s in plan.stories if s.guide is not None]
    assert len(slugs) == len(set(slugs))
    for s in plan.stories:
        assert s.guide is None or 0.0 <= (s.guide.confidence or 0.0) <= 1.0
    clusters = cluster_items(catalog.news, max_gap=timedelta(hours=72))
    members = sorted(m.id for c in clusters for m in c.members)
    assert members == sorted(i.id for i in catalog.news)
    for c in clusters:
        assert len({m.source for m in c.members}) == len(c.members)


def test_copy_of_labelled_folder_is_a_content_folder(tmp_path: Path, cfg: Settings) -> None:
    """`pair --content` on a labelled folder reads its news and guides (labels are not news)."""
    dest = tmp_path / "b"
    shutil.copytree(LABELLED / "corpus-b", dest)
    from newsletter.sources import load_content

    loaded = load_content(cfg, dest)
    assert len(loaded.catalog.news) == 90 and len(loaded.catalog.guides) == 16
    assert loaded.problems == []


def test_threshold_search_counts_held_out_pairs_at_each_threshold() -> None:
    from newsletter.curation.story_training import threshold_search

    sets = [load_labelled(LABELLED / "corpus-a")]
    points = [(0.15, 0.15), (0.5, 0.95)]
    counts = threshold_search(sets, timedelta(hours=72), points, folds=3, shuffles=2)
    (f_low, m_low, n_low), (f_high, m_high, n_high) = counts[(0.15, 0.15)], counts[(0.5, 0.95)]
    labelled = sum(len(c) * (len(c) - 1) // 2 for c in sets[0].clusters)
    # Every labelled pair is held out once per deal (a story's reports share a fold).
    assert n_low == n_high == 2 * labelled
    assert m_low >= m_high and f_low >= f_high and 0 < f_high <= m_high


def test_a_guide_named_by_the_first_topic_is_the_subject() -> None:
    """``lead_topic``: 1 / (1 + k) for the item's first listed topic that is the guide's."""
    from newsletter.curation.topics import TopicMatcher

    def guide(slug: str, topics: tuple[str, ...]) -> Guide:
        return Guide(
            slug=slug,
            title=slug,
            level="Beginner",
            url=f"https://almanac.example/guides/{slug}",
            updated_at=SUNDAY.date(),
            topics=topics,
            tldr=slug,
            takeaways=(),
            body="",
        )

    guides = [
        guide("chips", ("TPU", "Trainium")),
        guide("nvidia", ("NVIDIA", "CUDA")),
        guide("x", ("Y",)),
    ]
    sale = news_item("tpu-sale", "Google to sell TPUs to Meta", "", "Wire", SUNDAY).model_copy(
        update={"topics": ("Google", "TPU", "Meta", "nvidia")}
    )
    bare = sale.model_copy(update={"id": "bare", "topics": ()})
    rows, cols = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 1])
    lead = TopicMatcher(guides).lead_position([sale, bare], rows, cols)
    assert lead.tolist() == [0.5, 0.25, 0.0, 0.0]


def test_an_editors_merge_teaches_only_the_pair_it_decided(cfg: Settings) -> None:
    """Corrections are partial labels: a merge is one same-story example, and the pairs the
    editor did not touch are not taken for different stories (nor do they move the learned
    thresholds, which come from the complete labelled sets)."""
    from newsletter.curation.labelled_set import LabelledSet
    from newsletter.curation.story_training import learn_thresholds, same_story_examples

    catalog = _catalog(cfg)
    a, b = (i.id for i in catalog.news[:2])
    merged = LabelledSet("archive corrections", catalog, clusters=[[a, b]], complete=False)
    split = LabelledSet("archive corrections", catalog, splits=[(a, b)], complete=False)
    for corrections, same in ((merged, 1.0), (split, 0.0)):
        _, y = same_story_examples([corrections], timedelta(hours=72))
        assert y.tolist() == [same]
    sets = [load_labelled(LABELLED / n) for n in ("corpus-a", "corpus-b")]
    shipped = load_model().clustering
    assert learn_thresholds([*sets, merged], timedelta(hours=72), dropout=True) == (
        shipped.merge_threshold,
        shipped.two_report_threshold,
    )

"""``newsletter curation train`` and ``eval`` as plain functions over the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.archive import Archive, write_atomic
from newsletter.config import Settings
from newsletter.curation.evaluate import cross_validate, score
from newsletter.curation.labelled import archive_corrections, labelled_folders, load_labelled
from newsletter.curation.labelled_set import LabelledSet, digest_files, read_labels
from newsletter.curation.model import CurationModel, dump_model, load_model
from newsletter.curation.training import train
from newsletter.errors import InputError
from newsletter.models import Catalog
from newsletter.sources import load_content


@dataclass
class TrainResult:
    model: CurationModel
    path: Path
    sets: list[LabelledSet]


def training_sets(cfg: Settings, *, corrections: bool = True) -> list[LabelledSet]:
    """The labelled folders of ``curation.training``, plus the archive's corrections."""
    sets = [load_labelled(f) for f in labelled_folders(cfg.path("."), cfg.curation.training)]
    if corrections:
        catalog = load_content(cfg).catalog
        extra = archive_corrections(Archive(cfg.archive_dir), catalog)
        if extra is not None:
            sets.append(extra)
    if not sets:
        patterns = ", ".join(cfg.curation.training)
        raise InputError(f"curation.training: no labelled folder matches {patterns}")
    return sets


def train_model(cfg: Settings, out: Path | None = None, *, corrections: bool = True) -> TrainResult:
    """Fit the model on every training set and write it (deterministic bytes)."""
    sets = training_sets(cfg, corrections=corrections)
    model = train(sets, aliases=cfg.curation.topic_aliases, max_gap=cfg.curation.cluster_max_gap)
    path = out or cfg.path(cfg.curation.model)
    write_atomic(path, dump_model(model))
    return TrainResult(model, path, sets)


def labelled_from_file(cfg: Settings, labels: Path, content: Path | None) -> LabelledSet:
    """A labels file scored against ``content``: by default the labels' own folder when it
    holds ``guides/``, else the configured content."""
    if not labels.is_file():
        raise InputError(f"{labels}: not found")
    if content is None and (labels.parent / "guides").is_dir():
        content = labels.parent
    return _with_labels(load_content(cfg, content).catalog, labels)


def _with_labels(catalog: Catalog, labels: Path) -> LabelledSet:
    pairs, clusters = read_labels(labels)
    return LabelledSet(
        name=str(labels),
        catalog=catalog,
        pairs=pairs,
        clusters=clusters,
        digest=digest_files([labels]),
    )


def evaluate_model(
    cfg: Settings, labels: Path | None = None, content: Path | None = None, *, cv: bool = False
) -> dict[str, object]:
    """Scores of the configured model on a labelled set, or on every training set.

    With ``cv``, also leave-guides-out and cross-set validation of freshly trained models:
    the figures that say how curation does on content it has not seen.
    """
    model = load_model(cfg.path(cfg.curation.model))
    cur = cfg.curation
    if labels is not None:
        sets = [labelled_from_file(cfg, labels, content)]
    else:
        sets = training_sets(cfg, corrections=False)
    out: dict[str, object] = {
        "model": model.trained_on,
        "sets": [
            score(model, s, aliases=cur.topic_aliases, max_gap=cur.cluster_max_gap).as_dict()
            for s in sets
        ],
    }
    if labels is None:
        out["note"] = "the model was trained on these sets: in-sample figures (use --cv)"
    if cv:
        out["cross_validation"] = cross_validate(
            sets, aliases=cur.topic_aliases, max_gap=cur.cluster_max_gap
        )
    return out

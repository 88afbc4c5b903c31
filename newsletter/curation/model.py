"""The learned curation model: pairing and same-story scores from features, no hand weights.

A model file (JSON, a few KB) holds standardised logistic weights over named features
(``pair_features.PAIR_FEATURES``, ``cluster_features.CLUSTER_FEATURES``), built by
``newsletter curation train`` from labelled content and the editors' corrections
(``newsletter.curation.training``). Inference is a dot product in numpy; nothing here fits.

Pairing has two parts:
- ``rank``: a conditional-logit score per (item, guide); a softmax over an item's candidate
  guides ranks them;
- ``accept``: a logistic model on the top guide's features (and how far ahead it is) giving
  the calibrated probability that the top guide is right, so "no guide" is a decision with a
  confidence, not a fixed cut on a similarity.
Clustering has one: ``same_story``, the probability that two items report one event; items
are merged by average linkage while the mean probability between two groups reaches
``merge_threshold``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from newsletter.errors import InputError

MODEL_FORMAT = 1
SHIPPED_MODEL = Path(__file__).with_name("model.json")

ACCEPT_FROM: tuple[str, ...] = (
    "all_all",
    "all_subject",
    "title_subject",
    "all_takeaways",
    "topics",
    "listed",
    "head_title",
    "head_text",
    "lead_topic",
)
"""Pair features of the top-ranked guide that the accept model reads (prefixed ``top_``)."""
ACCEPT_FEATURES: tuple[str, ...] = (
    *(f"top_{n}" for n in ACCEPT_FROM),
    "margin",  # rank score of the top guide minus the runner-up's (capped at 10)
    "top_share",  # softmax share of the top guide among the candidates
    "has_topics",  # the item lists topics (without, the topic features say little)
)
MERGE_CONFIDENCE_FEATURES: tuple[str, ...] = (
    "mean",  # the weakest mean same-story probability that formed the story
    "corroborated",  # 1 when the story has three reports or more
)


class Linear(BaseModel):
    """Standardised linear score: ``((x − mean) / scale) · weights + bias``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float = 0.0

    def score(self, x: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Scores for rows of ``x`` whose columns are ``names`` (a superset of ``features``)."""
        cols = [names.index(n) for n in self.features]
        z = (x[:, cols] - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(z @ np.asarray(self.weights) + self.bias, dtype=np.float64)

    def probability(self, x: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        return sigmoid(self.score(x, names))


class PairingModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: Linear
    accept: Linear
    accept_threshold: float = Field(default=0.5, gt=0, lt=1)


class ClusteringModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    same_story: Linear
    merge_threshold: float = Field(default=0.5, gt=0, lt=1)
    two_report_threshold: float = Field(default=0.5, gt=0, lt=1)
    """A story of exactly two reports stands only when their same-story probability reaches
    this: a third report corroborates an event, while two alone often share only a name."""
    merge_confidence: Linear | None = None
    """Calibration of the confidence shown for a merge (``MERGE_CONFIDENCE_FEATURES``)."""

    def confidence(self, weakest: float, reports: int) -> float:
        """The calibrated probability that a story of ``reports`` items, formed at a weakest
        mean of ``weakest``, is right (the raw mean when the model has no calibration)."""
        if self.merge_confidence is None:
            return weakest
        x = np.array([[weakest, float(reports > 2)]])
        return float(self.merge_confidence.probability(x, MERGE_CONFIDENCE_FEATURES)[0])


class CurationModel(BaseModel):
    """Everything curation learned; written by ``newsletter curation train``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = MODEL_FORMAT
    trained_on: tuple[str, ...] = ()
    """What it was built from: one line per labelled set or archive correction file."""
    examples: dict[str, int] = Field(default_factory=dict)
    pairing: PairingModel
    clustering: ClusteringModel


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))


def dump_model(model: CurationModel) -> str:
    """Deterministic JSON text (floats rounded to 6 significant digits)."""

    def tidy(value: object) -> object:
        if isinstance(value, float):
            return float(f"{value:.6g}")
        if isinstance(value, list | tuple):
            return [tidy(v) for v in value]
        if isinstance(value, dict):
            return {k: tidy(v) for k, v in value.items()}
        return value

    return json.dumps(tidy(model.model_dump(mode="json")), indent=1, ensure_ascii=False) + "\n"


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> CurationModel:
    try:
        model = CurationModel.model_validate_json(Path(path).read_bytes())
    except ValueError as exc:
        first = str(exc).splitlines()
        reason = first[1].strip() if len(first) > 1 else str(exc)
        raise InputError(f"{path}: not a curation model ({reason})") from None
    if model.format != MODEL_FORMAT:
        raise InputError(f"{path}: model format {model.format}, expected {MODEL_FORMAT}")
    return model


def load_model(path: Path | None = None) -> CurationModel:
    """The model at ``path`` when that file exists, else the one shipped with the package."""
    chosen = path if path is not None and path.is_file() else SHIPPED_MODEL
    try:
        stat = chosen.stat()
    except OSError:
        raise InputError(
            f"{chosen}: curation model not found (run `newsletter curation train`)"
        ) from None
    return _load(str(chosen), stat.st_mtime_ns)

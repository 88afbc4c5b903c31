"""Curation: windows and history, near-duplicate clustering, ranking, guide pairing, subject;
the learned model behind pairing and clustering, its training and its evaluation."""

from newsletter.curation.assemble import (
    AssembleResult,
    PairRow,
    assemble_issue,
    curate,
    curation_model,
    guide_index,
    pair_catalog,
    read_overrides,
)
from newsletter.curation.clustering import Cluster, cluster_items
from newsletter.curation.evaluate import Scores, cross_validate, score
from newsletter.curation.history import featured_ids
from newsletter.curation.labelled import archive_corrections, load_labelled
from newsletter.curation.labelled_set import LabelledSet
from newsletter.curation.learning import TrainResult, evaluate_model, train_model
from newsletter.curation.model import CurationModel, dump_model, load_model
from newsletter.curation.pairing import GuideIndex
from newsletter.curation.ranking import Ranked, rank_clusters, recency_rank, select
from newsletter.curation.subject import make_preheader, make_subject, shorten
from newsletter.curation.topics import normalise_topic
from newsletter.curation.training import train
from newsletter.curation.windows import (
    IssueSlot,
    issue_number,
    issue_slot,
    next_slot,
    parse_at,
    previous_slot,
)
from newsletter.models import Overrides

__all__ = [
    "AssembleResult",
    "Cluster",
    "CurationModel",
    "GuideIndex",
    "IssueSlot",
    "LabelledSet",
    "Overrides",
    "PairRow",
    "Ranked",
    "Scores",
    "TrainResult",
    "archive_corrections",
    "assemble_issue",
    "cluster_items",
    "cross_validate",
    "curate",
    "curation_model",
    "dump_model",
    "evaluate_model",
    "featured_ids",
    "guide_index",
    "issue_number",
    "issue_slot",
    "load_labelled",
    "load_model",
    "make_preheader",
    "make_subject",
    "next_slot",
    "normalise_topic",
    "pair_catalog",
    "parse_at",
    "previous_slot",
    "rank_clusters",
    "read_overrides",
    "recency_rank",
    "score",
    "select",
    "shorten",
    "train",
    "train_model",
]

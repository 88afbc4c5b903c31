"""Curation: windows and history, near-duplicate clustering, ranking, guide pairing, subject."""

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
from newsletter.curation.history import featured_ids
from newsletter.curation.pairing import GuideIndex, normalise_topic
from newsletter.curation.ranking import Ranked, rank_clusters, recency_rank, select
from newsletter.curation.subject import make_preheader, make_subject, shorten
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
    "GuideIndex",
    "IssueSlot",
    "Overrides",
    "PairRow",
    "Ranked",
    "assemble_issue",
    "cluster_items",
    "curate",
    "curation_model",
    "featured_ids",
    "guide_index",
    "issue_number",
    "issue_slot",
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
    "select",
    "shorten",
]

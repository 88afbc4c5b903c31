"""Which rendered link a click URL was: built from the IssuePlan, not from the templates.

Every link an issue can carry comes from its plan (story headline, "also covered by", the
paired guide, the guide cards) or from the site (view in browser, home page). Keys are
normalised URLs (:func:`newsletter.tracking.normalise_url`), so UTM parameters, our own
parameters, letter case and fragments do not matter, whatever the templates look like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from newsletter.config import Settings
from newsletter.models import IssuePlan
from newsletter.tracking.urls import CANARY_PATH, normalise_url

LinkKind = Literal["story", "also", "guide", "other", "canary"]


@dataclass(frozen=True)
class LinkInfo:
    """What one link of the issue points at."""

    kind: LinkKind
    label: str
    item_id: str | None = None
    slug: str | None = None


def link_map(cfg: Settings, plan: IssuePlan) -> dict[str, LinkInfo]:
    """Normalised URL → the link it is, for every link the issue can contain."""
    links: dict[str, LinkInfo] = {}

    def put(url: str, info: LinkInfo) -> None:
        links.setdefault(normalise_url(url), info)  # the first (most specific) role wins

    for story in plan.stories:
        put(story.item.url, LinkInfo("story", story.item.title, item_id=story.item.id))
    for story in plan.stories:
        for ref in story.also:
            put(
                ref.url,
                LinkInfo("also", f"{ref.source}: {story.item.title}", item_id=story.item.id),
            )
    for story in plan.stories:
        if story.guide is not None:
            put(story.guide.url, LinkInfo("guide", story.guide.title, slug=story.guide.slug))
    for card in plan.guides:
        put(card.url, LinkInfo("guide", card.title, slug=card.slug))
    base = str(cfg.web.public_url).rstrip("/")
    put(base + CANARY_PATH, LinkInfo("canary", "hidden canary link"))
    put(f"{base}/issues/{plan.id}", LinkInfo("other", "View in browser"))
    put(str(cfg.site.url), LinkInfo("other", f"{cfg.site.name} home page"))
    return links


def canary_key(cfg: Settings) -> str:
    """The normalised URL of the hidden canary link."""
    return normalise_url(str(cfg.web.public_url).rstrip("/") + CANARY_PATH)

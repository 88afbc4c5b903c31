"""The view of an issue the templates see: display strings and vetted links, computed once.

HTML and text parts render from the same view, so they carry the same content and links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.config import Settings
from newsletter.models import GuideCard, IssuePlan, Story
from newsletter.personalization import (
    FIRST_NAME,
    FIRST_NAME_FALLBACK,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
)
from newsletter.rendering.links import add_utm, safe_url, utm_params


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class GuideLink:
    title: str
    level: str
    url: str | None


@dataclass(frozen=True)
class StoryView:
    title: str
    url: str | None
    source: str
    score: str
    age: str
    summary: str
    also: tuple[Link, ...] = ()
    guide: GuideLink | None = None

    @property
    def meta(self) -> str:
        return " · ".join(p for p in (self.source, self.score, self.age) if p)


@dataclass(frozen=True)
class GuideCardView:
    title: str
    level: str
    tldr: str
    url: str | None


@dataclass(frozen=True)
class IssueView:
    site_name: str
    site_url: str
    edition: str
    edition_title: str
    subject: str
    preheader: str
    date_label: str
    number: int | None
    intro: str
    top: StoryView | None
    stories: tuple[StoryView, ...]
    guides: tuple[GuideCardView, ...]
    web_url: str
    postal_address: str
    first_name: str = FIRST_NAME
    unsubscribe_url: str = UNSUBSCRIBE_URL
    preferences_url: str = PREFERENCES_URL
    web: bool = False


def age_label(published: datetime, slot: datetime) -> str:
    """How long before the issue's slot an item was published: "5h ago", "2d ago"."""
    seconds = (slot - published).total_seconds()
    if seconds < 3600:
        minutes = int(seconds // 60)
        return f"{minutes}m ago" if minutes >= 1 else "just now"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def score_label(score: float) -> str:
    """Scores as the Almanac shows them: "8", or "7.5" when not whole."""
    return f"{score:.0f}" if float(score).is_integer() else f"{score:.1f}"


def _story(story: Story, slot: datetime, utm: dict[str, str]) -> StoryView:
    def link(url: str) -> str | None:
        safe = safe_url(url)
        return add_utm(safe, utm) if safe else None

    item = story.item
    also = tuple(
        Link(ref.source, url) for ref in story.also if ref.source and (url := link(ref.url))
    )
    guide = None
    if story.guide is not None:
        guide = GuideLink(story.guide.title, story.guide.level or "", link(story.guide.url))
    return StoryView(
        title=item.title,
        url=link(item.url),
        source=item.source,
        score=score_label(item.score),
        age=age_label(item.published_at, slot),
        summary=item.summary.strip(),
        also=also,
        guide=guide,
    )


def _card(card: GuideCard, utm: dict[str, str]) -> GuideCardView:
    safe = safe_url(card.url)
    return GuideCardView(
        card.title, card.level, card.tldr.strip(), add_utm(safe, utm) if safe else None
    )


def web_url(cfg: Settings, issue_id: str) -> str:
    """The public view-in-browser address of an issue (served by the web app)."""
    return f"{cfg.web.public_url.rstrip('/')}/issues/{issue_id}"


def _intro(plan: IssuePlan) -> str:
    n = len(plan.stories)
    if plan.edition == "sunday":
        text = f"Here is your week in AI: {n} {'story' if n == 1 else 'stories'} worth your time"
        return text + (", and guides to go deeper." if plan.guides else ".")
    return f"Your midweek catch-up: {n} {'story' if n == 1 else 'stories'} since Sunday."


def build_view(cfg: Settings, plan: IssuePlan, *, web: bool = False) -> IssueView:
    """Turn a plan into what the templates display."""
    edition = cfg.editions.get(plan.edition)
    zone = edition.zone if edition else plan.slot.tzinfo
    local = plan.slot.astimezone(zone)
    utm = utm_params(cfg.rendering.utm, plan)
    stories = tuple(_story(s, plan.slot, utm) for s in plan.stories)
    return IssueView(
        site_name=cfg.site.name,
        site_url=cfg.site.url,
        edition=plan.edition,
        edition_title=(edition.title if edition else "") or plan.edition.capitalize(),
        subject=plan.subject,
        preheader=plan.preheader,
        date_label=f"{local:%A} {local.day} {local:%B %Y}",
        number=plan.number,
        intro=_intro(plan),
        top=stories[0] if stories else None,
        stories=stories[1:],
        guides=tuple(_card(g, utm) for g in plan.guides),
        web_url=web_url(cfg, plan.id),
        postal_address=cfg.site.postal_address,
        first_name=FIRST_NAME_FALLBACK if web else FIRST_NAME,
        web=web,
    )

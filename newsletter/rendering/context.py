"""The view of an issue the templates see: display strings and vetted links, computed once.

HTML and text parts render from the same view, so they carry the same sections, content and
links in the same order (:attr:`IssueView.sections` names the sections both print).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from newsletter.config import Settings
from newsletter.models import GuideCard, IssuePlan, Story
from newsletter.personalization import (
    FIRST_NAME,
    FIRST_NAME_FALLBACK,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
)
from newsletter.rendering.links import add_utm, safe_url, utm_params
from newsletter.rendering.note import Block, parse_note
from newsletter.rendering.sentences import cap_at_sentence, first_sentence

CONTEXT_MAX = 150
"""A story's "Context:" line stays about one line on a desktop screen."""
TOP_STORY = "Top story"
IN_THIS_ISSUE = "In this issue"
EDITORS_PICK = "Editor's pick"
PREVIEW_CHARS = 250
"""Inbox previews show up to about this many characters; the hidden preheader fills them."""


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class GuideLink:
    """A story's guide, shown once, with the line that explains the story."""

    title: str
    level: str
    url: str | None
    context: str = ""


@dataclass(frozen=True)
class StoryView:
    title: str
    url: str | None
    source: str
    date: str
    summary: str
    pick: bool = False
    summary_shortened: bool = False
    full_summary: str = ""
    also: tuple[Link, ...] = ()
    guide: GuideLink | None = None
    score: str = ""

    @property
    def meta(self) -> str:
        """ "Source · Fri 20 Nov" (the label for editor's picks is printed apart)."""
        return " · ".join(p for p in (self.source, self.date) if p)


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
    web_url: str
    postal_address: str
    note: tuple[Block, ...] = ()
    contents: tuple[str, ...] = ()
    """Headlines for the "In this issue" list (Sunday only)."""
    more_heading: str = "More stories"
    first_name: str = FIRST_NAME
    unsubscribe_url: str = UNSUBSCRIBE_URL
    preferences_url: str = PREFERENCES_URL
    web: bool = False

    @property
    def sections(self) -> tuple[str, ...]:
        """The section headings, in the order both the HTML and the text part print them."""
        names: list[str] = []
        if self.contents:
            names.append(IN_THIS_ISSUE)
        if self.top:
            names.append(TOP_STORY)
        if self.stories:
            names.append(self.more_heading)
        return tuple(names)

    @property
    def preview_padding(self) -> int:
        """Invisible filler units after the preheader, so no body text reaches the preview."""
        return max(0, PREVIEW_CHARS - len(self.preheader))

    @property
    def all_stories(self) -> tuple[StoryView, ...]:
        return ((self.top,) if self.top else ()) + self.stories

    @property
    def shortened_summaries(self) -> int:
        """How many summaries the email shows shortened (the web page shows them whole)."""
        return sum(1 for s in self.all_stories if s.summary_shortened and not self.web)

    def for_web(self) -> IssueView:
        """The public web page: full summaries, no personal tokens."""

        def full(s: StoryView) -> StoryView:
            return replace(s, summary=s.full_summary or s.summary, summary_shortened=False)

        return replace(
            self,
            web=True,
            first_name=FIRST_NAME_FALLBACK,
            top=full(self.top) if self.top else None,
            stories=tuple(full(s) for s in self.stories),
        )


def score_label(score: float) -> str:
    """Scores as the Almanac shows them: "8", or "7.5" when not whole."""
    return f"{score:.0f}" if float(score).is_integer() else f"{score:.1f}"


def date_label(when: datetime, zone: tzinfo | None) -> str:
    """An absolute, short date in the edition's time zone: "Fri 20 Nov"."""
    local = when.astimezone(zone) if zone else when
    return f"{local:%a} {local.day} {local:%b}"


def _context(story: Story, cards: dict[str, GuideCard]) -> str:
    """The curated context line, else the first sentence of the guide's TL;DR."""
    assert story.guide is not None
    if story.guide.context and story.guide.context.strip():
        return " ".join(story.guide.context.split())
    card = cards.get(story.guide.slug)
    return first_sentence(card.tldr, CONTEXT_MAX) if card and card.tldr else ""


def _story(
    story: Story,
    cfg: Settings,
    zone: tzinfo | None,
    utm: dict[str, str],
    cards: dict[str, GuideCard],
) -> StoryView:
    def link(url: str) -> str | None:
        safe = safe_url(url)
        return add_utm(safe, utm) if safe else None

    item = story.item
    also = tuple(
        Link(ref.source, url) for ref in story.also if ref.source and (url := link(ref.url))
    )
    guide = None
    if story.guide is not None:
        guide = GuideLink(
            story.guide.title,
            story.guide.level or "",
            link(story.guide.url),
            _context(story, cards),
        )
    full = " ".join(item.summary.split())
    summary, shortened = cap_at_sentence(full, cfg.rendering.summary_max_chars)
    return StoryView(
        title=item.title,
        url=link(item.url),
        source=item.source,
        date=date_label(item.published_at, zone),
        summary=summary,
        pick=item.score >= cfg.rendering.editors_pick_score,
        summary_shortened=shortened,
        full_summary=full,
        also=also,
        guide=guide,
        score=score_label(item.score),
    )


def web_url(cfg: Settings, issue_id: str) -> str:
    """The public view-in-browser address of an issue (served by the web app)."""
    return f"{cfg.web.public_url.rstrip('/')}/issues/{issue_id}"


def _intro(plan: IssuePlan) -> str:
    n = len(plan.stories)
    stories = f"{n} {'story' if n == 1 else 'stories'}"
    if plan.edition == "sunday":
        guided = sum(1 for s in plan.stories if s.guide)
        if guided:
            return f"Your week in AI: {stories}, each with the guide that explains it."
        return f"Your week in AI: {stories} worth your time."
    return f"Your midweek catch-up: {stories} since Sunday."


def build_view(cfg: Settings, plan: IssuePlan, *, web: bool = False) -> IssueView:
    """Turn a plan into what the templates display (``web``: the public page's view)."""
    edition = cfg.editions.get(plan.edition)
    zone = edition.zone if edition else plan.slot.tzinfo
    local = plan.slot.astimezone(zone)
    utm = utm_params(cfg.rendering.utm, plan)

    def link(url: str) -> str | None:
        safe = safe_url(url)
        return add_utm(safe, utm) if safe else None

    cards = {g.slug: g for g in plan.guides}
    stories = tuple(_story(s, cfg, zone, utm, cards) for s in plan.stories)
    sunday = plan.edition == "sunday"
    view = IssueView(
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
        web_url=web_url(cfg, plan.id),
        postal_address=cfg.site.postal_address,
        note=parse_note(plan.note, link),
        # A list of contents helps only when the email is long: Sunday, three stories or more.
        contents=tuple(s.title for s in stories) if sunday and len(stories) >= 3 else (),
        more_heading="The week's stories" if sunday else "More stories",
    )
    return view.for_web() if web else view

"""A realistic issue plan built straight from a catalog, without the curation step.

For previews of the templates, the rendering tests and the benchmark; real issues come from
``newsletter assemble``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter.models import (
    AlsoRef,
    Catalog,
    Edition,
    GuideCard,
    GuideRef,
    IssuePlan,
    NewsItem,
    Story,
    Window,
    issue_id,
)


def _topics(item: NewsItem) -> set[str]:
    return {t.lower() for t in item.topics}


def _same_story(a: NewsItem, b: NewsItem) -> bool:
    # The sample corpus names coverage of one event with a shared id prefix.
    if a.id.rsplit("-", 1)[0] == b.id.rsplit("-", 1)[0]:
        return True
    close = abs(a.published_at - b.published_at) <= timedelta(hours=36)
    return close and len(_topics(a) & _topics(b)) >= 3


def sample_plan(
    catalog: Catalog,
    edition: Edition,
    slot: datetime,
    *,
    stories: int | None = None,
    guide_cards: int = 10,
    number: int | None = 47,
) -> IssuePlan:
    """A plan for ``slot``: best-scored items of the window, same-story coverage as ``also``,
    a guide (each at most once) for stories whose topics match one, and the paired guides as
    the issue's guide cards, as curation makes them."""
    days = 7 if edition == "sunday" else 4
    count = stories or (10 if edition == "sunday" else 6)
    window = Window(start=slot - timedelta(days=days), end=slot)
    eligible = sorted(
        (i for i in catalog.news if window.start < i.published_at <= window.end),
        key=lambda i: (-i.score, -i.published_at.timestamp(), i.id),
    )
    used: set[str] = set()
    chosen: list[Story] = []
    guides_used: list[GuideRef] = []
    for item in eligible:
        if len(chosen) >= count:
            break
        if item.id in used:
            continue
        used.add(item.id)
        also: list[AlsoRef] = []
        for other in eligible:
            if (
                other.id not in used
                and other.source != item.source
                and _same_story(item, other)
                and len(also) < 3
            ):
                used.add(other.id)
                also.append(AlsoRef(source=other.source, url=other.url, id=other.id))
        guide = None
        free = [g for g in catalog.guides if all(u.slug != g.slug for u in guides_used)]
        best = max(
            free,
            key=lambda g: (len({t.lower() for t in g.topics} & _topics(item)), g.slug),
            default=None,
        )
        if best is not None and {t.lower() for t in best.topics} & _topics(item):
            guide = GuideRef(
                slug=best.slug,
                title=best.title,
                url=best.url,
                reason="shares topics " + ", ".join(sorted(set(best.topics) & set(item.topics))),
                level=best.level,
            )
            guides_used.append(guide)  # as in curation: a guide explains one story per issue
        chosen.append(Story(item=item, also=tuple(also), guide=guide))
    by_slug = {g.slug: g for g in catalog.guides}
    cards = []
    for ref in guides_used[:guide_cards]:
        g = by_slug[ref.slug]
        cards.append(GuideCard(slug=g.slug, title=g.title, url=g.url, level=g.level, tldr=g.tldr))
    title = "Sunday" if edition == "sunday" else "Midweek"
    # The first headline that fits whole (curation's subject rules are richer).
    fitting = [
        f"{title}: {s.item.title}" for s in chosen if len(s.item.title) <= 70 - 2 - len(title)
    ]
    subject = fitting[0] if fitting else f"{title}: the week in AI"
    return IssuePlan(
        id=issue_id(slot, edition),
        edition=edition,
        slot=slot,
        window=window,
        subject=subject,
        preheader=(
            f"{len(chosen)} stories from the week in AI"
            + (f", plus {len(cards)} guides to go deeper." if cards else ", in five minutes.")
        ),
        number=number,
        stories=chosen,
        guides=cards,
    )

"""The engagement report of one issue: delivery, complaints, opens and clicks per link.

One plain function, :func:`build_report`, over the ``engagement`` and ``sends`` tables and
the issue's plan; the CLI (``newsletter report``), the web page and the alerts call it.
A handful of aggregate queries on the ``(issue_id, kind, email, ts)`` index: the work grows
with the number of clickers, not with the number of events.

Definitions (also in ``rates_use`` of the output):

- counts of recipients (``delivered``, ``bounced``, ``complained`` ...) count each address
  once, however many events it had; ``total`` figures count events.
- ``complaint_rate`` = complained / delivered (how Gmail and Yahoo measure it);
  ``bounce_rate`` = bounced / sent; ``unsubscribe_rate`` = unsubscribed / delivered.
- opens: ``unique_human`` (opens without ``sg_machine_open``), ``unique_machine`` (Apple Mail
  Privacy Protection and other proxies fetching the pixel), ``total`` (every open event);
  ``opens.rate`` = unique_human / delivered.
- clicks: a clicker is a suspected bot when they followed the hidden canary link, clicked
  with a HEAD request, clicked within ``tracking.bot_after_delivery`` seconds of delivery, or
  clicked ``tracking.bot_burst_links`` distinct links within ``tracking.bot_burst_seconds``.
  Their clicks are counted in ``suspected_bots`` and nowhere else; ``clicks.rate`` =
  unique_clickers / delivered.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Connection, and_, func, or_, select

from newsletter.config import Settings
from newsletter.models import IssuePlan
from newsletter.reporting.links import LinkInfo, link_map
from newsletter.store.engagement import COUNTERS
from newsletter.store.tables import click_links, engagement_people, issue_counts, sends

TIMELINE_HOURS = 72
COMPLAINT_WARN = 0.001
COMPLAINT_LIMIT = 0.003
UNSUBSCRIBE_WARN = 0.003


class Bounces(BaseModel):
    """Bounced recipients by kind; ``total`` counts each address once."""

    hard: int = 0
    soft: int = 0
    blocked: int = 0
    total: int = 0


class Opens(BaseModel):
    unique_human: int = 0
    unique_machine: int = 0
    total: int = 0
    rate: float = 0.0
    rate_uses: str = "unique_human / delivered"


class LinkClicks(BaseModel):
    url: str
    kind: str
    label: str
    item_id: str | None = None
    slug: str | None = None
    unique: int = 0
    total: int = 0


class Clicks(BaseModel):
    unique_clickers: int = 0
    total: int = 0
    suspected_bots: int = 0
    """Click events of suspected bots (counted apart, in no other figure)."""
    suspected_bot_clickers: int = 0
    rate: float = 0.0
    rate_uses: str = "unique_clickers / delivered"
    by_link: list[LinkClicks] = []
    timeline: list[int] = []
    """Per hour over the first 72 hours after the slot: human first clicks (a reader's first
    click on a link; repeat clicks on it are in ``total`` only)."""


class Ranked(BaseModel):
    """A story or guide with its human unique clickers (all its links together)."""

    kind: str
    key: str
    label: str
    unique: int


class IssueReport(BaseModel):
    issue_id: str
    edition: str
    subject: str
    slot: datetime
    audience: int
    sent: int
    delivered: int
    deferred: int
    bounced: Bounces
    dropped: int
    complained: int
    complaint_rate: float
    bounce_rate: float
    unsubscribed: int
    unsubscribe_rate: float
    resubscribed: int
    opens: Opens
    clicks: Clicks
    stories: list[Ranked]
    guides: list[Ranked]
    generated_at: datetime
    rates_use: dict[str, str] = {
        "complaint_rate": "complained / delivered",
        "bounce_rate": "bounced.total / sent",
        "unsubscribe_rate": "unsubscribed / delivered",
        "opens.rate": "opens.unique_human / delivered",
        "clicks.rate": "clicks.unique_clickers / delivered",
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def ledger_counts(conn: Connection, issue_id: str) -> tuple[int, int]:
    """(audience, sent) from the send ledger: every row, and the rows the provider took."""
    rows = conn.execute(
        select(sends.c.status, func.count())
        .where(sends.c.issue_id == issue_id)
        .group_by(sends.c.status)
    ).all()
    return sum(int(n) for _, n in rows), sum(int(n) for status, n in rows if status == "sent")


def people_counts(conn: Connection, issue_id: str) -> dict[str, int]:
    """Recipients who had each kind of event (``<counter>``), event totals (``<counter>_n``)
    and ``bounced`` (any bounce), as ingest keeps them in ``issue_counts``."""
    counts = {name: 0 for name in COUNTERS} | {f"{name}_n": 0 for name in COUNTERS}
    counts["bounced"] = 0
    rows = conn.execute(
        select(issue_counts.c.name, issue_counts.c.value).where(issue_counts.c.issue_id == issue_id)
    )
    counts.update({name: int(value) for name, value in rows})
    return counts


def suspected_bots(conn: Connection, cfg: Settings, issue_id: str) -> set[str]:
    """The clickers of an issue who look like link scanners (see the module docstring).

    Evaluated in the database over the clickers' index entries; the distinct links are
    counted only for a clicker whose clicks all fell within ``tracking.bot_burst_seconds``.
    """
    p = engagement_people.c
    k = click_links.c
    t = cfg.tracking
    links = (
        select(func.count()).where(k.issue_id == p.issue_id, k.email == p.email).scalar_subquery()
    )
    query = select(p.email).where(
        p.issue_id == issue_id,
        p.clicks > 0,
        or_(
            p.bot_sign > 0,
            and_(
                p.delivered_ts.is_not(None), p.first_click - p.delivered_ts <= t.bot_after_delivery
            ),
            and_(p.last_click - p.first_click <= t.bot_burst_seconds, links >= t.bot_burst_links),
        ),
    )
    return set(conn.execute(query).scalars())


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def build_report(
    conn: Connection, cfg: Settings, plan: IssuePlan, *, now: datetime | None = None
) -> IssueReport:
    """The report of one issue from the store (see the module docstring for definitions)."""
    issue_id = plan.id
    audience, sent = ledger_counts(conn, issue_id)
    c = people_counts(conn, issue_id)
    delivered = c["delivered"]
    bounced = Bounces(
        hard=c["bounce_hard"],
        soft=c["bounce_soft"],
        blocked=c["bounce_blocked"],
        total=c["bounced"],
    )
    opens = Opens(
        unique_human=c["open_human"],
        unique_machine=c["open_machine"],
        total=c["open_human_n"] + c["open_machine_n"],
    )
    opens.rate = _rate(opens.unique_human, delivered)
    clicks, stories, guides = _clicks(conn, cfg, plan, delivered, c)
    return IssueReport(
        issue_id=issue_id,
        edition=plan.edition,
        subject=plan.subject,
        slot=plan.slot,
        audience=audience,
        sent=sent,
        delivered=delivered,
        deferred=c["deferred"],
        bounced=bounced,
        dropped=c["dropped"],
        complained=c["spamreport"],
        complaint_rate=_rate(c["spamreport"], delivered),
        bounce_rate=_rate(bounced.total, sent or delivered + bounced.total),
        unsubscribed=c["unsubscribe"],
        unsubscribe_rate=_rate(c["unsubscribe"], delivered),
        resubscribed=c["resubscribe"],
        opens=opens,
        clicks=clicks,
        stories=stories,
        guides=guides,
        generated_at=now or datetime.now(UTC),
    )


def _clicks(
    conn: Connection, cfg: Settings, plan: IssuePlan, delivered: int, counts: dict[str, int]
) -> tuple[Clicks, list[Ranked], list[Ranked]]:
    """Clicks per link, story and guide: every reader's figures minus the suspected bots'.

    Bots are few, so their rows are read one by one and subtracted from the per-link totals
    (index-only scans of ``click_links``), rather than excluded from every query.
    """
    k = click_links.c
    issue_id = plan.id
    bots = suspected_bots(conn, cfg, issue_id)
    bot_rows: list[tuple[str, str, int, int]] = []  # email, url, clicks, first_ts
    for chunk in _chunks(sorted(bots), 500):
        bot_rows += [
            (e, u, int(n), int(ts))
            for e, u, n, ts in conn.execute(
                select(k.email, k.url, k.clicks, k.first_ts).where(
                    k.issue_id == issue_id, k.email.in_(chunk)
                )
            )
        ]
    links = link_map(cfg, plan)
    bot_people: dict[str, set[str]] = defaultdict(set)
    bot_total: dict[str, int] = defaultdict(int)
    for email, url, n, _ in bot_rows:
        bot_people[url].add(email)
        bot_total[url] += n
    by_link: list[LinkClicks] = []
    for url, unique, n in conn.execute(
        select(k.url, func.count(), func.sum(k.clicks))
        .where(k.issue_id == issue_id)
        .group_by(k.url)
    ):
        info = links.get(url) or LinkInfo("other", url)
        unique = int(unique) - len(bot_people.get(url, ()))
        if info.kind == "canary" or unique <= 0:
            continue  # only bots follow the canary, and only bots clicked this link
        by_link.append(
            LinkClicks(
                url=url,
                kind=info.kind,
                label=info.label,
                item_id=info.item_id,
                slug=info.slug,
                unique=unique,
                total=int(n) - bot_total.get(url, 0),
            )
        )
    by_link.sort(key=lambda link: (-link.unique, -link.total, link.url))
    t0 = int(plan.slot.timestamp())
    end = t0 + TIMELINE_HOURS * 3600
    hour = (k.first_ts - t0) // 3600
    timeline = [0] * TIMELINE_HOURS
    for h, n in conn.execute(
        select(hour, func.count())
        .where(k.issue_id == issue_id, k.first_ts >= t0, k.first_ts < end)
        .group_by(hour)
    ):
        timeline[int(h)] += int(n)
    for _, _, _, ts in bot_rows:
        if t0 <= ts < end:
            timeline[(ts - t0) // 3600] -= 1

    def people_on(urls: set[str]) -> int:
        if not urls:
            return 0
        query = select(func.count(k.email.distinct())).where(
            k.issue_id == issue_id, k.url.in_(sorted(urls))
        )
        everyone = int(conn.execute(query).scalar_one())
        return everyone - len({e for e, u, _, _ in bot_rows if u in urls})

    story_urls: dict[str, set[str]] = defaultdict(set)
    guide_urls: dict[str, set[str]] = defaultdict(set)
    for url, info in links.items():
        if info.kind in ("story", "also") and info.item_id:
            story_urls[info.item_id].add(url)
        elif info.kind == "guide" and info.slug:
            guide_urls[info.slug].add(url)
    clicked = {link.url for link in by_link}
    titles = {s.item.id: s.item.title for s in plan.stories}
    guide_titles = {g.slug: g.title for g in plan.guides}
    guide_titles.update({s.guide.slug: s.guide.title for s in plan.stories if s.guide})
    stories = sorted(
        (
            Ranked(kind="story", key=i, label=label, unique=people_on(story_urls[i] & clicked))
            for i, label in titles.items()
        ),
        key=lambda r: (-r.unique, r.key),
    )
    guides = sorted(
        (
            Ranked(kind="guide", key=g, label=label, unique=people_on(guide_urls[g] & clicked))
            for g, label in guide_titles.items()
        ),
        key=lambda r: (-r.unique, r.key),
    )
    bot_clicks = sum(n for _, _, n, _ in bot_rows)
    clickers = counts["clicks"] - len(bots)
    clicks = Clicks(
        unique_clickers=clickers,
        total=counts["clicks_n"] - bot_clicks,
        suspected_bots=bot_clicks,
        suspected_bot_clickers=len(bots),
        rate=_rate(clickers, delivered),
        by_link=by_link,
        timeline=timeline,
    )
    return clicks, stories, guides

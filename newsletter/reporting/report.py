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
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, and_, case, func, select

from newsletter.config import Settings
from newsletter.models import IssuePlan
from newsletter.reporting.links import LinkInfo, canary_key, link_map
from newsletter.store.tables import engagement, sends

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
    """Human clicks per hour over the first 72 hours after the slot."""


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
    row = conn.execute(
        select(func.count(), func.sum(case((sends.c.status == "sent", 1), else_=0))).where(
            sends.c.issue_id == issue_id
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def event_counts(
    conn: Connection, issue_id: str
) -> dict[tuple[str, str | None, bool], tuple[int, int]]:
    """(kind, detail, machine) → (events, distinct recipients), clicks left out."""
    e = engagement.c
    rows = conn.execute(
        select(e.kind, e.detail, e.machine, func.count(), func.count(e.email.distinct()))
        .where(e.issue_id == issue_id, e.kind != "click")
        .group_by(e.kind, e.detail, e.machine)
    )
    return {(r[0], r[1], bool(r[2])): (int(r[3]), int(r[4])) for r in rows}


def _distinct(conn: Connection, issue_id: str, kinds: tuple[str, ...], **where: Any) -> int:
    e = engagement.c
    cond = [e.issue_id == issue_id, e.kind.in_(kinds)]
    cond += [getattr(e, k) == v for k, v in where.items()]
    return int(conn.execute(select(func.count(e.email.distinct())).where(and_(*cond))).scalar_one())


def suspected_bots(conn: Connection, cfg: Settings, issue_id: str) -> set[str]:
    """The clickers of an issue who look like link scanners (see the module docstring)."""
    e = engagement.c
    canary = canary_key(cfg)
    per_clicker = (
        select(
            e.email,
            func.min(e.ts).label("first"),
            func.max(e.ts).label("last"),
            func.count(e.url.distinct()).label("links"),
            func.sum(case((e.flag.is_not(None), 1), (e.url == canary, 1), else_=0)).label("sign"),
        )
        .where(e.issue_id == issue_id, e.kind == "click")
        .group_by(e.email)
        .subquery()
    )
    d = engagement.alias("d2")
    query = select(
        per_clicker.c.email,
        per_clicker.c.first,
        per_clicker.c.last,
        per_clicker.c.links,
        per_clicker.c.sign,
        select(func.min(d.c.ts))
        .where(d.c.issue_id == issue_id, d.c.kind == "delivered", d.c.email == per_clicker.c.email)
        .scalar_subquery(),
    )
    t = cfg.tracking
    bots: set[str] = set()
    for email, first, last, links, sign, delivered_at in conn.execute(query):
        if (
            sign
            or (delivered_at is not None and first - delivered_at <= t.bot_after_delivery)
            or (links >= t.bot_burst_links and last - first <= t.bot_burst_seconds)
        ):
            bots.add(email)
    return bots


def build_report(
    conn: Connection, cfg: Settings, plan: IssuePlan, *, now: datetime | None = None
) -> IssueReport:
    """The report of one issue from the store (see the module docstring for definitions)."""
    issue_id = plan.id
    audience, sent = ledger_counts(conn, issue_id)
    counts = event_counts(conn, issue_id)

    def recipients(kind: str, detail: str | None = None, machine: bool | None = None) -> int:
        return sum(
            n
            for (k, d, m), (_, n) in counts.items()
            if k == kind and (detail is None or d == detail) and (machine is None or m == machine)
        )

    def events_of(kind: str) -> int:
        return sum(n for (k, _, _), (n, _) in counts.items() if k == kind)

    delivered = recipients("delivered")
    bounced = Bounces(
        hard=recipients("bounce", "hard"),
        soft=recipients("bounce", "soft"),
        blocked=recipients("bounce", "blocked"),
        total=_distinct(conn, issue_id, ("bounce",)) if events_of("bounce") else 0,
    )
    complained = recipients("spamreport")
    unsubscribed = (
        _distinct(conn, issue_id, ("unsubscribe", "group_unsubscribe"))
        if events_of("unsubscribe") or events_of("group_unsubscribe")
        else 0
    )
    opens = Opens(
        unique_human=recipients("open", machine=False),
        unique_machine=recipients("open", machine=True),
        total=events_of("open"),
    )
    opens.rate = _rate(opens.unique_human, delivered)
    clicks, stories, guides = _clicks(conn, cfg, plan, delivered)
    return IssueReport(
        issue_id=issue_id,
        edition=plan.edition,
        subject=plan.subject,
        slot=plan.slot,
        audience=audience,
        sent=sent,
        delivered=delivered,
        deferred=recipients("deferred"),
        bounced=bounced,
        dropped=recipients("dropped"),
        complained=complained,
        complaint_rate=_rate(complained, delivered),
        bounce_rate=_rate(bounced.total, sent or delivered + bounced.total),
        unsubscribed=unsubscribed,
        unsubscribe_rate=_rate(unsubscribed, delivered),
        resubscribed=recipients("group_resubscribe"),
        opens=opens,
        clicks=clicks,
        stories=stories,
        guides=guides,
        generated_at=now or datetime.now(UTC),
    )


def _clicks(
    conn: Connection, cfg: Settings, plan: IssuePlan, delivered: int
) -> tuple[Clicks, list[Ranked], list[Ranked]]:
    e = engagement.c
    issue_id = plan.id
    bots = suspected_bots(conn, cfg, issue_id)
    t0 = int(plan.slot.timestamp())
    hour = (e.ts - t0) // 3600
    rows = conn.execute(
        select(e.email, e.url, hour, func.count())
        .where(e.issue_id == issue_id, e.kind == "click")
        .group_by(e.email, e.url, hour)
    )
    links = link_map(cfg, plan)
    per_url_total: dict[str, int] = defaultdict(int)
    per_url_people: dict[str, set[str]] = defaultdict(set)
    timeline = [0] * TIMELINE_HOURS
    clickers: set[str] = set()
    total = bot_clicks = 0
    for email, url, h, n in rows:
        n = int(n)
        url = url or ""
        if email in bots:
            bot_clicks += n
            continue
        info = links.get(url)
        if info is not None and info.kind == "canary":
            bot_clicks += n  # (a canary click makes its clicker a bot; kept for safety)
            continue
        total += n
        clickers.add(email)
        per_url_total[url] += n
        per_url_people[url].add(email)
        h = int(h)
        if 0 <= h < TIMELINE_HOURS:
            timeline[h] += n
    by_link: list[LinkClicks] = []
    story_people: dict[str, set[str]] = defaultdict(set)
    guide_people: dict[str, set[str]] = defaultdict(set)
    for url, people in per_url_people.items():
        info = links.get(url) or LinkInfo("other", url)
        by_link.append(
            LinkClicks(
                url=url,
                kind=info.kind,
                label=info.label,
                item_id=info.item_id,
                slug=info.slug,
                unique=len(people),
                total=per_url_total[url],
            )
        )
        if info.kind in ("story", "also") and info.item_id:
            story_people[info.item_id] |= people
        elif info.kind == "guide" and info.slug:
            guide_people[info.slug] |= people
    by_link.sort(key=lambda link: (-link.unique, -link.total, link.url))
    titles = {s.item.id: s.item.title for s in plan.stories}
    guide_titles = {g.slug: g.title for g in plan.guides}
    guide_titles.update({s.guide.slug: s.guide.title for s in plan.stories if s.guide})
    stories = sorted(
        (
            Ranked(kind="story", key=i, label=titles[i], unique=len(story_people.get(i, ())))
            for i in titles
        ),
        key=lambda r: (-r.unique, r.key),
    )
    guides = sorted(
        (
            Ranked(kind="guide", key=g, label=label, unique=len(guide_people.get(g, ())))
            for g, label in guide_titles.items()
        ),
        key=lambda r: (-r.unique, r.key),
    )
    clicks = Clicks(
        unique_clickers=len(clickers),
        total=total,
        suspected_bots=bot_clicks,
        suspected_bot_clickers=len(bots),
        rate=_rate(len(clickers), delivered),
        by_link=by_link,
        timeline=timeline,
    )
    return clicks, stories, guides

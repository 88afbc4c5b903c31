"""A sent issue with ten recipients and a realistic, signed SendGrid event history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from web_support import KeyPair, add_subscriber, project

from newsletter.archive import Archive
from newsletter.config import Settings
from newsletter.models import AlsoRef, GuideCard, GuideRef, IssuePlan, NewsItem, Story, Window
from newsletter.store import tables

ISSUE = "2026-11-22-sunday"
SLOT = datetime(2026, 11, 22, 8, tzinfo=UTC)
T = int(SLOT.timestamp()) + 60  # delivery time of every message
STORY_URL = "https://news.example/openai-agents"
STORY2_URL = "https://news.example/eu-ai-act"
ALSO_URL = "https://other.example/agents-coverage"
GUIDE_URL = "https://almanac.example/guides/agents"
UTM = "utm_source=almanac&utm_medium=email&utm_campaign=sunday-2026-11-22"


def plan(issue_id: str = ISSUE, slot: datetime = SLOT, status: str = "sent") -> IssuePlan:
    """Two stories: the first with an "also" link and a guide, the second alone."""

    def item(i: str, title: str, url: str) -> NewsItem:
        return NewsItem(
            id=i, title=title, url=url, source="News", published_at=slot - timedelta(days=1),
            score=8, summary="Summary.",
        )  # fmt: skip

    guide = GuideRef(slug="ai-agents", title="AI agents, explained", url=GUIDE_URL, reason="x")
    return IssuePlan(
        id=issue_id,
        edition="sunday",
        slot=slot,
        window=Window(start=slot - timedelta(days=7), end=slot),
        subject="The week in AI",
        preheader="Agents, the AI Act and more this week in AI",
        status=status,  # type: ignore[arg-type]
        stories=[
            Story(
                item=item("story-1", "OpenAI ships agents", STORY_URL),
                also=(AlsoRef(source="Other", url=ALSO_URL, id="also-1"),),
                guide=guide,
            ),
            Story(item=item("story-2", "The EU AI Act, phase two", STORY2_URL)),
        ],
        guides=[
            GuideCard(
                slug="ai-agents", title="AI agents, explained", url=GUIDE_URL, level="Beginner"
            )
        ],
    )


def setup_project(
    tmp_path: Path, keys: KeyPair, engine: sa.Engine, **sections: Any
) -> tuple[Settings, list[int]]:
    """Config (alerts from one delivery, one editor), the plan, ten subscribers, the ledger."""
    sections.setdefault("alerts", {"min_delivered": 1})
    sections.setdefault(
        "site",
        {"editors": ["editor@almanac.example"], "url": "https://almanac.example"},
    )
    cfg = project(tmp_path, public_key=keys.public_b64, **sections)
    Archive(cfg.archive_dir).save_plan(plan())
    ids = [add_subscriber(engine, f"s{i}@example.com", name=f"S{i}") for i in range(10)]
    add_ledger(engine, ISSUE, ids)
    return cfg, ids


def add_ledger(engine: sa.Engine, issue_id: str, ids: list[int], slot: datetime = SLOT) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.issues).values(
                id=issue_id, edition="sunday", slot=slot, status="sent", created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            sa.insert(tables.sends),
            [
                {
                    "issue_id": issue_id,
                    "subscriber_id": sid,
                    "email": f"s{i}@example.com",
                    "status": "sent",
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, sid in enumerate(ids)
            ],
        )


_n = 0


def ev(i: int | str, event: str, ts: int, **extra: Any) -> dict[str, Any]:
    """One SendGrid event as the webhook posts it (custom arg issue_id, sg ids)."""
    global _n
    _n += 1
    email = i if isinstance(i, str) else f"s{i}@example.com"
    return {
        "email": email,
        "event": event,
        "timestamp": ts,
        "sg_event_id": f"evt-{_n:06d}",
        "sg_message_id": f"msg{i}.filter0001.1.0",
        "issue_id": ISSUE,
        "category": ["sunday"],
        **extra,
    }


def history() -> list[dict[str, Any]]:
    """The full event history; the expected report is in tests/test_report.py."""
    out: list[dict[str, Any]] = []
    for i in range(10):
        out.append(ev(i, "processed", T - 5))
    for i in range(8):
        out.append(ev(i, "delivered", T, response="250 OK"))
    out.append(ev(7, "deferred", T - 2, response="421 try later", attempt="1"))
    out.append(ev(8, "bounce", T, type="bounce", status="5.1.1", reason="no such user"))
    out.append(ev(9, "bounce", T, type="blocked", status="5.7.1", reason="blocked"))
    out.append(ev("stranger@example.com", "dropped", T, reason="Bounced Address"))
    # opens: s0 human twice, s1 machine (Apple MPP), s2 both
    out.append(ev(0, "open", T + 300, sg_machine_open=False, useragent="Mozilla/5.0"))
    out.append(ev(0, "open", T + 4000, sg_machine_open=False))
    out.append(ev(1, "open", T + 30, sg_machine_open=True))
    out.append(ev(2, "open", T + 500, sg_machine_open=False))
    out.append(ev(2, "open", T + 40, sg_machine_open=True))
    # human clicks (UTM and all, as SendGrid reports them)
    out.append(ev(0, "click", T + 600, url=f"{STORY_URL}?{UTM}", url_offset={"index": 0}))
    out.append(ev(0, "click", T + 700, url=f"{STORY_URL}?{UTM}"))
    out.append(ev(1, "click", T + 900, url=f"{GUIDE_URL}?{UTM}"))
    out.append(ev(2, "click", T + 1000, url=f"{ALSO_URL}?{UTM}#section"))
    out.append(ev(3, "click", T + 7300, url=f"https://almanac.example/newsletter/issues/{ISSUE}"))
    # suspected bots: canary, seconds after delivery, many links at once
    out.append(ev(4, "click", T + 2000, url="https://almanac.example/newsletter/r/canary"))
    out.append(ev(4, "click", T + 2001, url=f"{STORY_URL}?{UTM}"))
    out.append(ev(5, "click", T + 3, url=f"{STORY2_URL}?{UTM}"))
    for k, url in enumerate((STORY_URL, STORY2_URL, ALSO_URL, GUIDE_URL)):
        out.append(ev(6, "click", T + 5000 + k, url=f"{url}?{UTM}"))
    out.append(ev(7, "spamreport", T + 8000))
    out.append(ev(3, "unsubscribe", T + 8100))
    out.append(ev(3, "group_unsubscribe", T + 8101, asm_group_id=1))
    out.append(ev(3, "group_resubscribe", T + 9000, asm_group_id=1))
    return out

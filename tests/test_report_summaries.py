"""The per-recipient summaries stay exact when batches for the same readers run at once."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from web_support import db

from newsletter.reporting.report import people_counts
from newsletter.store import tables
from newsletter.store.events import apply_provider_events

__all__ = ["db"]
ISSUE = "2026-11-22-sunday"


def _batch(worker: int, people: int) -> list[dict[str, object]]:
    # Every worker reports an open and a click for every reader (distinct event ids).
    out: list[dict[str, object]] = []
    for i in range(people):
        for kind in ("open", "click"):
            out.append(
                {
                    "email": f"r{i}@example.com",
                    "event": kind,
                    "sg_event_id": f"w{worker}-{kind}-{i}",
                    "issue_id": ISSUE,
                    "timestamp": 1795334400 + 600 + worker,
                    "url": f"https://news.example/story-{worker % 3}",
                    "sg_machine_open": False,
                }
            )
    return out


def test_concurrent_batches_count_each_reader_once(db: sa.Engine) -> None:
    workers, people = 4, 60
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def run(worker: int) -> None:
        try:
            start.wait()
            with db.begin() as conn:
                apply_provider_events(conn, _batch(worker, people))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.connect() as conn:
        counts = people_counts(conn, ISSUE)
        links = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(tables.click_links.c.clicks)).where(
                tables.click_links.c.issue_id == ISSUE
            )
        ).one()
    assert counts["open_human"] == people and counts["open_human_n"] == workers * people
    assert counts["clicks"] == people and counts["clicks_n"] == workers * people
    # workers 0 and 3 clicked story-0, 1 story-1, 2 story-2: three links per reader
    assert tuple(links) == (3 * people, workers * people)

"""Benchmark the scheduler's bookkeeping: slot maths, an idle tick, and claim + finish.

``python -m bench schedule``; results in bench/results/schedule.md and .json. None of this is on
a hot path (a tick runs every few minutes), the numbers show it stays negligible.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

RESULTS = Path(__file__).resolve().parent / "results"
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 22, 4, tzinfo=UTC)


def per_call(fn: Callable[[], object], repeat: int) -> float:
    """Median-ish: best of 3 runs of ``repeat`` calls, in milliseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1000


def main() -> None:
    from newsletter.config import load_config
    from newsletter.scheduling import SlotRunner, SlotStore, next_slot, previous_slot

    rows: list[dict[str, object]] = []
    for expr in ("0 8 * * sun", "0 7 * * wed", "*/5 * * * *"):
        rows.append({"case": f"next_slot {expr}", "ms": per_call(lambda e=expr: next_slot(e, LONDON, NOW), 200)})  # type: ignore[misc]  # fmt: skip
        rows.append({"case": f"previous_slot {expr}", "ms": per_call(lambda e=expr: previous_slot(e, LONDON, NOW), 200)})  # type: ignore[misc]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yaml").read_text())
        base["storage"]["url"] = f"sqlite:///{folder / 'bench.db'}"
        base["archive"]["dir"] = str(folder / "issues")
        base["site"]["first_issue"] = "2026-11-20"
        (folder / "config.yaml").write_text(yaml.safe_dump(base))
        cfg = load_config(folder / "config.yaml")
        store = SlotStore.open(cfg)
        runner = SlotRunner(cfg, store=store)
        rows.append({"case": "run_due idle tick, 2 editions (SQLite)", "ms": per_call(lambda: runner.run_due(NOW), 50)})  # fmt: skip
        counter = iter(range(10**6))

        def claim_finish() -> None:
            n = next(counter)
            claim = store.claim(f"2026-01-{n:06d}", "sunday", NOW, "send", NOW)
            assert claim is not None
            claim.finish("done", "ok", NOW + timedelta(seconds=1))

        rows.append({"case": "claim + finish a step (SQLite, WAL)", "ms": per_call(claim_finish, 100)})  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "schedule.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| case | ms per call |", "|---|---:|"] + [
        f"| {r['case']} | {r['ms']:.3f} |" for r in rows
    ]
    (RESULTS / "schedule.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Content loading: wall and CPU time of ``load_jsonl`` on generated JSON Lines (best of 3).

CPU time is shown too because other work on a shared machine inflates wall time.

Run with ``python -m bench load``; writes bench/results/load.md and load.json.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from newsletter.sources import load_guides, load_jsonl

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_GUIDES = Path(__file__).resolve().parent.parent / "content" / "guides"
SOURCES = ["Reuters", "OpenAI Blog", "The Verge", "Ars Technica", "Nikkei"]


def _line(rng: random.Random, number: int, extra: bool) -> str:
    item = {
        "id": f"item-{number}",
        "title": f"Story {number}: a lab ships model {rng.randint(1, 99)} & more",
        "url": f"https://news.example/{number}",
        "source": rng.choice(SOURCES),
        "published_at": f"2026-11-{rng.randint(8, 22):02d}T{rng.randint(0, 23):02d}:05:00+00:00",
        "score": round(rng.uniform(0, 10), 1),
        "summary": "A sentence about the story that runs a little while. " * rng.randint(1, 4),
        "topics": rng.sample(["OpenAI", "Microsoft", "Anthropic", "Chips", "Policy"], 2),
    }
    if extra:
        item["author"] = "Desk"
    return json.dumps(item, ensure_ascii=False)


def _case(folder: Path, name: str, size: int, bad_every: int, extra: bool) -> dict[str, object]:
    rng = random.Random(7)
    lines = [
        "{broken" if bad_every and n % bad_every == 0 else _line(rng, n, extra)
        for n in range(1, size + 1)
    ]
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    best = cpu = float("inf")
    kept = problems = 0
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        batch = load_jsonl(path)
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
        kept, problems = len(batch.items), len(batch.problems)
        del batch
    return {
        "case": name,
        "lines": size,
        "kept": kept,
        "problems": problems,
        "seconds": best,
        "cpu_seconds": cpu,
    }


def _guides(folder: Path, count: int) -> dict[str, object]:
    """Load ``count`` guides made from the sample ones (new slugs, same text)."""
    samples = sorted(SAMPLE_GUIDES.glob("*.md"))
    target = folder / "guides"
    target.mkdir()
    for number in range(count):
        source = samples[number % len(samples)]
        slug = f"{source.stem}-{number}"
        text = source.read_text(encoding="utf-8").replace(
            f"slug: {source.stem}\n", f"slug: {slug}\n", 1
        )
        (target / f"{slug}.md").write_text(text, encoding="utf-8")
    best = cpu = float("inf")
    kept = problems = 0
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        batch = load_guides(target)
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
        kept, problems = len(batch.guides), len(batch.problems)
    return {
        "case": f"guides-{count}",
        "lines": count,
        "kept": kept,
        "problems": problems,
        "seconds": best,
        "cpu_seconds": cpu,
    }


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows.append(_case(folder, "clean-10k", 10_000, 0, False))
        rows.append(_case(folder, "clean-100k", 100_000, 0, False))
        rows.append(_case(folder, "1pct-bad-100k", 100_000, 100, False))
        rows.append(_case(folder, "extra-fields-100k", 100_000, 0, True))
        rows.append(_guides(folder, 2_000))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    table = [
        "| case | lines/files | kept | problems | wall s | cpu s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    table += [
        f"| {r['case']} | {r['lines']:,} | {r['kept']:,} | {r['problems']:,} "
        f"| {r['seconds']:.3f} | {r['cpu_seconds']:.3f} |"
        for r in rows
    ]
    (RESULTS / "load.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))


if __name__ == "__main__":
    main()

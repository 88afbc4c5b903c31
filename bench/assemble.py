"""Benchmark ``newsletter assemble`` on generated content: 1k, 10k and 100k items, 2,000 guides.

Each size runs the whole assemble (load + curate + write) in a fresh subprocess; wall time and
peak RSS of that child are recorded in bench/results/assemble.md and .json.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.rss import parse_peak_mb, run_module_reporting_peak

SIZES = (1_000, 10_000, 100_000)
GUIDES = 2_000
SEED = 20261122
SLOT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ten",
    "vo",
    "zu",
    "quin",
    "del",
    "sor",
    "pha",
    "bri",
    "nex",
    "tal",
]
_COMMON = [
    "model",
    "data",
    "compute",
    "training",
    "inference",
    "chip",
    "startup",
    "partnership",
    "policy",
    "research",
    "users",
    "developers",
    "enterprise",
    "platform",
    "release",
    "benchmark",
    "cost",
    "price",
    "revenue",
    "growth",
    "market",
    "lab",
    "team",
    "deal",
    "government",
    "court",
    "rules",
    "safety",
    "agent",
    "tool",
    "browser",
    "code",
    "memory",
    "energy",
    "power",
    "grid",
    "water",
]


def _vocabulary(rng: random.Random, size: int, syllables: int) -> list[str]:
    words = {"".join(rng.choice(_SYLLABLES) for _ in range(syllables)) for _ in range(size * 2)}
    return sorted(words)[:size]


_VOCAB_RNG = random.Random(7)
_COMPANIES = [w.capitalize() for w in _vocabulary(_VOCAB_RNG, 2000, 3)]
_WORDS = _COMMON + _vocabulary(_VOCAB_RNG, 3000, 2) + _vocabulary(_VOCAB_RNG, 3000, 4)
_THEMES = [
    "chips", "regulation", "safety", "agents", "energy", "open weights", "reasoning", "robotics",
    "funding", "security", "benchmarks", "copyright", "cloud", "education", "health", "search",
]  # fmt: skip
_VERBS = [
    "launches", "unveils", "raises", "delays", "expands", "cuts", "tests", "acquires", "opens",
    "patches", "licenses", "trains", "ships", "pauses", "doubles",
]  # fmt: skip
_SOURCES = [f"Source {i}" for i in range(40)]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def generate(folder: Path, n_items: int, seed: int = SEED) -> None:
    """Write ``news.jsonl`` and ``guides/*.md`` with a deterministic seed."""
    rng = random.Random(seed)
    start = SLOT - timedelta(days=3, hours=23)
    span = (timedelta(days=3, hours=22)).total_seconds()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "news.jsonl").open("w", encoding="utf-8") as fh:
        k = 0
        while k < n_items:
            company = rng.choice(_COMPANIES)
            theme = rng.choice(_THEMES)
            product = f"{company} {rng.choice('XYZQ')}{rng.randint(1, 99)}"
            when = start + timedelta(seconds=rng.random() * span)
            copies = 3 if rng.random() < 0.1 else 1  # some stories covered by several sources
            sources = rng.sample(_SOURCES, copies)
            for c in range(min(copies, n_items - k)):
                title = f"{company} {rng.choice(_VERBS)} {product} for {theme}: {_sentence(rng, 4)}"
                item = {
                    "id": f"n{k:06d}",
                    "title": title,
                    "url": f"https://news.example/{k}",
                    "source": sources[c],
                    "published_at": (when + timedelta(minutes=37 * c)).isoformat(),
                    "score": round(rng.uniform(0, 10), 1),
                    "summary": f"{product} {_sentence(rng, 18)}. {company} said {_sentence(rng, 10)}.",
                    "topics": [company, theme.title()],
                }
                fh.write(json.dumps(item) + "\n")
                k += 1
    guides = folder / "guides"
    guides.mkdir(exist_ok=True)
    for g in range(GUIDES):
        company = _COMPANIES[g % len(_COMPANIES)]
        theme = _THEMES[g % len(_THEMES)]
        slug = f"guide-{g:04d}"
        body = "\n\n".join(_sentence(rng, 40) for _ in range(6))
        (guides / f"{slug}.md").write_text(
            f'---\nslug: {slug}\ntitle: "{company} and {theme} explained ({g})"\nlevel: Beginner\n'
            f"url: https://almanac.example/guides/{slug}\nupdated_at: 2026-11-01\n"
            f"topics: [{company}, {theme.title()}]\ntldr: {_sentence(rng, 20)}\n"
            f"takeaways:\n  - {_sentence(rng, 12)}\n  - {_sentence(rng, 12)}\n---\n{body}\n",
            encoding="utf-8",
        )


_CHILD = """
import sys, time
from bench.rss import peak_rss_mb
t0 = time.perf_counter()
from datetime import datetime
from pathlib import Path

from bench.rss import parse_peak_mb, run_module_reporting_peak
from newsletter.config import load_config
from newsletter.curation import assemble_issue
t1 = time.perf_counter()
cfg = load_config(sys.argv[1])
r = assemble_issue(
    cfg, "sunday", datetime.fromisoformat(sys.argv[2]), content_dir=Path(sys.argv[3]), force=True
)
t = r.timings
rss = peak_rss_mb()
print(t1 - t0, t["load"], t["curate"], t["write"], rss, len(r.plan.stories))
"""


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run ``args``; return (wall s, CPU s, peak RSS MB, stdout) of that child alone."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}… failed ({proc.returncode}): {err[-2000:]}")
    peak = parse_peak_mb(err)
    rss = peak if peak is not None else usage.ru_maxrss / 1024
    return wall, usage.ru_utime + usage.ru_stime, rss, out


def run_one(n: int, tmp: Path, repeat: int) -> dict[str, float | int]:
    """Generate ``n`` items; best of ``repeat`` fresh processes of ``newsletter assemble`` (the
    command as a user runs it) and of a script timing the assemble step's parts."""
    content = tmp / f"content-{n}"
    generate(content, n)
    cfg = tmp / "config.yaml"
    cfg.write_text(f"archive: {{dir: {tmp / f'issues-{n}'}}}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_avg = os.getloadavg()[0]
    # The CLI exactly as a user runs it, plus an exit hook that reports its own peak memory.
    cli = [sys.executable, "-c", run_module_reporting_peak("newsletter")]
    cli += ["--config", str(cfg), "assemble"]
    cli += ["--edition", "sunday", "--at", SLOT.isoformat(), "--content", str(content)]
    cli += ["--force"]
    runs = [_timed(cli, env) for _ in range(repeat)]
    wall, cpu, rss, _ = min(runs)
    step_runs = []
    for _ in range(repeat):
        _, _, _, out = _timed(
            [sys.executable, "-c", _CHILD, str(cfg), SLOT.isoformat(), str(content)], env
        )
        imports, load, curate, write, _rss, stories = out.split()
        step_runs.append(
            (
                float(load) + float(curate) + float(write),
                float(imports),
                float(load),
                float(curate),
                float(write),
                int(stories),
            )
        )
    step, imports, load, curate, write, stories = min(step_runs)
    return {
        "items": n,
        "guides": GUIDES,
        "repeat": repeat,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mb": round(rss, 1),
        "imports_s": round(imports, 3),
        "load_s": round(load, 3),
        "curate_s": round(curate, 3),
        "write_s": round(write, 3),
        "assemble_s": round(step, 3),
        "stories": stories,
        "load_avg_1m": round(load_avg, 2),
    }


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "").split(",") if s] or list(SIZES)
    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-assemble-") as tmp:
        for n in sizes:
            row = run_one(n, Path(tmp), repeat)
            print(
                f"assemble {n:>7} items: whole process {row['wall_s']:.2f} s "
                f"(CPU {row['cpu_s']:.2f} s), assemble step {row['assemble_s']:.2f} s, "
                f"peak RSS {row['peak_rss_mb']} MB",
                file=sys.stderr,
            )
            rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "assemble.json").write_text(
        json.dumps({"machine_cpus": os.cpu_count(), "runs": rows}, indent=2) + "\n"
    )
    lines = [
        "# assemble benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, {GUIDES} guides, one window, "
        f"best of {repeat} fresh processes each (the machine is shared; `load avg` is its "
        "1-minute load when the size started).",
        "",
        "- **whole process**: `python -m newsletter assemble --edition sunday --at … "
        "--content … --force` as a user runs it: interpreter start, imports, config, load, "
        "curate, write, exit. Wall and CPU (user + system) time and peak RSS of that process.",
        "- **assemble step**: `assemble_issue` (load + curate + write) timed inside a script; "
        "`imports` is that script's import time (newsletter.config + newsletter.curation).",
        "",
        *([os.environ["BENCH_NOTE"], ""] if os.environ.get("BENCH_NOTE") else []),
        "| items | whole process wall (s) | whole process CPU (s) | peak RSS (MB) "
        "| imports (s) | load (s) | curate (s) | write (s) | assemble step (s) | load avg |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['items']:,} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mb']} "
        f"| {r['imports_s']} | {r['load_s']} | {r['curate_s']} | {r['write_s']} "
        f"| {r['assemble_s']} | {r['load_avg_1m']} |"
        for r in rows
    ]
    (RESULTS / "assemble.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

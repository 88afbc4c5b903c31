"""Public signup under load: 1,000 concurrent signups against a real ``newsletter serve``.

Run with ``python -m bench signup``. Starts ``newsletter serve`` (SQLite, outbox provider) in a
throw-away folder, posts 1,000 JSON signups at once (distinct addresses), then checks that
every one is in the store (pending row, token, consent) and has its confirmation ``.eml`` in
the outbox: 0 errors, 0 lost. ``signup.rate_per_ip`` is raised for the run, since every
request comes from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
SIGNUPS = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(folder: Path) -> Path:
    base = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    base["storage"]["url"] = f"sqlite:///{folder / 'bench.db'}"
    base["archive"]["dir"] = str(folder / "issues")
    base["delivery"]["outbox"]["dir"] = str(folder / "outbox")
    base["signup"]["rate_per_ip"] = 1_000_000
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path


def _start(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": "bench-signup-key"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(config), "serve", "--port", str(port)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("newsletter serve did not start")


async def _storm(base: str, n: int) -> tuple[list[float], list[str], list[int], float]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    accepted: list[int] = []
    latencies: list[float] = []
    errors: list[str] = []
    # One GET first (the app opens and migrates the store on first use), on its own
    # connection: an idle pooled connection could meet uvicorn's 5 s keep-alive timeout.
    async with httpx.AsyncClient(base_url=base) as warm:
        await warm.get("/subscribe")
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def one(i: int) -> None:
            start = time.perf_counter()
            try:
                res = await client.post(
                    "/api/subscribe",
                    json={"email": f"reader{i}@example.com", "source": "bench"},
                )
                if res.status_code == 202:
                    accepted.append(i)
                else:
                    errors.append(f"HTTP {res.status_code}: {res.text[:80]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - started
    return latencies, errors, accepted, wall


def _delivered(outbox: Path) -> set[str]:
    log = outbox / "signup-confirm" / "delivered.log"
    if not log.exists():
        return set()
    return {json.loads(line)["email"] for line in log.read_text().splitlines() if line}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = _config(folder)
        port = _free_port()
        proc = _start(config, port)
        try:
            latencies, errors, accepted, wall = asyncio.run(
                _storm(f"http://127.0.0.1:{port}", SIGNUPS)
            )
            wanted = {f"reader{i}@example.com" for i in accepted}
            deadline = time.monotonic() + 60
            while not wanted <= _delivered(folder / "outbox") and time.monotonic() < deadline:
                time.sleep(0.2)
            mailed = _delivered(folder / "outbox")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        db = sqlite3.connect(folder / "bench.db")
        pending = {r[0] for r in db.execute("select email from subscribers where status='pending'")}
        tokens = db.execute("select count(*) from signup_tokens").fetchone()[0]
        consents = db.execute("select count(*) from consents where action='signup'").fetchone()[0]
        db.close()
    ordered = sorted(latencies)
    lost = len(wanted - (pending & mailed))
    return {
        "signups": SIGNUPS,
        "concurrency": SIGNUPS,
        "db": "sqlite",
        "wall_s": round(wall, 3),
        "requests_per_s": round(SIGNUPS / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "accepted": len(accepted),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "load_average": os.getloadavg()[0],
        "lost": lost,
        "pending_rows": len(pending),
        "tokens": tokens,
        "consents": consents,
        "confirmation_emails": len(mailed),
    }


def main() -> None:
    result = run()
    table = "\n".join(
        [
            "| signups | concurrent | db | requests/s | p50 ms | p99 ms | max ms | errors | lost |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
            f"| {result['signups']} | {result['concurrency']} | {result['db']} "
            f"| {result['requests_per_s']:,.0f} | {result['p50_ms']} | {result['p99_ms']} "
            f"| {result['max_ms']} | {result['errors']} | {result['lost']} |",
        ]
    )
    print(table)
    note = (
        "\n\nOne `newsletter serve` process (uvicorn, one worker) on SQLite with the outbox "
        "provider; POST /api/subscribe with 1,000 distinct addresses sent at once from one "
        "client (signup.rate_per_ip raised for the run). Lost = an address without both its "
        f"pending row and its confirmation .eml: {result['pending_rows']} pending rows, "
        f"{result['tokens']} token hashes, {result['consents']} consent records, "
        f"{result['confirmation_emails']} confirmation emails. The machine's load average "
        f"during the run: {result['load_average']:.1f} on {os.cpu_count()} cores.\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "signup.md").write_text("# Signup\n\n" + table + note, encoding="utf-8")
    (RESULTS / "signup.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

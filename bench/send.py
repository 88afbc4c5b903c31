"""Send benchmark: 1,000,000 subscribers through the dispatcher and the SendGrid provider.

``python -m bench send`` (or ``make bench``). For each audience size (100k, 1M), in fresh
subprocesses so each peak RSS is its own:

1. ``seed``: a fresh SQLite store, N generated subscribers bulk-inserted (executemany).
2. ``serve``: a minimal SendGrid stand-in on 127.0.0.1 (threaded HTTP/1.1, reads the
   body, answers 202; no validation, for speed).
3. ``send``: ``send_issue`` end to end (audience query, ledger, per-recipient values,
   the real SendGrid provider through the official client, retries machinery, report),
   batches of 1000, ``delivery.concurrency`` threads.
4. ``reference``: a minimal client posting the same number of pre-serialised 1000-recipient
   bodies with http.client (keep-alive), same concurrency: the floor to compare against.

Results: bench/results/send.md and send.json.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.rss import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIZES = (100_000, 1_000_000)
BATCH = 1000
CONCURRENCY = 4
ISSUE_ID = "2026-11-22-sunday"
TARGET_RATE = 20_000
TARGET_RSS_MB = 300
TARGET_RATIO = 1.5


# --- the SendGrid stand-in ---------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        _Handler.count += 1
        self.send_response(202)
        self.send_header("X-Message-Id", f"bench-{_Handler.count}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve() -> None:
    """Serve until stdin closes; print the port first."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


# --- children ------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return peak_rss_mb()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write_config(folder: Path, port: int) -> Path:
    import yaml

    base = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    base["storage"]["url"] = f"sqlite:///{folder / 'bench.db'}"
    base["archive"]["dir"] = str(folder / "issues")
    delivery = base["delivery"]
    delivery.update(provider="sendgrid", batch_size=BATCH, concurrency=CONCURRENCY, rate_limit=0)
    delivery["sendgrid"] = {**delivery.get("sendgrid", {}), "host": f"http://127.0.0.1:{port}"}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path


def _html() -> str:
    story = (
        '<tr><td style="padding:12px 24px;font-family:Arial,sans-serif">'
        '<h2 style="font-size:20px;margin:0 0 8px">Story title about AI news {i}</h2>'
        '<p style="font-size:15px;line-height:1.5">A summary of the story that runs to a couple '
        "of sentences, so the email is about the size of a real issue.</p>"
        '<a href="https://almanac.example/news/{i}?utm_source=almanac">Read more</a></td></tr>'
    )
    body = "".join(story.format(i=i) for i in range(40))
    return (
        "<!doctype html><html><body><p>Hi %first_name%,</p><table>"
        + body
        + '</table><a href="%unsubscribe_url%">Unsubscribe</a> · '
        '<a href="%preferences_url%">Preferences</a></body></html>'
    )


def seed(folder: Path, n: int) -> dict[str, Any]:
    """A fresh store with ``n`` subscribers (both editions), bulk-inserted."""
    from newsletter.config import load_config
    from newsletter.store.db import open_store

    cfg = load_config(_write_config(folder, 9))
    engine = open_store(cfg)
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO subscribers (email, name, wants_midweek, wants_sunday, status, source,"
            " created_at, updated_at) VALUES (?, ?, 1, 1, 'active', 'bench', ?, ?)",
            ((f"reader{i}@example.com", f"Reader {i}", stamp, stamp) for i in range(n)),
        )
        cur.execute("COMMIT")
    finally:
        raw.close()
    engine.dispose()
    return {"seed_s": round(time.perf_counter() - started, 2), "peak_rss_mb": _peak_rss_mb()}


def send(folder: Path, n: int, port: int) -> dict[str, Any]:
    """``send_issue`` through the SendGrid provider to the stand-in."""
    try:
        import newsletter.delivery.sendgrid  # noqa: F401
    except ModuleNotFoundError:
        return {"skipped": "newsletter.delivery.sendgrid is not in this tree"}
    from newsletter.archive import Archive
    from newsletter.config import Secrets, load_config
    from newsletter.delivery.dispatcher import send_issue
    from newsletter.models import IssuePlan, Window

    cfg = load_config(_write_config(folder, port))
    slot = datetime(2026, 11, 22, 8, tzinfo=UTC)
    archive = Archive(cfg.archive_dir)
    archive.save_plan(
        IssuePlan(
            id=ISSUE_ID,
            edition="sunday",
            slot=slot,
            window=Window(start=datetime(2026, 11, 18, tzinfo=UTC), end=slot),
            subject="The week in AI",
            preheader="Bench",
            status="approved",
        )
    )
    archive.write_text(ISSUE_ID, "email.html", _html())
    archive.write_text(ISSUE_ID, "email.txt", "Hi %first_name%\n\nUnsubscribe: %unsubscribe_url%\n")
    secrets = Secrets(sendgrid_api_key="SG.bench-key", secret_key="bench-secret-key")  # type: ignore[arg-type]
    rss_before = _peak_rss_mb()
    cpu_before = _cpu_s()
    started = time.perf_counter()
    report = send_issue(
        cfg, secrets, ISSUE_ID, provider="sendgrid", progress=False, log=lambda m: None
    )
    elapsed = time.perf_counter() - started
    cpu = _cpu_s() - cpu_before
    return {
        "recipients": report.sent,
        "cpu_s": round(cpu, 2),
        "rate_per_cpu_s": round(report.sent / cpu) if cpu else None,
        "failed": report.failed,
        "uncertain": report.uncertain,
        "status": report.status,
        "batches": report.batches,
        "seconds": round(elapsed, 2),
        "rate": round(report.sent / elapsed),
        "rss_before_send_mb": round(rss_before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def budget(folder: Path, batches: int = 100) -> dict[str, Any]:
    """CPU per 1000-recipient batch of each step, one thread, no HTTP (where the time goes)."""
    try:
        from newsletter.delivery.sendgrid import encode_payload, prepare_payload
    except ModuleNotFoundError:
        return {"skipped": "newsletter.delivery.sendgrid is not in this tree"}
    from newsletter.config import load_config
    from newsletter.delivery.audience import RecipientBuilder
    from newsletter.delivery.base import OutgoingIssue
    from newsletter.store import issues_repo, ledger
    from newsletter.store.db import open_store

    cfg = load_config(folder / "config.yaml")
    engine = open_store(cfg)
    issues_repo.upsert_issue(engine, "budget", "sunday", datetime.now(UTC), "sending")
    builder = RecipientBuilder(b"bench-secret-key", cfg.web.public_url, "u@almanac.example")
    issue = OutgoingIssue("budget", "sunday", "S", _html(), "text", "a@almanac.example", "A")
    steps = dict.fromkeys(("claim", "recipients", "payload", "json", "posted", "sent"), 0.0)
    clock = time.process_time
    after = 0
    for i in range(batches):
        t = clock()
        members = ledger.claim_batch(engine, "budget", "sunday", after, BATCH, f"b{i}")
        steps["claim"] += clock() - t
        after = members[-1].subscriber_id
        t = clock()
        recipients = builder.recipients(members)
        steps["recipients"] += clock() - t
        t = clock()
        body = prepare_payload(issue, recipients).body
        steps["payload"] += clock() - t
        t = clock()
        encode_payload(body)
        steps["json"] += clock() - t
        t = clock()
        ledger.mark_posted(engine, f"b{i}")
        steps["posted"] += clock() - t
        t = clock()
        ledger.mark_sent(engine, f"b{i}", "m")
        steps["sent"] += clock() - t
    engine.dispose()
    return {k: round(v / batches * 1000, 2) for k, v in steps.items()}


def provider_alone(n: int, port: int) -> dict[str, Any]:
    """Our SendGrid provider alone: the same posts as the reference (ceil(n / 1000) batches of
    1000, CONCURRENCY threads), each ``send_batch`` building and serialising its payload and
    posting it through the official client; no store, no ledger. The recipients (values,
    headers) are built before the clock starts, as the reference's bodies are."""
    from newsletter.config import SendGridConfig
    from newsletter.delivery.audience import RecipientBuilder
    from newsletter.delivery.base import OutgoingIssue
    from newsletter.delivery.sendgrid import SendGridProvider
    from newsletter.store.ledger import Claimed

    provider = SendGridProvider(
        SendGridConfig(host=f"http://127.0.0.1:{port}"),  # type: ignore[arg-type]
        "SG.bench-key",
    )
    builder = RecipientBuilder(
        b"bench-secret-key", "https://almanac.example/newsletter", "unsubscribe@almanac.example"
    )
    issue = OutgoingIssue(
        ISSUE_ID,
        "sunday",
        "The week in AI",
        _html(),
        "Hi %first_name%\n\nUnsubscribe: %unsubscribe_url%\n",
        "newsletter@almanac.example",
        "Call Me Almanac",
    )
    batches = [
        builder.recipients(
            Claimed(i, f"reader{i}@example.com", f"Reader {i}")
            for i in range(k * BATCH, (k + 1) * BATCH)
        )
        for k in range(CONCURRENCY)
    ]
    posts = -(-n // BATCH)
    counter = iter(range(posts))
    lock = threading.Lock()
    errors: list[str] = []

    def worker(k: int) -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            result = provider.send_batch(issue, batches[k])
            if result.status_code != 202:
                errors.append(str(result.status_code))

    cpu_before = _cpu_s()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "recipients": posts * BATCH,
        "posts": posts,
        "cpu_s": round(_cpu_s() - cpu_before, 2),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "rate": round(posts * BATCH / elapsed),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _reference_body(start: int) -> bytes:
    personalizations = []
    for i in range(start, start + BATCH):
        token = f"{i}.AAAAAAAAAAAAAAAAAAAAAAAA"
        unsub = f"https://almanac.example/newsletter/unsubscribe?t={token}"
        personalizations.append(
            {
                "to": [{"email": f"reader{i}@example.com", "name": f"Reader {i}"}],
                "custom_args": {"issue_id": ISSUE_ID},
                "substitutions": {
                    "%unsubscribe_url%": unsub,
                    "%preferences_url%": f"https://almanac.example/newsletter/preferences?t={token}",
                    "%first_name%": "Reader",
                },
                "headers": {
                    "List-Unsubscribe": f"<{unsub}>, <mailto:unsubscribe@almanac.example>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            }
        )
    body = {
        "personalizations": personalizations,
        "from": {"email": "newsletter@almanac.example", "name": "Call Me Almanac"},
        "subject": "The week in AI",
        "content": [
            {"type": "text/plain", "value": "Hi %first_name%\n\nUnsubscribe: %unsubscribe_url%\n"},
            {"type": "text/html", "value": _html()},
        ],
        "categories": ["sunday"],
    }
    return json.dumps(body).encode()


def reference(n: int, port: int) -> dict[str, Any]:
    """Post ceil(n / 1000) pre-serialised bodies with keep-alive, CONCURRENCY threads."""
    bodies = [_reference_body(k * BATCH) for k in range(CONCURRENCY)]
    posts = -(-n // BATCH)
    counter = iter(range(posts))
    lock = threading.Lock()
    errors: list[str] = []

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": "Bearer SG.bench-key", "Content-Type": "application/json"}
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            conn.request("POST", "/v3/mail/send", body=bodies[k], headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 202:
                errors.append(str(resp.status))
        conn.close()

    cpu_before = _cpu_s()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "recipients": posts * BATCH,
        "posts": posts,
        "cpu_s": round(_cpu_s() - cpu_before, 2),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "rate": round(posts * BATCH / elapsed),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


# --- the driver ----------------------------------------------------------------------------


def _child(*args: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.send", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench send {args[0]} failed: {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_size(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        seeded = _child("seed", tmp, str(n))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.send", "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = server.stdout.readline().strip()
            dispatched = _child("send", tmp, str(n), port)
            ref = _child("reference", tmp, str(n), port)
            alone = _child("provider", tmp, str(n), port)
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)
        cpu = _child("budget", tmp) if n == SIZES[0] else None
    return {
        "subscribers": n,
        "seed": seeded,
        "send": dispatched,
        "reference": ref,
        "provider_alone": alone,
        "cpu_ms_per_batch": cpu,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| subscribers | seed (s) | send (s) | send recipients/s | send CPU (s) "
        "| peak RSS send (MB) | provider alone (s) | provider alone CPU (s) "
        "| reference (s) | reference CPU (s) | send / reference | provider alone / reference |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        s, ref = r["send"], r["reference"]
        alone = r.get("provider_alone") or {}
        if "skipped" in s:
            lines.append(
                f"| {r['subscribers']:,} | {r['seed']['seed_s']} | – | – | – | – | – | – "
                f"| {ref['seconds']} | {ref['cpu_s']} | – | – |"
            )
            continue
        base = ref["seconds"] or 0
        ratio = f"{s['seconds'] / base:.2f}×" if base else "–"
        alone_ratio = f"{alone['seconds'] / base:.2f}×" if base and alone else "–"
        lines.append(
            f"| {r['subscribers']:,} | {r['seed']['seed_s']} | {s['seconds']} | {s['rate']:,} "
            f"| {s['cpu_s']} | {s['peak_rss_mb']} | {alone.get('seconds', '–')} "
            f"| {alone.get('cpu_s', '–')} | {ref['seconds']} | {ref['cpu_s']} | {ratio} "
            f"| {alone_ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run both sizes and write bench/results/send.md and send.json."""
    rows = []
    for n in SIZES:
        print(f"bench send: {n:,} subscribers…", file=sys.stderr, flush=True)
        rows.append(run_size(n))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    meta = {
        "note": os.environ.get("BENCH_NOTE", ""),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "batch": BATCH,
        "concurrency": CONCURRENCY,
        "targets": {
            "recipients_per_s": TARGET_RATE,
            "peak_rss_mb": TARGET_RSS_MB,
            "max_ratio_to_reference": TARGET_RATIO,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "send.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    md = [
        "# Send benchmark",
        "",
        f"{meta['date']}, Python {meta['python']}, {meta['cpus']} CPUs; batches of {BATCH}, "
        f"{CONCURRENCY} threads, SQLite store, SendGrid stand-in on 127.0.0.1 (no validation); "
        f"load average at the end {meta['load_average']} (the machine is shared).",
        *([os.environ["BENCH_NOTE"], ""] if os.environ.get("BENCH_NOTE") else []),
        _table(rows),
        "",
        f"Targets: ≥ {TARGET_RATE:,} recipients/s end to end, peak RSS < {TARGET_RSS_MB} MB and "
        f"flat from 100k to 1M, within {TARGET_RATIO}× of the reference client.",
        "",
        "Three clients, the same posts (ceil(N / 1000) bodies of 1000 recipients, "
        f"{CONCURRENCY} threads, the same stand-in):",
        "",
        "- **reference** (as the issue defines it): bodies serialised before the clock starts, "
        "posted with http.client over keep-alive connections: the transport alone.",
        "- **provider alone**: our SendGridProvider.send_batch on recipients built beforehand: "
        "each post builds and serialises its payload and goes through the official client "
        "(python_http_client over urllib: a new connection per request). No store. "
        "provider alone − reference = payload + JSON + the official client's transport.",
        "- **send**: `send_issue` end to end: audience query, ledger claim/posted/sent writes, "
        "per-recipient values and headers, then the provider. "
        "send − provider alone = the ledger and the recipients.",
        "",
    ]
    cpu = rows[0].get("cpu_ms_per_batch") or {}
    if cpu and "skipped" not in cpu:
        md += [
            "Where the CPU goes (one thread, ms per 1000-recipient batch, no HTTP): "
            + ", ".join(f"{k} {v}" for k, v in cpu.items())
            + f"; total {sum(cpu.values()):.1f} ms. The reference client does none of this work "
            "(its bodies are serialised before the clock starts): it measures the transport alone.",
            "",
        ]
    (RESULTS / "send.md").write_text("\n".join(md))
    print("\n".join(md))


def _cli(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "serve":
        serve()
        return
    if mode == "seed":
        out = seed(Path(argv[1]), int(argv[2]))
    elif mode == "send":
        out = send(Path(argv[1]), int(argv[2]), int(argv[3]))
    elif mode == "budget":
        out = budget(Path(argv[1]))
    elif mode == "reference":
        out = reference(int(argv[2]), int(argv[3]))
    elif mode == "provider":
        out = provider_alone(int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _cli(sys.argv[1:])
    else:
        main()

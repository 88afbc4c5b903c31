"""Provider benchmark: the SendGrid provider's cost per 1000-recipient batch, and its rival.

Side by side in one run, against the fake SendGrid in its own process (validation off): the
provider (payload dicts → compact JSON → the official client) and a minimal reference client
that posts the same bodies, serialised beforehand, with ``http.client``. Also the payload
steps alone. Writes bench/results/providers.md and providers.json. Run: ``python -m bench
providers``. (The end-to-end 1M-subscriber run with the dispatcher is the ``send`` bench.)
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.rss import peak_rss_mb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BATCH = 1000
BATCHES = 100
RUNS = 20


def median_ms(fn: Callable[[], object], runs: int = RUNS) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from newsletter.config import SendGridConfig
    from newsletter.delivery import OutgoingIssue, Recipient, SendGridProvider, build_payload
    from newsletter.delivery.message import list_unsubscribe_headers
    from newsletter.delivery.sendgrid import encode_payload
    from newsletter.personalization import recipient_values
    from tests.fakes.sendgrid_server import DEFAULT_KEY

    html = "<p>Hi %first_name%</p>" + "<p>story text</p>" * 2000 + '<a href="%unsubscribe_url%">'
    issue = OutgoingIssue(
        "2026-11-22-sunday", "sunday", "Almanac Sunday", html, "Hi %first_name%\n" * 300,
        "newsletter@almanac.example", "Call Me Almanac", "editors@almanac.example",
    )  # fmt: skip

    def recipient(i: int) -> Recipient:
        email = f"reader{i}@example.com"
        values = recipient_values(b"k", "https://almanac.example/newsletter", i, email, "Ada L")
        headers = list_unsubscribe_headers(values["%unsubscribe_url%"], "unsub@almanac.example")
        return Recipient(email, "Ada Lovelace", values, headers, i)

    batches = [[recipient(b * BATCH + i) for i in range(BATCH)] for b in range(BATCHES)]
    payload = build_payload(issue, batches[0])
    body = encode_payload(payload)
    steps = {
        "build payload dicts": median_ms(lambda: build_payload(issue, batches[0])),
        "serialise (compact JSON)": median_ms(lambda: encode_payload(payload)),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--no-validate"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        provider = SendGridProvider(SendGridConfig(host=url, timeout=30), DEFAULT_KEY)
        provider.send_batch(issue, batches[0])
        t0 = time.perf_counter()
        for batch in batches:
            provider.send_batch(issue, batch)
        provider_s = time.perf_counter() - t0

        bodies = [encode_payload(build_payload(issue, batch)) for batch in batches]
        parts = urlsplit(url)
        headers = {"Authorization": f"Bearer {DEFAULT_KEY}", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        for data in bodies:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
            conn.request("POST", "/v3/mail/send", body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 202
            conn.close()
        reference_s = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=10)
    total = BATCH * BATCHES
    rss_mb = peak_rss_mb()
    result: dict[str, Any] = {
        "batch": BATCH,
        "batches": BATCHES,
        "body_bytes": len(body),
        "steps_ms": steps,
        "provider_s": provider_s,
        "reference_s": reference_s,
        "provider_per_s": total / provider_s,
        "reference_per_s": total / reference_s,
        "ratio": provider_s / reference_s,
        "peak_rss_mb": rss_mb,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "providers.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Provider benchmark",
        "",
        f"{BATCHES} batches of {BATCH} recipients ({total:,}), one sequential sender, fake "
        f"SendGrid in its own process without validation; body {len(body) / 1024:.0f} KB.",
        "",
        "| step | ms per batch |",
        "|---|---:|",
        *(f"| {name} | {ms:.2f} |" for name, ms in steps.items()),
        f"| SendGrid provider, whole send_batch | {provider_s / BATCHES * 1000:.2f} |",
        f"| reference client, pre-serialised body | {reference_s / BATCHES * 1000:.2f} |",
        "",
        "| client | recipients/s |",
        "|---|---:|",
        f"| SendGrid provider | {total / provider_s:,.0f} |",
        f"| reference client | {total / reference_s:,.0f} |",
        "",
        f"Provider / reference time: {provider_s / reference_s:.2f}×. "
        f"Peak RSS of the bench process: {rss_mb:.0f} MB.",
    ]
    (RESULTS / "providers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

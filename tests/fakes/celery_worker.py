"""Run ``newsletter worker`` whose provider is slow, or SIGKILLs the worker in its N-th batch.

Test-only: used by tests/test_celery_backend.py as a subprocess.

    python tests/fakes/celery_worker.py [--kill-at N] [--delay SECONDS] -- <newsletter args...>

The real provider (the outbox) delivers the batch first, then the process dies before the
ledger hears of it: the worst moment, the batch's outcome is unknown to everyone.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from newsletter.config import Secrets, Settings
from newsletter.delivery import factory
from newsletter.delivery.base import BatchResult, OutgoingIssue, Provider, Recipient

_lock = threading.Lock()
_calls = [0]


class KillingProvider:
    def __init__(self, inner: Provider, kill_at: int | None, delay: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch_size = inner.max_batch_size
        self.kill_at = kill_at
        self.delay = delay

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        with _lock:
            call = _calls[0]
            _calls[0] += 1
        if self.delay:
            time.sleep(self.delay)
        result = self.inner.send_batch(issue, recipients)
        if call == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    argv = sys.argv[1:]
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    real = factory.make_provider

    def make(cfg: Settings, secrets: Secrets | None = None, name: str | None = None) -> Provider:
        return KillingProvider(real(cfg, secrets, name), args.kill_at, args.delay)

    factory.make_provider = make  # type: ignore[assignment]
    from newsletter.cli import main as cli_main

    cli_main(argv[split + 1 :])
    sys.exit(0)


if __name__ == "__main__":
    main()

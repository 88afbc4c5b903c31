"""Run a real ``newsletter send`` with a provider that records each delivery to a file.

Test-only: used by tests/test_send_kill.py as a subprocess, so it can be SIGKILLed.

    python tests/fakes/recording_send.py RECORD_FILE [--kill-at N --kill-mode before|after]
        [--delay SECONDS] -- <newsletter arguments...>

The provider appends the batch's addresses to RECORD_FILE (one write, O_APPEND) once it
"accepts" the batch. ``--kill-at N`` SIGKILLs the process inside the N-th call (0-based):
``before`` recording (the request went out, nobody got it) or ``after`` (delivered, but the
ledger never heard). ``--wait-for`` / ``--touch`` make two senders overlap for certain: the
first holds its batches until the second has started posting.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from newsletter.config import Secrets, Settings
from newsletter.delivery import dispatcher
from newsletter.delivery.base import BatchResult, OutgoingIssue, Provider, Recipient


class RecordingProvider:
    name = "recorder"
    max_batch_size = 1000

    def __init__(self, path: str, kill_at: int | None, mode: str, delay: float) -> None:
        self.path = path
        self.kill_at = kill_at
        self.mode = mode
        self.delay = delay

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        with _lock:
            call = _calls[0]
            _calls[0] += 1
        if call == 0 and _touch[0]:
            Path(_touch[0]).touch()
        if _wait_for[0]:
            # Every call waits (not only the first): with concurrency > 1 the other workers
            # would otherwise send the whole audience before a slow-starting second sender
            # finds anything left to post, and the two would never overlap.
            Path(_wait_for[0] + ".waiting").touch()
            deadline = time.monotonic() + 120
            while not Path(_wait_for[0]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        if self.delay:
            time.sleep(self.delay)
        if call == self.kill_at and self.mode == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        data = "".join(f"{r.email}\n" for r in recipients).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if call == self.kill_at and self.mode == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return BatchResult(status_code=202, message_id=f"rec-{os.getpid()}-{call}")

    def close(self) -> None:
        pass


_lock = threading.Lock()
_calls = [0]
_touch: list[str | None] = [None]
_wait_for: list[str | None] = [None]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("record")
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--kill-mode", choices=["before", "after"], default="after")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--touch", help="create this file inside the first call")
    parser.add_argument(
        "--wait-for", help="in every call, create FILE.waiting, then wait until FILE exists"
    )
    argv = sys.argv[1:]
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    rest = argv[split + 1 :]
    _touch[0] = args.touch
    _wait_for[0] = args.wait_for

    def make(cfg: Settings, secrets: Secrets, name: str | None) -> Provider:
        return RecordingProvider(args.record, args.kill_at, args.kill_mode, args.delay)

    dispatcher.resolve_provider = make  # type: ignore[assignment]
    from newsletter.cli import main as cli_main

    cli_main(rest)
    sys.exit(0)


if __name__ == "__main__":
    main()

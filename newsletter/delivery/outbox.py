"""The outbox provider: writes each recipient's message as an ``.eml`` file (the demo's default).

Files go to ``<outbox>/<issue id>/`` (test sends to ``<outbox>/<issue id>/test/``), one per
address, named from the address so that sending the same address twice overwrites the same
file; each file is written atomically. Every message written also appends one JSON line to
``delivered.log`` in that folder, so a second copy to anyone is visible even though the file
was overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.archive import write_atomic
from newsletter.delivery.base import (
    BatchResult,
    OutgoingIssue,
    ProviderError,
    ProviderRejectedError,
    ProviderTransientError,
    Recipient,
)
from newsletter.delivery.message import build_message, preview_message

DELIVERED_LOG = "delivered.log"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_UNSAFE_CHARS = re.compile(r"[^a-z0-9@._+-]")


def eml_name(email: str) -> str:
    """The file name for one address: readable, stable, and distinct per address."""
    key = email.strip().lower()
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{_UNSAFE_CHARS.sub('_', key)[:80]}-{digest}.eml"


class OutboxProvider:
    """Writes one ``.eml`` file per recipient instead of sending."""

    name = "outbox"

    def __init__(self, directory: Path, *, batch_size: int = 1000) -> None:
        self.directory = Path(directory)
        self.max_batch_size = max(1, batch_size)

    def __repr__(self) -> str:
        return f"OutboxProvider({str(self.directory)!r})"

    def folder(self, issue: OutgoingIssue) -> Path:
        """Where this issue's messages go."""
        if not _SAFE_ID.match(issue.issue_id):
            raise ProviderRejectedError(f"{issue.issue_id!r}: not usable as an outbox folder name")
        folder = self.directory / issue.issue_id
        return folder / "test" if issue.test else folder

    def preview_payload(
        self, issue: OutgoingIssue, recipients: Sequence[Recipient]
    ) -> dict[str, Any]:
        """The first message the batch would send, as text (for ``send --dry-run``)."""
        return preview_message(self.name, issue, recipients[: self.max_batch_size])

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        """Write every recipient's message; a write failure defers the rest of the batch."""
        folder = self.folder(issue)
        # One write() per line on an O_APPEND descriptor: lines from threads or processes
        # never interleave, and each lands right after its file.
        try:
            folder.mkdir(parents=True, exist_ok=True)
            log_fd = os.open(folder / DELIVERED_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProviderTransientError(
                f"outbox {folder}: cannot create ({exc.strerror})"
            ) from None
        message_ids: dict[str, str] = {}
        rejected: dict[str, str] = {}
        deferred: dict[str, str] = {}
        seen: set[str] = set()
        try:
            for recipient in recipients:
                email = recipient.email
                if deferred:
                    deferred[email] = next(iter(deferred.values()))
                    continue
                if email.lower() in seen:
                    continue
                seen.add(email.lower())
                try:
                    msg = build_message(issue, recipient)
                except ProviderError as exc:
                    rejected[email] = str(exc)
                    continue
                name = eml_name(email)
                message_id = str(msg["Message-ID"])
                at = datetime.now(UTC).isoformat(timespec="microseconds")
                line = json.dumps(
                    {"at": at, "email": email, "file": name, "message_id": message_id}
                )
                try:
                    write_atomic(folder / name, msg.as_bytes())
                    os.write(log_fd, (line + "\n").encode())
                except OSError as exc:
                    deferred[email] = f"outbox {folder}: cannot write ({exc.strerror})"
                    continue
                message_ids[email] = message_id
        finally:
            os.close(log_fd)
        if deferred and not message_ids and not rejected:
            raise ProviderTransientError(next(iter(deferred.values())))
        return BatchResult(
            message_id=next(iter(message_ids.values()), None),
            message_ids=message_ids,
            rejected=rejected,
            deferred=deferred,
        )

    def close(self) -> None:
        """Nothing to release."""


def delivered(folder: Path) -> list[dict[str, str]]:
    """The entries of one issue folder's ``delivered.log`` (for tests and the demo)."""
    path = folder / DELIVERED_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

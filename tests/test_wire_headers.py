"""What leaves the system, byte for byte: headers and personal values on the wire.

Python's email parser decodes RFC 2047 encoded-words before a test compares a header, which
is how a ``=?utf-8?q?=3Chttps...`` List-Unsubscribe once passed. These tests read the raw
bytes an SMTP server (aiosmtpd) received and the outbox wrote.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from newsletter.config import SmtpConfig
from newsletter.delivery import OutboxProvider, SmtpProvider, build_payload
from newsletter.delivery.audience import RecipientBuilder
from newsletter.delivery.base import OutgoingIssue, Recipient
from newsletter.personalization import first_name
from tests.fakes.samples import make_issue

# Long enough that List-Unsubscribe passes 78 characters (the demo's is), which is when the
# email package used to fall back to encoded-words.
PUBLIC = "https://newsletter.almanac.example/a/rather/long/path/for/the/subscriber-pages"
MAILTO = "unsubscribe@almanac.example"
NAMES = {
    1: "Katherine Johnson",
    2: "Johnson, Katherine",
    3: "Dr. Who",
    4: "<svg/onload=alert(1)>",
    5: "O'Brien & Sons",
    6: "Zoë Ångström",
}


def recipients() -> list[Recipient]:
    builder = RecipientBuilder(b"wire-key", PUBLIC, MAILTO)
    return [builder.recipient(i, f"reader{i}@example.com", name) for i, name in NAMES.items()]


def issue() -> OutgoingIssue:
    return make_issue(subject="Almanac Sunday", list_name="Sunday")


class RawHandler:
    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.raw[rcpt] = bytes(envelope.original_content)
        return "250 Message accepted"


class AnyPortController(Controller):  # type: ignore[misc]
    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_raw() -> Iterator[dict[str, bytes]]:
    handler = RawHandler()
    controller = AnyPortController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        cfg = SmtpConfig(host="127.0.0.1", port=controller.port, security="none", timeout=5)
        provider = SmtpProvider(cfg, None)
        try:
            provider.send_batch(issue(), recipients())
        finally:
            provider.close()
        yield handler.raw
    finally:
        controller.stop()


@pytest.fixture
def outbox_raw(tmp_path: Path) -> dict[str, bytes]:
    provider = OutboxProvider(tmp_path / "outbox")
    provider.send_batch(issue(), recipients())
    folder = tmp_path / "outbox" / "2026-11-22-sunday"
    found: dict[str, bytes] = {}
    for path in folder.glob("*.eml"):
        raw = path.read_bytes()
        to = re.search(rb"^To: .*?<?(reader\d@example\.com)>?\r?$", raw, re.M)
        assert to is not None
        found[to.group(1).decode()] = raw
    return found


def header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    return raw[:end]


def unfolded(raw: bytes, name: str) -> list[str]:
    """The raw values of one header (folding undone, nothing decoded)."""
    block = re.sub(rb"\r?\n[ \t]", b" ", header_block(raw)).decode("ascii")
    return [
        line.split(":", 1)[1].strip()
        for line in block.splitlines()
        if line.lower().startswith(name.lower() + ":")
    ]


def parsed(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _check_wire(raw_by_rcpt: dict[str, bytes]) -> None:
    assert sorted(raw_by_rcpt) == [f"reader{i}@example.com" for i in NAMES]
    builder = RecipientBuilder(b"wire-key", PUBLIC, MAILTO)
    for i, name in NAMES.items():
        email = f"reader{i}@example.com"
        raw = raw_by_rcpt[email]
        values = builder.values(i, email, name)
        url = values["%unsubscribe_url%"]
        assert len(f"List-Unsubscribe: <{url}>, <mailto:{MAILTO}>") > 78
        # Exactly one of each, verbatim: an https URI a receiver can use without decoding.
        assert unfolded(raw, "List-Unsubscribe") == [f"<{url}>, <mailto:{MAILTO}>"]
        assert f"List-Unsubscribe: <{url}>".encode() in raw  # the URI itself is never folded
        assert unfolded(raw, "List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
        assert unfolded(raw, "List-Id") == ['"Sunday" <sunday.almanac.example>']
        assert unfolded(raw, "X-Newsletter-Issue") == ["2026-11-22-sunday"]
        for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Message-ID"):
            for value in unfolded(raw, header):
                assert "=?" not in value, (header, value)
        assert all(len(line) <= 998 for line in header_block(raw).splitlines())
        # Personal values: escaped in the HTML part, plain in the text part.
        msg = parsed(raw)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        greeting = first_name(name)
        assert f"Hi {greeting}" in text
        assert "<svg" not in html and "onload" not in html
        assert url in html and url in text


def test_smtp_wire_bytes(smtp_raw: dict[str, bytes]) -> None:
    _check_wire(smtp_raw)
    html = parsed(smtp_raw["reader5@example.com"]).get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = parsed(smtp_raw["reader5@example.com"]).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hi O&#x27;Brien" in html and "Hi O'Brien" in text


def test_outbox_wire_bytes(outbox_raw: dict[str, bytes]) -> None:
    _check_wire(outbox_raw)


@pytest.mark.parametrize(
    ("name", "greeting"),
    [
        ("Katherine Johnson", "Katherine"),
        ("Johnson, Katherine", "Katherine"),
        ("Katherine Johnson, PhD", "Katherine"),
        ("Dr. Who", "Dr. Who"),
        ("Dr. Jane Smith", "Jane"),
        ("J. Robert Oppenheimer", "Robert"),
        ("Prof.", "there"),
        ("<b>Bob</b>", "there"),
        ("<svg/onload=alert(1)>", "there"),
        ("Smith, Jones, Brown", "there"),
        ("12345", "there"),
        ("", "there"),
        (None, "there"),
        ("Zoë Ångström", "Zoë"),
        ("O'Brien", "O'Brien"),
        ("x" * 60, "there"),
    ],
)
def test_greetings(name: str | None, greeting: str) -> None:
    assert first_name(name) == greeting


def test_sendgrid_payload_escapes_names_for_html_only() -> None:
    body = build_payload(issue(), recipients())
    html = body["content"][1]["value"]
    text = body["content"][0]["value"]
    assert "%first_name_html%" in html and "%first_name%" not in html
    assert "%first_name%" in text
    by_email = {p["to"][0]["email"]: p for p in body["personalizations"]}
    subs = by_email["reader5@example.com"]["substitutions"]
    assert subs["%first_name%"] == "O'Brien" and subs["%first_name_html%"] == "O&#x27;Brien"
    assert body["headers"]["List-Id"] == '"Sunday" <sunday.almanac.example>'
    # Nothing a name can smuggle into the HTML part.
    assert "<svg" not in by_email["reader4@example.com"]["substitutions"]["%first_name_html%"]

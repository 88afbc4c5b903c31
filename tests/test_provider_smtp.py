"""The SMTP provider against a real aiosmtpd server: plain, STARTTLS and implicit TLS, AUTH."""

from __future__ import annotations

import datetime as dt
import ipaddress
import select
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsletter.config import SmtpConfig
from newsletter.delivery import (
    ProviderAuthError,
    ProviderTransientError,
    ProviderUncertainError,
    SmtpProvider,
)
from tests.fakes import closed_port
from tests.fakes.samples import make_issue, make_recipient

USER, PASSWORD = "mailer", "s3cret-smtp-password"

# The implicit-TLS server needs auth_require_tls=False (see tls_server), which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@dataclass
class Received:
    peer: Any
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Records messages; refuses ``bounce*`` (550), defers ``later*`` (451), and cuts the
    connection during DATA for ``cut*`` (after taking the message)."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 No such user here"
        if address.startswith("later"):
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.received.append(
                Received(session.peer, envelope.mail_from, list(envelope.rcpt_tos), msg)  # type: ignore[arg-type]
            )
        if envelope.rcpt_tos[0].startswith("cut"):
            server.transport.close()
        return "250 Message accepted"

    def to(self, email: str) -> EmailMessage:
        matches = [r.message for r in self.received if email in r.rcpt_tos]
        assert len(matches) == 1, f"{email}: {len(matches)} copies"
        return matches[0]


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


class AnyPortController(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller, bound to port 0 (it expects a fixed port)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx


@dataclass
class Server:
    handler: Handler
    port: int


def run_server(**kwargs: Any) -> Iterator[Server]:
    handler = Handler()
    controller = AnyPortController(handler, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield Server(handler, controller.port)
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[Server]:
    yield from run_server()


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    yield from run_server(
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    # aiosmtpd only recognises STARTTLS as TLS; here the whole connection is TLS already.
    yield from run_server(
        ssl_context=server_context(certificate),
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )


def smtp(port: int, **cfg: Any) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, **{"security": "none", "timeout": 5, **cfg})


def check_message(msg: EmailMessage, i: int) -> None:
    """One recipient's message: structure, headers once each, their own values substituted."""
    recipient = make_recipient(i)
    assert msg.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    for header in ["From", "To", "Subject", "Date", "Message-ID", "Reply-To"]:
        assert len(msg.get_all(header) or []) == 1, header
    assert msg.get_all("List-Unsubscribe") == [recipient.headers["List-Unsubscribe"]]
    assert msg.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert msg["Message-ID"].endswith("@almanac.example>")
    assert msg["Subject"] == "Almanac Sunday for Ada"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "%" not in text and "%" not in html
    assert recipient.values["%unsubscribe_url%"] in text
    assert recipient.values["%unsubscribe_url%"] in html
    assert recipient.values["%preferences_url%"] in html


def test_plain_smtp_sends_one_message_per_recipient(plain_server: Server) -> None:
    provider = SmtpProvider(smtp(plain_server.port), None)
    batch = [make_recipient(1), make_recipient(2)]
    result = provider.send_batch(make_issue(), batch)
    provider.close()
    assert set(result.message_ids) == {"reader1@example.com", "reader2@example.com"}
    assert not result.rejected and not result.deferred and not result.uncertain
    for i in (1, 2):
        msg = plain_server.handler.to(f"reader{i}@example.com")
        check_message(msg, i)
        assert msg["Message-ID"] == result.message_ids[f"reader{i}@example.com"]
    assert {r.mail_from for r in plain_server.handler.received} == {"newsletter@almanac.example"}


def test_display_names_are_quoted_in_headers(plain_server: Server) -> None:
    provider = SmtpProvider(smtp(plain_server.port), None)
    names = ["Doe, John", 'Ann "Q" Smith', "Zoë; Ångström"]
    batch = [make_recipient(i, name) for i, name in enumerate(names, 1)]
    provider.send_batch(make_issue(), batch)
    provider.close()
    for i, name in enumerate(names, 1):
        msg = plain_server.handler.to(f"reader{i}@example.com")
        assert getaddresses([str(msg["To"])]) == [(name, f"reader{i}@example.com")]


def test_starttls_auth_and_connection_reuse(
    starttls_server: Server, certificate: tuple[Path, Path]
) -> None:
    cfg = smtp(
        starttls_server.port, security="starttls", username=USER, ca_file=str(certificate[0])
    )
    provider = SmtpProvider(cfg, PASSWORD)
    provider.send_batch(make_issue(), [make_recipient(1), make_recipient(2)])
    provider.send_batch(make_issue(), [make_recipient(3)])
    provider.close()
    received = starttls_server.handler.received
    assert sorted(r.rcpt_tos[0] for r in received) == [f"reader{i}@example.com" for i in (1, 2, 3)]
    assert len({r.peer for r in received}) == 1  # one connection for both batches
    check_message(starttls_server.handler.to("reader3@example.com"), 3)


def test_implicit_tls_with_auth(tls_server: Server, certificate: tuple[Path, Path]) -> None:
    cfg = smtp(tls_server.port, security="tls", username=USER, ca_file=str(certificate[0]))
    provider = SmtpProvider(cfg, PASSWORD)
    result = provider.send_batch(make_issue(), [make_recipient(1)])
    provider.close()
    assert list(result.message_ids) == ["reader1@example.com"]
    check_message(tls_server.handler.to("reader1@example.com"), 1)


def test_wrong_password_is_an_auth_error(
    starttls_server: Server, certificate: tuple[Path, Path]
) -> None:
    cfg = smtp(
        starttls_server.port, security="starttls", username=USER, ca_file=str(certificate[0])
    )
    with pytest.raises(ProviderAuthError, match="refused the login") as info:
        SmtpProvider(cfg, "wrong").send_batch(make_issue(), [make_recipient(1)])
    assert "wrong" not in str(info.value)
    assert starttls_server.handler.received == []


def test_missing_password_is_an_auth_error() -> None:
    cfg = smtp(closed_port(), username=USER)
    with pytest.raises(ProviderAuthError, match="NEWSLETTER_SMTP_PASSWORD is not set"):
        SmtpProvider(cfg, None).send_batch(make_issue(), [make_recipient(1)])


def test_untrusted_certificate_is_reported(starttls_server: Server) -> None:
    cfg = smtp(starttls_server.port, security="starttls", username=USER)
    with pytest.raises(ProviderAuthError, match="certificate not trusted"):
        SmtpProvider(cfg, PASSWORD).send_batch(make_issue(), [make_recipient(1)])


def test_starttls_required_but_not_offered(plain_server: Server) -> None:
    cfg = smtp(plain_server.port, security="starttls")
    with pytest.raises(ProviderAuthError, match="STARTTLS"):
        SmtpProvider(cfg, None).send_batch(make_issue(), [make_recipient(1)])


def test_connection_refused_is_transient() -> None:
    with pytest.raises(ProviderTransientError, match="unreachable"):
        SmtpProvider(smtp(closed_port()), None).send_batch(make_issue(), [make_recipient(1)])


def test_refused_and_deferred_recipients_are_reported(plain_server: Server) -> None:
    batch = [
        make_recipient(1),
        make_recipient(2, email="bounce@example.com"),
        make_recipient(3, email="later@example.com"),
        make_recipient(4),
    ]
    provider = SmtpProvider(smtp(plain_server.port), None)
    result = provider.send_batch(make_issue(), batch)
    provider.close()
    assert set(result.message_ids) == {"reader1@example.com", "reader4@example.com"}
    assert result.rejected["bounce@example.com"].startswith("550")
    assert result.deferred["later@example.com"].startswith("451")
    assert len(plain_server.handler.received) == 2


def test_all_deferred_raises_transient(plain_server: Server) -> None:
    provider = SmtpProvider(smtp(plain_server.port), None)
    with pytest.raises(ProviderTransientError, match="451"):
        provider.send_batch(make_issue(), [make_recipient(1, email="later@example.com")])
    provider.close()


def test_connection_lost_during_data_is_uncertain(plain_server: Server) -> None:
    provider = SmtpProvider(smtp(plain_server.port), None)
    with pytest.raises(ProviderUncertainError):
        provider.send_batch(make_issue(), [make_recipient(1, email="cut@example.com")])
    result = provider.send_batch(
        make_issue(), [make_recipient(2, email="cut2@example.com"), make_recipient(3)]
    )
    provider.close()
    assert set(result.uncertain) == {"cut2@example.com"}
    assert set(result.message_ids) == {"reader3@example.com"}
    # The server did take both cut messages: uncertain, not failed.
    assert len(plain_server.handler.received) == 3


def test_reconnects_when_the_server_closed_an_idle_connection() -> None:
    for server in run_server(timeout=0.3):
        provider = SmtpProvider(smtp(server.port), None)
        provider.send_batch(make_issue(), [make_recipient(1)])
        # Wait for the server to say 421 and hang up on the idle connection.
        sock = provider._local.conn.sock
        deadline = time.monotonic() + 20
        while not select.select([sock], [], [], 0.1)[0]:
            assert time.monotonic() < deadline, "the server never closed the idle connection"
        result = provider.send_batch(make_issue(), [make_recipient(2)])
        provider.close()
        assert list(result.message_ids) == ["reader2@example.com"]
        peers = {r.peer for r in server.handler.received}
        assert len(peers) == 2 and len(server.handler.received) == 2


def test_threads_use_their_own_connections(plain_server: Server) -> None:
    provider = SmtpProvider(smtp(plain_server.port), None)
    errors: list[BaseException] = []

    def send(start: int) -> None:
        try:
            for i in range(start, start + 10, 2):
                provider.send_batch(make_issue(), [make_recipient(i), make_recipient(i + 1)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in (1, 101, 201)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    provider.close()
    assert errors == []
    emails = [r.rcpt_tos[0] for r in plain_server.handler.received]
    assert len(emails) == 30 and len(set(emails)) == 30
    assert len({r.peer for r in plain_server.handler.received}) == 3

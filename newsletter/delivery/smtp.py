"""The SMTP provider: one message per recipient over a reused, authenticated connection.

Security is ``starttls`` (upgrade a plain connection, the default on port 587), ``tls``
(implicit TLS, port 465) or ``none``. Each thread keeps its own connection (the dispatcher
sends batches from a thread pool) and reuses it across batches; a connection found closed
before a message starts is reopened once.

Outcomes per message: accepted → ``message_ids``; a 5xx to RCPT or DATA → ``rejected``; a 4xx
→ ``deferred`` (not sent, safe to retry); the connection lost during DATA → ``uncertain``.
When nothing in the batch was accepted and every recipient failed the same way, the
provider raises instead (auth → :class:`ProviderAuthError`, no connection or all deferred →
:class:`ProviderTransientError`, all uncertain → :class:`ProviderUncertainError`, the sender
refused for good → :class:`ProviderRejectedError`).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from newsletter.config import SmtpConfig
from newsletter.delivery.base import (
    BatchResult,
    OutgoingIssue,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
    Recipient,
)
from newsletter.delivery.message import (
    SEND_POLICY,
    SEND_POLICY_UTF8,
    build_message,
    preview_message,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 100
"""SMTP batches stay small: a batch is a ledger unit, and SMTP sends it message by message."""

_SENT, _REJECTED, _DEFERRED, _UNCERTAIN, _LOST = "sent", "rejected", "deferred", "uncertain", "lost"


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}".strip()


def _kind(code: int) -> str:
    return _REJECTED if 500 <= code < 600 else _DEFERRED


@dataclass(slots=True)
class _Outcome:
    kind: str
    reason: str = ""
    sender_refused: bool = False  # the refusal concerns the whole batch, not this recipient


@dataclass(slots=True)
class _Tally:
    message_ids: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    uncertain: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, email: str, reason: str) -> None:
        {_REJECTED: self.rejected, _DEFERRED: self.deferred, _UNCERTAIN: self.uncertain}[kind][
            email
        ] = reason


def _secret(value: str | SecretStr | None) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value or None


class SmtpProvider:
    """Sends each recipient their own message through an SMTP server."""

    name = "smtp"

    def __init__(
        self,
        cfg: SmtpConfig,
        password: str | SecretStr | None,
        *,
        batch_size: int = DEFAULT_BATCH,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.max_batch_size = max(1, min(batch_size, DEFAULT_BATCH))
        self._password = _secret(password)
        self._context = ssl_context
        self._ca_file = str(ca_file) if ca_file else cfg.ca_file
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[smtplib.SMTP] = set()

    def __repr__(self) -> str:
        return f"SmtpProvider({self.where}, security={self.cfg.security})"

    @property
    def where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    # -- connections -----------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self._ca_file)
        return self._context

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        if cfg.username and not self._password:
            raise ProviderAuthError(
                f"NEWSLETTER_SMTP_PASSWORD is not set: the SMTP server {self.where} "
                f"needs the password of {cfg.username}"
            )
        conn: smtplib.SMTP | None = None
        try:
            if cfg.security == "tls":
                conn = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._ssl_context()
                )
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=self._ssl_context())
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            self._quietly_close(conn)
            raise ProviderAuthError(
                f"SMTP server {self.where} refused the login of {cfg.username} "
                f"({_reply(exc.smtp_code, exc.smtp_error)})",
                status_code=exc.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            self._quietly_close(conn)
            raise ProviderAuthError(
                f"SMTP server {self.where}: {exc} (check delivery.smtp.security)"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            self._quietly_close(conn)
            raise ProviderAuthError(
                f"SMTP server {self.where}: certificate not trusted ({exc.verify_message}; "
                "set delivery.smtp.ca_file for a private certificate)"
            ) from None
        except smtplib.SMTPResponseException as exc:
            self._quietly_close(conn)
            raise ProviderTransientError(
                f"SMTP server {self.where} refused the session "
                f"({_reply(exc.smtp_code, exc.smtp_error)})",
                status_code=exc.smtp_code,
            ) from None
        except smtplib.SMTPException as exc:
            # "SMTP AUTH extension not supported", "No suitable authentication method".
            self._quietly_close(conn)
            raise ProviderAuthError(f"SMTP server {self.where}: {exc}") from None
        except OSError as exc:
            self._quietly_close(conn)
            raise ProviderTransientError(
                f"SMTP server {self.where} unreachable ({type(exc).__name__}: {exc})"
            ) from None
        with self._lock:
            self._open.add(conn)
        return conn

    def _connection(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _reconnect(self) -> smtplib.SMTP:
        self._drop()
        return self._connection()

    def _drop(self) -> None:
        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            self._quietly_close(conn)

    @staticmethod
    def _quietly_close(conn: smtplib.SMTP | None) -> None:
        if conn is None:
            return
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        """Say QUIT on every connection this provider opened, in any thread."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                self._quietly_close(conn)
        self._local = threading.local()

    # -- sending ---------------------------------------------------------------------

    def _send_one(self, conn: smtplib.SMTP, sender: str, rcpt: str, data: bytes) -> _Outcome:
        utf8 = not (sender.isascii() and rcpt.isascii())
        options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
        if utf8 and not conn.has_extn("smtputf8"):
            return _Outcome(_REJECTED, "the server does not accept non-ASCII addresses")
        try:
            code, text = conn.mail(sender, options)
            if code == 421:
                return _Outcome(_LOST, _reply(code, text))
            if code != 250:
                self._rset(conn)
                return _Outcome(_kind(code), _reply(code, text), sender_refused=True)
            code, text = conn.rcpt(rcpt)
            if code == 421:
                return _Outcome(_LOST, _reply(code, text))
            if code not in (250, 251):
                self._rset(conn)
                return _Outcome(_kind(code), _reply(code, text))
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing of this message was sent: safe to reconnect and try it again.
            return _Outcome(_LOST, f"{type(exc).__name__}: {exc}")
        try:
            code, text = conn.data(data)
        except smtplib.SMTPDataError as exc:
            self._rset(conn)
            return _Outcome(_kind(exc.smtp_code), _reply(exc.smtp_code, exc.smtp_error))
        except (OSError, smtplib.SMTPException) as exc:
            return _Outcome(_UNCERTAIN, f"connection lost during DATA ({type(exc).__name__})")
        if code != 250:
            self._rset(conn)
            return _Outcome(_kind(code), _reply(code, text))
        return _Outcome(_SENT)

    @staticmethod
    def _rset(conn: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError):  # smtplib's exceptions are OSErrors
            conn.rset()

    def preview_payload(
        self, issue: OutgoingIssue, recipients: Sequence[Recipient]
    ) -> dict[str, Any]:
        """The first message the batch would send, as text (for ``send --dry-run``)."""
        return preview_message(self.name, issue, recipients[: self.max_batch_size])

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        """Send each recipient their message; see the module docstring for the outcomes."""
        tally = _Tally()
        if not recipients:
            return BatchResult()
        conn = self._connection()  # raises before anything is sent
        seen: set[str] = set()
        stop: tuple[str, str] | None = None  # (kind, reason) for everyone left
        sender_refused = False
        for recipient in recipients:
            email = recipient.email
            if stop is not None:
                tally.add(stop[0], email, stop[1])
                continue
            if email.lower() in seen:
                log.warning("issue %s: duplicate address in one batch sent once", issue.issue_id)
                continue
            seen.add(email.lower())
            try:
                msg = build_message(issue, recipient)
            except ProviderError as exc:
                tally.add(_REJECTED, email, str(exc))
                continue
            utf8 = not email.isascii()
            data = msg.as_bytes(policy=SEND_POLICY_UTF8 if utf8 else SEND_POLICY)
            outcome = self._send_one(conn, issue.sender_email, email, data)
            if outcome.kind == _LOST:
                # The connection was closed before this message started (idle too long, 421):
                # reopen it once and send the message again.
                try:
                    conn = self._reconnect()
                except ProviderAuthError:
                    if not tally.message_ids and not tally.uncertain:
                        raise
                    outcome = _Outcome(_DEFERRED, "lost the connection and the login failed")
                except ProviderError as exc:
                    outcome = _Outcome(_DEFERRED, f"lost the connection: {exc}")
                else:
                    outcome = self._send_one(conn, issue.sender_email, email, data)
                    if outcome.kind == _LOST:
                        self._drop()
                        outcome = _Outcome(_DEFERRED, f"lost the connection: {outcome.reason}")
                        stop = (_DEFERRED, outcome.reason)
                if outcome.kind == _DEFERRED and getattr(self._local, "conn", None) is None:
                    stop = (_DEFERRED, outcome.reason)
            if outcome.kind == _SENT:
                tally.message_ids[email] = str(msg["Message-ID"])
                continue
            tally.add(outcome.kind, email, outcome.reason)
            if outcome.kind == _UNCERTAIN:
                self._drop()
                try:
                    conn = self._connection()
                except ProviderError as exc:
                    stop = (_DEFERRED, f"lost the connection: {exc}")
            if outcome.sender_refused:
                sender_refused = True
                stop = (outcome.kind, outcome.reason)
        self._raise_if_nothing_sent(tally, sender_refused)
        return BatchResult(
            status_code=250 if tally.message_ids else None,
            message_id=next(iter(tally.message_ids.values()), None),
            message_ids=tally.message_ids,
            rejected=tally.rejected,
            deferred=tally.deferred,
            uncertain=tally.uncertain,
        )

    def _raise_if_nothing_sent(self, tally: _Tally, sender_refused: bool) -> None:
        """A batch that failed as a whole is an error, so the dispatcher can retry or stop."""
        if tally.message_ids:
            return
        failed = len(tally.rejected) + len(tally.deferred) + len(tally.uncertain)
        if sender_refused and tally.rejected and failed == len(tally.rejected):
            reason = next(iter(tally.rejected.values()))
            raise ProviderRejectedError(f"SMTP server {self.where} refused the sender ({reason})")
        if tally.deferred and not tally.rejected and not tally.uncertain:
            reason = next(iter(tally.deferred.values()))
            raise ProviderTransientError(f"SMTP server {self.where}: {reason}")
        if tally.uncertain and not tally.rejected and not tally.deferred:
            reason = next(iter(tally.uncertain.values()))
            raise ProviderUncertainError(f"SMTP server {self.where}: {reason}")

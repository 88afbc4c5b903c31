"""The SendGrid provider: one v3 ``/mail/send`` request per batch, through the official client.

The request body is built as plain dicts (the library's helper classes are slower and reverse
the personalizations' order): one ``content`` block shared by the whole batch with the
placeholder tokens in place, and one personalization per recipient carrying their
``substitutions`` and their List-Unsubscribe headers.

Outcomes, for the dispatcher (this provider makes exactly one attempt per call):

- 200 (sandbox mode) or 202: accepted; ``X-Message-Id`` becomes ``BatchResult.message_id``;
- 401: :class:`ProviderAuthError`; 400, 403, 413 and other 4xx: :class:`ProviderRejectedError`
  with SendGrid's error messages on one line;
- 429, 408 and 5xx: :class:`ProviderTransientError` with ``retry_after`` from ``Retry-After``
  (seconds or an HTTP date) or ``X-RateLimit-Reset`` (epoch seconds);
- no connection (refused, DNS, connect timeout) or the request not fully written:
  :class:`ProviderTransientError` (urllib raises those as ``URLError`` from ``h.request``);
- the request written but no complete answer (reset, remote closed, read timeout):
  :class:`ProviderUncertainError`: SendGrid may have acted on it.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

import orjson
import python_http_client.exceptions
import sendgrid
from pydantic import SecretStr

from newsletter.config import SendGridConfig, TrackingConfig
from newsletter.delivery.base import (
    TRANSACTIONAL_CATEGORY,
    BatchResult,
    OutgoingIssue,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
    Recipient,
)
from newsletter.delivery.message import LIST_ID, list_id
from newsletter.personalization import FIRST_NAME_HTML, html_tokens, html_values

log = logging.getLogger(__name__)

MAX_PERSONALIZATIONS = 1000
"""SendGrid's limit on personalizations, and on recipients, per request."""
MAX_SUBSTITUTION_BYTES = 10_000
"""SendGrid's limit on the substitutions of one personalization (keys and values, UTF-8)."""
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
ACCEPTED = frozenset({200, 202})
CONTENT_TYPE = "application/json; charset=utf-8"
_MAX_ERROR_CHARS = 500
# The fallback encoder (see encode_payload); payloads have no cycles, so no cycle check.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


@dataclass(frozen=True, slots=True)
class PayloadSettings:
    """The parts of the request body that come from configuration."""

    sandbox_mode: bool = False
    ip_pool: str | None = None
    click_tracking: bool | None = None
    """SendGrid's link rewriting (``tracking.clicks: provider``); None leaves the account's."""
    open_tracking: bool | None = None
    """SendGrid's open pixel (``tracking.opens``); None leaves the account's setting."""

    @classmethod
    def from_config(
        cls, cfg: SendGridConfig, tracking: TrackingConfig | None = None
    ) -> PayloadSettings:
        if tracking is None:
            return cls(sandbox_mode=cfg.sandbox_mode, ip_pool=cfg.ip_pool)
        return cls(
            sandbox_mode=cfg.sandbox_mode,
            ip_pool=cfg.ip_pool,
            click_tracking=tracking.clicks == "provider",
            open_tracking=tracking.opens,
        )


@dataclass(slots=True)
class PreparedPayload:
    """A request body and the recipients left out of it, with the reason (email → reason)."""

    body: dict[str, Any]
    rejected: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many recipients the body addresses."""
        return len(self.body["personalizations"])


def safe_name(name: str | None) -> str | None:
    """A display name SendGrid will not mis-split, or None to send the address alone.

    SendGrid does not quote display names inside personalizations, so a comma or semicolon
    splits the address (sendgrid-python issue 291): such names go out as an RFC 5322
    quoted string.
    """
    if not name:
        return None
    if not name.isprintable():
        name = "".join(ch if ch.isprintable() else " " for ch in name)
    name = " ".join(name.split())
    if not name:
        return None
    if "," in name or ";" in name:
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = name[1:-1]
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _substitution_bytes(values: dict[str, str]) -> int:
    """The size SendGrid counts: keys and values in UTF-8."""
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in values.items())


def _categories(issue: OutgoingIssue) -> list[str]:
    seen: list[str] = []
    extra = ("test",) if issue.test else ()
    for category in (issue.edition, *issue.categories, *extra):
        category = category.strip()[:MAX_CATEGORY_LENGTH]
        if category and category not in seen:
            seen.append(category)
    return seen[:MAX_CATEGORIES]


def _content(issue: OutgoingIssue) -> list[dict[str, str]]:
    # SendGrid requires text/plain first, then text/html.
    content = []
    if issue.text:
        content.append({"type": "text/plain", "value": issue.text})
    if issue.html:
        # The HTML part names the HTML-escaped copies of personal values (see html_tokens).
        content.append({"type": "text/html", "value": html_tokens(issue.html)})
    if not content:
        raise ProviderRejectedError(f"issue {issue.issue_id}: neither a text nor an HTML part")
    return content


def prepare_payload(
    issue: OutgoingIssue,
    recipients: Sequence[Recipient],
    settings: PayloadSettings | None = None,
) -> PreparedPayload:
    """The ``/v3/mail/send`` body for one batch, and the recipients it had to leave out.

    A recipient is left out (and named in ``rejected``) when their substitutions exceed
    SendGrid's 10,000 bytes. An address that appears twice (ignoring case) is sent once: the
    later copies are named in ``duplicates`` (the dispatcher should never produce them).
    Raises :class:`ProviderRejectedError` for a batch SendGrid would refuse as a whole
    (more than 1000 recipients, an issue without content).
    """
    settings = settings or PayloadSettings()
    if len(recipients) > MAX_PERSONALIZATIONS:
        raise ProviderRejectedError(
            f"a SendGrid request takes at most {MAX_PERSONALIZATIONS} recipients "
            f"(got {len(recipients)})"
        )
    content = _content(issue)
    # The contract types the top-level custom_args as a string, so the issue id travels in
    # each personalization (SendGrid merges both levels into the events). One shared dict:
    # serialising it per recipient costs far less than copying it.
    custom_args = {"issue_id": issue.issue_id}
    rejected: dict[str, str] = {}
    duplicates: list[str] = []
    seen: set[str] = set()
    personalizations: list[dict[str, Any]] = []
    add = personalizations.append
    see = seen.add
    # The hot loop of a million-recipient send: dict literals, no copies of shared parts.
    for r in recipients:
        email = r.email
        key = email.lower()
        if key in seen:
            duplicates.append(email)
            continue
        see(key)
        values = r.values
        if type(values) is not dict:
            values = dict(values)
        if values and FIRST_NAME_HTML not in values:
            values = {**values, **html_values(values)}
        if values and (sum(map(len, values)) + sum(map(len, values.values()))) * 4 > (
            MAX_SUBSTITUTION_BYTES
        ):
            size = _substitution_bytes(values)
            if size > MAX_SUBSTITUTION_BYTES:
                rejected[email] = (
                    f"substitutions are {size} bytes "
                    f"(SendGrid takes at most {MAX_SUBSTITUTION_BYTES} per recipient)"
                )
                continue
        name = r.name
        if name and (
            "," in name
            or ";" in name
            or not name.isprintable()
            or name[0] == " "
            or name[-1] == " "
        ):
            name = safe_name(name)
        headers = r.headers
        if type(headers) is not dict:
            headers = dict(headers)
        p = {
            "to": [{"email": email, "name": name} if name else {"email": email}],
            "custom_args": custom_args,
            "substitutions": values,
            "headers": headers,
        }
        if not values:
            del p["substitutions"]
        if not headers:
            del p["headers"]
        add(p)
    if duplicates:
        log.warning(
            "issue %s: %d duplicate address(es) in one batch sent once",
            issue.issue_id,
            len(duplicates),
        )
    sender: dict[str, str] = {"email": issue.sender_email}
    if issue.sender_name:
        sender["name"] = safe_name(issue.sender_name) or issue.sender_email
    body: dict[str, Any] = {
        "personalizations": personalizations,
        "from": sender,
        "subject": issue.subject,
        "content": content,
        "categories": _categories(issue),
        "headers": {LIST_ID: list_id(issue.edition, issue.sender_email, issue.list_name)},
    }
    if issue.reply_to:
        reply_name, reply_email = parseaddr(issue.reply_to)
        reply: dict[str, str] = {"email": reply_email or issue.reply_to}
        if safe_name(reply_name):
            reply["name"] = safe_name(reply_name) or ""
        body["reply_to"] = reply
    if settings.ip_pool:
        body["ip_pool_name"] = settings.ip_pool
    if TRANSACTIONAL_CATEGORY in issue.categories:
        # Signup mail is never tracked: a rewritten link would also break on scanners.
        body["tracking_settings"] = {
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
        }
    if settings.sandbox_mode:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    tracking: dict[str, Any] = {}
    if settings.click_tracking is not None:
        # The text part keeps readable links; own tracking rewrote both parts already.
        tracking["click_tracking"] = {"enable": settings.click_tracking, "enable_text": False}
    if settings.open_tracking is not None:
        tracking["open_tracking"] = {"enable": settings.open_tracking}
    if tracking:
        body["tracking_settings"] = tracking
    return PreparedPayload(body, rejected, duplicates)


def build_payload(
    issue: OutgoingIssue,
    recipients: Sequence[Recipient],
    settings: PayloadSettings | None = None,
) -> dict[str, Any]:
    """The ``/v3/mail/send`` body for one batch (see :func:`prepare_payload` for who is left out)."""
    return prepare_payload(issue, recipients, settings).body


def encode_payload(body: dict[str, Any]) -> bytes:
    """The request body as compact UTF-8 JSON bytes.

    orjson serialises a 1000-recipient body about ten times faster than the standard library.
    It refuses what is not valid Unicode (a lone surrogate smuggled into a name); such a body
    goes through the standard encoder, which escapes it, as before.
    """
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(body).encode("ascii")


class _QuietBytes(bytes):
    """Bytes that print as their size: python_http_client formats every request's payload into
    a DEBUG message (enabled or not), which costs milliseconds and would expose addresses."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


class _Body:
    """A serialised body for python_http_client: with a Content-Type other than exactly
    ``application/json`` it posts ``request_body.encode("utf-8")`` as it is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def encode(self, encoding: str = "utf-8") -> bytes:
        return _QuietBytes(self.data)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    return str(value) if value is not None else None


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """The wait a 429 or 5xx asks for: ``Retry-After`` (seconds or HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds), as seconds from now (never negative)."""
    now = time.time() if now is None else now
    retry_after = _header(headers, "Retry-After")
    if retry_after:
        retry_after = retry_after.strip()
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
            except (TypeError, ValueError, IndexError):
                pass
    reset = _header(headers, "X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset.strip()) - now)
        except ValueError:
            pass
    return None


def error_details(body: bytes | str | None) -> str:
    """SendGrid's ``{"errors": [{"message", "field"}]}`` joined into one line."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:_MAX_ERROR_CHARS]
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return " ".join(text.split())[:_MAX_ERROR_CHARS]
    parts = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        message = " ".join(str(err.get("message") or "").split())
        where = err.get("field")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(p for p in parts if p)[:_MAX_ERROR_CHARS]


def _secret(value: str | SecretStr | None) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value or None


class _DropSecrets(logging.Filter):
    """python_http_client logs every request's headers (the API key) and payload (addresses)
    at DEBUG; those records never leave the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(("HEADERS:", "PAYLOAD:"))


_filter = _DropSecrets()
logging.getLogger("python_http_client.client").addFilter(_filter)


class SendGridProvider:
    """Sends each batch as one SendGrid v3 request (see the module docstring for outcomes)."""

    name = "sendgrid"

    def __init__(
        self,
        cfg: SendGridConfig,
        api_key: str | SecretStr | None,
        *,
        batch_size: int = MAX_PERSONALIZATIONS,
        tracking: TrackingConfig | None = None,
    ) -> None:
        self.max_batch_size = max(1, min(batch_size, MAX_PERSONALIZATIONS))
        self.settings = PayloadSettings.from_config(cfg, tracking)
        self.timeout = float(cfg.timeout)
        self.host = str(cfg.host).rstrip("/")
        self._key = _secret(api_key)
        self._client: Any = None
        if self._key is not None:
            self._client = sendgrid.SendGridAPIClient(self._key, host=self.host)
            # Not exactly "application/json": the client then posts our own serialisation
            # (see _Body) instead of running json.dumps itself. Set now, because the client
            # would otherwise add the header to its shared dict on first use, racing threads.
            self._client.client.request_headers["Content-Type"] = CONTENT_TYPE

    def __repr__(self) -> str:
        return f"SendGridProvider(host={self.host!r}, batch={self.max_batch_size})"

    def preview_payload(
        self, issue: OutgoingIssue, recipients: Sequence[Recipient]
    ) -> dict[str, Any]:
        """The body the first batch of ``recipients`` would be posted with (for --dry-run)."""
        return build_payload(issue, recipients[: self.max_batch_size], self.settings)

    def send_batch(self, issue: OutgoingIssue, recipients: Sequence[Recipient]) -> BatchResult:
        """Post one request for the batch; raise a ProviderError if it was not accepted."""
        if self._client is None:
            raise ProviderAuthError(
                "SENDGRID_API_KEY is not set: export the SendGrid API key to send through SendGrid"
            )
        if len(recipients) > self.max_batch_size:
            raise ProviderRejectedError(
                f"batch of {len(recipients)} recipients is larger than this provider's "
                f"{self.max_batch_size}"
            )
        prepared = prepare_payload(issue, recipients, self.settings)
        if not prepared.size:
            return BatchResult(rejected=prepared.rejected)
        body = _Body(encode_payload(prepared.body))
        try:
            response = self._client.client.mail.send.post(request_body=body, timeout=self.timeout)
        except python_http_client.exceptions.HTTPError as exc:
            raise self._http_error(exc) from None
        except urllib.error.URLError as exc:
            # Raised by urllib while connecting or writing the request: it never arrived whole.
            raise ProviderTransientError(
                self._redact(f"SendGrid at {self.host} unreachable ({_reason(exc.reason)})")
            ) from None
        except (http.client.HTTPException, OSError) as exc:
            # The request went out; the answer did not come back.
            raise ProviderUncertainError(
                self._redact(
                    f"SendGrid at {self.host}: no answer after the request was sent ({_reason(exc)})"
                )
            ) from None
        status = int(response.status_code)
        message_id = _header(response.headers, "X-Message-Id")
        return BatchResult(status_code=status, message_id=message_id, rejected=prepared.rejected)

    def _http_error(self, exc: python_http_client.exceptions.HTTPError) -> ProviderError:
        status = int(getattr(exc, "status_code", 0) or 0)
        headers = getattr(exc, "headers", None)
        details = error_details(getattr(exc, "body", None))
        message = self._redact(f"SendGrid answered {status}" + (f": {details}" if details else ""))
        if status == 401:
            return ProviderAuthError(message + " (check SENDGRID_API_KEY)", status_code=status)
        if status == 429 or status == 408 or status >= 500:
            return ProviderTransientError(
                message, status_code=status, retry_after=retry_after_seconds(headers)
            )
        return ProviderRejectedError(message, status_code=status)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    def close(self) -> None:
        """Nothing to release: urllib opens one connection per request."""


def _reason(exc: object) -> str:
    """``ConnectionRefusedError: [Errno 111] Connection refused`` and the like, on one line."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else ""
    if not isinstance(exc, BaseException):
        return text or "unknown reason"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name

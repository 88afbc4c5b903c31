"""One email per recipient, built the same way for the SMTP and outbox providers.

The rendered issue keeps its placeholder tokens; each recipient's message gets them replaced
by :func:`newsletter.personalization.substitute`. The message is multipart/alternative with
the text part first (the least preferred), then the HTML part.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from newsletter.delivery.base import OutgoingIssue, ProviderRejectedError, Recipient
from newsletter.personalization import FIRST_NAME_HTML, html_tokens, html_values, substitute

LIST_UNSUBSCRIBE = "List-Unsubscribe"
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe-Post"
ONE_CLICK = "List-Unsubscribe=One-Click"
ISSUE_HEADER = "X-Newsletter-Issue"
LIST_ID = "List-Id"
MAX_HEADER_LINE = 998
"""RFC 5322's hard limit on a line, CRLF excluded."""


class VerbatimHeader(UnstructuredHeader):
    """A structured header (URIs, ids, tokens) that goes on the wire as it was given.

    Python's email package folds any header longer than 78 characters and, when it finds no
    whitespace to fold at, rewrites it as RFC 2047 encoded-words
    (``=?utf-8?q?=3Chttps=3A...``): a receiver that does not decode List-Unsubscribe then
    finds no https URI, and RFC 8058 one-click unsubscribe is lost. These headers are folded
    only after the commas between their elements and are never encoded; a value that is not
    printable ASCII is refused when it is set.
    """

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        if not value.isascii() or not value.isprintable():
            raise ValueError(f"{kwds.get('name', 'header')} must be printable ASCII")
        super().parse(value, kwds)

    def fold(self, *, policy: Any) -> str:
        name = str(getattr(self, "name", ""))  # set by BaseHeader.__new__ (untyped in typeshed)
        parts = str(self).split(", ")
        lines = [f"{name}: {parts[0]}"]
        for part in parts[1:]:
            if len(lines[-1]) + 2 + len(part) <= 78:
                lines[-1] += f", {part}"
            else:
                lines[-1] += ","
                lines.append(f" {part}")
        if any(len(line) > MAX_HEADER_LINE for line in lines):
            raise ValueError(f"{name} has an element longer than {MAX_HEADER_LINE} characters")
        return str(policy.linesep).join(lines) + str(policy.linesep)


VERBATIM_HEADERS = (
    LIST_UNSUBSCRIBE,
    LIST_UNSUBSCRIBE_POST,
    LIST_ID,
    ISSUE_HEADER,
    "Feedback-ID",
    "X-Entity-Ref-ID",
)
_registry = HeaderRegistry()
for _name in VERBATIM_HEADERS:
    _registry.map_to_type(_name, VerbatimHeader)  # type: ignore[arg-type]

MESSAGE_POLICY = policy.default.clone(header_factory=_registry)
"""The policy each message is built with: the structured headers above stay verbatim."""
SEND_POLICY = policy.SMTP.clone(header_factory=_registry)
"""The policy messages are serialised with on the wire (CRLF line endings)."""
SEND_POLICY_UTF8 = policy.SMTPUTF8.clone(header_factory=_registry)
"""The same for a server that announced SMTPUTF8."""


def list_id(edition: str, sender_email: str, title: str | None = None) -> str:
    """The RFC 2919 List-Id of an edition: ``"Sunday" <sunday.almanac.example>``."""
    domain = domain_of(sender_email)
    label = "".join(ch for ch in edition.lower() if ch.isalnum() or ch == "-") or "list"
    phrase = "".join(ch for ch in (title or "") if ch.isascii() and ch.isprintable())
    phrase = phrase.replace("\\", "").replace('"', "").strip()
    ident = f"<{label}.{domain}>"
    return f'"{phrase}" {ident}' if phrase else ident


# Headers the message builder owns: a recipient header must not add a second copy.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to", "content-type"}
    | {"content-transfer-encoding", "mime-version", ISSUE_HEADER.lower(), LIST_ID.lower()}
)


def list_unsubscribe_headers(unsubscribe_url: str, mailto: str | None = None) -> dict[str, str]:
    """The RFC 8058 one-click headers: one https URI, optionally a mailto, and the POST marker."""
    value = f"<{unsubscribe_url}>"
    if mailto:
        address = mailto.removeprefix("mailto:")
        value += f", <mailto:{address}>"
    return {LIST_UNSUBSCRIBE: value, LIST_UNSUBSCRIBE_POST: ONE_CLICK}


def domain_of(address: str) -> str:
    """The domain part of an address (used for Message-ID), or ``localhost``."""
    _, _, domain = parseaddr(address)[1].rpartition("@")
    return domain or "localhost"


def clean_name(name: str | None) -> str:
    """A display name on one line, without control characters; empty if there is none."""
    if not name:
        return ""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in name).split())


def _address(name: str | None, email: str) -> Address:
    try:
        return Address(display_name=clean_name(name), addr_spec=email)
    except (ValueError, IndexError) as exc:
        raise ProviderRejectedError(f"{email!r}: not a usable address ({exc})") from None


def build_message(
    issue: OutgoingIssue,
    recipient: Recipient,
    *,
    message_id: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """The complete email for one recipient, with their values substituted.

    Headers: From, To, Subject, Date, Message-ID (on the sender's domain), Reply-To when the
    issue has one, ``X-Newsletter-Issue``, then the recipient's own headers (List-Unsubscribe,
    List-Unsubscribe-Post), each exactly once. Raises :class:`ProviderRejectedError` when the
    address or a header value cannot be put in a message.
    """
    values = recipient.values
    msg = EmailMessage(policy=MESSAGE_POLICY)
    try:
        msg["From"] = _address(issue.sender_name, issue.sender_email)
        msg["To"] = _address(recipient.name, recipient.email)
        msg["Subject"] = substitute(issue.subject, values)
        msg["Date"] = format_datetime(date or datetime.now(UTC))
        msg["Message-ID"] = message_id or make_msgid(domain=domain_of(issue.sender_email))
        if issue.reply_to:
            msg["Reply-To"] = issue.reply_to
        msg[ISSUE_HEADER] = issue.issue_id
        msg[LIST_ID] = list_id(issue.edition, issue.sender_email, issue.list_name)
        for name, value in recipient.headers.items():
            if name.lower() in _OWN_HEADERS:
                continue
            del msg[name]
            msg[name] = str(value)
        msg.set_content(substitute(issue.text, values))
        if FIRST_NAME_HTML not in values:
            values = {**values, **html_values(values)}
        # The HTML part gets the HTML-escaped copies of personal values, the text part the plain.
        msg.add_alternative(substitute(html_tokens(issue.html), values), subtype="html")
    except ValueError as exc:
        # The email package refuses header values with line breaks and similar.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProviderRejectedError(
            f"{recipient.email}: cannot build the message ({reason})"
        ) from None
    return msg


def preview_message(
    provider: str, issue: OutgoingIssue, recipients: Sequence[Recipient]
) -> dict[str, Any]:
    """What a per-message provider would send first (for ``send --dry-run``)."""
    if not recipients:
        return {"provider": provider, "recipients": 0}
    first = recipients[0]
    msg = build_message(issue, first)
    return {
        "provider": provider,
        "recipients": len(recipients),
        "to": first.email,
        "message": msg.as_string(),
    }
